//! One request from routing to response: extract inputs, set up dependencies in order, run
//! the handler, tear down `handler` scope, and hand `request` scope to the response body.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::StatusCode;
use http_body_util::{BodyExt, Limited};

use crate::contract::background::BackgroundTasks;
use crate::contract::meta::StartedKind;
use crate::contract::outcome::{CancelReason, Outcome};
use crate::contract::provide::AnyValue;
use crate::contract::request::RequestHead;
use crate::contract::scope::Scope;
use crate::contract::slot::Slot;
use crate::panic::{catch, catch_call};
use crate::plan::routes::Route;
use crate::response::body::{Body, BoxError, Response};
use crate::response::error::{HttpError, InputError};
use crate::response::into::{ErrorMark, IntoResponse};
use crate::run::body::TrackedBody;
use crate::run::engine::Engine;
use crate::run::setup::{Failure, SetupDone, panicked, run_setup, setup_failed, start_function};
use crate::run::teardown::{StackReport, Suspended, run_stack};

/// Teardowns still owed by a request. If the request future is dropped (the client went away,
/// the server stopped it) they are handed to a tracked background task with
/// [`Outcome::Cancelled`]; no user code ever runs inside `Drop`.
struct Owed {
    engine: Arc<Engine>,
    slots: Vec<Slot>,
    handler: Vec<Suspended>,
    request: Vec<Suspended>,
    /// The `handler`-scope teardowns while they run. They run in the request's own task; if
    /// that task is dropped half-way (the client went away), `Drop` moves this future, where
    /// it stands, into a tracked background task, so a COMMIT is never cut in half.
    in_flight: Option<BoxFuture<'static, StackReport>>,
    /// The request's span, for teardowns handed off from `Drop`.
    span: tracing::Span,
}

impl Owed {
    fn push(&mut self, suspended: Suspended) {
        match suspended.scope {
            Scope::Handler => self.handler.push(suspended),
            _ => self.request.push(suspended),
        }
    }

    fn take_stack(&mut self, scope: Scope) -> Vec<(Suspended, Slot)> {
        let stack = match scope {
            Scope::Handler => std::mem::take(&mut self.handler),
            _ => std::mem::take(&mut self.request),
        };
        stack
            .into_iter()
            .map(|s| {
                let slot = std::mem::take(&mut self.slots[s.slot]);
                (s, slot)
            })
            .collect()
    }
}

impl Drop for Owed {
    fn drop(&mut self) {
        if self.handler.is_empty() && self.request.is_empty() && self.in_flight.is_none() {
            return;
        }
        let _span = self.span.clone().entered();
        let in_flight = self.in_flight.take();
        let handler = self.take_stack(Scope::Handler);
        let request = self.take_stack(Scope::Request);
        let engine = self.engine.clone();
        let outcome = Outcome::Cancelled(CancelReason::ClientGone);
        let place = engine.background_place();
        // Not `spawn_background`: `handler`-scope teardowns already under way go on at once,
        // without waiting for a background place; the rest waits for one.
        engine.clone().spawn_tracked(async move {
            if let Some(in_flight) = in_flight {
                in_flight.await;
            }
            let _place = place.await;
            run_stack(&engine, handler, outcome.clone()).await;
            run_stack(&engine, request, outcome).await;
        });
    }
}

/// Serves one routed request.
pub(crate) async fn handle<B>(
    engine: Arc<Engine>,
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
        match Limited::new(body, engine.config.body_limit).collect().await {
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
        background: BackgroundTasks::default(),
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

    let mut owed = Owed {
        engine: engine.clone(),
        slots: std::iter::repeat_with(Slot::default)
            .take(plan.slots)
            .collect(),
        handler: Vec::new(),
        request: Vec::new(),
        in_flight: None,
        span: tracing::Span::current(),
    };
    let phases = run_handler(&engine, &route, &head, &mut inputs, &mut owed);
    let (mut outcome, mut response) = match engine.config.request_timeout {
        Some(limit) => match tokio::time::timeout(limit, phases).await {
            Ok(done) => done,
            Err(_) => {
                tracing::warn!(target: "di", handler = route.name, "request timed out");
                let error = HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "Request timed out");
                (
                    Outcome::Cancelled(CancelReason::Timeout),
                    error.into_response(),
                )
            }
        },
        None => phases.await,
    };

    // `handler` scope: torn down before the response head leaves, shielded from the client
    // going away (see `Owed::in_flight`).
    if !owed.handler.is_empty() {
        let stack = owed.take_stack(Scope::Handler);
        let task_engine = engine.clone();
        let seen = outcome.clone();
        owed.in_flight = Some(Box::pin(async move {
            run_stack(&task_engine, stack, seen).await
        }));
        let report = poll_fn(|cx| match owed.in_flight.as_mut() {
            Some(in_flight) => in_flight.as_mut().poll(cx),
            None => Poll::Ready(StackReport {
                outcome: Outcome::Panicked,
                failure: Some(HttpError::internal()),
            }),
        })
        .await;
        owed.in_flight = None;
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
    if owed.request.is_empty() && tasks.is_empty() {
        return response;
    }
    let stack = owed.take_stack(Scope::Request);
    // Failures are final; a success becomes `Success` only when the body has been sent.
    let decided = (!succeeded).then_some(outcome);
    let (parts, body) = response.into_parts();
    let tracked = TrackedBody::new(body, &parts, &method, tasks, stack, decided, engine.clone());
    Response::from_parts(parts, Body::new(tracked))
}

/// Sets up every dependency in order, then runs the handler.
async fn run_handler(
    engine: &Arc<Engine>,
    route: &Route,
    head: &Arc<RequestHead>,
    inputs: &mut [Option<AnyValue>],
    owed: &mut Owed,
) -> Failure {
    let (handler, dependencies) = match route.plan.nodes.split_last() {
        Some(split) => split,
        None => return panicked(),
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
        let app = &engine.app_slots;
        let (started, handle) = match start_function(node, &mut owed.slots, app, inputs, head) {
            Ok(started) => started,
            Err(error) => return setup_failed(node.meta.name, error),
        };
        match run_setup(node, started, handle).await {
            Ok(SetupDone::Value(value)) => owed.slots[node.slot] = Slot::Owned(value),
            Ok(SetupDone::Provided(value, mut suspended)) => {
                owed.slots[node.slot] = Slot::Owned(value);
                suspended.place = place;
                owed.push(suspended);
            }
            Err(failure) => return failure,
        }
    }

    let started = start_function(handler, &mut owed.slots, &engine.app_slots, inputs, head);
    let started = match started {
        Ok((started, _)) => started,
        Err(error) => return (Outcome::Panicked, error.into_response()),
    };
    let StartedKind::Plain(future) = started else {
        return panicked();
    };
    let name = handler.meta.name;
    match catch(future).await {
        Ok(Ok(value)) => {
            // A user `IntoResponse` impl may panic too.
            let respond = route.respond;
            let response = match catch_call(|| respond(value)) {
                Ok(response) => response,
                Err(panic) => {
                    tracing::error!(target: "di", handler = name, %panic, "building the response panicked");
                    return panicked();
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
            (outcome, response)
        }
        Ok(Err(error)) => {
            let status = error.status();
            let response = error.clone().into_response();
            (
                Outcome::HandlerError {
                    status,
                    error: Some(error),
                },
                response,
            )
        }
        Err(panic) => {
            tracing::error!(target: "di", handler = name, %panic, "handler panicked");
            panicked()
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
