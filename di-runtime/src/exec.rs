//! One request from routing to response: extract inputs, set up dependencies in order, run
//! the handler, tear down `handler` scope, and hand `request` scope to the response body.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, CatchUnwind};
use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use crate::app::{AppSlots, Route, Shared};
use crate::body::TrackedBody;
use crate::error::{ErrorMark, HttpError, InputError};
use crate::extract::RequestHead;
use crate::graph::Node;
use crate::meta::{Args, StartedKind};
use crate::outcome::{CancelReason, Outcome};
use crate::provide::{AnyValue, YieldHandle};
use crate::response::{Body, BoxError, IntoResponse, Response, internal_error_response};
use crate::scope::Scope;
use crate::slot::Slot;

type GenFuture = CatchUnwind<AssertUnwindSafe<BoxFuture<'static, Result<(), HttpError>>>>;

/// A generator suspended in `provide`, waiting for its teardown.
pub(crate) struct Pending {
    pub(crate) name: &'static str,
    pub(crate) scope: Scope,
    pub(crate) slot: usize,
    future: GenFuture,
    back: oneshot::Sender<(AnyValue, Outcome)>,
    /// A `max_concurrency` place, given back once the teardown has finished.
    pub(crate) place: Option<OwnedSemaphorePermit>,
}

/// What a failed setup looks like.
enum SetupError {
    Failed(HttpError),
    Panicked(String),
}

/// Runs a function's future to its value, or a generator's up to its `provide`.
pub(crate) enum Ready {
    Value(AnyValue),
    Provided(AnyValue, Pending),
}

pub(crate) async fn start_node(
    node_name: &'static str,
    scope: Scope,
    slot: usize,
    started: StartedKind,
    handle: Option<YieldHandle>,
) -> Result<Ready, (Outcome, Response)> {
    let started_at = Instant::now();
    let result = run_setup(node_name, scope, slot, started, handle).await;
    let elapsed_ms = ms(started_at.elapsed());
    match &result {
        Ok(_) => tracing::debug!(target: "di", dependency = node_name, %scope, elapsed_ms, "setup"),
        Err((outcome, _)) => {
            tracing::debug!(target: "di", dependency = node_name, %scope, %outcome, elapsed_ms, "setup failed");
        }
    }
    result
}

async fn run_setup(
    node_name: &'static str,
    scope: Scope,
    slot: usize,
    started: StartedKind,
    handle: Option<YieldHandle>,
) -> Result<Ready, (Outcome, Response)> {
    let failure = |error: SetupError| match error {
        SetupError::Failed(error) => {
            let response = error.clone().into_response();
            (
                Outcome::SetupFailed {
                    dependency: node_name,
                    error,
                },
                response,
            )
        }
        SetupError::Panicked(message) => {
            tracing::error!(target: "di", dependency = node_name, panic = %message, "setup panicked");
            (Outcome::Panicked, internal_error_response())
        }
    };
    match started {
        StartedKind::Plain(future) => match AssertUnwindSafe(future).catch_unwind().await {
            Ok(Ok(value)) => Ok(Ready::Value(value)),
            Ok(Err(error)) => Err(failure(SetupError::Failed(error))),
            Err(panic) => Err(failure(SetupError::Panicked(panic_message(&*panic)))),
        },
        StartedKind::Generator(future) => {
            let Some(YieldHandle { mut provided, back }) = handle else {
                let error = internal(format!("`{node_name}` has no `Yield` handle"));
                return Err(failure(SetupError::Failed(error)));
            };
            let mut future = AssertUnwindSafe(future).catch_unwind();
            let first = poll_fn(|cx| {
                if let Poll::Ready(done) = Pin::new(&mut future).poll(cx) {
                    return Poll::Ready(Err(done));
                }
                match Pin::new(&mut provided).poll(cx) {
                    Poll::Ready(Ok(value)) => Poll::Ready(Ok(value)),
                    _ => Poll::Pending,
                }
            })
            .await;
            match first {
                Ok(value) => Ok(Ready::Provided(
                    value,
                    Pending {
                        name: node_name,
                        scope,
                        slot,
                        future,
                        back,
                        place: None,
                    },
                )),
                Err(Ok(Ok(()))) => {
                    let error =
                        internal(format!("`{node_name}` returned without calling `provide`"));
                    Err(failure(SetupError::Failed(error)))
                }
                Err(Ok(Err(error))) => Err(failure(SetupError::Failed(error))),
                Err(Err(panic)) => Err(failure(SetupError::Panicked(panic_message(&*panic)))),
            }
        }
    }
}

fn internal(message: String) -> HttpError {
    tracing::error!(target: "di", "{message}");
    HttpError::internal()
}

pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Teardowns still owed by a request. If the request future is dropped (the client went away,
/// the server stopped it) they are handed to a tracked background task with
/// [`Outcome::Cancelled`]; no user code ever runs inside `Drop`.
pub(crate) struct Exits {
    shared: Arc<Shared>,
    pub(crate) slots: Vec<Slot>,
    pub(crate) handler: Vec<Pending>,
    pub(crate) request: Vec<Pending>,
    /// The `handler`-scope teardowns while they run. They run in the request's own task; if
    /// that task is dropped half-way (the client went away), `Drop` moves this future, where
    /// it stands, into a tracked background task, so a COMMIT is never cut in half.
    in_flight: Option<BoxFuture<'static, StackReport>>,
    /// The request's span, for teardowns handed off from `Drop`.
    span: tracing::Span,
}

impl Exits {
    fn push(&mut self, pending: Pending) {
        match pending.scope {
            Scope::Handler => self.handler.push(pending),
            _ => self.request.push(pending),
        }
    }

    fn take_stack(&mut self, scope: Scope) -> Vec<(Pending, Slot)> {
        let stack = match scope {
            Scope::Handler => std::mem::take(&mut self.handler),
            _ => std::mem::take(&mut self.request),
        };
        stack
            .into_iter()
            .map(|p| {
                let slot = std::mem::take(&mut self.slots[p.slot]);
                (p, slot)
            })
            .collect()
    }
}

impl Drop for Exits {
    fn drop(&mut self) {
        if self.handler.is_empty() && self.request.is_empty() && self.in_flight.is_none() {
            return;
        }
        let _span = self.span.clone().entered();
        let in_flight = self.in_flight.take();
        let handler = self.take_stack(Scope::Handler);
        let request = self.take_stack(Scope::Request);
        let shared = self.shared.clone();
        let outcome = Outcome::Cancelled(CancelReason::ClientGone);
        let place = shared.background_place();
        // Not `spawn_background`: `handler`-scope teardowns already under way go on at once,
        // without waiting for a background place; the rest waits for one.
        shared.clone().spawn_tracked(async move {
            if let Some(in_flight) = in_flight {
                in_flight.await;
            }
            let _place = place.await;
            run_stack(&shared, handler, outcome.clone()).await;
            run_stack(&shared, request, outcome).await;
        });
    }
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
    shared: &Shared,
    stack: Vec<(Pending, Slot)>,
    mut outcome: Outcome,
) -> StackReport {
    let mut failure = None;
    for (pending, slot) in stack.into_iter().rev() {
        let Pending {
            name,
            scope,
            future,
            back,
            place,
            ..
        } = pending;
        let started = Instant::now();
        let seen = outcome.clone();
        let run = async move {
            if let Some(value) = slot.take().await {
                let _ = back.send((value, seen));
            }
            future.await
        };
        let result = with_deadline(shared.config.teardown_timeout, run).await;
        drop(place);
        let elapsed = started.elapsed();
        let error = match result {
            Ok(Ok(Ok(()))) => {
                tracing::debug!(target: "di", dependency = name, %scope, outcome = %outcome, elapsed_ms = ms(elapsed), "teardown");
                None
            }
            Ok(Ok(Err(error))) => {
                tracing::error!(target: "di", dependency = name, %scope, outcome = %outcome, elapsed_ms = ms(elapsed), %error, "teardown failed");
                Some(error)
            }
            Ok(Err(panic)) => {
                let panic = panic_message(&*panic);
                tracing::error!(target: "di", dependency = name, %scope, outcome = %outcome, panic, "teardown panicked");
                Some(HttpError::internal())
            }
            Err(_) => {
                tracing::error!(target: "di", dependency = name, %scope, outcome = %outcome, timeout_ms = ms(shared.config.teardown_timeout), "teardown timed out");
                Some(HttpError::internal())
            }
        };
        if let Some(error) = error {
            shared.stats.record_teardown_failure();
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
fn ms(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// Serves one routed request.
pub(crate) async fn handle<B>(
    shared: Arc<Shared>,
    route: Arc<Route>,
    request: http::Request<B>,
    params: Vec<(String, String)>,
) -> Response
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    let plan = &route.plan;

    let body = if plan.needs_body {
        match Limited::new(body, shared.config.body_limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => return body_read_error(error),
        }
    } else {
        drop(body);
        Bytes::new()
    };
    let head = Arc::new(RequestHead {
        parts,
        params,
        body,
        background: crate::BackgroundTasks::default(),
    });

    // Every input first, so that bad input never sets up a dependency.
    let mut inputs = Vec::with_capacity(plan.inputs.len());
    let mut problems: Vec<InputError> = Vec::new();
    for extract in &plan.inputs {
        match extract(&head) {
            Ok(value) => inputs.push(Some(value)),
            Err(errors) => {
                inputs.push(None);
                for error in errors {
                    if !problems.contains(&error) {
                        problems.push(error);
                    }
                }
            }
        }
    }
    if !problems.is_empty() {
        return HttpError::invalid_input(problems).into_response();
    }

    let mut exits = Exits {
        shared: shared.clone(),
        slots: std::iter::repeat_with(Slot::default)
            .take(plan.slots)
            .collect(),
        handler: Vec::new(),
        request: Vec::new(),
        in_flight: None,
        span: tracing::Span::current(),
    };
    let phases = run_handler(&shared, &route, &head, &mut inputs, &mut exits);
    let (mut response, mut outcome) = match shared.config.request_timeout {
        Some(limit) => match tokio::time::timeout(limit, phases).await {
            Ok(done) => done,
            Err(_) => {
                tracing::warn!(target: "di", handler = route.name, "request timed out");
                let error = HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "Request timed out");
                (
                    error.into_response(),
                    Outcome::Cancelled(CancelReason::Timeout),
                )
            }
        },
        None => phases.await,
    };

    // `handler` scope: torn down before the response head leaves, shielded from the client
    // going away (see `Exits::in_flight`).
    if !exits.handler.is_empty() {
        let stack = exits.take_stack(Scope::Handler);
        let task_shared = shared.clone();
        let seen = outcome.clone();
        exits.in_flight = Some(Box::pin(async move {
            run_stack(&task_shared, stack, seen).await
        }));
        let report = poll_fn(|cx| match exits.in_flight.as_mut() {
            Some(in_flight) => in_flight.as_mut().poll(cx),
            None => Poll::Ready(StackReport {
                outcome: Outcome::Panicked,
                failure: Some(HttpError::internal()),
            }),
        })
        .await;
        exits.in_flight = None;
        if let Some(error) = report.failure {
            response = error.into_response();
        }
        outcome = report.outcome;
    }

    // Background tasks run only after a response that the handler produced was sent in full.
    let succeeded = matches!(outcome, Outcome::Success { .. });
    let tasks = if succeeded {
        head.background.take()
    } else {
        Vec::new()
    };
    if exits.request.is_empty() && tasks.is_empty() {
        return response;
    }
    let stack = exits.take_stack(Scope::Request);
    // Failures are final; a success becomes `Success` only when the body has been sent.
    let decided = (!succeeded).then_some(outcome);
    let (parts, body) = response.into_parts();
    let tracked = TrackedBody::new(body, &parts, &method, tasks, stack, decided, shared.clone());
    Response::from_parts(parts, Body::new(tracked))
}

/// Hands `node` its arguments and starts its function (up to its first `.await`, which the
/// caller drives); a broken invariant is a logged generic 500.
pub(crate) fn start_function(
    node: &Node,
    slots: &mut [Slot],
    app: &AppSlots,
    inputs: &mut [Option<AnyValue>],
    head: &Arc<RequestHead>,
) -> Result<(StartedKind, Option<YieldHandle>), HttpError> {
    let mut args = Args {
        name: node.meta.name,
        sources: &node.args,
        slots,
        app,
        inputs,
        head,
        yield_handle: None,
    };
    match (node.meta.run)(&mut args) {
        Ok(started) => Ok((started.0, args.yield_handle.take())),
        Err(error) => Err(internal(format!(
            "could not start `{}`: {error}",
            node.meta.name
        ))),
    }
}

/// Sets up every dependency in order, then runs the handler.
async fn run_handler(
    shared: &Arc<Shared>,
    route: &Route,
    head: &Arc<RequestHead>,
    inputs: &mut [Option<AnyValue>],
    exits: &mut Exits,
) -> (Response, Outcome) {
    let (handler, dependencies) = match route.plan.nodes.split_last() {
        Some(split) => split,
        None => return (internal_error_response(), Outcome::Panicked),
    };
    // A handler declared `max_concurrency = N` runs at most `N` times at once; it waits for a
    // place before any of its dependencies is set up.
    let _place = match &handler.limit {
        Some(places) => places.clone().acquire_owned().await.ok(),
        None => None,
    };
    for node in dependencies {
        // `max_concurrency`: wait for a place before borrowing anything.
        let place = match &node.limit {
            Some(places) => places.clone().acquire_owned().await.ok(),
            None => None,
        };
        let app = &shared.app_slots;
        let (started, handle) = match start_function(node, &mut exits.slots, app, inputs, head) {
            Ok(started) => started,
            Err(error) => {
                let response = error.clone().into_response();
                let dependency = node.meta.name;
                return (response, Outcome::SetupFailed { dependency, error });
            }
        };
        match start_node(node.meta.name, node.scope, node.slot, started, handle).await {
            Ok(Ready::Value(value)) => exits.slots[node.slot] = Slot::Owned(value),
            Ok(Ready::Provided(value, mut pending)) => {
                exits.slots[node.slot] = Slot::Owned(value);
                pending.place = place;
                exits.push(pending);
            }
            Err((outcome, response)) => return (response, outcome),
        }
    }

    let started = start_function(handler, &mut exits.slots, &shared.app_slots, inputs, head);
    let started = match started {
        Ok((started, _)) => started,
        Err(error) => return (error.into_response(), Outcome::Panicked),
    };
    let StartedKind::Plain(future) = started else {
        return (internal_error_response(), Outcome::Panicked);
    };
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(Ok(value)) => {
            // A user `IntoResponse` impl may panic too.
            let respond = route.respond;
            let response = match std::panic::catch_unwind(AssertUnwindSafe(|| respond(value))) {
                Ok(response) => response,
                Err(panic) => {
                    let panic = panic_message(&*panic);
                    tracing::error!(target: "di", handler = handler.meta.name, panic, "building the response panicked");
                    return (internal_error_response(), Outcome::Panicked);
                }
            };
            let status = response.status();
            let outcome = match response.extensions().get::<ErrorMark>() {
                Some(ErrorMark(error)) => Outcome::HandlerError {
                    status,
                    error: error.clone(),
                },
                None => Outcome::Success { status },
            };
            (response, outcome)
        }
        Ok(Err(error)) => {
            let status = error.status();
            let response = error.clone().into_response();
            (
                response,
                Outcome::HandlerError {
                    status,
                    error: Some(error),
                },
            )
        }
        Err(panic) => {
            tracing::error!(target: "di", handler = handler.meta.name, panic = %panic_message(&*panic), "handler panicked");
            (internal_error_response(), Outcome::Panicked)
        }
    }
}

fn body_read_error(error: BoxError) -> Response {
    if error.is::<http_body_util::LengthLimitError>() {
        HttpError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large").into_response()
    } else {
        tracing::debug!(target: "di", %error, "could not read the request body");
        HttpError::bad_request("Could not read the request body").into_response()
    }
}
