//! [`App`]: the builder users start from. Routes, overrides, values given up front and
//! settings; [`App::start`] plans every route and sets up `app` scope.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use tokio_util::sync::CancellationToken;

use crate::app::error::BuildError;
use crate::app::group::{Group, method_routes, path_problem, route_def};
use crate::app::layer::{Around, InnerService, LayerErrorFn, TowerLayer, build_layers};
#[cfg(feature = "openapi")]
use crate::app::openapi::{OpenApiConfig, routes as openapi_routes, served_type_id};
use crate::app::running::Running;
use crate::contract::meta::{DepFn, Dependency};
use crate::contract::scope::Scope;
use crate::contract::slot::{BorrowCell, cell_of};
#[cfg(feature = "openapi")]
use crate::openapi::build::document;
#[cfg(feature = "openapi")]
use crate::openapi::model::OpenApi;
use crate::plan::graph::Graph;
use crate::plan::node::{GroupDep, Origin, Overrides, Replacement, SetLimits};
use crate::plan::routes::{Planned, RouteDef, plan_routes, prefix_problem};
use crate::response::body::{Body, BoxError, Response};
use crate::response::check::FRAMING_HEADERS;
use crate::response::into::IntoResponse;
use crate::run::app_scope::{StartError, start_app_scope};
use crate::run::config::Config;
use crate::run::engine::Engine;

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
    /// `App::dependency`: run for every route, before its groups' and its own.
    uses: Vec<GroupDep>,
    /// Problems found while building (a bad group prefix), reported by `check`.
    problems: Vec<String>,
    overrides: Overrides,
    /// `App::max_concurrency`: limits that replace the declared ones.
    limits: SetLimits,
    values: HashMap<TypeId, Arc<dyn BorrowCell>>,
    config: Config,
    /// `App::with_openapi`: the document's title and where it and the page are served.
    #[cfg(feature = "openapi")]
    openapi: Option<OpenApiConfig>,
    /// `App::layer`: around the routing (404 and 405 included), the last added outermost.
    layers: Vec<Arc<dyn TowerLayer>>,
    /// `App::route_layer`: around every route, outside its groups' layers.
    route_layers: Vec<Arc<dyn TowerLayer>>,
    /// Each route's own layers (its groups', innermost first), beside `routes`.
    own_layers: Vec<Vec<Arc<dyn TowerLayer>>>,
    /// `App::nest_service`: services under a prefix, where no route matches.
    mounts: Vec<(String, InnerService)>,
    /// `App::map_layer_error`.
    layer_errors: Option<Arc<LayerErrorFn>>,
    /// `App::fallback_service`.
    fallback: Option<InnerService>,
    /// When the app itself is used as a `tower::Service`: started on the first `poll_ready`.
    pub(crate) serving: Serving,
}

/// The state of an [`App`] used directly as a `tower::Service`.
#[derive(Default)]
pub(crate) enum Serving {
    #[default]
    Idle,
    Starting(futures_util::future::BoxFuture<'static, Result<Running, BuildError>>),
    Ready(Running),
    Failed(BuildError),
}

impl Default for App {
    fn default() -> Self {
        Self::new()
    }
}

/// The longest time limit an app keeps: 100 years, as good as none. A longer one (such as
/// `Duration::MAX`, for "never") is taken as this, so that no deadline computed from it
/// overflows the clock.
const LONGEST_LIMIT: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// What is wrong with the paths `config` serves the OpenAPI document at: the document is
/// served at `json_path`, the page at `docs_path` and its files under it, each a path that
/// starts with `/` and does not end with one (`docs_path` not `/`).
#[cfg(feature = "openapi")]
fn openapi_path_problems(config: &OpenApiConfig) -> Vec<String> {
    let slashed = |path: &str| path.starts_with('/') && (path == "/" || !path.ends_with('/'));
    let mut problems = Vec::new();
    if !slashed(&config.json_path) {
        problems.push(format!(
            "OpenAPI json_path `{}`: a path starts with `/` and does not end with `/`",
            config.json_path
        ));
    }
    if !slashed(&config.docs_path) || config.docs_path == "/" {
        problems.push(format!(
            "OpenAPI docs_path `{}`: a path starts with `/` and does not end with `/`, and is not `/` itself",
            config.docs_path
        ));
    }
    problems
}

/// The headers HTTP uses for a message's target or its content, beside those of its framing
/// and connection ([`FRAMING_HEADERS`]: a response's `content-length` replaced by a request id
/// puts its connection out of step): none can carry a request id (`App::request_id_header`).
const CONTENT_HEADERS: [&str; 3] = ["host", "content-type", "content-encoding"];

/// The headers a response carries for a meaning of their own in HTTP (RFC 9110, 9111, 6265
/// and the common extensions): a request id in one replaces it on every response, so a
/// redirect loses its `Location`, a login its cookie, a 503 its `Retry-After`
/// (`App::request_id_header`).
const RESPONSE_MEANING_HEADERS: [&str; 28] = [
    "accept-ranges",
    "access-control-allow-credentials",
    "access-control-allow-headers",
    "access-control-allow-methods",
    "access-control-allow-origin",
    "access-control-expose-headers",
    "access-control-max-age",
    "age",
    "allow",
    "alt-svc",
    "cache-control",
    "content-disposition",
    "content-language",
    "content-location",
    "content-range",
    "content-security-policy",
    "date",
    "etag",
    "expires",
    "last-modified",
    "link",
    "location",
    "proxy-authenticate",
    "retry-after",
    "set-cookie",
    "strict-transport-security",
    "vary",
    "www-authenticate",
];

/// The headers a request carries the client's credentials in: a request id read from one
/// would be the client's secret, sent back in the response and written in the request's log
/// lines (`App::request_id_header`).
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// What is wrong with `name` as the header of the request id (`App::request_id_header`), if
/// anything: one of HTTP's own, one with a meaning of its own in a response, or one that
/// carries the client's credentials.
fn request_id_header_problem(name: &http::HeaderName) -> Option<String> {
    let name = name.as_str();
    let why = if FRAMING_HEADERS.contains(&name) || CONTENT_HEADERS.contains(&name) {
        format!(
            "HTTP uses `{name}` for the message's framing, its connection or its content, so it cannot carry a request id (each response's would be replaced by the id)"
        )
    } else if RESPONSE_MEANING_HEADERS.contains(&name) {
        format!(
            "a response's `{name}` has a meaning of its own in HTTP, which the request id would replace on every response"
        )
    } else if CREDENTIAL_HEADERS.contains(&name) {
        format!(
            "a request's `{name}` carries the client's credentials, which would be taken as its id, sent back in the response and written in the request's log lines"
        )
    } else {
        return None;
    };
    Some(format!(
        "`App::request_id_header(\"{name}\")`: {why}; name a header of its own, such as `x-request-id`"
    ))
}

/// `limit`, at most [`LONGEST_LIMIT`].
fn capped(limit: Duration) -> Duration {
    limit.min(LONGEST_LIMIT)
}

impl App {
    /// An app with no routes.
    pub fn new() -> Self {
        Self {
            routes: Vec::new(),
            uses: Vec::new(),
            problems: Vec::new(),
            overrides: HashMap::new(),
            limits: HashMap::new(),
            values: HashMap::new(),
            config: Config::default(),
            #[cfg(feature = "openapi")]
            openapi: None,
            layers: Vec::new(),
            route_layers: Vec::new(),
            own_layers: Vec::new(),
            mounts: Vec::new(),
            fallback: None,
            layer_errors: None,
            serving: Serving::Idle,
        }
    }

    /// Routes `method` requests for `path` to `handler`. Paths use `{name}` parameters and a
    /// final `{*rest}` catch-all, as in `/notes/{id}`, at most one parameter per segment, each
    /// name once; a literal brace is doubled, `{{` or `}}`. Literal text is matched as a client
    /// sends it, percent-encoded where a URI cannot hold it as it is: write `/caf%C3%A9` for
    /// `/café` (a path parameter's value is decoded). Invalid paths (a brace without its
    /// pair, a parameter named twice, a catch-all before the end, axum 0.7's `:id` or
    /// `*rest` for a whole segment), conflicting paths, and one
    /// that no request could match (`/café`, `/search?q=1`), are reported by
    /// [`App::check`] and [`App::start`], each with the fix.
    pub fn route<F, H>(mut self, method: Method, path: &str, handler: F) -> Self
    where
        F: DepFn<H>,
        H: Dependency,
        H::Output: IntoResponse,
    {
        let _ = handler;
        if let Some(problem) = path_problem(&method, path) {
            self.problems.push(problem);
        }
        self.routes.push(route_def::<H>(method, path));
        self.own_layers.push(Vec::new());
        self
    }

    /// Runs the dependency `dep` for every route of the app, for its side effect (an
    /// authentication check that answers 401 by failing) or its teardown, without a parameter
    /// taking its value: FastAPI's `FastAPI(dependencies=[Depends(dep)])`. For the routes of a
    /// [`Group`], see [`Group::dependency`] and [`App::nest`].
    ///
    /// Such a dependency is planned exactly as if the handler took it as its first parameters:
    /// a route sets up the app's dependencies, then those of each group it is in (outer group
    /// first), each in the order they were added, then the handler's own dependencies in
    /// parameter order, as FastAPI runs a router's `dependencies` before the path operation's.
    /// It is cached with every other use of the same function in the request (a handler that
    /// also takes it gets the same instance, set up once, at its first use), lives in its own
    /// scope (torn down in reverse order of setup, `handler` scope before the response head),
    /// may be replaced by [`override_dep`](App::override_dep), takes its
    /// `max_concurrency` places, and is checked by [`App::check`] like any dependency; a
    /// problem names where it was added ("dependency `auth` of group `/admin`: ..."). If its
    /// setup fails, the error is the response and the handler does not run.
    ///
    /// ```
    /// use di_runtime::prelude::*;
    ///
    /// #[depends]
    /// async fn audit(y: Yield<()>) {
    ///     let ((), outcome) = y.provide(()).await;
    ///     println!("request ended: {outcome}");
    /// }
    /// #[depends]
    /// async fn hello() -> &'static str { "hello" }
    ///
    /// let app = App::new().dependency(audit).get("/", hello);
    /// # app.check().unwrap();
    /// ```
    pub fn dependency<F, D>(mut self, dep: F) -> Self
    where
        F: DepFn<D>,
        D: Dependency,
    {
        let _ = dep;
        self.uses.push(GroupDep {
            meta: D::meta(),
            from: Origin::App,
        });
        self
    }

    /// Mounts the routes of `group` under its prefix, running its dependencies (after the
    /// app's) for each: FastAPI's `app.include_router(router)`.
    ///
    /// ```
    /// use di_runtime::prelude::*;
    /// use di_runtime::HttpBearer;
    ///
    /// #[depends]
    /// async fn auth(bearer: HttpBearer) -> Result<(), HttpError> {
    ///     if bearer.token() == "secret" { Ok(()) } else { Err(HttpError::new(StatusCode::FORBIDDEN, "Forbidden")) }
    /// }
    /// #[depends]
    /// async fn stats() -> &'static str { "42 users" }
    /// #[depends]
    /// async fn hello() -> &'static str { "hello" }
    ///
    /// let app = App::new()
    ///     .get("/", hello)
    ///     .nest(Group::new("/admin").dependency(auth).get("/stats", stats));
    /// # app.check().unwrap();
    /// ```
    pub fn nest(mut self, group: Group) -> Self {
        let (routes, layers, problems) = group.mount();
        self.routes.extend(routes);
        self.own_layers.extend(layers);
        self.problems.extend(problems);
        self
    }

    /// Puts a tower layer around the whole app: every request goes through it before it is
    /// routed, so it also sees the app's own answers to unknown paths (404) and methods (405),
    /// as axum's `Router::layer` does. Each call wraps the layers added before (the last
    /// added is the outermost). For layers around routes only, see
    /// [`route_layer`](App::route_layer) and [`Group::layer`].
    ///
    /// Any [`tower_layer::Layer`] of the tower ecosystem fits (see [`TowerLayer`]): tower-http's
    /// `TraceLayer`, `CorsLayer`, `CompressionLayer`, `TimeoutLayer`, ... What the runtime
    /// promises holds through them:
    ///
    /// - `request`-scope teardowns and background tasks run after the last byte of the body
    ///   the client gets (a compressed body, not the handler's), and see
    ///   [`Outcome::Success`](crate::Outcome::Success) with its status;
    /// - a layer that answers in the handler's place after calling it (a timeout) makes what
    ///   was set up see [`Cancelled(Timeout)`](crate::CancelReason::Timeout), exactly once
    ///   (a client that goes away still gives `Cancelled(ClientGone)`);
    /// - a layer that answers without calling the app (a CORS preflight) sets nothing up; its
    ///   answer is counted and carries the request id like any other.
    ///
    /// An app without layers pays nothing for them; one with layers pays a boxed request
    /// body and a few allocations a request.
    ///
    /// ```
    /// use di_runtime::prelude::*;
    /// use std::convert::Infallible;
    ///
    /// // A layer that adds a header to every response (tower-http has ready-made ones).
    /// #[derive(Clone)]
    /// struct Served<S>(S);
    /// impl<S, B> tower_service::Service<http::Request<B>> for Served<S>
    /// where
    ///     S: tower_service::Service<http::Request<B>, Response = Response, Error = Infallible>,
    ///     S::Future: Send + 'static,
    /// {
    ///     type Response = Response;
    ///     type Error = Infallible;
    ///     type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;
    ///     fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
    ///         self.0.poll_ready(cx)
    ///     }
    ///     fn call(&mut self, request: http::Request<B>) -> Self::Future {
    ///         let answer = self.0.call(request);
    ///         Box::pin(async move {
    ///             let mut response = answer.await?;
    ///             response.headers_mut().insert("served-by", http::HeaderValue::from_static("di"));
    ///             Ok(response)
    ///         })
    ///     }
    /// }
    /// #[derive(Clone)]
    /// struct ServedLayer;
    /// impl<S> tower_layer::Layer<S> for ServedLayer {
    ///     type Service = Served<S>;
    ///     fn layer(&self, inner: S) -> Served<S> { Served(inner) }
    /// }
    ///
    /// #[depends]
    /// async fn hello() -> &'static str { "hello" }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let client = TestClient::start(App::new().get("/", hello).layer(ServedLayer)).await.unwrap();
    /// assert_eq!(client.get("/").send().await.header("served-by"), Some("di"));
    /// assert_eq!(client.get("/nowhere").send().await.header("served-by"), Some("di"));
    /// # }
    /// ```
    pub fn layer<L: TowerLayer>(mut self, layer: L) -> Self {
        self.layers.push(Arc::new(layer));
        self
    }

    /// The response to an error of a layer added with [`layer`](App::layer),
    /// [`route_layer`](App::route_layer) or [`Group::layer`](crate::Group::layer): a layer
    /// whose service fails rather than answers (tower's `TimeoutLayer` with its `Elapsed`,
    /// `LoadShedLayer` with its `Overloaded`, a `BufferLayer` whose worker is gone) is
    /// answered a generic 500 otherwise, logged at ERROR with the request's id. `map` is given
    /// the error (downcast it to the layer's own type: `error.is::<Overloaded>()`) and returns
    /// the response, or `None` for the generic 500; the answer is logged at INFO with its
    /// status. A `map` that panics is a generic 500. This is axum's `HandleErrorLayer`, once
    /// for every layer of the app, without axum. The errors of a service mounted with
    /// [`nest_service`](App::nest_service) or [`fallback_service`](App::fallback_service) are
    /// answered the same way.
    ///
    /// ```
    /// use di_runtime::prelude::*;
    /// use di_runtime::{Body, Response};
    /// use std::time::Duration;
    ///
    /// #[depends]
    /// async fn slow() -> &'static str {
    ///     tokio::time::sleep(Duration::from_secs(60)).await;
    ///     "late"
    /// }
    ///
    /// /// tower's `Elapsed`, as a layer of another crate fails (di does not depend on tower).
    /// #[derive(Debug)]
    /// struct Elapsed;
    /// impl std::fmt::Display for Elapsed {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("request timed out") }
    /// }
    /// impl std::error::Error for Elapsed {}
    ///
    /// /// A layer whose service fails every request, as tower's `TimeoutLayer` fails a slow one.
    /// #[derive(Clone)]
    /// struct Fails;
    /// impl tower_service::Service<http::Request<Body>> for Fails {
    ///     type Response = Response;
    ///     type Error = Elapsed;
    ///     type Future = std::future::Ready<Result<Response, Elapsed>>;
    ///     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Elapsed>> {
    ///         std::task::Poll::Ready(Ok(()))
    ///     }
    ///     fn call(&mut self, _: http::Request<Body>) -> Self::Future {
    ///         std::future::ready(Err(Elapsed))
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fails = tower_layer::layer_fn(|_inner| Fails);
    /// let app = App::new()
    ///     .get("/slow", slow)
    ///     .layer(fails)
    ///     .map_layer_error(|error| {
    ///         error.is::<Elapsed>().then(|| StatusCode::GATEWAY_TIMEOUT.into_response())
    ///     });
    /// let client = TestClient::start(app).await.unwrap();
    /// assert_eq!(client.get("/slow").send().await.status(), StatusCode::GATEWAY_TIMEOUT);
    /// # }
    /// ```
    pub fn map_layer_error<F>(mut self, map: F) -> Self
    where
        F: Fn(&BoxError) -> Option<Response> + Send + Sync + 'static,
    {
        self.layer_errors = Some(Arc::new(map));
        self
    }

    /// Mounts any tower service (an axum `Router`, a `ServeDir`, another framework's app)
    /// under `prefix`: a request whose path is `prefix` or starts with `prefix/` and that no
    /// route of the app matches goes to `service`, its path made relative to the prefix
    /// (`/legacy/users?page=2` reaches it as `/users?page=2`, `/legacy` as `/`), as axum's
    /// `Router::nest_service` does. The app's routes come first: a path that a route has,
    /// with another method, is still the app's 405.
    ///
    /// The app's [`layer`](App::layer)s are around it, not its route layers; its answers are
    /// counted and carry the request id like the app's own. Its errors are answered 500 and
    /// logged, or as [`map_layer_error`](App::map_layer_error) makes of them. A prefix is literal text (no `{name}` parameter), starts with `/` and does not
    /// end with `/`, and is another service's only (reported by [`App::check`]); of two
    /// prefixes that match a path (`/api` and `/api/v2`), the longer takes it.
    ///
    /// ```
    /// use di_runtime::prelude::*;
    /// use std::convert::Infallible;
    ///
    /// #[depends]
    /// async fn hello() -> &'static str { "hello" }
    ///
    /// # #[derive(Clone)] struct ServiceFn<F>(F);
    /// # impl<F, Fut, R> tower_service::Service<http::Request<di_runtime::Body>> for ServiceFn<F>
    /// # where F: FnMut(http::Request<di_runtime::Body>) -> Fut, Fut: Future<Output = Result<R, Infallible>> {
    /// #     type Response = R; type Error = Infallible; type Future = Fut;
    /// #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> { std::task::Poll::Ready(Ok(())) }
    /// #     fn call(&mut self, r: http::Request<di_runtime::Body>) -> Fut { (self.0)(r) }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Any `tower::Service` of `http::Request<di_runtime::Body>` fits (an axum `Router`);
    /// // here, a closure made a service.
    /// let legacy = ServiceFn(|request: http::Request<di_runtime::Body>| async move {
    ///     Ok::<_, Infallible>(http::Response::new(format!("legacy {}", request.uri().path())))
    /// });
    /// let app = App::new().get("/hello", hello).nest_service("/legacy", legacy);
    /// let client = TestClient::start(app).await.unwrap();
    /// assert_eq!(client.get("/legacy/users").send().await.text().await.unwrap(), "legacy /users");
    /// assert_eq!(client.get("/hello").send().await.text().await.unwrap(), "hello");
    /// # }
    /// ```
    pub fn nest_service<S, B>(mut self, prefix: &str, service: S) -> Self
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
        if let Some(problem) = prefix_problem(prefix) {
            self.problems
                .push(format!("service nested at `{prefix}`: {problem}"));
        } else if self.mounts.iter().any(|(mounted, _)| mounted == prefix) {
            self.problems.push(format!(
                "service nested at `{prefix}` twice: every request under it goes to the first, so the second would never be reached; nest each at a prefix of its own"
            ));
        }
        self.mounts
            .push((prefix.to_owned(), InnerService::erase(service)));
        self
    }

    /// Sends every request that no route of the app matches (and no service of
    /// [`nest_service`](App::nest_service)) to `service`, its path unchanged, instead of
    /// answering 404: an app adopting `di` route by route in front of an existing one (an
    /// axum `Router`). A path that a route has, with another method, is still the app's 405.
    /// As for [`nest_service`](App::nest_service), the app's layers are around it; a second
    /// call replaces the first.
    pub fn fallback_service<S, B>(mut self, service: S) -> Self
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
        self.fallback = Some(InnerService::erase(service));
        self
    }

    /// Puts a tower layer around every route of the app, whenever the route was added, but
    /// not around the app's own 404 and 405 (axum's `Router::route_layer`). It is outside the
    /// layers of the routes' groups ([`Group::layer`]); each call wraps the route layers added
    /// before. A request reaches it once routed, before it is admitted
    /// ([`max_in_flight`](App::max_in_flight)) or its inputs are read. See [`App::layer`] for
    /// what holds through a layer.
    ///
    /// A CORS layer belongs in [`App::layer`]: a preflight `OPTIONS` request matches no route,
    /// so a route layer never sees it.
    pub fn route_layer<L: TowerLayer>(mut self, layer: L) -> Self {
        self.route_layers.push(Arc::new(layer));
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
    /// the handlers; both must provide the same type.
    ///
    /// The replacement runs with its own scope, as if each use named it directly: the use
    /// site's `#[dep(original, scope = "...")]` if there is one, else the scope the replacement
    /// declares (a generator that declares none is `request`-scoped), else, for a plain
    /// function, the shortest scope of its own dependencies, capped at `request`. Its own
    /// parameters are resolved like any dependency's. It keeps the original's cache identity
    /// (the uses of `original` in a request share one instance per scope) and the original's
    /// `max_concurrency` places, as FastAPI's `dependency_overrides` does.
    ///
    /// [`App::check`] and [`App::start`] check the replaced graph exactly as a graph without
    /// overrides (the scope rule, a response body holding a `handler`-scoped value through
    /// `Held<T>`, cycles, conflicting borrows); a problem names the replacement as
    /// "`fake_tx` (overriding `tx`)".
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
        self.values.insert(TypeId::of::<D>(), cell_of(value));
        self
    }

    /// Sets how many instances of the dependency `dep` may be set up at once in the whole app,
    /// as `#[depends(max_concurrency = N)]` does, in place of the limit its attribute
    /// declares, if any; `None` lifts that limit. For a limit known only at start (a
    /// connection pool's size read from the configuration), or a library's dependency whose
    /// limit the app chooses.
    ///
    /// The limit works exactly as a declared one: a request takes its places before anything
    /// is set up, waits at most [`max_concurrency_wait`](App::max_concurrency_wait) for
    /// them (then 503 with `Retry-After`), and a place is given back when the instance's
    /// teardown ends. It belongs to `dep`'s declaration: an [`override_dep`](App::override_dep)
    /// replacing `dep` runs under it, as under a declared one. [`App::check`] reports a limit
    /// of 0, and one on an `app`-scoped dependency (set up once, it has nothing to limit).
    ///
    /// ```
    /// use di_runtime::prelude::*;
    ///
    /// struct Conn;
    ///
    /// #[depends]
    /// async fn conn(y: Yield<Conn>) {
    ///     let _ = y.provide(Conn).await;
    /// }
    /// #[depends]
    /// async fn query(#[dep(conn)] _c: &Conn) -> &'static str { "ok" }
    ///
    /// let pool_size: usize = std::env::var("POOL_SIZE").ok().and_then(|n| n.parse().ok()).unwrap_or(8);
    /// let app = App::new().get("/", query).max_concurrency(conn, pool_size);
    /// # let _ = app;
    /// ```
    pub fn max_concurrency<F, D>(mut self, dep: F, limit: impl Into<Option<usize>>) -> Self
    where
        F: DepFn<D>,
        D: Dependency,
    {
        let _ = dep;
        let meta = D::meta();
        let limit = limit.into();
        if limit == Some(0) {
            self.problems.push(format!(
                "`App::max_concurrency({name}, 0)` would never let `{name}` run; give 1 or more, or `None` for no limit",
                name = meta.name
            ));
        } else if limit.is_some() && meta.scope == Some(Scope::App) {
            self.problems.push(format!(
                "`App::max_concurrency({name}, ..)`: `{name}` is `app`-scoped, set up once for the whole app, so a limit has nothing to limit; remove it, or make `{name}` `request`- or `handler`-scoped",
                name = meta.name
            ));
        } else {
            self.limits.insert(TypeId::of::<D>(), limit);
        }
        self
    }

    /// The largest request body read whole for `Json`/`Form`/`Bytes` inputs (default 2 MiB);
    /// a larger one gets 413. A body read as a stream ([`BodyStream`](crate::BodyStream),
    /// [`Multipart`](crate::Multipart)) is held to it too: past it the stream yields
    /// [`BodyError::TooLarge`](crate::BodyError::TooLarge), a 413 when returned with `?`. The
    /// same goes for [`body_timeout`](App::body_timeout) and
    /// [`body_min_rate`](App::body_min_rate) (`BodyError::TimedOut`, 408).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// How long reading a whole request body for `Json`/`Form`/`Bytes` inputs may take
    /// (default 30 s), from the moment the handler's route is found. Past it the client gets 408
    /// `{"detail":"Request body timed out"}`, nothing is set up, and an HTTP/1 connection is
    /// closed (`Connection: close`). A body read as a stream
    /// ([`BodyStream`](crate::BodyStream), [`Multipart`](crate::Multipart)) is timed from when
    /// it is first asked for (over HTTP/1, when a client that sent `Expect: 100-continue` is
    /// told to go on), as [`body_min_rate`](App::body_min_rate) is: a slow setup before the
    /// handler reads it takes none of its time. Zero, which would answer 408 to every body
    /// not there with its head, is refused by [`App::check`] and [`App::start`].
    pub fn body_timeout(mut self, limit: Duration) -> Self {
        self.config.body_timeout = capped(limit);
        self
    }

    /// The slowest rate at which a request body may arrive (default 240 bytes/s after a 5 s
    /// grace period, as ASP.NET Core's Kestrel). Once `grace` has passed since the read
    /// began, a body that has delivered fewer than `bytes_per_second` bytes for every second
    /// so far gets the same 408 as [`body_timeout`](App::body_timeout): a client that
    /// trickles its body does not hold its connection until the whole deadline. `0` turns
    /// the rate check off (the deadline still holds).
    ///
    /// The read begins when the body is first asked for (over HTTP/1, when a client that sent
    /// `Expect: 100-continue` is told to go on). hyper's HTTP/2 never sends that `100`: a
    /// client that asked for it waits for it a while and then sends its body, so for such an
    /// HTTP/2 request the rate counts from the body's first byte.
    ///
    /// A `grace` of zero with a rate to check, which would answer 408 to every body not there
    /// with its head (the rate due before a byte of it could arrive), is refused by
    /// [`App::check`] and [`App::start`].
    pub fn body_min_rate(mut self, bytes_per_second: u64, grace: Duration) -> Self {
        self.config.body_min_rate = crate::run::deadline::MinRate {
            bytes_per_second,
            grace: capped(grace),
        };
        self
    }

    /// How long one teardown may run before it is abandoned and logged (default 30 s). Zero,
    /// which would abandon every teardown at its first wait, is refused by [`App::check`] and
    /// [`App::start`].
    pub fn teardown_timeout(mut self, limit: Duration) -> Self {
        self.config.teardown_timeout = capped(limit);
        self
    }

    /// How long a request may take from its arrival to the end of its handler: the time the
    /// app's tower layers hold it before it reaches its route (a concurrency limit's queue, a
    /// rate limit: one still held there when it falls gets the 503 below, having set nothing
    /// up), reading a body read whole, setup and handler (default 60 s; `None` for no
    /// limit). The `handler`-scope
    /// teardowns still run before the response head, within
    /// [`teardown_timeout`](App::teardown_timeout), and are never cut by it: a commit under way
    /// when it falls is finished and the response stands (a 503 would tell the client to
    /// retry a write that was committed), and a rollback of a request it stopped runs before
    /// the 503 is sent. Past it the client
    /// gets 503 with `Retry-After: 1` (and, if the body was still being read, `Connection:
    /// close` on HTTP/1), and the teardowns of what was set up see
    /// [`Outcome::Cancelled`](crate::Outcome::Cancelled) with
    /// [`CancelReason::Timeout`](crate::CancelReason::Timeout). The body also has its own,
    /// shorter deadline and minimum rate ([`App::body_timeout`], [`App::body_min_rate`],
    /// answered 408); a streamed response body is not limited by it. A request that never
    /// waits registers no timer. Zero, which would answer 503 to every request that waits at
    /// all, is refused by [`App::check`] and [`App::start`].
    pub fn request_timeout(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.config.request_timeout = limit.into().map(capped);
        self
    }

    /// How long graceful shutdown waits for in-flight requests and bodies before it cuts the
    /// remaining bodies (their teardowns see `Cancelled(Shutdown)`); default 30 s.
    pub fn shutdown_grace(mut self, limit: Duration) -> Self {
        self.config.shutdown_grace = capped(limit);
        self
    }

    /// How many requests may owe `request`-scope teardowns at once (default 10,000, as many as
    /// [`max_connections`](App::max_connections) lets in by default): the bound
    /// covers every value that waits for such a teardown, from its setup until its teardown
    /// has ended. A request whose route has `request`-scoped generators takes a background
    /// place before anything is set up, once it has its `max_concurrency` places (so a request
    /// waiting for a full pool holds no background place, and keeps no request that needs no
    /// pool waiting); past the bound it waits (up to
    /// [`max_concurrency_wait`](App::max_concurrency_wait), then 503 with `Retry-After`),
    /// holding only those places. A request that owes no `request`-scope teardown but whose
    /// handler added [`BackgroundTasks`](crate::BackgroundTasks) (or whose response body keeps
    /// the list, and may add some) takes its place once the handler has returned, before its
    /// response head is sent, waiting for one as long as it takes: its client waits for its
    /// answer, so a flood of such requests holds at most this many lists of tasks after their
    /// responses (and the rest in requests still in flight, which
    /// [`max_in_flight`](App::max_in_flight) and [`max_connections`](App::max_connections)
    /// bound), never a pile that grows with the rate. `handler`-scope teardowns run in the
    /// request's own task and never wait here. Nothing is ever dropped: every teardown still
    /// runs exactly once.
    ///
    /// Size it to the rate of such requests times how long their teardowns take (and their
    /// bodies, when they stream): a bound of 1,024 holds the routes that have one to about
    /// 20,000 requests per second together with a 50 ms teardown, to about 2,000 with a
    /// 500 ms one, and a route whose responses stream for long with `request`-scope values
    /// (server-sent events) to 1,024 clients at once. Zero is refused by [`App::check`] and
    /// [`App::start`].
    pub fn max_background_teardowns(mut self, limit: usize) -> Self {
        self.config.max_background = limit;
        self
    }

    /// How long a request waits for a place before it gets 503 with `Retry-After` (default
    /// 30 s): a place of a `max_concurrency` dependency, or a background place for its
    /// `request`-scope teardowns (see [`max_background_teardowns`](App::max_background_teardowns)).
    /// A request waits before any of its dependencies is set up. One still waiting when a
    /// graceful shutdown's grace period ends ([`shutdown_grace`](App::shutdown_grace)) gets the
    /// same 503 then, having set nothing up, instead of its connection closed with no answer.
    pub fn max_concurrency_wait(mut self, limit: Duration) -> Self {
        self.config.place_wait = capped(limit);
        self
    }

    /// How long an HTTP/1 client may take to send a whole request head, on a new connection
    /// or between requests on a kept-alive one (default 30 s). Past it the server closes the
    /// connection: a client that sends part of a head and then nothing (slowloris) does not
    /// hold a connection open, nor does a new connection that sends nothing, or too little to
    /// tell HTTP/1 from HTTP/2 (part of the HTTP/2 preface). (Here, as for every time limit
    /// of the app, a limit longer than 100 years, such as `Duration::MAX`, is taken as 100
    /// years: never, in practice.)
    ///
    /// Past its preface, an HTTP/2 connection has no such deadline (hyper's HTTP/2 has none):
    /// a header block the client never finishes (HEADERS without END_HEADERS, its
    /// CONTINUATION never sent) opens no stream, and holds the connection until
    /// [`http2_keep_alive`](App::http2_keep_alive) cuts it (the PING cannot be answered in the
    /// middle of a block) or [`idle_timeout`](App::idle_timeout) closes it, whichever comes
    /// first.
    ///
    /// Zero, which would close every connection before a head could arrive, is refused by
    /// [`App::check`] and [`App::start`], as is a time under a millisecond (the server counts
    /// it in whole milliseconds).
    pub fn header_read_timeout(mut self, limit: Duration) -> Self {
        self.config.header_read_timeout = capped(limit);
        self
    }

    /// How long a connection may stay idle before the server closes it (the keep-alive
    /// timeout; default 30 s). A connection is idle while no request is in progress on it:
    /// an HTTP/1 connection between the end of one response (body included) and the next
    /// request's head, or before its first one; an HTTP/2 connection with no stream open.
    /// Once idle for the whole timeout it is closed gracefully: an HTTP/1 connection is
    /// closed (the client reads the end of the stream), an HTTP/2 one gets `GOAWAY`. A
    /// request in progress, including a response body still being streamed or a request body
    /// still arriving, is never cut for it.
    ///
    /// A response is over for the server once hyper has taken its last frame, though part of
    /// it may still wait in the connection's buffers for a client that reads slowly, or not at
    /// all. The graceful close (this timeout's, or the one that makes room under
    /// [`max_connections`](App::max_connections)) waits for that to be sent, bounded by
    /// [`send_timeout`](App::send_timeout): an HTTP/1 connection closing is cut once its socket
    /// has taken nothing more for `send_timeout` (a slow reader that keeps taking is never cut
    /// for it); an HTTP/2 one a second after its last stream ended if its socket took no more
    /// than control frames in that second (h2's pings and their answers go on while the client
    /// takes no data, and a peer that never answers the `GOAWAY` ping would hold the close for
    /// as long as it liked), and otherwise as an HTTP/1 one is, each `send_timeout` needing
    /// more than control frames (a client still taking the rest of a response is not cut).
    ///
    /// The default is the longest that HTTP/1 allows here: hyper starts its
    /// [`header_read_timeout`](App::header_read_timeout) timer as soon as a kept-alive
    /// connection goes idle, so an idle HTTP/1 connection is closed after the shorter of the
    /// two. For comparison, uvicorn, Node.js and Apache close after 5 s, nginx after 75 s,
    /// Kestrel after 130 s, Go's `net/http` never (by default). Behind a proxy or load
    /// balancer that reuses its connections, set both this and `header_read_timeout` above
    /// the proxy's own idle timeout (AWS ALB: 60 s), so that the proxy, not the server,
    /// closes an idle connection and no request races the close.
    ///
    /// Each connection has one timer for it, moved only when it fires: nothing is added to a
    /// request's path. Zero, which would close every connection before its first request, is
    /// refused by [`App::check`] and [`App::start`], as is a time under a millisecond (the
    /// server counts it in whole milliseconds).
    ///
    /// ```
    /// use std::time::Duration;
    /// use di_runtime::App;
    ///
    /// let app = App::new().idle_timeout(Duration::from_secs(10));
    /// # let _ = app;
    /// ```
    pub fn idle_timeout(mut self, limit: Duration) -> Self {
        self.config.idle_timeout = capped(limit);
        self
    }

    /// How long a response may wait on a client that reads none of it (default 60 s, nginx's
    /// `send_timeout`): once a frame of the body has been handed to the connection and the
    /// client has taken nothing more for this long (its TCP window, or its HTTP/2 stream's
    /// window, stays shut), the response is cut and its `request`-scope teardowns see
    /// `Cancelled(ClientGone)`: over HTTP/1 the connection is closed; over HTTP/2 the stream
    /// alone is reset, and the connection's other streams go on. Without it a client that
    /// stops reading a streamed export would hold the export's dependencies (and their
    /// `max_concurrency` places) for as long as it keeps the connection open. A slow reader
    /// that keeps taking data (at least 256 KiB per `limit`, however large the body's chunks),
    /// and a stream that waits for its own next item, are never cut for it.
    ///
    /// Checked by the connection's one timer, every `limit` or `idle_timeout`, whichever is
    /// shorter, while a request is in progress (the first time `limit` after a request starts
    /// on an idle connection): the response is cut between `limit` and `limit` plus the
    /// shorter of the two after the client stopped reading it. On
    /// HTTP/2 each stream is timed on its own: a client that keeps one stream's window shut
    /// while it goes on using the connection (other requests, other streams it reads) has that
    /// stream cut all the same.
    ///
    /// It also bounds a graceful close (idle, making room, shutdown) that waits for the client
    /// to take what remains of a response already handed over (a whole 4 MiB body in hyper's
    /// buffer): over HTTP/1 the connection is cut once its socket has taken nothing more for
    /// `limit` (between `limit` and twice `limit` after the client stopped reading); over
    /// HTTP/2 a second after its last stream ended if nothing but control frames left in that
    /// second, else once a `limit` passes with nothing more (see
    /// [`idle_timeout`](App::idle_timeout)). Without it a client that never read such a
    /// response kept its connection place and the buffered bytes for as long as it liked.
    ///
    /// On Linux the kernel may take a client that reads nothing as gone before this does: see
    /// the user timeout [`tcp_keepalive`](App::tcp_keepalive) sets (90 s by default).
    ///
    /// Zero, which would cut every response its client does not take at once, is refused by
    /// [`App::check`] and [`App::start`], as is a time under a millisecond (the server counts
    /// it in whole milliseconds).
    ///
    /// ```
    /// use std::time::Duration;
    /// use di_runtime::App;
    ///
    /// let app = App::new().send_timeout(Duration::from_secs(20));
    /// # let _ = app;
    /// ```
    pub fn send_timeout(mut self, limit: Duration) -> Self {
        self.config.send_timeout = capped(limit);
        self
    }

    /// TCP keep-alive on every accepted connection, HTTP/1 and HTTP/2: how long a connection's
    /// socket may be silent both ways before the kernel sends its first probe (default 60 s);
    /// `None` turns it off (the socket's `SO_KEEPALIVE` is left unset, as the kernel has it).
    /// Probes follow every 10 s (or every `idle`, if shorter), and after 3 unanswered ones (on
    /// Linux, once the time they take has passed: the user timeout below) the kernel gives the
    /// connection up: its socket fails with `ETIMEDOUT`, which the request in
    /// progress sees as the client gone (its `request`-scope teardowns get
    /// `Cancelled(ClientGone)` and its `max_concurrency` places are freed).
    ///
    /// It finds a client that vanished without a FIN or a reset (power lost, a NAT or a mobile
    /// network that dropped the connection's state, a partition) while nothing is being
    /// written to it: a long poll, a streamed response waiting for its next item (a quiet feed
    /// of server-sent events), an upload that stopped arriving. Nothing else does: [`send_timeout`](App::send_timeout)
    /// needs something written, and such a client sends nothing (neither a close nor a reset)
    /// that a read of its socket would see, so without it the request held its dependencies
    /// until the process ended. Over HTTP/2,
    /// [`http2_keep_alive`](App::http2_keep_alive)'s pings do the same sooner (their traffic
    /// keeps the socket from being silent for 60 s), so this matters there when they are off.
    ///
    /// The default finds a vanished client after about 90 s (60 s, then 3 probes 10 s apart)
    /// at the cost of one small segment and its acknowledgment per silent minute of a
    /// connection, none on a busy one; a connection with no request in progress is closed by
    /// [`idle_timeout`](App::idle_timeout) (30 s) before its first probe. It is also shorter
    /// than the idle timeout of the middleboxes that drop silent connections (AWS's Network
    /// Load Balancer: 350 s), whose drop it prevents. Linux's own values, for a program that
    /// turns keep-alive on without setting them, find such a client after 2 hours and 11
    /// minutes (2 h, then 9 probes 75 s apart); Go's `net/http` after 150 s (15 s, then 9
    /// probes 15 s apart). The kernel counts whole seconds: a time under a second, or with a
    /// fraction, is rounded up to the next second, and one over 32,767 s (about 9 hours, Linux's largest)
    /// taken as 32,767 s. A zero time is refused by [`App::check`] and [`App::start`]. Setting
    /// it on a socket never fails a connection (a failure is logged at debug level).
    ///
    /// Probes go out only while nothing the server sent waits to be acknowledged, so on Linux
    /// it also sets the socket's `TCP_USER_TIMEOUT` (tcp(7)) to the time keep-alive takes to
    /// give a silent connection up (`idle`, then 3 probes: 90 s by default): the kernel gives
    /// the connection up once data it sent has gone unacknowledged that long. A client that
    /// vanishes with part of a response in flight (a feed's next event, a streamed body's next
    /// chunk) is then found in the same time as a silent one, where TCP's retransmissions took
    /// about 15 minutes to give up (and [`send_timeout`](App::send_timeout) cuts it only once
    /// the socket's send buffer is full). The kernel also gives up, after that time, a client
    /// that keeps its receive window shut while data waits for it (it reads nothing, though it
    /// answers every probe), even when the socket's send buffer is not full, where
    /// `send_timeout` would not cut it (a feed whose client stopped reading after a few
    /// events): such a client is taken as gone too, its teardowns seeing
    /// `Cancelled(ClientGone)`. A slow reader is not: each of its reads that reopens the
    /// window starts the count again. None is set where that time would be over 15 minutes,
    /// when the kernel's own limit on retransmissions comes first. Set with keep-alive (on the
    /// listener once on Linux, whose accepted sockets take it), and turned off with it by
    /// `None`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use di_runtime::App;
    ///
    /// let app = App::new().tcp_keepalive(Some(Duration::from_secs(30)));
    /// // Or off:
    /// let off = App::new().tcp_keepalive(None);
    /// # let _ = (app, off);
    /// ```
    pub fn tcp_keepalive(mut self, idle: Option<Duration>) -> Self {
        if idle == Some(Duration::ZERO) {
            self.problems.push(
                "`App::tcp_keepalive(Some(Duration::ZERO))`: the time a connection is silent before the first keep-alive probe must be more than zero (the kernel counts whole seconds, a fraction rounded up); give one, or `None` to turn TCP keep-alive off"
                    .to_owned(),
            );
        } else {
            self.config.tcp_keepalive = idle;
        }
        self
    }

    /// What [`App::tcp_keepalive`] set (its user timeout follows from it): the server sets it
    /// on its listener once where accepted sockets take it from there.
    pub(crate) fn tcp_keepalive_setting(&self) -> Option<Duration> {
        self.config.tcp_keepalive
    }

    /// The largest request head, in bytes (default 128 KiB; at least 8 KiB, a smaller one is
    /// taken as 8 KiB), the same for both protocols: over HTTP/1 the most hyper buffers while
    /// it reads a head (request line and headers), past which the client gets 431; over
    /// HTTP/2 the header list size the server announces (`SETTINGS_MAX_HEADER_LIST_SIZE`),
    /// past which the `h2` crate answers the stream 431 by itself (not counted in
    /// [`Metrics::responses`](crate::Metrics::responses): the app never sees it), and far
    /// past which it closes the connection with `GOAWAY` (`COMPRESSION_ERROR`).
    /// A request line longer than 64 KiB still gets 414 (while the head fits in this size);
    /// more than 100 header fields (hyper's limit) get 431.
    pub fn max_head_size(mut self, bytes: usize) -> Self {
        self.config.max_head_size = bytes;
        self
    }

    /// How many connections are served at once (default 10,000: high enough not to bind a
    /// normal deployment, low enough to bound memory, about 20 KB an idle connection, and
    /// descriptors; set it below the process's descriptor limit, `ulimit -n`, less what the
    /// app itself opens).
    ///
    /// At the limit the server accepts one more connection and holds it unserved, and stops
    /// accepting: later ones wait in the kernel's listen backlog (their TCP handshake is
    /// done, their request is not read). To make room it closes the connection that has been
    /// idle the longest (no request in progress: a kept-alive HTTP/1 connection between
    /// requests or before its first, an HTTP/2 connection with no open stream), with hyper's
    /// graceful shutdown; if none is idle, the first connection to become idle or to close
    /// makes the room. Connections with a request in progress are never closed for it. One
    /// never served is given its first second (from when the server let it in) to send a
    /// request, which is then served, with `Connection: close`, before it closes: the one just
    /// taken from the backlog has its request waiting already. The
    /// server logs a WARN (`connection limit reached`) each time it reaches the limit (once,
    /// not for every connection that then waits). Zero is refused by [`App::check`] and
    /// [`App::start`].
    pub fn max_connections(mut self, limit: usize) -> Self {
        self.config.max_connections = limit;
        self
    }

    /// How many streams (requests) one HTTP/2 connection may have open at once (default 100,
    /// the minimum RFC 9113 recommends and about nginx's 128): the client is told, and hyper
    /// refuses streams past it. Zero, with which an HTTP/2 client's requests would wait for
    /// ever, is refused by [`App::check`] and [`App::start`].
    pub fn http2_max_concurrent_streams(mut self, limit: u32) -> Self {
        self.config.http2.max_concurrent_streams = limit;
        self
    }

    /// HTTP/2 keep-alive pings (default: a PING every 30 s of silence, and the connection is
    /// closed if its answer takes longer than 20 s); `None` sends none. Finds dead peers
    /// that TCP would keep for hours, and cuts a client that never finishes a header block
    /// (see [`header_read_timeout`](App::header_read_timeout)). A zero interval (a PING as
    /// soon as the last is answered) or, with pings on, a zero timeout (every connection
    /// closed at its first PING) is refused by [`App::check`] and [`App::start`].
    pub fn http2_keep_alive(mut self, interval: Option<Duration>, timeout: Duration) -> Self {
        self.config.http2.keep_alive_interval = interval.map(capped);
        self.config.http2.keep_alive_timeout = capped(timeout);
        self
    }

    /// Protection against HTTP/2 "rapid reset" (CVE-2023-44487): how many streams a client
    /// may open and reset before the server has accepted them (default 20, h2's own), past
    /// which the connection is closed with `GOAWAY` (`ENHANCE_YOUR_CALM`). Streams reset after
    /// they were accepted cancel their request: what was set up is torn down with
    /// `Cancelled`, within [`max_background_teardowns`](App::max_background_teardowns).
    /// Zero, with which a connection would be closed at the first request its client cancels
    /// as it sends it (every other request on it failing), is refused by [`App::check`] and
    /// [`App::start`].
    pub fn http2_max_pending_accept_reset_streams(mut self, limit: usize) -> Self {
        self.config.http2.max_pending_accept_reset_streams = limit;
        self
    }

    /// How much of its response one HTTP/2 stream buffers at most, beyond what the connection
    /// has written (default 16 KiB, one frame of HTTP/2's default size; h2's own default is
    /// 400 KiB). Its body is asked for the next chunk only below it. A client's flow-control
    /// windows may let a whole response in while it reads nothing: each stream then holds
    /// this and the chunk in hand until `send_timeout` cuts it, times
    /// [`http2_max_concurrent_streams`](App::http2_max_concurrent_streams) per connection
    /// (about 3.4 MB for 100 streams by default, where h2's default let one connection hold
    /// 40 MB). Raising it lets a stream run further ahead of a slow connection, which a
    /// loopback benchmark does not need. At least 1, and at most 4 GiB (`u32::MAX`, the most
    /// hyper takes: a larger one, such as `usize::MAX` for "no limit", is taken as that).
    pub fn http2_max_send_buffer(mut self, bytes: usize) -> Self {
        // hyper asserts it is at most `u32::MAX`, in the accept loop's task: past it the
        // server bound its port, then served nothing and never tore `app` scope down.
        let most = usize::try_from(u32::MAX).unwrap_or(usize::MAX);
        self.config.http2.max_send_buf_size = bytes.clamp(1, most);
        self
    }

    /// How many streams the server may reset because of a client's protocol errors on one
    /// HTTP/2 connection (default 1024, h2's own), past which the connection is closed with
    /// `GOAWAY` (`ENHANCE_YOUR_CALM`): the "MadeYouReset" variant of rapid reset
    /// (CVE-2025-8671). Streams refused past
    /// [`http2_max_concurrent_streams`](App::http2_max_concurrent_streams) count too. Zero,
    /// with which a connection would be closed at the first stream the server resets (every
    /// other request on it failing), is refused by [`App::check`] and [`App::start`].
    pub fn http2_max_local_error_reset_streams(mut self, limit: usize) -> Self {
        self.config.http2.max_local_error_reset_streams = limit;
        self
    }

    /// How many requests are handled at once, up to their response head (default: no limit).
    /// Past it a new request is shed at once with 503 and `Retry-After: 1`, before any
    /// dependency is set up, so that under a flood some requests get a fast answer instead
    /// of all of them a slow one. Shed requests are counted
    /// ([`Running::requests_shed`](crate::Running::requests_shed)).
    ///
    /// This is what tower's `ConcurrencyLimit` inside `LoadShed` does, counted by the engine
    /// itself (one atomic add and subtract per request) rather than by a layer, so that the
    /// count is the one [`Running::metrics`](crate::Running::metrics) reports and a shed
    /// request is answered, with its request id, before its body is read or any input is
    /// extracted.
    ///
    /// Set it in production: without it, under overload, every request waiting for a
    /// `max_concurrency` place keeps its body, read whole and parsed, until it is served or
    /// refused (in a walk, 300 waiting 1.9 MB uploads took the process to 1.2 GB).
    ///
    /// Zero, which would shed every request, is refused by [`App::check`] and [`App::start`].
    pub fn max_in_flight(mut self, limit: usize) -> Self {
        self.config.max_in_flight = Some(limit);
        self
    }

    /// The header a request's [`RequestId`](crate::RequestId) is read from and sent back in
    /// (default: `x-request-id`); `None` for neither.
    ///
    /// A request whose header holds a sane id (1 to 128 bytes of visible ASCII) keeps it;
    /// any other gets a new one. Every response carries the id in this header, the app's own
    /// answers (404, 405, 408, 413, 422, 500, 503) included. With `None`, ids are still made,
    /// for log lines and the `RequestId` input, but no header is read or sent. A header HTTP
    /// uses for the message's framing, its connection or its content (`content-length`,
    /// `transfer-encoding`, `connection`, `host`, `content-type`, ...), one a response carries
    /// for a meaning of its own (`location`, `set-cookie`, `retry-after`, `allow`,
    /// `www-authenticate`, `cache-control`, `etag`, `vary`, `date`, ...: the id would replace
    /// it on every response) and one that carries the client's credentials (`authorization`,
    /// `proxy-authorization`, `cookie`: the secret would be taken as the id, sent back and
    /// logged) cannot carry an id: it is refused by [`App::check`] and [`App::start`].
    ///
    /// ```
    /// use di_runtime::prelude::*;
    /// use http::HeaderName;
    ///
    /// # #[depends] async fn hello() -> &'static str { "hello" }
    /// // Behind a proxy that names it differently:
    /// let app = App::new().get("/", hello).request_id_header(HeaderName::from_static("x-correlation-id"));
    /// // Or not at all:
    /// let quiet = App::new().get("/", hello).request_id_header(None);
    /// ```
    pub fn request_id_header(mut self, header: impl Into<Option<http::HeaderName>>) -> Self {
        self.config.request_id_header = header.into();
        self
    }

    /// Checks every route: paths, cycles, the scope rule, conflicting borrows. Returns every
    /// problem at once.
    ///
    /// With `with_openapi` (feature `openapi`), the routes that serve the document are
    /// checked with the app's, as [`App::start`] adds them: a route of the app at one of their
    /// paths, or a path that could not serve them, is reported here too.
    pub fn check(&self) -> Result<(), BuildError> {
        #[cfg(feature = "openapi")]
        if let Some(config) = &self.openapi {
            return self.check_with_openapi_routes(config);
        }
        self.plan().map(|_| ())
    }

    /// [`check`](App::check) of an app that serves its OpenAPI document: plans its routes
    /// with those [`add_openapi_routes`](App::add_openapi_routes) would add (their value is
    /// given at start), and reports the paths of `config` that could not serve it.
    #[cfg(feature = "openapi")]
    fn check_with_openapi_routes(&self, config: &OpenApiConfig) -> Result<(), BuildError> {
        let path_problems = openapi_path_problems(config);
        let planned = if path_problems.is_empty() {
            let (serving, _) = openapi_routes(config, String::new());
            let routes: Vec<RouteDef> = self.routes.iter().cloned().chain(serving).collect();
            let mut overrides = self.overrides.clone();
            overrides.insert(served_type_id(), Replacement::Value);
            self.plan_routes(&routes, &overrides)
        } else {
            self.plan_routes(&self.routes, &self.overrides)
        };
        let mut problems = planned.err().unwrap_or_default();
        problems.extend(path_problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BuildError { problems })
        }
    }

    /// The dependency graph of every route, planned exactly as [`App::check`] and
    /// [`App::start`] plan it (after overrides and [`provide`](App::provide)d values), to draw
    /// with [`Graph::mermaid`] or [`Graph::dot`]. Nothing is set up. An app whose routes
    /// `check` rejects gives the same error here (the routes
    /// `with_openapi` adds are neither drawn nor checked here).
    ///
    /// ```
    /// use di_runtime::prelude::*;
    ///
    /// #[depends]
    /// async fn hello() -> &'static str { "hello" }
    ///
    /// let graph = App::new().get("/", hello).graph().expect("the app is valid");
    /// println!("{}", graph.mermaid());
    /// ```
    pub fn graph(&self) -> Result<Graph, BuildError> {
        let planned = self.plan()?;
        Ok(Graph::new(&self.routes, &planned))
    }

    fn plan(&self) -> Result<Planned, BuildError> {
        self.plan_routes(&self.routes, &self.overrides)
            .map_err(|problems| BuildError { problems })
    }

    /// Plans `routes` with `overrides`, and the app's dependencies, limits and problems.
    fn plan_routes(
        &self,
        routes: &[RouteDef],
        overrides: &Overrides,
    ) -> Result<Planned, Vec<String>> {
        let mut problems = self.problems.clone();
        problems.extend(self.config_problems());
        plan_routes(routes, &self.uses, overrides, &self.limits, &problems)
    }

    /// What is wrong with the app's settings, whichever call set them last.
    fn config_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(problem) = self
            .config
            .request_id_header
            .as_ref()
            .and_then(request_id_header_problem)
        {
            problems.push(problem);
        }
        if self.config.max_background == 0 {
            problems.push(
                "`App::max_background_teardowns(0)`: no request with `request`-scope teardowns could ever be served; give 1 or more (default 10,000)"
                    .to_owned(),
            );
        }
        if self.config.max_connections == 0 {
            problems.push(
                "`App::max_connections(0)`: no connection could ever be served; give 1 or more (default 10,000)"
                    .to_owned(),
            );
        }
        if self.config.max_in_flight == Some(0) {
            problems.push(
                "`App::max_in_flight(0)`: every request would be shed with 503, none ever handled; give the number of requests handled at once (1 or more), or leave it unset for no limit"
                    .to_owned(),
            );
        }
        if self.config.send_timeout == Duration::ZERO {
            problems.push(
                "`App::send_timeout(Duration::ZERO)`: every response the client does not take at once would be cut, its connection closed; give the time a client may take nothing of a response (default 60 s)"
                    .to_owned(),
            );
        }
        if self.config.request_timeout == Some(Duration::ZERO) {
            problems.push(
                "`App::request_timeout(Duration::ZERO)`: every request that waits at all (for its body, a place, a setup) would be answered 503; give the time one may take (default 60 s), or `None` for no limit"
                    .to_owned(),
            );
        }
        if self.config.body_timeout == Duration::ZERO {
            problems.push(
                "`App::body_timeout(Duration::ZERO)`: every request body not there with its head would be answered 408; give the time one may take to arrive (default 30 s)"
                    .to_owned(),
            );
        }
        let rate = &self.config.body_min_rate;
        if rate.bytes_per_second > 0 && rate.grace == Duration::ZERO {
            problems.push(format!(
                "`App::body_min_rate({}, Duration::ZERO)`: the rate would be due from a body's first moment, before a byte of it could arrive, and every request body not there with its head would be answered 408; give a grace period (default 5 s), or a rate of 0 to turn the check off",
                rate.bytes_per_second
            ));
        }
        if self.config.teardown_timeout == Duration::ZERO {
            problems.push(
                "`App::teardown_timeout(Duration::ZERO)`: every teardown would be abandoned at its first wait, a commit cut in half; give the time one may take (default 30 s)"
                    .to_owned(),
            );
        }
        if self.config.header_read_timeout == Duration::ZERO {
            problems.push(
                "`App::header_read_timeout(Duration::ZERO)`: every connection would be closed before a request's head could arrive; give the time a client may take to send one (default 30 s)"
                    .to_owned(),
            );
        }
        if self.config.idle_timeout == Duration::ZERO {
            problems.push(
                "`App::idle_timeout(Duration::ZERO)`: every connection would be closed as soon as no request is in progress, before its first one; give the time a connection may stay idle (default 30 s)"
                    .to_owned(),
            );
        }
        // The server counts these in whole milliseconds: less than one is none.
        for (setting, limit, default, zero) in [
            (
                "idle_timeout",
                self.config.idle_timeout,
                "30 s",
                "every connection would be closed before its first request",
            ),
            (
                "send_timeout",
                self.config.send_timeout,
                "60 s",
                "every response the client does not take at once would be cut",
            ),
            (
                "header_read_timeout",
                self.config.header_read_timeout,
                "30 s",
                "every new connection would be closed before it could send enough to be served",
            ),
        ] {
            if limit > Duration::ZERO && limit < Duration::from_millis(1) {
                problems.push(format!(
                    "`App::{setting}` of {limit:?}: the server counts this time in whole milliseconds, and less than one is none: {zero}; give 1 ms or more (default {default})"
                ));
            }
        }
        let http2 = &self.config.http2;
        if http2.max_concurrent_streams == 0 {
            problems.push(
                "`App::http2_max_concurrent_streams(0)`: every HTTP/2 client would be told it may open no stream, and its requests would wait for ever; give 1 or more (default 100)"
                    .to_owned(),
            );
        }
        if http2.max_pending_accept_reset_streams == 0 {
            problems.push(
                "`App::http2_max_pending_accept_reset_streams(0)`: an HTTP/2 connection would be closed with `GOAWAY` at the first request its client cancels as it sends it, with every other request in progress on it; give 1 or more (default 20)"
                    .to_owned(),
            );
        }
        if http2.max_local_error_reset_streams == 0 {
            problems.push(
                "`App::http2_max_local_error_reset_streams(0)`: an HTTP/2 connection would be closed with `GOAWAY` at the first stream the server resets (one opened past `http2_max_concurrent_streams`, a header list past `max_head_size`), with every other request in progress on it; give 1 or more (default 1024)"
                    .to_owned(),
            );
        }
        if http2.keep_alive_interval == Some(Duration::ZERO) {
            problems.push(
                "`App::http2_keep_alive(Some(Duration::ZERO), ..)`: a PING would follow the answer to the last at once, for as long as each connection is open; give the silence after which to send one (default 30 s), or `None` for no pings"
                    .to_owned(),
            );
        }
        if http2.keep_alive_interval.is_some() && http2.keep_alive_timeout == Duration::ZERO {
            problems.push(
                "`App::http2_keep_alive(.., Duration::ZERO)`: every HTTP/2 connection would be closed at its first PING, as no answer comes in no time; give the time an answer may take (default 20 s)"
                    .to_owned(),
            );
        }
        problems
    }

    /// The OpenAPI 3.1 document of every route (cargo feature `openapi`), read off the graphs
    /// exactly as [`App::check`] and [`App::start`] plan them (after overrides): each route's
    /// parameters are the `Path`, `Query`, `Header` and `Cookie` inputs of every function its
    /// graph runs, once each, its body the `Json`, `Form`, `Multipart` or `BodyStream` input,
    /// its security the security inputs, its summary and description the handler's doc
    /// comment, its success response the handler's return type. Nothing is set up. An app
    /// whose routes `check` rejects gives the same error here. The routes
    /// [`with_openapi`](App::with_openapi) adds are not in it, nor checked here (`check` and
    /// `start` check them). See docs/openapi.md.
    ///
    /// ```
    /// use di_runtime::prelude::*;
    ///
    /// /// Says hello.
    /// #[depends]
    /// async fn hello(Query(name): Query<std::collections::HashMap<String, String>>) -> String {
    ///     format!("hello {name:?}")
    /// }
    ///
    /// let doc = App::new().get("/hello", hello).openapi().expect("the app is valid");
    /// assert_eq!(doc.operation("/hello", "get").unwrap().summary, "Says hello.");
    /// assert!(doc.to_json().contains(r#""operationId": "hello_hello_get""#));
    /// ```
    #[cfg(feature = "openapi")]
    pub fn openapi(&self) -> Result<OpenApi, BuildError> {
        let planned = self.plan()?;
        let info = self.openapi.clone().unwrap_or_default().info();
        Ok(document(info, &self.routes, &planned))
    }

    /// Serves the app's OpenAPI document ([`App::openapi`]) at `GET /openapi.json` and
    /// Swagger UI, whose files are embedded in the binary, at `GET /docs` (cargo feature
    /// `openapi`; the paths are `config`'s). The document is made once, when the app starts;
    /// these routes are not in it.
    ///
    /// ```
    /// use di_runtime::prelude::*;
    /// use di_runtime::OpenApiConfig;
    ///
    /// #[depends]
    /// async fn hello() -> &'static str { "hello" }
    ///
    /// let app = App::new()
    ///     .get("/", hello)
    ///     .with_openapi(OpenApiConfig::new("Hello", "1.0.0"));
    /// # let _ = app;
    /// ```
    #[cfg(feature = "openapi")]
    pub fn with_openapi(mut self, config: OpenApiConfig) -> Self {
        self.openapi = Some(config);
        self
    }

    /// With [`with_openapi`](App::with_openapi): makes the document and adds the routes that
    /// serve it, with the value they read.
    #[cfg(feature = "openapi")]
    fn add_openapi_routes(&mut self) -> Result<(), BuildError> {
        let Some(config) = self.openapi.clone() else {
            return Ok(());
        };
        let document = self.openapi()?;
        let problems = openapi_path_problems(&config);
        if !problems.is_empty() {
            return Err(BuildError { problems });
        }
        let (routes, served) = openapi_routes(&config, document.to_json());
        // Beside `routes`, one entry per route: these have no layers of their own.
        self.own_layers.extend(routes.iter().map(|_| Vec::new()));
        self.routes.extend(routes);
        let served_id = served_type_id();
        self.overrides.insert(served_id, Replacement::Value);
        self.values.insert(served_id, cell_of(served));
        self.openapi = None;
        Ok(())
    }

    /// Checks the app, then sets up its `app`-scoped dependencies in dependency order. If one
    /// fails, those already set up are torn down (in reverse order) and the error says which.
    ///
    /// Cancel-safe: if this future is dropped while `app` scope is being set up (a
    /// `tokio::time::timeout` around it), the setup under way is dropped and those already set
    /// up are torn down in reverse order in a tracked background task on the app's runtime,
    /// each told [`Outcome::Cancelled`](crate::Outcome::Cancelled)`(`[`CancelReason::Shutdown`](crate::CancelReason::Shutdown)`)`.
    /// The runtime has to run on for them to finish: one that shuts down first finishes them
    /// where it drops the task (each within the teardown timeout, 5 s at most).
    pub async fn start(self) -> Result<Running, BuildError> {
        match self.start_until(&CancellationToken::new()).await? {
            Some(running) => Ok(running),
            None => Err(BuildError {
                problems: vec!["the start was stopped".to_owned()],
            }),
        }
    }

    /// [`start`](App::start), stopped when `stop` is cancelled: then the setup under way is
    /// dropped, those already set up are torn down in reverse order with
    /// `Cancelled(Shutdown)` before it returns, and it returns `None`.
    #[cfg_attr(
        not(feature = "openapi"),
        allow(unused_mut, reason = "only the `openapi` feature adds routes")
    )]
    pub(crate) async fn start_until(
        mut self,
        stop: &CancellationToken,
    ) -> Result<Option<Running>, BuildError> {
        if let Some(problem) = runtime_problem() {
            return Err(BuildError {
                problems: vec![problem],
            });
        }
        #[cfg(feature = "openapi")]
        self.add_openapi_routes()?;
        let Planned {
            routes,
            app_nodes,
            app_names,
            in_order,
        } = self.plan()?;
        let around = Around {
            app: &self.layers,
            every_route: &self.route_layers,
            own: &self.own_layers,
            mounts: &self.mounts,
            fallback: self.fallback.as_ref(),
            errors: self.layer_errors.as_ref(),
        };
        let mut engine = Engine::new(routes, app_nodes.len(), self.config);
        engine.layered = !around.is_empty();
        let engine = Arc::new(engine);
        let layers = build_layers(&engine, &in_order, around);
        match start_app_scope(&engine, &app_nodes, &app_names, self.values, stop).await {
            Ok(app_scope) => Ok(Some(Running {
                engine,
                app_scope,
                layers,
            })),
            Err(StartError::Interrupted) => Ok(None),
            Err(StartError::Failed(problem)) => Err(BuildError {
                problems: vec![problem],
            }),
        }
    }

    /// Takes the definition out of `self`, leaving an empty app (for the `tower::Service`
    /// impl, which starts the app on its first `poll_ready`).
    pub(crate) fn take(&mut self) -> App {
        App {
            routes: std::mem::take(&mut self.routes),
            uses: std::mem::take(&mut self.uses),
            problems: std::mem::take(&mut self.problems),
            overrides: std::mem::take(&mut self.overrides),
            limits: std::mem::take(&mut self.limits),
            values: std::mem::take(&mut self.values),
            config: self.config.clone(),
            #[cfg(feature = "openapi")]
            openapi: self.openapi.take(),
            layers: std::mem::take(&mut self.layers),
            route_layers: std::mem::take(&mut self.route_layers),
            own_layers: std::mem::take(&mut self.own_layers),
            mounts: std::mem::take(&mut self.mounts),
            fallback: self.fallback.take(),
            layer_errors: self.layer_errors.clone(),
            serving: Serving::Idle,
        }
    }
}

/// Why the current tokio runtime cannot run an app, if it cannot: there is none, or it has no
/// timers, which the app's deadlines need. Checked at start, where a runtime built without
/// them (`Builder::new_current_thread().build()`) was not noticed: the first request that
/// waited panicked inside the runtime's code (over a socket, in the server's accept loop,
/// after `bind` had returned `Ok`: every later connection was refused).
fn runtime_problem() -> Option<String> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Some(
            "the app is started outside a tokio runtime: start it in one (`#[tokio::main]`, \
             `#[tokio::test]`, `Runtime::block_on`)"
                .to_owned(),
        );
    }
    // A timer is made, not polled: nothing is registered. Without timers, tokio panics here
    // (its message, saying the same, goes to the panic hook).
    let timers = crate::panic::catch_call(|| drop(tokio::time::sleep(Duration::ZERO)));
    timers.is_err().then(|| {
        "the tokio runtime has no timers, which the app's deadlines need: build it with \
         `enable_time()` or `enable_all()` (`#[tokio::main]` and `#[tokio::test]` turn them on)"
            .to_owned()
    })
}
