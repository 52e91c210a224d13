//! A review of the server and app lifecycle as an operator runs it: an `app`-scoped worker told
//! that the shutdown began, errors of tower layers around the app, what HTTP/2 answers by
//! itself in the metrics, and clients gone mid-body and mid-stream over both protocols.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use di_runtime::prelude::*;
use di_runtime::{Body, BoxError, Response, Shutdown};
use tokio::io::AsyncWriteExt;
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
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT, "{place}");
        assert!(response.header("x-request-id").is_some(), "{place}");
        assert_eq!(
            response.text().await.unwrap(),
            r#"{"detail":"the request took too long"}"#,
            "{place}"
        );
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
