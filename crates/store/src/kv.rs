//! The key-value port.

/// Why a key-value operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The component may not use this store (not listed in `key_value_stores`).
    #[error("access to the key-value store was denied")]
    AccessDenied,
    /// The host knows no store by that label.
    #[error("no such key-value store")]
    NoSuchStore,
    /// Any other failure (I/O, a remote store unreachable).
    #[error("key-value store failed: {0}")]
    Other(String),
}

/// A key-value store, as Spin's `key-value@2.0.0` interface offers it: plain
/// bytes under string keys, no expiry, last write wins.
pub trait KeyValue {
    /// The value under `key`, or `None`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Store `value` under `key`, replacing what was there.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    /// Remove `key`; removing an absent key succeeds.
    fn delete(&self, key: &str) -> Result<(), KvError>;
}

impl<K: KeyValue + ?Sized> KeyValue for &K {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        (**self).get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        (**self).set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        (**self).delete(key)
    }
}
