-- 0008 refresh token families (SQLite). Owner: the `auth` component.
--
-- A refresh token now names its session and carries the session's family
-- secret (`<session id>.<family>.<nonce>`, troupe-accounts' `refresh`
-- module). `refresh_family_hash` is the SHA-256 of that secret, never the
-- secret: a presented token that carries it but is not the session's current
-- one is a replaced token, recognised without a row in `refresh_tokens`, so
-- a rotation is one UPDATE of the session's row. NULL for a session still on
-- a token issued before this migration (a legacy token, found by digest);
-- its next rotation gives it a family and records the legacy token in
-- `refresh_tokens` as before, which keeps it only for the tokens replaced
-- since and for their retention.
ALTER TABLE sessions ADD COLUMN refresh_family_hash TEXT;

-- Only legacy tokens are looked up by digest: index theirs alone, so that
-- rotating a session with a family writes no index entry for its token.
DROP INDEX sessions_refresh_token;
CREATE UNIQUE INDEX sessions_legacy_refresh_token ON sessions (refresh_token_hash)
    WHERE refresh_family_hash IS NULL;
