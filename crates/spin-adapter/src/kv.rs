//! [`KeyValue`] over Spin's `key-value@2.0.0` interface.

use std::cell::OnceCell;

use spin_sdk::key_value::{Error, Store};
use troupe_store::{KeyValue, KvError};

/// A granted key-value store.
pub struct SpinKeyValue(Store);

/// Open the key-value store `label` (listed in the component's
/// `key_value_stores`).
pub fn key_value(label: &str) -> Result<SpinKeyValue, KvError> {
    Store::open(label).map(SpinKeyValue).map_err(kv_error)
}

thread_local! {
    /// This instance's handle on the `default` store. Spin instantiates a
    /// component afresh for every request, so it lives one request, and the
    /// edge (rate limits) and the handlers share one `open`.
    static DEFAULT: OnceCell<&'static SpinKeyValue> = const { OnceCell::new() };
}

/// The `default` store, opened once per instance.
pub fn default_store() -> Result<&'static SpinKeyValue, KvError> {
    DEFAULT.with(|cell| {
        if let Some(store) = cell.get() {
            return Ok(*store);
        }
        // Leaked on purpose: the handle must outlive every borrower, and the
        // instance (with its memory) is discarded after the request.
        let store: &'static SpinKeyValue = Box::leak(Box::new(key_value("default")?));
        Ok(*cell.get_or_init(|| store))
    })
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
