-- 0005 audit log (SQLite). Owner: the `auth` component.
--
-- Security events, appended in the transaction of the change they record
-- (a failed sign-in, which changes nothing, on its own), never updated, and
-- deleted only by the sweep once older than `audit_retention_seconds`.
-- No foreign keys: an account's events outlive the account, its deletion
-- included. Never a secret: no password, token or hash is written here.
CREATE TABLE auth_events (
    id           TEXT    PRIMARY KEY,  -- UUIDv7: time-ordered, the paging key
    occurred_at  INTEGER  NOT NULL,     -- Unix ms
    type         TEXT    NOT NULL,     -- sign_in, sign_in_failed, ... (troupe_accounts::audit)
    actor_id     TEXT,                 -- who acted (NULL: nobody signed in)
    subject_id   TEXT,                 -- whose account it concerns (NULL: no account)
    client_addr  TEXT,
    request_id   TEXT    NOT NULL,
    detail       TEXT                  -- JSON object, or NULL
);
CREATE INDEX auth_events_subject ON auth_events (subject_id, id);
CREATE INDEX auth_events_occurred_at ON auth_events (occurred_at);
