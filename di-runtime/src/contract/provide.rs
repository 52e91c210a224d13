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
/// A setup can be cut where it waits: when the client goes away (or the request times out,
/// or the shutdown's grace period ends) while the setup awaits, its future is dropped there.
/// No more of its code runs, and its teardown never does (its setup did not complete), so what
/// it had begun stays as it is: a `BEGIN` already sent leaves its connection inside a
/// transaction. (FastAPI raises the cancellation inside the generator, where its `async with`
/// blocks clean up; a `handler`-scope teardown is shielded, a setup is not.) The generators it
/// took values from see the request end with [`Outcome::Cancelled`]: mark such a value before
/// the `await` that may leave it unsure, clear the mark once it is sure, and have its own
/// teardown close rather than give back a value still marked (or any value, unless the
/// outcome is a success).
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
        {
            // Nothing borrows the value before it is provided; the lock is taken only for a
            // moment, by the runtime looking at the cell (on another thread when `provide` is
            // awaited in a task the generator spawned, where `#[depends]` cannot see it). Then
            // it waits for that moment rather than give up: it used to stay suspended for ever,
            // and the request's setup with it.
            let mut state = match self.cell.try_write() {
                Some(state) => state,
                None => self.cell.write(),
            };
            state.value = Some(value);
            state.provided = true;
            if let Some(waker) = state.waker.take() {
                // Woken once the lock is let go of, so that the runtime finds it free.
                drop(state);
                waker.wake();
            }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Wake, Waker};

    use super::*;

    /// Counts its wake-ups.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A `Yield`, its cell as the runtime keeps it, and the same cell typed, to lock it.
    fn a_yield() -> (Yield<u32>, Arc<dyn BorrowCell>, Arc<Cell<u32>>) {
        let (y, erased) = Yield::<u32>::new();
        let typed = erased
            .clone()
            .into_any()
            .downcast::<Cell<u32>>()
            .expect("a cell of u32");
        (y, erased, typed)
    }

    /// A `provide` that finds the cell's lock taken (by the runtime, on another thread, when
    /// `provide` runs in a task the generator spawned) waits for it and hands the value over.
    /// It used to stay suspended for ever, and the setup with it.
    #[test]
    fn a_provide_that_finds_the_lock_taken_hands_the_value_over_once_it_is_free() {
        let (y, erased, typed) = a_yield();
        let held = typed.write();
        let provider = std::thread::spawn(move || {
            let count = Arc::new(Count(AtomicUsize::new(0)));
            let waker = Waker::from(count);
            let mut cx = Context::from_waker(&waker);
            let mut provide = Box::pin(y.provide(7));
            let first = provide.as_mut().poll(&mut cx).is_pending();
            (first, provide)
        });
        // Long enough, as a rule, for the other thread to meet the lock taken; the assertions
        // below hold either way.
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(held);
        let (first, mut provide) = provider.join().expect("the providing thread");
        assert!(first, "suspended in `provide`");
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        assert!(erased.poll_provided(&waker), "handed over");

        erased
            .try_hand_back(Outcome::Success {
                status: http::StatusCode::OK,
            })
            .ok();
        let mut cx = Context::from_waker(&waker);
        match provide.as_mut().poll(&mut cx) {
            Poll::Ready((value, outcome)) => {
                assert_eq!(value, 7);
                assert!(outcome.is_success());
            }
            Poll::Pending => panic!("the value was given back"),
        }
    }

    /// The runtime's look at the cell, when `provide` holds its lock on another thread, asks
    /// to be polled again instead of waiting for a wake-up that `provide` may never send.
    #[test]
    fn a_look_that_finds_the_lock_taken_asks_to_be_polled_again() {
        let (_y, erased, typed) = a_yield();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let held = typed.write();
        assert!(!erased.poll_provided(&waker));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        drop(held);
    }
}
