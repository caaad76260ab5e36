//! A request's connections, opened on first use.

use std::cell::OnceCell;

use troupe_edge::Problem;
use troupe_store::Database;

use crate::{SpinDatabase, SpinKeyValue};

/// The database and the `default` key-value store of one request, each
/// opened the first time a handler needs it (a request served from the
/// cache never opens the database; one without a transaction never pays
/// its migration check).
#[derive(Default)]
pub struct Stores {
    db: OnceCell<SpinDatabase>,
}

impl Stores {
    /// The database, opened on first use (and migrated when it must be, see
    /// [`SpinDatabase`]).
    pub fn db(&self) -> Result<&dyn Database, Problem> {
        if let Some(db) = self.db.get() {
            return Ok(db);
        }
        let opened = crate::database()?;
        Ok(self.db.get_or_init(|| opened))
    }

    /// The key-value store `default`.
    pub fn kv(&self) -> Result<&SpinKeyValue, Problem> {
        Ok(crate::kv::default_store()?)
    }
}
