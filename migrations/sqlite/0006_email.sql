-- 0006 email: verified addresses, one-time email tokens, the outbox (SQLite).
-- Owner: the `auth` component.

-- When the account's current address was proven (a verification link, a
-- password reset or a confirmed change); NULL: not yet.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;

-- The one-time tokens sent by email, by the SHA-256 of their value (the
-- value itself is only ever in the message). `purpose` says what a token
-- does; a newer token of the same purpose for the same account replaces the
-- older one, and a token is deleted when used. `email` is the address it
-- was sent to: for `change_email`, the address the account changes to.
CREATE TABLE auth_email_tokens (
    token_hash  TEXT    PRIMARY KEY,
    purpose     TEXT    NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX auth_email_tokens_user ON auth_email_tokens (user_id, purpose);
CREATE INDEX auth_email_tokens_expires ON auth_email_tokens (expires_at);

-- Messages for the email hook, written in the transaction of the change
-- that causes them and deleted once the hook accepted them. `id` is the
-- Standard Webhooks `webhook-id` every attempt carries, so that the
-- receiver can drop duplicates. A failed attempt moves `next_attempt_at`
-- on (backoff); a delivery in progress holds it ahead, as a lease.
-- `payload` is the JSON body sent, links included: no message outlives
-- its delivery.
CREATE TABLE auth_outbox (
    id               TEXT    PRIMARY KEY,
    created_at       BIGINT  NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    last_error       TEXT,
    payload          TEXT    NOT NULL
);
CREATE INDEX auth_outbox_due ON auth_outbox (next_attempt_at);
