-- Admins' edits of the topic catalog (SPEC §3.2), as sqlite/0005: each row overrides the shipped
-- topic of the same id, or adds one; `body` is the whole topic as JSON, NULL when removed.
CREATE TABLE topic_overrides (
    id          TEXT    PRIMARY KEY,
    body        TEXT,
    updated_by  BIGINT,
    updated_at  BIGINT  NOT NULL
);
