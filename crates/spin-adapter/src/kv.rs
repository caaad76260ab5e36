//! [`KeyValue`] over Spin's `key-value@2.0.0` interface.

use std::cell::{OnceCell, RefCell};

use spin_sdk::key_value::{Error, Store};
use troupe_store::{KeyValue, KvError};

/// A granted key-value store.
///
/// Once a call fails with an error from the store's backend (Redis away,
/// say), every later call on the handle fails at once with the same error,
/// for the rest of the request: Spin's Redis client has no timeout and
/// makes each call after a broken connection wait for its reconnection
/// attempts (about 12.6 s), so a request pays that wait once, not once per
/// call.
pub struct SpinKeyValue {
    store: Store,
    failed: RefCell<Option<String>>,
}

/// Open the key-value store `label` (listed in the component's
/// `key_value_stores`).
pub fn key_value(label: &str) -> Result<SpinKeyValue, KvError> {
    Store::open(label).map(|store| SpinKeyValue { store, failed: RefCell::new(None) }).map_err(kv_error)
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

impl SpinKeyValue {
    /// Runs `call` unless an earlier call failed in the backend; remembers
    /// such a failure.
    fn call<T>(&self, call: impl FnOnce(&Store) -> Result<T, Error>) -> Result<T, KvError> {
        if let Some(message) = self.failed.borrow().as_ref() {
            return Err(KvError::Other(message.clone()));
        }
        call(&self.store).map_err(|error| {
            if let Error::Other(message) = &error {
                *self.failed.borrow_mut() = Some(format!("{message} (failed earlier in this request)"));
            }
            kv_error(error)
        })
    }
}

impl KeyValue for SpinKeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.call(|store| store.get(key))
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.call(|store| store.set(key, value))
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.call(|store| store.delete(key))
    }
}
