-- Members and their sessions (SPEC §1): the MySQL/MariaDB twin of migrations/sqlite/0001. Times
-- are Unix milliseconds (UTC). Text compares byte for byte (utf8mb4_bin) unless a column says
-- otherwise; keyed text is VARCHAR because InnoDB indexes no whole TEXT column.
CREATE TABLE members (
    id                 BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    email              VARCHAR(254) NOT NULL,
    username           VARCHAR(80)  NOT NULL,
    -- Usernames are unique whatever their case, like SQLite's NOCASE (MariaDB has no index on
    -- an expression, so the lowered name is a stored generated column).
    username_lower     VARCHAR(80)  AS (LOWER(username)) STORED,
    password_hash      VARCHAR(255) NOT NULL,
    exp                BIGINT       NOT NULL DEFAULT 0,
    level              VARCHAR(16)  NOT NULL DEFAULT 'BRONZE1',
    wins               BIGINT       NOT NULL DEFAULT 0,
    losses             BIGINT       NOT NULL DEFAULT 0,
    games              BIGINT       NOT NULL DEFAULT 0,
    results_visible    BOOLEAN      NOT NULL DEFAULT TRUE,
    is_admin           BOOLEAN      NOT NULL DEFAULT FALSE,
    -- The one live session (SPEC §1.2); a login locks this row, so concurrent logins of one
    -- member serialise and exactly one session survives.
    current_session_id VARCHAR(64),
    created_at         BIGINT       NOT NULL,
    -- Uniqueness by constraint, never check-then-insert (seed defect, SPEC §7).
    UNIQUE KEY members_email_uq (email),
    UNIQUE KEY members_username_uq (username_lower)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sessions (
    id          VARCHAR(64)  NOT NULL PRIMARY KEY,
    member_id   BIGINT       NOT NULL,
    created_at  BIGINT       NOT NULL,
    expires_at  BIGINT       NOT NULL,
    ended_at    BIGINT,
    -- 'replaced' | 'logout' | 'reused'
    end_reason  VARCHAR(16),
    KEY sessions_member_idx (member_id),
    KEY sessions_expires_idx (expires_at),
    CONSTRAINT sessions_member_fk FOREIGN KEY (member_id) REFERENCES members (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Refresh tokens as SHA-256 digests; a used one is kept until its session expires, so that
-- presenting it again is recognised as reuse (SPEC §1.1).
CREATE TABLE refresh_tokens (
    token_hash  VARBINARY(32) NOT NULL PRIMARY KEY,
    session_id  VARCHAR(64)   NOT NULL,
    issued_at   BIGINT        NOT NULL,
    expires_at  BIGINT        NOT NULL,
    used_at     BIGINT,
    KEY refresh_tokens_session_idx (session_id),
    CONSTRAINT refresh_tokens_session_fk FOREIGN KEY (session_id) REFERENCES sessions (id)
        ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Server-wide values that must survive restarts (the generated JWT secret).
CREATE TABLE settings (
    `key`   VARCHAR(191) NOT NULL PRIMARY KEY,
    value   TEXT         NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
