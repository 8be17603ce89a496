-- Rooms across nodes (SPEC §6.4, issue 13): the node that serves each room, the room's list row
-- for every node's lobby, and the member → room directory whose primary key keeps one room per
-- member whichever node seats him.
ALTER TABLE rooms ADD COLUMN owner_node TEXT;
ALTER TABLE rooms ADD COLUMN summary TEXT;

CREATE TABLE room_members (
    user_id BIGINT NOT NULL PRIMARY KEY,
    room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    -- The fencing value of the flow that seated him: a later flow releases only what it read.
    fence   BIGINT NOT NULL
);
CREATE INDEX room_members_room ON room_members (room_id);
