//! The `Yield` handshake between a generator-like dependency and the runtime.

use std::fmt;
use std::sync::Arc;
use std::task::Poll;

use parking_lot::RwLock;

use crate::contract::outcome::Outcome;
use crate::contract::slot::{BorrowCell, Cell, Value};

/// The handle a generator-like dependency uses to hand its value to the request.
///
/// A `#[depends]` function that takes a `Yield<T>` parameter provides a `T`: the code before
/// [`provide`](Yield::provide) is its setup, the code after it is its teardown. `provide`
/// suspends the function while the handler (and, for `request` scope, the response body) uses
/// the value, then gives the value back together with the request's [`Outcome`].
///
/// ```
/// use di_runtime::prelude::*;
///
/// struct Tx;
/// impl Tx {
///     async fn commit(self) {}
///     async fn rollback(self) {}
/// }
///
/// #[depends(scope = "handler")]
/// async fn tx(y: Yield<Tx>) {
///     let (tx, outcome) = y.provide(Tx).await;
///     if outcome.is_success() { tx.commit().await } else { tx.rollback().await }
/// }
/// ```
#[must_use = "a generator dependency must call `provide`"]
pub struct Yield<T> {
    cell: Arc<Cell<T>>,
}

impl<T: Send + Sync + 'static> Yield<T> {
    /// A handle on a new, empty cell; the runtime keeps the cell as the dependency's value.
    pub(crate) fn new() -> (Self, Arc<dyn BorrowCell>) {
        let cell = Arc::new(RwLock::new(Value::empty()));
        let erased: Arc<dyn BorrowCell> = cell.clone();
        (Self { cell }, erased)
    }
}

// `provide` asks nothing of `T`: only `new` above makes a `Yield`, for a `T` that is
// `Send + Sync + 'static`. A generator whose `T` is not (`Yield<Rc<T>>`) is reported once, at
// its `Yield<T>`, not again at each `provide` in its body ("the method `provide` exists but its
// trait bounds were not satisfied").
impl<T> Yield<T> {
    /// Hands `value` to the request and waits until its scope ends; then returns the value and
    /// how the request ended.
    ///
    /// Await it in the generator itself: the runtime resumes the generator's own future after
    /// its scope ends. A call that is never awaited (`y.provide(v);`, `let _ = y.provide(v);`)
    /// does not compile: it would only make a future, and never hand the value over.
    pub async fn provide(self, value: T) -> (T, Outcome) {
        match self.cell.try_write() {
            Some(mut state) => {
                state.value = Some(value);
                state.provided = true;
                if let Some(waker) = state.waker.take() {
                    waker.wake();
                }
            }
            // Nothing can borrow the value before it is provided; if the cell is locked anyway,
            // there is nobody to hand the value to: stay suspended until dropped.
            None => return std::future::pending().await,
        }
        // The runtime gives the value back (and the outcome) through the cell, then polls this
        // future again. Not before: the first poll, in the same poll of the generator as the
        // hand-over above, finds nothing given back (the runtime gives it back only once it has
        // seen the value provided, after that poll), so it does not take the lock to look.
        let mut handed_over = true;
        std::future::poll_fn(|_| {
            if std::mem::take(&mut handed_over) {
                return Poll::Pending;
            }
            self.take_back()
        })
        .await
    }

    /// The value and the outcome, once the runtime has given them back.
    fn take_back(&self) -> Poll<(T, Outcome)> {
        match self.cell.try_write() {
            Some(mut state) => match state.back.take() {
                Some(outcome) => match state.value.take() {
                    Some(value) => Poll::Ready((value, outcome)),
                    None => Poll::Pending,
                },
                None => Poll::Pending,
            },
            None => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for Yield<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Yield")
            .field("value", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}
