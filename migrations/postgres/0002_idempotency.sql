-- 0002 idempotency (Postgres). Owner: the `users` component.
--
-- Responses to `POST /api/v1/users` made with an `Idempotency-Key` header,
-- kept 24 hours so that a retried request replays the first answer instead
-- of creating a second user. Keys are scoped to the caller. `status` is 0
-- while the first request is still being processed.
CREATE TABLE idempotency_keys (
    caller_id    TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL,
    status       BIGINT  NOT NULL,
    location     TEXT,
    body         TEXT,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (caller_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
