-- 0001 accounts (Postgres). Owner: the `auth` component.
--
-- Accounts, their password credentials, sessions and refresh tokens. Only
-- `auth` writes these tables; `users` reads `users` and asks `auth` (over
-- Spin's service chaining) for every change, so a registration can write a
-- user and its credentials in one transaction.
--
-- Conventions for every migration: times are BIGINT Unix milliseconds (UTC);
-- ids are UUIDv7 text, which sorts by creation time; only BIGINT, TEXT and
-- BLOB/BYTEA columns, the types Spin's SQLite and Postgres interfaces both
-- carry faithfully. Released migrations are never edited: add a new one.

-- A user account. `email` is kept as the user typed it (trimmed);
-- `email_key` is its lower-cased form, unique, so that uniqueness and look-ups
-- are case-insensitive. `name_key` likewise serves sorting and search.
-- `revision` grows by one with every change and makes the ETag.
CREATE TABLE users (
    id          TEXT    PRIMARY KEY,
    email       TEXT    NOT NULL,
    email_key   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    name_key    TEXT    NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    revision    BIGINT  NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX users_email_key ON users (email_key);
-- Keyset pagination: every sort order ends with `id` as the tie-breaker.
CREATE INDEX users_created ON users (created_at, id);
CREATE INDEX users_name ON users (name_key, id);
CREATE INDEX users_role_created ON users (role, created_at, id);

-- A user's password, as an argon2id PHC string (algorithm, parameters, salt
-- and hash together, so that a hash made with weaker parameters can be
-- recognised and upgraded at the next login).
CREATE TABLE credentials (
    user_id       TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT    NOT NULL,
    updated_at    BIGINT  NOT NULL
);

-- A signed-in session: one per login, carried by a chain of refresh tokens.
-- `revoked_at` ends it (logout, password change, refresh-token reuse, user
-- deletion). `grace_pair` holds the session's current token pair, encrypted,
-- for `grace_until`: a client that re-presents `grace_token` (the hash of
-- the refresh token just replaced) gets that pair back instead of tripping
-- reuse detection.
CREATE TABLE sessions (
    id            TEXT    PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL,
    user_agent    TEXT,
    client_addr   TEXT,
    revoked_at    BIGINT,
    revoked_why   TEXT,
    grace_token   TEXT,
    grace_pair    BYTEA,
    grace_until   BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id, created_at);

-- Every refresh token ever issued, by the SHA-256 of its value (the value
-- itself is never stored). `replaced_at` is NULL for a session's current
-- token; a replaced token presented again is reuse.
CREATE TABLE refresh_tokens (
    token_hash  TEXT    PRIMARY KEY,
    session_id  TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at   BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    replaced_at BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Secrets `auth` generates for itself when none is configured: today the
-- development signing key (`dev-signing-key`), created once with
-- INSERT … ON CONFLICT DO NOTHING so that concurrent first requests agree.
-- Production sets the `jwt_signing_key` variable instead.
CREATE TABLE auth_secrets (
    name        TEXT    PRIMARY KEY,
    value       TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
