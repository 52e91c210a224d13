//! A scarce resource: at most [`MAX_REPORTS`] report slots are held at once in the app.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mydi::prelude::*;

/// How many [`report_slot()`]s the app holds at once.
pub const MAX_REPORTS: usize = 2;

/// A place to build a report in, held until the response has been sent.
#[derive(Debug)]
pub struct ReportSlot {
    /// How many slots were held, this one included, when it was taken.
    pub held: usize,
}

/// Counts the slots held now (an `app` singleton).
#[derive(Clone, Debug, Default)]
pub struct SlotCounter(Arc<AtomicUsize>);

impl SlotCounter {
    /// The slots held now.
    pub fn held(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// The app's counter of held slots.
#[depends(scope = "app", crate = "mydi")]
pub async fn slot_counter() -> SlotCounter {
    SlotCounter::default()
}

/// A report slot; a request past [`MAX_REPORTS`] waits for one (503 past the app's
/// `max_concurrency_wait`).
#[depends(max_concurrency = 2, crate = "mydi")]
pub async fn report_slot(#[dep(slot_counter)] counter: &SlotCounter, y: Yield<ReportSlot>) {
    let held = counter.0.fetch_add(1, Ordering::SeqCst) + 1;
    let _ = y.provide(ReportSlot { held }).await;
    counter.0.fetch_sub(1, Ordering::SeqCst);
}
