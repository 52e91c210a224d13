//! The tower ecosystem around a `di` app, as a production user stacks it: tower-http's
//! compression (a streamed NDJSON export over HTTP/1.0, HTTP/1.1 and HTTP/2), request
//! decompression and body limits, `CatchPanicLayer`, and tower's own `TimeoutLayer`,
//! `ConcurrencyLimitLayer`, `LoadShedLayer`, `BufferLayer` and `RateLimitLayer` (with axum's
//! `HandleErrorLayer`, as axum users write them). Each checks what the client gets (head and
//! body), and that the teardowns run once, at the right time, told the true outcome, with
//! `max_concurrency` places and background tasks given back and run. The tower-http layers
//! the other suites cover (CORS, trace, tower-http's timeout) are in `tests/layers_tower.rs`.

mod common;

use std::convert::Infallible;
use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use common::{count, describe, events, guard, log, serial, wait_for};
use di_runtime::Body;
use di_runtime::prelude::*;
use futures_util::{Stream, stream};
use http_body_util::{BodyExt, Empty};
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

#[depends(scope = "handler")]
async fn tx(y: Yield<u32>) {
    log("tx:open");
    let (_, outcome) = y.provide(1).await;
    log(format!("tx:close {}", describe(&outcome)));
}

#[depends]
async fn session(y: Yield<u32>) {
    log("session:open");
    let (_, outcome) = y.provide(2).await;
    log(format!("session:close {}", describe(&outcome)));
}

/// A pooled connection: one at a time.
#[depends(max_concurrency = 1)]
async fn reader(y: Yield<u32>) {
    log("reader:open");
    let (_, outcome) = y.provide(7).await;
    log(format!("reader:close {}", describe(&outcome)));
}

#[depends]
async fn hello(#[dep(tx)] _t: &u32, #[dep(session)] _s: &u32, id: RequestId) -> String {
    log(format!("hello:id {id}"));
    "hello".into()
}

#[depends]
async fn boom(#[dep(tx)] _t: &u32, #[dep(session)] _s: &u32) -> String {
    panic!("a bug in a handler")
}

#[depends]
async fn stuck(#[dep(tx)] _t: &u32, #[dep(session)] _s: &u32) -> String {
    log("stuck:started");
    std::future::pending::<()>().await;
    "never".into()
}

#[depends]
async fn echo(#[dep(tx)] _t: &u32, #[dep(session)] _s: &u32, body: Bytes) -> String {
    format!(
        "got {} bytes, {} of them 'a'",
        body.len(),
        body.iter().filter(|b| **b == b'a').count()
    )
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

// ------------------------------------------------------ a gzip NDJSON export, every protocol

const LINES: u32 = 300;

fn note(i: u32) -> String {
    format!("{{\"id\":{i},\"title\":\"note {i}\",\"body\":\"a body worth compressing\"}}\n")
}

fn exported() -> Vec<u8> {
    (0..LINES).map(note).collect::<String>().into_bytes()
}

/// The notes example's export: NDJSON streamed over a `request`-scoped, pooled connection
/// (one place), with a background task.
#[depends]
async fn export(
    #[dep(tx)] _t: &u32,
    #[dep(reader)] reader: Held<u32>,
    tasks: &BackgroundTasks,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    tasks.add(async { log("task ran") });
    let lines = stream::unfold((reader, 0u32), |(reader, i)| async move {
        if i == LINES {
            log("stream:end");
            return None;
        }
        if i % 50 == 0 {
            tokio::task::yield_now().await;
        }
        Some((Ok(Bytes::from(note(i))), (reader, i + 1)))
    });
    StreamBody::new(lines).content_type("application/x-ndjson")
}

/// What one export leaves in the log, in order: `handler` scope before the head, the
/// background task after the last byte, then the `request` scope, each once.
const ONE_EXPORT: [&str; 6] = [
    "tx:open",
    "reader:open",
    "tx:close success 200",
    "stream:end",
    "task ran",
    "reader:close success 200",
];

/// A GET of `uri` that takes gzip (an HTTP/1 `uri` is a path, with `Host` beside it; an
/// HTTP/2 one is absolute, its authority the host).
fn gzip_get(uri: String) -> http::Request<Empty<Bytes>> {
    let mut request = http::Request::get(&uri);
    if uri.starts_with('/') {
        request = request.header("host", "walk");
    }
    request
        .header("accept-encoding", "gzip")
        .body(Empty::new())
        .unwrap()
}

/// The export behind `CompressionLayer`, twice on one HTTP/1.1 connection, twice on one HTTP/2
/// connection and once over HTTP/1.0 (no chunked coding: the body ends where the connection
/// closes): each time the client gets gzip without a `Content-Length`, which inflates to
/// exactly the handler's lines; the pool's one place is given back each time (the next export
/// gets it), the task runs after the last byte and before the `request` teardown.
#[tokio::test]
async fn a_gzip_ndjson_export_inflates_to_the_handlers_lines_over_every_protocol() {
    let _serial = serial().await;
    let server = App::new()
        .get("/export", export)
        .layer(tower_http::compression::CompressionLayer::new())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();

    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut http1, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let http1_task = tokio::spawn(async move {
        let _ = connection.await;
    });
    let (mut http2, http2_task) = common::hyper_h2_client(addr).await;
    for round in 0..4 {
        common::clear();
        let response = if round < 2 {
            http1.ready().await.unwrap();
            http1
                .send_request(gzip_get("/export".into()))
                .await
                .unwrap()
        } else {
            http2
                .send_request(gzip_get(format!("http://{addr}/export")))
                .await
                .unwrap()
        };
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers["content-encoding"], "gzip");
        assert_eq!(headers["content-type"], "application/x-ndjson");
        assert!(!headers.contains_key("content-length"), "{headers:?}");
        let compressed = guard("the export", response.into_body().collect())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(gunzip(&compressed), exported(), "round {round}");
        wait_for("reader:close success 200").await;
        assert_eq!(events(), ONE_EXPORT, "round {round}");
    }

    common::clear();
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /export HTTP/1.0\r\naccept-encoding: gzip\r\n\r\n")
        .await
        .unwrap();
    let answer = common::read_bytes_to_close(&mut socket).await;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = String::from_utf8_lossy(&answer[..split]).to_lowercase();
    assert!(head.starts_with("http/1.0 200"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert_eq!(gunzip(&answer[split..]), exported());
    wait_for("reader:close success 200").await;
    assert_eq!(events(), ONE_EXPORT);

    http1_task.abort();
    http2_task.abort();
    let metrics = common::settled_whole(&server).await;
    assert_eq!(metrics.teardowns.success, 10, "{metrics:?}");
    assert_eq!(metrics.responses_with(StatusCode::OK), 5, "{metrics:?}");
    server.shutdown().await;
}

// ------------------------------------------------------ request decompression and body limits

/// tower-http's `RequestDecompressionLayer` gives the request a body type of its own, which
/// the app's layers do not take; `MapRequestBodyLayer::new(Body::new)` makes it the app's
/// again. Then a gzip upload reaches the handler inflated; the app's `body_limit` counts what
/// it inflates to, so a small gzip of a large body (a zip bomb) is 413; a body that is not
/// gzip is 400 and an encoding the layer does not take 415; none of these sets anything up.
#[tokio::test]
async fn a_gzip_request_body_is_inflated_by_a_layer_and_the_body_limit_counts_what_it_inflates_to()
{
    let _serial = serial().await;
    let app = App::new().post("/echo", echo).body_limit(5_000).layer(
        tower::ServiceBuilder::new()
            .layer(tower_http::decompression::RequestDecompressionLayer::new())
            .layer(tower_http::map_request_body::MapRequestBodyLayer::new(
                Body::new,
            )),
    );
    let client = TestClient::start(app).await.unwrap();
    let response = client
        .post("/echo")
        .header("content-encoding", "gzip")
        .body(gzip(&[b'a'; 4_000]))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        "got 4000 bytes, 4000 of them 'a'"
    );
    client.settle().await;
    assert_eq!(
        events(),
        [
            "tx:open",
            "session:open",
            "tx:close success 200",
            "session:close success 200"
        ]
    );
    common::clear();
    let bomb = gzip(&[b'a'; 1_000_000]);
    assert!(bomb.len() < 5_000, "{}", bomb.len());
    let cases: [(&str, Vec<u8>, StatusCode); 3] = [
        ("gzip", bomb, StatusCode::PAYLOAD_TOO_LARGE),
        ("gzip", b"not gzip at all".to_vec(), StatusCode::BAD_REQUEST),
        (
            "compress",
            b"x".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (encoding, body, status) in cases {
        let response = client
            .post("/echo")
            .header("content-encoding", encoding)
            .body(body)
            .send()
            .await;
        assert_eq!(response.status(), status, "{encoding}");
        assert!(response.header("x-request-id").is_some());
    }
    client.settle().await;
    assert!(events().is_empty(), "{:?}", events());
    client.shutdown().await;
}

/// tower-http's `RequestBodyLimitLayer`, made a layer the same way, on a group: a lower limit
/// for its routes than the app's. A declared length past it is its own 413 before the app is
/// called; a chunked body that crosses it is the app's 413 as it reads; nothing is set up.
#[tokio::test]
async fn a_groups_request_body_limit_layer_answers_413_and_sets_nothing_up() {
    let _serial = serial().await;
    let app = App::new().post("/echo", echo).nest(
        Group::new("/small")
            .layer(
                tower::ServiceBuilder::new()
                    .layer(tower_http::limit::RequestBodyLimitLayer::new(10))
                    .layer(tower_http::map_request_body::MapRequestBodyLayer::new(
                        Body::new,
                    )),
            )
            .post("/echo", echo),
    );
    let client = TestClient::start(app).await.unwrap();
    let declared = client.post("/small/echo").body("aaaaaaaaaaaa").send().await;
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let chunked = client
        .post("/small/echo")
        .chunked(["aaaaaaaa", "aaaa"])
        .send()
        .await;
    assert_eq!(chunked.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        chunked.text().await.unwrap(),
        r#"{"detail":"Request body too large"}"#
    );
    client.settle().await;
    assert!(events().is_empty(), "{:?}", events());
    let elsewhere = client.post("/echo").body("aaaaaaaaaaaa").send().await;
    assert_eq!(
        elsewhere.text().await.unwrap(),
        "got 12 bytes, 12 of them 'a'"
    );
    client.shutdown().await;
}

// ------------------------------------------------------ CatchPanicLayer

/// With tower-http's `CatchPanicLayer` around the app, a handler's panic is still the app's:
/// its generic 500 (never tower-http's "Service panicked", never the message), and the
/// teardowns told `Panicked`, once; the connection goes on.
#[tokio::test]
async fn behind_catch_panic_a_handlers_panic_is_the_apps_500_and_teardowns_see_the_panic() {
    let _serial = serial().await;
    let server = App::new()
        .get("/boom", boom)
        .get("/hello", hello)
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut socket = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    socket
        .write_all(
            b"GET /boom HTTP/1.1\r\nhost: walk\r\n\r\nGET /hello HTTP/1.1\r\nhost: walk\r\nconnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let answer = common::read_to_close(&mut socket).await;
    assert!(answer.starts_with("HTTP/1.1 500 "), "{answer}");
    assert!(
        answer.contains(r#"{"detail":"Internal Server Error"}"#),
        "{answer}"
    );
    assert!(!answer.contains("panicked"), "{answer}");
    assert!(!answer.contains("a bug"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nhello"), "{answer}");
    let metrics = common::settled_whole(&server).await;
    let events = events();
    assert_eq!(count(&events, "tx:close panicked"), 1, "{events:?}");
    assert_eq!(count(&events, "session:close panicked"), 1, "{events:?}");
    assert_eq!(count(&events, "session:close success 200"), 1, "{events:?}");
    assert_eq!(metrics.teardowns.panicked, 2, "{metrics:?}");
    server.shutdown().await;
}

// ------------------------------------------------------ tower's own layers

/// tower's `TimeoutLayer` fails the request with an error rather than answering: the app
/// answers a layer's error with a generic 500, and the teardowns are told `Cancelled(Timeout)`
/// (the client is still there); with axum's `HandleErrorLayer` in front, the answer is the
/// one it makes of the error.
#[tokio::test]
async fn towers_own_timeout_is_a_500_or_what_handle_error_makes_of_it_and_a_timeout_to_teardowns() {
    let _serial = serial().await;
    let bare = App::new()
        .get("/stuck", stuck)
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(
            100,
        )));
    let handled = App::new().get("/stuck", stuck).layer(
        tower::ServiceBuilder::new()
            .layer(axum::error_handling::HandleErrorLayer::new(
                |_: tower::BoxError| async { axum::http::StatusCode::GATEWAY_TIMEOUT },
            ))
            .timeout(Duration::from_millis(100)),
    );
    for (app, status) in [
        (bare, StatusCode::INTERNAL_SERVER_ERROR),
        (handled, StatusCode::GATEWAY_TIMEOUT),
    ] {
        common::clear();
        let client = TestClient::start(app).await.unwrap();
        let response = guard("the timeout", client.get("/stuck").send()).await;
        assert_eq!(response.status(), status);
        assert!(response.header("x-request-id").is_some());
        let body = response.text().await.unwrap();
        assert!(!body.contains("timed out"), "{body}");
        client.settle().await;
        assert_eq!(
            events(),
            [
                "tx:open",
                "session:open",
                "stuck:started",
                "tx:close cancelled timeout",
                "session:close cancelled timeout",
            ]
        );
        client.shutdown().await;
    }
}

/// Sends a GET of `path` through the app's service from another task, as a second client.
fn send_beside(client: &TestClient, path: &'static str) -> tokio::task::JoinHandle<StatusCode> {
    let service = client.running().service();
    tokio::spawn(async move {
        let request = http::Request::get(path).body(Body::empty()).unwrap();
        let status = service.oneshot(request).await.unwrap().status();
        log(format!("{path} answered {}", status.as_u16()));
        status
    })
}

/// `LoadShedLayer` over `ConcurrencyLimitLayer`, in one `ServiceBuilder` on the app (with
/// axum's `HandleErrorLayer` for the error it sheds with): past the limit, a request is
/// answered 503 at once, having set nothing up, while the one holding the place goes on.
#[tokio::test]
async fn load_shed_over_a_concurrency_limit_in_one_builder_answers_503_and_sets_nothing_up() {
    let _serial = serial().await;
    let app = App::new().get("/stuck", stuck).get("/hello", hello).layer(
        tower::ServiceBuilder::new()
            .layer(axum::error_handling::HandleErrorLayer::new(
                |_: tower::BoxError| async { axum::http::StatusCode::SERVICE_UNAVAILABLE },
            ))
            .load_shed()
            .concurrency_limit(1),
    );
    let client = TestClient::start(app).await.unwrap();
    let holder = send_beside(&client, "/stuck");
    wait_for("stuck:started").await;
    let shed = guard("the shed request", client.get("/hello").send()).await;
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(shed.header("x-request-id").is_some());
    assert_eq!(events(), ["tx:open", "session:open", "stuck:started"]);
    holder.abort();
    let _ = holder.await;
    client.settle().await;
    // The place is back: the next request is served.
    let served = client.get("/hello").send().await;
    assert_eq!(served.text().await.unwrap(), "hello");
    client.settle().await;
    let events = events();
    assert_eq!(
        count(&events, "tx:close cancelled client gone"),
        1,
        "{events:?}"
    );
    assert_eq!(count(&events, "session:close success 200"), 1, "{events:?}");
    let metrics = client.running().metrics();
    assert_eq!(metrics.setups, metrics.teardowns.total(), "{metrics:?}");
    client.shutdown().await;
}

/// The app's layers are always ready to the layer around them (as axum's routes are): a
/// `LoadShedLayer` added with an `App::layer` of its own, around a `ConcurrencyLimitLayer`
/// added with another, sees no back-pressure, so it sheds nothing: past the limit a request
/// waits for the place, and is served once it is free. (README, "Tower layers".)
#[tokio::test]
async fn load_shed_added_apart_from_the_limit_sheds_nothing_the_request_waits_for_the_place() {
    let _serial = serial().await;
    let app = App::new()
        .get("/stuck", stuck)
        .get("/hello", hello)
        .layer(tower::limit::ConcurrencyLimitLayer::new(1))
        .layer(tower::load_shed::LoadShedLayer::new());
    let client = TestClient::start(app).await.unwrap();
    let holder = send_beside(&client, "/stuck");
    wait_for("stuck:started").await;
    let waiting = send_beside(&client, "/hello");
    tokio::time::sleep(Duration::from_millis(50)).await;
    log("place freed");
    holder.abort();
    let _ = holder.await;
    assert_eq!(guard("the waiting request", waiting).await.unwrap(), 200);
    client.settle().await;
    let events = events();
    assert!(
        common::position(&events, "place freed") < common::position(&events, "/hello answered 200"),
        "{events:?}"
    );
    client.shutdown().await;
}

/// A group's layer wraps each of its routes on its own, as axum's `Router::layer` on a nested
/// router does: a `ConcurrencyLimitLayer` on a group limits each route apart, while on the app
/// it is one limit for every route. (README, "Tower layers".)
#[tokio::test]
async fn a_concurrency_limit_on_a_group_limits_each_route_on_the_app_all_of_them() {
    let _serial = serial().await;
    let shed = || {
        tower::ServiceBuilder::new()
            .layer(axum::error_handling::HandleErrorLayer::new(
                |_: tower::BoxError| async { axum::http::StatusCode::SERVICE_UNAVAILABLE },
            ))
            .load_shed()
            .concurrency_limit(1)
    };
    let per_route = App::new().nest(
        Group::new("")
            .layer(shed())
            .get("/stuck", stuck)
            .get("/hello", hello),
    );
    let whole_app = App::new()
        .get("/stuck", stuck)
        .get("/hello", hello)
        .layer(shed());
    for (app, status) in [
        (per_route, StatusCode::OK),
        (whole_app, StatusCode::SERVICE_UNAVAILABLE),
    ] {
        common::clear();
        let client = TestClient::start(app).await.unwrap();
        let holder = send_beside(&client, "/stuck");
        wait_for("stuck:started").await;
        let other_route = guard("the other route", client.get("/hello").send()).await;
        assert_eq!(other_route.status(), status);
        drop(other_route);
        holder.abort();
        let _ = holder.await;
        client.settle().await;
        let metrics = client.running().metrics();
        assert_eq!(metrics.setups, metrics.teardowns.total(), "{metrics:?}");
        client.shutdown().await;
    }
}

/// `RateLimitLayer` is not `Clone`, so it goes behind a `BufferLayer` (whose worker, another
/// task, calls the app): the handler still sees the request id the client gets, the
/// requests within the rate are served with their teardowns, and one past it waits for the
/// next period, having set nothing up, until a `TimeoutLayer` around gives up on it.
#[tokio::test]
async fn a_rate_limit_behind_a_buffer_keeps_the_request_id_and_a_request_past_it_sets_nothing_up() {
    let _serial = serial().await;
    let app = App::new()
        .get("/hello", hello)
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(
                    |_: tower::BoxError| async { axum::http::StatusCode::SERVICE_UNAVAILABLE },
                ))
                .buffer(8)
                .rate_limit(2, Duration::from_secs(3600)),
        )
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(200),
        ));
    let client = TestClient::start(app).await.unwrap();
    for id in ["first-id", "second-id"] {
        let response = client.get("/hello").header("x-request-id", id).send().await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.header("x-request-id"), Some(id));
        assert_eq!(response.text().await.unwrap(), "hello");
        client.settle().await;
        assert!(
            events().contains(&format!("hello:id {id}")),
            "{:?}",
            events()
        );
    }
    assert_eq!(count(&events(), "session:close success 200"), 2);
    common::clear();
    let past = guard("the request past the rate", client.get("/hello").send()).await;
    assert_eq!(past.status(), StatusCode::REQUEST_TIMEOUT);
    client.settle().await;
    assert!(events().is_empty(), "{:?}", events());
    client.shutdown().await;
}

// ------------------------------------------------------ what is logged for a layer's error

/// A layer's error (tower's timeout, a load shed without axum's `HandleErrorLayer`) is answered with
/// a generic 500 carrying the request's id, and logged at ERROR: that line carries the same
/// id, as every line the runtime writes for a request does (README, "Request ids"), so the
/// client's id finds it. Before: the line had no `request_id` at all.
#[test]
fn a_layers_error_is_logged_with_the_request_id_the_client_got() {
    let (captured, _subscriber) =
        common::Captured::at(tracing_subscriber::filter::LevelFilter::INFO);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let _serial = serial().await;
        let app = App::new().get("/stuck", stuck).get("/hello", hello).layer(
            tower::timeout::TimeoutLayer::new(Duration::from_millis(100)),
        );
        let client = TestClient::start(app).await.unwrap();
        let timed_out = guard("the timeout", client.get("/stuck").send()).await;
        assert_eq!(timed_out.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let id = timed_out.header("x-request-id").unwrap().to_owned();
        let line = captured.line("a tower layer of the app failed", &id);
        assert!(line.contains("ERROR"), "{line}");
        assert!(line.contains("request timed out"), "{line}");
        client.settle().await;
        client.shutdown().await;
    });
}

// ------------------------------------------------------ the request timeout, counted from arrival

/// `App::request_timeout` counts from a request's arrival (README, "Limits and timeouts"), and
/// the README has routes that commit prefer it to a `TimeoutLayer`: a request that waits in a
/// layer before reaching its route (a `RateLimitLayer` behind a `BufferLayer`, past the rate)
/// is answered the request timeout's 503 with `Retry-After` once it is due, having set
/// nothing up, and the requests within the rate are served as before. Before: the deadline
/// counted only from when the request reached its route, so one waiting in the layer had
/// none, and waited for the next period (here an hour) unanswered.
#[tokio::test]
async fn a_request_waiting_in_a_layer_gets_the_request_timeouts_503_once_it_is_due() {
    let _serial = serial().await;
    let app = App::new()
        .get("/hello", hello)
        .request_timeout(Duration::from_millis(300))
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(
                    |_: tower::BoxError| async { axum::http::StatusCode::BAD_GATEWAY },
                ))
                .buffer(8)
                .rate_limit(1, Duration::from_secs(3600)),
        );
    let client = TestClient::start(app).await.unwrap();
    let within = client.get("/hello").send().await;
    assert_eq!(within.text().await.unwrap(), "hello");
    client.settle().await;
    common::clear();
    let past = tokio::time::timeout(Duration::from_secs(10), client.get("/hello").send())
        .await
        .expect("a request past the rate is answered at its deadline");
    assert_eq!(past.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(past.header("retry-after"), Some("1"));
    assert!(past.header("x-request-id").is_some());
    assert_eq!(
        past.text().await.unwrap(),
        r#"{"detail":"Request timed out"}"#
    );
    client.settle().await;
    assert!(events().is_empty(), "{:?}", events());
    let metrics = client.running().metrics();
    assert_eq!(
        metrics.responses_with(StatusCode::SERVICE_UNAVAILABLE),
        1,
        "{metrics:?}"
    );
    assert_eq!(metrics.requests_in_flight, 0, "{metrics:?}");
    client.shutdown().await;
}

/// Opens when the test says so: `slow_commit`'s teardown waits for it.
static COMMIT_GATE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(0);

/// A commit that takes its time (until the gate opens): never cut by the request timeout,
/// it holds the route's place in a concurrency limit until the head is sent.
#[depends(scope = "handler")]
async fn slow_commit(y: Yield<u32>) {
    let (_, outcome) = y.provide(3).await;
    log(format!("commit:begin {}", describe(&outcome)));
    let _ = COMMIT_GATE.acquire().await.map(|permit| permit.forget());
    log("commit:end");
}

#[depends]
async fn commits(#[dep(slow_commit)] _c: &u32) -> &'static str {
    "committed"
}

/// The same over TCP: a request queued behind a route's `ConcurrencyLimitLayer` whose one place
/// a slow commit holds gets its 503 at its deadline, nothing set up, and the connection stays
/// sound: over HTTP/1.1 (a request with a body: the next request on the connection is served,
/// or the answer says `Connection: close`) and HTTP/2 (the next stream is served). The commit
/// then ends and its response stands.
#[tokio::test]
async fn a_request_queued_in_a_concurrency_limit_gets_its_503_over_tcp_and_the_connection_holds() {
    let _serial = serial().await;
    let server = App::new()
        .get("/hello", hello)
        .request_timeout(Duration::from_millis(300))
        .nest(
            Group::new("/limited")
                .layer(tower::limit::ConcurrencyLimitLayer::new(1))
                .post("/commits", commits),
        )
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    for round in 0..2 {
        common::clear();
        let mut holder = tokio::net::TcpStream::connect(addr).await.unwrap();
        holder
            .write_all(b"POST /limited/commits HTTP/1.1\r\nhost: walk\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        wait_for("commit:begin success 200").await;
        let status = if round == 0 {
            let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
            socket
                .write_all(b"POST /limited/commits HTTP/1.1\r\nhost: walk\r\ncontent-length: 5\r\n\r\naaaaa")
                .await
                .unwrap();
            let head = guard("the queued request", common::read_head(&mut socket)).await;
            if !head.to_lowercase().contains("connection: close") {
                socket
                    .write_all(b"GET /hello HTTP/1.1\r\nhost: walk\r\nconnection: close\r\n\r\n")
                    .await
                    .unwrap();
                let rest = common::read_to_close(&mut socket).await;
                assert!(rest.contains("HTTP/1.1 200 OK"), "{head}{rest}");
            }
            head.split(' ').nth(1).unwrap().to_owned()
        } else {
            let (mut http2, task) = common::hyper_h2_client(addr).await;
            let request = |path: &str| {
                http::Request::post(format!("http://{addr}{path}"))
                    .body(Empty::<Bytes>::new())
                    .unwrap()
            };
            let queued = guard(
                "the queued request",
                http2.send_request(request("/limited/commits")),
            )
            .await
            .unwrap();
            let next = http2
                .send_request(
                    http::Request::get(format!("http://{addr}/hello"))
                        .body(Empty::new())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(next.status(), StatusCode::OK);
            task.abort();
            queued.status().as_str().to_owned()
        };
        assert_eq!(status, "503", "round {round}");
        COMMIT_GATE.add_permits(1);
        let answer = common::read_head(&mut holder).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        let metrics = common::settled_whole(&server).await;
        assert_eq!(metrics.requests_in_flight, 0, "{metrics:?}");
        let events = events();
        // The queued request set nothing up; the commit ended once, and stands.
        assert_eq!(count(&events, "commit:begin success 200"), 1, "{events:?}");
        assert_eq!(count(&events, "commit:end"), 1, "{events:?}");
        assert!(!events.iter().any(|e| e.contains("timeout")), "{events:?}");
    }
    server.shutdown().await;
}

// ------------------------------------------------------ the app inside axum, under axum's layers

/// The app nested in an axum `Router` whose own layers (compression, a 408 timeout, catching
/// panics) wrap it, served by `axum::serve`, as docs/axum.md's first section has it: the gzip
/// export inflates to the handler's lines with the same teardown order; a handler's panic is
/// still the app's generic 500 told `Panicked`; and a timeout of axum's, which drops the
/// app's future as a client that went away does, reaches the teardowns as
/// `Cancelled(ClientGone)` (docs/axum.md: put the timeout on the `App` to have them told
/// `Cancelled(Timeout)`), once, while the client gets axum's 408.
#[tokio::test]
async fn the_app_under_axums_own_layers_keeps_bodies_and_teardowns() {
    let _serial = serial().await;
    let running = App::new()
        .get("/export", export)
        .get("/stuck", stuck)
        .get("/boom", boom)
        .start()
        .await
        .unwrap();
    let router = axum::Router::new()
        .nest_service("/v2", running.service())
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(200),
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut http1, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(async move {
        let _ = connection.await;
    });

    http1.ready().await.unwrap();
    let response = http1
        .send_request(gzip_get("/v2/export".into()))
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = guard("the export", response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(gunzip(&compressed), exported());
    wait_for("reader:close success 200").await;
    assert_eq!(events(), ONE_EXPORT);

    for (path, status, closed) in [
        (
            "/v2/boom",
            500,
            ["tx:close panicked", "session:close panicked"],
        ),
        (
            "/v2/stuck",
            408,
            [
                "tx:close cancelled client gone",
                "session:close cancelled client gone",
            ],
        ),
    ] {
        common::clear();
        http1.ready().await.unwrap();
        let response = guard(path, http1.send_request(gzip_get(path.into())))
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = if body.starts_with(&[0x1f, 0x8b]) {
            gunzip(&body)
        } else {
            body.to_vec()
        };
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains("a bug"), "{body}");
        guard("settle", running.settle()).await;
        let events = events();
        for event in closed {
            assert_eq!(count(&events, event), 1, "{path}: {events:?}");
        }
    }
    connection.abort();
    server.abort();
    let metrics = running.metrics();
    assert_eq!(metrics.setups, metrics.teardowns.total(), "{metrics:?}");
    running.shutdown().await;
}
