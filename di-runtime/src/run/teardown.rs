//! Teardown: generators suspended in `provide` ([`Suspended`]) and the running of a stack of
//! them in reverse order, each with its value back, the outcome, and a deadline.

use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::task::Poll;
use std::time::{Duration, Instant};

use std::sync::Arc;

use futures_util::future::{BoxFuture, CatchUnwind};
use tokio::sync::OwnedSemaphorePermit;

use crate::contract::outcome::Outcome;
use crate::contract::scope::Scope;
use crate::contract::slot::BorrowCell;
use crate::panic::Panic;
use crate::response::error::HttpError;
use crate::run::engine::Engine;

/// A generator's future, caught so that a panic in its teardown is an outcome.
pub(crate) type GenFuture =
    CatchUnwind<AssertUnwindSafe<BoxFuture<'static, Result<(), HttpError>>>>;

/// A generator suspended in `provide`, waiting for its teardown.
pub(crate) struct Suspended {
    pub(crate) name: &'static str,
    pub(crate) scope: Scope,
    /// Where its value lives, and how the value goes back to it.
    pub(crate) cell: Arc<dyn BorrowCell>,
    pub(crate) future: GenFuture,
    /// A `max_concurrency` place, given back once the teardown has finished.
    pub(crate) place: Option<OwnedSemaphorePermit>,
}

/// What running a stack of teardowns did.
pub(crate) struct StackReport {
    /// The outcome after the stack: a failed teardown turns it into `TeardownFailed`.
    pub(crate) outcome: Outcome,
    /// The first teardown error, which replaces a `handler`-scope response.
    pub(crate) failure: Option<HttpError>,
}

/// Tears down `stack` in reverse order. Each teardown gets its value back with the current
/// outcome; a failing one is logged, changes the outcome the next ones see, and never stops
/// them. Each has a deadline.
pub(crate) async fn run_stack(
    engine: &Engine,
    stack: Vec<Suspended>,
    mut outcome: Outcome,
) -> StackReport {
    let mut failure = None;
    for suspended in stack.into_iter().rev() {
        let Suspended {
            name,
            scope,
            cell,
            future,
            place,
            ..
        } = suspended;
        // Timed only when a log line reports it: the clock is not free.
        let started = tracing::enabled!(target: "di", tracing::Level::DEBUG).then(Instant::now);
        let seen = outcome.clone();
        let run = async move {
            // The value goes back once every borrower has let go (a body holding it is done).
            if let Err(seen) = cell.try_hand_back(seen) {
                cell.hand_back_later(seen).await;
            }
            future.await
        };
        let result = with_deadline(engine.config.teardown_timeout, run).await;
        drop(place);
        let elapsed_ms = started.map_or(0.0, |started| ms(started.elapsed()));
        let error = match result {
            Ok(Ok(Ok(()))) => {
                tracing::debug!(target: "di", dependency = name, %scope, %outcome, elapsed_ms, "teardown");
                None
            }
            Ok(Ok(Err(error))) => {
                tracing::error!(target: "di", dependency = name, %scope, %outcome, %error, "teardown failed");
                Some(error)
            }
            Ok(Err(payload)) => {
                let panic = Panic::from_payload(&*payload);
                tracing::error!(target: "di", dependency = name, %scope, %outcome, %panic, "teardown panicked");
                Some(HttpError::internal())
            }
            Err(_) => {
                tracing::error!(target: "di", dependency = name, %scope, %outcome, timeout_ms = ms(engine.config.teardown_timeout), "teardown timed out");
                Some(HttpError::internal())
            }
        };
        if let Some(error) = error {
            engine.stats.record_teardown_failure();
            outcome = Outcome::TeardownFailed {
                dependency: name,
                error: error.clone(),
            };
            failure.get_or_insert(error);
        }
    }
    StackReport { outcome, failure }
}

/// Runs `future` with a deadline. Most teardowns finish at their first poll (the value is
/// dropped, a flag set); those need no timer, so the timer is armed only when the first poll
/// is not enough.
async fn with_deadline<F: Future>(
    limit: Duration,
    future: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let mut future = std::pin::pin!(future);
    let first = poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
    match first {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => tokio::time::timeout(limit, future).await,
    }
}

/// Milliseconds with microsecond precision, for logs.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}
