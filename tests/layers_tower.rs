//! tower-http layers around an app (`App::layer`) and its routes (`App::route_layer`,
//! `Group::layer`), in process and over TCP: the contract holds through them.
//!
//! - compression: the `request`-scope teardown runs once the compressed body has ended, not
//!   before its last frame and without waiting for the connection to close;
//! - timeout: a `TimeoutLayer` firing while the handler or a setup runs gives `handler`
//!   and `request` teardowns `Cancelled(Timeout)`, once, and the client the layer's 408; a
//!   client that goes away first still gives `Cancelled(ClientGone)`;
//! - trace: the layer sees the response, teardown timing is unchanged;
//! - CORS: a preflight answered by the layer sets nothing up, a normal request gets the
//!   headers and its teardowns;
//! - `App::layer` covers the app's own 404 and 405, `route_layer` does not.

mod common;

use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{count, events, log, position, serial, wait_for};
use di_runtime::Body;
use di_runtime::prelude::*;
use futures_util::{Stream, stream};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

fn short(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::Cancelled(CancelReason::Timeout) => "cancelled timeout".into(),
        Outcome::Cancelled(CancelReason::ClientGone) => "cancelled client gone".into(),
        Outcome::Cancelled(CancelReason::Shutdown) => "cancelled shutdown".into(),
        other => format!("other {other}"),
    }
}

#[depends(scope = "handler")]
async fn tx(y: Yield<u32>) {
    log("tx:open");
    let (_, outcome) = y.provide(1).await;
    log(format!("tx:close {}", short(&outcome)));
}

#[depends]
async fn session(y: Yield<u32>) {
    log("session:open");
    let (_, outcome) = y.provide(2).await;
    log(format!("session:close {}", short(&outcome)));
}

/// Opens when the test says so: the streamed body's last lines wait for it.
static GATE: Semaphore = Semaphore::const_new(0);

const LINES: u32 = 200;

fn line(i: u32) -> String {
    format!("line {i} of a body long enough to be worth compressing\n")
}

fn expected_body() -> String {
    (0..LINES).map(line).collect()
}

/// A streamed body over the `request`-scoped session: half the lines, then the gate, then
/// the rest.
#[depends]
async fn export(
    #[dep(tx)] _tx: &u32,
    #[dep(session)] session: Held<u32>,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    let lines = stream::unfold((session, 0u32), |(session, i)| async move {
        if i == LINES {
            log("stream:end");
            return None;
        }
        if i == LINES / 2 {
            let _ = GATE.acquire().await.map(|permit| permit.forget());
        }
        Some((Ok(Bytes::from(line(i))), (session, i + 1)))
    });
    StreamBody::new(lines).content_type("text/plain")
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("a gzip body");
    text
}

// ---------------------------------------------------------------- compression

#[tokio::test]
async fn compression_teardown_runs_after_the_last_compressed_frame_not_before() {
    let _serial = serial().await;
    let client = TestClient::start(
        App::new()
            .get("/export", export)
            .layer(CompressionLayer::new()),
    )
    .await
    .unwrap();
    let response = client
        .get("/export")
        .header("accept-encoding", "gzip")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    // `handler` scope is over before the head; `request` scope waits for the body.
    assert_eq!(
        events(),
        ["tx:open", "session:open", "tx:close success 200"]
    );
    let mut body = response.into_inner().into_body();
    GATE.add_permits(1);
    let mut compressed = Vec::new();
    loop {
        let frame = body.frame().await;
        client.settle().await;
        let closed = events().iter().any(|e| e.starts_with("session:close"));
        match frame {
            Some(frame) => {
                let data = frame.unwrap().into_data().unwrap();
                compressed.extend_from_slice(&data);
                if closed {
                    // Only once the compressed body's last frame is out; nothing follows it.
                    assert!(body.frame().await.is_none(), "teardown before the end");
                    break;
                }
            }
            None => {
                assert!(closed, "the body ended, its teardown did not run");
                break;
            }
        }
    }
    client.settle().await;
    assert_eq!(gunzip(&compressed), expected_body());
    let events = events();
    assert_eq!(count(&events, "session:close success 200"), 1, "{events:?}");
    assert!(position(&events, "stream:end") < position(&events, "session:close success 200"));
    client.shutdown().await;
}

#[depends]
async fn plain_stream() -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static>
{
    let lines = stream::unfold(0u32, |i| async move {
        (i < LINES).then(|| (Ok(Bytes::from(line(i))), i + 1))
    });
    StreamBody::new(lines).content_type("text/plain")
}

/// Regression: tower-http's compression polls the handler's body once more after its end,
/// and `stream::unfold` panics when polled past its end (the body has no `request` scope, so
/// nothing of the runtime stood between the two).
#[tokio::test]
async fn compressed_stream_is_not_polled_past_its_end() {
    let _serial = serial().await;
    let client = TestClient::start(
        App::new()
            .get("/plain", plain_stream)
            .layer(CompressionLayer::new()),
    )
    .await
    .unwrap();
    let response = client
        .get("/plain")
        .header("accept-encoding", "gzip")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let compressed = response.bytes().await.expect("the whole body");
    assert_eq!(gunzip(&compressed), expected_body());
    client.shutdown().await;
}

/// One HTTP/1.1 keep-alive connection.
struct Connection {
    sender: http1::SendRequest<Empty<Bytes>>,
    task: tokio::task::JoinHandle<()>,
}

async fn connect(addr: SocketAddr) -> Connection {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    Connection { sender, task }
}

impl Connection {
    async fn send(
        &mut self,
        method: http::Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> http::Response<hyper::body::Incoming> {
        self.sender.ready().await.unwrap();
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "test");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Empty::new()).unwrap();
        self.sender.send_request(request).await.unwrap()
    }

    async fn get(&mut self, path: &str) -> http::Response<hyper::body::Incoming> {
        self.send(http::Method::GET, path, &[]).await
    }

    /// Closes the socket, like a client that goes away.
    fn close(self) {
        drop(self.sender);
        self.task.abort();
    }
}

#[tokio::test]
async fn compression_over_tcp_tears_down_once_the_body_ends_on_an_open_connection() {
    let _serial = serial().await;
    let server = App::new()
        .get("/export", export)
        .layer(CompressionLayer::new())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut connection = connect(server.local_addr()).await;
    let response = connection
        .send(http::Method::GET, "/export", &[("accept-encoding", "gzip")])
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    // Not early: the body cannot end before the gate opens, so neither can its teardown.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !events().iter().any(|e| e.starts_with("session:close")),
        "{:?}",
        events()
    );
    GATE.add_permits(1);
    let compressed = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(gunzip(&compressed), expected_body());
    // Not late: it runs while the connection stays open (and serves the next request).
    wait_for("session:close success 200").await;
    common::clear();
    GATE.add_permits(1);
    let again = connection
        .send(http::Method::GET, "/export", &[("accept-encoding", "gzip")])
        .await;
    let compressed = again.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(gunzip(&compressed), expected_body());
    wait_for("session:close success 200").await;
    connection.close();
    server.settle().await;
    assert_eq!(count(&events(), "session:close success 200"), 1);
    server.shutdown().await;
}

// ---------------------------------------------------------------- timeout

#[depends]
async fn stuck(#[dep(tx)] _tx: &u32, #[dep(session)] _s: &u32) -> &'static str {
    log("handler:started");
    std::future::pending::<()>().await;
    "never"
}

#[depends]
async fn slow_setup(y: Yield<u32>) {
    log("slow:setting up");
    std::future::pending::<()>().await;
    let (_, outcome) = y.provide(3).await;
    log(format!("slow:close {}", short(&outcome)));
}

#[depends]
async fn stuck_in_setup(
    #[dep(tx)] _tx: &u32,
    #[dep(session)] _s: &u32,
    #[dep(slow_setup)] _slow: &u32,
) -> &'static str {
    "never"
}

fn timeout_app() -> App {
    App::new().nest(
        Group::new("")
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_millis(100),
            ))
            .get("/stuck", stuck)
            .get("/stuck-in-setup", stuck_in_setup),
    )
}

#[tokio::test]
async fn timeout_layer_firing_in_the_handler_gives_cancelled_timeout_once() {
    let _serial = serial().await;
    let client = TestClient::start(timeout_app()).await.unwrap();
    let response = client.get("/stuck").send().await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    // The layer's answer is the app's like any other: counted, with the request id.
    assert!(response.header("x-request-id").is_some());
    client.settle().await;
    let events = events();
    assert_eq!(
        events,
        [
            "tx:open",
            "session:open",
            "handler:started",
            "tx:close cancelled timeout",
            "session:close cancelled timeout",
        ]
    );
    let metrics = client.running().metrics();
    assert_eq!(metrics.responses_with(StatusCode::REQUEST_TIMEOUT), 1);
    client.shutdown().await;
}

#[tokio::test]
async fn timeout_layer_firing_in_a_setup_tears_down_what_was_set_up_with_timeout() {
    let _serial = serial().await;
    let client = TestClient::start(timeout_app()).await.unwrap();
    let response = client.get("/stuck-in-setup").send().await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    client.settle().await;
    let events = events();
    assert_eq!(
        events,
        [
            "tx:open",
            "session:open",
            "slow:setting up",
            "tx:close cancelled timeout",
            "session:close cancelled timeout",
        ]
    );
    client.shutdown().await;
}

#[tokio::test]
async fn timeout_layer_over_tcp_answers_408_and_the_connection_goes_on() {
    let _serial = serial().await;
    let server = timeout_app().bind("127.0.0.1:0").await.unwrap();
    let mut connection = connect(server.local_addr()).await;
    let response = connection.get("/stuck").await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    let _ = response.into_body().collect().await.unwrap();
    wait_for("session:close cancelled timeout").await;
    let response = connection.get("/stuck-in-setup").await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    server.settle().await;
    let events = events();
    assert_eq!(
        count(&events, "tx:close cancelled timeout"),
        2,
        "{events:?}"
    );
    assert_eq!(
        count(&events, "session:close cancelled timeout"),
        2,
        "{events:?}"
    );
    assert_eq!(events.len(), 10, "{events:?}");
    connection.close();
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_gone_before_the_timeout_layer_fires_is_client_gone() {
    let _serial = serial().await;
    let server = App::new()
        .nest(
            Group::new("")
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(60),
                ))
                .get("/stuck", stuck),
        )
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut connection = connect(server.local_addr()).await;
    let sent = tokio::spawn(async move {
        let _ = connection.get("/stuck").await;
        connection
    });
    wait_for("handler:started").await;
    sent.abort();
    wait_for("session:close cancelled client gone").await;
    server.settle().await;
    let events = events();
    assert_eq!(
        count(&events, "tx:close cancelled client gone"),
        1,
        "{events:?}"
    );
    assert_eq!(events.len(), 5, "{events:?}");
    server.shutdown().await;
}

// ---------------------------------------------------------------- trace

#[depends]
async fn hello(#[dep(tx)] _tx: &u32, #[dep(session)] session: Held<u32>) -> String {
    format!("hello {}", *session)
}

#[tokio::test]
async fn trace_layer_sees_the_response_and_teardowns_keep_their_timing() {
    let _serial = serial().await;
    let trace = TraceLayer::new_for_http()
        .on_request(|_: &http::Request<Body>, _: &tracing::Span| log("trace:request"))
        .on_response(
            |response: &http::Response<_>, _: Duration, _: &tracing::Span| {
                log(format!("trace:response {}", response.status().as_u16()));
            },
        );
    let client = TestClient::start(App::new().get("/hello", hello).layer(trace))
        .await
        .unwrap();
    let response = client.get("/hello").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "hello 2");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "trace:request",
            "tx:open",
            "session:open",
            "tx:close success 200",
            "trace:response 200",
            "session:close success 200",
        ]
    );
    client.shutdown().await;
}

// ---------------------------------------------------------------- CORS

fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([http::Method::GET])
}

#[tokio::test]
async fn cors_preflight_is_answered_by_the_layer_and_sets_nothing_up() {
    let _serial = serial().await;
    let server = App::new()
        .get("/hello", hello)
        .layer(cors())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut connection = connect(server.local_addr()).await;
    let preflight = connection
        .send(
            http::Method::OPTIONS,
            "/hello",
            &[
                ("origin", "https://example.com"),
                ("access-control-request-method", "GET"),
            ],
        )
        .await;
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(preflight.headers().contains_key("x-request-id"));
    let _ = preflight.into_body().collect().await.unwrap();
    server.settle().await;
    assert!(events().is_empty(), "{:?}", events());

    let response = connection
        .send(
            http::Method::GET,
            "/hello",
            &[("origin", "https://example.com")],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hello 2");
    wait_for("session:close success 200").await;
    assert_eq!(
        events(),
        [
            "tx:open",
            "session:open",
            "tx:close success 200",
            "session:close success 200",
        ]
    );
    connection.close();
    server.shutdown().await;
}

// ---------------------------------------------------------------- 404 and 405

#[tokio::test]
async fn app_layer_covers_404_and_405_route_layer_does_not() {
    let _serial = serial().await;
    let everywhere = TestClient::start(App::new().get("/hello", hello).layer(cors()))
        .await
        .unwrap();
    let routes_only = TestClient::start(App::new().get("/hello", hello).route_layer(cors()))
        .await
        .unwrap();
    for client in [&everywhere, &routes_only] {
        let found = client
            .get("/hello")
            .header("origin", "https://example.com")
            .send()
            .await;
        assert_eq!(found.status(), 200);
        assert_eq!(found.header("access-control-allow-origin"), Some("*"));
    }
    let cases = [
        (Method::GET, "/nowhere", StatusCode::NOT_FOUND),
        (Method::POST, "/hello", StatusCode::METHOD_NOT_ALLOWED),
    ];
    for (method, path, status) in cases {
        let response = everywhere
            .request(method.clone(), path)
            .header("origin", "https://example.com")
            .send()
            .await;
        assert_eq!(response.status(), status);
        assert_eq!(response.header("access-control-allow-origin"), Some("*"));
        let response = routes_only
            .request(method, path)
            .header("origin", "https://example.com")
            .send()
            .await;
        assert_eq!(response.status(), status);
        assert_eq!(response.header("access-control-allow-origin"), None);
    }
    everywhere.shutdown().await;
    routes_only.shutdown().await;
}

/// Layers nest as axum's do: the last added is the outermost, a group's are inside the
/// app's route layers, and the app's layers are outside everything.
#[tokio::test]
async fn layers_nest_group_inside_route_layer_inside_app_layer() {
    let _serial = serial().await;
    let trace = |name: &'static str| {
        TraceLayer::new_for_http().on_request(move |_: &http::Request<Body>, _: &tracing::Span| {
            log(format!("enter {name}"));
        })
    };
    let client = TestClient::start(
        App::new()
            .layer(trace("app"))
            .route_layer(trace("route"))
            .nest(Group::new("/g").layer(trace("group")).get("/hello", hello)),
    )
    .await
    .unwrap();
    let response = client.get("/g/hello").send().await;
    assert_eq!(response.text().await.unwrap(), "hello 2");
    client.settle().await;
    let events = events();
    assert_eq!(
        &events[..4],
        ["enter app", "enter route", "enter group", "tx:open"],
        "{events:?}"
    );
    client.shutdown().await;
}

// ---------------------------------------------------------------- HTTP/2, app-wide layers

/// The same promises over HTTP/2, with the layers around the whole app: two requests on one
/// connection, one compressed and streamed to its end, one cut by the timeout.
#[tokio::test]
async fn app_wide_layers_over_http2_keep_timing_and_outcomes() {
    let _serial = serial().await;
    let server = App::new()
        .get("/export", export)
        .get("/stuck", stuck)
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(300),
        ))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .unwrap();
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = |path: &str, gzip: bool| {
        let mut request = http::Request::get(format!("http://{}{path}", server.local_addr()));
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        request.body(Empty::<Bytes>::new()).unwrap()
    };
    let mut export_sender = sender.clone();
    let mut stuck_sender = sender;
    let exported = export_sender.send_request(request("/export", true));
    let stuck = stuck_sender.send_request(request("/stuck", false));
    let (exported, stuck) = tokio::join!(exported, stuck);
    let (exported, stuck) = (exported.unwrap(), stuck.unwrap());
    assert_eq!(exported.version(), http::Version::HTTP_2);
    assert_eq!(stuck.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(exported.headers()["content-encoding"], "gzip");
    GATE.add_permits(1);
    let compressed = exported.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(gunzip(&compressed), expected_body());
    wait_for("session:close success 200").await;
    wait_for("session:close cancelled timeout").await;
    server.settle().await;
    let events = events();
    assert_eq!(count(&events, "tx:close success 200"), 1, "{events:?}");
    assert_eq!(
        count(&events, "tx:close cancelled timeout"),
        1,
        "{events:?}"
    );
    assert_eq!(count(&events, "session:close success 200"), 1, "{events:?}");
    assert_eq!(
        count(&events, "session:close cancelled timeout"),
        1,
        "{events:?}"
    );
    task.abort();
    server.shutdown().await;
}

// ------------------------------------------------- a layer that panics, or answers after the app

#[depends]
async fn quick(#[dep(session)] s: &u32) -> String {
    format!("quick {s}")
}

#[tokio::test]
async fn a_layer_that_panics_after_the_app_answered_is_a_500_and_teardown_sees_the_panic() {
    let _serial = serial().await;
    let app = App::new()
        .get("/quick", quick)
        .layer(tower::util::MapResponseLayer::new(
            |_: http::Response<Body>| -> http::Response<Body> { panic!("a bug in a layer") },
        ));
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/quick").send().await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.header("x-request-id").is_some());
    let body = response.text().await.unwrap();
    assert!(
        !body.contains("a bug in a layer"),
        "nothing of the panic leaks: {body}"
    );
    client.settle().await;
    assert_eq!(events(), ["session:open", "session:close other panicked"]);
    let metrics = client.running().metrics();
    assert_eq!(metrics.responses_with(StatusCode::INTERNAL_SERVER_ERROR), 1);
    assert_eq!(metrics.responses_total(), 1);
    client.shutdown().await;
}

#[tokio::test]
async fn a_response_a_layer_puts_in_place_of_the_apps_is_counted_and_carries_the_id() {
    let _serial = serial().await;
    // The inner layer still works after the app answered; the outer one's time runs out then.
    let app = App::new()
        .get("/quick", quick)
        .layer(tower::util::AndThenLayer::new(
            |response: http::Response<Body>| async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<_, Infallible>(response)
            },
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(50),
        ));
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/quick").send().await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(response.header("x-request-id").is_some());
    let _ = response.text().await;
    client.settle().await;
    let metrics = client.running().metrics();
    assert_eq!(
        metrics.responses,
        [(StatusCode::REQUEST_TIMEOUT, 1)],
        "counted by what the client got"
    );
    client.shutdown().await;
}

#[depends]
async fn layered_session(y: Yield<u8>) {
    let (_, outcome) = y.provide(0).await;
    log(format!("layered_session: {}", outcome.is_success()));
}

#[depends]
async fn layered_create(#[dep(layered_session)] _s: &u8, tasks: &BackgroundTasks) -> String {
    tasks.add(async { log("layered_task") });
    "created".to_owned()
}

/// Behind a layer that hands the app's body on as it is (tower-http's `TimeoutLayer`), the
/// test client reads a body held whole at once, as it does without layers: a response dropped
/// unread runs its background task and commits. Before: the app wrapped the body for the layer
/// as any other, so it was read on demand, and the response dropped unread was a client gone.
#[tokio::test]
async fn behind_a_layer_a_body_held_whole_is_still_sent_whether_or_not_the_test_reads_it() {
    let _serial = serial().await;
    let app = App::new()
        .post("/", layered_create)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ));
    let client = TestClient::start(app).await.unwrap();
    let response = client.post("/").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    client.settle().await;
    assert_eq!(events(), ["layered_task", "layered_session: true"]);
    client.shutdown().await;
}
