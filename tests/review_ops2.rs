//! A review of the server and app lifecycle as an operator runs it: an `app`-scoped worker told
//! that the shutdown began, errors of tower layers around the app, what HTTP/2 answers by
//! itself in the metrics, and clients gone mid-body and mid-stream over both protocols.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use di_runtime::prelude::*;
use di_runtime::{Body, BoxError, Response, Shutdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What happened, in order.
type Log = Arc<Mutex<Vec<String>>>;

fn logged(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// Waits (up to a minute) until `log` holds `event`.
async fn wait_logged(log: &Log, event: &str) {
    let wait = async {
        while !logged(log).iter().any(|e| e == event) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .is_err()
    {
        panic!("no {event:?} within a minute: {:?}", logged(log));
    }
}

// ------------------------------------------------------- `Shutdown` in an `app`-scoped worker

#[depends(scope = "app")]
async fn log() -> Log {
    Log::default()
}

/// Released by the test: the slow request waits for it.
#[depends(scope = "app")]
async fn release() -> Arc<tokio::sync::Notify> {
    Arc::default()
}

/// A pool's reaper: a background task that works until the app shuts down. It must stop
/// as the shutdown begins (the listener closed), not only at its teardown, which comes after
/// every request in flight has ended.
#[depends(scope = "app")]
async fn reaper(#[dep(log)] log: &Log, shutdown: Shutdown, y: Yield<&'static str>) {
    let worker_log = log.clone();
    let worker = tokio::spawn(async move {
        while !shutdown.is_requested() {
            tokio::select! {
                () = shutdown.requested() => {}
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
        worker_log.lock().unwrap().push("reaper stopped".into());
    });
    let (_, outcome) = y.provide("reaping").await;
    let _ = worker.await;
    log.lock()
        .unwrap()
        .push(format!("reaper torn down: {outcome}"));
}

#[depends]
async fn slow(
    #[dep(reaper)] reaper: &&'static str,
    #[dep(release)] release: &Arc<tokio::sync::Notify>,
    #[dep(log)] log: &Log,
) -> String {
    log.lock().unwrap().push("slow entered".into());
    release.notified().await;
    format!("{reaper}: done")
}

/// A request-scoped function that takes `Shutdown`, used in `app` scope by a `scope = "app"`
/// at the use: allowed, as `Shutdown` is the app's.
#[depends]
async fn shutdown_flag(shutdown: Shutdown) -> Shutdown {
    shutdown
}

#[depends]
async fn flag(#[dep(shutdown_flag, scope = "app")] flag: &Shutdown) -> String {
    format!("requested: {}", flag.is_requested())
}

fn worker_app(log_: &Log, release_: &Arc<tokio::sync::Notify>) -> App {
    App::new()
        .provide(log, log_.clone())
        .provide(release, release_.clone())
        .get("/slow", slow)
        .get("/flag", flag)
        .shutdown_grace(Duration::from_secs(120))
}

/// `Shutdown` was refused in `app` scope ("cannot take the request input `Shutdown`; take it
/// in a `request`-scoped dependency instead"), so a worker of `app` scope could not learn that
/// the shutdown began: it went on until its teardown, after the last request of the grace
/// period. It is now told as the listener closes, while requests are still in flight.
#[tokio::test]
async fn an_app_scoped_worker_is_told_when_the_shutdown_begins() {
    let log_ = Log::default();
    let release_ = Arc::<tokio::sync::Notify>::default();
    let server = worker_app(&log_, &release_)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut client = TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    wait_logged(&log_, "slow entered").await;

    let shutdown = tokio::spawn(server.shutdown());
    // Told while the request is still in flight, before any teardown.
    wait_logged(&log_, "reaper stopped").await;
    assert_eq!(logged(&log_), ["slow entered", "reaper stopped"]);
    release_.notify_one();
    let answer = common::within(common::read_to_close(&mut client)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("reaping: done"), "{answer}");
    common::within(shutdown).await.unwrap();
    assert_eq!(
        logged(&log_),
        [
            "slow entered",
            "reaper stopped",
            "reaper torn down: app stopped"
        ]
    );
}

/// The same through `App::start` and `Running::shutdown`, and with the function made `app`
/// scope at its use.
#[tokio::test]
async fn an_app_scoped_shutdown_is_told_by_running_shutdown_and_at_a_forced_use() {
    let log_ = Log::default();
    let app = worker_app(&log_, &Arc::default());
    app.check()
        .expect("`Shutdown` is the app's: `app` scope may take it");
    let client = TestClient::start(app).await.unwrap();
    let answer = client.get("/flag").send().await;
    assert_eq!(answer.text().await.unwrap(), "requested: false");
    client.shutdown().await;
    assert_eq!(
        logged(&log_),
        ["reaper stopped", "reaper torn down: app stopped"]
    );
}

// ------------------------------------------------------------- errors of tower layers

#[depends]
async fn session(#[dep(log)] log: &Log, y: Yield<u8>) {
    let log = log.clone();
    let (_, outcome) = y.provide(1).await;
    log.lock()
        .unwrap()
        .push(format!("session: {}", common::describe(&outcome)));
}

#[depends]
async fn stuck(#[dep(session)] _s: &u8, #[dep(log)] log: &Log) -> &'static str {
    log.lock().unwrap().push("stuck entered".into());
    std::future::pending::<()>().await;
    "never"
}

#[depends]
async fn quick() -> &'static str {
    "quick"
}

/// What an operator maps tower's errors to, as axum's `HandleErrorLayer` is told to.
fn tower_errors(error: &BoxError) -> Option<Response> {
    if error.is::<tower::timeout::error::Elapsed>() {
        Some(
            HttpError::new(StatusCode::GATEWAY_TIMEOUT, "the request took too long")
                .into_response(),
        )
    } else if error.is::<tower::load_shed::error::Overloaded>() {
        Some(
            (
                [(http::header::RETRY_AFTER, "1")],
                StatusCode::SERVICE_UNAVAILABLE,
            )
                .into_response(),
        )
    } else {
        None
    }
}

/// `response` is `tower_errors`' answer to tower's `Elapsed` (504, its detail), with the
/// request's id: `where_` says which case it is, when it is not.
async fn assert_timed_out_as_mapped(response: di_runtime::TestResponse, where_: &str) {
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT, "{where_}");
    assert!(response.header("x-request-id").is_some(), "{where_}");
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"the request took too long"}"#,
        "{where_}"
    );
}

/// tower's `TimeoutLayer` fails a slow request with `Elapsed`, and the app answered every
/// layer's error with a generic 500, unless axum's `HandleErrorLayer` (a dependency of axum)
/// was put in front. `App::map_layer_error` answers it: here 504, on the app, on every route
/// and on a group, and the teardowns still see the timeout.
#[tokio::test]
async fn a_towers_timeout_is_answered_as_map_layer_error_says_and_teardowns_see_the_timeout() {
    let timeout = || tower::timeout::TimeoutLayer::new(Duration::from_millis(50));
    for place in ["app", "route", "group"] {
        let log_ = Log::default();
        let app = App::new()
            .provide(log, log_.clone())
            .map_layer_error(tower_errors);
        let app = match place {
            "app" => app.get("/stuck", stuck).layer(timeout()),
            "route" => app.get("/stuck", stuck).route_layer(timeout()),
            _ => app.nest(Group::new("").layer(timeout()).get("/stuck", stuck)),
        };
        let client = TestClient::start(app).await.unwrap();
        let response = common::within(client.get("/stuck").send()).await;
        assert_timed_out_as_mapped(response, place).await;
        client.settle().await;
        assert_eq!(
            logged(&log_),
            ["stuck entered", "session: cancelled timeout"],
            "{place}"
        );
        client.shutdown().await;
    }
}

/// `LoadShedLayer` over a `ConcurrencyLimitLayer` sheds with `Overloaded`: 503 with
/// `Retry-After` through `map_layer_error`, nothing set up, where it was a generic 500.
#[tokio::test]
async fn a_load_shed_is_answered_503_through_map_layer_error_and_sets_nothing_up() {
    let log_ = Log::default();
    let app = App::new()
        .provide(log, log_.clone())
        .get("/stuck", stuck)
        .get("/quick", quick)
        .layer(
            tower::ServiceBuilder::new()
                .load_shed()
                .concurrency_limit(1),
        )
        .map_layer_error(tower_errors);
    let client = TestClient::start(app).await.unwrap();
    let service = client.running().service();
    let holder = tokio::spawn(async move {
        let request = http::Request::get("/stuck").body(Body::empty()).unwrap();
        tower::ServiceExt::oneshot(service, request)
            .await
            .unwrap()
            .status()
    });
    wait_logged(&log_, "stuck entered").await;
    let shed = common::within(client.get("/quick").send()).await;
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.header("retry-after"), Some("1"));
    assert_eq!(logged(&log_), ["stuck entered"]);
    holder.abort();
    let _ = holder.await;
    client.settle().await;
    assert_eq!(
        logged(&log_),
        ["stuck entered", "session: cancelled client gone"]
    );
    assert_eq!(client.get("/quick").send().await.status(), StatusCode::OK);
    // Counted as the client got it.
    let metrics = client.running().metrics();
    assert_eq!(
        metrics.responses_with(StatusCode::SERVICE_UNAVAILABLE),
        1,
        "{metrics:?}"
    );
    client.shutdown().await;
}

/// An error `map_layer_error` has no answer for (`None`), and one it panics on, are the generic
/// 500, with no word of the error or the panic.
#[tokio::test]
async fn an_error_map_layer_error_leaves_or_panics_on_is_the_generic_500() {
    let panics: fn(&BoxError) -> Option<Response> = |_| panic!("the secret mapper broke");
    let leaves: fn(&BoxError) -> Option<Response> = |_| None;
    for map in [leaves, panics] {
        let app = App::new()
            .provide(log, Log::default())
            .get("/stuck", stuck)
            .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(50)))
            .map_layer_error(map);
        let client = TestClient::start(app).await.unwrap();
        let response = common::within(client.get("/stuck").send()).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.text().await.unwrap(),
            r#"{"detail":"Internal Server Error"}"#
        );
        client.settle().await;
        client.shutdown().await;
    }
}

/// A service mounted with `nest_service` or `fallback_service` that fails rather than answers
/// (here tower's `Elapsed`, from a `Timeout` around a service that never answers) is answered
/// as `map_layer_error` says, as the app's layers are; it was always the generic 500.
#[tokio::test]
async fn a_mounted_services_error_is_answered_as_map_layer_error_says() {
    let failing = || {
        let never = tower::service_fn(|_request: http::Request<Body>| {
            std::future::pending::<Result<http::Response<String>, std::convert::Infallible>>()
        });
        tower::timeout::Timeout::new(never, Duration::from_millis(20))
    };
    let app = |mounted: &str| {
        let app = App::new().get("/quick", quick);
        match mounted {
            "nest_service" => app.nest_service("/legacy", failing()),
            _ => app.fallback_service(failing()),
        }
    };
    for mounted in ["nest_service", "fallback_service"] {
        let mapped = TestClient::start(app(mounted).map_layer_error(tower_errors))
            .await
            .unwrap();
        let response = common::within(mapped.get("/legacy/users").send()).await;
        assert_timed_out_as_mapped(response, mounted).await;
        assert_eq!(mapped.get("/quick").send().await.status(), StatusCode::OK);
        mapped.shutdown().await;
        // Without the map: the generic 500, as before.
        let unmapped = TestClient::start(app(mounted)).await.unwrap();
        let response = common::within(unmapped.get("/legacy/users").send()).await;
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{mounted}"
        );
        assert_eq!(
            response.text().await.unwrap(),
            r#"{"detail":"Internal Server Error"}"#
        );
        unmapped.shutdown().await;
    }
}

// ------------------------------------------------------------- what HTTP/2 answers by itself

#[depends]
async fn hello() -> &'static str {
    "hello"
}

/// Over HTTP/1, a head past `max_head_size` is answered 431 by hyper and counted in
/// `Metrics::responses` (tests/review_ops.rs). Over HTTP/2 the 431 is sent by the `h2` crate
/// inside the connection, on the stream alone: hyper hands the app neither the request nor
/// an error, so the app cannot count it (README, "Metrics"). What is pinned here: the client
/// gets its 431, the connection goes on serving, and nothing else is counted in its place.
#[tokio::test]
async fn an_http2_header_list_past_the_limit_is_answered_431_and_the_connection_serves_on() {
    let server = App::new()
        .get("/", hello)
        .max_head_size(16 * 1024)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    let mut request = http::Request::get(format!("http://{addr}/"));
    for n in 0..20 {
        request = request.header(format!("x-big-{n}"), "a".repeat(1024));
    }
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .unwrap();
    let (answer, _) = client
        .send_request(request.body(()).unwrap(), true)
        .unwrap();
    let answer = common::within(answer).await.unwrap();
    assert_eq!(answer.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // The same connection serves the next request.
    let mut body = common::h2_get(&mut client, addr, "/").await;
    assert_eq!(common::within(body.data()).await.unwrap().unwrap(), "hello");
    driver.abort();
    // Far past the limit (more CONTINUATION frames than `h2` takes for it, its defence
    // against CONTINUATION floods) the whole connection is closed with COMPRESSION_ERROR.
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    let mut request = http::Request::get(format!("http://{addr}/"));
    for n in 0..64 {
        request = request.header(format!("x-big-{n}"), "a".repeat(1024));
    }
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .unwrap();
    let (answer, _) = client
        .send_request(request.body(()).unwrap(), true)
        .unwrap();
    let error = common::within(answer).await.unwrap_err();
    assert_eq!(
        error.reason(),
        Some(h2::Reason::COMPRESSION_ERROR),
        "{error}"
    );
    driver.abort();
    let metrics = server.metrics();
    assert_eq!(metrics.responses, [(StatusCode::OK, 1)], "{metrics:?}");
    // The server serves on.
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    let mut body = common::h2_get(&mut client, addr, "/").await;
    assert_eq!(common::within(body.data()).await.unwrap().unwrap(), "hello");
    driver.abort();
    server.shutdown().await;
}

// ------------------------------------------------------------- a fault walk over real sockets

#[depends(scope = "handler")]
async fn tx(#[dep(log)] log: &Log, y: Yield<u16>) {
    let log = log.clone();
    let (_, outcome) = y.provide(2).await;
    log.lock()
        .unwrap()
        .push(format!("tx: {}", common::describe(&outcome)));
}

/// Reads an upload as it comes, inside a transaction and a session.
#[depends]
async fn upload(
    #[dep(tx)] _tx: &u16,
    #[dep(session)] _session: &u8,
    #[dep(log)] log: &Log,
    mut body: di_runtime::BodyStream,
) -> Result<String, HttpError> {
    log.lock().unwrap().push("upload entered".into());
    let mut n = 0;
    while let Some(chunk) = futures_util::StreamExt::next(&mut body).await {
        n += chunk?.len();
    }
    Ok(format!("read {n}"))
}

/// An export that never ends by itself, holding the session to its end.
#[depends]
async fn export(
    #[dep(session)] session: Held<u8>,
    #[dep(log)] log: Log,
) -> StreamBody<impl futures_util::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>>> {
    log.lock().unwrap().push("export entered".into());
    let rows = futures_util::stream::unfold(session, |session| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Some((Ok(bytes::Bytes::from(vec![b'x'; 1024])), session))
    });
    StreamBody::new(rows)
}

fn fault_app(log_: &Log) -> App {
    App::new()
        .provide(log, log_.clone())
        .post("/upload", upload)
        .get("/export", export)
        .shutdown_grace(Duration::from_millis(200))
}

/// Every teardown of a request the client left ran once, with the client gone: handler scope
/// first. Nothing logged at ERROR, no panic, no internal word.
async fn expect_gone(server: &di_runtime::Server, log_: &Log, entered: &str, teardowns: &[&str]) {
    wait_logged(log_, teardowns.last().unwrap()).await;
    common::within(server.settle()).await;
    let mut expected = vec![entered.to_owned()];
    expected.extend(teardowns.iter().map(|t| (*t).to_owned()));
    assert_eq!(logged(log_), expected);
    log_.lock().unwrap().clear();
}

/// Runs `walk` on a runtime of its own with every log line captured, then checks that none
/// of them is an error, a panic or an internal message.
fn with_clean_log(walk: impl std::future::Future<Output = ()>) {
    let (captured, _subscriber) =
        common::Captured::at(tracing_subscriber::filter::LevelFilter::DEBUG);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(walk);
    assert_clean_log(&captured);
}

fn assert_clean_log(captured: &common::Captured) {
    let lines = captured.lines();
    for line in &lines {
        assert!(!line.contains(" ERROR "), "{lines:#?}");
        assert!(!line.contains("panick"), "{lines:#?}");
        assert!(!line.contains("not extracted"), "{lines:#?}");
        assert!(!line.contains("could not start"), "{lines:#?}");
    }
}

#[test]
fn clients_gone_mid_body_and_mid_stream_over_both_protocols_tear_down_once_as_gone() {
    with_clean_log(async {
        let log_ = Log::default();
        let server = fault_app(&log_).bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();
        let upload_gone = [
            "tx: cancelled client gone",
            "session: cancelled client gone",
        ];
        let export_gone = ["session: cancelled client gone"];

        // HTTP/1: the socket closed mid-upload.
        let mut socket = TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n")
            .await
            .unwrap();
        socket.write_all(&[b'a'; 4096]).await.unwrap();
        wait_logged(&log_, "upload entered").await;
        drop(socket);
        expect_gone(&server, &log_, "upload entered", &upload_gone).await;

        // HTTP/1: the socket closed mid-export.
        let mut socket = TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(b"GET /export HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 8192];
        let mut read = 0;
        while read < 16 * 1024 {
            let n = common::within(socket.read(&mut buf)).await.unwrap();
            assert!(n > 0);
            read += n;
        }
        drop(socket);
        expect_gone(&server, &log_, "export entered", &export_gone).await;

        // HTTP/2: the upload's stream reset, then the whole connection dropped mid-upload.
        for how in ["reset", "connection"] {
            let io = TcpStream::connect(addr).await.unwrap();
            let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
            let request = http::Request::post(format!("http://{addr}/upload"))
                .header("content-length", "1000000")
                .body(())
                .unwrap();
            let (answer, mut send) = client.send_request(request, false).unwrap();
            send.send_data(bytes::Bytes::from(vec![b'a'; 4096]), false)
                .unwrap();
            wait_logged(&log_, "upload entered").await;
            if how == "reset" {
                send.send_reset(h2::Reason::CANCEL);
            } else {
                driver.abort();
            }
            expect_gone(&server, &log_, "upload entered", &upload_gone).await;
            drop((answer, send, client));
            driver.abort();
        }

        // HTTP/2: the export's stream dropped (RST_STREAM), then its connection dropped.
        for how in ["reset", "connection"] {
            let io = TcpStream::connect(addr).await.unwrap();
            let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
            let mut body = common::h2_get(&mut client, addr, "/export").await;
            for _ in 0..4 {
                common::within(body.data()).await.unwrap().unwrap();
            }
            if how == "reset" {
                drop(body);
            } else {
                driver.abort();
            }
            expect_gone(&server, &log_, "export entered", &export_gone).await;
            driver.abort();
        }
        let metrics = server.metrics();
        assert_eq!(metrics.setups, metrics.teardowns.total(), "{metrics:?}");
        server.shutdown().await;
    });
}

/// During a graceful shutdown: an export that does not end is cut at the grace period's end,
/// its session told the shutdown; an upload whose client leaves during the grace is told the
/// client gone, over each protocol; each torn down once, and the shutdown ends.
#[test]
fn clients_during_a_graceful_shutdown_are_torn_down_once_with_the_right_reason() {
    with_clean_log(async {
        let log_ = Log::default();
        let server = fault_app(&log_).bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();
        // An HTTP/1 export, read as it comes.
        let mut export = TcpStream::connect(addr).await.unwrap();
        export
            .write_all(b"GET /export HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        wait_logged(&log_, "export entered").await;
        let reader = tokio::spawn(async move { common::read_bytes_to_close(&mut export).await });
        // An HTTP/2 upload, left during the grace.
        let io = TcpStream::connect(addr).await.unwrap();
        let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
        let request = http::Request::post(format!("http://{addr}/upload"))
            .header("content-length", "1000000")
            .body(())
            .unwrap();
        let (_answer, mut send) = client.send_request(request, false).unwrap();
        send.send_data(bytes::Bytes::from(vec![b'a'; 4096]), false)
            .unwrap();
        wait_logged(&log_, "upload entered").await;

        let metrics_before = server.metrics();
        let shutdown = tokio::spawn(server.shutdown());
        tokio::time::sleep(Duration::from_millis(50)).await;
        send.send_reset(h2::Reason::CANCEL);
        wait_logged(&log_, "session: cancelled shutdown").await;
        let _ = common::within(reader).await.unwrap();
        common::within(shutdown).await.unwrap();
        driver.abort();
        let mut events = logged(&log_);
        events.sort();
        assert_eq!(
            events,
            [
                "export entered",
                "session: cancelled client gone",
                "session: cancelled shutdown",
                "tx: cancelled client gone",
                "upload entered",
            ],
            "{metrics_before:?}"
        );
    });
}

/// A client still there whose upload breaks (a malformed chunk over HTTP/1) gets a clean 400,
/// and the teardowns see that answer; an HTTP/2 connection dropped with an upload and two
/// exports in flight tears each down once, as the client gone.
#[test]
fn a_broken_upload_and_a_connection_dropped_with_streams_in_flight() {
    with_clean_log(async {
        let log_ = Log::default();
        let server = fault_app(&log_).bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();

        let mut socket = TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(b"POST /upload HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n4\r\nabcd\r\n")
            .await
            .unwrap();
        wait_logged(&log_, "upload entered").await;
        socket.write_all(b"zz\r\nnot a chunk\r\n").await.unwrap();
        let answer = common::within(common::read_to_close(&mut socket)).await;
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        assert!(
            !body.contains("hyper") && !body.contains("chunk size"),
            "{answer}"
        );
        wait_logged(&log_, "session: handler_error 400").await;
        common::within(server.settle()).await;
        assert_eq!(
            logged(&log_),
            [
                "upload entered",
                "tx: handler_error 400",
                "session: handler_error 400"
            ]
        );
        log_.lock().unwrap().clear();

        let io = TcpStream::connect(addr).await.unwrap();
        let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
        let mut exports = Vec::new();
        for _ in 0..2 {
            let mut body = common::h2_get(&mut client, addr, "/export").await;
            common::within(body.data()).await.unwrap().unwrap();
            exports.push(body);
        }
        let request = http::Request::post(format!("http://{addr}/upload"))
            .header("content-length", "1000000")
            .body(())
            .unwrap();
        std::future::poll_fn(|cx| client.poll_ready(cx))
            .await
            .unwrap();
        let (_answer, mut send) = client.send_request(request, false).unwrap();
        send.send_data(bytes::Bytes::from(vec![b'a'; 4096]), false)
            .unwrap();
        wait_logged(&log_, "upload entered").await;
        driver.abort();
        let wait = async {
            while logged(&log_).len() < 7 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        common::within(wait).await;
        common::within(server.settle()).await;
        let mut events = logged(&log_);
        events.sort();
        assert_eq!(
            events,
            [
                "export entered",
                "export entered",
                "session: cancelled client gone",
                "session: cancelled client gone",
                "session: cancelled client gone",
                "tx: cancelled client gone",
                "upload entered",
            ]
        );
        let metrics = server.metrics();
        assert_eq!(metrics.setups, metrics.teardowns.total(), "{metrics:?}");
        server.shutdown().await;
    });
}

/// An HTTP/1 client that half-closes its connection (shuts down its side once its request is
/// sent, as `nc -N` does) is taken as gone, as hyper takes it (its `half_close` is off): an
/// export to it is cut, its session told the client gone, never a success. Taking a half
/// close as a client still reading would leave a long poll or a quiet feed to a client that
/// really left held until TCP keep-alive found it (README, on a response whose client left).
#[tokio::test]
async fn an_http1_client_that_half_closes_is_taken_as_gone() {
    let log_ = Log::default();
    let server = fault_app(&log_).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /export HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    socket.shutdown().await.unwrap();
    let answer = common::within(common::read_bytes_to_close(&mut socket)).await;
    assert!(answer.starts_with(b"HTTP/1.1 200 "));
    expect_gone(
        &server,
        &log_,
        "export entered",
        &["session: cancelled client gone"],
    )
    .await;
    server.shutdown().await;
}

#[depends(scope = "app")]
async fn broken_pool(#[dep(reaper)] _r: &&'static str) -> Result<u8, HttpError> {
    Err(HttpError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the database is down",
    ))
}

#[depends]
async fn needs_pool(#[dep(broken_pool)] _p: &u8) -> &'static str {
    "never"
}

/// A start that fails after an `app`-scoped worker was set up tears the worker's dependency
/// down: its `Shutdown` must be requested then, or a teardown that waits for its worker (as
/// every worker's should) waits until the teardown deadline, for an app that will never serve.
#[tokio::test]
async fn a_failed_start_requests_the_shutdown_of_the_workers_it_set_up() {
    let log_ = Log::default();
    let app = App::new()
        .provide(log, log_.clone())
        .get("/", needs_pool)
        .teardown_timeout(Duration::from_secs(120));
    let started = common::within(App::start(app)).await;
    let error = started.expect_err("the pool fails to set up");
    assert!(
        error.to_string().contains("the database is down"),
        "{error}"
    );
    assert_eq!(
        logged(&log_),
        [
            "reaper stopped",
            "reaper torn down: setup of `broken_pool` failed (500)"
        ]
    );
}

#[depends(scope = "app")]
async fn hung_pool(#[dep(reaper)] _r: &&'static str) -> u8 {
    std::future::pending::<u8>().await
}

#[depends]
async fn needs_hung_pool(#[dep(hung_pool)] _p: &u8) -> &'static str {
    "never"
}

/// The same when the start is dropped (a timeout around `App::start`) while a later
/// dependency hangs in its setup: the worker is told, and its teardown, run in the
/// background, ends.
#[tokio::test]
async fn a_dropped_start_requests_the_shutdown_of_the_workers_it_set_up() {
    let log_ = Log::default();
    let app = App::new()
        .provide(log, log_.clone())
        .get("/", needs_hung_pool)
        .teardown_timeout(Duration::from_secs(120));
    let started = tokio::time::timeout(Duration::from_millis(100), App::start(app)).await;
    assert!(started.is_err(), "the start hangs in `hung_pool`");
    wait_logged(&log_, "reaper torn down: cancelled (shutdown)").await;
    assert_eq!(
        logged(&log_),
        ["reaper stopped", "reaper torn down: cancelled (shutdown)"]
    );
}

/// The protocols the other way round: an HTTP/2 export cut at the grace period's end, and an
/// HTTP/1 upload whose client leaves during the grace.
#[test]
fn an_http2_export_cut_by_shutdown_and_an_http1_upload_left_during_it() {
    with_clean_log(async {
        let log_ = Log::default();
        let server = fault_app(&log_).bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();
        let io = TcpStream::connect(addr).await.unwrap();
        let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
        let mut body = common::h2_get(&mut client, addr, "/export").await;
        let reader = tokio::spawn(async move {
            while let Some(Ok(chunk)) = body.data().await {
                let _ = body.flow_control().release_capacity(chunk.len());
            }
        });
        let mut upload = TcpStream::connect(addr).await.unwrap();
        upload
            .write_all(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n")
            .await
            .unwrap();
        upload.write_all(&[b'a'; 4096]).await.unwrap();
        wait_logged(&log_, "upload entered").await;

        let shutdown = tokio::spawn(server.shutdown());
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(upload);
        common::within(shutdown).await.unwrap();
        common::within(reader).await.unwrap();
        driver.abort();
        let mut events = logged(&log_);
        events.sort();
        assert_eq!(
            events,
            [
                "export entered",
                "session: cancelled client gone",
                "session: cancelled shutdown",
                "tx: cancelled client gone",
                "upload entered",
            ]
        );
    });
}
