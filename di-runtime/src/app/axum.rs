//! [`App::axum_state`]: the state axum extractors taken through
//! [`Extract`](crate::Extract) receive (cargo feature `axum`).

use std::convert::Infallible;
use std::task::{Context, Poll};

use crate::app::builder::App;
use bytes::Bytes;

use crate::app::layer::{InnerService, TowerLayer};
use crate::app::routed::ResponseFuture;
use crate::input::axum::AxumState;
use crate::response::body::{Body, BoxError};

impl App {
    /// Registers `state` for the axum extractors the app's routes take through
    /// [`Extract<E, S>`](crate::Extract), axum's `with_state`: `Extract<State<S>, S>`
    /// gets a clone of it, and so does any extractor `E: FromRequestParts<S>`. Each state type
    /// is registered once (a second call with the same type replaces it).
    ///
    /// It goes into each request's extensions through a layer, so that an app that has it
    /// takes the path of an app with [`layer`](App::layer)s. Values of the app's own
    /// dependencies are better given with [`provide`](App::provide) or an `app`-scoped
    /// `#[depends]`; this is for axum extractors written against a state.
    ///
    /// ```
    /// use axum_core::extract::FromRequestParts;
    /// use di_runtime::prelude::*;
    /// use di_runtime::Extract;
    ///
    /// #[derive(Clone)]
    /// struct AppState { greeting: &'static str }
    ///
    /// /// An extractor written against the state, as axum's `State<AppState>` is.
    /// struct Greeting(&'static str);
    ///
    /// impl FromRequestParts<AppState> for Greeting {
    ///     type Rejection = StatusCode;
    ///
    ///     async fn from_request_parts(_: &mut http::request::Parts, state: &AppState) -> Result<Self, StatusCode> {
    ///         Ok(Greeting(state.greeting))
    ///     }
    /// }
    ///
    /// #[depends]
    /// async fn hello(greeting: Extract<Greeting, AppState>) -> &'static str {
    ///     greeting.0 .0
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = App::new().get("/", hello).axum_state(AppState { greeting: "hi" });
    /// let client = TestClient::start(app).await.unwrap();
    /// assert_eq!(client.get("/").send().await.text().await.unwrap(), "hi");
    /// # }
    /// ```
    pub fn axum_state<S: Clone + Send + Sync + 'static>(self, state: S) -> Self {
        self.layer(StateLayer(state))
    }
}

/// Puts the state in each request's extensions.
#[derive(Clone)]
struct StateLayer<S>(S);

impl<S: Clone> tower_layer::Layer<InnerService> for StateLayer<S> {
    type Service = WithState<S>;

    fn layer(&self, inner: InnerService) -> WithState<S> {
        WithState {
            inner,
            state: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct WithState<S> {
    inner: InnerService,
    state: S,
}

impl<S: Clone + Send + Sync + 'static> tower_service::Service<http::Request<Body>>
    for WithState<S>
{
    type Response = crate::response::body::Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        tower_service::Service::<http::Request<Body>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> ResponseFuture {
        request
            .extensions_mut()
            .insert(AxumState(self.state.clone()));
        self.inner.call(request)
    }
}

/// An axum middleware as a layer of the app (cargo feature `axum`): a layer whose service
/// takes axum's `Request` (`http::Request<axum::body::Body>`), as those of
/// `axum::middleware::from_fn` and `from_fn_with_state` do, which [`App::layer`] cannot take
/// as it is (its layers take the app's [`Body`]). Wrapped in `AxumLayer`, it goes where any
/// layer of the app goes: [`App::layer`], [`App::route_layer`],
/// [`Group::layer`](crate::Group::layer); the request keeps its extensions (the app's request
/// id, the state of [`App::axum_state`]) on the way through, and what holds through a layer
/// (see [`App::layer`]) holds through it.
///
/// (Not a doctest, as axum is no dependency of this crate's tests: `tests/docs_snippets.rs`
/// compiles and runs it.)
///
/// ```ignore
/// use axum::{extract::Request, middleware::{from_fn, Next}, response::Response};
/// use di_runtime::AxumLayer;
///
/// async fn stamp(request: Request, next: Next) -> Response {
///     let mut response = next.run(request).await;
///     response.headers_mut().insert("x-stamp", "1".parse().unwrap());
///     response
/// }
///
/// let app = App::new().get("/", hello).layer(AxumLayer(from_fn(stamp)));
/// ```
#[derive(Clone, Debug)]
pub struct AxumLayer<L>(pub L);

impl<L, S, B> TowerLayer for AxumLayer<L>
where
    L: tower_layer::Layer<AxumInner, Service = S> + Send + Sync + 'static,
    S: tower_service::Service<http::Request<axum_core::body::Body>, Response = http::Response<B>>
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
        InnerService::erase(WithAxumBody(self.0.layer(AxumInner(inner))))
    }
}

/// What an [`AxumLayer`]'s layer wraps: the app's [`InnerService`], taking axum's `Request`.
#[derive(Clone, Debug)]
pub struct AxumInner(InnerService);

impl tower_service::Service<http::Request<axum_core::body::Body>> for AxumInner {
    type Response = crate::response::body::Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        tower_service::Service::<http::Request<Body>>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, request: http::Request<axum_core::body::Body>) -> ResponseFuture {
        self.0.call(request.map(Body::new))
    }
}

/// An axum middleware's service, taking the app's requests: their body made axum's.
#[derive(Clone)]
struct WithAxumBody<S>(S);

impl<S> tower_service::Service<http::Request<Body>> for WithAxumBody<S>
where
    S: tower_service::Service<http::Request<axum_core::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> S::Future {
        self.0.call(request.map(axum_core::body::Body::new))
    }
}
