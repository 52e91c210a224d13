//! Counters of a running app.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a running app, read through `Running` and the server.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    teardown_failures: AtomicU64,
    background_failures: AtomicU64,
    shed: AtomicU64,
}

impl Stats {
    pub(crate) fn record_teardown_failure(&self) {
        self.teardown_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_background_failures(&self, failed: u64) {
        self.background_failures
            .fetch_add(failed, Ordering::Relaxed);
    }

    pub(crate) fn record_shed(&self) {
        self.shed.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests shed past the in-flight limit so far.
    pub(crate) fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Teardowns that failed, timed out or panicked so far.
    pub(crate) fn teardown_failures(&self) -> u64 {
        self.teardown_failures.load(Ordering::Relaxed)
    }

    /// Background tasks that panicked or ran past their deadline so far.
    pub(crate) fn background_failures(&self) -> u64 {
        self.background_failures.load(Ordering::Relaxed)
    }
}
