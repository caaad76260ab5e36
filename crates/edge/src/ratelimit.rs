//! Rate limits on every `/api/` route: per client address, before any
//! handler runs, and per authenticated user, as soon as a handler knows who
//! is calling ([`crate::Exchange::authenticated`]).
//!
//! Each limit is a fixed window of `window_ms`, aligned to the clock so that
//! every instance and node agrees on where a window starts, counted under
//! one key per client in the key-value store that all of them share:
//! `edge:rate:<kind>:<id>` → `<window start ms>:<count>`. One key per
//! client, overwritten window after window, so the store does not grow with
//! time.
//!
//! Method: a request reads its counter and is refused (429) when the window
//! already holds `limit` requests. Otherwise it counts itself, but a
//! key-value write costs an fsync'd transaction under Spin, so a client far
//! below its limit is counted by sampling: with `remaining` requests left,
//! the stride is `k = clamp(remaining / 256, 1, 64)`, and a request writes
//! `count + k` with probability `1/k` (nothing otherwise). The count stays
//! an unbiased estimate, and it becomes exact (`k = 1`) for the last 511
//! requests of every window, so limits up to 511 are always counted exactly.
//!
//! Error bound: for a limit of `L` above that, sampling error before the
//! exact zone has a standard deviation of at most `sqrt(64 · (L − 511))`
//! requests, and far less for moderate limits, since `k` shrinks with the
//! remaining budget (`L` = 1000: `k` ≤ 3, about 27 requests). Separately,
//! Spin's key-value store has no atomic increment on every host, so
//! requests of one client that run at the same moment can read the same
//! count: a window admits at most `limit + (concurrent requests − 1)` in the
//! exact zone. A client sending one request at a time under a limit up to
//! 511 is refused exactly once over.
//!
//! Cost: every counted request reads its counter (one key-value read per
//! limit). Writes are what sampling saves, and only far below a large
//! limit: under the default per-user limit (100) every request of a user
//! writes its counter.

use serde::Serialize;
use troupe_store::KeyValue;

use crate::Problem;

/// The IETF draft's header with the state of the tightest window.
pub const RATE_LIMIT: http::HeaderName = http::HeaderName::from_static("ratelimit");
/// The IETF draft's header listing the limits that apply.
pub const RATE_LIMIT_POLICY: http::HeaderName = http::HeaderName::from_static("ratelimit-policy");

/// The most requests one sampled write stands for.
const MAX_STRIDE: u32 = 64;

/// One limit: `limit` requests per `window_ms`; a limit of 0 is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Its name in the `RateLimit` headers.
    pub name: &'static str,
    /// Requests admitted per window.
    pub limit: u32,
    /// The window's length, in milliseconds.
    pub window_ms: i64,
}

/// Both limits, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Per authenticated user (keyed by the token's subject).
    pub per_user: Option<Limit>,
    /// Per client address (IPv6: per /64).
    pub per_address: Option<Limit>,
}

impl Limit {
    /// `Some` when `limit` and `window_secs` are both above 0.
    pub fn new(name: &'static str, limit: u32, window_secs: i64) -> Option<Self> {
        (limit > 0 && window_secs > 0).then_some(Self { name, limit, window_ms: window_secs * 1000 })
    }

    /// The start of the window `now_ms` falls in.
    pub fn window_start(&self, now_ms: i64) -> i64 {
        now_ms - now_ms.rem_euclid(self.window_ms)
    }

    /// Decide on one more request, given the stored counter; `sample` is a
    /// random number that picks which requests far below the limit write.
    pub fn decide(&self, stored: Option<&str>, now_ms: i64, sample: u64) -> Decision {
        let start = self.window_start(now_ms);
        let count = stored
            .and_then(|text| text.split_once(':'))
            .and_then(|(at, count)| Some((at.parse::<i64>().ok()?, count.parse::<u32>().ok()?)))
            .filter(|(at, _)| *at == start)
            .map_or(0, |(_, count)| count);
        let reset_secs = ((start + self.window_ms - now_ms + 999) / 1000).max(1);
        if count >= self.limit {
            Decision { admitted: false, remaining: 0, reset_secs, store: None }
        } else {
            let remaining = self.limit - count;
            let stride = (remaining / 256).clamp(1, MAX_STRIDE);
            let store = (sample % u64::from(stride) == 0).then(|| format!("{start}:{}", count + stride));
            Decision { admitted: true, remaining: remaining - 1, reset_secs, store }
        }
    }

    /// This limit's item of the `RateLimit-Policy` header.
    pub fn policy_item(&self) -> String {
        format!("\"{}\";q={};w={}", self.name, self.limit, self.window_ms / 1000)
    }
}

/// What a limit says of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the request may proceed.
    pub admitted: bool,
    /// Requests left in the window after this one.
    pub remaining: u32,
    /// Seconds until the window ends.
    pub reset_secs: i64,
    /// The counter to write back (`None` when refused: nothing changes).
    #[serde(skip)]
    pub store: Option<String>,
}

/// The key-value key of a client's counter.
pub fn key(kind: &str, id: &str) -> String {
    format!("edge:rate:{kind}:{id}")
}

/// The rate limits of one request: resolved on first use, with each limit
/// applied so far and what it decided (for the headers).
pub(crate) struct RateState {
    limits: Limits,
    counters: Option<Option<Box<dyn KeyValue>>>,
    applied: Vec<(Limit, Decision)>,
}

impl RateState {
    pub(crate) fn new(limits: Limits) -> Self {
        Self { limits, counters: None, applied: Vec::new() }
    }

    /// Count one request under `kind`/`id` against the limit `pick` names,
    /// if it is on; 429 once over. The store is opened on first use; when
    /// it fails, requests go through (logged with `warn`): the limits
    /// protect the service, they must not take it down.
    pub(crate) fn apply(
        &mut self,
        kind: &str,
        id: &str,
        pick: fn(&Limits) -> Option<Limit>,
        open: impl FnOnce() -> Option<Box<dyn KeyValue>>,
        warn: fn(&str, &str),
        now_ms: i64,
    ) -> Result<(), Problem> {
        let Some(limit) = pick(&self.limits) else { return Ok(()) };
        let Some(store) = self.counters.get_or_insert_with(open).as_deref() else {
            warn("rate-limit", "the key-value store cannot be opened; not limiting");
            return Ok(());
        };
        let key = key(kind, id);
        let stored = match store.get(&key) {
            Ok(bytes) => bytes.and_then(|b| String::from_utf8(b).ok()),
            Err(e) => {
                warn("rate-limit", &format!("cannot read the {kind} counter: {e}; not limiting"));
                return Ok(());
            }
        };
        let sample = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), now_ms);
        let decision = limit.decide(stored.as_deref(), now_ms, sample);
        if let Some(next) = &decision.store {
            if let Err(e) = store.set(&key, next.as_bytes()) {
                warn("rate-limit", &format!("cannot write the {kind} counter: {e}"));
            }
        }
        let (admitted, reset) = (decision.admitted, decision.reset_secs);
        self.applied.push((limit, decision));
        if admitted {
            Ok(())
        } else {
            Err(Problem::new(http::StatusCode::TOO_MANY_REQUESTS)
                .detail(format!("too many requests for this {kind}; try again later"))
                .header(http::header::RETRY_AFTER, reset.to_string()))
        }
    }

    /// `RateLimit-Policy` (every limit applied) and `RateLimit` (the one
    /// closest to exhaustion), per draft-ietf-httpapi-ratelimit-headers.
    pub(crate) fn headers(&self) -> Option<(String, String)> {
        let (limit, tightest) = self.applied.iter().min_by_key(|(_, decision)| decision.remaining)?;
        let policy = self.applied.iter().map(|(limit, _)| limit.policy_item()).collect::<Vec<_>>().join(", ");
        let state = format!("\"{}\";r={};t={}", limit.name, tightest.remaining, tightest.reset_secs);
        Some((policy, state))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use troupe_store::KvError;

    use super::*;

    /// A key-value store in memory, for the edge's own tests.
    #[derive(Default)]
    struct Memory(RefCell<HashMap<String, Vec<u8>>>);

    impl KeyValue for Memory {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
            Ok(self.0.borrow().get(key).cloned())
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
            self.0.borrow_mut().insert(key.to_owned(), value.to_vec());
            Ok(())
        }
        fn delete(&self, key: &str) -> Result<(), KvError> {
            self.0.borrow_mut().remove(key);
            Ok(())
        }
    }

    fn limits(user: u32, address: u32) -> Limits {
        Limits { per_user: Limit::new("user", user, 60), per_address: Limit::new("address", address, 60) }
    }

    #[test]
    fn a_request_is_counted_under_each_limit_and_the_headers_name_the_tightest() {
        let store = std::rc::Rc::new(Memory::default());
        let open = || Some(Box::new(SharedMemory(store.clone())) as Box<dyn KeyValue>);
        for _ in 0..2 {
            let mut state = RateState::new(limits(2, 100));
            state.apply("address", "192.0.2.1", |l| l.per_address, open, |_, _| {}, 1_000).expect("admitted");
            state.apply("user", "ann", |l| l.per_user, open, |_, _| {}, 1_000).expect("admitted");
            let (policy, _) = state.headers().expect("headers");
            assert_eq!(policy, "\"address\";q=100;w=60, \"user\";q=2;w=60");
        }
        let mut state = RateState::new(limits(2, 100));
        state.apply("address", "192.0.2.1", |l| l.per_address, open, |_, _| {}, 2_000).expect("admitted");
        let refused = state.apply("user", "ann", |l| l.per_user, open, |_, _| {}, 2_000).expect_err("refused");
        assert_eq!(refused.status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(state.headers().map(|h| h.1), Some("\"user\";r=0;t=58".to_owned()));
        assert_eq!(store.0.borrow().get("edge:rate:address:192.0.2.1").map(Vec::as_slice), Some(&b"0:3"[..]));
    }

    #[test]
    fn without_a_store_or_with_a_limit_off_requests_go_through() {
        let mut state = RateState::new(limits(0, 1));
        state
            .apply("user", "ann", |l| l.per_user, || panic!("not opened for a limit that is off"), |_, _| {}, 0)
            .expect("off");
        state.apply("address", "x", |l| l.per_address, || None, |_, _| {}, 0).expect("fails open");
        assert_eq!(state.headers(), None);
    }

    /// [`Memory`] shared between the states of successive requests.
    struct SharedMemory(std::rc::Rc<Memory>);

    impl KeyValue for SharedMemory {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
            self.0.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
            self.0.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), KvError> {
            self.0.delete(key)
        }
    }

    const MINUTE: Limit = Limit { name: "user", limit: 3, window_ms: 60_000 };

    #[test]
    fn a_window_admits_its_limit_then_refuses_until_it_ends() {
        let mut stored: Option<String> = None;
        for remaining in [2, 1, 0] {
            let decision = MINUTE.decide(stored.as_deref(), 120_500, 7);
            assert!(decision.admitted);
            assert_eq!(decision.remaining, remaining);
            stored = decision.store;
        }
        assert_eq!(stored.as_deref(), Some("120000:3"));
        let refused = MINUTE.decide(stored.as_deref(), 150_000, 7);
        assert_eq!(refused, Decision { admitted: false, remaining: 0, reset_secs: 30, store: None });
        // The next window starts from nothing.
        let next = MINUTE.decide(stored.as_deref(), 180_000, 7);
        assert!(next.admitted);
        assert_eq!(next.store.as_deref(), Some("180000:1"));
    }

    #[test]
    fn garbage_in_the_store_counts_as_an_empty_window() {
        assert!(MINUTE.decide(Some("nonsense"), 1, 0).admitted);
        assert!(MINUTE.decide(Some("0:x"), 1, 0).admitted);
    }

    #[test]
    fn far_below_a_large_limit_requests_are_counted_by_sampling() {
        let large = Limit { name: "address", limit: 100_000, window_ms: 60_000 };
        // Stride 64: one request in 64 writes, adding 64.
        assert_eq!(large.decide(Some("0:0"), 1, 128).store.as_deref(), Some("0:64"));
        assert_eq!(large.decide(Some("0:0"), 1, 129).store, None);
        // Near the limit every request is counted exactly.
        assert_eq!(large.decide(Some("0:99600"), 1, 65).store.as_deref(), Some("0:99601"));
        // The estimate is unbiased: over many requests it lands near the truth.
        let mut stored = String::from("0:0");
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..50_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if let Some(next) = large.decide(Some(&stored), 1, seed).store {
                stored = next;
            }
        }
        let counted: i64 = stored.split_once(':').and_then(|(_, c)| c.parse().ok()).unwrap_or(0);
        assert!((counted - 50_000).abs() < 3_000, "{counted}");
    }

    #[test]
    fn a_limit_of_zero_is_off_and_policies_render_as_structured_fields() {
        assert_eq!(Limit::new("user", 0, 60), None);
        let limit = Limit::new("address", 1000, 60).expect("on");
        assert_eq!(limit.policy_item(), "\"address\";q=1000;w=60");
        assert_eq!(key("address", "192.0.2.1"), "edge:rate:address:192.0.2.1");
    }
}
