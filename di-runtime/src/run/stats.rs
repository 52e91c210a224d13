//! Counters of a running app: atomics read through [`Metrics`] (`Running::metrics`), and,
//! with the `metrics` cargo feature, the same counts exported through the `metrics` crate's
//! facade, with handles resolved once (no name lookup per request).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use http::StatusCode;

use crate::contract::outcome::{CancelReason, Outcome};

/// Status codes counted one by one: 100 to 599 (a handler may build any `StatusCode` up to
/// 999: those are counted as 599).
const STATUSES: usize = 500;

/// Outcome kinds of teardowns, in the order of [`TeardownCounts`]' fields.
const KINDS: usize = 9;

/// The label of each outcome kind, for the `outcome` label of `di_teardowns_total`.
#[cfg_attr(
    not(feature = "metrics"),
    allow(dead_code, reason = "read by the export only")
)]
const KIND_LABELS: [&str; KINDS] = [
    "success",
    "handler_error",
    "setup_failed",
    "teardown_failed",
    "panicked",
    "cancelled_client_gone",
    "cancelled_timeout",
    "cancelled_shutdown",
    "body_error",
];

/// The kind of `outcome`, an index into [`KIND_LABELS`]; `None` for `Stopped` (what `app`
/// scope sees, not counted).
fn kind(outcome: &Outcome) -> Option<usize> {
    Some(match outcome {
        Outcome::Success { .. } => 0,
        Outcome::HandlerError { .. } => 1,
        Outcome::SetupFailed { .. } => 2,
        Outcome::TeardownFailed { .. } => 3,
        Outcome::Panicked => 4,
        Outcome::Cancelled(CancelReason::ClientGone) => 5,
        Outcome::Cancelled(CancelReason::Timeout) => 6,
        Outcome::Cancelled(CancelReason::Shutdown) => 7,
        Outcome::BodyError { .. } => 8,
        Outcome::Stopped => return None,
    })
}

/// How one teardown ended badly.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TeardownFailure {
    /// It returned an error.
    Error,
    /// It panicked.
    Panic,
    /// It ran past the teardown deadline.
    Timeout,
}

/// How many of a request's background tasks panicked, and how many ran past the deadline.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TaskFailures {
    pub(crate) panics: u64,
    pub(crate) timeouts: u64,
}

/// A number of things in progress (requests, background teardowns, connections).
#[derive(Debug)]
pub(crate) struct Level {
    count: AtomicUsize,
    #[cfg(feature = "metrics")]
    gauge: metrics::Gauge,
}

impl Level {
    #[cfg_attr(
        not(feature = "metrics"),
        allow(unused_variables, reason = "the gauge's name")
    )]
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            count: AtomicUsize::new(0),
            #[cfg(feature = "metrics")]
            gauge: metrics::gauge!(name),
        }
    }

    /// One more; returns how many there were before.
    pub(crate) fn up(&self) -> usize {
        #[cfg(feature = "metrics")]
        self.gauge.increment(1.0);
        self.count.fetch_add(1, Ordering::AcqRel)
    }

    /// One less; returns how many there were before.
    pub(crate) fn down(&self) -> usize {
        #[cfg(feature = "metrics")]
        self.gauge.decrement(1.0);
        self.count.fetch_sub(1, Ordering::AcqRel)
    }

    pub(crate) fn get(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

/// Counters of a running app, read through `Running` and the server.
#[derive(Debug)]
pub(crate) struct Stats {
    /// The counters every request moves, one set per shard (see [`Shard`]).
    shards: Box<[Shard]>,
    teardown_errors: AtomicU64,
    teardown_panics: AtomicU64,
    teardown_timeouts: AtomicU64,
    task_panics: AtomicU64,
    task_timeouts: AtomicU64,
    shed: AtomicU64,
    /// Connections served now (by `App::serve`/`bind`).
    pub(crate) connections: Level,
    #[cfg(feature = "metrics")]
    export: export::Handles,
}

/// The counters every request moves: each thread counts in one shard of its own (shards are
/// handed out to threads in turn), so that the workers do not all write to the same cache
/// lines; a reading sums the shards. Aligned so that no two shards share a line.
#[repr(align(128))]
struct Shard {
    /// Responses by status, 100 to 599 (index: status - 100); the last one also counts any
    /// status past 599.
    responses: [AtomicU64; STATUSES],
    setups: AtomicU64,
    teardowns: [AtomicU64; KINDS],
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("setups", &self.setups)
            .finish_non_exhaustive()
    }
}

/// Shards per app: more than the worker threads of most machines, few enough to sum.
const SHARDS: usize = 16;

impl Shard {
    fn new() -> Self {
        Self {
            responses: std::array::from_fn(|_| AtomicU64::new(0)),
            setups: AtomicU64::new(0),
            teardowns: Default::default(),
        }
    }
}

/// The shard of the calling thread.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    // A thread being torn down counts in shard 0.
    SHARD.try_with(|shard| *shard).unwrap_or(0)
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard::new()).collect(),
            teardown_errors: AtomicU64::new(0),
            teardown_panics: AtomicU64::new(0),
            teardown_timeouts: AtomicU64::new(0),
            task_panics: AtomicU64::new(0),
            task_timeouts: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            connections: Level::new("di_connections_open"),
            #[cfg(feature = "metrics")]
            export: export::Handles::new(),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Stats {
    /// The calling thread's shard (`shards` holds `SHARDS` of them).
    fn shard(&self) -> &Shard {
        &self.shards[shard_index()]
    }

    /// The sum over the shards of one counter.
    fn total(&self, counter: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards.iter().map(|shard| read(counter(shard))).sum()
    }

    /// A response on its way out; `exported` says whether it goes to the `metrics` export: not
    /// when another `di` app, which this one is mounted in, exports it (see `Outer::mounted`).
    /// Asked only with the `metrics` feature: without it no request looks for the mount.
    #[cfg_attr(
        not(feature = "metrics"),
        allow(unused_variables, reason = "read by the export only")
    )]
    pub(crate) fn record_response(&self, status: StatusCode, exported: impl FnOnce() -> bool) {
        let index = usize::from(status.as_u16().clamp(100, 599) - 100);
        bump(&self.shard().responses[index]);
        #[cfg(feature = "metrics")]
        if exported() {
            self.export.response(index);
        }
    }

    /// A `request`- or `handler`-scope generator reached its `provide`: a teardown is owed.
    pub(crate) fn record_setup(&self) {
        bump(&self.shard().setups);
        #[cfg(feature = "metrics")]
        self.export.setups.increment(1);
    }

    /// A teardown that was handed `outcome` has ended (`app` scope is not counted).
    pub(crate) fn record_teardown(&self, outcome: &Outcome) {
        if let Some(kind) = kind(outcome) {
            bump(&self.shard().teardowns[kind]);
            #[cfg(feature = "metrics")]
            self.export.teardowns[kind].increment(1);
        }
    }

    pub(crate) fn record_teardown_failure(&self, failure: TeardownFailure) {
        let (counter, _index) = match failure {
            TeardownFailure::Error => (&self.teardown_errors, 0),
            TeardownFailure::Panic => (&self.teardown_panics, 1),
            TeardownFailure::Timeout => (&self.teardown_timeouts, 2),
        };
        bump(counter);
        #[cfg(feature = "metrics")]
        self.export.teardown_failures[_index].increment(1);
    }

    /// What a request's background tasks did: how many panicked, how many timed out.
    pub(crate) fn record_task_failures(&self, failures: TaskFailures) {
        if failures.panics + failures.timeouts == 0 {
            return;
        }
        self.task_panics
            .fetch_add(failures.panics, Ordering::Relaxed);
        self.task_timeouts
            .fetch_add(failures.timeouts, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        {
            self.export.task_failures[0].increment(failures.panics);
            self.export.task_failures[1].increment(failures.timeouts);
        }
    }

    pub(crate) fn record_shed(&self) {
        bump(&self.shed);
        #[cfg(feature = "metrics")]
        self.export.shed.increment(1);
    }

    /// Requests shed past the in-flight limit so far.
    pub(crate) fn shed(&self) -> u64 {
        read(&self.shed)
    }

    /// Teardowns that failed, timed out or panicked so far.
    pub(crate) fn teardown_failures(&self) -> u64 {
        read(&self.teardown_errors) + read(&self.teardown_panics) + read(&self.teardown_timeouts)
    }

    /// Background tasks that panicked or ran past their deadline so far.
    pub(crate) fn background_failures(&self) -> u64 {
        read(&self.task_panics) + read(&self.task_timeouts)
    }

    /// The counters now, with the levels the engine keeps.
    pub(crate) fn snapshot(
        &self,
        requests_in_flight: usize,
        teardowns_in_flight: usize,
    ) -> Metrics {
        let responses = (0..STATUSES)
            .zip(100u16..)
            .filter_map(|(index, status)| {
                let count = self.total(|shard| &shard.responses[index]);
                let status = StatusCode::from_u16(status).ok()?;
                (count > 0).then_some((status, count))
            })
            .collect();
        let [
            success,
            handler_error,
            setup_failed,
            teardown_failed,
            panicked,
            cancelled_client_gone,
            cancelled_timeout,
            cancelled_shutdown,
            body_error,
        ] = std::array::from_fn(|kind| self.total(|shard| &shard.teardowns[kind]));
        Metrics {
            responses,
            setups: self.total(|shard| &shard.setups),
            teardowns: TeardownCounts {
                success,
                handler_error,
                setup_failed,
                teardown_failed,
                panicked,
                cancelled_client_gone,
                cancelled_timeout,
                cancelled_shutdown,
                body_error,
            },
            teardown_errors: read(&self.teardown_errors),
            teardown_panics: read(&self.teardown_panics),
            teardown_timeouts: read(&self.teardown_timeouts),
            background_task_panics: read(&self.task_panics),
            background_task_timeouts: read(&self.task_timeouts),
            requests_shed: read(&self.shed),
            requests_in_flight,
            teardowns_in_flight,
            open_connections: self.connections.get(),
        }
    }
}

/// The counters of a running app at one moment, from
/// [`Running::metrics`](crate::Running::metrics). Counters count since the app started;
/// levels (`*_in_flight`, `open_connections`) are the number now.
///
/// With the cargo feature `metrics`, the same numbers are exported through the
/// [`metrics`](https://docs.rs/metrics) crate's facade, so any of its exporters (Prometheus
/// included) publishes them; the name of each is given with its field. Handles are resolved
/// when the app starts (a response status's the first time it is seen), so install the
/// recorder before [`App::start`](crate::App::start) or `serve`.
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
/// client.get("/nowhere").send().await;
/// let metrics = client.running().metrics();
/// assert_eq!(metrics.responses_with(StatusCode::OK), 1);
/// assert_eq!(metrics.responses_with(StatusCode::NOT_FOUND), 1);
/// assert_eq!(metrics.responses_total(), 2);
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Responses sent, by status code (only the codes seen, in ascending order), the app's
    /// own answers (404, 405, 408, 413, 422, 503 ...) included, counted when the response
    /// head is ready, and those hyper's HTTP/1 gives by itself to a request head it cannot
    /// parse (400, 414, 431: the app never sees the request), counted when their connection
    /// ends. HTTP/2's own answers are not counted: the `h2` crate's 431 to a header list
    /// past [`App::max_head_size`](crate::App::max_head_size) is sent inside the connection,
    /// where hyper tells the app nothing of it, and a stream refused past
    /// `max_concurrent_streams` is reset, not answered. A status past 599 is counted as 599. A request whose client went away
    /// before its response is not counted, mid-upload included (the answer to the broken
    /// body, a 400, reaches no one; its teardowns see `Cancelled(ClientGone)`).
    /// Exported as the counter `di_requests_total{status="200"}`, except by an app mounted
    /// in another `di` app ([`App::nest_service`](crate::App::nest_service),
    /// [`App::fallback_service`](crate::App::fallback_service)): that app exports what leaves
    /// it, so that the export counts each request once.
    pub responses: Vec<(StatusCode, u64)>,
    /// Dependencies with a teardown (generators of `request` or `handler` scope) whose setup
    /// completed; each is owed exactly one teardown, so once the app has settled this equals
    /// [`TeardownCounts::total`]. `app`-scope ones are not counted.
    /// Exported as `di_setups_total`.
    pub setups: u64,
    /// Teardowns that have ended, by the outcome they were handed.
    /// Exported as `di_teardowns_total{outcome="..."}` (the field names are the labels).
    pub teardowns: TeardownCounts,
    /// Teardowns that returned an error (any scope). Exported as `di_teardown_errors_total`.
    pub teardown_errors: u64,
    /// Teardowns that panicked (any scope). Exported as `di_teardown_panics_total`.
    pub teardown_panics: u64,
    /// Teardowns stopped at the teardown deadline (any scope).
    /// Exported as `di_teardown_timeouts_total`.
    pub teardown_timeouts: u64,
    /// [`BackgroundTasks`](crate::BackgroundTasks) that panicked.
    /// Exported as `di_background_task_panics_total`.
    pub background_task_panics: u64,
    /// Background tasks stopped at the teardown deadline.
    /// Exported as `di_background_task_timeouts_total`.
    pub background_task_timeouts: u64,
    /// Requests shed with 503 past [`App::max_in_flight`](crate::App::max_in_flight).
    /// Exported as `di_requests_shed_total`.
    pub requests_shed: u64,
    /// Requests being handled now, up to their response head (a gauge).
    /// Exported as `di_requests_in_flight`.
    pub requests_in_flight: usize,
    /// Background work running or waiting for a place now: `request`-scope teardowns and
    /// background tasks after their response (a gauge). Exported as `di_teardowns_in_flight`.
    pub teardowns_in_flight: usize,
    /// Connections open now, when served by [`App::serve`](crate::App::serve) or
    /// [`App::bind`](crate::App::bind) (a gauge): a connection counts from when it is
    /// accepted (one held unserved at [`App::max_connections`](crate::App::max_connections)
    /// included, so that the gauge can read one more than the limit) until its socket has
    /// closed and, over HTTP/2, its streams' responses have ended (hyper runs each stream in a
    /// task of its own, which may still hold its response, and its teardowns, a moment after
    /// the connection ended). So once none is open and the app has [settled](crate::Server::settle),
    /// every teardown owed has run. Exported as `di_connections_open`.
    pub open_connections: usize,
}

impl Metrics {
    /// Responses sent with `status`.
    pub fn responses_with(&self, status: StatusCode) -> u64 {
        self.responses
            .iter()
            .find(|(seen, _)| *seen == status)
            .map_or(0, |(_, count)| *count)
    }

    /// Responses sent, whatever their status.
    pub fn responses_total(&self) -> u64 {
        self.responses.iter().map(|(_, count)| count).sum()
    }
}

/// Teardowns that have ended, by the [`Outcome`](crate::Outcome) they were handed (one field
/// per kind; cancellations by reason). Each field's name is its `outcome` label in
/// `di_teardowns_total`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TeardownCounts {
    /// `Outcome::Success`.
    pub success: u64,
    /// `Outcome::HandlerError`.
    pub handler_error: u64,
    /// `Outcome::SetupFailed` (a later dependency's setup failed).
    pub setup_failed: u64,
    /// `Outcome::TeardownFailed` (an earlier teardown of the request failed).
    pub teardown_failed: u64,
    /// `Outcome::Panicked`.
    pub panicked: u64,
    /// `Outcome::Cancelled(CancelReason::ClientGone)`.
    pub cancelled_client_gone: u64,
    /// `Outcome::Cancelled(CancelReason::Timeout)`.
    pub cancelled_timeout: u64,
    /// `Outcome::Cancelled(CancelReason::Shutdown)`.
    pub cancelled_shutdown: u64,
    /// `Outcome::BodyError`.
    pub body_error: u64,
}

impl TeardownCounts {
    /// Every teardown that has ended, whatever its outcome.
    pub fn total(&self) -> u64 {
        self.success
            + self.handler_error
            + self.setup_failed
            + self.teardown_failed
            + self.panicked
            + self.cancelled_client_gone
            + self.cancelled_timeout
            + self.cancelled_shutdown
            + self.body_error
    }
}

/// The export through the `metrics` facade.
#[cfg(feature = "metrics")]
mod export {
    use std::sync::OnceLock;

    use metrics::{Counter, Unit, counter, describe_counter, describe_gauge};

    use super::{KIND_LABELS, KINDS, STATUSES};

    /// Every handle, resolved when the app starts (a status's on its first response), so
    /// that counting is an atomic add through the handle, with no name lookup.
    #[derive(Debug)]
    pub(super) struct Handles {
        responses: Box<[OnceLock<Counter>]>,
        pub(super) setups: Counter,
        pub(super) teardowns: [Counter; KINDS],
        /// Errors, panics, timeouts.
        pub(super) teardown_failures: [Counter; 3],
        /// Panics, timeouts.
        pub(super) task_failures: [Counter; 2],
        pub(super) shed: Counter,
    }

    impl Handles {
        pub(super) fn new() -> Self {
            describe();
            Self {
                responses: (0..STATUSES).map(|_| OnceLock::new()).collect(),
                setups: counter!("di_setups_total"),
                teardowns: KIND_LABELS
                    .map(|outcome| counter!("di_teardowns_total", "outcome" => outcome)),
                teardown_failures: [
                    counter!("di_teardown_errors_total"),
                    counter!("di_teardown_panics_total"),
                    counter!("di_teardown_timeouts_total"),
                ],
                task_failures: [
                    counter!("di_background_task_panics_total"),
                    counter!("di_background_task_timeouts_total"),
                ],
                shed: counter!("di_requests_shed_total"),
            }
        }

        /// A response with the status at `index` (status - 100).
        pub(super) fn response(&self, index: usize) {
            self.responses[index]
                .get_or_init(|| {
                    let status = (index + 100).to_string();
                    counter!("di_requests_total", "status" => status)
                })
                .increment(1);
        }
    }

    /// Tells the recorder what each metric means (Prometheus' `# HELP`).
    fn describe() {
        describe_counter!(
            "di_requests_total",
            Unit::Count,
            "Responses sent, by status code"
        );
        describe_counter!(
            "di_setups_total",
            Unit::Count,
            "Request- and handler-scope dependencies with a teardown whose setup completed"
        );
        describe_counter!(
            "di_teardowns_total",
            Unit::Count,
            "Teardowns ended, by the outcome they were handed"
        );
        describe_counter!(
            "di_teardown_errors_total",
            Unit::Count,
            "Teardowns that returned an error"
        );
        describe_counter!(
            "di_teardown_panics_total",
            Unit::Count,
            "Teardowns that panicked"
        );
        describe_counter!(
            "di_teardown_timeouts_total",
            Unit::Count,
            "Teardowns stopped at their deadline"
        );
        describe_counter!(
            "di_background_task_panics_total",
            Unit::Count,
            "Background tasks that panicked"
        );
        describe_counter!(
            "di_background_task_timeouts_total",
            Unit::Count,
            "Background tasks stopped at their deadline"
        );
        describe_counter!(
            "di_requests_shed_total",
            Unit::Count,
            "Requests shed with 503 past the in-flight limit"
        );
        describe_gauge!(
            "di_requests_in_flight",
            Unit::Count,
            "Requests being handled, up to their response head"
        );
        describe_gauge!(
            "di_teardowns_in_flight",
            Unit::Count,
            "Background teardowns and tasks running or waiting"
        );
        describe_gauge!("di_connections_open", Unit::Count, "Connections open");
    }
}
