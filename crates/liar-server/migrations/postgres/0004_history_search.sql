-- History search by game name (SPEC §5; measured in docs/benchmarks.md). The search is checked
-- inside the member's history index (0003), which is fast while matches are frequent, but a
-- search that matches little would walk every game of a member who played many. A trigram
-- index on the copied name answers those from the other side: PostgreSQL picks it when the
-- pattern is rare (no match for a 20,000-game member: 26 ms → 0.2 ms). Patterns under three
-- characters cannot use it and keep the index range scan. pg_trgm ships with PostgreSQL and is a
-- trusted extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS game_players_room_name_trgm
    ON game_players USING gin (room_name gin_trgm_ops);
