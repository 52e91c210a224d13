//! Setup: handing a function its arguments, and running it to its value (a plain function)
//! or up to its `provide` (a generator).

use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::FutureExt;

use crate::contract::meta::{Answer, Args, StartedKind};
use crate::contract::outcome::Outcome;
use crate::contract::request::RequestHead;
use crate::contract::request_id::RequestId;
use crate::contract::slot::{AppSlots, BorrowCell, Slot};
use crate::panic::{Panic, catch_call};
use crate::plan::node::Node;
use crate::response::body::Response;
use crate::response::error::HttpError;
use crate::response::into::{IntoResponse, internal_error_response};
use crate::run::engine::spans_on;
use crate::run::teardown::{Suspended, ms};

/// A completed setup.
pub(crate) enum SetupDone {
    /// A plain function's value.
    Value(Slot),
    /// A generator waiting for its teardown; its value is in its cell.
    Provided(Suspended),
}

/// How a request ended before its handler produced a response: what teardowns see, and what
/// the client gets.
pub(crate) type Failure = (Outcome, Response);

/// How a setup that did not reach its value ended: `SetupFailed` or `Panicked`. Only the
/// outcome, not the response it becomes (see [`failure`]), so that every setup's result, moved
/// up through its futures, stays small.
pub(crate) type SetupError = Outcome;

/// The failure a setup's `outcome` is: a `SetupFailed`'s error becomes the response, anything
/// else a generic 500.
pub(crate) fn failure(outcome: Outcome) -> Failure {
    let response = match &outcome {
        Outcome::SetupFailed { error, .. } => error.clone().into_response(),
        _ => internal_error_response(),
    };
    (outcome, response)
}

/// A panic somewhere before the handler returned: a logged generic 500.
pub(crate) fn panicked() -> Failure {
    (Outcome::Panicked, internal_error_response())
}

/// A broken internal invariant: logged (with the request's id, when there is a request), a
/// generic 500 for the client.
pub(crate) fn internal(message: String, request_id: Option<&RequestId>) -> HttpError {
    let request_id = request_id.map(tracing::field::display);
    tracing::error!(target: "di", request_id, "{message}");
    // Kept as the source, for teardowns and for a failed start's error, which has no log to
    // point at; the client sees the generic detail only.
    HttpError::internal_from(Broken(message))
}

/// What [`internal`] reports, as an error.
#[derive(Debug)]
struct Broken(String);

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Broken {}

/// The error of a function whose body the macro read as unable to wait (no `.await`, no macro
/// but those of `std`, `core`, `alloc`, `tracing` and `log`) that waited anyway: a macro of
/// the same name as one of those awaited. It was run up to that wait and dropped there.
pub(crate) fn waited(name: &str, request_id: Option<&RequestId>) -> HttpError {
    internal(
        format!(
            "`{name}` waited inside a macro that `#[depends]` took for one that cannot wait (a macro named as one of `std`'s or `tracing`'s); it was dropped at that wait. Write the `.await` in the function's own body, or call the macro by a path of its own crate"
        ),
        request_id,
    )
}

/// Hands `node` its arguments and starts its function (up to its first `.await`, which the
/// caller drives); a broken invariant is a logged generic 500 (`SetupFailed`), and a panic
/// while the arguments are handed over (a `Clone` of a value taken by value) is `Panicked`,
/// logged.
///
/// `values` are the request's slots: its plan's `plan_slots` values, then its extracted
/// inputs. `at_once`: a function that cannot wait runs here, to its end (not when its setup is
/// traced: the setup's span times it).
pub(crate) fn start_function(
    node: &Node,
    values: &mut [Slot],
    plan_slots: usize,
    app: &AppSlots,
    head: &Arc<RequestHead>,
    at_once: bool,
    answer: Option<Answer<'_>>,
) -> Result<(StartedKind, Option<Arc<dyn BorrowCell>>), Outcome> {
    let (slots, inputs) = values.split_at_mut(plan_slots.min(values.len()));
    let mut args = Args {
        name: node.meta.name,
        sources: &node.args,
        slots,
        app,
        inputs,
        head,
        yield_cell: None,
        at_once,
        answer,
        panicked: None,
    };
    match (node.meta.run)(&mut args) {
        Ok(started) => Ok((started.0, args.yield_cell.take())),
        Err(_) if let Some(panic) = args.panicked.take() => {
            let request_id = tracing::field::display(&head.request_id);
            tracing::error!(target: "di", %request_id, dependency = node.meta.name, %panic, "handing the function its arguments panicked");
            Err(Outcome::Panicked)
        }
        Err(error) => Err(Outcome::SetupFailed {
            dependency: node.meta.name,
            error: internal(
                format!("could not start `{}`: {error}", node.meta.name),
                Some(&head.request_id),
            ),
        }),
    }
}

/// Runs a started function to its value, or a generator up to its `provide`; logs the setup
/// (with the request's id; `None` for `app` scope).
///
/// When `di`'s DEBUG level is on, the setup runs in a `setup` span (a child of the current
/// one: the request's), with the dependency's name and scope, and, once it has ended, its
/// outcome and duration. When it is off (the usual case), no span is made, and the traced
/// future is never made: it is boxed, so that it does not make every request's future larger.
pub(crate) async fn run_setup(
    node: &Node,
    starting: Starting,
    request_id: Option<&RequestId>,
) -> Result<SetupDone, SetupError> {
    if spans_on() {
        return Box::pin(traced_setup(node, starting, request_id)).await;
    }
    // Timed only when the log line that reports it is enabled: the clock is not free.
    let started_at = tracing::enabled!(target: "di", tracing::Level::DEBUG).then(Instant::now);
    let result = setup(node, starting, request_id).await;
    if let Some(started_at) = started_at {
        log_setup(node, &result, ms(started_at.elapsed()), request_id);
    }
    result
}

/// Whether a setup is reported (its DEBUG span or log line is on): then it runs through
/// [`run_setup`], which times it; otherwise a request polls its [`Starting`] to its end
/// itself.
pub(crate) fn setups_traced() -> bool {
    spans_on() || tracing::enabled!(target: "di", tracing::Level::DEBUG)
}

/// A started function on its way to its value (a plain function) or to its `provide` (a
/// generator), with the generator's cell. [`Starting::poll`] is the whole of a setup:
/// [`run_setup`] drives it to its end, and a request may poll it once first, where almost
/// every setup ends, without the futures `run_setup` puts around it (when setups are not
/// reported: see [`setups_traced`]).
pub(crate) struct Starting {
    /// `None` once the setup has ended.
    started: Option<StartedKind>,
    cell: Option<Arc<dyn BorrowCell>>,
}

/// A setup dropped before it ended (its request cut where it waited: the client gone, a tower
/// layer's timeout, the start of the app stopped) drops the user's future inside a catch, as
/// a handler's future ([`catch`](crate::panic::catch)) and one cut at the request timeout
/// are: a local whose `Drop` panics (a blocking client dropped inside the runtime) must not
/// unwind into whoever dropped the request (hyper's connection task, a layer, which then
/// answered a generic 500 and had the teardowns told a panic instead of its timeout).
impl Drop for Starting {
    fn drop(&mut self) {
        if let Some(started) = self.started.take() {
            crate::panic::log_dropped(catch_call(|| drop(started)), "a setup cut before its end");
        }
    }
}

impl Starting {
    pub(crate) fn new(started: StartedKind, cell: Option<Arc<dyn BorrowCell>>) -> Self {
        Self {
            started: Some(started),
            cell,
        }
    }

    /// Polls the function once (catching a panic): ready with its value, its generator
    /// suspended in `provide`, or how it failed. Logs a panic (with `request_id`; `None` for
    /// `app` scope).
    pub(crate) fn poll(
        &mut self,
        node: &Node,
        request_id: Option<&RequestId>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<SetupDone, SetupError>> {
        let name = node.meta.name;
        let failed = |error| Outcome::SetupFailed {
            dependency: name,
            error,
        };
        let panicked = |panic: Panic| {
            let request_id = request_id.map(tracing::field::display);
            tracing::error!(target: "di", request_id, dependency = name, %panic, "setup panicked");
            Outcome::Panicked
        };
        let done = match self.started.as_mut() {
            None => {
                let error = internal(format!("`{name}` was set up twice"), request_id);
                Err(failed(error))
            }
            Some(StartedKind::Plain(future)) => match catch_call(|| future.as_mut().poll(cx)) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(Some(Ok(value)))) => Ok(SetupDone::Value(value)),
                Ok(Poll::Ready(Some(Err(error)))) => Err(failed(error)),
                Ok(Poll::Ready(None)) => Err(failed(waited(name, request_id))),
                Err(panic) => Err(panicked(panic)),
            },
            // Only a handler's value is made a response, and a handler is no setup.
            Some(StartedKind::Answered | StartedKind::Responding(_)) => {
                self.started = None;
                let error = internal(format!("`{name}` was set up as a handler"), request_id);
                Err(failed(error))
            }
            // Ran to its end where it was started.
            Some(StartedKind::Ended(_) | StartedKind::Waited) => match self.started.take() {
                Some(StartedKind::Ended(Ok(Ok(value)))) => Ok(SetupDone::Value(value)),
                Some(StartedKind::Ended(Ok(Err(error)))) => Err(failed(error)),
                Some(StartedKind::Ended(Err(panic))) => Err(panicked(panic)),
                _ => Err(failed(waited(name, request_id))),
            },
            Some(StartedKind::Generator(future)) => {
                let Some(cell) = &self.cell else {
                    let error = internal(format!("`{name}` has no `Yield` handle"), request_id);
                    self.started = None;
                    return Poll::Ready(Err(failed(error)));
                };
                match catch_call(|| future.as_mut().poll(cx)) {
                    Ok(Poll::Pending) if cell.poll_provided(cx.waker()) => {
                        return Poll::Ready(self.provided(node, request_id));
                    }
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(Ok(()))) => {
                        let error = internal(
                            format!("`{name}` returned without calling `provide`"),
                            request_id,
                        );
                        Err(failed(error))
                    }
                    Ok(Poll::Ready(Err(error))) => Err(failed(error)),
                    Err(panic) => Err(panicked(panic)),
                }
            }
        };
        self.started = None;
        Poll::Ready(done)
    }

    /// The generator, suspended in its `provide`, waiting for its teardown.
    fn provided(
        &mut self,
        node: &Node,
        request_id: Option<&RequestId>,
    ) -> Result<SetupDone, SetupError> {
        match (self.started.take(), self.cell.take()) {
            (Some(StartedKind::Generator(future)), Some(cell)) => {
                Ok(SetupDone::Provided(Suspended {
                    name: node.meta.name,
                    scope: node.scope,
                    cell,
                    future: AssertUnwindSafe(future).catch_unwind(),
                    place: None,
                }))
            }
            _ => {
                let name = node.meta.name;
                let error = internal(format!("`{name}` provided without a generator"), request_id);
                Err(Outcome::SetupFailed {
                    dependency: name,
                    error,
                })
            }
        }
    }
}

/// [`run_setup`] in a `setup` span, which records how the setup ended and how long it took.
async fn traced_setup(
    node: &Node,
    starting: Starting,
    request_id: Option<&RequestId>,
) -> Result<SetupDone, SetupError> {
    let (dependency, scope) = (node.meta.name, node.scope);
    let span = tracing::debug_span!(
        target: "di",
        "setup",
        dependency,
        %scope,
        outcome = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
    );
    let started_at = Instant::now();
    let setup = setup(node, starting, request_id);
    let result = tracing::Instrument::instrument(setup, span.clone()).await;
    let elapsed_ms = ms(started_at.elapsed());
    let _entered = span.enter();
    span.record("duration_ms", elapsed_ms);
    match &result {
        Ok(_) => span.record("outcome", "ok"),
        Err(outcome) => span.record("outcome", tracing::field::display(outcome)),
    };
    log_setup(node, &result, elapsed_ms, request_id);
    result
}

/// The DEBUG line that reports a setup.
fn log_setup(
    node: &Node,
    result: &Result<SetupDone, SetupError>,
    elapsed_ms: f64,
    request_id: Option<&RequestId>,
) {
    let request_id = request_id.map(tracing::field::display);
    let (dependency, scope) = (node.meta.name, node.scope);
    match result {
        Ok(_) => {
            tracing::debug!(target: "di", request_id, dependency, %scope, elapsed_ms, "setup")
        }
        Err(outcome) => {
            tracing::debug!(target: "di", request_id, dependency, %scope, %outcome, elapsed_ms, "setup failed");
        }
    }
}

async fn setup(
    node: &Node,
    mut starting: Starting,
    request_id: Option<&RequestId>,
) -> Result<SetupDone, SetupError> {
    poll_fn(|cx| starting.poll(node, request_id, cx)).await
}
