//! `auth`'s storage adapter: the SQL over the tables it owns (see
//! migrations/*/0001_accounts.sql). No business rule lives here.

use troupe_accounts::audit::EventType;
use troupe_accounts::email::Purpose;
use troupe_accounts::refresh::Lookup;
use troupe_accounts::{Email, UserRecord};
use troupe_auth_contract::users::{self as user_rows, columns_of, COLUMNS as USER_COLUMNS};
use troupe_ids::{EventId, Role, SessionId, UserId};
use troupe_store::{Database, DbError, Dialect, Row, Rows, Value};

/// An id read back from a row (text in both dialects); a row whose id is no
/// id is corrupt.
fn id_in<T: std::str::FromStr>(row: &Row<'_>, column: &str) -> Result<T, DbError> {
    let raw: String = row.get(column)?;
    raw.parse().map_err(|_| DbError::Decode(format!("{column}: not an id: {raw:?}")))
}

/// The user of the first row (selected or returned with [`USER_COLUMNS`]).
fn first_user(rows: &Rows) -> Result<Option<UserRecord>, DbError> {
    rows.first().map(|row| user_rows::record(&row)).transpose()
}

/// A new account, validated.
pub struct NewAccount<'a> {
    pub id: &'a UserId,
    pub email: &'a Email,
    pub name: &'a troupe_accounts::DisplayName,
    pub role: Role,
    pub password_hash: &'a str,
    pub now_ms: i64,
}

/// Insert a user and its credentials (call inside a transaction).
pub fn insert_account(db: &dyn Database, account: &NewAccount<'_>) -> Result<UserRecord, DbError> {
    let rows = db.query(
        &format!(
            "INSERT INTO users (id, email, email_key, name, name_key, role, created_at, updated_at, revision) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1) RETURNING {USER_COLUMNS}"
        ),
        &[
            account.id.as_str().into(),
            account.email.as_str().into(),
            account.email.key().into(),
            account.name.as_str().into(),
            account.name.key().into(),
            account.role.as_str().into(),
            account.now_ms.into(),
        ],
    )?;
    let user = first_user(&rows)?;
    let user = user.ok_or_else(|| DbError::Query("INSERT … RETURNING returned no row".into()))?;
    db.execute(
        "INSERT INTO credentials (user_id, password_hash, updated_at) VALUES ($1, $2, $3)",
        &[account.id.as_str().into(), account.password_hash.into(), account.now_ms.into()],
    )?;
    Ok(user)
}

/// A user with their password hash, where `column` (a fixed column name of
/// `users`, never input) equals `value`.
fn account_where(db: &dyn Database, column: &str, value: &str) -> Result<Option<(UserRecord, String)>, DbError> {
    // Qualified: `credentials` has an `updated_at` of its own.
    let columns = columns_of("u");
    let rows = db.query(
        &format!(
            "SELECT {columns}, c.password_hash FROM users u JOIN credentials c ON c.user_id = u.id \
             WHERE u.{column} = $1"
        ),
        &[value.into()],
    )?;
    rows.first().map(|row| Ok((user_rows::record(&row)?, row.get("password_hash")?))).transpose()
}

/// A user with their password hash, by email key.
pub fn account_by_email(db: &dyn Database, email_key: &str) -> Result<Option<(UserRecord, String)>, DbError> {
    account_where(db, "email_key", email_key)
}

/// A user with their password hash, by id.
pub fn account_by_id(db: &dyn Database, user_id: &UserId) -> Result<Option<(UserRecord, String)>, DbError> {
    account_where(db, "id", user_id.as_str())
}

/// A user, by id.
pub fn user(db: &dyn Database, user_id: &UserId) -> Result<Option<UserRecord>, DbError> {
    first_user(&db.query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"), &[user_id.as_str().into()])?)
}

/// A change to a user's editable fields (`None`: unchanged).
pub struct UserChange<'a> {
    /// The account's address in another case (`auth` moves an account to
    /// another address only through a confirmed link).
    pub email: Option<&'a Email>,
    pub name: Option<&'a troupe_accounts::DisplayName>,
    pub role: Option<Role>,
    /// Apply only at this revision; 0: at any.
    pub if_revision: i64,
    pub now_ms: i64,
}

/// Apply `change` to user `id`, moving its revision on; `None` when the
/// user is missing, at another revision, or (with an address) no longer at
/// that address in any case.
pub fn update_user(db: &dyn Database, id: &UserId, change: &UserChange<'_>) -> Result<Option<UserRecord>, DbError> {
    let mut sets = vec!["revision = revision + 1".to_owned(), "updated_at = $3".to_owned()];
    let mut conditions = "id = $1 AND (CAST($2 AS BIGINT) = 0 OR revision = $2)".to_owned();
    let mut params: Vec<Value> = vec![id.as_str().into(), change.if_revision.into(), change.now_ms.into()];
    if let Some(email) = change.email {
        params.push(email.as_str().into());
        params.push(email.key().into());
        // Only its case changes: if the account moved to another address
        // since the caller looked, nothing is written.
        sets.push(format!("email = ${}", params.len() - 1));
        conditions.push_str(&format!(" AND email_key = ${}", params.len()));
    }
    if let Some(name) = change.name {
        params.push(name.as_str().into());
        params.push(name.key().into());
        sets.push(format!("name = ${}, name_key = ${}", params.len() - 1, params.len()));
    }
    if let Some(role) = change.role {
        params.push(role.as_str().into());
        sets.push(format!("role = ${}", params.len()));
    }
    let sql = format!("UPDATE users SET {} WHERE {conditions} RETURNING {USER_COLUMNS}", sets.join(", "));
    first_user(&db.query(&sql, &params)?)
}

/// Whether user `id` exists.
pub fn user_exists(db: &dyn Database, id: &UserId) -> Result<bool, DbError> {
    Ok(!db.query("SELECT id FROM users WHERE id = $1", &[id.as_str().into()])?.is_empty())
}

/// Delete user `id` (only at `if_revision`; 0: at any) with their
/// credentials, sessions and refresh tokens (call inside a transaction);
/// `false` when the user is missing or at another revision.
pub fn delete_user(db: &dyn Database, id: &UserId, if_revision: i64) -> Result<bool, DbError> {
    let deleted = db.query(
        "DELETE FROM users WHERE id = $1 AND (CAST($2 AS BIGINT) = 0 OR revision = $2) RETURNING id",
        &[id.as_str().into(), if_revision.into()],
    )?;
    if deleted.is_empty() {
        return Ok(false);
    }
    // Explicit deletes rather than ON DELETE CASCADE: SQLite enforces
    // foreign keys only when each connection asks it to.
    db.execute(
        "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE user_id = $1)",
        &[id.as_str().into()],
    )?;
    db.execute("DELETE FROM sessions WHERE user_id = $1", &[id.as_str().into()])?;
    db.execute("DELETE FROM credentials WHERE user_id = $1", &[id.as_str().into()])?;
    db.execute("DELETE FROM auth_email_tokens WHERE user_id = $1", &[id.as_str().into()])?;
    delete_factors(db, id)?;
    Ok(true)
}

/// Replace a user's password hash.
pub fn set_password_hash(db: &dyn Database, user_id: &UserId, hash: &str, now_ms: i64) -> Result<(), DbError> {
    db.execute(
        "UPDATE credentials SET password_hash = $2, updated_at = $3 WHERE user_id = $1",
        &[user_id.as_str().into(), hash.into(), now_ms.into()],
    )
}

/// Who is signing in, from where.
pub struct Client {
    pub user_agent: Option<String>,
    pub address: Option<String>,
}

/// A new session's times: now, when its first refresh token expires, and
/// its absolute end.
pub struct SessionTimes {
    pub now_ms: i64,
    pub expires_ms: i64,
    pub ends_ms: i64,
}

/// A new session's first refresh token, as digests.
pub struct FirstToken {
    pub digest: String,
    pub family_digest: String,
}

/// Insert a session with its first refresh token.
pub fn insert_session(
    db: &dyn Database,
    session_id: &SessionId,
    user_id: &UserId,
    client: &Client,
    refresh: &FirstToken,
    times: &SessionTimes,
    amr: &str,
) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO sessions \
           (id, user_id, created_at, last_used_at, expires_at, ends_at, user_agent, client_addr, refresh_token_hash, \
            refresh_family_hash, amr) \
         VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            session_id.as_str().into(),
            user_id.as_str().into(),
            times.now_ms.into(),
            times.expires_ms.into(),
            times.ends_ms.into(),
            client.user_agent.clone().into(),
            client.address.clone().into(),
            refresh.digest.as_str().into(),
            refresh.family_digest.as_str().into(),
            amr.into(),
        ],
    )
}

/// A session as refresh and authentication need it.
pub struct SessionState {
    pub id: SessionId,
    pub user_id: UserId,
    pub role: Role,
    /// The account's address is verified (for the tokens it mints).
    pub email_verified: bool,
    /// How the session was signed in (`pwd`, `pwd otp`).
    pub amr: String,
    pub revoked: bool,
    pub expires_ms: i64,
    /// The absolute end: no refresh reaches past it.
    pub ends_ms: i64,
}

impl SessionState {
    /// Whether the session may still be used at `now_ms`.
    pub fn live(&self, now_ms: i64) -> bool {
        !self.revoked && self.expires_ms > now_ms && self.ends_ms > now_ms
    }
}

const SESSION_COLUMNS: &str =
    "s.id, s.user_id, u.role, u.email_verified_at, s.amr, s.revoked_at, s.expires_at, s.ends_at";

fn session_from_row(row: &Row<'_>) -> Result<SessionState, DbError> {
    let role: String = row.get("role")?;
    Ok(SessionState {
        id: id_in(row, "id")?,
        user_id: id_in(row, "user_id")?,
        role: Role::parse(&role).map_err(|e| DbError::Decode(format!("role: {e}")))?,
        email_verified: row.get::<Option<i64>>("email_verified_at")?.is_some(),
        amr: row.get("amr")?,
        revoked: row.get::<Option<i64>>("revoked_at")?.is_some(),
        expires_ms: row.get("expires_at")?,
        ends_ms: row.get("ends_at")?,
    })
}

/// A session by id.
pub fn session(db: &dyn Database, session_id: &SessionId) -> Result<Option<SessionState>, DbError> {
    let rows = db.query(
        &format!("SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1"),
        &[session_id.as_str().into()],
    )?;
    rows.first().map(|row| session_from_row(&row)).transpose()
}

/// What is known of a presented refresh token.
pub struct PresentedToken {
    pub session: SessionState,
    /// It is not (any more) its session's current token.
    pub replaced: bool,
    pub grace_token: Option<String>,
    pub grace_pair: Option<Vec<u8>>,
    pub grace_until_ms: Option<i64>,
}

/// Find the session of a presented refresh token whose SHA-256 is `digest`:
/// by the id it names if its family digest matches, or, for a legacy token,
/// by its digest among sessions' current tokens and the replaced ones
/// recorded. (A legacy token can be both for a moment, recorded as replaced
/// just before the rotation that replaces it: current wins.)
pub fn presented_token(db: &dyn Database, lookup: &Lookup, digest: &str) -> Result<Option<PresentedToken>, DbError> {
    const FROM: &str = "FROM sessions s JOIN users u ON u.id = s.user_id";
    let rows = match lookup {
        Lookup::Session { id, family } => db.query(
            &format!("SELECT {SESSION_COLUMNS}, {GRACE_COLUMNS} {FROM} WHERE s.id = $1 AND s.refresh_family_hash = $2"),
            &[id.as_str().into(), family.digest().into()],
        )?,
        Lookup::Legacy => db.query(
            &format!(
                "SELECT {SESSION_COLUMNS}, {GRACE_COLUMNS} {FROM} \
                 WHERE s.refresh_token_hash = $1 \
                    OR s.id = (SELECT r.session_id FROM refresh_tokens r WHERE r.token_hash = $1)"
            ),
            &[digest.into()],
        )?,
    };
    rows.first()
        .map(|row| {
            Ok(PresentedToken {
                session: session_from_row(&row)?,
                replaced: row.get::<Option<String>>("refresh_token_hash")?.as_deref() != Some(digest),
                grace_token: row.get("grace_token")?,
                grace_pair: row.get("grace_pair")?,
                grace_until_ms: row.get("grace_until")?,
            })
        })
        .transpose()
}

const GRACE_COLUMNS: &str = "s.refresh_token_hash, s.grace_token, s.grace_pair, s.grace_until";

/// A rotation, prepared before any lock is taken: the presented token
/// `replaced` (a digest) gives way to `next`, of the session's family (a new
/// one for a legacy token), and the session keeps the sealed new pair for
/// the grace interval.
pub struct Rotation<'a> {
    pub session_id: &'a SessionId,
    pub replaced: &'a str,
    pub next: &'a str,
    pub family_digest: &'a str,
    /// The replaced token is a legacy one: record it among the replaced,
    /// where only its digest can find it again.
    pub legacy: bool,
    pub now_ms: i64,
    /// The new token's (and the session's sliding) expiry.
    pub expires_ms: i64,
    pub sealed_pair: Vec<u8>,
    pub grace_until_ms: i64,
}

/// Rotate, if `replaced` is still the current token of a live session;
/// returns whether it was. `false` means a concurrent request got there
/// first (it rotated the token or ended the session): read again.
///
/// The session's row swaps the token for the next in a single conditional
/// `UPDATE`, which takes the write lock for itself alone, so concurrent
/// refreshes never queue behind a transaction that spans several round
/// trips. A replaced token of the session's family is recognised by its
/// family; a legacy one is first recorded among the replaced tokens (a no-op
/// if it already is). If the swap then does not happen, the record is
/// harmless: a current token is current whatever the record says, and a
/// session that ended refuses its tokens anyway. Postgres runs both as one
/// statement (one round trip, atomic); SQLite has no data-modifying `WITH`.
pub fn rotate_refresh_token(db: &dyn Database, rotation: &Rotation<'_>) -> Result<bool, DbError> {
    const RETIRE: &str = "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at, replaced_at) \
                          VALUES ($2, $1, $3, $7, $3) ON CONFLICT (token_hash) DO NOTHING";
    const SWAP: &str = "UPDATE sessions SET refresh_token_hash = $4, refresh_family_hash = $8, last_used_at = $3, \
                          grace_token = $2, grace_pair = $5, grace_until = $6, expires_at = $7 \
                        WHERE id = $1 AND refresh_token_hash = $2 AND revoked_at IS NULL \
                          AND expires_at > $3 AND ends_at > $3 \
                        RETURNING id";
    let params = rotation.params();
    let swapped = match (rotation.legacy, db.dialect()) {
        (false, _) => db.query(SWAP, &params)?,
        (true, Dialect::Postgres) => db.query(&format!("WITH retired AS ({RETIRE}) {SWAP}"), &params)?,
        (true, Dialect::Sqlite) => {
            // `$8` is the swap's alone: SQLite wants exactly the parameters used.
            db.execute(RETIRE, &params[..7])?;
            db.query(SWAP, &params)?
        }
    };
    Ok(!swapped.is_empty())
}

impl Rotation<'_> {
    /// `$1` … `$8` of the statements above.
    fn params(&self) -> [Value; 8] {
        [
            self.session_id.as_str().into(),
            self.replaced.into(),
            self.now_ms.into(),
            self.next.into(),
            Value::Blob(self.sealed_pair.clone()),
            self.grace_until_ms.into(),
            self.expires_ms.into(),
            self.family_digest.into(),
        ]
    }
}

/// Revoke the sessions that match, returning their ids. `except` spares one
/// session (the caller's own, on a password change).
pub fn revoke_user_sessions(
    db: &dyn Database,
    user_id: &UserId,
    except: Option<&SessionId>,
    why: &str,
    now_ms: i64,
) -> Result<Vec<SessionId>, DbError> {
    let rows = db.query(
        "UPDATE sessions SET revoked_at = $3, revoked_why = $4, grace_pair = NULL \
         WHERE user_id = $1 AND revoked_at IS NULL AND id <> $2 RETURNING id",
        &[user_id.as_str().into(), except.map_or("", SessionId::as_str).into(), now_ms.into(), why.into()],
    )?;
    rows.iter().map(|row| id_in(&row, "id")).collect()
}

/// Revoke one session of `user_id`; `false` if there is no such active session.
pub fn revoke_session(
    db: &dyn Database,
    session_id: &SessionId,
    user_id: Option<&UserId>,
    why: &str,
    now_ms: i64,
) -> Result<bool, DbError> {
    let rows = db.query(
        "UPDATE sessions SET revoked_at = $3, revoked_why = $4, grace_pair = NULL \
         WHERE id = $1 AND ($2 = '' OR user_id = $2) AND revoked_at IS NULL RETURNING id",
        &[session_id.as_str().into(), user_id.map_or("", UserId::as_str).into(), now_ms.into(), why.into()],
    )?;
    Ok(!rows.is_empty())
}

/// One row of the session list.
#[derive(serde::Serialize)]
pub struct SessionView {
    pub id: SessionId,
    pub created_at: String,
    pub last_used_at: String,
    pub expires_at: String,
    pub ends_at: String,
    pub user_agent: Option<String>,
    pub client_address: Option<String>,
    pub current: bool,
}

/// The active sessions of a user, newest first.
pub fn active_sessions(
    db: &dyn Database,
    user_id: &UserId,
    current: &SessionId,
    now_ms: i64,
) -> Result<Vec<SessionView>, DbError> {
    let rows = db.query(
        "SELECT id, created_at, last_used_at, expires_at, ends_at, user_agent, client_addr FROM sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND ends_at > $2 \
         ORDER BY created_at DESC, id DESC",
        &[user_id.as_str().into(), now_ms.into()],
    )?;
    rows.iter()
        .map(|row| {
            let id: SessionId = id_in(&row, "id")?;
            Ok(SessionView {
                current: &id == current,
                id,
                created_at: troupe_accounts::rfc3339(row.get("created_at")?),
                last_used_at: troupe_accounts::rfc3339(row.get("last_used_at")?),
                expires_at: troupe_accounts::rfc3339(row.get("expires_at")?),
                ends_at: troupe_accounts::rfc3339(row.get("ends_at")?),
                user_agent: row.get("user_agent")?,
                client_address: row.get("client_addr")?,
            })
        })
        .collect()
}

/// Record that `auth:revoked-session:<id>` was published for each session,
/// to be deleted from the key-value store at `until_ms` (see [`sweep`]).
pub fn record_revocations(db: &dyn Database, session_ids: &[SessionId], until_ms: i64) -> Result<(), DbError> {
    for id in session_ids {
        db.execute(
            "INSERT INTO auth_revocations (session_id, expires_at) VALUES ($1, $2) \
             ON CONFLICT (session_id) DO UPDATE SET expires_at = excluded.expires_at",
            &[id.as_str().into(), until_ms.into()],
        )?;
    }
    Ok(())
}

/// A user's role, if the user exists.
pub fn role_of(db: &dyn Database, user_id: &UserId) -> Result<Option<Role>, DbError> {
    let rows = db.query("SELECT role FROM users WHERE id = $1", &[user_id.as_str().into()])?;
    rows.first()
        .map(|row| Role::parse(&row.get::<String>("role")?).map_err(|e| DbError::Decode(format!("role: {e}"))))
        .transpose()
}

/// How many administrators there are, read so that concurrent role changes
/// and deletions are decided one after the other (call inside a
/// transaction). SQLite's `BEGIN IMMEDIATE` already holds the write lock; on
/// Postgres the administrators' rows are locked, and a second transaction
/// waits for them (taken in id order, so two never deadlock), then sees the
/// first one's outcome.
pub fn count_admins_for_change(db: &dyn Database) -> Result<usize, DbError> {
    let sql = match db.dialect() {
        Dialect::Sqlite => "SELECT id FROM users WHERE role = 'admin'",
        Dialect::Postgres => "SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE",
    };
    Ok(db.query(sql, &[])?.len())
}

/// Whether any administrator exists.
pub fn admin_exists(db: &dyn Database) -> Result<bool, DbError> {
    Ok(!db.query("SELECT id FROM users WHERE role = 'admin' LIMIT 1", &[])?.is_empty())
}

/// The outcome of counting one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Counted: `hits` attempts so far in the window ending at `window_ends`.
    Counted { hits: i64, window_ends: i64 },
    /// The window is full: not counted.
    Full { hits: i64, window_ends: i64 },
}

/// Count one attempt under `key`, unless its window already holds `limit`
/// attempts: one atomic statement, so parallel attempts are counted one
/// after the other. A window past its end starts again at 1.
pub fn count_attempt(
    db: &dyn Database,
    key: &str,
    limit: u32,
    now_ms: i64,
    new_window_ends: i64,
) -> Result<Count, DbError> {
    let rows = db.query(
        "INSERT INTO auth_throttles (key, hits, window_ends) VALUES ($1, 1, $3) \
         ON CONFLICT (key) DO UPDATE SET \
           hits = CASE WHEN auth_throttles.window_ends <= $2 THEN 1 ELSE auth_throttles.hits + 1 END, \
           window_ends = CASE WHEN auth_throttles.window_ends <= $2 THEN $3 ELSE auth_throttles.window_ends END \
         WHERE auth_throttles.window_ends <= $2 OR auth_throttles.hits < $4 \
         RETURNING hits, window_ends",
        &[key.into(), now_ms.into(), new_window_ends.into(), i64::from(limit).into()],
    )?;
    if let Some(row) = rows.first() {
        return Ok(Count::Counted { hits: row.get("hits")?, window_ends: row.get("window_ends")? });
    }
    let rows = db.query("SELECT hits, window_ends FROM auth_throttles WHERE key = $1", &[key.into()])?;
    let row = rows.first().ok_or_else(|| DbError::Query("a full throttle window vanished".into()))?;
    Ok(Count::Full { hits: row.get("hits")?, window_ends: row.get("window_ends")? })
}

/// Hand back one attempt counted under `key` in a window still open.
pub fn refund_attempt(db: &dyn Database, key: &str, now_ms: i64) -> Result<(), DbError> {
    db.execute(
        "UPDATE auth_throttles SET hits = hits - 1 WHERE key = $1 AND hits > 0 AND window_ends > $2",
        &[key.into(), now_ms.into()],
    )
}

/// Forget the window of `key`.
pub fn clear_attempts(db: &dyn Database, key: &str) -> Result<(), DbError> {
    db.execute("DELETE FROM auth_throttles WHERE key = $1", &[key.into()])
}

/// How many rows of each kind one sweep removes at most.
pub const SWEEP_BATCH: i64 = 200;

/// Delete a batch of at most [`SWEEP_BATCH`] rows of `table` whose `column`
/// is at most `cutoff`, by their `key` column (all three fixed names, never
/// input); returns how many.
fn sweep_batch(db: &dyn Database, table: &str, key: &str, column: &str, cutoff: i64) -> Result<usize, DbError> {
    let sql = format!(
        "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {column} <= $1 LIMIT $2) RETURNING {key}"
    );
    Ok(db.query(&sql, &[cutoff.into(), SWEEP_BATCH.into()])?.len())
}

/// Drop throttle windows that have closed; returns how many.
pub fn sweep_throttles(db: &dyn Database, now_ms: i64) -> Result<usize, DbError> {
    sweep_batch(db, "auth_throttles", "key", "window_ends", now_ms)
}

/// Clear the sealed token pairs whose grace interval has passed.
pub fn sweep_grace_pairs(db: &dyn Database, now_ms: i64) -> Result<usize, DbError> {
    Ok(db
        .query(
            "UPDATE sessions SET grace_pair = NULL, grace_token = NULL, grace_until = NULL WHERE id IN \
             (SELECT id FROM sessions WHERE grace_pair IS NOT NULL AND grace_until <= $1 LIMIT $2) RETURNING id",
            &[now_ms.into(), SWEEP_BATCH.into()],
        )?
        .len())
}

/// Revocation records whose key-value copy may go: no access token of their
/// session can be valid any more.
pub fn expired_revocations(db: &dyn Database, now_ms: i64) -> Result<Vec<SessionId>, DbError> {
    let rows = db.query(
        "SELECT session_id FROM auth_revocations WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2",
        &[now_ms.into(), SWEEP_BATCH.into()],
    )?;
    rows.iter().map(|row| id_in(&row, "session_id")).collect()
}

/// Forget revocation records (once their key-value copies are deleted).
pub fn forget_revocations(db: &dyn Database, session_ids: &[SessionId]) -> Result<(), DbError> {
    for id in session_ids {
        db.execute("DELETE FROM auth_revocations WHERE session_id = $1", &[id.as_str().into()])?;
    }
    Ok(())
}

/// Delete refresh tokens retired or expired before `cutoff_ms`, and sessions
/// that ended (revoked or expired) before it, with their tokens.
pub fn sweep_retired(db: &dyn Database, cutoff_ms: i64) -> Result<usize, DbError> {
    let tokens = db.query(
        "DELETE FROM refresh_tokens WHERE token_hash IN \
         (SELECT token_hash FROM refresh_tokens WHERE replaced_at <= $1 OR expires_at <= $1 LIMIT $2) \
         RETURNING token_hash",
        &[cutoff_ms.into(), SWEEP_BATCH.into()],
    )?;
    // The same batch twice, in id order: first its tokens, then the sessions
    // (SQLite enforces no foreign key unless asked; on Postgres a session
    // that ended in between takes its tokens along by ON DELETE CASCADE).
    let ended =
        "SELECT id FROM sessions WHERE revoked_at <= $1 OR expires_at <= $1 OR ends_at <= $1 ORDER BY id LIMIT $2";
    let params = [cutoff_ms.into(), SWEEP_BATCH.into()];
    db.execute(&format!("DELETE FROM refresh_tokens WHERE session_id IN ({ended})"), &params)?;
    let sessions = db.query(&format!("DELETE FROM sessions WHERE id IN ({ended}) RETURNING id"), &params)?;
    Ok(tokens.len() + sessions.len())
}

/// One audit event to append.
pub struct NewEvent<'a> {
    pub id: &'a EventId,
    pub occurred_ms: i64,
    pub event_type: EventType,
    pub actor: Option<&'a UserId>,
    pub subject: Option<&'a UserId>,
    pub client_addr: Option<&'a str>,
    pub request_id: &'a str,
    /// A JSON object, never holding a secret.
    pub detail: Option<&'a str>,
}

/// Append an event to the audit log (inside the transaction of the change
/// it records, when there is one).
pub fn insert_event(db: &dyn Database, event: &NewEvent<'_>) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO auth_events \
         (id, occurred_at, type, actor_id, subject_id, client_addr, request_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            event.id.as_str().into(),
            event.occurred_ms.into(),
            event.event_type.as_str().into(),
            event.actor.map(UserId::as_str).into(),
            event.subject.map(UserId::as_str).into(),
            event.client_addr.into(),
            event.request_id.into(),
            event.detail.into(),
        ],
    )?;
    Ok(())
}

/// One event of the audit log, as the API shows it.
#[derive(serde::Serialize)]
pub struct EventView {
    pub id: EventId,
    pub occurred_at: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub actor_id: Option<UserId>,
    pub subject_id: Option<UserId>,
    pub client_address: Option<String>,
    pub request_id: String,
    pub detail: Option<serde_json::Value>,
}

/// A page of events, newest first: about `subject` (`None`: everyone), of
/// `event_type` if given, older than `before` if given; at most `limit`.
pub fn events(
    db: &dyn Database,
    subject: Option<&UserId>,
    event_type: Option<EventType>,
    before: Option<&EventId>,
    limit: u32,
) -> Result<Vec<EventView>, DbError> {
    let mut conditions = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let mut bind = |condition: &str, value: Value| {
        params.push(value);
        conditions.push(condition.replace('?', &format!("${}", params.len())));
    };
    if let Some(subject) = subject {
        bind("subject_id = ?", subject.as_str().into());
    }
    if let Some(event_type) = event_type {
        bind("type = ?", event_type.as_str().into());
    }
    if let Some(before) = before {
        bind("id < ?", before.as_str().into());
    }
    let filter = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    params.push(i64::from(limit).into());
    let rows = db.query(
        &format!(
            "SELECT id, occurred_at, type, actor_id, subject_id, client_addr, request_id, detail \
             FROM auth_events {filter} ORDER BY id DESC LIMIT ${}",
            params.len()
        ),
        &params,
    )?;
    rows.iter()
        .map(|row| {
            let optional_id = |column: &str| -> Result<Option<UserId>, DbError> {
                let raw: Option<String> = row.get(column)?;
                raw.map(|raw| raw.parse().map_err(|_| DbError::Decode(format!("{column}: not an id: {raw:?}"))))
                    .transpose()
            };
            let detail: Option<String> = row.get("detail")?;
            Ok(EventView {
                id: id_in(&row, "id")?,
                occurred_at: troupe_accounts::rfc3339(row.get("occurred_at")?),
                event_type: row.get("type")?,
                actor_id: optional_id("actor_id")?,
                subject_id: optional_id("subject_id")?,
                client_address: row.get("client_addr")?,
                request_id: row.get("request_id")?,
                detail: detail
                    .map(|json| serde_json::from_str(&json).map_err(|e| DbError::Decode(format!("detail: {e}"))))
                    .transpose()?,
            })
        })
        .collect()
}

/// Delete events older than `cutoff_ms`, a batch at most; returns how many.
pub fn sweep_events(db: &dyn Database, cutoff_ms: i64) -> Result<usize, DbError> {
    sweep_batch(db, "auth_events", "id", "occurred_at", cutoff_ms - 1)
}

/// A one-time email token to store (see migrations/*/0006_email.sql).
pub struct NewEmailToken<'a> {
    pub digest: &'a str,
    pub purpose: Purpose,
    pub user_id: &'a UserId,
    /// The address it is sent to.
    pub email: &'a str,
    pub now_ms: i64,
    pub expires_ms: i64,
}

/// Store `token`, replacing the account's earlier tokens of its purpose
/// (call inside a transaction).
pub fn insert_email_token(db: &dyn Database, token: &NewEmailToken<'_>) -> Result<(), DbError> {
    db.execute(
        "DELETE FROM auth_email_tokens WHERE user_id = $1 AND purpose = $2",
        &[token.user_id.as_str().into(), token.purpose.as_str().into()],
    )?;
    db.execute(
        "INSERT INTO auth_email_tokens (token_hash, purpose, user_id, email, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            token.digest.into(),
            token.purpose.as_str().into(),
            token.user_id.as_str().into(),
            token.email.into(),
            token.now_ms.into(),
            token.expires_ms.into(),
        ],
    )
}

/// Whether an unexpired token of `purpose` has this digest (read only).
pub fn email_token_valid(db: &dyn Database, digest: &str, purpose: Purpose, now_ms: i64) -> Result<bool, DbError> {
    let rows = db.query(
        "SELECT token_hash FROM auth_email_tokens WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3",
        &[digest.into(), purpose.as_str().into(), now_ms.into()],
    )?;
    Ok(!rows.is_empty())
}

/// What a used email token was for.
pub struct UsedEmailToken {
    pub user_id: UserId,
    /// The address it was sent to.
    pub email: String,
}

/// Use the unexpired token of `purpose` with this digest: it is deleted
/// (single use) and its account and address returned. `None`: no such token
/// (never issued, used already, replaced by a newer one, or expired).
pub fn take_email_token(
    db: &dyn Database,
    digest: &str,
    purpose: Purpose,
    now_ms: i64,
) -> Result<Option<UsedEmailToken>, DbError> {
    let rows = db.query(
        "DELETE FROM auth_email_tokens WHERE token_hash = $1 AND purpose = $2 RETURNING user_id, email, expires_at",
        &[digest.into(), purpose.as_str().into()],
    )?;
    let Some(row) = rows.first() else { return Ok(None) };
    if row.get::<i64>("expires_at")? <= now_ms {
        return Ok(None);
    }
    Ok(Some(UsedEmailToken { user_id: id_in(&row, "user_id")?, email: row.get("email")? }))
}

/// Mark user `id`'s address verified if it is still `email_key` (an address
/// changed since the link was sent is not the one it proves); the changed
/// record, or `None` when the address differs or the account is gone.
pub fn mark_email_verified(
    db: &dyn Database,
    id: &UserId,
    email_key: &str,
    now_ms: i64,
) -> Result<Option<UserRecord>, DbError> {
    first_user(&db.query(
        &format!(
            "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $3), \
             revision = revision + 1, updated_at = $3 \
             WHERE id = $1 AND email_key = $2 RETURNING {USER_COLUMNS}"
        ),
        &[id.as_str().into(), email_key.into(), now_ms.into()],
    )?)
}

/// Move user `id` to `email`, verified (the link proved it); `None` when the
/// account is gone. A taken address fails with [`DbError::Conflict`].
pub fn set_verified_email(
    db: &dyn Database,
    id: &UserId,
    email: &Email,
    now_ms: i64,
) -> Result<Option<UserRecord>, DbError> {
    first_user(&db.query(
        &format!(
            "UPDATE users SET email = $2, email_key = $3, email_verified_at = $4, \
             revision = revision + 1, updated_at = $4 WHERE id = $1 RETURNING {USER_COLUMNS}"
        ),
        &[id.as_str().into(), email.as_str().into(), email.key().into(), now_ms.into()],
    )?)
}

/// Delete expired email tokens, a batch at most.
pub fn sweep_email_tokens(db: &dyn Database, now_ms: i64) -> Result<usize, DbError> {
    sweep_batch(db, "auth_email_tokens", "token_hash", "expires_at", now_ms)
}

/// Put a message in the outbox, due at once (inside the transaction of the
/// change that causes it).
pub fn insert_message(db: &dyn Database, id: &str, payload: &str, now_ms: i64) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO auth_outbox (id, created_at, attempts, next_attempt_at, payload) VALUES ($1, $2, 0, $2, $3)",
        &[id.into(), now_ms.into(), payload.into()],
    )
}

/// A message due for delivery.
pub struct DueMessage {
    pub id: String,
    pub payload: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
}

/// At most `limit` messages due at `now_ms`, the longest waiting first.
pub fn due_messages(db: &dyn Database, now_ms: i64, limit: i64) -> Result<Vec<DueMessage>, DbError> {
    let rows = db.query(
        "SELECT id, payload, attempts, next_attempt_at FROM auth_outbox WHERE next_attempt_at <= $1 \
         ORDER BY next_attempt_at, id LIMIT $2",
        &[now_ms.into(), limit.into()],
    )?;
    rows.iter()
        .map(|row| {
            Ok(DueMessage {
                id: row.get("id")?,
                payload: row.get("payload")?,
                attempts: row.get("attempts")?,
                next_attempt_ms: row.get("next_attempt_at")?,
            })
        })
        .collect()
}

/// Claim `message` for one delivery attempt: count the attempt and hold it
/// until `lease_until_ms`, if nobody claimed it since it was read (`false`:
/// another request is delivering it).
pub fn claim_message(db: &dyn Database, message: &DueMessage, lease_until_ms: i64) -> Result<bool, DbError> {
    let claimed = db.query(
        "UPDATE auth_outbox SET attempts = attempts + 1, next_attempt_at = $3 \
         WHERE id = $1 AND next_attempt_at = $2 RETURNING id",
        &[message.id.as_str().into(), message.next_attempt_ms.into(), lease_until_ms.into()],
    )?;
    Ok(!claimed.is_empty())
}

/// The hook accepted message `id`: it leaves the outbox.
pub fn delivered(db: &dyn Database, id: &str) -> Result<(), DbError> {
    db.execute("DELETE FROM auth_outbox WHERE id = $1", &[id.into()])
}

/// An attempt failed: retry at `retry_at_ms`, and say why.
pub fn delivery_failed(db: &dyn Database, id: &str, retry_at_ms: i64, error: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE auth_outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1",
        &[id.into(), retry_at_ms.into(), error.into()],
    )
}

/// An account's TOTP factor (see migrations/*/0007_mfa.sql).
pub struct TotpFactor {
    pub user_id: UserId,
    /// The secret, sealed.
    pub sealed_secret: Vec<u8>,
    /// Confirmed by a first code: sign-in asks for codes.
    pub confirmed: bool,
}

/// User `id`'s TOTP factor, confirmed or not.
pub fn totp_factor(db: &dyn Database, id: &UserId) -> Result<Option<TotpFactor>, DbError> {
    let rows =
        db.query("SELECT user_id, secret, confirmed_at FROM auth_totp WHERE user_id = $1", &[id.as_str().into()])?;
    rows.first()
        .map(|row| {
            Ok(TotpFactor {
                user_id: id_in(&row, "user_id")?,
                sealed_secret: row.get("secret")?,
                confirmed: row.get::<Option<i64>>("confirmed_at")?.is_some(),
            })
        })
        .transpose()
}

/// Store a new, unconfirmed secret for user `id`, replacing an unconfirmed
/// one; `false` (nothing written) when the factor is confirmed already.
pub fn start_totp(db: &dyn Database, id: &UserId, sealed_secret: &[u8], now_ms: i64) -> Result<bool, DbError> {
    let stored = db.query(
        "INSERT INTO auth_totp (user_id, secret, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, \
         last_step = 0 WHERE auth_totp.confirmed_at IS NULL \
         RETURNING user_id",
        &[id.as_str().into(), sealed_secret.to_vec().into(), now_ms.into()],
    )?;
    Ok(!stored.is_empty())
}

/// Take time step `step` for user `id`'s factor if it is later than the
/// last one taken; `false` when it is not (the code was used already).
pub fn take_totp_step(db: &dyn Database, id: &UserId, step: i64) -> Result<bool, DbError> {
    let taken = db.query(
        "UPDATE auth_totp SET last_step = $2 WHERE user_id = $1 AND last_step < $2 RETURNING user_id",
        &[id.as_str().into(), step.into()],
    )?;
    Ok(!taken.is_empty())
}

/// Turn user `id`'s factor on; `false` if it was on already (another
/// request confirmed it first).
pub fn confirm_totp(db: &dyn Database, id: &UserId, now_ms: i64) -> Result<bool, DbError> {
    let confirmed = db.query(
        "UPDATE auth_totp SET confirmed_at = $2 WHERE user_id = $1 AND confirmed_at IS NULL RETURNING user_id",
        &[id.as_str().into(), now_ms.into()],
    )?;
    Ok(!confirmed.is_empty())
}

/// Replace user `id`'s recovery codes with these digests.
pub fn replace_recovery_codes(db: &dyn Database, id: &UserId, digests: &[String]) -> Result<(), DbError> {
    db.execute("DELETE FROM auth_recovery_codes WHERE user_id = $1", &[id.as_str().into()])?;
    for digest in digests {
        db.execute(
            "INSERT INTO auth_recovery_codes (user_id, code_hash) VALUES ($1, $2)",
            &[id.as_str().into(), digest.as_str().into()],
        )?;
    }
    Ok(())
}

/// How many recovery codes user `id` has left.
pub fn recovery_codes_left(db: &dyn Database, id: &UserId) -> Result<usize, DbError> {
    let rows = db.query("SELECT COUNT(*) AS n FROM auth_recovery_codes WHERE user_id = $1", &[id.as_str().into()])?;
    let count: i64 = rows.first().map(|row| row.get("n")).transpose()?.unwrap_or(0);
    Ok(usize::try_from(count).unwrap_or(0))
}

/// Use one of user `id`'s recovery codes (deleted); `false` if it has none
/// with this digest.
pub fn use_recovery_code(db: &dyn Database, id: &UserId, digest: &str) -> Result<bool, DbError> {
    let used = db.query(
        "DELETE FROM auth_recovery_codes WHERE user_id = $1 AND code_hash = $2 RETURNING code_hash",
        &[id.as_str().into(), digest.into()],
    )?;
    Ok(!used.is_empty())
}

/// Remove user `id`'s factor, recovery codes and open challenges; `false`
/// when there was no factor.
pub fn delete_factors(db: &dyn Database, id: &UserId) -> Result<bool, DbError> {
    db.execute("DELETE FROM auth_recovery_codes WHERE user_id = $1", &[id.as_str().into()])?;
    db.execute("DELETE FROM auth_mfa_challenges WHERE user_id = $1", &[id.as_str().into()])?;
    Ok(!db.query("DELETE FROM auth_totp WHERE user_id = $1 RETURNING user_id", &[id.as_str().into()])?.is_empty())
}

/// Open the second step of user `id`'s sign-in.
pub fn insert_challenge(
    db: &dyn Database,
    digest: &str,
    id: &UserId,
    now_ms: i64,
    expires_ms: i64,
) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO auth_mfa_challenges (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        &[digest.into(), id.as_str().into(), now_ms.into(), expires_ms.into()],
    )
}

/// The account of the unexpired challenge with this digest.
pub fn challenge_user(db: &dyn Database, digest: &str, now_ms: i64) -> Result<Option<UserId>, DbError> {
    let rows = db.query(
        "SELECT user_id FROM auth_mfa_challenges WHERE token_hash = $1 AND expires_at > $2",
        &[digest.into(), now_ms.into()],
    )?;
    rows.first().map(|row| id_in(&row, "user_id")).transpose()
}

/// Close a challenge (it was completed); `false` if another request did.
pub fn take_challenge(db: &dyn Database, digest: &str) -> Result<bool, DbError> {
    let taken =
        db.query("DELETE FROM auth_mfa_challenges WHERE token_hash = $1 RETURNING token_hash", &[digest.into()])?;
    Ok(!taken.is_empty())
}

/// Delete expired challenges, a batch at most.
pub fn sweep_challenges(db: &dyn Database, now_ms: i64) -> Result<usize, DbError> {
    sweep_batch(db, "auth_mfa_challenges", "token_hash", "expires_at", now_ms)
}
