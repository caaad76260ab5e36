//! Account protection over `auth`'s tables: throttles counted atomically in
//! the database, revocations published where `users` looks, and the sweep
//! that removes what no rule needs any more.

use troupe_accounts::{Counter, OnSuccess};
use troupe_ids::SessionId;
use troupe_store::{transaction, Database, DbError, KeyValue};

use crate::error::AuthError;
use crate::store::{self, Count};
use crate::Auth;
use troupe_auth_contract::keys::revoked_session;
use troupe_auth_contract::tokens::LEEWAY_SECS;

/// Count one attempt in every counter, in one transaction: when any of them
/// is full, nothing is counted and the answer is 429 with `Retry-After` and
/// the `RateLimit` headers of the counter that refused.
pub(crate) fn admit(
    db: &dyn Database,
    counters: &[Counter],
    now_ms: i64,
    detail: &'static str,
) -> Result<(), AuthError> {
    if counters.is_empty() {
        return Ok(());
    }
    transaction(db, |tx| {
        for counter in counters {
            let policy = counter.policy;
            match store::count_attempt(tx, &counter.key, policy.limit, now_ms, policy.window_ends(now_ms))? {
                Count::Counted { .. } => {}
                Count::Full { hits, window_ends } => {
                    return Err(AuthError::Throttled { detail, policy, hits, window_ends_ms: window_ends, now_ms })
                }
            }
        }
        Ok(())
    })
}

/// After the right password: clear or hand back what the attempt counted
/// (inside the caller's transaction).
pub fn settle_success(db: &dyn Database, counters: &[Counter], now_ms: i64) -> Result<(), DbError> {
    for counter in counters {
        match counter.on_success {
            OnSuccess::Clear => store::clear_attempts(db, &counter.key)?,
            OnSuccess::Refund => store::refund_attempt(db, &counter.key, now_ms)?,
            OnSuccess::Keep => {}
        }
    }
    Ok(())
}

/// Publish revocations where `users` looks for them, and record them for the
/// sweep, inside the transaction that revokes: if the key-value store fails,
/// the transaction rolls back and the request answers 503, so no revocation
/// is ever answered as done while `users` would still accept its tokens.
/// A retry (every revoking route is idempotent) does it again.
pub(crate) fn publish_revocations(
    auth: &Auth,
    tx: &dyn Database,
    session_ids: &[SessionId],
    now_ms: i64,
) -> Result<(), AuthError> {
    if session_ids.is_empty() {
        return Ok(());
    }
    // No access token of these sessions outlives this (lifetime + leeway).
    let until = now_ms + (auth.settings().access_ttl_secs() + i64::from(LEEWAY_SECS)) * 1000;
    store::record_revocations(tx, session_ids, until)?;
    let kv = auth.kv()?;
    let value = until.to_string();
    for id in session_ids {
        kv.set(&revoked_session(id), value.as_bytes()).map_err(AuthError::RevocationUnpublished)?;
    }
    Ok(())
}

/// Whether session `id` was revoked: its key-value record, as `users`
/// reads it, or, when the store fails, the session row (a missing or ended
/// row counts as revoked). With neither readable the request fails (503).
pub(crate) fn revoked(auth: &Auth, id: &SessionId) -> Result<bool, AuthError> {
    match auth.kv().map_err(AuthError::from).and_then(|kv| Ok(kv.get(&revoked_session(id))?)) {
        Ok(record) => Ok(record.is_some()),
        Err(_) => {
            troupe_spin_adapter::warn(
                "revocation",
                "revocations unavailable in the key-value store; reading the session",
            );
            let now = troupe_spin_adapter::now_ms();
            Ok(!store::session(auth.db()?, id)?.is_some_and(|session| session.live(now)))
        }
    }
}

/// Remove, in bounded batches, what no rule needs any more: closed throttle
/// windows, grace pairs past their interval, key-value revocation records
/// that outlived every token of their session, sessions and refresh tokens
/// ended longer ago than the retention period, audit events older than
/// theirs, and expired email links.
///
/// Spin's key-value store has no expiry and no host runs a cron for us, so
/// this runs on the requests that write anyway (sign-in, registration,
/// sign-out, password change), after their work: it never changes their
/// answer, and a failure is only logged.
pub fn sweep(auth: &Auth, now_ms: i64) {
    if let Err(e) = try_sweep(auth, now_ms) {
        troupe_spin_adapter::warn("sweep", &format!("housekeeping failed, will retry on a later request: {e}"));
    }
}

fn try_sweep(auth: &Auth, now_ms: i64) -> Result<(), String> {
    let db = auth.db().map_err(|p| p.to_string())?;
    let cutoff = now_ms - auth.settings().retention_secs() * 1000;
    let audit_cutoff = now_ms - auth.settings().audit_retention_secs() * 1000;
    transaction(db, |tx| {
        store::sweep_throttles(tx, now_ms)?;
        store::sweep_grace_pairs(tx, now_ms)?;
        store::sweep_retired(tx, cutoff)?;
        store::sweep_events(tx, audit_cutoff)?;
        store::sweep_email_tokens(tx, now_ms)?;
        store::sweep_challenges(tx, now_ms)?;
        Ok::<_, DbError>(())
    })
    .map_err(|e| e.to_string())?;
    let expired = store::expired_revocations(db, now_ms).map_err(|e| e.to_string())?;
    if expired.is_empty() {
        return Ok(());
    }
    let kv = auth.kv().map_err(|p| p.to_string())?;
    for id in &expired {
        kv.delete(&revoked_session(id)).map_err(|e| e.to_string())?;
    }
    store::forget_revocations(db, &expired).map_err(|e| e.to_string())
}
