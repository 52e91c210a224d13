//! [`Running`]: a started app, its counters, and its shutdown.

use std::fmt;
use std::sync::Arc;

use crate::app::layer::Layers;
use crate::app::service::AppService;
use crate::contract::outcome::Outcome;
use crate::run::app_scope::{AppTeardowns, stop_app_scope};
use crate::run::engine::Engine;
use crate::run::stats::Metrics;

/// A started app: its `app`-scoped dependencies are set up and it can serve requests.
///
/// It belongs to the runtime it was started on, where the teardowns and background tasks
/// that wait after a response run. Stop it with [`shutdown`](Running::shutdown): dropped
/// instead, its `app`-scoped generators are dropped with it, their teardowns never run (its
/// [`service`](Running::service) still serves with their values while a clone of it lives).
pub struct Running {
    pub(crate) engine: Arc<Engine>,
    pub(crate) app_scope: AppTeardowns,
    /// The app's tower layers, if it has any.
    pub(crate) layers: Option<Arc<Layers>>,
}

impl Running {
    /// The app as a [`tower_service::Service`] (cheap to clone).
    pub fn service(&self) -> AppService {
        AppService {
            engine: self.engine.clone(),
            layers: self.layers.clone(),
        }
    }

    /// The app's counters now: responses by status, setups, teardowns by outcome, teardown
    /// and background task failures, shed requests, and what is in flight. See [`Metrics`]
    /// for each counter (and its name when exported through the `metrics` crate).
    ///
    /// ```
    /// use di_runtime::prelude::*;
    ///
    /// #[depends]
    /// async fn hello() -> &'static str { "hello" }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let client = TestClient::start(App::new().get("/", hello)).await.unwrap();
    /// client.get("/").send().await;
    /// assert_eq!(client.running().metrics().responses_with(StatusCode::OK), 1);
    /// # }
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.service().metrics()
    }

    /// How many teardowns have failed, timed out or panicked so far. A `request`-scope
    /// teardown failure cannot change a response that was already sent, so it is logged and
    /// counted here.
    pub fn teardown_failures(&self) -> u64 {
        self.engine.stats.teardown_failures()
    }

    /// How many [`BackgroundTasks`](crate::BackgroundTasks) have panicked or run past their
    /// deadline so far (each is logged).
    pub fn background_task_failures(&self) -> u64 {
        self.engine.stats.background_failures()
    }

    /// How many requests were shed past [`App::max_in_flight`](crate::App::max_in_flight).
    pub fn requests_shed(&self) -> u64 {
        self.engine.stats.shed()
    }

    /// How many requests are being handled now (up to their response head).
    pub fn requests_in_flight(&self) -> usize {
        self.engine.requests_in_flight()
    }

    /// How many background teardowns and [`BackgroundTasks`](crate::BackgroundTasks) are
    /// running or waiting for a place now (as
    /// [`Metrics::teardowns_in_flight`](crate::Metrics::teardowns_in_flight)).
    pub fn teardowns_in_flight(&self) -> usize {
        self.engine.background_in_flight()
    }

    /// Waits until no background teardown is running.
    pub async fn settle(&self) {
        self.engine.settle().await;
    }

    /// Starts stopping: streaming bodies of requests with `request`-scope work end at their
    /// next wait (others are not told), and work cut from now on is cancelled with
    /// [`CancelReason::Shutdown`](crate::CancelReason::Shutdown).
    pub(crate) fn stop(&self) {
        self.engine.stop_hard();
    }

    /// Stops the app: waits for background teardowns (each bounded by the teardown timeout),
    /// then tears down `app`-scoped dependencies in reverse order with [`Outcome::Stopped`](crate::Outcome::Stopped).
    ///
    /// Streaming bodies of requests with `request`-scope work end at their next wait. A
    /// request the app's [`service`](Running::service) is given from then on (a clone still
    /// used by another server that has not stopped yet) is answered 503
    /// `{"detail":"The server is shutting down"}` with `Retry-After: 1` (as a shed request is:
    /// another instance may answer it), nothing set up, and counted in its
    /// [`metrics`](AppService::metrics): stop the other server first (see docs/axum.md).
    pub async fn shutdown(self) {
        self.engine.stop_hard();
        self.settle().await;
        stop_app_scope(&self.engine, self.app_scope, Outcome::Stopped).await;
    }
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running").finish_non_exhaustive()
    }
}
