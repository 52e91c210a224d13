//! [`AppService`]: a running app as a `tower::Service` (and as hyper's `Service`), the entry
//! point of every request.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::app::layer::{Layers, serve_layered};
use crate::app::routed::{ResponseFuture, serve_routed};
use crate::contract::request_id::RequestId;
use crate::plan::routes::Routed;
use crate::response::body::{BoxError, Response};
use crate::response::into::IntoResponse;
use crate::run::engine::Engine;
use crate::run::request::finish;
use crate::run::stats::Metrics;

/// A running app as a [`tower_service::Service`]: every request goes through routing, input
/// extraction, dependency setup, the handler and teardown. Cheap to clone.
///
/// The same service is behind [`App::serve`](crate::App::serve) and
/// [`TestClient`](crate::TestClient), so tests exercise the exact code path of the server.
#[derive(Clone)]
pub struct AppService {
    pub(crate) engine: Arc<Engine>,
    /// The app's tower layers, if it has any (see [`App::layer`](crate::App::layer)).
    pub(crate) layers: Option<Arc<Layers>>,
}

impl AppService {
    /// Waits until no background (`request`-scope) teardown is running.
    pub async fn settle(&self) {
        self.engine.settle().await;
    }

    /// How many teardowns have failed, timed out or panicked so far.
    pub fn teardown_failures(&self) -> u64 {
        self.engine.stats.teardown_failures()
    }

    /// The app's counters now; see [`Running::metrics`](crate::Running::metrics).
    pub fn metrics(&self) -> Metrics {
        let engine = &self.engine;
        engine
            .stats
            .snapshot(engine.requests_in_flight(), engine.background_in_flight())
    }

    /// Tells the app's [`Shutdown`](crate::Shutdown) inputs that it is shutting down, so that
    /// streams and long polls waiting for that end now. For an app served by another server
    /// (inside axum): call it when that server begins its graceful shutdown, or they hold its
    /// drain up. The app's own server ([`App::serve`](crate::App::serve),
    /// [`Server::shutdown`](crate::Server::shutdown)) and
    /// [`Running::shutdown`](crate::Running::shutdown) do it themselves. The app still serves.
    ///
    /// ```no_run
    /// # async fn run(running: di_runtime::Running) {
    /// // Beside the other server's own shutdown signal (axum's `with_graceful_shutdown`):
    /// let app = running.service();
    /// tokio::spawn(async move {
    ///     let _ = tokio::signal::ctrl_c().await;
    ///     app.begin_shutdown(); // `di`'s event streams end now, not at the other server's timeout
    /// });
    /// # }
    /// ```
    pub fn begin_shutdown(&self) {
        self.engine.draining.cancel();
    }

    /// Serves one request.
    pub fn call_request<B>(&self, request: http::Request<B>) -> BoxFuture<'static, Response>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.serve_request(request, None)
    }

    /// Serves one request from `client` (the peer of a connection the server accepted).
    pub(crate) fn serve_request<B>(
        &self,
        request: http::Request<B>,
        client: Option<std::net::SocketAddr>,
    ) -> BoxFuture<'static, Response>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        if let Some(layers) = &self.layers {
            return serve_layered(&self.engine, layers, request, client);
        }
        let engine = self.engine.clone();
        let id = RequestId::of(request.headers(), engine.config.request_id_header.as_ref());
        match engine.routes.find(request.method(), request.uri().path()) {
            Ok(Routed { route, params }) => {
                serve_routed(engine, route, request, params, client, id, None)
            }
            Err(miss) => {
                let response = finish(&engine, miss.into_response(), &id, request.extensions());
                Box::pin(std::future::ready(response))
            }
        }
    }
}

impl std::fmt::Debug for AppService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppService").finish_non_exhaustive()
    }
}

impl<B> tower_service::Service<http::Request<B>> for AppService
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
        ResponseFuture(self.call_request(request))
    }
}

/// Adapts the service to hyper's `Service` trait.
#[derive(Clone)]
pub(crate) struct HyperService(pub(crate) AppService);

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for HyperService {
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, request: http::Request<hyper::body::Incoming>) -> Self::Future {
        ResponseFuture(self.0.call_request(request))
    }
}
