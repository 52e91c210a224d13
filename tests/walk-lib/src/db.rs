//! A transaction over an in-memory store: what a database crate's dependencies look like,
//! with no database.
//!
//! [`store()`] is the app's one [`Store`]; [`tx()`] opens a [`Tx`] for one handler call and, in its
//! teardown, commits it if the request succeeded and rolls it back otherwise (an error, a
//! panic, a client gone, a timeout). Each ending is written to the store's
//! [`journal`](Store::journal), so an app's tests can see what its transactions saw.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use mydi::prelude::*;

/// A key-value store shared by the whole app (clones share it).
#[derive(Clone, Debug, Default)]
pub struct Store {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    rows: BTreeMap<String, String>,
    journal: Vec<Ending>,
}

/// How a transaction ended, as its teardown saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Committed: the request succeeded (its status).
    Committed(u16),
    /// Rolled back; the request's outcome, as `Outcome`'s `Display` writes it.
    RolledBack(String),
}

impl Store {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The committed value of `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        self.lock().rows.get(key).cloned()
    }

    /// How each transaction ended, in order.
    pub fn journal(&self) -> Vec<Ending> {
        self.lock().journal.clone()
    }
}

/// The app's store, set up once. Give a store of your own with `App::provide(store, ..)`.
#[depends(scope = "app", crate = "mydi")]
pub async fn store() -> Store {
    Store::default()
}

/// Writes not yet committed.
#[derive(Debug, Default)]
pub struct Tx {
    writes: Vec<(String, String)>,
}

impl Tx {
    /// Writes `value` at `key`, visible once the transaction commits.
    pub fn put(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.writes.push((key.into(), value.into()));
    }
}

/// A transaction for one handler call: committed before the response is sent if the handler
/// succeeded, rolled back otherwise.
#[depends(scope = "handler", crate = "mydi")]
pub async fn tx(#[dep(store)] store: &Store, y: Yield<Tx>) {
    let (tx, outcome) = y.provide(Tx::default()).await;
    let mut inner = store.lock();
    match outcome.status() {
        Some(status) if outcome.is_success() => {
            inner.rows.extend(tx.writes);
            inner.journal.push(Ending::Committed(status.as_u16()));
        }
        _ => inner.journal.push(Ending::RolledBack(outcome.to_string())),
    }
}
