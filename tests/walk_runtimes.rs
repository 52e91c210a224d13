//! A walk through the tokio runtimes and test harnesses an app meets where its users run it:
//! `#[tokio::test]` (one thread) and one worker of a multi-threaded runtime, a `LocalSet`,
//! paused time (`tokio::time::pause`) against the request and teardown deadlines, blocking work
//! in dependencies (`block_in_place` on one thread), a teardown that spawns, an app used from
//! another thread or runtime, a test whose runtime ends with work still running, and one app
//! shared by the tests of a binary. Each test gives its own recorder, so they run in parallel.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::describe;
use di_runtime::prelude::*;
use futures_util::StreamExt as _;

/// What the teardowns of one test saw, in order.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, event: impl Into<String>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.into());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Each test gives its own with `App::provide`.
#[depends(scope = "app")]
async fn seen() -> Seen {
    Seen::default()
}

/// A `request`-scope connection that records the outcome its teardown was handed.
#[depends]
async fn conn(#[dep(seen)] seen: &Seen, y: Yield<u32>) {
    let (_conn, outcome) = y.provide(1).await;
    seen.push(format!("conn:{}", describe(&outcome)));
}

/// Queues a background task that waits for the runtime's timer far longer than a test runs.
#[depends]
async fn long_task(#[dep(conn)] _conn: &u32, tasks: BackgroundTasks) -> &'static str {
    tasks.add(async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
    "queued"
}

fn app(seen_here: &Seen) -> App {
    App::new()
        .provide(seen, seen_here.clone())
        .get("/long-task", long_task)
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A test ends (its runtime is dropped) while a response's background task waits for the
/// runtime's timer: the task is finished where the runtime drops it, stalls, and is given up.
/// The `request`-scope teardown after it was given up with it, uncounted (no teardown at all
/// for a setup): it now runs, once, with the outcome of the response (sent whole), and the
/// task is counted as timed out.
#[test]
fn a_background_task_stalled_as_the_runtime_ends_does_not_take_the_teardowns_with_it() {
    let seen_here = Seen::default();
    let runtime = current_thread();
    let service = runtime.block_on(async {
        let client = TestClient::start(app(&seen_here)).await.unwrap();
        let body = client.get("/long-task").send().await.text().await.unwrap();
        assert_eq!(body, "queued");
        // The task has started and waits; the test ends without `settle` or `shutdown`.
        tokio::task::yield_now().await;
        client.running().service()
    });
    drop(runtime);
    assert_eq!(seen_here.take(), ["conn:success 200"]);
    let metrics = service.metrics();
    assert_eq!(metrics.setups, 1);
    assert_eq!(metrics.teardowns.total(), 1, "{metrics:?}");
    assert_eq!(metrics.background_task_timeouts, 1, "{metrics:?}");
    assert_eq!(metrics.teardowns_in_flight, 0, "{metrics:?}");
}

/// After a test whose runtime ended with work given up (a teardown and a background task
/// stalled on its timer), the next test on the same thread, with an app of its own, starts
/// clean: its teardown that waits is not given up, and a response it drops mid-body is the
/// client gone, not a shutdown.
#[test]
fn a_runtime_that_ended_with_work_given_up_leaves_the_next_test_on_its_thread_unaffected() {
    let seen_first = Seen::default();
    let runtime = current_thread();
    runtime.block_on(async {
        let app = app(&seen_first).get("/waits", waits_to_release);
        let client = TestClient::start(app).await.unwrap();
        assert_eq!(
            client.get("/waits").send().await.text().await.unwrap(),
            "ok"
        );
        assert_eq!(
            client.get("/long-task").send().await.text().await.unwrap(),
            "queued"
        );
        tokio::task::yield_now().await;
    });
    drop(runtime);
    assert_eq!(
        seen_first.take(),
        ["conn:success 200"],
        "the waiting teardown was given up"
    );

    let seen_next = Seen::default();
    let runtime = current_thread();
    runtime.block_on(async {
        let app = app(&seen_next)
            .get("/waits", waits_to_release)
            .get("/lines", lines);
        let client = TestClient::start(app).await.unwrap();
        assert_eq!(
            client.get("/waits").send().await.text().await.unwrap(),
            "ok"
        );
        let mut response = client.get("/lines").send().await;
        assert_eq!(response.chunk().await.unwrap().unwrap(), "0\n");
        drop(response);
        common::within(client.settle()).await;
        let mut events = seen_next.take();
        events.sort();
        assert_eq!(
            events,
            ["conn:cancelled client gone", "waiting:success 200"]
        );
        let metrics = client.running().metrics();
        assert_eq!(metrics.teardown_timeouts, 0, "{metrics:?}");
        client.shutdown().await;
    });
}

// ------------------------------------------------ blocking work on a runtime of one thread

/// `block_in_place` panics on a runtime of one thread (`#[tokio::test]`, `current_thread`).
#[depends]
async fn blocks_in_place(#[dep(conn)] _conn: &u32) -> &'static str {
    tokio::task::block_in_place(|| "blocked")
}

/// A `handler`-scope transaction whose commit blocks in place.
#[depends(scope = "handler")]
async fn blocking_commit(#[dep(seen)] seen: &Seen, y: Yield<u32>) {
    let (_tx, outcome) = y.provide(1).await;
    seen.push(format!("commit:{}", describe(&outcome)));
    tokio::task::block_in_place(|| ());
}

#[depends]
async fn commits(#[dep(blocking_commit)] _tx: &u32) -> &'static str {
    "committed"
}

/// A `request`-scope teardown that blocks in place, after the response was sent.
#[depends]
async fn blocking_release(#[dep(seen)] seen: &Seen, y: Yield<u32>) {
    let (_conn, outcome) = y.provide(1).await;
    seen.push(format!("release:{}", describe(&outcome)));
    tokio::task::block_in_place(|| ());
}

#[depends]
async fn releases(#[dep(blocking_release)] _conn: &u32) -> &'static str {
    "released"
}

/// Blocking work done as tokio asks on one thread (`spawn_blocking`), and the blocking sleep
/// it warns against: both answer.
#[depends]
async fn blocks_properly(#[dep(conn)] _conn: &u32) -> String {
    let slept = tokio::task::spawn_blocking(|| {
        std::thread::sleep(Duration::from_millis(5));
        "spawned"
    })
    .await
    .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    format!("{slept} and slept")
}

/// On `#[tokio::test]`'s runtime of one thread, `block_in_place` panics. In a handler: the
/// client gets the generic 500 (no panic message), the teardowns see `Panicked`. In a
/// `handler`-scope teardown: the response becomes that 500. In a `request`-scope teardown,
/// after the response: the 200 stands, the panic is counted. The app serves on.
#[tokio::test]
async fn block_in_place_on_one_thread_is_a_caught_panic_wherever_it_is_called() {
    let seen_here = Seen::default();
    let app = app(&seen_here)
        .get("/in-place", blocks_in_place)
        .get("/commits", commits)
        .get("/releases", releases)
        .get("/spawn-blocking", blocks_properly);
    let client = TestClient::start(app).await.unwrap();

    let response = client.get("/in-place").send().await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Internal Server Error"}"#
    );
    client.settle().await;
    assert_eq!(seen_here.take(), ["conn:panicked"]);

    let response = client.get("/commits").send().await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Internal Server Error"}"#
    );
    assert_eq!(seen_here.take(), ["commit:success 200"]);

    let response = client.get("/releases").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "released");
    client.settle().await;
    assert_eq!(seen_here.take(), ["release:success 200"]);

    let response = client.get("/spawn-blocking").send().await;
    assert_eq!(response.text().await.unwrap(), "spawned and slept");
    client.settle().await;
    assert_eq!(seen_here.take(), ["conn:success 200"]);

    let metrics = client.running().metrics();
    assert_eq!(metrics.teardown_panics, 2, "{metrics:?}");
    assert_eq!(metrics.teardowns.total(), metrics.setups, "{metrics:?}");
    client.shutdown().await;
}

// ------------------------------------------------ paused time

/// Sleeps 10 s (of the runtime's clock) in its handler.
#[depends]
async fn sleeps_10s(#[dep(conn)] _conn: &u32) -> &'static str {
    tokio::time::sleep(Duration::from_secs(10)).await;
    "slept"
}

/// A teardown that takes 100 s (of the runtime's clock).
#[depends]
async fn slow_release(#[dep(seen)] seen: &Seen, y: Yield<u32>) {
    let (_conn, outcome) = y.provide(1).await;
    seen.push(format!("slow:{}", describe(&outcome)));
    tokio::time::sleep(Duration::from_secs(100)).await;
    seen.push("slow:released");
}

#[depends]
async fn slow_to_release(
    #[dep(conn)] _conn: &u32,
    #[dep(slow_release)] _slow: &u32,
) -> &'static str {
    "ok"
}

/// Under `tokio::time::pause` (`start_paused`), the deadlines are the runtime's clock's: it
/// jumps to the next timer when nothing else can run. A handler that sleeps less than
/// `request_timeout` is answered, one that sleeps more is the 503 with its teardowns told
/// `Cancelled(Timeout)`, and a teardown past `teardown_timeout` is given up and counted, the
/// one set up before it still run (told of the failure); nothing hangs, nothing waits for
/// real time.
#[tokio::test(start_paused = true)]
async fn under_paused_time_the_deadlines_fall_on_the_runtimes_clock() {
    let seen_here = Seen::default();
    let app = |timeout| {
        app(&seen_here)
            .get("/sleeps", sleeps_10s)
            .get("/slow-release", slow_to_release)
            .request_timeout(Duration::from_secs(timeout))
            .teardown_timeout(Duration::from_secs(2))
    };
    let started = std::time::Instant::now();

    let client = TestClient::start(app(60)).await.unwrap();
    let response = client.get("/sleeps").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "slept");
    client.settle().await;
    assert_eq!(seen_here.take(), ["conn:success 200"]);
    client.shutdown().await;

    let client = TestClient::start(app(5)).await.unwrap();
    let before = tokio::time::Instant::now();
    let response = client.get("/sleeps").send().await;
    assert_eq!(response.status(), 503);
    assert_eq!(before.elapsed(), Duration::from_secs(5), "at the deadline");
    client.settle().await;
    assert_eq!(seen_here.take(), ["conn:cancelled timeout"]);

    let response = client.get("/slow-release").send().await;
    assert_eq!(response.text().await.unwrap(), "ok");
    client.settle().await;
    assert_eq!(
        seen_here.take(),
        ["slow:success 200", "conn:teardown_failed slow_release"]
    );
    let metrics = client.running().metrics();
    assert_eq!(metrics.teardown_timeouts, 1, "{metrics:?}");
    assert_eq!(metrics.teardowns.total(), metrics.setups, "{metrics:?}");
    client.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "no real time waited"
    );
}

// ------------------------------------------------ one app for many tests

/// A teardown that waits for the runtime's timer after the response.
#[depends]
async fn waiting_release(#[dep(seen)] seen: &Seen, y: Yield<u32>) {
    let (_conn, outcome) = y.provide(1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    seen.push(format!("waiting:{}", describe(&outcome)));
}

#[depends]
async fn waits_to_release(#[dep(waiting_release)] _conn: &u32) -> &'static str {
    "ok"
}

/// Three lines, from a body that holds the `request`-scope connection.
#[depends]
async fn lines(
    #[dep(conn)] conn: Held<u32>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    let lines = futures_util::stream::iter(0..3).map(move |i| {
        let _held = &conn;
        Ok(format!("{i}\n"))
    });
    StreamBody::new(lines)
}

/// One app shared by the tests of a binary, as docs/testing.md shows it: started on a runtime
/// that outlives them, and used from each test's own runtime (one thread, as
/// `#[tokio::test]`'s), which ends with its test. A teardown that waits after a test's last
/// response still runs to its end, with its outcome; a response a test drops mid-body is the
/// client gone, in every test, not a shutdown; no teardown is given up.
#[test]
fn an_app_started_on_a_runtime_that_outlives_the_tests_serves_each_of_them() {
    let seen_here = Seen::default();
    let shared = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let app = app(&seen_here)
        .get("/waits", waits_to_release)
        .get("/lines", lines);
    let client = shared.block_on(TestClient::start(app)).unwrap();
    for _test in 0..3 {
        let runtime = current_thread();
        runtime.block_on(async {
            let mut response = client.get("/lines").send().await;
            assert_eq!(response.chunk().await.unwrap().unwrap(), "0\n");
            drop(response);
            assert_eq!(
                client.get("/waits").send().await.text().await.unwrap(),
                "ok"
            );
            // The test ends here: no `settle`.
        });
        drop(runtime);
    }
    shared.block_on(async { common::within(client.settle()).await });
    let mut events = seen_here.take();
    events.sort();
    assert_eq!(
        events,
        [
            "conn:cancelled client gone",
            "conn:cancelled client gone",
            "conn:cancelled client gone",
            "waiting:success 200",
            "waiting:success 200",
            "waiting:success 200",
        ]
    );
    let metrics = client.running().metrics();
    assert_eq!(metrics.teardown_timeouts, 0, "{metrics:?}");
    shared.block_on(client.shutdown());
}

// ------------------------------------------------ a runtime built by hand

/// A runtime built without timers (`Builder::new_current_thread().enable_io().build()`: no
/// `enable_time`, which `enable_all`, `#[tokio::main]` and `#[tokio::test]` turn on) cannot run
/// the app's deadlines. `bind` said `Ok`, then the server's accept loop panicked at the first
/// connection (that client reset, every later one refused), and `TestClient::start` said `Ok`,
/// then the first request that waited panicked inside di. Both starts are now refused, the
/// error naming the fix, before anything is set up; so is a start outside any runtime, which
/// panicked.
#[test]
fn a_runtime_without_timers_is_refused_at_start() {
    let outside = futures_util::FutureExt::now_or_never(TestClient::start(app(&Seen::default())));
    let error = outside.expect("refused at once").unwrap_err();
    assert!(
        error.to_string().contains("outside a tokio runtime"),
        "{error}"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    runtime.block_on(async {
        let error = TestClient::start(app(&Seen::default())).await.unwrap_err();
        assert!(error.to_string().contains("`enable_time()`"), "{error}");
        let error = app(&Seen::default()).bind("127.0.0.1:0").await.unwrap_err();
        assert!(error.to_string().contains("`enable_time()`"), "{error}");
    });
}
