-- 0003 protection (Postgres). Owner: the `auth` component.
--
-- What the account protection rules need to hold under concurrency, and to
-- forget what they no longer need (Spin's key-value store has no expiry and
-- no host offers a cron, so `auth` removes expired rows itself, in bounded
-- batches, on the requests that already write: sign-in, registration,
-- sign-out, password change).

-- Attempt counters of the throttles (failed sign-ins per account and client
-- address, per account, per address; registrations per address). One row a
-- key, counted with one atomic upsert (`INSERT … ON CONFLICT DO UPDATE …
-- WHERE hits < limit RETURNING`), so that parallel attempts cannot all read
-- the same count: the database serialises them. `window_ends` is when the
-- fixed window closes; a row past it counts as empty and is swept.
CREATE TABLE auth_throttles (
    key          TEXT    PRIMARY KEY,
    hits         BIGINT  NOT NULL,
    window_ends  BIGINT  NOT NULL
);
CREATE INDEX auth_throttles_window_ends ON auth_throttles (window_ends);

-- Revocation records `auth` published in the key-value store
-- (`auth:revoked-session:<id>`), written in the same transaction as the
-- revocation. `expires_at` is when no access token of the session can be
-- valid any more (issue time + lifetime + leeway): then the key-value record
-- is deleted, and this row with it.
CREATE TABLE auth_revocations (
    session_id  TEXT    PRIMARY KEY,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX auth_revocations_expires ON auth_revocations (expires_at);

-- The absolute end of a session (sign-in + `session_max_age_seconds`):
-- refreshing never extends it. Sessions from before this migration end 30
-- days after they began, the default.
ALTER TABLE sessions ADD COLUMN ends_at BIGINT;
UPDATE sessions SET ends_at = created_at + 2592000000;

-- What the sweep looks for: grace pairs past their interval, sessions and
-- refresh tokens past the retention period.
CREATE INDEX sessions_grace_until ON sessions (grace_until) WHERE grace_pair IS NOT NULL;
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX refresh_tokens_replaced ON refresh_tokens (replaced_at) WHERE replaced_at IS NOT NULL;
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
