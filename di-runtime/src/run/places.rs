//! The places a request takes before its first setup: a background place for its
//! `request`-scope teardowns and its `max_concurrency` places, with a deadline and a 503.

use std::sync::Arc;

use http::StatusCode;
use http::header::{HeaderValue, RETRY_AFTER};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::contract::outcome::{CancelReason, Outcome};
use crate::contract::request_id::RequestId;
use crate::contract::scope::Scope;
use crate::plan::node::{Limit, Plan, limit_runs};
use crate::response::error::HttpError;
use crate::response::into::IntoResponse;
use crate::run::background::BackgroundPlace;
use crate::run::engine::Engine;
use crate::run::setup::Failure;

/// The places a request takes before its first setup, all at once: each `max_concurrency`
/// place in the app's one order of limits (so that no two requests can wait for each other),
/// then a background place when it will owe `request`-scope teardowns (so that a request
/// waiting for a full pool holds none).
#[derive(Default)]
pub(crate) struct Places {
    pub(crate) background: Option<BackgroundPlace>,
    /// `max_concurrency` places, for a route that has any: boxed, so that the places of a
    /// route without (most) are small to move with the request's after-body work.
    limited: Option<Box<Limited>>,
}

/// A request's `max_concurrency` places.
#[derive(Default)]
struct Limited {
    /// Not yet handed to a generator, by node.
    by_node: Vec<(usize, OwnedSemaphorePermit)>,
    /// Places of plain dependencies and handlers, held until their scope's teardowns end.
    handler: Vec<OwnedSemaphorePermit>,
    request: Vec<OwnedSemaphorePermit>,
}

impl Places {
    /// The `max_concurrency` place taken for node `node`, if it has one.
    pub(crate) fn take(&mut self, node: usize) -> Option<OwnedSemaphorePermit> {
        let by_node = &mut self.limited.as_mut()?.by_node;
        let at = by_node.iter().position(|(n, _)| *n == node)?;
        Some(by_node.swap_remove(at).1)
    }

    /// Keeps a plain dependency's place until its `scope`'s teardowns have ended.
    pub(crate) fn keep(&mut self, scope: Scope, place: OwnedSemaphorePermit) {
        let limited = self.limited.get_or_insert_with(Box::default);
        match scope {
            Scope::Handler => limited.handler.push(place),
            _ => limited.request.push(place),
        }
    }

    /// Gives back the places taken for dependencies that were never set up (a setup before
    /// them failed, or the request ended first): once the request's setups are over.
    pub(crate) fn release_unused(&mut self) {
        if let Some(limited) = self.limited.as_mut() {
            drop(std::mem::take(&mut limited.by_node));
        }
    }

    /// Gives back the places kept until the end of `handler` scope.
    pub(crate) fn release_handler(&mut self) {
        if let Some(limited) = self.limited.as_mut() {
            drop(std::mem::take(&mut limited.handler));
        }
    }

    /// Whether it holds no place at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.background.is_none() && self.limited.is_none()
    }

    /// Whether places are kept until the end of `request` scope.
    pub(crate) fn holds_request(&self) -> bool {
        self.limited
            .as_ref()
            .is_some_and(|limited| !limited.request.is_empty())
    }

    /// Hands `place`, one place for each of `nodes`, out to them.
    fn share(&mut self, nodes: &[usize], mut place: OwnedSemaphorePermit) {
        let by_node = &mut self.limited.get_or_insert_with(Box::default).by_node;
        for &node in nodes.iter().skip(1) {
            if let Some(one) = place.split(1) {
                by_node.push((node, one));
            }
        }
        if let Some(&first) = nodes.first() {
            by_node.push((first, place));
        }
    }
}

/// Takes every place `plan` needs at once, if each is free now (no future, no clock): the
/// common case. `None` if one is not: then [`take_places`] waits for them.
pub(crate) fn try_take_places(engine: &Engine, plan: &Plan) -> Option<Places> {
    let mut places = Places::default();
    for (nodes, limit) in by_limit(plan) {
        let count = u32::try_from(nodes.len()).ok()?;
        let place = limit.places.clone().try_acquire_many_owned(count).ok()?;
        places.share(nodes, place);
    }
    if plan.request_teardowns {
        places.background = Some(engine.background_places().try_take()?);
    }
    Some(places)
}

/// The request's nodes under each `max_concurrency` limit, in the app's one order of limits:
/// each limit's places are taken at once, so that two requests waiting for the same limit
/// never each hold part of what both need.
fn by_limit(plan: &Plan) -> impl Iterator<Item = (&[usize], &Limit)> {
    limit_runs(&plan.nodes, &plan.limited)
}

/// Takes every place `plan` needs, each within what is left of the app's wait; a request
/// that cannot have one gets 503 with `Retry-After` and sets nothing up (logged with
/// `request_id`). So does one still waiting when the shutdown's grace period ends: it would
/// otherwise be dropped with its connection a second later, its client left not knowing
/// whether a write it sent was made, where nothing was begun and it may be sent again
/// (tests/walk_postgres.rs).
pub(crate) async fn take_places(
    engine: &Engine,
    plan: &Plan,
    request_id: &RequestId,
) -> Result<Places, Failure> {
    tokio::select! {
        biased;
        taken = take_places_in_time(engine, plan, request_id) => taken,
        () = engine.hard_stop.cancelled() => {
            tracing::warn!(target: "di", %request_id, "the shutdown's grace period ended while the request waited for a place (`max_concurrency` or a background place), before any setup; answered 503");
            Err((
                Outcome::Cancelled(CancelReason::Shutdown),
                busy_response(SHUTTING_DOWN.to_owned()),
            ))
        }
    }
}

/// The 503's detail for a request still waiting for a place when the shutdown's grace period
/// ended.
const SHUTTING_DOWN: &str = "The server is shutting down; try again later";

/// [`take_places`], within the app's wait.
async fn take_places_in_time(
    engine: &Engine,
    plan: &Plan,
    request_id: &RequestId,
) -> Result<Places, Failure> {
    let mut deadline = Deadline {
        wait: engine.config.place_wait,
        at: None,
    };
    let mut places = Places::default();
    for (nodes, limit) in by_limit(plan) {
        let name = plan.nodes[nodes[0]].meta.name;
        // The log names the dependency; the client is not told the app's function names.
        let refused = || {
            tracing::warn!(target: "di", %request_id, dependency = name, "no place under max_concurrency");
            busy(POOL_BUSY.to_owned())
        };
        let count = u32::try_from(nodes.len()).map_err(|_| refused())?;
        let place = wait_for_places(&limit.places, count, &mut deadline)
            .await
            .ok_or_else(refused)?;
        places.share(nodes, place);
    }
    // Last: a request waiting for a full pool owes no teardown yet, and must not keep a
    // background place from a request that can be served now (tests/walk_lifecycle.rs
    // `a_request_waiting_for_a_full_pool_holds_no_background_place_while_it_waits`). No
    // deadlock either way round: whoever holds a background place has all its other places.
    if plan.request_teardowns {
        let background = engine.background_places();
        let place = deadline
            .now_or_within(background.try_take(), || async {
                Some(background.take().await)
            })
            .await;
        places.background = Some(place.ok_or_else(|| {
            tracing::warn!(target: "di", %request_id, "no background place for request-scope teardowns");
            busy("The server is busy finishing earlier requests; try again later".to_owned())
        })?);
    }
    Ok(places)
}

/// The 503's detail for a request that found no place under a `max_concurrency` limit in
/// time.
const POOL_BUSY: &str =
    "The server is busy: a resource this request needs is at its limit; try again later";

/// One wait shared by all the places of a request, started by the first place that is not free
/// at once (a request that waits for none reads no clock).
struct Deadline {
    wait: std::time::Duration,
    at: Option<tokio::time::Instant>,
}

impl Deadline {
    /// `now`, a place taken at once if one was free; otherwise what `wait` gives within what
    /// is left of the request's wait (`None` past it), the wait counted from the first place
    /// that was not free.
    async fn now_or_within<P, F: Future<Output = Option<P>>>(
        &mut self,
        now: Option<P>,
        wait: impl FnOnce() -> F,
    ) -> Option<P> {
        if now.is_some() {
            return now;
        }
        let wait_for = self.wait;
        let at = *self
            .at
            .get_or_insert_with(|| tokio::time::Instant::now() + wait_for);
        tokio::time::timeout_at(at, wait()).await.ok().flatten()
    }
}

/// `count` places of `places` at once, within what is left of the request's wait.
async fn wait_for_places(
    places: &Arc<Semaphore>,
    count: u32,
    deadline: &mut Deadline,
) -> Option<OwnedSemaphorePermit> {
    let now = places.clone().try_acquire_many_owned(count).ok();
    deadline
        .now_or_within(now, || async {
            places.clone().acquire_many_owned(count).await.ok()
        })
        .await
}

/// 503 with `Retry-After`: what a request that waited too long for a place gets. Nothing was
/// set up, so no teardown sees the outcome.
fn busy(detail: String) -> Failure {
    (
        Outcome::Cancelled(CancelReason::Timeout),
        busy_response(detail),
    )
}

/// 503 with `Retry-After: 1` and `detail`.
pub(crate) fn busy_response(detail: String) -> crate::response::body::Response {
    let mut response = HttpError::new(StatusCode::SERVICE_UNAVAILABLE, detail).into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
