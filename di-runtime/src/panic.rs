//! Catching panics of user code (setup, handlers, bodies, teardowns, background tasks) so that
//! a panic becomes a logged outcome, never a lost connection. A leaf: it uses nothing else of
//! the crate.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

/// A caught panic. Its message is for logs only; it never reaches a client.
#[derive(Debug)]
pub(crate) struct Panic(String);

impl Panic {
    pub(crate) fn from_payload(payload: &(dyn Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_owned()
        };
        Self(message)
    }
}

impl fmt::Display for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Runs `future`, turning a panic into [`Panic`].
pub(crate) async fn catch<F: Future>(future: F) -> Result<F::Output, Panic> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|payload| Panic::from_payload(&*payload))
}

/// Calls `f`, turning a panic into [`Panic`].
pub(crate) fn catch_call<R>(f: impl FnOnce() -> R) -> Result<R, Panic> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| Panic::from_payload(&*payload))
}
