//! `users`' storage adapter: the SQL it runs. It reads the `users` table
//! that `auth` owns (and never writes it: changes are asked of `auth`, see
//! [`crate::accounts`]) and owns `idempotency_keys`. No business rule lives
//! here.

use troupe_accounts::UserRecord;
use troupe_auth_contract::tables::SESSION_REVOKED_AT;
use troupe_auth_contract::users::{self as user_rows, COLUMNS as USER_COLUMNS};
use troupe_ids::{SessionId, UserId};
use troupe_store::{Database, DbError, Value};
use troupe_users::{ListQuery, SortKey};

/// A user by id.
pub fn user(db: &dyn Database, id: &UserId) -> Result<Option<UserRecord>, DbError> {
    let rows = db.query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"), &[id.as_str().into()])?;
    rows.first().map(|row| user_rows::record(&row)).transpose()
}

/// Whether `auth` revoked the session (`None`: no such session), read from
/// its table through the contract, for when the key-value store fails.
pub fn session_revoked(db: &dyn Database, session_id: &SessionId) -> Result<Option<bool>, DbError> {
    let rows = db.query(SESSION_REVOKED_AT, &[session_id.as_str().into()])?;
    rows.first().map(|row| Ok(row.get::<Option<i64>>("revoked_at")?.is_some())).transpose()
}

/// How many users the list's filters match.
pub fn count_users(db: &dyn Database, query: &ListQuery) -> Result<u64, DbError> {
    let (sql, params) = count_sql(query);
    let total = db.query(&sql, &params)?.first().map(|row| row.get::<i64>("total")).transpose()?.unwrap_or(0);
    Ok(u64::try_from(total).unwrap_or_default())
}

/// A listed user, with the value of the sort column (for the next cursor).
pub struct Listed {
    pub record: UserRecord,
    /// The sort column: a number for `created_at`, text otherwise.
    pub sort_value: serde_json::Value,
}

/// The page's users, plus one more when there is a next page.
pub fn page_of_users(db: &dyn Database, query: &ListQuery) -> Result<Vec<Listed>, DbError> {
    let (sql, params) = page_sql(query);
    let rows = db.query(&sql, &params)?;
    rows.iter()
        .map(|row| {
            let sort_value = match query.sort {
                SortKey::CreatedAt => serde_json::Value::from(row.get::<i64>("sort_value")?),
                SortKey::Email | SortKey::Name => serde_json::Value::from(row.get::<String>("sort_value")?),
            };
            Ok(Listed { record: user_rows::record(&row)?, sort_value })
        })
        .collect()
}

/// The indexed column of a sort key (see the `users_*` indexes of
/// migration 0001).
fn column(sort: SortKey) -> &'static str {
    match sort {
        SortKey::CreatedAt => "created_at",
        SortKey::Email => "email_key",
        SortKey::Name => "name_key",
    }
}

/// The `WHERE` conditions of the list's filters, their values pushed onto
/// `params`.
fn filters(query: &ListQuery, params: &mut Vec<Value>) -> Vec<String> {
    let mut clauses = Vec::new();
    if let Some(role) = query.role {
        params.push(role.as_str().into());
        clauses.push(format!("role = ${}", params.len()));
    }
    if let Some(q) = &query.q {
        // The search text is data, bound as a parameter; LIKE's own
        // wildcards in it are escaped so that they match literally.
        let escaped = q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        params.push(format!("%{escaped}%").into());
        let n = params.len();
        clauses.push(format!("(email_key LIKE ${n} ESCAPE '\\' OR name_key LIKE ${n} ESCAPE '\\')"));
    }
    clauses
}

fn where_clause(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    }
}

/// `SELECT COUNT(*) AS total …` for the filters.
fn count_sql(query: &ListQuery) -> (String, Vec<Value>) {
    let mut params = Vec::new();
    let clauses = filters(query, &mut params);
    (format!("SELECT COUNT(*) AS total FROM users{}", where_clause(&clauses)), params)
}

/// The `SELECT` of the page's rows plus one (to learn whether a next page
/// exists), with the sort value as `sort_value`.
fn page_sql(query: &ListQuery) -> (String, Vec<Value>) {
    let mut params = Vec::new();
    let mut clauses = filters(query, &mut params);
    let column = column(query.sort);
    let (dir, cmp) = if query.descending { ("DESC", "<") } else { ("ASC", ">") };
    if let Some(cursor) = &query.after {
        // ListQuery::parse checked that the value has the column's type.
        params.push(match &cursor.value {
            serde_json::Value::Number(n) => n.as_i64().map_or(Value::Null, Value::Integer),
            other => Value::Text(other.as_str().unwrap_or_default().to_owned()),
        });
        let v = params.len();
        params.push(cursor.id.clone().into());
        let id = params.len();
        clauses.push(format!("({column} {cmp} ${v} OR ({column} = ${v} AND id {cmp} ${id}))"));
    }
    // One row more than the page: whether it comes back tells whether a
    // next page exists, and the page's last row gives its cursor.
    params.push(i64::from(query.limit + 1).into());
    let limit = params.len();
    let offset = if query.after.is_some() { 0 } else { i64::from(query.page - 1) * i64::from(query.limit) };
    params.push(offset.into());
    let sql = format!(
        "SELECT {USER_COLUMNS}, {column} AS sort_value FROM users{} ORDER BY {column} {dir}, id {dir} \
         LIMIT ${limit} OFFSET ${}",
        where_clause(&clauses),
        params.len()
    );
    (sql, params)
}

/// What is stored for an idempotency key.
pub struct StoredKey {
    pub fingerprint: String,
    /// 0 while the first request runs, then its status.
    pub status: i64,
    pub location: Option<String>,
    pub body: Option<String>,
}

/// Forget `caller`'s `key` if it expired (created at or before
/// `expired_ms`), and a bounded batch of anyone's expired keys: records live
/// a day, and no host runs a cron for us.
pub fn forget_expired_keys(db: &dyn Database, caller: &UserId, key: &str, expired_ms: i64) -> Result<(), DbError> {
    db.execute(
        "DELETE FROM idempotency_keys WHERE caller_id = $1 AND key = $2 AND created_at <= $3",
        &[caller.as_str().into(), key.into(), expired_ms.into()],
    )?;
    db.execute(
        "DELETE FROM idempotency_keys WHERE (caller_id, key) IN \
         (SELECT caller_id, key FROM idempotency_keys WHERE created_at <= $1 LIMIT 32)",
        &[expired_ms.into()],
    )
}

/// Record `key` for `caller` as in progress, if nobody holds it; returns
/// whether this call did.
pub fn claim_key(
    db: &dyn Database,
    caller: &UserId,
    key: &str,
    fingerprint: &str,
    now_ms: i64,
) -> Result<bool, DbError> {
    let claimed = db.query(
        "INSERT INTO idempotency_keys (caller_id, key, fingerprint, status, created_at) VALUES ($1, $2, $3, 0, $4) \
         ON CONFLICT (caller_id, key) DO NOTHING RETURNING key",
        &[caller.as_str().into(), key.into(), fingerprint.into(), now_ms.into()],
    )?;
    Ok(!claimed.is_empty())
}

/// What is stored for `caller`'s `key`.
pub fn stored_key(db: &dyn Database, caller: &UserId, key: &str) -> Result<Option<StoredKey>, DbError> {
    let rows = db.query(
        "SELECT fingerprint, status, location, body FROM idempotency_keys WHERE caller_id = $1 AND key = $2",
        &[caller.as_str().into(), key.into()],
    )?;
    rows.first()
        .map(|row| {
            Ok(StoredKey {
                fingerprint: row.get("fingerprint")?,
                status: row.get("status")?,
                location: row.get("location")?,
                body: row.get("body")?,
            })
        })
        .transpose()
}

/// Free `caller`'s `key` (the request it guarded failed).
pub fn release_key(db: &dyn Database, caller: &UserId, key: &str) -> Result<(), DbError> {
    db.execute("DELETE FROM idempotency_keys WHERE caller_id = $1 AND key = $2", &[caller.as_str().into(), key.into()])
}

/// Store the answer (201, its `Location` and body) to replay for `key`.
pub fn record_created(
    db: &dyn Database,
    caller: &UserId,
    key: &str,
    location: &str,
    body: &str,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE idempotency_keys SET status = 201, location = $3, body = $4 WHERE caller_id = $1 AND key = $2",
        &[caller.as_str().into(), key.into(), location.into(), body.into()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use troupe_users::Cursor;

    fn parse(query: &str) -> ListQuery {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        ListQuery::parse(&pairs).expect("a valid query")
    }

    #[test]
    fn filters_and_sorting_become_bound_parameters() {
        let query = parse("q=50%25_off&role=admin&sort=email&limit=10&page=3");
        let (sql, params) = page_sql(&query);
        assert!(
            sql.contains("WHERE role = $1 AND (email_key LIKE $2 ESCAPE '\\' OR name_key LIKE $2 ESCAPE '\\')"),
            "{sql}"
        );
        assert!(sql.ends_with("ORDER BY email_key ASC, id ASC LIMIT $3 OFFSET $4"), "{sql}");
        assert_eq!(
            params,
            vec![Value::from("admin"), Value::from("%50\\%\\_off%"), Value::Integer(11), Value::Integer(20)]
        );
        let (count, params) = count_sql(&query);
        assert_eq!(
            count,
            "SELECT COUNT(*) AS total FROM users \
             WHERE role = $1 AND (email_key LIKE $2 ESCAPE '\\' OR name_key LIKE $2 ESCAPE '\\')"
        );
        assert_eq!(params.len(), 2);
    }

    #[test]
    fn sql_metacharacters_in_the_search_are_plain_data() {
        let (sql, params) = page_sql(&parse("q=%27%3B%20DROP%20TABLE%20users%3B%20--"));
        assert!(!sql.contains("DROP"));
        assert_eq!(params[0], Value::from("%'; drop table users; --%"));
    }

    #[test]
    fn a_cursor_pages_by_key_in_the_sort_direction() {
        let cursor = Cursor { value: 1_700_000_000_000i64.into(), id: "0190".into() };
        let (sql, params) = page_sql(&parse(&format!("after={}&limit=5", cursor.encode())));
        assert!(sql.contains("WHERE (created_at < $1 OR (created_at = $1 AND id < $2))"), "{sql}");
        assert_eq!(
            params,
            vec![Value::Integer(1_700_000_000_000), Value::from("0190"), Value::Integer(6), Value::Integer(0)]
        );
        let by_name = Cursor { value: "ann".into(), id: "1".into() };
        let (ascending, _) = page_sql(&parse(&format!("after={}&sort=name", by_name.encode())));
        assert!(ascending.contains("(name_key > $1 OR (name_key = $1 AND id > $2))"), "{ascending}");
    }
}
