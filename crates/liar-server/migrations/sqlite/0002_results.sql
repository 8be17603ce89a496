-- Finished games (SPEC §5). One row per game, written once: `game_key` is unique, so a repeated
-- end signal finds the row and changes nothing.
CREATE TABLE games (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    game_key     TEXT    NOT NULL UNIQUE,
    room_name    TEXT    NOT NULL,
    topic_id     TEXT    NOT NULL,
    word         TEXT    NOT NULL,
    mode         TEXT    NOT NULL,
    -- 'liar' | 'citizens'; NULL for an aborted game
    winner       TEXT,
    liar_id      INTEGER,
    aborted      INTEGER NOT NULL DEFAULT 0,
    player_count INTEGER NOT NULL,
    -- The whole result as sent in game.ended (votes, roles, experience).
    result_json  TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    ended_at     INTEGER NOT NULL
);

CREATE TABLE game_players (
    game_id         INTEGER NOT NULL REFERENCES games (id),
    user_id         INTEGER NOT NULL REFERENCES members (id),
    role            TEXT    NOT NULL,
    voted_correctly INTEGER NOT NULL,
    won             INTEGER NOT NULL,
    exp             INTEGER NOT NULL,
    PRIMARY KEY (game_id, user_id)
);
CREATE INDEX game_players_user_idx ON game_players (user_id, game_id DESC);

-- Written in the same transaction as the result; a relay publishes and marks it.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    topic        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    published_at INTEGER
);
