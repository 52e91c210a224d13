//! Regression tests for the holes a careful read of the core found in exactly-once teardown,
//! truthful outcomes and 500-on-panic (issue "Core correctness"), one section per item.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{count, events, log, position, serial, wait_for};
use di_runtime::prelude::*;
use futures_util::{Stream, stream};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;

/// Bounds a wait, so that a hang fails the test instead of CI (not a timing assertion).
async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("did not finish within 20 s: it hangs")
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        Outcome::TeardownFailed { dependency, .. } => format!("teardown of {dependency} failed"),
        Outcome::BodyError { .. } => "body error".to_owned(),
        other => other.to_string(),
    }
}

struct Conn(&'static str);

#[depends]
async fn conn(y: Yield<Conn>) {
    log("conn:open");
    let (_conn, outcome) = y.provide(Conn("conn")).await;
    log(format!("conn:close {}", describe(&outcome)));
}

fn two_chunks<T: Send + Sync + 'static>(
    keep: T,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    let chunks = stream::unfold((keep, 0u8), |(keep, i)| async move {
        match i {
            0 => Some((Ok(Bytes::from_static(b"first;")), (keep, 1))),
            1 => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Some((Ok(Bytes::from_static(b"never;")), (keep, 2)))
            }
            _ => None,
        }
    });
    StreamBody::new(chunks)
}

// ------------------------------------------------ 1. skipped background tasks block teardown

#[depends]
async fn stream_with_task(
    #[dep(conn)] c: Held<Conn>,
    tasks: &BackgroundTasks,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    tasks.add(async move {
        log(format!("task ran with {}", c.0));
    });
    two_chunks(())
}

#[tokio::test]
async fn skipped_background_task_holding_a_value_does_not_block_its_teardown() {
    let _serial = serial().await;
    let app = App::new()
        .get("/stream", stream_with_task)
        .teardown_timeout(Duration::from_secs(5));
    let client = TestClient::start(app).await.unwrap();
    let mut response = client.get("/stream").send().await;
    assert_eq!(response.chunk().await.unwrap().unwrap(), "first;");
    drop(response); // the client goes away mid-stream: the task is skipped

    within(client.settle()).await;
    let events = events();
    assert_eq!(
        count(&events, "conn:close cancelled client gone"),
        1,
        "{events:?}"
    );
    assert_eq!(count(&events, "task ran with conn"), 0, "{events:?}");
    assert_eq!(
        client.running().teardown_failures(),
        0,
        "no teardown was abandoned"
    );
    client.shutdown().await;
}

struct HeadNote;

/// Keeps the request head alive until its own teardown (it borrows `&HeaderMap`).
#[depends]
async fn reads_headers(headers: &HeaderMap, y: Yield<HeadNote>) {
    let _ = headers.len();
    let _ = y.provide(HeadNote).await;
    log("headers:close");
}

#[depends]
async fn fails_after_adding_a_task(
    #[dep(reads_headers)] _h: &HeadNote,
    #[dep(conn)] c: Held<Conn>,
    tasks: &BackgroundTasks,
) -> Result<String, HttpError> {
    tasks.add(async move {
        log(format!("task ran with {}", c.0));
    });
    Err(HttpError::conflict("no"))
}

#[tokio::test]
async fn tasks_of_a_failed_request_are_dropped_before_its_teardowns() {
    let _serial = serial().await;
    let app = App::new()
        .get("/fail", fails_after_adding_a_task)
        .teardown_timeout(Duration::from_secs(5));
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/fail").send().await;
    assert_eq!(response.status(), 409);
    let _ = response.bytes().await;

    within(client.settle()).await;
    let events = events();
    assert_eq!(
        count(&events, "conn:close handler error (409)"),
        1,
        "{events:?}"
    );
    assert_eq!(count(&events, "task ran with conn"), 0, "{events:?}");
    assert_eq!(
        client.running().teardown_failures(),
        0,
        "no teardown was abandoned"
    );
    client.shutdown().await;
}

// ------------------------------------------------ 2. a panic during input extraction is a 500

#[derive(Debug)]
struct Picky(#[allow(dead_code, reason = "read through Debug")] u32);

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        // A validation that panics on the placeholder the every-problem search uses.
        assert!(n != 0, "secret validation panic");
        Ok(Picky(n))
    }
}

#[derive(Debug, Deserialize)]
struct PickyQuery {
    #[allow(dead_code, reason = "read through Debug")]
    a: Picky,
    #[allow(dead_code, reason = "read through Debug")]
    b: u32,
}

#[depends]
async fn picky(Query(q): Query<PickyQuery>) -> String {
    format!("{q:?}")
}

#[depends]
async fn plain_ok() -> &'static str {
    "ok"
}

async fn get(
    sender: &mut http1::SendRequest<Empty<Bytes>>,
    path: &str,
) -> (http::StatusCode, Bytes) {
    sender.ready().await.unwrap();
    let request = http::Request::get(path)
        .header("host", "test")
        .body(Empty::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

async fn connect(addr: SocketAddr) -> http1::SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
}

#[tokio::test]
async fn a_panic_while_extracting_input_is_a_generic_500_and_the_connection_lives() {
    let _serial = serial().await;
    let server = App::new()
        .get("/picky", picky)
        .get("/ok", plain_ok)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut sender = connect(server.local_addr()).await;
    // `a` is missing, so the every-problem search answers it with a placeholder (0) to find
    // more problems, and `Picky` panics on it.
    let (status, body) = get(&mut sender, "/picky?b=x").await;
    assert_eq!(status, 500);
    assert_eq!(body, r#"{"detail":"Internal Server Error"}"#);
    let (status, body) = get(&mut sender, "/ok").await;
    assert_eq!(status, 200, "the same keep-alive connection still serves");
    assert_eq!(body, "ok");
    server.shutdown().await;
}

// ------------------------------------------------ 3. a plain function returning a held guard

struct Wrapped(#[allow(dead_code, reason = "holds the borrow")] HeldMut<Conn>);

#[depends]
async fn wraps(#[dep(conn)] c: HeldMut<Conn>) -> Wrapped {
    Wrapped(c)
}

#[depends]
async fn uses_both(#[dep(wraps)] _w: &Wrapped, #[dep(conn)] c: &Conn) -> String {
    c.0.to_owned()
}

#[tokio::test]
async fn a_plain_function_keeping_a_held_borrow_is_reported_at_start() {
    let error = App::new()
        .get("/both", uses_both)
        .check()
        .expect_err("the conflicting borrow is found before serving");
    let text = error.to_string();
    assert!(text.contains("`wraps`"), "{text}");
    assert!(text.contains("`uses_both`"), "{text}");
    assert!(text.contains("`conn`"), "{text}");
}

// ------------------------------------------------ 4. max_concurrency: global order, deadline, plain

static HAVE_A: tokio::sync::Notify = tokio::sync::Notify::const_new();
static HAVE_B: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[depends(max_concurrency = 1)]
async fn limited_a(y: Yield<u8>) {
    HAVE_A.notify_one();
    // Give the other request time to take `limited_b` first (bounded, never a deadlock here).
    let _ = tokio::time::timeout(Duration::from_millis(300), HAVE_B.notified()).await;
    let _ = y.provide(1).await;
}

#[depends(max_concurrency = 1)]
async fn limited_b(y: Yield<u8>) {
    HAVE_B.notify_one();
    let _ = tokio::time::timeout(Duration::from_millis(300), HAVE_A.notified()).await;
    let _ = y.provide(2).await;
}

#[depends]
async fn a_then_b(#[dep(limited_a)] a: &u8, #[dep(limited_b)] b: &u8) -> String {
    format!("{a}{b}")
}

#[depends]
async fn b_then_a(#[dep(limited_b)] b: &u8, #[dep(limited_a)] a: &u8) -> String {
    format!("{b}{a}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_places_in_opposite_orders_do_not_deadlock() {
    let _serial = serial().await;
    let app = App::new().get("/ab", a_then_b).get("/ba", b_then_a);
    let client = TestClient::start(app).await.unwrap();
    let (first, second) = within(async {
        tokio::join!(
            async { client.get("/ab").send().await.text().await.unwrap() },
            async { client.get("/ba").send().await.text().await.unwrap() },
        )
    })
    .await;
    assert_eq!((first.as_str(), second.as_str()), ("12", "21"));
    client.shutdown().await;
}

/// Lets the first request of the next test go on once the others wait for places.
static FIRST_GOES_ON: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[depends(max_concurrency = 2)]
async fn two_places(y: Yield<u8>) {
    let _ = y.provide(1).await;
    // Given back one after the other, a moment apart.
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[depends]
async fn both_places(#[dep(two_places)] a: &u8, #[dep(two_places, fresh)] b: &u8) -> String {
    format!("{}", a + b)
}

#[depends]
async fn both_places_gated(#[dep(two_places)] a: &u8, #[dep(two_places, fresh)] b: &u8) -> String {
    FIRST_GOES_ON.notified().await;
    format!("{}", a + b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_waiting_for_the_same_limit_never_each_hold_part_of_it() {
    let _serial = serial().await;
    // Each request takes both places of the limit. While the first holds them, two more wait;
    // had each taken its places one at a time, the two places given back one after the other
    // would go one to each, and both would wait for the other until the wait ran out (503).
    let app = App::new()
        .get("/first", both_places_gated)
        .get("/", both_places)
        .max_concurrency_wait(Duration::from_secs(10));
    let client = TestClient::start(app).await.unwrap();
    // Each request reads its body to the end: its places come back after its teardowns.
    let answer = |path: &'static str, after: u64| {
        let client = &client;
        async move {
            tokio::time::sleep(Duration::from_millis(after)).await;
            let response = client.get(path).send().await;
            let status = response.status();
            (status, response.text().await.unwrap())
        }
    };
    let (first, second, third, ()) = within(async {
        tokio::join!(
            answer("/first", 0),
            answer("/", 50),
            answer("/", 100),
            async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                FIRST_GOES_ON.notify_one();
            }
        )
    })
    .await;
    for (status, text) in [first, second, third] {
        assert_eq!((status.as_u16(), text.as_str()), (200, "2"));
    }
    client.shutdown().await;
}

#[depends(max_concurrency = 1)]
async fn plain_limited() -> Conn {
    log("plain:setup");
    Conn("plain")
}

#[depends]
async fn streams_plain(
    #[dep(plain_limited)] c: Held<Conn>,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    two_chunks(c)
}

#[tokio::test]
async fn a_plain_dependency_holds_its_place_until_the_request_ends_and_a_waiter_gets_503() {
    let _serial = serial().await;
    let app = App::new()
        .get("/plain", streams_plain)
        .max_concurrency_wait(Duration::from_millis(200));
    let client = TestClient::start(app).await.unwrap();
    let mut first = client.get("/plain").send().await;
    assert_eq!(first.chunk().await.unwrap().unwrap(), "first;");

    let second = within(client.get("/plain").send()).await;
    assert_eq!(
        second.status(),
        503,
        "the only place is still held by the first body"
    );
    assert!(second.header("retry-after").is_some());
    // Which limit is full is logged; the client is not told the app's function names.
    let body = second.text().await.unwrap();
    assert_eq!(
        body,
        r#"{"detail":"The server is busy: a resource this request needs is at its limit; try again later"}"#
    );
    assert!(!body.contains("plain_limited"), "{body}");
    assert_eq!(
        count(&events(), "plain:setup"),
        1,
        "the waiter set nothing up"
    );

    drop(first);
    within(client.settle()).await;
    let third = within(client.get("/plain").send()).await;
    assert_eq!(
        third.status(),
        200,
        "the place came back with the first request's end"
    );
    drop(third);
    client.shutdown().await;
}

// ------------------------------------------------ 5. the background bound covers what is held

static UNBLOCK: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[depends]
async fn slow_to_close(y: Yield<Conn>) {
    log("slow:open");
    let _ = y.provide(Conn("slow")).await;
    UNBLOCK.notified().await;
    log("slow:close");
}

#[depends]
async fn quick_with_slow_close(#[dep(slow_to_close)] c: &Conn) -> String {
    c.0.to_owned()
}

#[tokio::test]
async fn past_the_background_bound_a_request_waits_before_it_sets_anything_up() {
    let _serial = serial().await;
    let app = App::new()
        .get("/slow", quick_with_slow_close)
        .max_background_teardowns(1)
        .max_concurrency_wait(Duration::from_millis(200));
    let client = TestClient::start(app).await.unwrap();
    let first = client.get("/slow").send().await;
    assert_eq!(first.text().await.unwrap(), "slow");
    // The first request's teardown holds the only background place until UNBLOCK.
    let second = within(client.get("/slow").send()).await;
    assert_eq!(second.status(), 503);
    let _ = second.bytes().await;
    assert_eq!(
        count(&events(), "slow:open"),
        1,
        "no value is set up while no place can hold its teardown: {:?}",
        events()
    );
    UNBLOCK.notify_one();
    within(client.settle()).await;
    assert_eq!(count(&events(), "slow:close"), 1);
    client.shutdown().await;
}

// ------------------------------------------------ 6. settle() from two callers at once

#[tokio::test]
async fn two_concurrent_settles_both_return() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/slow", quick_with_slow_close))
        .await
        .unwrap();
    let response = client.get("/slow").send().await;
    let _ = response.bytes().await;
    let release = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        UNBLOCK.notify_one();
    };
    within(async { tokio::join!(client.settle(), client.settle(), release) }).await;
    client.shutdown().await;
}

// ------------------------------------------------ 7. app teardown after live requests are cut

struct Settings;

#[depends(scope = "app")]
async fn settings(y: Yield<Settings>) {
    let (_s, outcome) = y.provide(Settings).await;
    log(format!("settings:close {outcome}"));
}

#[depends]
async fn never_finishes(#[dep(settings)] _s: &Settings, #[dep(conn)] _c: &Conn) -> &'static str {
    log("handler:started");
    tokio::time::sleep(Duration::from_secs(3600)).await;
    "never"
}

#[tokio::test]
async fn after_the_grace_period_live_requests_are_cut_before_app_teardown() {
    let _serial = serial().await;
    let server = App::new()
        .get("/hang", never_finishes)
        .shutdown_grace(Duration::from_millis(100))
        .teardown_timeout(Duration::from_secs(5))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut sender = connect(server.local_addr()).await;
    let request = tokio::spawn(async move {
        let _ = get(&mut sender, "/hang").await;
    });
    wait_for("handler:started").await;
    within(server.shutdown()).await;
    let events = events();
    let conn_closed = position(&events, "conn:close cancelled shutdown");
    let app_closed = position(&events, "settings:close app stopped");
    assert!(conn_closed < app_closed, "{events:?}");
    request.abort();
}

static FINISH: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[depends]
async fn finishes_late(#[dep(settings)] _s: &Settings, #[dep(conn)] _c: &Conn) -> &'static str {
    log("late:started");
    FINISH.notified().await;
    "late"
}

/// When the grace period ends, what is still in progress has up to a second more to end (the
/// README's guarantee 9): a handler that returns within it is answered, and its teardowns see
/// a success, before `app` teardown.
#[tokio::test]
async fn a_handler_that_returns_just_after_the_grace_period_is_still_answered() {
    let _serial = serial().await;
    let server = App::new()
        .get("/late", finishes_late)
        .shutdown_grace(Duration::from_millis(100))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut sender = connect(server.local_addr()).await;
    let request = tokio::spawn(async move { get(&mut sender, "/late").await });
    wait_for("late:started").await;
    // Past the grace period, well within the second after it.
    let release = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        FINISH.notify_one();
    };
    within(async { tokio::join!(server.shutdown(), release) }).await;
    let (status, body) = within(request).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, "late");
    let events = events();
    let conn_closed = position(&events, "conn:close success 200");
    let app_closed = position(&events, "settings:close app stopped");
    assert!(conn_closed < app_closed, "{events:?}");
}

// ------------------------------------------------ 8. a hand-off during runtime shutdown is kept

#[depends]
async fn sleeps_forever(#[dep(conn)] _c: &Conn) -> &'static str {
    log("sleeper:started");
    tokio::time::sleep(Duration::from_secs(3600)).await;
    "never"
}

/// Starts `app` on a runtime of one worker, sends `GET /sleep`, waits until `started` is
/// logged, then drops the runtime with the request in its handler (the app is never shut
/// down: the runtime just goes away). Returns the log.
fn runtime_dropped_mid_request(app: App, started: &str) -> Vec<String> {
    let guard = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(serial());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let reached = AtomicBool::new(false);
    runtime.block_on(async {
        let client = TestClient::start(app).await.unwrap();
        let service = client.running().service();
        tokio::spawn(async move {
            let request = http::Request::get("/sleep")
                .body(http_body_util::Empty::<Bytes>::new())
                .unwrap();
            let _ = service.call_request(request).await;
        });
        wait_for(started).await;
        reached.store(true, Ordering::SeqCst);
        std::mem::forget(client); // the app is never shut down: the runtime just goes away
    });
    assert!(reached.load(Ordering::SeqCst));
    drop(runtime); // drops the request future mid-handler while the runtime shuts down
    let events = events();
    drop(guard);
    events
}

#[test]
fn a_request_dropped_while_the_runtime_shuts_down_is_still_torn_down() {
    let events =
        runtime_dropped_mid_request(App::new().get("/sleep", sleeps_forever), "sleeper:started");
    assert_eq!(
        count(&events, "conn:close cancelled shutdown"),
        1,
        "the teardown ran, exactly once, with a cancellation: {events:?}"
    );
}

/// A teardown that needs the runtime's timer, which is gone.
#[depends]
async fn sleepy_conn(y: Yield<Conn>) {
    let (_conn, outcome) = y.provide(Conn("sleepy")).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    log(format!("sleepy:close {}", describe(&outcome)));
}

#[depends]
async fn sleeps_beside_sleepy(
    #[dep(conn)] _c: &Conn,
    #[dep(sleepy_conn)] _s: &Conn,
) -> &'static str {
    log("sleeper2:started");
    tokio::time::sleep(Duration::from_secs(3600)).await;
    "never"
}

/// One teardown that cannot finish once the runtime is gone (it waits for the runtime's
/// timer) is given up alone: the teardowns after it still run, exactly once. It took the whole
/// rest of the stack with it.
#[test]
fn a_teardown_stalled_by_the_runtime_going_away_does_not_take_the_others_with_it() {
    let events = runtime_dropped_mid_request(
        App::new().get("/sleep", sleeps_beside_sleepy),
        "sleeper2:started",
    );
    assert_eq!(
        count(&events, "sleepy:close cancelled shutdown"),
        0,
        "{events:?}"
    );
    // The stalled teardown was given up as past its deadline: a teardown failure, which is
    // what the teardowns after it are told.
    assert_eq!(
        count(&events, "conn:close teardown of sleepy_conn failed"),
        1,
        "the teardown after the stalled one ran, exactly once: {events:?}"
    );
}

// ------------------------------------------------ 9. truthful outcomes at the edges

#[depends]
async fn short_body(#[dep(conn)] _c: &Conn) -> http::Response<String> {
    http::Response::builder()
        .header("content-length", "100")
        .body("only ten b".to_owned())
        .unwrap()
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_a_body_error() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/short", short_body))
        .await
        .unwrap();
    let response = client.get("/short").send().await;
    let _ = response.bytes().await;
    within(client.settle()).await;
    let events = events();
    assert_eq!(count(&events, "conn:close body error"), 1, "{events:?}");
    client.shutdown().await;
}

/// A stream of 19 bytes under a declared `Content-Length` of 4.
#[depends]
async fn overlong_body(#[dep(conn)] c: Held<Conn>) -> di_runtime::Response {
    let chunks = stream::unfold((c, 0usize), |(c, i)| async move {
        let item = ["ab", "cdef", "and more rows"].get(i)?;
        Some((
            Ok::<_, Infallible>(Bytes::from_static(item.as_bytes())),
            (c, i + 1),
        ))
    });
    let mut response = StreamBody::new(chunks).into_response();
    response
        .headers_mut()
        .insert("content-length", http::HeaderValue::from_static("4"));
    response
}

/// A body longer than the `Content-Length` it declared fails (HTTP/1 would cut it at the
/// length without a word, HTTP/2 fail the stream) and is a body error for its teardowns, not a
/// success.
#[tokio::test]
async fn a_body_longer_than_its_content_length_fails_and_is_a_body_error() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/overlong", overlong_body))
        .await
        .unwrap();
    let response = client.get("/overlong").send().await;
    assert!(response.bytes().await.is_err(), "the body fails");
    within(client.settle()).await;
    let events = events();
    assert_eq!(count(&events, "conn:close body error"), 1, "{events:?}");
    client.shutdown().await;
}

#[depends(scope = "handler")]
async fn commit_fails_slowly(y: Yield<u8>) -> Result<(), HttpError> {
    let _ = y.provide(1).await;
    log("commit:started");
    tokio::time::sleep(Duration::from_millis(100)).await;
    Err(HttpError::internal())
}

#[depends]
async fn commits_then_streams(
    #[dep(conn)] c: Held<Conn>,
    #[dep(commit_fails_slowly)] _t: &u8,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    two_chunks(c)
}

#[tokio::test]
async fn request_teardowns_see_a_failed_commit_even_when_the_client_left_during_it() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/commit", commits_then_streams))
        .await
        .unwrap();
    let service = client.running().service();
    let request = tokio::spawn(async move {
        let request = http::Request::get("/commit")
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let _ = service.call_request(request).await;
    });
    wait_for("commit:started").await;
    request.abort(); // the client goes away while the commit runs
    let _ = request.await;
    wait_for("conn:close teardown of commit_fails_slowly failed").await;
    within(client.settle()).await;
    let events = events();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.starts_with("conn:close"))
            .count(),
        1,
        "{events:?}"
    );
    client.shutdown().await;
}

// ------------------------------------------------ the macro: a `Result` alias is a `Result`

#[derive(Debug)]
struct ApiError;

impl From<ApiError> for HttpError {
    fn from(_: ApiError) -> Self {
        HttpError::conflict("api error")
    }
}

type ApiResult<T> = Result<T, ApiError>;

#[depends]
async fn api_user(Query(q): Query<ApiQuery>) -> ApiResult<u64> {
    if q.fail { Err(ApiError) } else { Ok(7) }
}

#[derive(Deserialize)]
struct ApiQuery {
    fail: bool,
}

#[depends]
async fn api_handler(#[dep(api_user)] id: &u64) -> String {
    format!("user {id}")
}

#[tokio::test]
async fn an_alias_of_result_is_read_as_a_result_so_its_error_is_a_setup_failure() {
    let client = TestClient::start(App::new().get("/u", api_handler))
        .await
        .unwrap();
    let ok = client.get("/u?fail=false").send().await;
    assert_eq!(ok.text().await.unwrap(), "user 7");
    let failed = client.get("/u?fail=true").send().await;
    assert_eq!(failed.status(), 409);
    assert_eq!(failed.text().await.unwrap(), r#"{"detail":"api error"}"#);
    client.shutdown().await;
}

// ------------------------------------------------ a plain `app` value borrowed by requests

#[derive(Debug)]
struct Limits {
    most: u32,
}

#[depends(scope = "app")]
async fn limits() -> Limits {
    Limits { most: 100 }
}

#[depends]
async fn allowed(#[dep(limits)] limits: &Limits) -> u32 {
    limits.most
}

#[depends]
async fn shows_limit(#[dep(allowed)] allowed: &u32, #[dep(limits)] limits: &Limits) -> String {
    format!("{allowed} of {}", limits.most)
}

#[tokio::test]
async fn a_plain_app_value_is_shared_by_every_request() {
    let client = TestClient::start(App::new().get("/", shows_limit))
        .await
        .unwrap();
    for _ in 0..2 {
        let response = client.get("/").send().await;
        assert_eq!(response.text().await.unwrap(), "100 of 100");
    }
    client.shutdown().await;
}

// ------------------------------------------------ a route needing more places than there are

#[depends(max_concurrency = 1)]
async fn single(y: Yield<u8>) {
    let _ = y.provide(1).await;
}

#[depends]
async fn two_fresh(#[dep(single)] a: &u8, #[dep(single, fresh)] b: &u8) -> String {
    format!("{a}{b}")
}

#[tokio::test]
async fn a_route_needing_more_places_than_its_limit_has_is_reported_at_start() {
    let error = App::new()
        .get("/two", two_fresh)
        .check()
        .expect_err("two instances of a dependency limited to one can never be set up at once");
    let text = error.to_string();
    assert!(text.contains("route GET /two"), "{text}");
    assert!(text.contains("`single`"), "{text}");
    assert!(text.contains("max_concurrency = 1"), "{text}");
}
