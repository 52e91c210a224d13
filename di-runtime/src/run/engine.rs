//! The [`Engine`]: what every request of a running app shares (routes, `app` values, settings,
//! counters) and the tracked background tasks that teardowns run in.

use std::future::Future;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use std::sync::Arc;

use crate::contract::slot::AppSlots;
use crate::plan::routes::RouteTable;
use crate::run::config::Config;
use crate::run::stats::Stats;

/// What every request of a running app shares.
pub(crate) struct Engine {
    pub(crate) routes: RouteTable,
    pub(crate) app_slots: AppSlots,
    pub(crate) config: Config,
    tracker: TaskTracker,
    background: Arc<Semaphore>,
    runtime: tokio::runtime::Handle,
    /// Cancelled when the shutdown grace period is over: streaming bodies are cut.
    pub(crate) hard_stop: CancellationToken,
    pub(crate) stats: Stats,
}

impl Engine {
    /// An engine on the current tokio runtime.
    pub(crate) fn new(routes: RouteTable, app_values: usize, config: Config) -> Self {
        Self {
            routes,
            app_slots: AppSlots::new(app_values),
            background: Arc::new(Semaphore::new(config.max_background)),
            config,
            tracker: TaskTracker::new(),
            runtime: tokio::runtime::Handle::current(),
            hard_stop: CancellationToken::new(),
            stats: Stats::default(),
        }
    }

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

    /// How many background tasks are running or waiting for a place.
    pub(crate) fn background_in_flight(&self) -> usize {
        self.tracker.len()
    }

    /// Waits until no background task is running.
    pub(crate) async fn settle(&self) {
        self.tracker.close();
        self.tracker.wait().await;
        self.tracker.reopen();
    }
}
