-- Indexes for the result queries (SPEC §5, docs/benchmarks.md).
-- History filtered by outcome walks one member's rows newest first.
CREATE INDEX game_players_user_won_idx ON game_players (user_id, won, game_id DESC);
-- The leaderboard: visible members by experience, ties broken by id; a partial index so hidden
-- members cost nothing.
CREATE INDEX members_leaderboard_idx ON members (exp DESC, id) WHERE results_visible = 1;
