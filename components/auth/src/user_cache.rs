//! `auth`'s cache of the accounts it owns, for `GET /me`: `auth:user:<id>`
//! holds the user and its revision, for `user_cache_ttl_seconds` (an hour;
//! 0 turns it off), fenced by `auth:user-fence:<id>`. Every change `auth`
//! makes to the `users` table forgets the cached copy after commit, so a
//! read sees the change at once.

use troupe_accounts::UserRecord;
use troupe_ids::UserId;
use troupe_spin_adapter::variable;
use troupe_store::{Cache, CacheOutcome};

use crate::error::AuthError;
use crate::{store, Auth};

const CACHE: &str = "auth:user";
const FENCE: &str = "auth:user-fence";

fn ttl_ms() -> u64 {
    variable("user_cache_ttl_seconds").and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(3600) * 1000
}

fn now() -> u64 {
    u64::try_from(troupe_spin_adapter::now_ms()).unwrap_or_default()
}

/// The account `id`, through the cache; a failing cache degrades to the
/// database.
pub(crate) fn read(auth: &Auth, id: &UserId) -> Result<Option<UserRecord>, AuthError> {
    let (started, ttl) = (now(), ttl_ms());
    let kv = match auth.kv() {
        Ok(kv) if ttl > 0 => kv,
        _ => return Ok(store::user(auth.db()?, id)?),
    };
    let cache = Cache::new(kv, CACHE, ttl).with_fence(FENCE);
    let (record, outcome) =
        cache.get_or_load(id.as_str(), started, || Ok::<_, AuthError>(store::user(auth.db()?, id)?))?;
    if let CacheOutcome::Bypassed(e) = outcome {
        troupe_spin_adapter::warn(
            "user-cache",
            &format!("the cache is unavailable, read user {id} from the database: {e}"),
        );
    }
    Ok(record)
}

/// After a committed change to account `id` (or its deletion): fence off
/// slower readers and forget the cached copy.
pub(crate) fn changed(auth: &Auth, id: &UserId) {
    let outcome = auth.kv().map_err(|p| p.to_string()).and_then(|kv| {
        Cache::new(kv, CACHE, ttl_ms()).with_fence(FENCE).changed(id.as_str(), now()).map_err(|e| e.to_string())
    });
    if let Err(e) = outcome {
        // Committed and final; a cached copy the store still serves ages out
        // with its time-to-live.
        troupe_spin_adapter::warn("user-cache", &format!("could not refresh the cached user {id}: {e}"));
    }
}

/// After a change `auth` made to account `id` on its own (a verified or
/// changed address, a reset password): ask `users`, over service chaining,
/// to forget its cached copy, which only `users` may write. Best effort:
/// if `users` cannot be reached, its copy ages out with its time-to-live.
pub(crate) fn tell_users(id: &UserId) {
    let url = format!("http://users.spin.internal/internal/users/{id}/changed");
    if let Err(e) = troupe_spin_adapter::post_empty(&url) {
        troupe_spin_adapter::warn("user-cache", &format!("could not tell users that user {id} changed: {e}"));
    }
}
