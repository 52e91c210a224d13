//! Gaps of the dependency contract and of composition that earlier probes found and left
//! open: each test here failed before the fix named in CHANGELOG.md (or pins the behaviour
//! that was found right, and says so).

mod common;

use std::time::Duration;

use common::{
    events, exported_requests, h2_frame, log, read_bytes_to_close, serial, wait_for, within,
};
use di_runtime::prelude::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Notify;

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::HandlerError { status, .. } => format!("error {}", status.as_u16()),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        other => other.to_string(),
    }
}

/// Waits (bounded) for the request-scope teardown of `req_gen`: what it was told.
async fn request_ended() -> String {
    for _ in 0..2000 {
        if let Some(event) = events()
            .into_iter()
            .find(|e| e.starts_with("req:") && e != "req:setup")
        {
            return event;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the request-scope teardown never ran: {:?}", events());
}

// ------------------ 1. a client gone before a bodiless response's head is written

/// Lets the slow handlers below answer.
static RELEASE: Notify = Notify::const_new();

#[depends]
async fn req_gen(y: Yield<u8>) {
    log("req:setup");
    let (_, outcome) = y.provide(1).await;
    log(format!("req:{}", describe(&outcome)));
}

#[depends(scope = "handler")]
async fn slow_hnd_gen(y: Yield<u8>) {
    let (_, outcome) = y.provide(1).await;
    log(format!("hnd:{}", describe(&outcome)));
    log("hnd:waiting");
    RELEASE.notified().await;
}

/// Answers a 204 once released.
#[depends]
async fn slow_no_content(#[dep(req_gen)] _r: &u8) -> StatusCode {
    log("handler:waiting");
    RELEASE.notified().await;
    StatusCode::NO_CONTENT
}

/// Answers 200 (nothing sent to a HEAD) once released.
#[depends]
async fn slow_ok(#[dep(req_gen)] _r: &u8) -> &'static str {
    log("handler:waiting");
    RELEASE.notified().await;
    "a body a HEAD never gets"
}

/// Answers a 304 at once; its `handler`-scope teardown is slow.
#[depends]
async fn not_modified_slow_teardown(
    #[dep(req_gen)] _r: &u8,
    #[dep(slow_hnd_gen)] _h: &u8,
) -> StatusCode {
    StatusCode::NOT_MODIFIED
}

fn bodiless_app() -> App {
    App::new()
        .get("/204", slow_no_content)
        .get("/ok", slow_ok)
        .get("/304", not_modified_slow_teardown)
}

/// The requests of the probe: the request line, and what the handler (or its teardown) logs
/// once it waits.
const BODILESS: [(&str, &str, &str); 3] = [
    ("GET", "/204", "handler:waiting"),
    ("HEAD", "/ok", "handler:waiting"),
    ("GET", "/304", "hnd:waiting"),
];

/// A client that closes its HTTP/1 connection while the handler (or a `handler`-scope
/// teardown) of a response without a body (204, 304, an answer to HEAD) still runs never gets
/// that response: its `request`-scope teardowns are told the client went away, not a success.
#[tokio::test]
async fn a_bodiless_response_whose_http1_client_left_before_its_head_is_not_a_success() {
    let _serial = serial().await;
    let server = bodiless_app().bind("127.0.0.1:0").await.unwrap();
    for (method, path, waiting) in BODILESS {
        common::clear();
        let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
        stream
            .write_all(format!("{method} {path} HTTP/1.1\r\nhost: t\r\n\r\n").as_bytes())
            .await
            .unwrap();
        wait_for(waiting).await;
        drop(stream);
        // The server sees the connection closed while the answer is not ready: only then is
        // the answer let go (if the request is still there to give it).
        tokio::time::sleep(Duration::from_millis(100)).await;
        RELEASE.notify_waiters();
        let ended = within(request_ended()).await;
        assert_eq!(
            ended,
            "req:cancelled client gone",
            "{method} {path}: {:?}",
            events()
        );
        server.settle().await;
    }
    server.shutdown().await;
}

/// The same over HTTP/2, the client resetting its stream (`RST_STREAM` CANCEL) while the
/// handler (or a `handler`-scope teardown) still runs, its connection kept open.
#[tokio::test]
async fn a_bodiless_response_whose_http2_stream_was_reset_before_its_head_is_not_a_success() {
    let _serial = serial().await;
    let server = bodiless_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    for (method, path, waiting) in BODILESS {
        common::clear();
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .body(())
            .unwrap();
        within(std::future::poll_fn(|cx| client.poll_ready(cx)))
            .await
            .unwrap();
        // Its body left open, so that the stream can be reset from the client's side.
        let (response, mut send) = client.send_request(request, false).unwrap();
        wait_for(waiting).await;
        send.send_reset(h2::Reason::CANCEL);
        tokio::time::sleep(Duration::from_millis(100)).await;
        RELEASE.notify_waiters();
        let ended = within(request_ended()).await;
        assert_eq!(
            ended,
            "req:cancelled client gone",
            "{method} {path}: {:?}",
            events()
        );
        drop(response);
        server.settle().await;
    }
    driver.abort();
    server.shutdown().await;
}

/// Set to let [`blocking_no_content`] and [`blocking_ok`] return.
static UNBLOCK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Holds the handler's poll until [`UNBLOCK`] (bounded): the stream is reset while the handler
/// runs, and its answer is ready in the same poll that would have seen the reset, so hyper
/// tries to send the head of a stream already reset. In `block_in_place`, so that the tasks
/// waiting on the worker (the connection's, which takes the reset) go on elsewhere.
fn block_until_unblocked() {
    log("handler:blocking");
    tokio::task::block_in_place(|| {
        for _ in 0..2000 {
            if UNBLOCK.swap(false, std::sync::atomic::Ordering::AcqRel) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}

#[depends]
async fn blocking_no_content(#[dep(req_gen)] _r: &u8) -> StatusCode {
    block_until_unblocked();
    StatusCode::NO_CONTENT
}

#[depends]
async fn blocking_ok(#[dep(req_gen)] _r: &u8) -> &'static str {
    block_until_unblocked();
    "a body a HEAD never gets"
}

/// A body answered for comparison: its stream is reset as the others', but its response has
/// content.
#[depends]
async fn blocking_ok_get(#[dep(req_gen)] _r: &u8) -> &'static str {
    block_until_unblocked();
    "some content"
}

/// An HTTP/2 stream reset by its client while the handler runs, the answer ready before the
/// server has seen the reset: the head of a response without a body (204, an answer to HEAD)
/// cannot be sent, and its `request`-scope teardowns are told the client went away (they were
/// told success, unlike those of a response with a body in the same case). The server runs on
/// a runtime of its own, so that the worker the handler holds cannot hold the client.
#[test]
fn a_bodiless_response_whose_http2_stream_was_reset_as_it_was_answered_is_not_a_success() {
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _serial = client_runtime.block_on(serial());
    for layered in [false, true] {
        let app = App::new()
            .get("/204", blocking_no_content)
            .get("/ok", blocking_ok)
            .get("/content", blocking_ok_get);
        // Through a tower layer, the teardowns wait for the body the client gets.
        let app = if layered {
            app.layer(tower::layer::util::Identity::new())
        } else {
            app
        };
        let server = server_runtime.block_on(app.bind("127.0.0.1:0")).unwrap();
        let addr = server.local_addr();
        client_runtime.block_on(async {
            let io = TcpStream::connect(addr).await.unwrap();
            let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
            for (method, path) in [("GET", "/content"), ("GET", "/204"), ("HEAD", "/ok")] {
                common::clear();
                let request = http::Request::builder()
                    .method(method)
                    .uri(format!("http://{addr}{path}"))
                    .body(())
                    .unwrap();
                within(std::future::poll_fn(|cx| client.poll_ready(cx)))
                    .await
                    .unwrap();
                let (response, mut send) = client.send_request(request, false).unwrap();
                wait_for("handler:blocking").await;
                send.send_reset(h2::Reason::CANCEL);
                // The server's connection task (on its other worker) takes the reset meanwhile.
                tokio::time::sleep(Duration::from_millis(100)).await;
                UNBLOCK.store(true, std::sync::atomic::Ordering::Release);
                let ended = within(request_ended()).await;
                assert_eq!(
                    ended,
                    "req:cancelled client gone",
                    "{method} {path} (layered: {layered}): {:?}",
                    events()
                );
                drop(response);
            }
            driver.abort();
        });
        server_runtime.block_on(async {
            server.settle().await;
            server.shutdown().await;
        });
    }
}

#[depends]
async fn quick_no_content(#[dep(req_gen)] _r: &u8) -> StatusCode {
    StatusCode::NO_CONTENT
}

#[depends]
async fn quick_ok(#[dep(req_gen)] _r: &u8) -> &'static str {
    "a body a HEAD never gets"
}

/// The other side of the fix above: a bodiless HTTP/2 response whose head is sent ends its
/// stream on its head (no DATA frame, no `Content-Length` on a 204), and its `request`-scope
/// teardowns see a success.
#[tokio::test]
async fn a_bodiless_response_sent_over_http2_is_a_success_without_content() {
    let _serial = serial().await;
    let server = App::new()
        .get("/204", quick_no_content)
        .get("/ok", quick_ok)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    for (method, path, status) in [("GET", "/204", 204), ("HEAD", "/ok", 200)] {
        common::clear();
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .body(())
            .unwrap();
        within(std::future::poll_fn(|cx| client.poll_ready(cx)))
            .await
            .unwrap();
        let (response, _) = client.send_request(request, true).unwrap();
        let response = within(response).await.unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
        if status == 204 {
            assert_eq!(response.headers().get("content-length"), None);
        }
        let mut body = response.into_body();
        assert!(
            body.is_end_stream(),
            "{method} {path}: the head did not end the stream"
        );
        assert!(
            within(body.data()).await.is_none(),
            "{method} {path}: a DATA frame was sent"
        );
        let ended = within(request_ended()).await;
        assert_eq!(ended, format!("req:success {status}"), "{method} {path}");
        server.settle().await;
    }
    driver.abort();
    server.shutdown().await;
}

// ------------- 3. a request timed out whose `handler`-scope teardown then fails

/// A `handler`-scope generator whose teardown (a commit) fails.
#[depends(scope = "handler")]
async fn failing_commit(y: Yield<u8>) -> Result<(), HttpError> {
    let (_, outcome) = y.provide(1).await;
    log(format!("commit:{}", describe(&outcome)));
    Err(HttpError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "commit failed",
    ))
}

/// Never answers: it waits past the request timeout.
#[depends]
async fn past_the_timeout(#[dep(req_gen)] _r: &u8, #[dep(failing_commit)] _c: &u8) -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

/// A request past its request timeout is answered 503 with `Retry-After` (a server error
/// already); a `handler`-scope teardown that then fails keeps that answer (it was a 500
/// without `Retry-After`), and the `request`-scope teardowns are told of the failed teardown.
#[tokio::test]
async fn a_timed_out_request_whose_handler_teardown_fails_stays_a_503_with_retry_after() {
    let _serial = serial().await;
    let app = App::new()
        .get("/slow", past_the_timeout)
        .request_timeout(Duration::from_millis(100));
    let client = TestClient::start(app).await.unwrap();
    let response = within(client.get("/slow").send()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"detail": "Request timed out"})
    );
    client.settle().await;
    assert_eq!(
        events(),
        [
            "req:setup",
            "commit:cancelled timeout",
            "req:teardown of `failing_commit` failed (500)",
        ]
    );
    let metrics = client.running().metrics();
    assert_eq!(metrics.teardown_errors, 1, "{metrics:?}");
}

// ------------- 2. a `di` app mounted in another, counted once in the `metrics` export

#[depends]
async fn inner_hello() -> &'static str {
    "inner"
}

#[depends]
async fn outer_hello() -> &'static str {
    "outer"
}

/// A `di` app mounted in another (`nest_service`, `fallback_service`) counts its responses in
/// its own `Metrics`, as the app it is mounted in does, but leaves `di_requests_total` to
/// that app, which counts what leaves it: the export counts each request once (it counted a
/// request to the mounted app twice). The recorder is this thread's only and the runtime
/// single-threaded, so no other test's app counts into it.
#[test]
fn a_di_app_mounted_in_another_is_counted_once_in_the_metrics_export() {
    // The mounted app without layers, then with one (its answers leave through its layers).
    for layered in [false, true] {
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (inner, outer) = metrics::with_local_recorder(&recorder, || {
            runtime.block_on(async {
                let inner = App::new().get("/hello", inner_hello);
                let inner = if layered {
                    inner.layer(tower::layer::util::Identity::new())
                } else {
                    inner
                };
                let inner = inner.start().await.unwrap();
                let client = TestClient::start(
                    App::new()
                        .get("/hello", outer_hello)
                        .nest_service("/inner", inner.service())
                        .fallback_service(inner.service()),
                )
                .await
                .unwrap();
                for (path, body) in [
                    ("/inner/hello", "inner"),
                    ("/hello", "outer"),
                    ("/inner/nowhere", "{\"detail\":\"Not Found\"}"),
                    ("/elsewhere", "{\"detail\":\"Not Found\"}"),
                ] {
                    let response = client.get(path).send().await;
                    assert_eq!(response.text().await.unwrap(), body, "{path}");
                }
                client.settle().await;
                let counted = (inner.metrics(), client.running().metrics());
                client.shutdown().await;
                inner.shutdown().await;
                counted
            })
        });
        // Each app's own counts: the inner one answered three, the outer one sent four.
        assert_eq!(
            inner.responses_with(StatusCode::OK),
            1,
            "{layered}: {inner:?}"
        );
        assert_eq!(inner.responses_with(StatusCode::NOT_FOUND), 2, "{inner:?}");
        assert_eq!(outer.responses_with(StatusCode::OK), 2, "{outer:?}");
        assert_eq!(outer.responses_with(StatusCode::NOT_FOUND), 2, "{outer:?}");
        // The export: what the clients got, once each.
        assert_eq!(
            exported_requests(&snapshotter),
            [("200".to_owned(), 2), ("404".to_owned(), 2)],
            "layered: {layered}"
        );
    }
}

// ------------- 4. a tower layer that rebuilds the request without its extensions

/// A fresh request from `request`'s method, URI, version, headers and body: its extensions
/// (`di`'s among them) are dropped, as a layer that rebuilds requests from parts drops them.
fn rebuilt(request: http::Request<di_runtime::Body>) -> http::Request<di_runtime::Body> {
    let (parts, body) = request.into_parts();
    let mut fresh = http::Request::new(body);
    *fresh.method_mut() = parts.method;
    *fresh.uri_mut() = parts.uri;
    *fresh.version_mut() = parts.version;
    *fresh.headers_mut() = parts.headers;
    fresh
}

#[depends]
async fn id_session(id: RequestId, y: Yield<u8>) {
    log(format!("session:open {id}"));
    let (_, outcome) = y.provide(1).await;
    log(format!("session:{} {id}", describe(&outcome)));
}

#[depends]
async fn my_id(#[dep(id_session)] _s: &u8, id: RequestId) -> String {
    id.as_str().to_owned()
}

#[depends]
async fn stuck_with_session(#[dep(id_session)] _s: &u8) -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

/// A layer of the app (or of a route) that rebuilds the request from its parts, dropping its
/// extensions, loses nothing of `di`'s: the handler, its dependencies and their teardowns see
/// the id the client gets in `x-request-id` (they saw another one, made afresh), and a
/// timeout layer outside it that answers in the app's place tells the teardowns
/// `Cancelled(Timeout)` (they were told the client went away).
#[tokio::test]
async fn a_layer_that_rebuilds_the_request_keeps_the_request_id_and_the_layers_verdict() {
    let _serial = serial().await;
    let rebuild = || tower::util::MapRequestLayer::new(rebuilt);
    let timeout = || {
        tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(100),
        )
    };
    let apps = [
        (
            "app layer",
            App::new()
                .get("/id", my_id)
                .get("/stuck", stuck_with_session)
                .layer(rebuild())
                .layer(timeout()),
        ),
        (
            "route layer",
            App::new()
                .get("/id", my_id)
                .get("/stuck", stuck_with_session)
                .route_layer(rebuild())
                .layer(timeout()),
        ),
    ];
    for (what, app) in apps {
        let client = TestClient::start(app).await.unwrap();
        for sent in [None, Some("abc-123")] {
            common::clear();
            let request = client.get("/id");
            let request = match sent {
                Some(id) => request.header("x-request-id", id),
                None => request,
            };
            let response = within(request.send()).await;
            assert_eq!(response.status(), StatusCode::OK, "{what}");
            let given = response.header("x-request-id").unwrap().to_owned();
            if let Some(sent) = sent {
                assert_eq!(given, sent, "{what}");
            }
            assert_eq!(response.text().await.unwrap(), given, "{what}");
            client.settle().await;
            assert_eq!(
                events(),
                [
                    format!("session:open {given}"),
                    format!("session:success 200 {given}")
                ],
                "{what}"
            );
        }
        common::clear();
        let response = within(client.get("/stuck").send()).await;
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT, "{what}");
        let given = response.header("x-request-id").unwrap().to_owned();
        client.settle().await;
        assert_eq!(
            events(),
            [
                format!("session:open {given}"),
                format!("session:cancelled timeout {given}")
            ],
            "{what}"
        );
        client.shutdown().await;
    }
}

// ------------- 5. an HTTP/2 header block never finished

#[depends]
async fn health() -> &'static str {
    "ok"
}

/// An HTTP/2 client that sends a HEADERS frame without END_HEADERS and never the CONTINUATION
/// that would end its header block. hyper's HTTP/2 has no header-read deadline (the
/// `header_read_timeout` is HTTP/1's, and a new connection's until its protocol is known): no
/// stream is opened, the connection counts as idle, and h2 holds the half block. What bounds
/// it is the HTTP/2 keep-alive: the server's PING, unanswerable mid-block (a frame other than
/// CONTINUATION there is a connection error), goes unanswered, and the connection is closed
/// `http2_keep_alive`'s interval and timeout after the block began (here long before the
/// minute of `idle_timeout`, which bounds it too).
#[tokio::test]
async fn an_http2_header_block_never_finished_is_cut_by_the_keep_alive() {
    let server = App::new()
        .get("/health", health)
        .header_read_timeout(Duration::from_millis(200))
        .idle_timeout(Duration::from_secs(60))
        .http2_keep_alive(Some(Duration::from_millis(200)), Duration::from_millis(200))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend(h2_frame(4, 0, 0, &[]));
    // `:method GET`, `:scheme http`, and no more: END_STREAM without END_HEADERS.
    hello.extend(h2_frame(1, 0x1, 1, &[0x82, 0x86]));
    stream.write_all(&hello).await.unwrap();
    // Closed (within the 8 s `read_to_close` waits), not held for the idle timeout.
    let sent = read_bytes_to_close(&mut stream).await;
    // The server's SETTINGS and its unanswered PING came first.
    let mut kinds = Vec::new();
    let mut rest = &sent[..];
    while rest.len() >= 9 {
        let len = (usize::from(rest[0]) << 16) | (usize::from(rest[1]) << 8) | usize::from(rest[2]);
        kinds.push((rest[3], rest[4]));
        rest = &rest[(9 + len).min(rest.len())..];
    }
    assert!(kinds.contains(&(6, 0)), "no PING among {kinds:?}");
    server.shutdown().await;
}
