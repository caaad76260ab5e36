//! `auth`'s storage adapter: the SQL over the tables it owns (see
//! migrations/*/0001_accounts.sql). No business rule lives here.

use troupe_auth::{Email, Role, UserRecord, USER_COLUMNS};
use troupe_spin::store::{Database, DbError, Value};

/// A new account, validated.
pub struct NewAccount<'a> {
    pub id: &'a str,
    pub email: &'a Email,
    pub name: &'a troupe_auth::DisplayName,
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
            account.id.into(),
            account.email.as_str().into(),
            account.email.key().into(),
            account.name.as_str().into(),
            account.name.key().into(),
            account.role.as_str().into(),
            account.now_ms.into(),
        ],
    )?;
    let user = rows.first().map(|row| UserRecord::from_row(&row)).transpose()?;
    let user = user.ok_or_else(|| DbError::Query("INSERT … RETURNING returned no row".into()))?;
    db.execute(
        "INSERT INTO credentials (user_id, password_hash, updated_at) VALUES ($1, $2, $3)",
        &[account.id.into(), account.password_hash.into(), account.now_ms.into()],
    )?;
    Ok(user)
}

/// A user with their password hash, where `column` (a fixed column name of
/// `users`, never input) equals `value`.
fn account_where(db: &dyn Database, column: &str, value: &str) -> Result<Option<(UserRecord, String)>, DbError> {
    // Qualified: `credentials` has an `updated_at` of its own.
    let columns = USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
    let rows = db.query(
        &format!(
            "SELECT {columns}, c.password_hash FROM users u JOIN credentials c ON c.user_id = u.id \
             WHERE u.{column} = $1"
        ),
        &[value.into()],
    )?;
    rows.first().map(|row| Ok((UserRecord::from_row(&row)?, row.get("password_hash")?))).transpose()
}

/// A user with their password hash, by email key.
pub fn account_by_email(db: &dyn Database, email_key: &str) -> Result<Option<(UserRecord, String)>, DbError> {
    account_where(db, "email_key", email_key)
}

/// A user with their password hash, by id.
pub fn account_by_id(db: &dyn Database, user_id: &str) -> Result<Option<(UserRecord, String)>, DbError> {
    account_where(db, "id", user_id)
}

/// Replace a user's password hash.
pub fn set_password_hash(db: &dyn Database, user_id: &str, hash: &str, now_ms: i64) -> Result<(), DbError> {
    db.execute(
        "UPDATE credentials SET password_hash = $2, updated_at = $3 WHERE user_id = $1",
        &[user_id.into(), hash.into(), now_ms.into()],
    )
}

/// Who is signing in, from where.
pub struct Client {
    pub user_agent: Option<String>,
    pub address: Option<String>,
}

/// Insert a session and its first refresh token.
pub fn insert_session(
    db: &dyn Database,
    session_id: &str,
    user_id: &str,
    client: &Client,
    refresh_digest: &str,
    now_ms: i64,
    expires_ms: i64,
) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, client_addr) \
         VALUES ($1, $2, $3, $3, $4, $5, $6)",
        &[
            session_id.into(),
            user_id.into(),
            now_ms.into(),
            expires_ms.into(),
            client.user_agent.clone().into(),
            client.address.clone().into(),
        ],
    )?;
    insert_refresh_token(db, refresh_digest, session_id, now_ms, expires_ms)
}

/// Record a refresh token of a session.
pub fn insert_refresh_token(db: &dyn Database, digest: &str, session_id: &str, now_ms: i64, expires_ms: i64) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
        &[digest.into(), session_id.into(), now_ms.into(), expires_ms.into()],
    )
}

/// Mark the current refresh token `digest` as replaced, if it is current and
/// unexpired; returns its session. On Postgres a concurrent caller blocks on
/// the row until this transaction ends, then finds it replaced.
pub fn retire_refresh_token(db: &dyn Database, digest: &str, now_ms: i64) -> Result<Option<String>, DbError> {
    let rows = db.query(
        "UPDATE refresh_tokens SET replaced_at = $2 \
         WHERE token_hash = $1 AND replaced_at IS NULL AND expires_at > $2 RETURNING session_id",
        &[digest.into(), now_ms.into()],
    )?;
    rows.first().map(|row| row.get("session_id")).transpose()
}

/// A session as refresh and authentication need it.
pub struct SessionState {
    pub id: String,
    pub user_id: String,
    pub role: String,
    pub revoked: bool,
    pub expires_ms: i64,
}

const SESSION_COLUMNS: &str = "s.id, s.user_id, u.role, s.revoked_at, s.expires_at";

fn session_from_row(row: &troupe_spin::store::Row<'_>) -> Result<SessionState, DbError> {
    Ok(SessionState {
        id: row.get("id")?,
        user_id: row.get("user_id")?,
        role: row.get("role")?,
        revoked: row.get::<Option<i64>>("revoked_at")?.is_some(),
        expires_ms: row.get("expires_at")?,
    })
}

/// A session by id.
pub fn session(db: &dyn Database, session_id: &str) -> Result<Option<SessionState>, DbError> {
    let rows = db.query(
        &format!("SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1"),
        &[session_id.into()],
    )?;
    rows.first().map(|row| session_from_row(&row)).transpose()
}

/// What is known of a refresh token that could not be rotated.
pub struct PresentedToken {
    pub session: SessionState,
    pub replaced: bool,
    pub grace_token: Option<String>,
    pub grace_pair: Option<Vec<u8>>,
    pub grace_until_ms: Option<i64>,
}

/// Look up a refresh token by digest.
pub fn presented_token(db: &dyn Database, digest: &str) -> Result<Option<PresentedToken>, DbError> {
    let rows = db.query(
        &format!(
            "SELECT {SESSION_COLUMNS}, r.replaced_at, s.grace_token, s.grace_pair, s.grace_until \
             FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id \
             WHERE r.token_hash = $1"
        ),
        &[digest.into()],
    )?;
    rows.first()
        .map(|row| {
            Ok(PresentedToken {
                session: session_from_row(&row)?,
                replaced: row.get::<Option<i64>>("replaced_at")?.is_some(),
                grace_token: row.get("grace_token")?,
                grace_pair: row.get("grace_pair")?,
                grace_until_ms: row.get("grace_until")?,
            })
        })
        .transpose()
}

/// After a rotation: remember the sealed new pair for the grace interval,
/// and extend the session.
pub fn record_rotation(
    db: &dyn Database,
    session_id: &str,
    replaced_digest: &str,
    sealed_pair: Vec<u8>,
    now_ms: i64,
    grace_until_ms: i64,
    expires_ms: i64,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE sessions SET last_used_at = $2, grace_token = $3, grace_pair = $4, grace_until = $5, expires_at = $6 \
         WHERE id = $1",
        &[
            session_id.into(),
            now_ms.into(),
            replaced_digest.into(),
            Value::Blob(sealed_pair),
            grace_until_ms.into(),
            expires_ms.into(),
        ],
    )
}

/// Revoke the sessions that match, returning their ids. `except` spares one
/// session (the caller's own, on a password change).
pub fn revoke_user_sessions(db: &dyn Database, user_id: &str, except: Option<&str>, why: &str, now_ms: i64) -> Result<Vec<String>, DbError> {
    let rows = db.query(
        "UPDATE sessions SET revoked_at = $3, revoked_why = $4, grace_pair = NULL \
         WHERE user_id = $1 AND revoked_at IS NULL AND id <> $2 RETURNING id",
        &[user_id.into(), except.unwrap_or("").into(), now_ms.into(), why.into()],
    )?;
    rows.iter().map(|row| row.get("id")).collect()
}

/// Revoke one session of `user_id`; `false` if there is no such active session.
pub fn revoke_session(db: &dyn Database, session_id: &str, user_id: Option<&str>, why: &str, now_ms: i64) -> Result<bool, DbError> {
    let rows = db.query(
        "UPDATE sessions SET revoked_at = $3, revoked_why = $4, grace_pair = NULL \
         WHERE id = $1 AND ($2 = '' OR user_id = $2) AND revoked_at IS NULL RETURNING id",
        &[session_id.into(), user_id.unwrap_or("").into(), now_ms.into(), why.into()],
    )?;
    Ok(!rows.is_empty())
}

/// One row of the session list.
#[derive(serde::Serialize)]
pub struct SessionView {
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub expires_at: String,
    pub user_agent: Option<String>,
    pub client_address: Option<String>,
    pub current: bool,
}

/// The active sessions of a user, newest first.
pub fn active_sessions(db: &dyn Database, user_id: &str, current: &str, now_ms: i64) -> Result<Vec<SessionView>, DbError> {
    let rows = db.query(
        "SELECT id, created_at, last_used_at, expires_at, user_agent, client_addr FROM sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id DESC",
        &[user_id.into(), now_ms.into()],
    )?;
    rows.iter()
        .map(|row| {
            let id: String = row.get("id")?;
            Ok(SessionView {
                current: id == current,
                id,
                created_at: troupe_auth::rfc3339(row.get("created_at")?),
                last_used_at: troupe_auth::rfc3339(row.get("last_used_at")?),
                expires_at: troupe_auth::rfc3339(row.get("expires_at")?),
                user_agent: row.get("user_agent")?,
                client_address: row.get("client_addr")?,
            })
        })
        .collect()
}
