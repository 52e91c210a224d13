//! [`App::axum_state`]: the state axum extractors taken through
//! [`Extract`](crate::Extract) receive (cargo feature `axum`).

use std::convert::Infallible;
use std::task::{Context, Poll};

use crate::app::builder::App;
use crate::app::layer::InnerService;
use crate::app::routed::ResponseFuture;
use crate::input::axum::AxumState;
use crate::response::body::Body;

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
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> ResponseFuture {
        request
            .extensions_mut()
            .insert(AxumState(self.state.clone()));
        self.inner.call(request)
    }
}
