-- Indexes for the result queries (SPEC §5, docs/benchmarks.md), as sqlite/0003 and 0004.
-- History, newest first, optionally searched: a member's rows by game id; the other columns a
-- history row shows ride along (INCLUDE), so the search filter and the page are read from the
-- index alone (an index-only scan) and only the page's games are visited.
CREATE INDEX game_players_history_idx ON game_players (user_id, game_id DESC)
    INCLUDE (room_name, won, role, voted_correctly, exp);
-- The same filtered by outcome (won, or lost and the game not aborted).
CREATE INDEX game_players_history_won_idx ON game_players (user_id, won, game_id DESC)
    INCLUDE (room_name, role, voted_correctly, exp);
-- The leaderboard: visible members by experience, ties broken by id; partial, so hidden members
-- cost nothing.
CREATE INDEX members_leaderboard_idx ON members (exp DESC, id) WHERE results_visible;
