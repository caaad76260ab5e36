-- 0007 second factor: TOTP, recovery codes, sign-in challenges (SQLite).
-- Owner: the `auth` component.

-- How each session was signed in, for the access tokens' `amr` claim
-- (RFC 8176 method names, space-separated): `pwd`, or `pwd otp` after a
-- second factor.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

-- An account's TOTP factor (RFC 6238). `secret` is sealed (ChaCha20-Poly1305
-- under `mfa_encryption_key`, bound to the account), never stored in clear.
-- `confirmed_at` is NULL until the first code from the app confirms it; only
-- then does sign-in ask for a code. `last_step` is the time step (Unix
-- seconds / 30) of the last code accepted: a code is accepted only for a
-- later step, so never twice.
CREATE TABLE auth_totp (
    user_id       TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret        BLOB   NOT NULL,
    created_at    BIGINT  NOT NULL,
    confirmed_at  BIGINT,
    last_step     BIGINT  NOT NULL DEFAULT 0
);

-- Single-use recovery codes, by the digest of each (deleted when used).
CREATE TABLE auth_recovery_codes (
    user_id    TEXT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT  NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- The second step of a sign-in: the right password for an account with
-- TOTP on opens a challenge (by the SHA-256 of its token), completed by a
-- code or a recovery code before `expires_at`, then deleted.
CREATE TABLE auth_mfa_challenges (
    token_hash  TEXT    PRIMARY KEY,
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX auth_mfa_challenges_expires ON auth_mfa_challenges (expires_at);
