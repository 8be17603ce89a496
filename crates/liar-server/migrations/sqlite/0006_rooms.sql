-- Durable rooms (SPEC §3 "Durable rooms"). One row per live room: its whole state as JSON, saved
-- after every transition, and the fencing `epoch` every save must match (bumped by each process
-- that takes the room over, so a former owner's late save changes nothing).
CREATE TABLE rooms (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The 6-letter join code; unique among live rooms.
    code       TEXT    NOT NULL UNIQUE,
    epoch      INTEGER NOT NULL DEFAULT 0,
    seq        INTEGER NOT NULL DEFAULT 0,
    -- Format version of `state`; NULL state: reserved by create_room, never saved.
    format     INTEGER NOT NULL DEFAULT 0,
    state      TEXT,
    created_at INTEGER NOT NULL,
    saved_at   INTEGER NOT NULL
);

-- The tail of each room's event log (wire JSON), for `since-seq` resume across restarts.
CREATE TABLE room_events (
    room_id INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    body    TEXT    NOT NULL,
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
