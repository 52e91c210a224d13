//! Teardown: generators suspended in `provide` ([`Suspended`]) and the running of a stack of
//! them in reverse order, each with its value back, the outcome, and a deadline.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, CatchUnwind};
use tokio::sync::OwnedSemaphorePermit;

use crate::contract::background::BackgroundTasks;
use crate::contract::outcome::Outcome;
use crate::contract::request_id::RequestId;
use crate::contract::scope::Scope;
use crate::contract::slot::BorrowCell;
use crate::panic::{OneLine, Panic, drop_caught};
use crate::response::error::HttpError;
use crate::run::engine::{Engine, current_span, spans_on};
use crate::run::stats::TeardownFailure;

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
    /// What a run of one scope's teardowns left ([`StackRun::only`]): the others, in order.
    pub(crate) rest: Vec<Suspended>,
}

/// Tears down `stack` in reverse order. Each teardown gets its value back with the current
/// outcome; a failing one is logged, changes the outcome the next ones see, and never stops
/// them. Each has a deadline. Log lines carry `request_id` (`None` for `app` scope).
///
/// When `di`'s DEBUG level is on, each teardown runs in a `teardown` span whose parent is the
/// span current here (the request's), wherever the stack is polled later: the connection's
/// task after the body, or a background task.
pub(crate) fn run_stack(
    engine: Arc<Engine>,
    stack: Vec<Suspended>,
    outcome: Outcome,
    request_id: Option<&RequestId>,
) -> StackRun {
    // The parent is taken only when the spans are on: no span lookup otherwise.
    // Boxed, as each teardown's span: no larger futures when the spans are off.
    let parent = spans_on().then(|| Box::new(current_span()));
    StackRun {
        engine,
        request_id: request_id.cloned(),
        parent,
        stack,
        only: None,
        outcome,
        failure: None,
        current: None,
    }
}

/// The future of [`run_stack`]: a hand-written state machine rather than an `async fn`, so
/// that it is `Unpin` and can be polled where it is made (most teardowns finish at their first
/// poll) and moved into a background task, where it stands, only if one does not. No
/// allocation beyond the stack itself, and a timer only for a teardown that does not finish at
/// once.
pub(crate) struct StackRun {
    engine: Arc<Engine>,
    request_id: Option<RequestId>,
    /// The span of the request the stack belongs to, the parent of each teardown's span
    /// (`None` when the spans are off; a disabled span for `app` scope: no parent).
    parent: Option<Box<tracing::Span>>,
    /// What is left to tear down; the last one first.
    stack: Vec<Suspended>,
    /// Tear down only the generators of this scope, and leave the others in `stack` (a
    /// request keeps its two scopes' generators in one stack).
    only: Option<Scope>,
    outcome: Outcome,
    failure: Option<HttpError>,
    current: Option<Current>,
}

/// The teardown under way.
struct Current {
    name: &'static str,
    scope: Scope,
    future: GenFuture,
    /// Set while a borrower still holds the value: the hand-back has to wait for it.
    handing_back: Option<BoxFuture<'static, ()>>,
    place: Option<OwnedSemaphorePermit>,
    /// Armed after the first poll that does not finish.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Set only when the span or the log line that reports the time is enabled: the clock is
    /// not free. Boxed: no larger teardown when they are off.
    traced: Option<Box<Traced>>,
}

/// When a teardown started, and its span (disabled when only the log line is on).
struct Traced {
    started: Instant,
    /// Entered at every poll of the teardown.
    span: tracing::Span,
}

impl Traced {
    /// The clock now, and the teardown's span (a child of `parent`) when the spans are on.
    #[cold]
    #[inline(never)]
    fn start(
        parent: Option<&tracing::Span>,
        name: &'static str,
        scope: Scope,
        outcome: &Outcome,
    ) -> Box<Self> {
        let span = parent.map(|parent| {
            tracing::debug_span!(
                target: "di",
                parent: parent,
                "teardown",
                dependency = name,
                %scope,
                %outcome,
                result = tracing::field::Empty,
                duration_ms = tracing::field::Empty,
            )
        });
        Box::new(Self {
            started: Instant::now(),
            span: span.unwrap_or_else(tracing::Span::none),
        })
    }
}

/// How one teardown ended.
enum Ended {
    Done(Result<Result<(), HttpError>, Box<dyn std::any::Any + Send>>),
    TimedOut,
}

impl Current {
    fn start(suspended: Suspended, outcome: &Outcome, parent: Option<&tracing::Span>) -> Self {
        let Suspended {
            name,
            scope,
            cell,
            future,
            place,
        } = suspended;
        let traced = (parent.is_some() || tracing::enabled!(target: "di", tracing::Level::DEBUG))
            .then(|| Traced::start(parent, name, scope, outcome));
        // The value goes back once every borrower has let go (a body holding it is done).
        let handing_back = match cell.try_hand_back(outcome.clone()) {
            Ok(()) => None,
            Err(seen) => Some(cell.hand_back_later(seen)),
        };
        Self {
            name,
            scope,
            future,
            handing_back,
            place,
            deadline: None,
            traced,
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>, limit: Duration) -> Poll<Ended> {
        // Out of `self` while entered, so that polling can borrow `self` whole.
        let Some(traced) = self.traced.take() else {
            return self.poll_here(cx, limit);
        };
        let polled = traced.span.in_scope(|| self.poll_here(cx, limit));
        self.traced = Some(traced);
        polled
    }

    fn poll_here(&mut self, cx: &mut Context<'_>, limit: Duration) -> Poll<Ended> {
        let handed_back = match self.handing_back.as_mut() {
            Some(handing_back) => handing_back.as_mut().poll(cx).is_ready(),
            None => true,
        };
        if handed_back {
            self.handing_back = None;
            if let Poll::Ready(done) = Pin::new(&mut self.future).poll(cx) {
                return Poll::Ready(Ended::Done(done));
            }
        }
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        deadline.as_mut().poll(cx).map(|()| Ended::TimedOut)
    }
}

impl StackRun {
    /// The engine it runs on.
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The request it tears down (`None` for `app` scope).
    pub(crate) fn request_id(&self) -> Option<&RequestId> {
        self.request_id.as_ref()
    }

    /// Tears down only the generators of `scope` (the last one first), and leaves the others,
    /// in order, for [`StackReport::rest`].
    pub(crate) fn only(mut self, scope: Scope) -> Self {
        self.only = Some(scope);
        self
    }

    /// The next generator to tear down.
    fn next(&mut self) -> Option<Suspended> {
        match self.only {
            None => self.stack.pop(),
            Some(scope) => {
                let at = self.stack.iter().rposition(|next| next.scope == scope)?;
                Some(self.stack.remove(at))
            }
        }
    }
}

impl StackRun {
    /// Counts how `current` ended, and logs it and carries a failure into the outcome the
    /// next ones see (out of line: the usual teardown, untraced and ending well, needs only
    /// the count, and the request path stays short).
    fn ended(&mut self, current: Current, ended: Ended) {
        if current.scope != Scope::App {
            self.engine.stats.record_teardown(&self.outcome);
        }
        if current.traced.is_none() && matches!(ended, Ended::Done(Ok(Ok(())))) {
            // Untraced: the DEBUG line was off when the teardown started (see `Current::start`).
            return;
        }
        self.ended_slowly(current, ended);
    }

    #[cold]
    #[inline(never)]
    fn ended_slowly(&mut self, current: Current, ended: Ended) {
        let Current {
            name,
            scope,
            future,
            place,
            traced,
            ..
        } = current;
        drop(place);
        // A teardown cut at its deadline is dropped where it stood: its locals' `Drop` may
        // panic (a blocking client dropped inside the runtime), which must not unwind through
        // the rest of the stack's run.
        let dropped = drop_caught(future);
        let (elapsed_ms, span) = match traced {
            Some(traced) => (ms(traced.started.elapsed()), traced.span),
            None => (0.0, tracing::Span::none()),
        };
        let _entered = span.enter();
        // What it was given: the outcome changes only after a teardown has ended.
        let outcome = &self.outcome;
        let limit = self.engine.config.teardown_timeout;
        let request_id = self.request_id.as_ref().map(tracing::field::display);
        span.record("duration_ms", elapsed_ms);
        let error = match ended {
            Ended::Done(Ok(Ok(()))) => {
                span.record("result", "ok");
                tracing::debug!(target: "di", request_id, dependency = name, %scope, %outcome, elapsed_ms, "teardown");
                None
            }
            Ended::Done(Ok(Err(error))) => {
                span.record("result", "failed");
                tracing::error!(target: "di", request_id, dependency = name, %scope, %outcome, error = %OneLine(&error), "teardown failed");
                let error = failure_status(error, self.request_id.as_ref(), name, scope);
                Some((error, TeardownFailure::Error))
            }
            Ended::Done(Err(payload)) => {
                let panic = Panic::from_payload(&*payload);
                let _ = drop_caught(payload);
                span.record("result", "panicked");
                tracing::error!(target: "di", request_id, dependency = name, %scope, %outcome, %panic, "teardown panicked");
                Some((HttpError::internal(), TeardownFailure::Panic))
            }
            Ended::TimedOut => {
                span.record("result", "timed out");
                tracing::error!(target: "di", request_id, dependency = name, %scope, %outcome, timeout_ms = ms(limit), "teardown timed out");
                Some((HttpError::internal(), TeardownFailure::Timeout))
            }
        };
        if let Err(panic) = dropped {
            let request_id = self.request_id.as_ref().map(tracing::field::display);
            tracing::error!(target: "di", request_id, dependency = name, %scope, %panic, "a teardown cut at its deadline panicked as it was dropped");
        }
        if let Some((error, failure)) = error {
            self.engine.stats.record_teardown_failure(failure);
            // The request's first teardown failure is what every later teardown is told, and
            // (in `handler` scope) the response: a later one is logged and counted, and
            // changes neither, so that no teardown hears of another failure than the client
            // got.
            if !matches!(self.outcome, Outcome::TeardownFailed { .. }) {
                self.outcome = Outcome::TeardownFailed {
                    dependency: name,
                    error: error.clone(),
                };
            }
            self.failure.get_or_insert(error);
        }
    }
}

impl Future for StackRun {
    type Output = StackReport;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<StackReport> {
        loop {
            if let Some(report) = std::task::ready!(self.drive(cx, None)) {
                return Poll::Ready(report);
            }
        }
    }
}

impl StackRun {
    /// Runs the teardowns, as the future does; with `pause`, stops after a teardown that left
    /// tasks in that list (`Ready(None)`): the caller runs them before the next teardown, and
    /// calls again.
    pub(crate) fn drive(
        &mut self,
        cx: &mut Context<'_>,
        pause: Option<&BackgroundTasks>,
    ) -> Poll<Option<StackReport>> {
        let this = self;
        let limit = this.engine.config.teardown_timeout;
        loop {
            let current = match this.current.as_mut() {
                Some(current) => current,
                None => match this.next() {
                    Some(next) => {
                        let next = Current::start(next, &this.outcome, this.parent.as_deref());
                        this.current.insert(next)
                    }
                    None => {
                        return Poll::Ready(Some(StackReport {
                            outcome: std::mem::replace(&mut this.outcome, Outcome::Panicked),
                            failure: this.failure.take(),
                            rest: std::mem::take(&mut this.stack),
                        }));
                    }
                },
            };
            let ended = match current.poll(cx, limit) {
                Poll::Ready(ended) => ended,
                // Finished where the runtime dropped it, and stalled: given up as timed out,
                // and the stack goes on.
                Poll::Pending if crate::run::engine::abandon_requested() => Ended::TimedOut,
                Poll::Pending => return Poll::Pending,
            };
            if let Some(current) = this.current.take() {
                this.ended(current, ended);
                if pause.is_some_and(|list| !list.is_empty()) {
                    return Poll::Ready(None);
                }
            }
        }
    }
}

/// A teardown's `error` as the failure it counts as: itself, unless its status is a success
/// (an error type that answers 2xx, as `String` answers 200); then a generic 500 whose source
/// is its text, warned of. A failed commit is never answered as a success (the client of a
/// `handler`-scope teardown gets this error; a redirect, sending the client to try again, is
/// kept), and every later teardown is told the failure the client got.
fn failure_status(
    error: HttpError,
    request_id: Option<&RequestId>,
    name: &'static str,
    scope: Scope,
) -> HttpError {
    let status = error.status();
    if !status.is_success() {
        return error;
    }
    let request_id = request_id.map(tracing::field::display);
    tracing::warn!(
        target: "di",
        request_id,
        dependency = name,
        %scope,
        status = status.as_u16(),
        "a teardown returned Err, and its error type answers with a success status: it counts as a 500 (for a `handler`-scope teardown, the answer the client gets), so that a failed commit is never answered as a success; return an error type with an error status, such as HttpError"
    );
    HttpError::internal_from(FailedTeardown(error.to_string()))
}

/// The text of a teardown's error that answered with a success status, kept as the source of
/// the 500 it counts as (see [`failure_status`]): logs and later teardowns can read
/// it; the client sees the generic detail only.
#[derive(Debug)]
struct FailedTeardown(String);

impl std::fmt::Display for FailedTeardown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FailedTeardown {}

/// Milliseconds with microsecond precision, for logs.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}
