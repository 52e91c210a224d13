//! The [`Engine`]: what every request of a running app shares (routes, `app` values, settings,
//! counters) and the tracked background tasks that teardowns run in.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::contract::outcome::CancelReason;
use crate::contract::slot::AppSlots;
use crate::input::shutdown::Registered;
use crate::panic::catch_call;
use crate::plan::routes::RouteTable;
use crate::run::background::{BackgroundPlace, BackgroundPlaces};
use crate::run::config::Config;
use crate::run::stats::{Level, Stats};

/// The current span, for work that goes on elsewhere (a teardown in another task) to log in:
/// no work at all when no subscriber was ever set, as `Span::current` would give none then.
pub(crate) fn current_span() -> tracing::Span {
    kept_span().unwrap_or_else(tracing::Span::none)
}

/// [`current_span`] for work that may have to be done in it later, or `None` when no subscriber
/// was ever set: then there is no span to keep, enter or drop (a disabled span is not free to
/// drop or enter when `tracing`'s `log` feature is on, as another crate of the build may turn
/// it on).
pub(crate) fn kept_span() -> Option<tracing::Span> {
    tracing::dispatcher::has_been_set().then(tracing::Span::current)
}

/// Whether the runtime's spans (`request`, `setup`, `teardown`: target `di`, DEBUG) are on.
/// Checked before a span is made: a span made and found off is not free when `tracing`'s
/// `log` feature is on (another crate of the build may turn it on), as it then formats its
/// fields for `log`.
pub(crate) fn spans_on() -> bool {
    tracing::span_enabled!(target: "di", tracing::Level::DEBUG)
}

/// What every request of a running app shares.
pub(crate) struct Engine {
    pub(crate) routes: RouteTable,
    pub(crate) app_slots: AppSlots,
    pub(crate) config: Config,
    in_flight: Arc<InFlight>,
    /// Background places: every `request`-scope teardown (and the value it gives back) holds
    /// one, from before its dependency is set up until its teardown has finished.
    background: Arc<BackgroundPlaces>,
    runtime: tokio::runtime::Handle,
    /// Cancelled when the shutdown grace period is over: streaming bodies are cut.
    pub(crate) hard_stop: CancellationToken,
    /// Cancelled when the app begins to shut down (and with `hard_stop`, whose child it is):
    /// what a [`Shutdown`](crate::Shutdown) input waits for.
    pub(crate) draining: CancellationToken,
    /// `draining`, found by the app's number in its requests' heads.
    pub(crate) shutdown: Registered,
    /// Whether `hard_stop` is cancelled, read without its lock (by every request, and where
    /// work is cut: see `cancel_reason`).
    stopped: AtomicBool,
    pub(crate) stats: Stats,
    /// Requests being handled now (up to their response head).
    requests: Arc<Level>,
    /// Whether the app has tower layers or mounted services (`run/outer.rs`): only then does
    /// a request look for its entry point's state.
    pub(crate) layered: bool,
    /// Where the after-body work of a body read outside di's server runs: `run/host.rs`'s
    /// `Hosts`, made for the first such body. Held as `Any`: `run::host` imports this module,
    /// so this module cannot name that type (no two modules import each other).
    pub(crate) hosts: OnceLock<Box<dyn Any + Send + Sync>>,
}

/// Why [`Engine::admit`] turned a request away.
pub(crate) enum Refusal {
    /// As many requests as the in-flight limit are being handled.
    Busy,
    /// The app has stopped.
    Stopped,
}

/// A request counted in flight; dropping it counts the request out.
pub(crate) struct Admitted(Arc<Level>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.down();
    }
}

/// The background tasks in flight, counted so that `settle` and shutdown can wait for none.
///
/// Not `tokio_util`'s `TaskTracker`: waiting on it needs `close`, and two callers closing,
/// waiting and reopening one tracker at once can leave one of them waiting forever.
struct InFlight {
    count: Level,
    idle: Notify,
    /// Callers of `settle` waiting now: the last task out wakes `idle` only if there are any,
    /// so that the usual case takes no lock shared by every worker (a `Notify` takes one).
    settling: AtomicUsize,
    /// Set when the runtime dropped a task before it finished: it is shutting down.
    runtime_gone: AtomicBool,
}

/// One background task in flight; dropping it counts the task out.
pub(crate) struct Entered(Arc<InFlight>);

impl Drop for Entered {
    fn drop(&mut self) {
        if self.0.count.down() == 1 {
            // Pairs with the fence in `settle`: either it sees no task left, or this sees it
            // waiting.
            fence(Ordering::SeqCst);
            if self.0.settling.load(Ordering::Relaxed) > 0 {
                self.0.idle.notify_waiters();
            }
        }
    }
}

impl Engine {
    /// An engine on the current tokio runtime.
    pub(crate) fn new(routes: RouteTable, app_values: usize, config: Config) -> Self {
        let hard_stop = CancellationToken::new();
        let draining = hard_stop.child_token();
        Self {
            routes,
            app_slots: AppSlots::new(app_values),
            background: Arc::new(BackgroundPlaces::new(config.max_background)),
            config,
            in_flight: Arc::new(InFlight {
                count: Level::new("di_teardowns_in_flight"),
                idle: Notify::new(),
                settling: AtomicUsize::new(0),
                runtime_gone: AtomicBool::new(false),
            }),
            runtime: tokio::runtime::Handle::current(),
            shutdown: Registered::new(&draining),
            hard_stop,
            draining,
            stopped: AtomicBool::new(false),
            stats: Stats::default(),
            requests: Arc::new(Level::new("di_requests_in_flight")),
            layered: false,
            hosts: OnceLock::new(),
        }
    }

    /// Counts a request in, unless as many as the in-flight limit are being handled (then it
    /// is shed, and counted) or the app has stopped (its `app` scope going or gone: a clone
    /// of its service still in use); either before anything is set up.
    pub(crate) fn admit(&self) -> Result<Admitted, Refusal> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(Refusal::Stopped);
        }
        let before = self.requests.up();
        let admitted = Admitted(self.requests.clone());
        match self.config.max_in_flight {
            Some(limit) if before >= limit => {
                drop(admitted);
                self.stats.record_shed();
                Err(Refusal::Busy)
            }
            _ => Ok(admitted),
        }
    }

    /// Stops the app hard: streaming bodies of requests with `request`-scope work end at their
    /// next wait (others are not told), work cut from now on is cancelled with `Shutdown`,
    /// and requests are turned away.
    pub(crate) fn stop_hard(&self) {
        self.stopped.store(true, Ordering::Release);
        self.hard_stop.cancel();
    }

    /// Requests being handled now.
    pub(crate) fn requests_in_flight(&self) -> usize {
        self.requests.get()
    }

    /// Why an abandoned request or body is cancelled: the server is shutting down, or the
    /// client went away.
    pub(crate) fn cancel_reason(&self) -> CancelReason {
        if self.stopped.load(Ordering::Acquire)
            || self.in_flight.runtime_gone.load(Ordering::Acquire)
        {
            CancelReason::Shutdown
        } else {
            CancelReason::ClientGone
        }
    }

    /// Runs background work on the app's runtime, tracked for graceful shutdown, once one of
    /// the bounded background places is free (for work that did not take its place up front).
    pub(crate) fn spawn_background(&self, future: impl Future<Output = ()> + Send + 'static) {
        let place = self.background_place();
        self.spawn_tracked(async move {
            let _place = place.await;
            future.await;
        });
    }

    /// Waits for a free background place.
    pub(crate) fn background_place(
        &self,
    ) -> impl Future<Output = BackgroundPlace> + Send + 'static {
        let places = self.background.clone();
        async move { places.take().await }
    }

    /// The background places, for a request that takes one before its setup.
    pub(crate) fn background_places(&self) -> &Arc<BackgroundPlaces> {
        &self.background
    }

    /// The runtime the app runs on.
    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    /// Runs `future` on the app's runtime, tracked, keeping the current span.
    ///
    /// Never loses it: if the runtime drops the task before it finishes (the runtime is
    /// shutting down, and tasks spawned then are dropped at once), what is left of it runs to
    /// its end where the task is dropped, bounded by the teardown deadline.
    pub(crate) fn spawn_tracked(&self, future: impl Future<Output = ()> + Send + 'static) {
        let kept = Kept {
            future: Some(tracing::Instrument::instrument(future, current_span())),
            deadline: self.config.teardown_timeout,
            entered: self.enter_background(),
        };
        drop(self.runtime.spawn(kept));
    }

    /// Counts one background task in, until the returned guard is dropped.
    pub(crate) fn enter_background(&self) -> Entered {
        self.in_flight.count.up();
        Entered(self.in_flight.clone())
    }

    /// How many background tasks are running or waiting for a place.
    pub(crate) fn background_in_flight(&self) -> usize {
        self.in_flight.count.get()
    }

    /// Waits until no background task is running. Any number of callers may wait at once.
    pub(crate) async fn settle(&self) {
        let in_flight = &self.in_flight;
        in_flight.settling.fetch_add(1, Ordering::SeqCst);
        // Counted out however this future ends (dropped while it waits included).
        let _settling = scopeguard(|| {
            in_flight.settling.fetch_sub(1, Ordering::SeqCst);
        });
        loop {
            let idle = in_flight.idle.notified();
            // Pairs with the fence in `Entered::drop`.
            fence(Ordering::SeqCst);
            if in_flight.count.get() == 0 {
                return;
            }
            idle.await;
        }
    }
}

pin_project_lite::pin_project! {
    /// A tracked background task that finishes even when its runtime drops it. The future is
    /// held in place (not boxed): it is pinned in the task, and finished there if dropped.
    struct Kept<F>
    where
        F: Future<Output = ()>,
    {
        #[pin]
        future: Option<F>,
        deadline: Duration,
        entered: Entered,
    }

    impl<F> PinnedDrop for Kept<F>
    where
        F: Future<Output = ()>,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let Some(future) = this.future.as_pin_mut() else {
                return;
            };
            // The runtime dropped the task unfinished: it is shutting down. Teardowns are
            // owed exactly once, so run the rest here (teardowns see `Cancelled(Shutdown)`).
            this.entered.0.runtime_gone.store(true, Ordering::Release);
            tracing::warn!(target: "di", "the runtime is shutting down; finishing a teardown where it was dropped");
            let deadline = (*this.deadline).min(Duration::from_secs(5));
            match catch_call(|| finish_here(future, deadline)) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::error!(target: "di", "a teardown could not finish while the runtime shut down");
                }
                Err(panic) => {
                    tracing::error!(target: "di", %panic, "a teardown panicked while the runtime shut down");
                }
            }
        }
    }
}

impl<F: Future<Output = ()>> Future for Kept<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if let Some(future) = this.future.as_mut().as_pin_mut() {
            if future.poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.future.set(None);
        }
        Poll::Ready(())
    }
}

/// Wakes the thread that polls a future outside any runtime.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread until it ends; gives up when `deadline` passes or when it
/// stops making progress (nothing woke it for a while: what it waits for is gone with the
/// runtime). Returns whether it finished.
///
/// A teardown that stops making progress is given up alone: the stack it is in goes on with
/// the next one (see [`abandon_requested`]), so that one teardown waiting for what is gone
/// (a timer of the runtime) does not take the others with it.
fn finish_here(mut future: Pin<&mut impl Future<Output = ()>>, deadline: Duration) -> bool {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let end = Instant::now() + deadline;
    loop {
        let polled = future.as_mut().poll(&mut cx);
        // Read (and cleared) at every poll, but looked at only if the work has not ended: work
        // that stalled once and then ended has finished.
        let abandon = ABANDON.replace(false);
        if polled.is_ready() {
            return true;
        }
        if abandon {
            return false; // asked to give up a teardown, and none was under way
        }
        let now = Instant::now();
        if now >= end {
            return false;
        }
        let idle_limit = Duration::from_millis(200).min(end - now);
        let parked = Instant::now();
        std::thread::park_timeout(idle_limit);
        if parked.elapsed() >= idle_limit {
            // No wake-up: what it waits for will not come. The teardown under way is given
            // up at the next poll.
            ABANDON.set(true);
        }
    }
}

thread_local! {
    /// Set by [`finish_here`] when the future it finishes has stalled: the teardown under way
    /// is to be given up.
    static ABANDON: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the teardown under way, which has just returned `Pending`, is to be given up: it
/// is being finished after its runtime was dropped, and it stalled (see [`finish_here`]).
/// Answers `true` once per request.
pub(crate) fn abandon_requested() -> bool {
    ABANDON.replace(false)
}

/// Runs `f` when dropped.
fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use super::finish_here;

    /// Pending once without a wake-up (a stall: the give-up flag is set), then ready.
    struct StallsOnce(bool);

    impl std::future::Future for StallsOnce {
        type Output = ();

        fn poll(mut self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                Poll::Pending
            }
        }
    }

    /// Work finished where its runtime dropped it that stalls once and then ends has finished:
    /// it is not reported as work that could not finish (whose log line said so, wrongly).
    #[test]
    fn work_that_stalls_once_then_ends_has_finished() {
        let future = pin!(StallsOnce(false));
        assert!(finish_here(future, Duration::from_secs(5)));
    }
}
