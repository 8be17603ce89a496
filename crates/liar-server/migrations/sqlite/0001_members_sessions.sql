-- Members and their sessions (SPEC §1). Times are Unix milliseconds (UTC).
CREATE TABLE members (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    email              TEXT    NOT NULL,
    username           TEXT    NOT NULL,
    password_hash      TEXT    NOT NULL,
    exp                INTEGER NOT NULL DEFAULT 0,
    level              TEXT    NOT NULL DEFAULT 'BRONZE1',
    wins               INTEGER NOT NULL DEFAULT 0,
    losses             INTEGER NOT NULL DEFAULT 0,
    games              INTEGER NOT NULL DEFAULT 0,
    results_visible    INTEGER NOT NULL DEFAULT 1,
    is_admin           INTEGER NOT NULL DEFAULT 0,
    -- The one live session (SPEC §1.2). A login replaces it in one UPDATE, so concurrent logins
    -- serialise on this row and exactly one session survives.
    current_session_id TEXT,
    created_at         INTEGER NOT NULL
);
-- Uniqueness by constraint, never check-then-insert (seed defect, SPEC §7).
CREATE UNIQUE INDEX members_email_uq ON members (email);
CREATE UNIQUE INDEX members_username_uq ON members (username COLLATE NOCASE);

CREATE TABLE sessions (
    id          TEXT    PRIMARY KEY,
    member_id   INTEGER NOT NULL REFERENCES members (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    -- 'replaced' | 'logout' | 'reused'
    end_reason  TEXT
);
CREATE INDEX sessions_member_idx ON sessions (member_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- Refresh tokens are stored as SHA-256 digests; a used token is kept until its session expires
-- so that presenting it again is recognised as reuse (SPEC §1.1).
CREATE TABLE refresh_tokens (
    token_hash  BLOB    PRIMARY KEY,
    session_id  TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- Server-wide values that must survive restarts (the generated JWT secret).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
