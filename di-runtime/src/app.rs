//! The app: routes, overrides, configuration, start-up and shutdown of `app` scope.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::HttpError;
use crate::exec::{Pending, Ready, run_stack, start_function, start_node};
use crate::extract::RequestHead;
use crate::graph::{GraphBuilder, Node, Overrides, Plan, Replacement};
use crate::meta::{DepFn, DepMeta, Dependency};
use crate::outcome::Outcome;
use crate::provide::AnyValue;
use crate::response::{BoxError, IntoResponse, Response};
use crate::service::AppService;
use crate::slot::{ArgError, Slot};

/// An application: routes mapped to `#[depends]` handlers, plus overrides and settings.
///
/// Building does no I/O; [`App::start`] (or [`serve`](App::serve), [`bind`](App::bind),
/// [`TestClient::start`](crate::TestClient::start)) checks every route's dependency graph,
/// then sets up the `app`-scoped dependencies.
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[depends]
/// async fn hello() -> &'static str {
///     "hello"
/// }
///
/// let app = App::new().get("/", hello);
/// # let _ = app;
/// ```
#[must_use]
pub struct App {
    routes: Vec<RouteDef>,
    overrides: Overrides,
    values: HashMap<TypeId, AnyValue>,
    config: Config,
    /// When the app itself is used as a `tower::Service`: started on the first `poll_ready`.
    serving: Serving,
}

/// The state of an [`App`] used directly as a `tower::Service`.
#[derive(Default)]
enum Serving {
    #[default]
    Idle,
    Starting(futures_util::future::BoxFuture<'static, Result<Running, BuildError>>),
    Ready(Running),
    Failed(BuildError),
}

struct RouteDef {
    method: Method,
    path: String,
    handler: &'static DepMeta,
    respond: fn(AnyValue) -> Response,
}

/// Settings of an [`App`].
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) body_limit: usize,
    pub(crate) teardown_timeout: Duration,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) shutdown_grace: Duration,
    pub(crate) max_background: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            body_limit: 2 * 1024 * 1024,
            teardown_timeout: Duration::from_secs(30),
            request_timeout: None,
            shutdown_grace: Duration::from_secs(30),
            max_background: 1024,
        }
    }
}

impl Default for App {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! method_routes {
    ($($(#[$doc:meta])* $name:ident => $method:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name<F, H>(self, path: &str, handler: F) -> Self
        where
            F: DepFn<H>,
            H: Dependency,
            H::Output: IntoResponse,
        {
            self.route(Method::$method, path, handler)
        }
    )*};
}

impl App {
    /// An app with no routes.
    pub fn new() -> Self {
        Self {
            routes: Vec::new(),
            overrides: HashMap::new(),
            values: HashMap::new(),
            config: Config::default(),
            serving: Serving::Idle,
        }
    }

    /// Routes `method` requests for `path` to `handler`. Paths use `{name}` parameters and a
    /// final `{*rest}` catch-all, as in `/notes/{id}`. Invalid or conflicting paths are
    /// reported by [`App::start`].
    pub fn route<F, H>(mut self, method: Method, path: &str, handler: F) -> Self
    where
        F: DepFn<H>,
        H: Dependency,
        H::Output: IntoResponse,
    {
        let _ = handler;
        self.routes.push(RouteDef {
            method,
            path: path.to_owned(),
            handler: H::meta(),
            respond: respond::<H::Output>,
        });
        self
    }

    method_routes! {
        /// Routes `GET` requests for `path` to `handler`.
        get => GET;
        /// Routes `POST` requests for `path` to `handler`.
        post => POST;
        /// Routes `PUT` requests for `path` to `handler`.
        put => PUT;
        /// Routes `PATCH` requests for `path` to `handler`.
        patch => PATCH;
        /// Routes `DELETE` requests for `path` to `handler`.
        delete => DELETE;
    }

    /// Replaces the dependency `original` with `replacement` in every route, without touching
    /// the handlers; both must provide the same type. The replacement keeps the original's
    /// declared scope and cache identity (as FastAPI's `dependency_overrides` does); its own
    /// parameters are resolved and checked like any dependency's.
    ///
    /// ```
    /// use di_runtime::prelude::*;
    ///
    /// #[depends]
    /// async fn user_name() -> String { "from the database".into() }
    /// #[depends]
    /// async fn fake_user_name() -> String { "alice".into() }
    /// #[depends]
    /// async fn whoami(#[dep(user_name)] name: &String) -> String { name.clone() }
    ///
    /// let app = App::new().get("/me", whoami).override_dep(user_name, fake_user_name);
    /// # let _ = app;
    /// ```
    pub fn override_dep<FA, A, FB, B>(mut self, original: FA, replacement: FB) -> Self
    where
        FA: DepFn<A>,
        FB: DepFn<B>,
        A: Dependency,
        B: Dependency<Output = A::Output>,
    {
        let _ = (original, replacement);
        self.overrides
            .insert(TypeId::of::<A>(), Replacement::Dep(B::meta()));
        self.values.remove(&TypeId::of::<A>());
        self
    }

    /// Gives the value of the dependency `dep` up front, for every route: `dep` does not run,
    /// and its users receive `value` as an `app`-scoped value. For settings that `main`
    /// computes (a database path from the command line), and for tests.
    ///
    /// ```
    /// use di_runtime::prelude::*;
    ///
    /// #[derive(Clone)]
    /// struct Settings { db: String }
    ///
    /// #[depends(scope = "app")]
    /// async fn settings() -> Settings { Settings { db: "sqlite::memory:".into() } }
    ///
    /// #[depends]
    /// async fn where_is_the_db(#[dep(settings)] s: &Settings) -> String { s.db.clone() }
    ///
    /// let db = std::env::args().nth(1).unwrap_or_else(|| "notes.db".into());
    /// let app = App::new().get("/db", where_is_the_db).provide(settings, Settings { db });
    /// # let _ = app;
    /// ```
    pub fn provide<F, D>(mut self, dep: F, value: D::Output) -> Self
    where
        F: DepFn<D>,
        D: Dependency,
        D::Output: Sync,
    {
        let _ = dep;
        self.overrides.insert(TypeId::of::<D>(), Replacement::Value);
        self.values.insert(TypeId::of::<D>(), Box::new(value));
        self
    }

    /// The largest request body read for `Json`/`Bytes` inputs (default 2 MiB); a larger one
    /// gets 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// How long one teardown may run before it is abandoned and logged (default 30 s).
    pub fn teardown_timeout(mut self, limit: Duration) -> Self {
        self.config.teardown_timeout = limit;
        self
    }

    /// How long setup plus handler may take (default: no limit). Past it the client gets 503
    /// and teardowns see [`Outcome::Cancelled`] with [`CancelReason::Timeout`](crate::CancelReason::Timeout).
    pub fn request_timeout(mut self, limit: Duration) -> Self {
        self.config.request_timeout = Some(limit);
        self
    }

    /// How long graceful shutdown waits for in-flight requests and bodies before it cuts the
    /// remaining bodies (their teardowns see `Cancelled(Shutdown)`); default 30 s.
    pub fn shutdown_grace(mut self, limit: Duration) -> Self {
        self.config.shutdown_grace = limit;
        self
    }

    /// How many background tasks (`request`-scope teardowns with their `BackgroundTasks`, and
    /// the teardowns of abandoned requests) run at once (default 1024). Past the bound, new
    /// ones wait in line, first come, first served, holding only their values. `handler`-scope
    /// teardowns run in the request's own task and never wait here. Nothing is ever dropped:
    /// every teardown still runs exactly once.
    pub fn max_background_teardowns(mut self, limit: usize) -> Self {
        self.config.max_background = limit.max(1);
        self
    }

    /// Checks every route: paths, cycles, the scope rule, conflicting borrows. Returns every
    /// problem at once.
    pub fn check(&self) -> Result<(), BuildError> {
        self.plan().map(|_| ())
    }

    fn plan(&self) -> Result<Planned, BuildError> {
        let mut problems = Vec::new();
        let mut builder = GraphBuilder::new(&self.overrides);
        let mut router = matchit::Router::new();
        let mut entries: Vec<Vec<(Method, Arc<Route>)>> = Vec::new();
        let mut by_path: HashMap<&str, usize> = HashMap::new();
        for def in &self.routes {
            let what = format!("route {} {}", def.method, def.path);
            let plan = match builder.plan_route(def.handler) {
                Ok(plan) => plan,
                Err(errors) => {
                    problems.extend(errors.into_iter().map(|e| format!("{what}: {e}")));
                    continue;
                }
            };
            let index = match by_path.get(def.path.as_str()) {
                Some(index) => *index,
                None => {
                    if let Err(error) = router.insert(def.path.clone(), entries.len()) {
                        problems.push(format!("{what}: invalid path: {error}"));
                        continue;
                    }
                    by_path.insert(&def.path, entries.len());
                    entries.push(Vec::new());
                    entries.len() - 1
                }
            };
            if entries[index].iter().any(|(m, _)| *m == def.method) {
                problems.push(format!("{what}: registered twice"));
                continue;
            }
            let route = Route {
                name: def.handler.name,
                plan,
                respond: def.respond,
            };
            entries[index].push((def.method.clone(), Arc::new(route)));
        }
        if problems.is_empty() {
            Ok(Planned {
                router,
                entries,
                app_nodes: builder.app.nodes,
            })
        } else {
            Err(BuildError { problems })
        }
    }

    /// Checks the app, then sets up its `app`-scoped dependencies in dependency order. If one
    /// fails, those already set up are torn down (in reverse order) and the error says which.
    pub async fn start(mut self) -> Result<Running, BuildError> {
        let Planned {
            router,
            entries,
            app_nodes,
        } = self.plan()?;
        let app_slots = AppSlots {
            slots: app_nodes.iter().map(|_| Mutex::new(Slot::Empty)).collect(),
        };
        let shared = Arc::new(Shared {
            router,
            entries,
            app_slots,
            config: self.config.clone(),
            tracker: TaskTracker::new(),
            background: Arc::new(Semaphore::new(self.config.max_background)),
            runtime: tokio::runtime::Handle::current(),
            hard_stop: CancellationToken::new(),
            stats: Stats::default(),
            app_exits: Mutex::new(Vec::new()),
        });
        let mut pending = Vec::new();
        for node in &app_nodes {
            if node.preset {
                let value = self.values.remove(&(node.meta.type_id)());
                let stored = shared.app_slots.with(node.slot, |slot| {
                    *slot = value.map_or(Slot::Empty, Slot::Owned);
                    Ok(())
                });
                debug_assert!(stored.is_ok(), "app slots are created for every app node");
                continue;
            }
            match start_app_node(&shared, node).await {
                Ok(Some(p)) => pending.push(p),
                Ok(None) => {}
                Err(error) => {
                    let stack = take_app_stack(&shared, pending);
                    let outcome = Outcome::SetupFailed {
                        dependency: node.meta.name,
                        error: error.clone(),
                    };
                    run_stack(&shared, stack, outcome).await;
                    return Err(BuildError {
                        problems: vec![format!(
                            "`{}` (app scope) failed to set up: {error}",
                            node.meta.name
                        )],
                    });
                }
            }
        }
        if let Ok(mut exits) = shared.app_exits.lock() {
            *exits = pending;
        }
        Ok(Running { shared })
    }
}

fn respond<T: IntoResponse + 'static>(value: AnyValue) -> Response {
    match value.downcast::<T>() {
        Ok(value) => value.into_response(),
        Err(_) => {
            tracing::error!(target: "di", "a handler produced a value of an unexpected type");
            crate::response::internal_error_response()
        }
    }
}

async fn start_app_node(shared: &Arc<Shared>, node: &Node) -> Result<Option<Pending>, HttpError> {
    let head = Arc::new(RequestHead {
        parts: http::Request::new(()).into_parts().0,
        params: Vec::new(),
        body: Bytes::new(),
        background: crate::BackgroundTasks::default(),
    });
    let (started, handle) = start_function(node, &mut [], &shared.app_slots, &mut [], &head)?;
    let ready = start_node(node.meta.name, node.scope, node.slot, started, handle)
        .await
        .map_err(|(outcome, _)| outcome.error().cloned().unwrap_or_else(HttpError::internal))?;
    let (value, pending) = match ready {
        Ready::Value(value) => (value, None),
        Ready::Provided(value, pending) => (value, Some(pending)),
    };
    shared
        .app_slots
        .with(node.slot, |slot| {
            *slot = Slot::Owned(value);
            Ok(())
        })
        .map_err(HttpError::internal_from)?;
    Ok(pending)
}

fn take_app_stack(shared: &Shared, pending: Vec<Pending>) -> Vec<(Pending, Slot)> {
    pending
        .into_iter()
        .map(|p| {
            let slot = shared.app_slots.take(p.slot);
            (p, slot)
        })
        .collect()
}

struct Planned {
    router: matchit::Router<usize>,
    entries: Vec<Vec<(Method, Arc<Route>)>>,
    app_nodes: Vec<Node>,
}

/// A route's handler and plan.
pub(crate) struct Route {
    pub(crate) name: &'static str,
    pub(crate) plan: Plan,
    pub(crate) respond: fn(AnyValue) -> Response,
}

/// The values of `app`-scoped dependencies, shared by all requests.
pub(crate) struct AppSlots {
    slots: Vec<Mutex<Slot>>,
}

impl AppSlots {
    pub(crate) fn with<R>(
        &self,
        index: usize,
        f: impl FnOnce(&mut Slot) -> Result<R, ArgError>,
    ) -> Result<R, ArgError> {
        let slot = self
            .slots
            .get(index)
            .ok_or_else(|| ArgError(format!("no app value {index}")))?;
        let mut slot = slot
            .lock()
            .map_err(|_| ArgError("an app value lock was poisoned".into()))?;
        f(&mut slot)
    }

    fn take(&self, index: usize) -> Slot {
        self.with(index, |slot| Ok(std::mem::take(slot)))
            .unwrap_or_default()
    }
}

/// State shared by every request of a running app.
pub(crate) struct Shared {
    router: matchit::Router<usize>,
    entries: Vec<Vec<(Method, Arc<Route>)>>,
    pub(crate) app_slots: AppSlots,
    pub(crate) config: Config,
    tracker: TaskTracker,
    background: Arc<Semaphore>,
    runtime: tokio::runtime::Handle,
    pub(crate) hard_stop: CancellationToken,
    pub(crate) stats: Stats,
    app_exits: Mutex<Vec<Pending>>,
}

impl Shared {
    /// Runs background work (teardowns) on the app's runtime, tracked for graceful shutdown,
    /// once one of the bounded background places is free.
    pub(crate) fn spawn_background<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let place = self.background_place();
        self.spawn_tracked(async move {
            let _place = place.await;
            future.await
        })
    }

    /// Waits for a free background place. The semaphore is never closed, so this only waits.
    pub(crate) fn background_place(
        &self,
    ) -> impl Future<Output = Option<OwnedSemaphorePermit>> + Send + 'static {
        let places = self.background.clone();
        async move { places.acquire_owned().await.ok() }
    }

    /// Runs `future` on the app's runtime, tracked, without taking a background place (for a
    /// task that first waits for another one).
    pub(crate) fn spawn_tracked<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // Background teardowns keep the span of the request they belong to.
        let future = tracing::Instrument::in_current_span(future);
        self.tracker.spawn_on(future, &self.runtime)
    }

    pub(crate) fn teardown_failures(&self) -> u64 {
        self.stats.teardown_failures.load(Ordering::Relaxed)
    }

    pub(crate) async fn settle(&self) {
        self.tracker.close();
        self.tracker.wait().await;
        self.tracker.reopen();
    }

    /// Finds the route for a request and its percent-decoded path parameters.
    pub(crate) fn route(&self, method: &Method, path: &str) -> Result<Routed, Miss> {
        let Ok(found) = self.router.at(path) else {
            return Err(Miss::NotFound);
        };
        let methods = &self.entries[*found.value];
        // `HEAD` is served by the `GET` route unless one is registered (hyper sends no body).
        let found_route = methods.iter().find(|(m, _)| m == method).or_else(|| {
            (*method == Method::HEAD)
                .then(|| methods.iter().find(|(m, _)| *m == Method::GET))
                .flatten()
        });
        let Some((_, route)) = found_route else {
            let allow: Vec<&str> = methods.iter().map(|(m, _)| m.as_str()).collect();
            return Err(Miss::MethodNotAllowed(allow.join(", ")));
        };
        let params = found
            .params
            .iter()
            .map(|(k, v)| {
                let decoded = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
                (k.to_owned(), decoded.into_owned())
            })
            .collect();
        Ok(Routed {
            route: route.clone(),
            params,
        })
    }
}

/// A request's route and path parameters.
pub(crate) struct Routed {
    pub(crate) route: Arc<Route>,
    pub(crate) params: Vec<(String, String)>,
}

/// Why no route matched.
pub(crate) enum Miss {
    NotFound,
    /// The path exists for these methods (the `Allow` header).
    MethodNotAllowed(String),
}

impl IntoResponse for Miss {
    fn into_response(self) -> Response {
        match self {
            Miss::NotFound => HttpError::new(StatusCode::NOT_FOUND, "Not Found").into_response(),
            Miss::MethodNotAllowed(allow) => {
                let mut response =
                    HttpError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
                        .into_response();
                if let Ok(value) = http::HeaderValue::from_str(&allow) {
                    response.headers_mut().insert(http::header::ALLOW, value);
                }
                response
            }
        }
    }
}

/// Counters of a running app.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    teardown_failures: AtomicU64,
    background_failures: AtomicU64,
}

impl Stats {
    pub(crate) fn record_teardown_failure(&self) {
        self.teardown_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_background_failures(&self, failed: u64) {
        self.background_failures
            .fetch_add(failed, Ordering::Relaxed);
    }
}

/// A started app: its `app`-scoped dependencies are set up and it can serve requests.
pub struct Running {
    pub(crate) shared: Arc<Shared>,
}

impl Running {
    /// The app as a [`tower_service::Service`] (cheap to clone).
    pub fn service(&self) -> AppService {
        AppService {
            shared: self.shared.clone(),
        }
    }

    /// How many teardowns have failed, timed out or panicked so far. A `request`-scope
    /// teardown failure cannot change a response that was already sent, so it is logged and
    /// counted here.
    pub fn teardown_failures(&self) -> u64 {
        self.shared.teardown_failures()
    }

    /// How many [`BackgroundTasks`](crate::BackgroundTasks) have panicked or run past their
    /// deadline so far (each is logged).
    pub fn background_task_failures(&self) -> u64 {
        self.shared
            .stats
            .background_failures
            .load(Ordering::Relaxed)
    }

    /// How many background teardowns are running now.
    pub fn teardowns_in_flight(&self) -> usize {
        self.shared.tracker.len()
    }

    /// Waits until no background teardown is running.
    pub async fn settle(&self) {
        self.shared.settle().await;
    }

    /// Stops the app: waits for background teardowns (each bounded by the teardown timeout),
    /// then tears down `app`-scoped dependencies in reverse order with [`Outcome::Stopped`].
    pub async fn shutdown(self) {
        self.shared.hard_stop.cancel();
        self.settle().await;
        let pending = match self.shared.app_exits.lock() {
            Ok(mut exits) => std::mem::take(&mut *exits),
            Err(_) => Vec::new(),
        };
        let stack = take_app_stack(&self.shared, pending);
        run_stack(&self.shared, stack, Outcome::Stopped).await;
    }
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running").finish_non_exhaustive()
    }
}

/// Why an app could not be built or started: every problem found, each naming the route and,
/// for graph problems, the chain of functions.
#[derive(Clone, Debug)]
pub struct BuildError {
    problems: Vec<String>,
}

impl BuildError {
    /// Each problem, one sentence each.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the app cannot start:")?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildError {}

/// Why serving failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError {
    /// The app could not be built or started.
    Build(BuildError),
    /// The address could not be bound.
    Io(std::io::Error),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Build(e) => e.fmt(f),
            ServeError::Io(e) => write!(f, "could not listen: {e}"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServeError::Build(e) => Some(e),
            ServeError::Io(e) => Some(e),
        }
    }
}

impl From<BuildError> for ServeError {
    fn from(e: BuildError) -> Self {
        ServeError::Build(e)
    }
}

impl From<std::io::Error> for ServeError {
    fn from(e: std::io::Error) -> Self {
        ServeError::Io(e)
    }
}

/// Used by the service for request bodies of any type.
pub(crate) type RequestBodyError = BoxError;

/// The app itself as a [`tower_service::Service`], for servers and middleware of the tower
/// ecosystem: the first `poll_ready` starts it (checks the graph, sets up `app` scope) and
/// fails with the [`BuildError`] if it cannot start. `app` scope is then never torn down,
/// because a service has no end; to tear it down at shutdown, use
/// [`App::start`] and [`Running::service`] (and [`Running::shutdown`]) instead, as
/// [`App::serve`] does.
///
/// ```
/// use di_runtime::prelude::*;
/// use tower_service::Service;
///
/// #[depends]
/// async fn hello() -> &'static str { "hello" }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// type Request = http::Request<http_body_util::Empty<Bytes>>;
///
/// let mut app = App::new().get("/", hello);
/// std::future::poll_fn(|cx| Service::<Request>::poll_ready(&mut app, cx))
///     .await
///     .expect("the app starts");
/// let response = app.call(Request::new(http_body_util::Empty::new())).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # }
/// ```
impl<B> tower_service::Service<http::Request<B>> for App
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<RequestBodyError>,
{
    type Response = Response;
    type Error = BuildError;
    type Future = futures_util::future::BoxFuture<'static, Result<Response, BuildError>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BuildError>> {
        use std::task::Poll;
        loop {
            match &mut self.serving {
                Serving::Ready(_) => return Poll::Ready(Ok(())),
                Serving::Failed(error) => return Poll::Ready(Err(error.clone())),
                Serving::Starting(starting) => match starting.as_mut().poll(cx) {
                    Poll::Ready(Ok(running)) => self.serving = Serving::Ready(running),
                    Poll::Ready(Err(error)) => self.serving = Serving::Failed(error),
                    Poll::Pending => return Poll::Pending,
                },
                Serving::Idle => {
                    let app = App {
                        routes: std::mem::take(&mut self.routes),
                        overrides: std::mem::take(&mut self.overrides),
                        values: std::mem::take(&mut self.values),
                        config: self.config.clone(),
                        serving: Serving::Idle,
                    };
                    self.serving = Serving::Starting(Box::pin(app.start()));
                }
            }
        }
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match &self.serving {
            Serving::Ready(running) => {
                let response = running.service().call_request(request);
                Box::pin(async move { Ok(response.await) })
            }
            // `call` before `poll_ready` said ready breaks the tower contract; answer 503
            // instead of panicking.
            _ => {
                let error = HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "Service not started");
                Box::pin(std::future::ready(Ok(error.into_response())))
            }
        }
    }
}
