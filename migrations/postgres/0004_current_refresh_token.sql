-- 0004 current refresh token (Postgres). Owner: the `auth` component.
--
-- A session's current refresh token moves onto its row, so that a rotation
-- is one conditional UPDATE of that row (`WHERE refresh_token_hash =
-- <presented>`): the database's write lock is held for one statement, not
-- for a transaction of several round trips, which under many concurrent
-- refreshes queued every writer behind SQLite's busy-wait back-off.
-- `refresh_tokens` keeps the tokens a rotation replaced (recorded just
-- before it), to recognise one coming back as reuse.
ALTER TABLE sessions ADD COLUMN refresh_token_hash TEXT;
UPDATE sessions SET refresh_token_hash = (
    SELECT r.token_hash FROM refresh_tokens r
    WHERE r.session_id = sessions.id AND r.replaced_at IS NULL
    ORDER BY r.issued_at DESC LIMIT 1
);
DELETE FROM refresh_tokens WHERE replaced_at IS NULL;
CREATE UNIQUE INDEX sessions_refresh_token ON sessions (refresh_token_hash);
