-- Rooms across nodes (SPEC §6.4, issue 13), as postgres/0008: the node that serves each room,
-- the room's list row for every node's lobby, and the member → room directory whose primary key
-- keeps one room per member whichever node seats him.
ALTER TABLE rooms ADD COLUMN owner_node VARCHAR(128) NULL, ADD COLUMN summary MEDIUMTEXT NULL;

CREATE TABLE room_members (
    user_id BIGINT NOT NULL PRIMARY KEY,
    room_id BIGINT NOT NULL,
    fence   BIGINT NOT NULL,
    KEY room_members_room (room_id),
    CONSTRAINT room_members_room_fk FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
