//! A response whose body is read outside di's server (the test client, the app used as a
//! `tower::Service`) has its `request`-scope teardowns and background tasks run by the
//! engine's hosting tasks, not in a task spawned per response (`run/host.rs`, `Hosts`). These
//! pin what that must keep: each teardown runs once, after the body, with its outcome, whether
//! it finishes at once or waits; on a runtime of several workers; when the runtime goes away
//! with the work still queued; when work is queued while a host runs other work; when a body
//! or a request is dropped as its thread exits; and no hosting task outlives its app.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{count, events, log, serial, within};
use di_runtime::prelude::*;
use http_body_util::{BodyExt, Empty};

/// Teardowns that finished, by how the request ended.
static CLOSED: AtomicUsize = AtomicUsize::new(0);

struct Session;

/// Counts a teardown that saw its request succeed.
fn closed(outcome: &Outcome) {
    if matches!(outcome, Outcome::Success { .. }) {
        CLOSED.fetch_add(1, Ordering::SeqCst);
    }
}

#[depends(scope = "request")]
async fn session(y: Yield<Session>) {
    let (_session, outcome) = y.provide(Session).await;
    closed(&outcome);
}

/// A teardown that waits, so that it leaves the host for a task of its own.
#[depends(scope = "request")]
async fn slow_session(y: Yield<Session>) {
    let (_session, outcome) = y.provide(Session).await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    closed(&outcome);
}

#[depends]
async fn quick(#[dep(session)] _s: &Session) -> &'static str {
    "ok"
}

#[depends]
async fn slow(#[dep(slow_session)] _s: &Session) -> &'static str {
    "ok"
}

#[depends]
async fn quick_with_task(#[dep(session)] _s: &Session, tasks: BackgroundTasks) -> &'static str {
    tasks.add(async { log("task ran") });
    "ok"
}

#[depends]
async fn panicking_task(tasks: BackgroundTasks) -> &'static str {
    tasks.add(async { panic!("background panic in a hosted body") });
    "ok"
}

/// The app's service, for a handler that calls the app again.
static SERVICE: std::sync::OnceLock<di_runtime::AppService> = std::sync::OnceLock::new();

#[depends(scope = "request")]
async fn inner_session(y: Yield<Session>) {
    let (_session, _outcome) = y.provide(Session).await;
    log("inner torn down");
}

#[depends]
async fn inner(#[dep(inner_session)] _s: &Session) -> &'static str {
    "ok"
}

#[depends]
async fn stuck(#[dep(inner_session)] _s: &Session) -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

/// Holds another response's body, unread, until its teardown.
struct Holder(std::sync::Mutex<Option<di_runtime::Body>>);

/// Drops the body it holds in its teardown, which a host runs: that response's after-body work
/// is queued while the host is running this one.
#[depends(scope = "request")]
async fn holder(y: Yield<Holder>) {
    let (holder, _outcome) = y.provide(Holder(std::sync::Mutex::new(None))).await;
    let body = holder.0.lock().unwrap().take();
    drop(body);
}

#[depends]
async fn nested(#[dep(holder)] holder: &Holder) -> &'static str {
    let Some(service) = SERVICE.get() else {
        return "no service";
    };
    let body = service.call_request(get("/inner")).await.into_body();
    *holder.0.lock().unwrap() = Some(body);
    "ok"
}

/// `GET path`, without a body, for the app's service.
fn get(path: &str) -> http::Request<Empty<Bytes>> {
    http::Request::get(path)
        .body(Empty::<Bytes>::new())
        .unwrap()
}

/// The body of `GET path`, read to its end.
async fn text(client: &TestClient, path: &str) -> String {
    client.get(path).send().await.text().await.unwrap()
}

fn app() -> App {
    App::new()
        .get("/quick", quick)
        .get("/slow", slow)
        .get("/task", quick_with_task)
        .get("/panics", panicking_task)
        .get("/nested", nested)
        .get("/inner", inner)
        .get("/stuck", stuck)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_teardown_of_bodies_read_at_once_on_two_workers_runs_once_after_its_body() {
    let _serial = serial().await;
    CLOSED.store(0, Ordering::SeqCst);
    let client = std::sync::Arc::new(TestClient::start(app()).await.unwrap());
    let mut requests = Vec::new();
    for i in 0..400 {
        let client = client.clone();
        requests.push(tokio::spawn(async move {
            let path = if i % 4 == 0 { "/slow" } else { "/quick" };
            let response = client.get(path).send().await;
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }));
    }
    for request in requests {
        assert_eq!(within(request).await.unwrap(), "ok");
    }
    within(client.settle()).await;
    assert_eq!(CLOSED.load(Ordering::SeqCst), 400);
    assert_eq!(client.running().teardowns_in_flight(), 0);
}

#[tokio::test]
async fn a_panicking_background_task_leaves_the_host_serving_the_next_bodies() {
    let _serial = serial().await;
    CLOSED.store(0, Ordering::SeqCst);
    let client = TestClient::start(app()).await.unwrap();
    for _ in 0..3 {
        assert_eq!(text(&client, "/panics").await, "ok");
        within(client.settle()).await;
        assert_eq!(text(&client, "/task").await, "ok");
        within(client.settle()).await;
    }
    assert_eq!(count(&events(), "task ran"), 3);
    assert_eq!(CLOSED.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn work_queued_while_a_host_runs_other_work_is_run_too() {
    let _serial = serial().await;
    let client = TestClient::start(app()).await.unwrap();
    SERVICE.get_or_init(|| client.running().service());
    for round in 1..=3 {
        assert_eq!(text(&client, "/nested").await, "ok");
        within(client.settle()).await;
        assert_eq!(count(&events(), "inner torn down"), round);
    }
}

/// The body is read to its end, then the runtime is dropped before anything else runs: the
/// after-body work is still queued for a host that never polled it.
#[test]
fn after_body_work_still_queued_when_the_runtime_goes_away_runs_once() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let guard = runtime.block_on(serial());
    CLOSED.store(0, Ordering::SeqCst);
    runtime.block_on(async {
        let client = TestClient::start(app()).await.unwrap();
        let service = client.running().service();
        let body = service.call_request(get("/quick")).await.into_body();
        assert_eq!(body.collect().await.unwrap().to_bytes(), "ok");
        // Never shut down, never settled: the runtime just goes away.
        std::mem::forget(client);
    });
    drop(runtime);
    assert_eq!(CLOSED.load(Ordering::SeqCst), 1, "the teardown ran once");
    drop(guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hosting_task_outlives_its_app() {
    let _serial = serial().await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let client = TestClient::start(app()).await.unwrap();
    for _ in 0..20 {
        assert_eq!(text(&client, "/quick").await, "ok");
    }
    within(client.settle()).await;
    within(client.shutdown()).await;
    within(async {
        while metrics.num_alive_tasks() > before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

thread_local! {
    /// A body kept by a thread until it exits.
    static KEPT: std::cell::RefCell<Option<di_runtime::Body>> = const { std::cell::RefCell::new(None) };
    /// A request kept, in its handler, by a thread until it exits.
    static KEPT_REQUEST: std::cell::RefCell<Option<futures_util::future::BoxFuture<'static, di_runtime::Response>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `keep` on a thread of its own, which then reads a body to its end there (so the
/// runtime's thread-locals are set up after what `keep` put in one: they are destroyed before
/// it), lets the thread exit, and returns the log once the app has settled.
fn kept_past_the_threads_end(
    keep: impl FnOnce(&di_runtime::AppService, &tokio::runtime::Handle) + Send + 'static,
) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let guard = runtime.block_on(serial());
    let client = runtime.block_on(TestClient::start(app())).unwrap();
    let service = client.running().service();
    let handle = runtime.handle().clone();
    std::thread::spawn(move || {
        keep(&service, &handle);
        let body = handle
            .block_on(service.call_request(get("/quick")))
            .into_body();
        assert_eq!(handle.block_on(body.collect()).unwrap().to_bytes(), "ok");
    })
    .join()
    .unwrap();
    runtime.block_on(async {
        within(client.settle()).await;
    });
    let events = events();
    drop(guard);
    events
}

/// A response body kept in a thread-local, dropped as its thread exits, after the runtime's own
/// thread-locals are gone: its teardown still runs, and nothing panics (a panic in a
/// thread-local's destructor aborts the process).
#[test]
fn a_body_dropped_as_its_thread_exits_is_torn_down() {
    let events = kept_past_the_threads_end(|service, handle| {
        let body = handle
            .block_on(service.call_request(get("/inner")))
            .into_body();
        KEPT.with(|kept| *kept.borrow_mut() = Some(body));
    });
    assert_eq!(count(&events, "inner torn down"), 1);
}

/// The same for a request's future kept in its handler: dropped as its thread exits, the
/// request is cancelled and its teardown runs.
#[test]
fn a_request_dropped_as_its_thread_exits_is_torn_down() {
    let events = kept_past_the_threads_end(|service, handle| {
        let mut request = service.call_request(get("/stuck"));
        let polled = handle.block_on(async {
            tokio::time::timeout(Duration::from_millis(50), &mut request).await
        });
        assert!(polled.is_err(), "the handler waits for ever");
        KEPT_REQUEST.with(|kept| *kept.borrow_mut() = Some(request));
    });
    assert_eq!(count(&events, "inner torn down"), 1);
}
