-- Admins' edits of the topic catalog (SPEC §3.2), as sqlite/0005: each row overrides the shipped
-- topic of the same id, or adds one; `body` is the whole topic as JSON, NULL when removed.
CREATE TABLE topic_overrides (
    id          VARCHAR(191) NOT NULL PRIMARY KEY,
    body        MEDIUMTEXT,
    updated_by  BIGINT,
    updated_at  BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
