//! The `Yield` handshake between a generator-like dependency and the runtime.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;

use tokio::sync::oneshot;

use crate::contract::outcome::Outcome;

pub(crate) type AnyValue = Box<dyn Any + Send>;

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
    provided: oneshot::Sender<AnyValue>,
    back: oneshot::Receiver<(AnyValue, Outcome)>,
    _value: PhantomData<fn(T) -> T>,
}

impl<T: Send + 'static> Yield<T> {
    /// Hands `value` to the request and waits until its scope ends; then returns the value and
    /// how the request ended.
    pub async fn provide(self, value: T) -> (T, Outcome) {
        if self.provided.send(Box::new(value)).is_err() {
            // The runtime never drops the receiving end while it drives this future; if it is
            // gone there is nobody to give the value back to, so stay suspended until dropped.
            return std::future::pending().await;
        }
        match self.back.await {
            Ok((value, outcome)) => match value.downcast::<T>() {
                Ok(value) => (*value, outcome),
                Err(_) => std::future::pending().await,
            },
            Err(_) => std::future::pending().await,
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

/// The runtime's end of a [`Yield`].
pub(crate) struct YieldHandle {
    pub(crate) provided: oneshot::Receiver<AnyValue>,
    pub(crate) back: oneshot::Sender<(AnyValue, Outcome)>,
}

pub(crate) fn yield_pair<T>() -> (Yield<T>, YieldHandle) {
    let (provided_tx, provided_rx) = oneshot::channel();
    let (back_tx, back_rx) = oneshot::channel();
    (
        Yield {
            provided: provided_tx,
            back: back_rx,
            _value: PhantomData,
        },
        YieldHandle {
            provided: provided_rx,
            back: back_tx,
        },
    )
}
