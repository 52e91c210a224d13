//! Tower layers around the whole app ([`App::layer`](crate::App::layer)) and around routes
//! ([`App::route_layer`](crate::App::route_layer), [`Group::layer`](crate::Group::layer)):
//! the service a layer wraps ([`InnerService`]), the stacks built when the app starts, and
//! the entry point of a request in an app that has layers.
//!
//! An app without layers never comes here: its requests take the path they always took.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::Method;

use crate::app::routed::{ResponseFuture, serve_routed};
use crate::contract::outcome::{CancelReason, Outcome};
use crate::contract::request_id::RequestId;
use crate::panic::{OneLine, catch, catch_call};
use crate::plan::routes::{Miss, Route, Routed};
use crate::response::body::{Body, BoxError, Response};
use crate::response::check::{InvalidHeader, checked_framing};
use crate::response::error::HttpError;
use crate::response::into::IntoResponse;
use crate::run::body::track;
use crate::run::engine::Engine;
use crate::run::outer::{Outer, OuterRef};
use crate::run::request::{finish, finish_layered, timed_out};
use crate::run::setup::panicked;

/// A [`tower_layer::Layer`] the app can put around itself or its routes: any layer whose
/// service takes an `http::Request<`[`Body`]`>` (and may hand the app a request of a body of
/// its own: a decompressed or limited one) and answers an `http::Response` of any body of
/// [`Bytes`] (tower-http's `TraceLayer`, `TimeoutLayer`, `CompressionLayer`, `CorsLayer`, ...),
/// with an error that converts into a [`BoxError`] (answered 500 and logged, or as
/// [`App::map_layer_error`](crate::App::map_layer_error) makes of it).
///
/// Implemented for every such layer; there is nothing to implement by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as a layer of a `di_runtime::App`",
    note = "a layer of an app wraps `di_runtime::InnerService`; its service must take `http::Request<di_runtime::Body>`, answer an `http::Response` whose body yields `Bytes`, and be `Clone + Send + Sync + 'static`"
)]
pub trait TowerLayer: Send + Sync + 'static {
    /// Wraps `inner` in this layer's service.
    fn wrap(&self, inner: InnerService) -> InnerService;
}

impl<L, S, B> TowerLayer for L
where
    L: tower_layer::Layer<InnerService, Service = S> + Send + Sync + 'static,
    S: tower_service::Service<http::Request<Body>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn wrap(&self, inner: InnerService) -> InnerService {
        let errors = inner.errors.clone();
        InnerService {
            serve: Arc::new(Erased {
                service: self.layer(inner),
            }),
            errors,
        }
    }
}

/// The service a [`TowerLayer`] of the app wraps: the app's routing and its routes (for
/// [`App::layer`](crate::App::layer)), one route (for [`App::route_layer`](crate::App::route_layer)
/// and [`Group::layer`](crate::Group::layer)), or the layers added before. Cheap to clone;
/// never fails (every problem is a response).
#[derive(Clone)]
pub struct InnerService {
    serve: Arc<dyn Serve>,
    /// `App::map_layer_error`, handed to the layers wrapped around this service.
    errors: Option<Arc<LayerErrorFn>>,
}

/// `App::map_layer_error`: the response for a layer's error, if it has one.
pub(crate) type LayerErrorFn = dyn Fn(&BoxError) -> Option<Response> + Send + Sync;

impl std::fmt::Debug for InnerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InnerService").finish_non_exhaustive()
    }
}

/// A request of any body of [`Bytes`]: a layer may give the request a body type of its own
/// (tower-http's `RequestDecompressionLayer`, `RequestBodyLimitLayer`,
/// `RequestBodyTimeoutLayer`), as axum's routes take any body. A [`Body`] is kept as it is,
/// not boxed again.
impl<B> tower_service::Service<http::Request<B>> for InnerService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        ResponseFuture(self.serve(request.map(Body::new)))
    }
}

impl InnerService {
    /// Any tower service of the app's requests, its response body boxed and its error
    /// answered 500 (for [`App::nest_service`](crate::App::nest_service)).
    pub(crate) fn erase<S, B>(service: S) -> Self
    where
        S: tower_service::Service<http::Request<Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self {
            serve: Arc::new(Erased { service }),
            errors: None,
        }
    }

    /// Serves `request`, a layer's error answered by this stack's `map_layer_error`.
    fn serve(&self, request: http::Request<Body>) -> BoxFuture<'static, Response> {
        self.serve.serve(request, self.errors.as_ref())
    }

    /// A leaf of the app's stacks, whose layers answer their errors with `errors`.
    fn leaf(serve: Arc<dyn Serve>, errors: Option<&Arc<LayerErrorFn>>) -> Self {
        Self {
            serve,
            errors: errors.cloned(),
        }
    }
}

/// A service behind an [`InnerService`], its type erased.
trait Serve: Send + Sync + 'static {
    /// Serves `request`; a tower service's error is answered by `errors` (the app's
    /// `map_layer_error`), if it has an answer for it.
    fn serve(
        &self,
        request: http::Request<Body>,
        errors: Option<&Arc<LayerErrorFn>>,
    ) -> BoxFuture<'static, Response>;
}

/// A layer's service, or a mounted one, its response body boxed and its error answered (by
/// the app's `map_layer_error`, if it has an answer).
struct Erased<S> {
    service: S,
}

impl<S, B> Serve for Erased<S>
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn serve(
        &self,
        request: http::Request<Body>,
        errors: Option<&Arc<LayerErrorFn>>,
    ) -> BoxFuture<'static, Response> {
        // A clone for this call, as tower services are used: `poll_ready`, then `call`.
        let mut service = self.service.clone();
        let errors = errors.cloned();
        Box::pin(async move {
            let ready = std::future::poll_fn(|cx| service.poll_ready(cx))
                .await
                .map_err(Into::into);
            let answered = match ready {
                Ok(()) => service.call(request).await.map_err(Into::into),
                Err(error) => Err(error),
            };
            match answered {
                Ok(response) => response.map(Body::new),
                Err(error) => answer_layer_error(&error, errors.as_deref()),
            }
        })
    }
}

/// The answer to a layer's `error`: what the app's `map_layer_error` makes of it, else (or
/// if it panics) a generic 500, logged at ERROR.
fn answer_layer_error(error: &BoxError, errors: Option<&LayerErrorFn>) -> Response {
    // With the id the client gets, as every line written for a request: this future is
    // polled where the entry point polls the layers (see `ENTRY`).
    let request_id = entry_in_scope().map(|entry| entry.id);
    let request_id = request_id.as_ref().map(tracing::field::display);
    if let Some(map) = errors {
        match catch_call(|| map(error)) {
            Ok(Some(response)) => {
                let status = response.status().as_u16();
                tracing::info!(target: "di", request_id, status, error = %OneLine(error), "a tower layer of the app failed; answered as `map_layer_error` made of its error");
                return response;
            }
            Ok(None) => {}
            Err(panic) => {
                tracing::error!(target: "di", request_id, %panic, error = %OneLine(error), "`map_layer_error` panicked on a tower layer's error: answered a generic 500");
                return HttpError::internal().into_response();
            }
        }
    }
    tracing::error!(target: "di", request_id, error = %OneLine(error), "a tower layer of the app failed");
    HttpError::internal().into_response()
}

/// The app's layer stacks, built when it starts.
pub(crate) struct Layers {
    /// What a request enters: the app's layers around the routing, or the routing itself.
    top: InnerService,
}

/// What an app puts around and beside its routes: its tower layers, and the services
/// mounted where no route matches.
pub(crate) struct Around<'a> {
    /// `App::layer`.
    pub(crate) app: &'a [Arc<dyn TowerLayer>],
    /// `App::route_layer`.
    pub(crate) every_route: &'a [Arc<dyn TowerLayer>],
    /// Each route's own layers, by the index of its definition.
    pub(crate) own: &'a [Vec<Arc<dyn TowerLayer>>],
    /// `App::nest_service`: prefixes and their services.
    pub(crate) mounts: &'a [(String, InnerService)],
    /// `App::fallback_service`.
    pub(crate) fallback: Option<&'a InnerService>,
    /// `App::map_layer_error`.
    pub(crate) errors: Option<&'a Arc<LayerErrorFn>>,
}

impl Around<'_> {
    /// Whether there is nothing around the routes: no layer, no mounted service.
    pub(crate) fn is_empty(&self) -> bool {
        self.app.is_empty()
            && self.every_route.is_empty()
            && self.own.iter().all(Vec::is_empty)
            && self.mounts.is_empty()
            && self.fallback.is_none()
    }
}

/// Builds the app's stacks: each route's layers (`own[def]`, then `every_route`) around it,
/// then `app` around the routing. `None` when there is no layer and no service at all.
pub(crate) fn build_layers(
    engine: &Arc<Engine>,
    routes: &[Arc<Route>],
    around: Around<'_>,
) -> Option<Arc<Layers>> {
    if around.is_empty() {
        return None;
    }
    let Around {
        app,
        every_route,
        own,
        mounts,
        fallback,
        errors,
    } = around;
    let mut stacks: Vec<Option<InnerService>> = vec![None; own.len()];
    let mut miss_stacks: Vec<Option<InnerService>> = vec![None; own.len()];
    for route in routes {
        let own = own.get(route.def).map(Vec::as_slice).unwrap_or_default();
        if !own.is_empty()
            && let Some(slot) = miss_stacks.get_mut(route.def)
        {
            // A 405 at the route's path goes through its groups' layers (not the app's route
            // layers), as axum's `Router::layer` wraps the 405 of a nested router's paths: a
            // group's `CorsLayer` answers the preflight `OPTIONS` of its routes.
            let leaf = InnerService::leaf(
                Arc::new(MissLeaf {
                    engine: engine.clone(),
                }),
                errors,
            );
            *slot = Some(own.iter().fold(leaf, |inner, layer| layer.wrap(inner)));
        }
        if own.is_empty() && every_route.is_empty() {
            continue;
        }
        let leaf = InnerService::leaf(
            Arc::new(RouteLeaf {
                engine: engine.clone(),
                route: route.clone(),
            }),
            errors,
        );
        let stack = own
            .iter()
            .chain(every_route)
            .fold(leaf, |inner, layer| layer.wrap(inner));
        if let Some(slot) = stacks.get_mut(route.def) {
            *slot = Some(stack);
        }
    }
    let routing = InnerService::leaf(
        Arc::new(Routing {
            engine: engine.clone(),
            stacks,
            miss_stacks,
            mounts: mounts.to_vec(),
            fallback: fallback.cloned(),
        }),
        errors,
    );
    let top = app.iter().fold(routing, |inner, layer| layer.wrap(inner));
    Some(Arc::new(Layers { top }))
}

/// What the entry point hands the app's part of a request through the layers: in the
/// request's extensions, which a layer keeps, and in [`ENTRY`] while the layers run, for a
/// layer that rebuilds the request and drops them.
#[derive(Clone)]
struct Entry {
    outer: Arc<Outer>,
    client: Option<std::net::SocketAddr>,
    id: RequestId,
    /// When the request entered the layers, with a request timeout to count from it.
    arrived: Option<tokio::time::Instant>,
}

tokio::task_local! {
    /// The [`Entry`] of the request whose layers are being called or polled (in the task that
    /// polls the entry point's future): for the app's part of a request that a layer rebuilt
    /// without its extensions (`tower::util::MapRequestLayer` making a new `http::Request`
    /// from the parts), so that its handler still sees the id the client gets and its
    /// teardowns the entry point's verdict. A layer that also calls the app from another task
    /// (a buffer's worker) leaves it behind: then the app's part makes an id of its own and
    /// its teardowns see a layer's answer in its place as the client gone.
    static ENTRY: Entry;
}

/// The entry point's part of `request`, taken out of its extensions (so that the request's
/// head, which lives as long as the request, does not hold it), or, if a layer rebuilt the
/// request without them, a copy of the one in [`ENTRY`].
fn take_entry(request: &mut http::Request<Body>) -> Option<Entry> {
    match request.extensions_mut().remove::<Entry>() {
        Some(entry) => Some(entry),
        None => entry_in_scope(),
    }
}

/// A copy of the [`Entry`] in [`ENTRY`], if the layers of a request are being run here.
#[cold]
#[inline(never)]
fn entry_in_scope() -> Option<Entry> {
    ENTRY.try_with(Entry::clone).ok()
}

/// The path parameters the routing found, for a route behind its own layers.
#[derive(Clone)]
struct RouteParams(Vec<(String, String)>);

/// Serves a request in an app that has layers: through them, then, outside every layer,
/// puts the `request`-scope work of the response around the body the client gets, and
/// decides how what was set up ends if a layer answered in the app's place.
pub(crate) fn serve_layered<B>(
    engine: &Arc<Engine>,
    layers: &Layers,
    request: http::Request<B>,
    client: Option<std::net::SocketAddr>,
) -> BoxFuture<'static, Response>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let engine = engine.clone();
    let id = RequestId::of(request.headers(), engine.config.request_id_header.as_ref());
    let head_request = request.method() == Method::HEAD;
    let version = request.version();
    // An HTTP/1 request whose body may still be coming: see `LetReadFirst`.
    let body_to_come = version < http::Version::HTTP_2 && !request.body().is_end_stream();
    // Sent here by another `di` app (this one is mounted in it): that app counts the response
    // in the `metrics` export.
    let mounted = Outer::mounted(request.extensions());
    let (verdict, outer) = Outer::new();
    let mut request = request.map(Body::new);
    // The request timeout counts from here: the time a request waits in a layer before it
    // reaches its route (a concurrency limit's queue, a rate limit) is part of it.
    let arrived = engine
        .config
        .request_timeout
        .map(|_| tokio::time::Instant::now());
    let entry = Entry {
        outer: outer.clone(),
        client,
        id: id.clone(),
        arrived,
    };
    request.extensions_mut().insert(entry.clone());
    // A layer that panics is a generic 500, as a handler that panics is: when it calls the
    // app (nothing set up yet), or while its future runs (below). Both with the entry in
    // `ENTRY`, for a layer that rebuilds the request.
    let serve = || ENTRY.sync_scope(entry.clone(), || layers.top.serve(request));
    let answer = match catch_call(serve) {
        Ok(answer) => answer,
        Err(panic) => {
            tracing::error!(target: "di", request_id = %id, %panic, "a tower layer panicked");
            return Box::pin(std::future::ready(finish_layered(
                &engine,
                panicked().1,
                &id,
                mounted,
            )));
        }
    };
    let deadline = arrived.zip(engine.config.request_timeout);
    let answer = UntilRouted {
        inner: answer,
        deadline: deadline.map(|(arrived, limit)| arrived + limit),
        sleep: None,
        outer: outer.clone(),
    };
    let answered = async move {
        let response = match catch(ENTRY.scope(entry, answer)).await {
            Ok(Some(response)) => response,
            // Past the request timeout while still in the layers (waiting for a concurrency
            // limit's place, a rate limit's next period): nothing was set up, and the client
            // gets the request timeout's answer, as when it falls on the handler.
            Ok(None) => {
                tracing::warn!(target: "di", request_id = %id, "request timed out before the layers handed it to its route");
                let _ = verdict.send(Outcome::Cancelled(CancelReason::Timeout));
                return finish_layered(&engine, timed_out(), &id, mounted);
            }
            Err(panic) => {
                tracing::error!(target: "di", request_id = %id, %panic, "a tower layer panicked");
                // What the app set up sees the panic: through the verdict if the app was still
                // running (its future went with the layer's), else through what it answered.
                let _ = verdict.send(Outcome::Panicked);
                if let Some(after) = outer.take_after() {
                    after.end(Outcome::Panicked);
                }
                return finish_layered(&engine, panicked().1, &id, mounted);
            }
        };
        // A layer or a mounted service may have given the response a `Content-Length` of its
        // own: it is held to its body as a handler's is.
        let response = checked(response, &id);
        if !outer.answered() {
            // A layer answered in the app's place: before calling it (a CORS preflight: then
            // nothing was set up), or after dropping it, which tower's layers do when time is
            // up (tower-http's `TimeoutLayer` answers 408): what was set up sees
            // `Cancelled(Timeout)`. If this future is dropped instead, the verdict is dropped
            // unsent and it sees the client gone.
            let _ = verdict.send(Outcome::Cancelled(CancelReason::Timeout));
            return finish_layered(&engine, response, &id, mounted);
        }
        // The app's answer, or what a layer made of it or put in its place after it: counted
        // by what leaves, with the id (a layer may have made a response of its own).
        let response = finish_layered(&engine, response, &id, mounted);
        match outer.take_after() {
            // A layer dropped the app's response before its body ended (a timeout outside a
            // layer still at work, a layer that answered its own instead): it was never sent,
            // and what was set up for it sees the layer answer in its place, as above.
            Some(after) if outer.discarded() => {
                after.end(Outcome::Cancelled(CancelReason::Timeout));
                response
            }
            Some(after) => track(response, head_request, version, after),
            None => response,
        }
    };
    Box::pin(async move {
        let response = answered.await;
        if body_to_come {
            LetReadFirst(false).await;
        }
        response
    })
}

/// Waits one poll, so that an HTTP/1 server reads before it writes the answer: a layer or a
/// mounted service may have answered without reading the request's body to its end, and
/// dropped it as it answered, while the server polled the answer. hyper learns that the body
/// was dropped only when it next reads: it then skips what of it has come, or, if that is not
/// all (the client holds the rest back behind `Expect: 100-continue`, or has not sent it yet),
/// closes the connection after the answer. Written in the same poll, the answer would go out
/// saying keep-alive, and a client's next request on that connection would be lost. One poll
/// later hyper has read first and says `Connection: close` when it will close. The app's own
/// routes need no wait: a request is dropped unread, or its streamed body's state known (see
/// `close_if_body_unfinished`), before its answer is polled.
struct LetReadFirst(bool);

impl std::future::Future for LetReadFirst {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// `response` as it leaves the app's layers, whoever made it (the app, a layer, a mounted
/// service), its framing checked as a handler's is (see [`checked_framing`]): hyper sends a
/// `Content-Length` as it is, and a value that contradicts the body would desync a kept-alive
/// connection (in a debug build hyper panics); it writes a `Transfer-Encoding` as it is with
/// `, chunked` after each value, and after the next header. Nothing is done for a response
/// without either. A length that is not one length, or is given beside a
/// `Transfer-Encoding`, is a generic 500; one that differs from the body's length fails the
/// response where they part; a `Transfer-Encoding` is sent as one value with `chunked` once,
/// last, or dropped if `chunked` is all it says (the server frames the body).
fn checked(response: Response, id: &RequestId) -> Response {
    checked_framing(response).unwrap_or_else(|invalid| invalid_length(&invalid, id))
}

/// The answer to a response from the layers whose framing cannot be sent (see
/// [`checked`]).
#[cold]
#[inline(never)]
fn invalid_length(invalid: &InvalidHeader, id: &RequestId) -> Response {
    tracing::error!(target: "di", request_id = %id, reason = %invalid.reason, "a tower layer or a mounted service gave its response an invalid Content-Length or Transfer-Encoding: answered a generic 500");
    HttpError::internal().into_response()
}

/// The routing of an app that has layers: to a route's own stack, or to the route; where no
/// route matches the path, to the service mounted under its prefix or the fallback.
struct Routing {
    engine: Arc<Engine>,
    /// Each route's stack, by the index of its definition; `None` for a route without layers.
    stacks: Vec<Option<InnerService>>,
    /// Each route's groups' layers around the app's 405, by the index of its definition;
    /// `None` for a route without group layers.
    miss_stacks: Vec<Option<InnerService>>,
    mounts: Vec<(String, InnerService)>,
    fallback: Option<InnerService>,
}

impl Routing {
    /// The service for a path no route has: the one mounted under its prefix (the request's
    /// path made relative to it, as axum's `nest_service` does), or the fallback.
    /// Of two prefixes that match (`/api` and `/api/v2`), the longer takes the request.
    fn mounted(&self, request: &mut http::Request<Body>) -> Option<&InnerService> {
        let path = request.uri().path();
        let longest = self
            .mounts
            .iter()
            .filter_map(|(prefix, service)| {
                let rest = path.strip_prefix(prefix.as_str())?;
                (rest.is_empty() || rest.starts_with('/')).then_some((rest, service))
            })
            .min_by_key(|(rest, _)| rest.len());
        if let Some((rest, service)) = longest {
            let rest = if rest.is_empty() { "/" } else { rest };
            let relative = match request.uri().query() {
                Some(query) => format!("{rest}?{query}"),
                None => rest.to_owned(),
            };
            let mut parts = request.uri().clone().into_parts();
            parts.path_and_query = relative.parse().ok();
            if let Ok(uri) = http::Uri::from_parts(parts) {
                *request.uri_mut() = uri;
                return Some(service);
            }
        }
        self.fallback.as_ref()
    }
}

impl Serve for Routing {
    fn serve(
        &self,
        mut request: http::Request<Body>,
        errors: Option<&Arc<LayerErrorFn>>,
    ) -> BoxFuture<'static, Response> {
        let engine = &self.engine;
        match engine.routes.find(request.method(), request.uri().path()) {
            Ok(Routed { route, params }) => match self.stacks.get(route.def) {
                Some(Some(stack)) => {
                    request.extensions_mut().insert(RouteParams(params));
                    stack.serve(request)
                }
                _ => serve_leaf(engine.clone(), route, request, Some(params)),
            },
            Err(Miss::NotFound) if let Some(service) = self.mounted(&mut request) => {
                // The request's id in its id header, so that the service sees the one the
                // client gets (the app's own, when the client sent none or one not sane: an
                // app mounted in this one would make another).
                // Taken out, so that the request's head (which the service may keep) does not
                // hold the entry point's state (see `OuterRef`).
                if let Some(entry) = take_entry(&mut request) {
                    // Handed on: the service keeps its own time (a `di` app its own request
                    // timeout), this app's no longer cuts it.
                    entry.outer.mark_routed();
                    // A `di` app mounted here learns how its request ended if the layers
                    // answered in its place (a timeout), as this app's own routes do.
                    let outer = OuterRef(Arc::downgrade(&entry.outer));
                    if let Some(name) = &engine.config.request_id_header {
                        let value = entry.id.to_header_value();
                        request.headers_mut().insert(name.clone(), value);
                    }
                    request.extensions_mut().insert(outer);
                }
                // Not the app's: its answer is counted by the entry point, like a layer's;
                // its error answered as the app's layers' are.
                service.serve.serve(request, errors)
            }
            Err(miss @ Miss::MethodNotAllowed(_)) => match self.miss_stack(request.uri().path()) {
                Some(stack) => stack.serve(request),
                None => answer_miss(engine, request, miss),
            },
            Err(miss) => answer_miss(engine, request, miss),
        }
    }
}

impl Routing {
    /// The layers of the groups of the first route at `path` that has group layers, around
    /// the app's 405.
    #[cold]
    fn miss_stack(&self, path: &str) -> Option<&InnerService> {
        self.engine
            .routes
            .routes_at(path)
            .find_map(|route| self.miss_stacks.get(route.def)?.as_ref())
    }
}

/// The app's own 404 or 405 for `request`.
fn answer_miss(
    engine: &Engine,
    mut request: http::Request<Body>,
    miss: Miss,
) -> BoxFuture<'static, Response> {
    let (outer, _, id, _) = entry_of(engine, &mut request);
    if let Some(outer) = outer {
        outer.mark_answered();
    }
    let response = finish(engine, miss.into_response(), &id, request.extensions());
    Box::pin(std::future::ready(response))
}

/// The app's 405, behind the layers of a route's groups: routed again (a layer may have
/// changed the request), and answered as the routing answers a miss.
struct MissLeaf {
    engine: Arc<Engine>,
}

impl Serve for MissLeaf {
    fn serve(
        &self,
        request: http::Request<Body>,
        _errors: Option<&Arc<LayerErrorFn>>,
    ) -> BoxFuture<'static, Response> {
        let engine = &self.engine;
        match engine.routes.find(request.method(), request.uri().path()) {
            // A layer made it a request a route takes: served by that route, without its own
            // layers (this request is inside its groups' layers already).
            Ok(Routed { route, params }) => {
                serve_leaf(engine.clone(), route, request, Some(params))
            }
            Err(miss) => answer_miss(engine, request, miss),
        }
    }
}

/// One route, behind its own layers.
struct RouteLeaf {
    engine: Arc<Engine>,
    route: Arc<Route>,
}

impl Serve for RouteLeaf {
    fn serve(
        &self,
        mut request: http::Request<Body>,
        _errors: Option<&Arc<LayerErrorFn>>,
    ) -> BoxFuture<'static, Response> {
        let params = request
            .extensions_mut()
            .remove::<RouteParams>()
            .map(|params| params.0);
        serve_leaf(self.engine.clone(), self.route.clone(), request, params)
    }
}

/// Serves a routed request inside the layers, and marks it answered once it has its
/// response. Without its path parameters (a layer made a new request), it is routed again.
fn serve_leaf(
    engine: Arc<Engine>,
    route: Arc<Route>,
    mut request: http::Request<Body>,
    params: Option<Vec<(String, String)>>,
) -> BoxFuture<'static, Response> {
    let (outer, client, id, arrived) = entry_of(&engine, &mut request);
    let params = params.unwrap_or_else(|| {
        engine
            .routes
            .find(request.method(), request.uri().path())
            .map(|routed| routed.params)
            .unwrap_or_default()
    });
    let Some(outer) = outer else {
        return serve_routed(engine, route, request, params, client, id, None);
    };
    // From here the route keeps the request timeout, counted from the request's arrival.
    outer.mark_routed();
    // Read by the engine from the request's head (see `OuterRef`).
    request
        .extensions_mut()
        .insert(OuterRef(Arc::downgrade(&outer)));
    let answer = serve_routed(engine, route, request, params, client, id, arrived);
    Box::pin(async move {
        let response = answer.await;
        outer.mark_answered();
        response
    })
}

/// The entry point's part of `request` (see [`take_entry`]); made afresh if it is lost (see
/// [`ENTRY`]).
#[allow(
    clippy::type_complexity,
    reason = "the parts of an `Entry`, or what stands for them"
)]
fn entry_of(
    engine: &Engine,
    request: &mut http::Request<Body>,
) -> (
    Option<Arc<Outer>>,
    Option<std::net::SocketAddr>,
    RequestId,
    Option<tokio::time::Instant>,
) {
    match take_entry(request) {
        Some(Entry {
            outer,
            client,
            id,
            arrived,
        }) => (Some(outer), client, id, arrived),
        None => {
            let header = engine.config.request_id_header.as_ref();
            (None, None, RequestId::of(request.headers(), header), None)
        }
    }
}

pin_project_lite::pin_project! {
    /// The layers' answer to a request, or `None` once its request timeout is past while the
    /// layers still hold it, before they handed it to its route (or a mounted service): then
    /// nothing was set up. Once handed on, the route keeps the deadline itself (a commit under
    /// way when it falls is never cut), and this one is not looked at again. The timer is made
    /// only when the layers first have to wait.
    struct UntilRouted<F> {
        #[pin]
        inner: F,
        deadline: Option<tokio::time::Instant>,
        sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
        outer: Arc<Outer>,
    }
}

impl<F: std::future::Future<Output = Response>> std::future::Future for UntilRouted<F> {
    type Output = Option<Response>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Response>> {
        let this = self.project();
        if let Poll::Ready(response) = this.inner.poll(cx) {
            return Poll::Ready(Some(response));
        }
        let Some(deadline) = *this.deadline else {
            return Poll::Pending;
        };
        // Looked at after the layers were polled: a route they reached in this poll keeps
        // the request from here.
        if this.outer.routed() {
            *this.deadline = None;
            *this.sleep = None;
            return Poll::Pending;
        }
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        sleep.as_mut().poll(cx).map(|()| None)
    }
}
