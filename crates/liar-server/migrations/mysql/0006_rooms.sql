-- Durable rooms (SPEC §3 "Durable rooms"), as sqlite/0006: one row per live room, its whole state
-- as JSON and the fencing `epoch` every save must match.
CREATE TABLE rooms (
    id         BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    -- The 6-letter join code; unique among live rooms.
    code       VARCHAR(32) NOT NULL,
    epoch      BIGINT      NOT NULL DEFAULT 0,
    seq        BIGINT      NOT NULL DEFAULT 0,
    -- Format version of `state`; NULL state: reserved by create_room, never saved.
    format     INT         NOT NULL DEFAULT 0,
    state      LONGTEXT,
    created_at BIGINT      NOT NULL,
    saved_at   BIGINT      NOT NULL,
    UNIQUE KEY rooms_code_uq (code)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The tail of each room's event log (wire JSON), for `since-seq` resume across restarts.
CREATE TABLE room_events (
    room_id BIGINT     NOT NULL,
    seq     BIGINT     NOT NULL,
    body    MEDIUMTEXT NOT NULL,
    PRIMARY KEY (room_id, seq),
    CONSTRAINT room_events_room_fk FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
