-- Admins' edits of the topic catalog (SPEC §3.2). The shipped topics are compiled into the binary;
-- each row here overrides the shipped topic of the same id, or adds a topic. `body` is the whole
-- topic as it now is, as JSON in the `data/topics/<id>.json` shape, or NULL when an admin removed
-- a shipped topic. Rows are whole topics, so loading is one overlay by id, in any order.
CREATE TABLE topic_overrides (
    id          TEXT    PRIMARY KEY,
    body        TEXT,
    -- The admin who made the last edit; members are never deleted, but a plain column keeps an
    -- edit's record independent of the members table.
    updated_by  INTEGER,
    -- Unix milliseconds (UTC), like every other time in this schema.
    updated_at  INTEGER NOT NULL
);
