//! Cache-aside over a key-value store, with a time-to-live.
//!
//! Spin's key-value interface has no expiry, so each entry carries its own:
//! eight bytes of big-endian Unix milliseconds, then the JSON value. An
//! expired or unreadable entry is a miss. A store that fails is reported in
//! the [`CacheOutcome`] and otherwise ignored: the cache is an optimisation,
//! and the source of truth answers instead.

use serde::{de::DeserializeOwned, Serialize};

use crate::{KeyValue, KvError};

const EXPIRY_LEN: usize = 8;

/// How a read was served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// From the cache.
    Hit,
    /// From the source; the cache had nothing (or only an expired entry).
    Miss,
    /// From the source, because the cache failed (the error, for logs).
    Bypassed(KvError),
}

/// A namespace of cached JSON values with one time-to-live.
///
/// With a fence ([`Cache::with_fence`]), writers of the source record when
/// each key last changed ([`Cache::changed`]), and a read that started
/// before that does not cache what it loaded: a slow reader cannot put back
/// a version older than a completed write.
pub struct Cache<'a> {
    store: &'a dyn KeyValue,
    namespace: &'a str,
    ttl_ms: u64,
    fence: Option<&'a str>,
}

impl<'a> Cache<'a> {
    /// Entries live under `<namespace>:<key>` for `ttl_ms` milliseconds.
    pub fn new(store: &'a dyn KeyValue, namespace: &'a str, ttl_ms: u64) -> Self {
        Self { store, namespace, ttl_ms, fence: None }
    }

    /// Fenced: `<fence>:<key>` holds when `key`'s source last changed (Unix ms).
    pub fn with_fence(self, fence: &'a str) -> Self {
        Self { fence: Some(fence), ..self }
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}:{key}", self.namespace)
    }

    /// Whether a value of `key` loaded by a read that started at
    /// `started_ms` may be cached: no fence, or no change since it started.
    /// A fence that cannot be read forbids it.
    fn loaded_fresh(&self, key: &str, started_ms: u64) -> bool {
        let Some(fence) = self.fence else { return true };
        match self.store.get(&format!("{fence}:{key}")) {
            Ok(None) => true,
            Ok(Some(bytes)) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|text| text.parse::<u64>().ok())
                .is_some_and(|changed| changed < started_ms),
            Err(_) => false,
        }
    }

    /// After a write of the source: raise `key`'s fence (when fenced), then
    /// forget the key; the next read loads what the source holds. Writers do
    /// not cache what they wrote: of two concurrent writers, the one whose
    /// write committed first could cache last and leave its older version
    /// in place. Callers must check the result, as for [`Cache::invalidate`].
    pub fn changed(&self, key: &str, now_ms: u64) -> Result<(), KvError> {
        if let Some(fence) = self.fence {
            self.store.set(&format!("{fence}:{key}"), now_ms.to_string().as_bytes())?;
        }
        self.invalidate(key)
    }

    /// The cached value under `key` if present and fresh at `now_ms`.
    pub fn get<T: DeserializeOwned>(&self, key: &str, now_ms: u64) -> Result<Option<T>, KvError> {
        let Some(entry) = self.store.get(&self.full_key(key))? else {
            return Ok(None);
        };
        Ok(decode(&entry, now_ms))
    }

    /// Cache `value` under `key` from `now_ms` on.
    pub fn put<T: Serialize>(&self, key: &str, value: &T, now_ms: u64) -> Result<(), KvError> {
        let expires = now_ms.saturating_add(self.ttl_ms);
        let mut entry = expires.to_be_bytes().to_vec();
        serde_json::to_writer(&mut entry, value).map_err(|e| KvError::Other(e.to_string()))?;
        self.store.set(&self.full_key(key), &entry)
    }

    /// Forget `key`. Callers that write the source of truth must check this
    /// result: a stale entry that survives a write would be served until it
    /// expires.
    pub fn invalidate(&self, key: &str) -> Result<(), KvError> {
        self.store.delete(&self.full_key(key))
    }

    /// Read through the cache: a fresh entry if there is one, otherwise
    /// `load` from the source, caching what it finds (absent values are not
    /// cached, nor, with a fence, values that changed since `now_ms`, when
    /// the read started). Errors of the cache never surface; errors of
    /// `load` do.
    pub fn get_or_load<T, E>(
        &self,
        key: &str,
        now_ms: u64,
        load: impl FnOnce() -> Result<Option<T>, E>,
    ) -> Result<(Option<T>, CacheOutcome), E>
    where
        T: Serialize + DeserializeOwned,
    {
        let outcome = match self.get(key, now_ms) {
            Ok(Some(value)) => return Ok((Some(value), CacheOutcome::Hit)),
            Ok(None) => CacheOutcome::Miss,
            Err(error) => CacheOutcome::Bypassed(error),
        };
        let value = load()?;
        let outcome = match (&value, outcome) {
            (Some(found), CacheOutcome::Miss) if self.loaded_fresh(key, now_ms) => match self.put(key, found, now_ms) {
                Ok(()) => CacheOutcome::Miss,
                Err(error) => CacheOutcome::Bypassed(error),
            },
            (_, outcome) => outcome,
        };
        Ok((value, outcome))
    }
}

fn decode<T: DeserializeOwned>(entry: &[u8], now_ms: u64) -> Option<T> {
    let (expiry, json) = entry.split_at_checked(EXPIRY_LEN)?;
    let expires = u64::from_be_bytes(expiry.try_into().ok()?);
    if expires <= now_ms {
        return None;
    }
    // An entry written by an older shape of `T` is a miss, not an error.
    serde_json::from_slice(json).ok()
}

#[cfg(test)]
mod tests {
    use std::{cell::RefCell, collections::HashMap};

    use super::*;

    /// An in-memory store that can be told to fail, to exercise degradation.
    #[derive(Default)]
    struct MemoryStore {
        entries: RefCell<HashMap<String, Vec<u8>>>,
        broken: bool,
    }

    impl KeyValue for MemoryStore {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
            if self.broken {
                return Err(KvError::Other("down".into()));
            }
            Ok(self.entries.borrow().get(key).cloned())
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
            if self.broken {
                return Err(KvError::Other("down".into()));
            }
            self.entries.borrow_mut().insert(key.into(), value.to_vec());
            Ok(())
        }
        fn delete(&self, key: &str) -> Result<(), KvError> {
            if self.broken {
                return Err(KvError::Other("down".into()));
            }
            self.entries.borrow_mut().remove(key);
            Ok(())
        }
    }

    fn load_ok(value: &str) -> impl FnOnce() -> Result<Option<String>, ()> + '_ {
        move || Ok(Some(value.to_owned()))
    }

    #[test]
    fn a_miss_loads_from_the_source_and_the_next_read_hits() {
        let store = MemoryStore::default();
        let cache = Cache::new(&store, "users", 1_000);
        assert_eq!(cache.get_or_load("1", 0, load_ok("ann")), Ok((Some("ann".into()), CacheOutcome::Miss)));
        let reloaded = cache.get_or_load("1", 10, || -> Result<Option<String>, ()> { panic!("must hit") });
        assert_eq!(reloaded, Ok((Some("ann".into()), CacheOutcome::Hit)));
        assert!(store.entries.borrow().contains_key("users:1"));
    }

    #[test]
    fn an_entry_expires_after_its_time_to_live() {
        let store = MemoryStore::default();
        let cache = Cache::new(&store, "users", 1_000);
        cache.put("1", &"old", 0).expect("put");
        assert_eq!(cache.get::<String>("1", 999), Ok(Some("old".into())));
        assert_eq!(cache.get::<String>("1", 1_000), Ok(None));
        assert_eq!(cache.get_or_load("1", 1_000, load_ok("new")), Ok((Some("new".into()), CacheOutcome::Miss)));
    }

    #[test]
    fn invalidation_forces_the_next_read_to_the_source() {
        let store = MemoryStore::default();
        let cache = Cache::new(&store, "users", 1_000);
        cache.put("1", &"old", 0).expect("put");
        cache.invalidate("1").expect("invalidate");
        assert_eq!(cache.get_or_load("1", 1, load_ok("new")), Ok((Some("new".into()), CacheOutcome::Miss)));
    }

    #[test]
    fn a_failing_store_degrades_to_the_source_of_truth() {
        let store = MemoryStore { broken: true, ..Default::default() };
        let cache = Cache::new(&store, "users", 1_000);
        let (value, outcome) = cache.get_or_load("1", 0, load_ok("ann")).expect("served");
        assert_eq!(value.as_deref(), Some("ann"));
        assert!(matches!(outcome, CacheOutcome::Bypassed(KvError::Other(_))));
    }

    #[test]
    fn absent_values_are_not_cached_and_source_errors_surface() {
        let store = MemoryStore::default();
        let cache = Cache::new(&store, "users", 1_000);
        let none = cache.get_or_load("1", 0, || Ok::<Option<String>, ()>(None));
        assert_eq!(none, Ok((None, CacheOutcome::Miss)));
        assert!(store.entries.borrow().is_empty());
        let failed = cache.get_or_load("1", 0, || Err::<Option<String>, _>("db down"));
        assert_eq!(failed, Err("db down"));
    }

    #[test]
    fn a_read_that_started_before_a_change_does_not_cache_what_it_loaded() {
        let store = MemoryStore::default();
        let cache = Cache::new(&store, "users", 1_000).with_fence("fence");
        // Changed at 50; a read that started at 40 loaded the old value.
        cache.put("1", &"old", 0).expect("put");
        cache.changed("1", 50).expect("changed");
        assert_eq!(cache.get_or_load("1", 40, load_ok("old")), Ok((Some("old".into()), CacheOutcome::Miss)));
        assert!(!store.entries.borrow().contains_key("users:1"), "the old value was not cached");
        // A read that started after the change caches.
        assert_eq!(cache.get_or_load("1", 60, load_ok("new")), Ok((Some("new".into()), CacheOutcome::Miss)));
        assert_eq!(cache.get::<String>("1", 61), Ok(Some("new".into())));
        // Another change fences and forgets again.
        cache.changed("1", 70).expect("changed again");
        assert_eq!(cache.get::<String>("1", 71), Ok(None));
        assert_eq!(store.entries.borrow().get("fence:1").map(Vec::as_slice), Some(b"70".as_slice()));
    }

    #[test]
    fn an_unreadable_fence_forbids_caching() {
        let store = MemoryStore::default();
        store.entries.borrow_mut().insert("fence:1".into(), b"not a time".to_vec());
        let cache = Cache::new(&store, "users", 1_000).with_fence("fence");
        assert_eq!(cache.get_or_load("1", 40, load_ok("ann")), Ok((Some("ann".into()), CacheOutcome::Miss)));
        assert!(!store.entries.borrow().contains_key("users:1"));
    }

    #[test]
    fn corrupt_or_truncated_entries_are_misses() {
        let store = MemoryStore::default();
        store.entries.borrow_mut().insert("users:1".into(), vec![1, 2, 3]);
        store.entries.borrow_mut().insert("users:2".into(), [u64::MAX.to_be_bytes().as_slice(), b"{nope"].concat());
        let cache = Cache::new(&store, "users", 1_000);
        assert_eq!(cache.get::<String>("1", 0), Ok(None));
        assert_eq!(cache.get::<String>("2", 0), Ok(None));
    }
}
