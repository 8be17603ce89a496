-- Finished games (SPEC §5), as migrations/sqlite/0002 and 0004 leave them: one row per game,
-- written once (`game_key` is unique), one row per player carrying its game's room name.
CREATE TABLE games (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    game_key     VARCHAR(191) NOT NULL,
    room_name    VARCHAR(191) NOT NULL,
    topic_id     VARCHAR(191) NOT NULL,
    word         VARCHAR(255) NOT NULL,
    mode         VARCHAR(32)  NOT NULL,
    -- 'liar' | 'citizens'; NULL for an aborted game
    winner       VARCHAR(16),
    liar_id      BIGINT,
    aborted      BOOLEAN      NOT NULL DEFAULT FALSE,
    player_count BIGINT       NOT NULL,
    -- The whole result as sent in game.ended (votes, roles, experience).
    result_json  MEDIUMTEXT   NOT NULL,
    started_at   BIGINT       NOT NULL,
    ended_at     BIGINT       NOT NULL,
    UNIQUE KEY games_key_uq (game_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE game_players (
    game_id         BIGINT       NOT NULL,
    user_id         BIGINT       NOT NULL,
    role            VARCHAR(16)  NOT NULL,
    voted_correctly BOOLEAN      NOT NULL,
    won             BOOLEAN      NOT NULL,
    exp             BIGINT       NOT NULL,
    -- The game's name, copied so that a history search is checked inside the member's index
    -- range instead of visiting every game he played (sqlite/0004). MariaDB has no n-gram
    -- full-text parser, so this, not a full-text index, keeps the search fast. Compared without
    -- case, like SQLite's LIKE.
    room_name       VARCHAR(191) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
    PRIMARY KEY (game_id, user_id),
    CONSTRAINT game_players_game_fk FOREIGN KEY (game_id) REFERENCES games (id),
    CONSTRAINT game_players_member_fk FOREIGN KEY (user_id) REFERENCES members (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Written in the same transaction as the result; a relay publishes and marks it.
CREATE TABLE outbox (
    id           BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    topic        VARCHAR(64) NOT NULL,
    payload      MEDIUMTEXT  NOT NULL,
    created_at   BIGINT      NOT NULL,
    published_at BIGINT
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
