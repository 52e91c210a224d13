//! Request ids and counters: every response carries its request's id (the app's own answers
//! included, over HTTP/1, HTTP/2 and the test client), the id is in the error log lines of
//! its request, and the counters (`Running::metrics`, and the `metrics` crate export) count
//! exactly what happened.

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{Captured, Exported, exported};
use di_runtime::prelude::*;
use di_runtime::{Metrics, RequestId};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::Notify;

// ---------------------------------------------------------------- the app

#[depends]
async fn session(y: Yield<u8>) {
    let _ = y.provide(1).await;
}

#[depends(scope = "handler")]
async fn tx(y: Yield<u8>) {
    let _ = y.provide(2).await;
}

#[depends]
async fn ok(#[dep(session)] _s: &u8, #[dep(tx)] _t: &u8) -> &'static str {
    "ok"
}

/// `ok`, its body streamed (read as the test reads it) and holding the session.
#[depends]
async fn ok_streamed(
    #[dep(session)] s: Held<u8>,
    #[dep(tx)] _t: &u8,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, Infallible>> + Send + 'static> {
    StreamBody::new(futures_util::stream::iter([Ok(format!("ok {}", *s))]))
}

#[depends]
async fn echo_id(id: RequestId) -> String {
    id.to_string()
}

#[depends]
async fn broken_setup(y: Yield<u8>) -> Result<(), HttpError> {
    let _ = y.provide(3).await;
    Ok(())
}

#[depends]
async fn failing_setup() -> Result<u8, HttpError> {
    Err(HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "database down",
    ))
}

#[depends]
async fn setup_fails(
    #[dep(session)] _s: &u8,
    #[dep(broken_setup)] _b: &u8,
    #[dep(failing_setup)] _f: &u8,
) -> &'static str {
    "never"
}

#[depends]
async fn panics(#[dep(session)] _s: &u8, #[dep(tx)] _t: &u8) -> &'static str {
    panic!("the handler broke")
}

#[derive(Deserialize)]
struct Page {
    #[allow(dead_code, reason = "deserialized only")]
    limit: u32,
}

#[depends]
async fn paged(Query(_page): Query<Page>) -> &'static str {
    "paged"
}

#[derive(Deserialize)]
struct Note {
    #[allow(dead_code, reason = "deserialized only")]
    title: String,
}

#[depends]
async fn create(Json(_note): Json<Note>) -> StatusCode {
    StatusCode::CREATED
}

#[depends]
async fn sleeps() -> &'static str {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    "late"
}

/// A request-scope dependency whose teardown fails.
#[depends]
async fn bad_commit(y: Yield<u8>) -> Result<(), HttpError> {
    let _ = y.provide(4).await;
    Err(HttpError::internal())
}

#[depends]
async fn commits_badly(#[dep(bad_commit)] _c: &u8) -> &'static str {
    "sent before the commit failed"
}

#[depends]
async fn background_panics(tasks: &BackgroundTasks) -> &'static str {
    tasks.add(async { panic!("the background task broke") });
    "queued"
}

#[depends]
async fn panicking_setup() -> u8 {
    panic!("the setup broke")
}

#[depends]
async fn setup_panics(#[dep(panicking_setup)] _p: &u8) -> &'static str {
    "never"
}

/// JSON cannot have a map with non-string keys: the response cannot be serialized.
#[depends]
async fn unserializable() -> Json<std::collections::HashMap<(u8, u8), u8>> {
    Json([((1, 2), 3)].into_iter().collect())
}

#[depends]
async fn sleeps_in_session(#[dep(session)] _s: &u8) -> &'static str {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    "late"
}

/// A request-scope dependency whose teardown never ends.
#[depends]
async fn stuck_teardown(y: Yield<u8>) {
    let _ = y.provide(5).await;
    std::future::pending::<()>().await;
}

#[depends]
async fn tears_down_slowly(
    #[dep(stuck_teardown)] _s: &u8,
    tasks: &BackgroundTasks,
) -> &'static str {
    tasks.add(std::future::pending());
    "sent"
}

fn app() -> App {
    App::new()
        .get("/ok", ok)
        .post("/ok", ok)
        .get("/ok-streamed", ok_streamed)
        .get("/id", echo_id)
        .get("/setup-fails", setup_fails)
        .get("/panics", panics)
        .get("/paged", paged)
        .post("/notes", create)
        .get("/sleeps", sleeps)
        .get("/commits-badly", commits_badly)
        .get("/background-panics", background_panics)
        .get("/setup-panics", setup_panics)
        .get("/unserializable", unserializable)
        .get("/sleeps-in-session", sleeps_in_session)
        .get("/tears-down-slowly", tears_down_slowly)
        .get("/returns-500", returns_500)
}

#[depends]
async fn returns_500() -> Result<&'static str, HttpError> {
    Err(HttpError::internal())
}

/// A request id the app made: 32 lowercase hex digits.
fn assert_made(id: Option<&str>) -> String {
    let id = id.expect("the response has an x-request-id");
    assert_eq!(id.len(), 32, "{id}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{id}"
    );
    id.to_owned()
}

/// Polls `done` until it holds (bounded: a broken build fails instead of hanging).
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(done(), "the condition never held");
}

// ---------------------------------------------------------------- request ids

#[tokio::test]
async fn every_response_carries_a_request_id_the_apps_own_answers_included() {
    let client = TestClient::start(
        app()
            .body_limit(8)
            .request_timeout(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    let mut seen = std::collections::HashSet::new();
    let cases = [
        (client.get("/ok"), 200),
        (client.get("/nowhere"), 404),
        (client.delete("/ok"), 405),
        (client.get("/paged?limit=many"), 422),
        (
            client.post("/notes").body("{\"title\":\"far too long\"}"),
            413,
        ),
        (client.get("/panics"), 500),
        (client.get("/setup-fails"), 503),
        (client.get("/sleeps"), 503),
    ];
    for (request, status) in cases {
        let response = request.send().await;
        assert_eq!(response.status(), status);
        let id = assert_made(response.header("x-request-id"));
        assert!(seen.insert(id), "every request has its own id");
    }
    client.shutdown().await;
}

#[tokio::test]
async fn a_request_body_that_times_out_gets_408_with_a_request_id() {
    let client = TestClient::start(app().body_timeout(Duration::from_millis(20)))
        .await
        .unwrap();
    let never = futures_util::stream::pending::<Result<hyper::body::Frame<Bytes>, Infallible>>();
    let request = http::Request::post("/notes")
        .header("content-type", "application/json")
        .body(http_body_util::StreamBody::new(never))
        .unwrap();
    let response = client.running().service().call_request(request).await;
    assert_eq!(response.status(), 408);
    assert_made(
        response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
    );
    client.shutdown().await;
}

#[tokio::test]
async fn a_shed_request_gets_503_with_a_request_id() {
    // `max_in_flight(0)` is refused by `check`: one request is held in flight, the next shed.
    let _one = DRIVE.lock().await;
    let client = TestClient::start(app().get("/held", held).max_in_flight(1))
        .await
        .unwrap();
    HELD.store(false, Ordering::SeqCst);
    let service = client.running().service();
    let first = tokio::spawn(async move {
        let request = http::Request::get("/held")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = service.call_request(request).await;
        let status = response.status();
        response.into_body().collect().await.unwrap();
        status
    });
    until(|| HELD.load(Ordering::SeqCst)).await;
    let response = client.get("/ok").send().await;
    assert_eq!(response.status(), 503);
    assert_made(response.header("x-request-id"));
    HOLD.notify_one();
    assert_eq!(first.await.unwrap(), 200);
    client.shutdown().await;
}

#[tokio::test]
async fn a_sane_client_id_is_kept_and_given_to_the_handler_and_any_other_replaced() {
    let client = TestClient::start(app()).await.unwrap();
    let response = client
        .get("/id")
        .header("x-request-id", "trace-42:abc/DEF")
        .send()
        .await;
    assert_eq!(response.header("x-request-id"), Some("trace-42:abc/DEF"));
    assert_eq!(response.text().await.unwrap(), "trace-42:abc/DEF");

    // Too long, or with a space: replaced by a made one, which the handler sees too.
    for bad in ["x".repeat(129), "two words".to_owned()] {
        let response = client.get("/id").header("x-request-id", &bad).send().await;
        let id = assert_made(response.header("x-request-id"));
        assert_eq!(response.text().await.unwrap(), id);
    }
    // The longest kept.
    let longest = "y".repeat(128);
    let response = client
        .get("/id")
        .header("x-request-id", &longest)
        .send()
        .await;
    assert_eq!(response.header("x-request-id"), Some(longest.as_str()));
    client.shutdown().await;
}

#[tokio::test]
async fn the_request_id_header_can_be_renamed_or_turned_off() {
    let renamed = TestClient::start(
        app().request_id_header(http::HeaderName::from_static("x-correlation-id")),
    )
    .await
    .unwrap();
    let response = renamed
        .get("/id")
        .header("x-correlation-id", "corr-1")
        .header("x-request-id", "ignored")
        .send()
        .await;
    assert_eq!(response.header("x-correlation-id"), Some("corr-1"));
    assert_eq!(response.header("x-request-id"), None);
    assert_eq!(response.text().await.unwrap(), "corr-1");
    let missing = renamed.get("/nowhere").send().await;
    assert_made(missing.header("x-correlation-id"));
    renamed.shutdown().await;

    let off = TestClient::start(app().request_id_header(None))
        .await
        .unwrap();
    let response = off
        .get("/id")
        .header("x-request-id", "ignored")
        .send()
        .await;
    assert_eq!(response.header("x-request-id"), None);
    // Still made, for log lines and the `RequestId` input.
    let id = response.text().await.unwrap();
    assert_made(Some(&id));
    off.shutdown().await;
}

#[tokio::test]
async fn http1_and_http2_responses_carry_the_request_id() {
    let server = app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();

    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut h1, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let h1_task = tokio::spawn(async move {
        let _ = connection.await;
    });
    for (path, status) in [("/ok", 200), ("/nowhere", 404), ("/panics", 500)] {
        h1.ready().await.unwrap();
        let request = http::Request::get(path)
            .header("host", "test")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = h1.send_request(request).await.unwrap();
        assert_eq!(response.status(), status);
        assert_made(
            response
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok()),
        );
        response.into_body().collect().await.unwrap();
    }
    h1.ready().await.unwrap();
    let request = http::Request::get("/id")
        .header("host", "test")
        .header("x-request-id", "from-h1")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = h1.send_request(request).await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "from-h1");
    response.into_body().collect().await.unwrap();

    let (mut h2, h2_task) = common::hyper_h2_client(addr).await;
    for (path, status) in [("/ok", 200), ("/nowhere", 404)] {
        let request = http::Request::get(format!("http://{addr}{path}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = h2.send_request(request).await.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert_eq!(response.status(), status);
        assert_made(
            response
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok()),
        );
    }
    let request = http::Request::get(format!("http://{addr}/id"))
        .header("x-request-id", "from-h2")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = h2.send_request(request).await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "from-h2");
    response.into_body().collect().await.unwrap();

    // Both connections are open, and counted.
    assert_eq!(server.metrics().open_connections, 2);
    // Closed by the client (hyper's HTTP/2 client runs its connection in a task of its own,
    // which ends once the last handle is dropped).
    drop((h1, h2));
    h1_task.abort();
    h2_task.abort();
    until(|| server.metrics().open_connections == 0).await;
    server.shutdown().await;
}

// ---------------------------------------------------------------- log lines

/// At the usual level (INFO: the request's DEBUG span is off), each error line of a request
/// carries that request's id, the one its client got in `x-request-id`.
#[tokio::test]
async fn the_error_log_lines_of_a_request_name_its_request_id() {
    let (captured, _subscriber) = Captured::at(tracing_subscriber::filter::LevelFilter::INFO);
    let client = TestClient::start(app().teardown_timeout(Duration::from_secs(5)))
        .await
        .unwrap();

    let response = client.get("/panics").send().await;
    assert_eq!(response.status(), 500);
    let id = assert_made(response.header("x-request-id"));
    let line = captured.line("handler panicked", &id);
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("the handler broke"), "{line}");

    let response = client
        .get("/commits-badly")
        .header("x-request-id", "client-chosen-7")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    client.settle().await;
    captured.line("teardown failed", "client-chosen-7");

    let response = client.get("/background-panics").send().await;
    let id = assert_made(response.header("x-request-id"));
    response.bytes().await.unwrap();
    client.settle().await;
    captured.line("background task panicked", &id);

    let response = client.get("/setup-panics").send().await;
    assert_eq!(response.status(), 500);
    let id = assert_made(response.header("x-request-id"));
    captured.line("setup panicked", &id);

    // A server error returned (not a panic) by a setup or by the handler is logged too.
    let response = client.get("/setup-fails").send().await;
    assert_eq!(response.status(), 503);
    let id = assert_made(response.header("x-request-id"));
    let line = captured.line("a setup failed with a server error", &id);
    assert!(
        line.contains("WARN") && line.contains("failing_setup") && line.contains("database down"),
        "{line}"
    );
    let response = client.get("/returns-500").send().await;
    assert_eq!(response.status(), 500);
    let id = assert_made(response.header("x-request-id"));
    let line = captured.line("the handler returned a server error", &id);
    assert!(line.contains("WARN") && line.contains("500"), "{line}");

    let response = client.get("/unserializable").send().await;
    assert_eq!(response.status(), 500);
    let id = assert_made(response.header("x-request-id"));
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Internal Server Error"}"#
    );
    let line = captured.line("response could not be serialized as JSON", &id);
    assert!(
        line.contains("ERROR") && line.contains("key must be a string"),
        "{line}"
    );
    client.shutdown().await;
}

#[tokio::test]
async fn a_request_timeout_is_logged_with_its_request_id() {
    let (captured, _subscriber) = Captured::at(tracing_subscriber::filter::LevelFilter::INFO);
    let client = TestClient::start(app().request_timeout(Duration::from_millis(20)))
        .await
        .unwrap();
    let response = client.get("/sleeps").send().await;
    assert_eq!(response.status(), 503);
    let id = assert_made(response.header("x-request-id"));
    captured.line("request timed out", &id);
    client.shutdown().await;
}

/// A `request` teardown that takes 1.5 s, counted in `SLOW_TEARDOWNS_DONE` when it ends.
#[depends]
async fn slow_teardown(y: Yield<u8>) {
    let _ = y.provide(1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    SLOW_TEARDOWNS_DONE.fetch_add(1, Ordering::SeqCst);
}

static SLOW_TEARDOWNS_DONE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[depends]
async fn tears_down_in_time(#[dep(slow_teardown)] _s: &u8) -> &'static str {
    "sent"
}

/// A shutdown that ends within its grace period says nothing alarming: an HTTP/2 stream whose
/// `request` teardown (hosted by the stream's task) takes 1.5 s, under a 10 s grace, is waited
/// for without a warning. (It was warned of as "still running a second after their
/// connections ended", while shutdown went on to wait for it anyway.)
#[tokio::test]
async fn a_shutdown_within_its_grace_period_waits_for_http2_teardowns_without_a_warning() {
    let (captured, _subscriber) = Captured::at(tracing_subscriber::filter::LevelFilter::INFO);
    let server = App::new()
        .get("/tears-down-in-time", tears_down_in_time)
        .shutdown_grace(Duration::from_secs(10))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (mut h2, h2_task) = common::hyper_h2_client(server.local_addr()).await;
    let request = http::Request::get("/tears-down-in-time")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = h2.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "sent"
    );
    drop(h2);
    h2_task.abort();
    server.shutdown().await;
    assert_eq!(SLOW_TEARDOWNS_DONE.load(Ordering::SeqCst), 1);
    let warnings: Vec<String> = captured
        .lines()
        .into_iter()
        .filter(|line| line.contains("WARN"))
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}

// ---------------------------------------------------------------- counters

static HOLD: Notify = Notify::const_new();
/// `drive` runs one at a time: its held request is released through `HOLD`.
static DRIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
static HELD: AtomicBool = AtomicBool::new(false);

/// Waits, with its dependencies set up, until the test releases it.
#[depends]
async fn held(#[dep(session)] _s: &u8, #[dep(tx)] _t: &u8) -> &'static str {
    HELD.store(true, Ordering::SeqCst);
    HOLD.notified().await;
    "released"
}

/// What the counter tests drive: `good` good requests, a failing setup, a panic, one request
/// held in flight while another is shed, a 404. Returns the counters once all has settled.
async fn drive(good: u64) -> Metrics {
    let _one = DRIVE.lock().await;
    let client = TestClient::start(app().get("/held", held).max_in_flight(1))
        .await
        .unwrap();
    // Each body is read to its end: a response dropped unread is a client gone.
    let get = |path: &'static str| {
        let request = client.get(path);
        async move {
            let response = request.send().await;
            let status = response.status();
            response.bytes().await.unwrap();
            status
        }
    };
    for _ in 0..good {
        assert_eq!(get("/ok").await, 200);
    }
    assert_eq!(get("/setup-fails").await, 503);
    assert_eq!(get("/panics").await, 500);
    assert_eq!(get("/nowhere").await, 404);

    HELD.store(false, Ordering::SeqCst);
    let service = client.running().service();
    let first = tokio::spawn(async move {
        let request = http::Request::get("/held")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = service.call_request(request).await;
        let status = response.status();
        response.into_body().collect().await.unwrap();
        status
    });
    until(|| HELD.load(Ordering::SeqCst)).await;
    let during = client.running().metrics();
    assert_eq!(during.requests_in_flight, 1);
    assert_eq!(get("/ok").await, 503, "shed");
    HOLD.notify_one();
    assert_eq!(first.await.unwrap(), 200);

    client.settle().await;
    let metrics = client.running().metrics();
    client.shutdown().await;
    metrics
}

#[tokio::test]
async fn the_counters_count_exactly_what_happened() {
    let good = 5;
    let metrics = drive(good).await;

    assert_eq!(metrics.responses_with(StatusCode::OK), good + 1);
    assert_eq!(
        metrics.responses_with(StatusCode::SERVICE_UNAVAILABLE),
        2,
        "the failing setup and the shed request"
    );
    assert_eq!(metrics.responses_with(StatusCode::INTERNAL_SERVER_ERROR), 1);
    assert_eq!(metrics.responses_with(StatusCode::NOT_FOUND), 1);
    assert_eq!(metrics.responses_total(), good + 5);
    assert_eq!(metrics.requests_shed, 1);

    // Each good request (and the held one) sets up `session` and `tx`; the failing setup
    // set up `session` and `broken_setup` before `failing_setup` failed; the panic `session`
    // and `tx`.
    let t = &metrics.teardowns;
    assert_eq!(metrics.setups, 2 * (good + 1) + 2 + 2);
    assert_eq!(t.success, 2 * (good + 1));
    assert_eq!(t.setup_failed, 2);
    assert_eq!(t.panicked, 2);
    assert_eq!(t.handler_error, 0);
    assert_eq!(
        t.cancelled_client_gone + t.cancelled_timeout + t.cancelled_shutdown,
        0
    );
    assert_eq!(
        metrics.setups,
        t.total(),
        "every setup torn down exactly once"
    );

    assert_eq!(metrics.teardown_errors, 0);
    assert_eq!(metrics.teardown_panics, 0);
    assert_eq!(metrics.teardown_timeouts, 0);
    assert_eq!(metrics.background_task_panics, 0);
    assert_eq!(metrics.requests_in_flight, 0);
    assert_eq!(metrics.teardowns_in_flight, 0);
    assert_eq!(metrics.open_connections, 0, "the test client opens none");
}

#[tokio::test]
async fn teardown_and_background_task_failures_are_counted_by_kind() {
    let client = TestClient::start(app()).await.unwrap();
    for path in ["/commits-badly", "/background-panics", "/background-panics"] {
        let response = client.get(path).send().await;
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    client.settle().await;
    let metrics = client.running().metrics();
    assert_eq!(metrics.teardown_errors, 1);
    assert_eq!(metrics.background_task_panics, 2);
    assert_eq!(
        metrics.teardowns.success, 1,
        "the failing teardown was handed success"
    );
    assert_eq!(metrics.setups, 1);
    // The older getters read the same counters.
    assert_eq!(client.running().teardown_failures(), 1);
    assert_eq!(client.running().background_task_failures(), 2);
    client.shutdown().await;
}

#[tokio::test]
async fn cancellations_and_deadline_hits_are_counted_by_kind() {
    let client = TestClient::start(
        app()
            .request_timeout(Duration::from_millis(20))
            .teardown_timeout(Duration::from_millis(20)),
    )
    .await
    .unwrap();
    // A streamed body dropped unread: the client went away.
    let response = client.get("/ok-streamed").send().await;
    assert_eq!(response.status(), 200);
    drop(response);
    // Past the request timeout.
    assert_eq!(client.get("/sleeps-in-session").send().await.status(), 503);
    // A background task and a teardown that never end: each stopped at the deadline.
    let response = client.get("/tears-down-slowly").send().await;
    response.bytes().await.unwrap();
    client.settle().await;

    let metrics = client.running().metrics();
    let t = &metrics.teardowns;
    assert_eq!(t.cancelled_client_gone, 1, "{metrics:?}");
    assert_eq!(t.cancelled_timeout, 1, "{metrics:?}");
    assert_eq!(metrics.background_task_timeouts, 1, "{metrics:?}");
    assert_eq!(metrics.teardown_timeouts, 1, "{metrics:?}");
    // `ok-streamed`: `session` (client gone) and `tx` (success, before the response); the timeout:
    // `session`; the slow one: `stuck_teardown` (success, then its deadline).
    assert_eq!(t.success, 2, "{metrics:?}");
    assert_eq!(metrics.setups, 4);
    assert_eq!(metrics.setups, t.total());
    client.shutdown().await;
}

// ---------------------------------------------------------------- the `metrics` export

fn counter(exported: &[Exported], name: &str, label: Option<(&str, &str)>) -> u64 {
    let found = exported.iter().find(|(n, labels, _)| {
        n == name
            && match label {
                Some((k, v)) => labels.iter().any(|(lk, lv)| lk == k && lv == v),
                None => labels.is_empty(),
            }
    });
    match found {
        Some((_, _, metrics_util::debugging::DebugValue::Counter(value))) => *value,
        Some((_, _, other)) => panic!("{name} is not a counter: {other:?}"),
        None => panic!("{name} {label:?} was not exported: {exported:#?}"),
    }
}

fn gauge(exported: &[Exported], name: &str) -> f64 {
    match exported.iter().find(|(n, _, _)| n == name) {
        Some((_, _, metrics_util::debugging::DebugValue::Gauge(value))) => value.into_inner(),
        other => panic!("{name} is not an exported gauge: {other:?}"),
    }
}

/// The same run as `the_counters_count_exactly_what_happened`, read through the `metrics`
/// facade. The recorder is this thread's only (`with_local_recorder`) and the runtime is
/// single-threaded, so no other test's app counts into it.
#[test]
fn the_counters_are_exported_through_the_metrics_facade() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let good = 3;
    let metrics = metrics::with_local_recorder(&recorder, || runtime.block_on(drive(good)));
    let exported = exported(&snapshotter);

    assert_eq!(
        counter(&exported, "di_requests_total", Some(("status", "200"))),
        good + 1
    );
    assert_eq!(
        counter(&exported, "di_requests_total", Some(("status", "503"))),
        2
    );
    assert_eq!(
        counter(&exported, "di_requests_total", Some(("status", "500"))),
        1
    );
    assert_eq!(
        counter(&exported, "di_requests_total", Some(("status", "404"))),
        1
    );
    assert_eq!(counter(&exported, "di_requests_shed_total", None), 1);
    assert_eq!(counter(&exported, "di_setups_total", None), metrics.setups);
    for (outcome, count) in [
        ("success", metrics.teardowns.success),
        ("setup_failed", metrics.teardowns.setup_failed),
        ("panicked", metrics.teardowns.panicked),
        ("handler_error", 0),
        ("cancelled_client_gone", 0),
    ] {
        assert_eq!(
            counter(&exported, "di_teardowns_total", Some(("outcome", outcome))),
            count,
            "{outcome}"
        );
    }
    assert_eq!(counter(&exported, "di_teardown_errors_total", None), 0);
    assert_eq!(gauge(&exported, "di_requests_in_flight"), 0.0);
    assert_eq!(gauge(&exported, "di_teardowns_in_flight"), 0.0);
    assert_eq!(gauge(&exported, "di_connections_open"), 0.0);
}
