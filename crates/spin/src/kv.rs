//! [`KeyValue`] over Spin's `key-value@2.0.0` interface.

use spin_sdk::key_value::{Error, Store};
use troupe_store::{KeyValue, KvError};

/// A granted key-value store.
pub struct SpinKeyValue(Store);

/// Open the key-value store `label` (listed in the component's
/// `key_value_stores`).
pub fn key_value(label: &str) -> Result<SpinKeyValue, KvError> {
    Store::open(label).map(SpinKeyValue).map_err(kv_error)
}

fn kv_error(error: Error) -> KvError {
    match error {
        Error::AccessDenied => KvError::AccessDenied,
        Error::NoSuchStore => KvError::NoSuchStore,
        Error::StoreTableFull => KvError::Other("too many stores open".into()),
        Error::Other(message) => KvError::Other(message),
    }
}

impl KeyValue for SpinKeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.0.get(key).map_err(kv_error)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.0.set(key, value).map_err(kv_error)
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.0.delete(key).map_err(kv_error)
    }
}
