//! A second code review of the server and its operations (`di-runtime/src/app/server.rs`,
//! `connections.rs`, `running.rs`, `service.rs`, `layer.rs`, `run/stats.rs`, `run/config.rs`,
//! `run/outer.rs`), read line by line for the settings at their edges, the gauges once traffic
//! is gone, and the shutdown: each test is a defect found that way, shown failing over real
//! sockets before its fix.

mod common;

use std::time::Duration;

use common::{keep_alive_get, read_head, within};
use di_runtime::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[depends]
async fn health() -> &'static str {
    "ok"
}

// ------------------------------------------------- 1. settings at their largest values

#[depends]
async fn echo(body: bytes::Bytes) -> String {
    format!("{} bytes", body.len())
}

/// Every size and count setting at its largest value (`usize::MAX`, "no limit" as a user
/// writes it), beside the time limits `tests/hardening.rs`
/// `time_limits_of_duration_max_mean_never_and_the_server_serves` leaves out at
/// `Duration::MAX`: the server binds, serves both protocols, a body included, and shuts down.
/// `http2_max_send_buffer(usize::MAX)` made hyper panic in the accept loop's task (it takes at
/// most `u32::MAX`) once `bind` had returned: the port was closed, nothing served, and `app`
/// scope was dropped untorn-down.
#[tokio::test]
async fn size_and_count_settings_at_their_largest_values_serve() {
    let server = App::new()
        .get("/health", health)
        .post("/echo", echo)
        .max_connections(usize::MAX)
        .max_background_teardowns(usize::MAX)
        .max_in_flight(usize::MAX)
        .body_limit(usize::MAX)
        .max_head_size(usize::MAX)
        .http2_max_send_buffer(usize::MAX)
        .http2_max_concurrent_streams(u32::MAX)
        .http2_max_pending_accept_reset_streams(usize::MAX)
        .http2_max_local_error_reset_streams(usize::MAX)
        .body_min_rate(u64::MAX, Duration::MAX)
        .send_timeout(Duration::MAX)
        .tcp_keepalive(Some(Duration::MAX))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut stream = within(TcpStream::connect(server.local_addr()))
        .await
        .unwrap();
    for _ in 0..2 {
        let text = within(keep_alive_get(&mut stream, "/health")).await;
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    }
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .await
        .unwrap();
    let text = within(read_head(&mut stream)).await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    let mut body = [0; 7];
    within(stream.read_exact(&mut body)).await.unwrap();
    assert_eq!(&body, b"5 bytes");
    let (mut sender, _task) = within(common::hyper_h2_client(server.local_addr())).await;
    let request = http::Request::get(format!("http://{}/health", server.local_addr()))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = within(sender.send_request(request)).await.unwrap();
    assert_eq!(response.status(), 200);
    drop(stream);
    drop(sender);
    within(server.shutdown()).await;
}

// ------------------------------------------ 2. HTTP/2 reset limits of zero

#[depends]
async fn hello() -> &'static str {
    "hello"
}

/// `http2_max_pending_accept_reset_streams(0)` and `http2_max_local_error_reset_streams(0)`
/// were accepted, and h2 then closed a connection with `GOAWAY` (`ENHANCE_YOUR_CALM`) at its
/// first such reset, failing every other stream in progress on it: a client that cancels a
/// request just sent (a reset pending accept, a pattern h2 calls legitimate), or one that
/// opens a stream past `http2_max_concurrent_streams` before it has read the server's
/// `SETTINGS` (refused streams count as the server's own resets), cut every request of the
/// connection, those of other users behind a proxy that multiplexes them included. Zero is
/// refused, as every other limit that would refuse everything is.
#[test]
fn http2_reset_limits_of_zero_are_refused() {
    assert_eq!(
        common::problems(
            &App::new()
                .get("/", hello)
                .http2_max_pending_accept_reset_streams(0)
        ),
        [
            "`App::http2_max_pending_accept_reset_streams(0)`: an HTTP/2 connection would be closed with `GOAWAY` at the first request its client cancels as it sends it, with every other request in progress on it; give 1 or more (default 20)"
        ]
    );
    assert_eq!(
        common::problems(
            &App::new()
                .get("/", hello)
                .http2_max_local_error_reset_streams(0)
        ),
        [
            "`App::http2_max_local_error_reset_streams(0)`: an HTTP/2 connection would be closed with `GOAWAY` at the first stream the server resets (one opened past `http2_max_concurrent_streams`, a header list past `max_head_size`), with every other request in progress on it; give 1 or more (default 1024)"
        ]
    );
    App::new()
        .get("/", hello)
        .http2_max_pending_accept_reset_streams(1)
        .http2_max_local_error_reset_streams(1)
        .check()
        .expect("one is a limit");
}

// ------------------------------------- 3. a minimum body rate with no grace period

/// `body_min_rate(240, Duration::ZERO)` was accepted, and every request body not there with
/// its head was answered 408: the rate was due from the body's first moment, before a byte of
/// it could come (a 100 KB upload sent at full speed 30 ms after its head got
/// `{"detail":"Request body timed out"}`), as `body_timeout(Duration::ZERO)`, which is
/// refused, would answer it. A grace of zero is refused while the rate is checked; a rate of
/// `0` turns the check off, and any grace goes with it.
#[test]
fn a_minimum_body_rate_with_no_grace_period_is_refused() {
    assert_eq!(
        common::problems(
            &App::new()
                .get("/", hello)
                .body_min_rate(240, Duration::ZERO)
        ),
        [
            "`App::body_min_rate(240, Duration::ZERO)`: the rate would be due from a body's first moment, before a byte of it could arrive, and every request body not there with its head would be answered 408; give a grace period (default 5 s), or a rate of 0 to turn the check off"
        ]
    );
    App::new()
        .get("/", hello)
        .body_min_rate(0, Duration::ZERO)
        .check()
        .expect("a rate of zero turns the check off");
    App::new()
        .get("/", hello)
        .body_min_rate(240, Duration::from_millis(1))
        .check()
        .expect("a grace period");
}

// ----------------------- 4. a request refused before the app, in an app with tower layers

/// The server refuses, before the app sees them, an HTTP/1 request with two `Host`s or an
/// invalid one, a body chunked twice, a body in a transfer coding other than `chunked`, and
/// an HTTP/2 request whose `host` is not its `:authority`. Each answer is counted in
/// `Metrics::responses` (and `di_requests_total`) as every other answer is; but in an app with
/// tower layers, whose answers are counted where they leave the layers, the refusal (which
/// never enters them) was counted nowhere: a client probing for request smuggling showed on
/// no dashboard once the app had a layer.
#[tokio::test]
async fn a_request_refused_before_an_app_with_layers_is_counted() {
    for layered in [false, true] {
        let app = App::new().get("/health", health);
        let app = if layered {
            app.layer(tower::layer::util::Identity::new())
        } else {
            app
        };
        let server = app.bind("127.0.0.1:0").await.unwrap();
        for request in [
            "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "POST /health HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        ] {
            let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
            stream.write_all(request.as_bytes()).await.unwrap();
            let text = within(common::read_to_close(&mut stream)).await;
            assert!(
                text.starts_with("HTTP/1.1 400") || text.starts_with("HTTP/1.1 501"),
                "{text}"
            );
        }
        let metrics = server.metrics();
        assert_eq!(
            (
                metrics.responses_with(StatusCode::BAD_REQUEST),
                metrics.responses_with(StatusCode::NOT_IMPLEMENTED)
            ),
            (1, 1),
            "layered: {layered}: {metrics:?}"
        );
        within(server.shutdown()).await;
    }
}

// ------------------------------------------- 5. a request after `Running::shutdown`

/// A clone of the app's service still used after `Running::shutdown` (another server that
/// has not stopped yet, inside axum) answers each request 503 `The server is shutting down`,
/// nothing set up, counted in the metrics: `Running::shutdown`'s doc said nothing of what it
/// does to the requests that come after it.
#[tokio::test]
async fn a_request_after_running_shutdown_is_answered_503() {
    let running = App::new().get("/health", health).start().await.unwrap();
    let service = running.service();
    running.shutdown().await;
    let request = http::Request::get("/health")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = within(service.call_request(request)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, r#"{"detail":"The server is shutting down"}"#);
    let metrics = service.metrics();
    assert_eq!(
        metrics.responses_with(StatusCode::SERVICE_UNAVAILABLE),
        1,
        "{metrics:?}"
    );
    assert_eq!(metrics.requests_in_flight, 0, "{metrics:?}");
}
