-- Indexes for the result queries (SPEC §5, docs/benchmarks.md), as sqlite/0003 and 0004.
-- History, newest first, optionally searched: a member's rows by game id, covering every column
-- a history row shows, so the search filter runs on the index alone and only the page's games
-- are visited. (The foreign key on user_id uses this index too.)
CREATE INDEX game_players_history_idx
    ON game_players (user_id, game_id DESC, room_name, won, role, voted_correctly, exp);
-- The same filtered by outcome (won, or lost and the game not aborted).
CREATE INDEX game_players_history_won_idx
    ON game_players (user_id, won, game_id DESC, room_name, role, voted_correctly, exp);
-- The leaderboard: visible members by experience, ties broken by id (no partial indexes here,
-- so the visibility flag leads).
CREATE INDEX members_leaderboard_idx ON members (results_visible, exp DESC, id);
