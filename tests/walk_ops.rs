//! An SRE's operations walk, before taking a `di` service to production: what one request
//! logs, at which level, and with which request id, when clients misbehave (gone, slow,
//! sending bad requests); that no secret a request carries (a bearer token, a cookie, an API
//! key, its body) reaches a log line, and no panic's payload a client; that the counters and
//! gauges, read back through `metrics()` and through the `metrics` facade, match what
//! happened over real TCP, and come back to zero at shutdown. Each test runs on a
//! single-threaded runtime with a subscriber (and a recorder) of its own thread, so that no
//! other test's lines or counts are seen.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::{Captured, guard, log, read_head, wait_for};
use di_runtime::prelude::*;
use di_runtime::{BodyStream, HttpBearer};
use futures_util::stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Held by each test from its start: one at a time, so that no other test's subscriber (or
/// thread without one) changes which of the app's log lines `tracing` has cached as enabled
/// while a test reads them, and the tests share the event log.
static ONE: Mutex<()> = Mutex::new(());

fn one() -> std::sync::MutexGuard<'static, ()> {
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A single-threaded runtime: the subscriber and recorder of its thread see all the app does.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------- the service

/// A `request`-scoped session, held by streamed bodies.
struct Session;

#[depends]
async fn session(y: Yield<Session>) {
    let (_session, outcome) = y.provide(Session).await;
    log(format!("session:close {}", common::describe(&outcome)));
}

/// A `handler`-scoped transaction.
struct Tx;

#[depends(scope = "handler")]
async fn tx(y: Yield<Tx>) {
    let (_tx, outcome) = y.provide(Tx).await;
    log(format!("tx:close {}", common::describe(&outcome)));
}

#[depends]
async fn ok(#[dep(session)] _s: &Session, #[dep(tx)] _t: &Tx) -> &'static str {
    "ok"
}

#[derive(serde::Deserialize)]
struct Item {
    #[allow(dead_code, reason = "read by the 422 only")]
    count: u32,
}

/// Checks a bearer token, as an authentication dependency does.
#[depends]
async fn user(bearer: HttpBearer) -> Result<String, HttpError> {
    if bearer.token() == "right-token" {
        Ok("ada".to_owned())
    } else {
        Err(HttpError::new(StatusCode::FORBIDDEN, "wrong token"))
    }
}

#[depends]
async fn create(
    #[dep(user)] _user: &String,
    #[dep(tx)] _t: &Tx,
    Json(_item): Json<Item>,
) -> StatusCode {
    StatusCode::CREATED
}

#[depends]
async fn item(Path(id): Path<u32>) -> String {
    id.to_string()
}

/// Waits for its client, who goes away.
#[depends]
async fn waits(#[dep(session)] _s: &Session, #[dep(tx)] _t: &Tx) -> &'static str {
    log("waits:started");
    tokio::time::sleep(Duration::from_secs(60)).await;
    "late"
}

/// An export that never ends: 16 KiB lines, each ready at once.
#[depends]
async fn export(
    #[dep(session)] session: Held<Session>,
) -> StreamBody<
    impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
> {
    let line = Bytes::from(vec![b'x'; 16 * 1024]);
    StreamBody::new(stream::unfold(session, move |session| {
        let line = line.clone();
        async move { Some((Ok(line), session)) }
    }))
}

/// Reads a `BodyStream` upload to its end.
#[depends]
async fn upload(#[dep(tx)] _t: &Tx, body: BodyStream) -> Result<String, HttpError> {
    Ok(body.to_bytes().await?.len().to_string())
}

fn app() -> App {
    App::new()
        .get("/ok", ok)
        .post("/items", create)
        .get("/items/{id}", item)
        .get("/waits", waits)
        .get("/export", export)
        .post("/upload", upload)
        .body_limit(1024)
        .body_timeout(Duration::from_millis(300))
        .body_min_rate(0, Duration::ZERO)
        .send_timeout(Duration::from_millis(300))
        .idle_timeout(Duration::from_secs(30))
}

/// Sends `request` (a whole HTTP/1 request, `Connection: close`) and reads the answer to the
/// connection's close.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    common::read_to_close(&mut socket).await
}

fn status_of(answer: &str) -> &str {
    answer.get(9..12).unwrap_or(answer)
}

// ---------------------------------------------------------------- client-caused events

/// Clients misbehaving, one after the other, each answered (or cut) and torn down: bad
/// requests (404, 405, 422 twice, 401, 403, 413 twice, 400, 501, 408 twice), a client gone
/// while its handler runs, one gone mid-way through a streamed body, one that stops reading
/// it (cut at the send timeout).
async fn misbehave(addr: std::net::SocketAddr) {
    // Bad requests, each answered.
    for (request, status) in [
        (&b"GET /nowhere HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"[..], "404"),
        (b"DELETE /ok HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n", "405"),
        (b"GET /items/abc HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n", "422"),
        (b"POST /items HTTP/1.1\r\nhost: a\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"count\":1}", "401"),
        (b"POST /items HTTP/1.1\r\nhost: a\r\nconnection: close\r\nauthorization: Bearer wrong\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n{\"count\":-1}", "422"),
        (b"POST /items HTTP/1.1\r\nhost: a\r\nconnection: close\r\nauthorization: Bearer wrong\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"count\":1}", "403"),
        (b"POST /items HTTP/1.1\r\nhost: a\r\nconnection: close\r\ncontent-length: 5000\r\n\r\n", "413"),
        (b"POST /upload HTTP/1.1\r\nhost: a\r\nconnection: close\r\ncontent-length: 5000\r\n\r\n", "413"),
        (b"GET /ok HTTP/1.1\r\nhost: a\r\nhost: b\r\nconnection: close\r\n\r\n", "400"),
        (b"POST /items HTTP/1.1\r\nhost: a\r\nconnection: close\r\ntransfer-encoding: gzip, chunked\r\n\r\n", "501"),
        // A body that does not come: 408 at the body timeout.
        (b"POST /items HTTP/1.1\r\nhost: a\r\nauthorization: Bearer right-token\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n{", "408"),
        (b"POST /upload HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\n{", "408"),
    ] {
        let answer = guard("an answer", exchange(addr, request)).await;
        assert_eq!(status_of(&answer), status, "{answer}");
    }

    // A client gone while its handler runs.
    let mut gone = TcpStream::connect(addr).await.unwrap();
    gone.write_all(b"GET /waits HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    wait_for("waits:started").await;
    drop(gone);
    wait_for("session:close cancelled client gone").await;

    // A client gone mid-way through a streamed body.
    common::clear();
    let mut gone = TcpStream::connect(addr).await.unwrap();
    gone.write_all(b"GET /export HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    read_head(&mut gone).await;
    gone.read_exact(&mut [0u8; 4096]).await.unwrap();
    drop(gone);
    wait_for("session:close cancelled client gone").await;

    // A client that stops reading a streamed body: cut at the send timeout.
    common::clear();
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"GET /export HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    read_head(&mut stalled).await;
    wait_for("session:close cancelled client gone").await;
    drop(stalled);
}

/// What clients do wrong, one after the other, over real TCP: each is answered (or cut) and
/// torn down, and none is logged at ERROR (a line that pages someone for a client's doing).
/// At INFO a good request logs nothing at all. Prints the WARN lines for the report.
#[test]
fn client_caused_events_are_never_logged_at_error_and_a_good_request_logs_nothing() {
    let _one = one();
    let (captured, _subscriber) = Captured::at(tracing_subscriber::filter::LevelFilter::INFO);
    runtime().block_on(async {
        let _serial = common::serial().await;
        let server = app().bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();
        let before = captured.lines().len();

        // A good request: no line at INFO.
        let answer = exchange(
            addr,
            b"GET /ok HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(status_of(&answer), "200", "{answer}");
        guard("settle", server.settle()).await;
        assert_eq!(captured.lines()[before..], [] as [String; 0]);

        misbehave(addr).await;
        guard("settle", server.settle()).await;
        guard("shutdown", server.shutdown()).await;
    });
    let errors = captured.at_level("ERROR");
    assert!(errors.is_empty(), "{errors:#?}");
    for line in captured.at_level("WARN") {
        println!("{line}");
    }
}

// ---------------------------------------------------------------- secrets and panics

#[depends]
async fn panics(#[dep(session)] _s: &Session) -> &'static str {
    panic!("PANIC-PAYLOAD with a connection string postgres://u:PANIC-PASSWORD@db/x");
}

#[depends]
async fn fails(Json(_item): Json<Item>) -> Result<&'static str, std::io::Error> {
    Err(std::io::Error::other("ERROR-DETAIL of the database"))
}

/// At TRACE, everything the runtime and the request's spans log, for requests that carry a
/// bearer token, a cookie, an API key and a body, and fail every way: no line holds any of
/// them. A handler's panic payload and an error's text are in the log (the SRE needs them),
/// never in the answer.
#[test]
fn no_secret_a_request_carries_reaches_a_log_line_and_no_panic_payload_a_client() {
    let _one = one();
    let (captured, _subscriber) = Captured::at(tracing_subscriber::filter::LevelFilter::TRACE);
    runtime().block_on(async {
        let _serial = common::serial().await;
        let server = app()
            .get("/panics", panics)
            .post("/fails", fails)
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addr();
        let secrets = "authorization: Bearer SECRET-TOKEN\r\ncookie: sid=SECRET-COOKIE\r\nx-api-key: SECRET-KEY\r\nproxy-authorization: Basic U0VDUkVULVBST1hZ\r\n";
        for (head, body, status) in [
            ("POST /items", r#"{"count":"SECRET-BODY"}"#, "422"),
            ("POST /items", r#"{"count":1,"x":"SECRET-BODY"}"#, "403"),
            ("POST /fails", r#"{"count":1,"x":"SECRET-BODY"}"#, "500"),
            ("GET /panics", "", "500"),
            ("POST /upload", "SECRET-BODY", "200"),
            ("DELETE /ok", "SECRET-BODY", "405"),
        ] {
            let request = format!(
                "{head} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n{secrets}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let answer = guard("an answer", exchange(addr, request.as_bytes())).await;
            assert_eq!(status_of(&answer), status, "{answer}");
            for leaked in ["PANIC-PAYLOAD", "PANIC-PASSWORD", "ERROR-DETAIL"] {
                assert!(!answer.contains(leaked), "{answer}");
            }
        }
        guard("settle", server.settle()).await;
        guard("shutdown", server.shutdown()).await;
    });
    let lines = captured.lines();
    assert!(
        lines.iter().any(|line| line.contains("PANIC-PAYLOAD")),
        "the panic is logged: {lines:#?}"
    );
    assert!(
        lines.iter().any(|line| line.contains("ERROR-DETAIL")),
        "the error is logged: {lines:#?}"
    );
    for secret in [
        "SECRET-TOKEN",
        "SECRET-COOKIE",
        "SECRET-KEY",
        "U0VDUkVULVBST1hZ",
        "SECRET-BODY",
    ] {
        let leaking: Vec<&String> = lines.iter().filter(|line| line.contains(secret)).collect();
        assert!(leaking.is_empty(), "{secret} logged: {leaking:#?}");
    }
}

// ---------------------------------------------------------------- counters and gauges

/// The value of `name` with `label` (none: a metric without labels) in `snapshot`.
fn exported<'a>(
    snapshot: &'a [common::Exported],
    name: &str,
    label: Option<(&str, &str)>,
) -> Option<&'a metrics_util::debugging::DebugValue> {
    snapshot
        .iter()
        .find(|(n, labels, _)| {
            n == name
                && match label {
                    Some((k, v)) => labels.iter().any(|(lk, lv)| lk == k && lv == v),
                    None => labels.is_empty(),
                }
        })
        .map(|(_, _, value)| value)
}

/// The same misbehaving clients, counted: each answer by its status in `metrics()` and in
/// the `metrics` export alike, the requests whose client went away before their answer not
/// at all; every setup torn down once, with the outcome it had; the gauges back to zero.
#[test]
fn the_counters_match_what_misbehaving_clients_did_over_tcp() {
    let _one = one();
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let metrics = metrics::with_local_recorder(&recorder, || {
        runtime().block_on(async {
            let _serial = common::serial().await;
            let server = app().bind("127.0.0.1:0").await.unwrap();
            let addr = server.local_addr();
            let answer = exchange(
                addr,
                b"GET /ok HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
            )
            .await;
            assert_eq!(status_of(&answer), "200", "{answer}");
            misbehave(addr).await;
            let metrics = common::settled_whole(&server).await;
            guard("shutdown", server.shutdown()).await;
            metrics
        })
    });
    let by_status = [
        ("200", 3), // `/ok`, and the two exports whose clients went away mid-way
        ("400", 1),
        ("401", 1),
        ("403", 1),
        ("404", 1),
        ("405", 1),
        ("408", 2),
        ("413", 2),
        ("422", 2),
        ("501", 1),
    ];
    let exported_now = common::exported(&snapshotter);
    assert_eq!(
        common::requests_by_status(&exported_now),
        by_status.map(|(status, count)| (status.to_owned(), count))
    );
    for (status, count) in by_status {
        let status = StatusCode::from_bytes(status.as_bytes()).unwrap();
        assert_eq!(metrics.responses_with(status), count, "{status}");
    }
    assert_eq!(
        metrics.responses_total(),
        15,
        "`/waits`, whose client went away, is not counted"
    );
    // `/ok`: `session` and `tx`, success; the upload that timed out: `tx`, its handler's
    // 408; `/waits`: `session` and `tx`, the client gone; each export: `session`, the client
    // gone. The 413 of the upload (declared too long) set nothing up.
    let t = &metrics.teardowns;
    assert_eq!(
        (
            metrics.setups,
            t.success,
            t.handler_error,
            t.cancelled_client_gone
        ),
        (7, 2, 1, 4),
        "{metrics:#?}"
    );
    assert_eq!(metrics.open_connections, 0, "{metrics:#?}");
    assert_eq!(
        exported(&exported_now, "di_setups_total", None),
        Some(&metrics_util::debugging::DebugValue::Counter(7))
    );
    assert_eq!(
        exported(
            &exported_now,
            "di_teardowns_total",
            Some(("outcome", "cancelled_client_gone"))
        ),
        Some(&metrics_util::debugging::DebugValue::Counter(4))
    );
    for gauge in [
        "di_requests_in_flight",
        "di_teardowns_in_flight",
        "di_connections_open",
    ] {
        assert_eq!(
            exported(&exported_now, gauge, None),
            Some(&metrics_util::debugging::DebugValue::Gauge(0.0.into())),
            "{gauge}"
        );
    }
}

/// The sum of the exported `di_teardowns_total`, over every outcome.
fn exported_teardowns(snapshot: &[common::Exported]) -> u64 {
    snapshot
        .iter()
        .filter(|(name, ..)| name == "di_teardowns_total")
        .map(|(_, _, value)| match value {
            metrics_util::debugging::DebugValue::Counter(count) => *count,
            other => panic!("not a counter: {other:?}"),
        })
        .sum()
}

/// A shutdown with everything in flight (a handler waiting, a streamed body its client has
/// stopped reading, a kept-alive idle connection, a half-sent head): once `shutdown` returns,
/// the exported gauges are back to zero and every setup was torn down once, the cut requests
/// with `Cancelled(Shutdown)`.
#[test]
fn at_shutdown_the_exported_gauges_come_back_to_zero() {
    let _one = one();
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        runtime().block_on(async {
            let _serial = common::serial().await;
            let server = app()
                .send_timeout(Duration::from_secs(60))
                .shutdown_grace(Duration::from_millis(200))
                .bind("127.0.0.1:0")
                .await
                .unwrap();
            let addr = server.local_addr();
            let mut idle = TcpStream::connect(addr).await.unwrap();
            idle.write_all(b"GET /ok HTTP/1.1\r\nhost: a\r\n\r\n")
                .await
                .unwrap();
            read_head(&mut idle).await;
            let mut waiting = TcpStream::connect(addr).await.unwrap();
            waiting
                .write_all(b"GET /waits HTTP/1.1\r\nhost: a\r\n\r\n")
                .await
                .unwrap();
            wait_for("waits:started").await;
            let mut stalled = TcpStream::connect(addr).await.unwrap();
            stalled
                .write_all(b"GET /export HTTP/1.1\r\nhost: a\r\n\r\n")
                .await
                .unwrap();
            read_head(&mut stalled).await;
            let mut half = TcpStream::connect(addr).await.unwrap();
            half.write_all(b"GET /ok HTTP/1.1\r\nhost:").await.unwrap();
            // The last connection is counted once the accept loop has taken it.
            guard("the fourth connection accepted", async {
                while server.metrics().open_connections < 4 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await;
            assert_eq!(server.metrics().requests_in_flight, 1);
            guard("shutdown", server.shutdown()).await;
            drop((idle, waiting, stalled, half));
        });
    });
    let exported_now = common::exported(&snapshotter);
    for gauge in [
        "di_requests_in_flight",
        "di_teardowns_in_flight",
        "di_connections_open",
    ] {
        assert_eq!(
            exported(&exported_now, gauge, None),
            Some(&metrics_util::debugging::DebugValue::Gauge(0.0.into())),
            "{gauge}"
        );
    }
    // `/ok`: `session` and `tx`; `/waits`: `session` and `tx`, cut; the export: `session`,
    // cut.
    assert_eq!(
        exported(&exported_now, "di_setups_total", None),
        Some(&metrics_util::debugging::DebugValue::Counter(5))
    );
    assert_eq!(exported_teardowns(&exported_now), 5);
    assert_eq!(
        exported(
            &exported_now,
            "di_teardowns_total",
            Some(("outcome", "cancelled_shutdown"))
        ),
        Some(&metrics_util::debugging::DebugValue::Counter(3))
    );
}

// ---------------------------------------------------------------- hostile request ids

#[depends]
async fn echo_id(#[dep(session)] _s: &Session, id: RequestId) -> String {
    id.to_string()
}

/// A client's `x-request-id` over real TCP, as a hostile client sends it: non-ASCII
/// (obs-text), a tab, a quote-and-equals that would forge a log field, twice, empty, very
/// long. A sane one is kept; any other is replaced by a made one, which the handler, the
/// response's one `x-request-id` and the request's log lines (at DEBUG, its setup's) all name;
/// the hostile text is in no log line and no response header. Of two, the first is taken.
#[test]
fn a_hostile_client_request_id_never_reaches_a_log_line_or_the_response() {
    let _one = one();
    let (captured, _subscriber) = Captured::at(tracing_subscriber::filter::LevelFilter::DEBUG);
    runtime().block_on(async {
        let _serial = common::serial().await;
        let server = app().get("/id", echo_id).bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();
        let long = format!("HOSTILE-{}", "z".repeat(200));
        let hostile: [&[u8]; 6] = [
            b"HOSTILE-\xc3\xa9t\xc3\xa9",
            b"HOSTILE-\x80\xff",
            b"HOSTILE\ttab",
            b"HOSTILE\" status=200 x=\"",
            b"",
            long.as_bytes(),
        ];
        for id in hostile {
            let mut request = b"GET /id HTTP/1.1\r\nhost: a\r\nconnection: close\r\nx-request-id: ".to_vec();
            request.extend_from_slice(id);
            request.extend_from_slice(b"\r\n\r\n");
            let answer = guard("an answer", exchange(addr, &request)).await;
            assert_eq!(status_of(&answer), "200", "{answer}");
            let ids: Vec<&str> = answer
                .lines()
                .filter_map(|line| line.strip_prefix("x-request-id: "))
                .collect();
            assert_eq!(ids.len(), 1, "{answer}");
            assert_eq!(ids[0].len(), 32, "a made id: {answer}");
            assert!(answer.ends_with(&format!("\r\n\r\n{}", ids[0])), "{answer}");
            assert!(!answer.contains("HOSTILE"), "{answer}");
            let field = format!("request_id={}", ids[0]);
            assert!(
                captured.lines().iter().any(|line| line.contains(&field)),
                "{field} in {:#?}",
                captured.lines()
            );
        }
        // Two ids: the first is taken, and sent back once.
        let answer = exchange(
            addr,
            b"GET /id HTTP/1.1\r\nhost: a\r\nconnection: close\r\nx-request-id: first-1\r\nx-request-id: second-2\r\n\r\n",
        )
        .await;
        let ids: Vec<&str> = answer
            .lines()
            .filter_map(|line| line.strip_prefix("x-request-id: "))
            .collect();
        assert_eq!(ids, ["first-1"], "{answer}");
        assert!(answer.ends_with("\r\n\r\nfirst-1"), "{answer}");
        guard("shutdown", server.shutdown()).await;
    });
    let lines = captured.lines();
    let hostile: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("HOSTILE"))
        .collect();
    assert!(hostile.is_empty(), "{hostile:#?}");
}

/// The same misbehaviour over HTTP/2, one connection: a stream reset while its handler runs,
/// one reset mid-way through a streamed body, one whose client never opens its window (reset
/// at the send timeout), then the connection dropped. Nothing is logged at ERROR; the
/// counters say what happened; the gauges come back to zero.
#[test]
fn http2_streams_reset_or_stalled_are_counted_and_never_logged_at_error() {
    let _one = one();
    let (captured, _subscriber) = Captured::at(tracing_subscriber::filter::LevelFilter::INFO);
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let metrics = metrics::with_local_recorder(&recorder, || {
        runtime().block_on(async {
            let _serial = common::serial().await;
            let server = app().bind("127.0.0.1:0").await.unwrap();
            let addr = server.local_addr();
            let builder = h2::client::Builder::new();
            let (mut client, driver) =
                common::h2_client(TcpStream::connect(addr).await.unwrap(), &builder).await;

            let waiting = common::h2_send_get(&mut client, addr, "/waits").await;
            wait_for("waits:started").await;
            drop(waiting);
            wait_for("session:close cancelled client gone").await;

            common::clear();
            let mut body = common::h2_get(&mut client, addr, "/export").await;
            let chunk = guard("a chunk", body.data()).await.unwrap().unwrap();
            assert!(!chunk.is_empty());
            drop(body);
            wait_for("session:close cancelled client gone").await;

            // The window of the connection is shut by now, or soon: the next stream's body
            // waits, and is reset at the send timeout.
            common::clear();
            let _unread = common::h2_get(&mut client, addr, "/export").await;
            wait_for("session:close cancelled client gone").await;

            let metrics = common::settled_whole(&server).await;
            drop(client);
            driver.abort();
            guard("the connection closed", async {
                while server.metrics().open_connections > 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await;
            guard("shutdown", server.shutdown()).await;
            metrics
        })
    });
    let errors = captured.at_level("ERROR");
    assert!(errors.is_empty(), "{errors:#?}");
    for line in captured.at_level("WARN") {
        println!("{line}");
    }
    assert_eq!(metrics.responses_with(StatusCode::OK), 2, "{metrics:#?}");
    assert_eq!(metrics.responses_total(), 2, "{metrics:#?}");
    let t = &metrics.teardowns;
    assert_eq!(
        (metrics.setups, t.cancelled_client_gone, t.success),
        (4, 4, 0),
        "{metrics:#?}"
    );
    let exported_now = common::exported(&snapshotter);
    assert_eq!(
        common::requests_by_status(&exported_now),
        [("200".to_owned(), 2)]
    );
    for gauge in [
        "di_requests_in_flight",
        "di_teardowns_in_flight",
        "di_connections_open",
    ] {
        assert_eq!(
            exported(&exported_now, gauge, None),
            Some(&metrics_util::debugging::DebugValue::Gauge(0.0.into())),
            "{gauge}"
        );
    }
}

// ---------------------------------------------------------------- the request's span elsewhere

/// A `request`-scoped value whose teardown logs what it was told, as services do.
struct Audited;

#[depends]
async fn audited(y: Yield<Audited>) {
    let (_audited, outcome) = y.provide(Audited).await;
    tracing::info!(target: "ops_walk", %outcome, "audit: closed");
    log(format!("audited:close {}", common::describe(&outcome)));
}

#[depends]
async fn audited_waits(#[dep(audited)] _a: &Audited) -> &'static str {
    log("audited_waits:started");
    tokio::time::sleep(Duration::from_secs(60)).await;
    "late"
}

#[depends]
async fn audited_with_task(#[dep(audited)] _a: &Audited, tasks: &BackgroundTasks) -> &'static str {
    tasks.add(async {
        tracing::info!(target: "ops_walk", "task: ran");
    });
    "ok"
}

/// With the runtime's spans on (`di` at DEBUG), what a service's own code logs after its
/// request has left the handler is still in that request's span, so its line names the
/// request's id: a `request`-scope teardown run after its client went away (handed to a
/// background task), one run after the body over TCP, and a background task.
#[test]
fn lines_logged_by_teardowns_and_background_tasks_carry_the_request_id() {
    let _one = one();
    let (captured, _subscriber) = Captured::at(tracing_subscriber::filter::LevelFilter::DEBUG);
    runtime().block_on(async {
        let _serial = common::serial().await;
        let server = app()
            .get("/audited-waits", audited_waits)
            .get("/audited-task", audited_with_task)
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addr();

        let mut gone = TcpStream::connect(addr).await.unwrap();
        gone.write_all(b"GET /audited-waits HTTP/1.1\r\nhost: a\r\nx-request-id: gone-client-1\r\n\r\n")
            .await
            .unwrap();
        wait_for("audited_waits:started").await;
        drop(gone);
        wait_for("audited:close cancelled client gone").await;

        let answer = exchange(
            addr,
            b"GET /audited-task HTTP/1.1\r\nhost: a\r\nconnection: close\r\nx-request-id: task-client-2\r\n\r\n",
        )
        .await;
        assert_eq!(status_of(&answer), "200", "{answer}");
        wait_for("audited:close success 200").await;
        guard("settle", server.settle()).await;
        guard("shutdown", server.shutdown()).await;
    });
    let lines = captured.lines();
    for (message, id) in [
        (
            "audit: closed outcome=cancelled (client gone)",
            "gone-client-1",
        ),
        ("task: ran", "task-client-2"),
        ("audit: closed outcome=success (200)", "task-client-2"),
    ] {
        let line = lines
            .iter()
            .find(|line| line.contains(message))
            .unwrap_or_else(|| panic!("no `{message}` in {lines:#?}"));
        assert!(line.contains(&format!("request_id={id}")), "{line}");
    }
}
