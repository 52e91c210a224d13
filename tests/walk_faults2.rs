//! A second fault walk of an "orders" service over real sockets (HTTP/1 and HTTP/2, the app's
//! own server): combinations the other suites did not cover. A handler error followed by a
//! panicking `handler`-scope teardown; an HTTP/2 stream reset mid-export while a background
//! task holds a `request`-scoped session; shutdown while a `request`-scope teardown or a
//! commit outlasts the grace period; shutdown during a trickled streamed upload; a 10 MB body
//! to a route that reads none, and over HTTP/2 to a limited `Json` route; an override to a
//! plain function and back; a 16 MB body held whole and read to its end (one cut by its client
//! is told a success once hyper has it, by design: README "Guarantees" 5); a hosted teardown that waits for the next request on its own
//! connection; a streamed body longer than the request timeout; an HTTP/2 request body never
//! ended on a route that reads none; a thousand started HTTP/2 streams reset on one
//! connection; an empty HTTP/2 answer (a `201` with no body, a `200` of `""`) whose stream
//! was reset just as it was made (a defect, fixed: it was told a success), and sent.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{
    count, describe, events, guard, log, read_head, read_to_close, serial, settled_whole, wait_for,
};
use di_runtime::prelude::*;
use futures_util::stream;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Sends `raw` over a new connection and reads the answer to the close.
async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(raw).await.unwrap();
    read_to_close(&mut socket).await
}

// ------------------------------------------------------------------ the service

struct Conn;

/// A pooled connection: one at a time.
#[depends(max_concurrency = 1)]
async fn conn(y: Yield<Conn>) {
    log("conn:open");
    let (_conn, outcome) = y.provide(Conn).await;
    log(format!("conn:close {}", describe(&outcome)));
}

/// A transaction on the connection, committed or rolled back before the response.
#[depends(scope = "handler")]
async fn tx(#[dep(conn)] _conn: &Conn, y: Yield<u8>) {
    log("tx:open");
    let (_tx, outcome) = y.provide(0).await;
    log(format!("tx:close {}", describe(&outcome)));
}

/// An audit record written in its teardown, whose sink is down: its teardown panics.
#[depends(scope = "handler")]
async fn broken_audit(y: Yield<u8>) {
    log("audit:open");
    let (_audit, outcome) = y.provide(0).await;
    log(format!("audit:close {}", describe(&outcome)));
    panic!("the audit sink is down");
}

#[depends]
async fn create_duplicate(
    #[dep(tx)] _tx: &mut u8,
    #[dep(broken_audit)] _audit: &u8,
) -> Result<&'static str, HttpError> {
    Err(HttpError::new(StatusCode::CONFLICT, "duplicate order"))
}

#[depends]
async fn ok_route(#[dep(conn)] _conn: &Conn) -> &'static str {
    "ok"
}

// ------------------------------------------ 1. a handler error, then a panicking teardown

/// The handler answers 409; the last `handler`-scope teardown then panics. The client gets
/// the generic 500 (the panic replaced the response, and says nothing of itself); the
/// panicking teardown was told the 409, every later one the failure, each exactly once and in
/// reverse order of setup; the pool's place is back and the connection serves on.
#[tokio::test]
async fn a_handler_error_then_a_panicking_handler_teardown_is_a_500_and_the_rest_run_once_in_order()
{
    let _serial = serial().await;
    let server = App::new()
        .post("/orders", create_duplicate)
        .get("/ok", ok_route)
        .max_concurrency_wait(Duration::from_secs(5))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();

    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"POST /orders HTTP/1.1\r\nhost: w\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let head = guard("the 500", read_head(&mut socket)).await;
    assert!(head.starts_with("HTTP/1.1 500"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a length")
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0; length];
    tokio::io::AsyncReadExt::read_exact(&mut socket, &mut body)
        .await
        .unwrap();
    assert_eq!(body, br#"{"detail":"Internal Server Error"}"#);
    // The same connection serves on, and gets the connection the failed request held.
    socket
        .write_all(b"GET /ok HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let next = guard("the next request", read_to_close(&mut socket)).await;
    assert!(common::served_ok(&next), "{next}");

    let metrics = settled_whole(&server).await;
    assert_eq!(metrics.teardown_panics, 1, "{metrics:?}");
    // The client got a 500, not the 409 the handler gave: counted as sent.
    assert_eq!(
        metrics.responses,
        [(StatusCode::OK, 1), (StatusCode::INTERNAL_SERVER_ERROR, 1)],
        "{metrics:?}"
    );
    assert_eq!(
        events(),
        [
            "conn:open",
            "tx:open",
            "audit:open",
            "audit:close handler_error 409",
            "tx:close teardown_failed broken_audit",
            "conn:close teardown_failed broken_audit",
            "conn:open",
            "conn:close success 200",
        ]
    );
    server.shutdown().await;
}

// -------------------- 2. an HTTP/2 stream reset mid-export, a session held by a background task

struct Session;

/// A `request`-scoped session that a background task (a "export finished" notice) keeps.
#[depends]
async fn session(y: Yield<Session>) {
    log("session:open");
    let (_session, outcome) = y.provide(Session).await;
    log(format!("session:close {}", describe(&outcome)));
}

#[derive(serde::Deserialize)]
struct Rows {
    /// Rows to send before the export waits forever (`None`: it ends after 2).
    hang_after: Option<u32>,
}

/// Streams rows from the pooled connection; a background task that holds the session notes
/// the export once it has been sent.
#[depends]
async fn export(
    Query(rows): Query<Rows>,
    #[dep(conn)] conn: Held<Conn>,
    #[dep(session)] session: Held<Session>,
    tasks: &BackgroundTasks,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + use<>> {
    tasks.add(async move {
        let _session = session;
        log("task:noted");
    });
    let hang_after = rows.hang_after;
    StreamBody::new(stream::unfold(
        (Some(conn), 0u32),
        move |(conn, i)| async move {
            if hang_after == Some(i) {
                std::future::pending::<()>().await;
            }
            if i == 2 {
                drop(conn);
                return None;
            }
            Some((Ok(format!("row {i}\n")), (conn, i + 1)))
        },
    ))
}

/// An HTTP/2 client resets its stream after the first row of an export that then waits; the
/// background task that held the session never runs, the session and the connection are torn
/// down once each as the client gone, the pool's only place comes back (the next export gets
/// it and ends with a success and its task), and the HTTP/2 connection serves on.
#[tokio::test]
async fn an_http2_stream_reset_mid_export_drops_the_task_holding_the_session_and_frees_the_place() {
    let _serial = serial().await;
    let server = App::new()
        .get("/export", export)
        .max_concurrency_wait(Duration::from_secs(10))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;

    let response = common::h2_send_get(&mut client, addr, "/export?hang_after=1").await;
    let response = guard("the export's head", response).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let first = guard("the first row", body.data()).await.unwrap().unwrap();
    assert_eq!(&first[..], b"row 0\n");
    // The client leaves this stream: a reset, the connection stays.
    drop(body);
    wait_for("conn:close cancelled client gone").await;
    wait_for("session:close cancelled client gone").await;

    // The only connection is back: the next export on the same connection gets it.
    let mut body = guard(
        "the next export",
        common::h2_get(&mut client, addr, "/export"),
    )
    .await;
    let mut all = Vec::new();
    while let Some(chunk) = guard("the next export's rows", body.data()).await {
        all.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(all, b"row 0\nrow 1\n");
    wait_for("session:close success 200").await;
    driver.abort();

    settled_whole(&server).await;
    let events = events();
    assert_eq!(count(&events, "task:noted"), 1, "{events:?}");
    assert_eq!(count(&events, "conn:open"), 2, "{events:?}");
    assert_eq!(count(&events, "session:open"), 2, "{events:?}");
    assert_eq!(
        events[..4],
        [
            "conn:open",
            "session:open",
            "session:close cancelled client gone",
            "conn:close cancelled client gone",
        ],
        "{events:?}"
    );
    assert_eq!(
        events[4..],
        [
            "conn:open",
            "session:open",
            "task:noted",
            "session:close success 200",
            "conn:close success 200",
        ],
        "{events:?}"
    );
    server.shutdown().await;
}

// ------------------------------ 3. shutdown while a slow request-scope teardown outlasts the grace

struct Pool;

#[depends(scope = "app")]
async fn pool(y: Yield<Pool>) {
    log("pool:open");
    let (_pool, outcome) = y.provide(Pool).await;
    log(format!("pool:close {}", describe(&outcome)));
}

/// A session whose close (flushing a buffer) takes longer than the shutdown's grace period
/// and its extra second, but less than the teardown deadline.
#[depends]
async fn slow_session(#[dep(pool)] _pool: &Pool, y: Yield<u8>) {
    log("slow:open");
    let (_session, outcome) = y.provide(0).await;
    log(format!("slow:closing {}", describe(&outcome)));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    log("slow:closed");
}

#[depends]
async fn uses_slow_session(#[dep(slow_session)] _s: &u8) -> &'static str {
    "ok"
}

/// A finished response's `request`-scope teardown is slower than `shutdown_grace` plus its
/// second, but within `teardown_timeout`: shutdown waits for it to end (it is not cut, nor
/// counted as timed out), then tears down `app` scope last. Once with the client's connection
/// closed, once with it kept open (the teardown hosted by that connection).
#[tokio::test]
async fn shutdown_waits_for_a_request_teardown_longer_than_its_grace_then_tears_down_app_scope() {
    for keep_alive in [false, true] {
        let _serial = serial().await;
        let server = App::new()
            .get("/", uses_slow_session)
            .shutdown_grace(Duration::from_millis(200))
            .teardown_timeout(Duration::from_secs(15))
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addr();
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let connection = if keep_alive { "keep-alive" } else { "close" };
        socket
            .write_all(
                format!("GET / HTTP/1.1\r\nhost: w\r\nconnection: {connection}\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
        let head = guard("the response", read_head(&mut socket)).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        wait_for("slow:closing success 200").await;
        let before = server.metrics();
        guard("shutdown", server.shutdown()).await;
        drop(socket);
        assert_eq!(
            events(),
            [
                "pool:open",
                "slow:open",
                "slow:closing success 200",
                "slow:closed",
                "pool:close app stopped",
            ],
            "keep-alive: {keep_alive}"
        );
        assert_eq!(before.teardown_timeouts, 0);
    }
}

// ------------------------------ 4. shutdown while a commit outlasts the grace period

/// A transaction on the app's pool whose commit takes longer than the shutdown's grace and
/// its extra second.
#[depends(scope = "handler")]
async fn slow_commit(#[dep(pool)] _pool: &Pool, y: Yield<u8>) {
    log("commit-tx:open");
    let (_tx, outcome) = y.provide(0).await;
    if outcome.is_success() {
        log("commit:start");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        log("commit:done");
    } else {
        log(format!("rollback {}", describe(&outcome)));
    }
}

#[depends]
async fn write_then_commit(
    #[dep(slow_commit)] _tx: &mut u8,
    #[dep(session)] _session: &Session,
) -> &'static str {
    "written"
}

/// Shutdown falls while a `handler`-scope commit is under way, and the commit outlasts the
/// grace period and its second: the commit is never cut in half (shielded), it ends before
/// the pool it uses is torn down, the `request`-scope session is torn down once, and `app`
/// scope goes last.
#[tokio::test]
async fn a_commit_outlasting_the_shutdown_grace_finishes_before_the_pool_is_torn_down() {
    let _serial = serial().await;
    let server = App::new()
        .post("/write", write_then_commit)
        .shutdown_grace(Duration::from_millis(200))
        .teardown_timeout(Duration::from_secs(15))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"POST /write HTTP/1.1\r\nhost: w\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    wait_for("commit:start").await;
    guard("shutdown", server.shutdown()).await;
    let answer = read_to_close(&mut socket).await;
    let events = events();
    assert_eq!(count(&events, "commit:done"), 1, "{events:?}");
    assert_eq!(count(&events, "session:open"), 1, "{events:?}");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.starts_with("session:close"))
            .count(),
        1,
        "{events:?}"
    );
    assert!(
        common::position(&events, "commit:done")
            < common::position(&events, "pool:close app stopped"),
        "the pool was torn down under the commit: {events:?} (the client got {answer:?})"
    );
    assert_eq!(
        events.last().map(String::as_str),
        Some("pool:close app stopped")
    );
}

// ------------------------------ 5. shutdown during a slow streamed upload

/// Reads an upload line by line inside a transaction.
#[depends]
async fn import(
    #[dep(tx)] _tx: &mut u8,
    body: di_runtime::BodyStream,
) -> Result<String, HttpError> {
    let mut lines = body.lines();
    let mut n = 0;
    while let Some(line) = futures_util::StreamExt::next(&mut lines).await {
        line?;
        n += 1;
        log(format!("import:line {n}"));
    }
    Ok(format!("imported {n}"))
}

/// Shutdown falls while a client trickles an NDJSON upload into a transaction: after the
/// grace period the request is dropped, the transaction rolls back seeing the shutdown, the
/// connection is torn down once as well, and nothing is left owed.
#[tokio::test]
async fn shutdown_during_a_trickled_upload_rolls_back_once_seeing_the_shutdown() {
    let _serial = serial().await;
    let server = App::new()
        .post("/import", import)
        .shutdown_grace(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"POST /import HTTP/1.1\r\nhost: w\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    socket.write_all(b"6\r\n{\"a\":1\r\n").await.unwrap();
    socket.write_all(b"2\r\n}\n\r\n").await.unwrap();
    wait_for("import:line 1").await;
    let trickle = tokio::spawn(async move {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if socket.write_all(b"1\r\n \r\n").await.is_err() {
                break;
            }
        }
        read_to_close(&mut socket).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    guard("shutdown", server.shutdown()).await;
    let _ = guard("the client", trickle).await;
    let events = events();
    assert_eq!(
        events,
        [
            "conn:open",
            "tx:open",
            "import:line 1",
            "tx:close cancelled shutdown",
            "conn:close cancelled shutdown",
        ]
    );
}

// ------------------------------ 6. large bodies: unread, and past the limit over HTTP/2

/// A route that takes no body at all, behind the pooled connection.
#[depends]
async fn ping(#[dep(session)] _session: &Session) -> &'static str {
    "ok"
}

#[derive(serde::Deserialize)]
struct Order {
    #[allow(dead_code, reason = "read to be parsed")]
    items: Vec<u32>,
}

#[depends]
async fn place_order(#[dep(session)] _session: &Session, Json(order): Json<Order>) -> String {
    format!("{} items", order.items.len())
}

fn big_json(bytes: usize) -> Vec<u8> {
    let mut body = b"{\"items\":[".to_vec();
    while body.len() < bytes {
        body.extend_from_slice(b"1,");
    }
    body.extend_from_slice(b"1]}");
    body
}

/// A 10 MB body sent to a route that reads no body (a client posting to the wrong route):
/// the handler's answer comes, its session is torn down once with a success, and a request
/// pipelined behind the body is either answered as itself or the connection closed; never
/// read out of the body's bytes.
#[tokio::test]
async fn a_large_body_to_a_route_that_reads_none_never_desyncs_the_connection() {
    let _serial = serial().await;
    let server = App::new()
        .post("/ping", ping)
        .get("/ok", ok_route)
        .body_limit(1024 * 1024)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    // The body is JSON lines that look like requests, to catch a desync.
    let fake = b"GET /ok HTTP/1.1\r\nhost: w\r\n\r\n";
    let mut body = Vec::new();
    while body.len() < 10 * 1024 * 1024 {
        body.extend_from_slice(fake);
    }
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /ping HTTP/1.1\r\nhost: w\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let (mut read, mut write) = socket.split();
    let send = async {
        write.write_all(head.as_bytes()).await?;
        write.write_all(&body).await?;
        write
            .write_all(b"GET /ok HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n")
            .await
    };
    let (sent, answer) = guard(
        "the exchange",
        futures_util::future::join(send, read_to_close(&mut read)),
    )
    .await;
    let _ = sent;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // One answer to the ping, then at most the answer to the real request behind the body.
    let answers = answer.matches("HTTP/1.1 ").count();
    assert!(answers <= 2, "{answers} answers: a desync");
    let metrics = settled_whole(&server).await;
    let events = events();
    assert_eq!(
        events.iter().filter(|e| *e == "session:open").count(),
        1,
        "{events:?}"
    );
    assert_eq!(count(&events, "session:close success 200"), 1, "{events:?}");
    assert_eq!(
        metrics.responses_total() as usize,
        answers,
        "{metrics:?} {answer}"
    );
    server.shutdown().await;
}

/// A 10 MB JSON body over HTTP/2 to a route limited to 1 MiB, with and without a declared
/// length: 413 each, nothing set up, and the connection serves a next stream.
#[tokio::test]
async fn a_10_mb_json_body_over_http2_is_413_with_nothing_set_up_and_the_connection_serves_on() {
    let _serial = serial().await;
    let server = App::new()
        .post("/orders", place_order)
        .body_limit(1024 * 1024)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;
    let big = bytes::Bytes::from(big_json(10 * 1024 * 1024));
    for declared in [true, false] {
        let mut request = http::Request::post(format!("http://{addr}/orders"))
            .header("content-type", "application/json");
        if declared {
            request = request.header("content-length", big.len());
        }
        std::future::poll_fn(|cx| client.poll_ready(cx))
            .await
            .unwrap();
        let (response, mut send) = client
            .send_request(request.body(()).unwrap(), false)
            .unwrap();
        let big = big.clone();
        // Sends what the server's windows let through; stops once the stream is refused.
        let sender = tokio::spawn(async move {
            let mut rest = big;
            while !rest.is_empty() {
                send.reserve_capacity(rest.len().min(64 * 1024));
                let Some(Ok(n)) = std::future::poll_fn(|cx| send.poll_capacity(cx)).await else {
                    return;
                };
                if send
                    .send_data(rest.split_to(n.min(rest.len())), false)
                    .is_err()
                {
                    return;
                }
            }
            let _ = send.send_data(bytes::Bytes::new(), true);
        });
        let response = guard("the 413", response).await.unwrap();
        assert_eq!(response.status(), 413, "declared: {declared}");
        let mut body = response.into_body();
        let mut all = Vec::new();
        while let Some(chunk) = guard("the 413's body", body.data()).await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            all.extend_from_slice(&chunk);
        }
        assert!(
            String::from_utf8_lossy(&all).contains("detail"),
            "{:?}",
            String::from_utf8_lossy(&all)
        );
        let _ = guard("the sender", sender).await;
    }
    // The connection still serves: a small order.
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .unwrap();
    let request = http::Request::post(format!("http://{addr}/orders"))
        .header("content-type", "application/json")
        .body(())
        .unwrap();
    let (response, mut send) = client.send_request(request, false).unwrap();
    send.send_data(bytes::Bytes::from_static(b"{\"items\":[1,2]}"), true)
        .unwrap();
    let response = guard("the small order", response).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut all = Vec::new();
    while let Some(chunk) = guard("its body", body.data()).await {
        all.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(all, b"2 items");
    driver.abort();
    let metrics = settled_whole(&server).await;
    assert_eq!(metrics.responses_with(StatusCode::PAYLOAD_TOO_LARGE), 2);
    assert_eq!(events(), ["session:open", "session:close success 200"]);
    server.shutdown().await;
}

// ------------------------------ 7. an override to a plain function, and back

struct FakeConn;

#[depends]
async fn fake_conn() -> Conn {
    log("fake:conn");
    let _ = FakeConn;
    Conn
}

/// A test helper overrides the pooled connection with a plain fake, and a later one puts the
/// original back (`override_dep(conn, conn)`): the original then runs, set up and torn down
/// once per request, under its own limit.
#[tokio::test]
async fn an_override_to_a_plain_function_and_back_to_the_original_runs_the_original() {
    let _serial = serial().await;
    let faked = App::new()
        .get("/ok", ok_route)
        .override_dep(conn, fake_conn);
    let client = TestClient::start(faked).await.unwrap();
    let response = guard("faked", client.get("/ok").send()).await;
    assert_eq!(response.status(), 200);
    guard("settle", client.settle()).await;
    assert_eq!(events(), ["fake:conn"]);
    guard("shutdown", client.shutdown()).await;
    common::clear();

    let restored = App::new()
        .get("/ok", ok_route)
        .override_dep(conn, fake_conn)
        .override_dep(conn, conn);
    restored
        .check()
        .expect("an override back to the original is sound");
    let client = TestClient::start(restored).await.unwrap();
    let response = guard("restored", client.get("/ok").send()).await;
    assert_eq!(response.status(), 200);
    guard("settle", client.settle()).await;
    assert_eq!(events(), ["conn:open", "conn:close success 200"]);
    guard("shutdown", client.shutdown()).await;
}

// ------------------------------ 8. a large whole body cut by its client

/// The size of the report: far more than the server's and the kernel's buffers hold (Linux
/// grows a socket's send buffer up to 4 MiB by default), so that a client that reads little
/// of it leaves most of it unsent.
const REPORT: usize = 16 * 1024 * 1024;

/// A report rendered whole in memory, on a `request`-scoped session.
#[depends]
async fn big_report(#[dep(session)] _session: &Session) -> String {
    "x".repeat(REPORT)
}

/// The same report read whole, over both protocols: every byte arrives, and the session is
/// torn down once with a success.
#[tokio::test]
async fn a_large_whole_body_read_to_its_end_is_a_success_over_both_protocols() {
    let _serial = serial().await;
    let server = App::new()
        .get("/report", big_report)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let all = guard(
        "the HTTP/1 report",
        exchange(
            addr,
            b"GET /report HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n",
        ),
    )
    .await;
    let (head, body) = all.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body.len(), REPORT);
    assert!(body.bytes().all(|b| b == b'x'));
    wait_for("session:close success 200").await;

    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;
    let mut body = guard(
        "the HTTP/2 head",
        common::h2_get(&mut client, addr, "/report"),
    )
    .await;
    let mut got = 0;
    while let Some(chunk) = guard("the HTTP/2 report", body.data()).await {
        let chunk = chunk.unwrap();
        got += chunk.len();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    assert_eq!(got, REPORT);
    driver.abort();
    settled_whole(&server).await;
    assert_eq!(
        events(),
        [
            "session:open",
            "session:close success 200",
            "session:open",
            "session:close success 200",
        ]
    );
    server.shutdown().await;
}

// ------------------------------ 9. a teardown that waits for the next request on its connection

static NEXT_ARRIVED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// A session whose close waits until the next request has arrived (it flushes into a batch the
/// next request starts): the teardown must not hold up the connection that hosts it.
#[depends]
async fn batching_session(y: Yield<u8>) {
    log("batch:open");
    let (_s, outcome) = y.provide(0).await;
    log(format!("batch:closing {}", describe(&outcome)));
    NEXT_ARRIVED.notified().await;
    log("batch:closed");
}

#[depends]
async fn batched(#[dep(batching_session)] _s: &u8) -> &'static str {
    "batched"
}

#[depends]
async fn starts_batch() -> &'static str {
    NEXT_ARRIVED.notify_one();
    log("next:served");
    "next"
}

/// On one keep-alive HTTP/1 connection, and on one HTTP/2 connection: the first request's
/// `request`-scope teardown waits for the second request, which the same connection carries;
/// the second is served, then the teardown ends, once.
#[tokio::test]
async fn a_hosted_teardown_waiting_for_the_next_request_on_its_connection_does_not_deadlock() {
    let _serial = serial().await;
    let server = App::new()
        .get("/batched", batched)
        .get("/next", starts_batch)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();

    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /batched HTTP/1.1\r\nhost: w\r\n\r\n")
        .await
        .unwrap();
    let head = guard("the first answer", read_head(&mut socket)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut body = [0u8; 7];
    tokio::io::AsyncReadExt::read_exact(&mut socket, &mut body)
        .await
        .unwrap();
    wait_for("batch:closing success 200").await;
    socket
        .write_all(b"GET /next HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let next = guard("the next answer", read_to_close(&mut socket)).await;
    assert!(
        next.starts_with("HTTP/1.1 200") && next.ends_with("next"),
        "{next}"
    );
    wait_for("batch:closed").await;
    common::clear();

    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;
    let mut first = guard(
        "the first stream",
        common::h2_get(&mut client, addr, "/batched"),
    )
    .await;
    while let Some(chunk) = guard("its body", first.data()).await {
        chunk.unwrap();
    }
    wait_for("batch:closing success 200").await;
    let mut next = guard(
        "the next stream",
        common::h2_get(&mut client, addr, "/next"),
    )
    .await;
    while let Some(chunk) = guard("its body", next.data()).await {
        chunk.unwrap();
    }
    wait_for("batch:closed").await;
    driver.abort();
    settled_whole(&server).await;
    assert_eq!(
        events(),
        [
            "batch:open",
            "batch:closing success 200",
            "next:served",
            "batch:closed"
        ]
    );
    server.shutdown().await;
}

// ------------------------------ 10. a stream that outlives the request timeout

/// Five rows, one every 150 ms, from the pooled connection.
#[depends]
async fn slow_rows(
    #[dep(conn)] conn: Held<Conn>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send> {
    StreamBody::new(stream::unfold((Some(conn), 0u32), |(conn, i)| async move {
        if i == 5 {
            drop(conn);
            return None;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        Some((Ok(format!("row {i}\n")), (conn, i + 1)))
    }))
}

/// `request_timeout` runs from arrival to the end of the handler: a streamed body that takes
/// longer than it after the handler returned is sent whole over both protocols, and its
/// connection torn down once with a success.
#[tokio::test]
async fn a_streamed_body_longer_than_the_request_timeout_is_sent_whole() {
    let _serial = serial().await;
    let server = App::new()
        .get("/rows", slow_rows)
        .request_timeout(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let all = guard(
        "the rows",
        exchange(
            addr,
            b"GET /rows HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n",
        ),
    )
    .await;
    assert!(all.starts_with("HTTP/1.1 200"), "{all}");
    let (_, chunked) = all.split_once("\r\n\r\n").unwrap();
    assert_eq!(
        common::dechunk(chunked.as_bytes()),
        b"row 0\nrow 1\nrow 2\nrow 3\nrow 4\n"
    );
    wait_for("conn:close success 200").await;

    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;
    let mut body = guard(
        "the HTTP/2 rows",
        common::h2_get(&mut client, addr, "/rows"),
    )
    .await;
    let mut got = Vec::new();
    while let Some(chunk) = guard("a row", body.data()).await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got, b"row 0\nrow 1\nrow 2\nrow 3\nrow 4\n");
    driver.abort();
    settled_whole(&server).await;
    assert_eq!(
        events(),
        [
            "conn:open",
            "conn:close success 200",
            "conn:open",
            "conn:close success 200"
        ]
    );
    server.shutdown().await;
}

// ------------------------------ 11. an HTTP/2 request body never ended, answered without it

/// An HTTP/2 client opens a POST to a route that reads no body and never ends its request
/// body: the answer comes, the session is torn down once with a success, and the connection
/// serves a next stream.
#[tokio::test]
async fn an_http2_request_body_never_ended_on_a_route_that_reads_none_is_answered_and_torn_down() {
    let _serial = serial().await;
    let server = App::new()
        .post("/ping", ping)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .unwrap();
    let request = http::Request::post(format!("http://{addr}/ping"))
        .body(())
        .unwrap();
    let (response, mut send) = client.send_request(request, false).unwrap();
    send.send_data(bytes::Bytes::from_static(b"some bytes"), false)
        .unwrap();
    let response = guard("the answer", response).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut got = Vec::new();
    while let Some(chunk) = guard("its body", body.data()).await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got, b"ok");
    wait_for("session:close success 200").await;
    let next = common::h2_send_get(&mut client, addr, "/nothing").await;
    let next = guard("the next stream", next).await.unwrap();
    assert_eq!(next.status(), 404);
    drop(send);
    driver.abort();
    settled_whole(&server).await;
    assert_eq!(events(), ["session:open", "session:close success 200"]);
    server.shutdown().await;
}

// ------------------------------ 12. a thousand HTTP/2 streams started, then reset

/// A feed on the session: one row, then it waits for a next one that never comes.
#[depends]
async fn feed(
    #[dep(session)] session: Held<Session>,
) -> StreamBody<impl futures_util::Stream<Item = Result<&'static str, std::io::Error>> + Send> {
    StreamBody::new(stream::unfold(
        (session, true),
        |(session, first)| async move {
            if !first {
                std::future::pending::<()>().await;
            }
            Some((Ok("row\n"), (session, false)))
        },
    ))
}

/// One HTTP/2 connection runs ten rounds of 100 feeds (the stream limit), each started (its
/// head and first row received) and then reset by the client: a thousand sessions set up and
/// torn down once each as the client gone, the connection never refused for it (these are
/// resets of started streams, not a rapid-reset flood), nothing left owed or in flight, and
/// the connection serves a next stream.
#[tokio::test]
async fn a_thousand_started_http2_streams_reset_are_each_torn_down_once_and_the_connection_serves_on()
 {
    let _serial = serial().await;
    let server = App::new()
        .get("/feed", feed)
        .get("/ok", ping)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;
    for round in 0..10 {
        let mut bodies = Vec::new();
        for _ in 0..100 {
            let response = common::h2_send_get(&mut client, addr, "/feed").await;
            bodies.push(response);
        }
        let mut started = Vec::new();
        for response in bodies {
            let response = guard("a feed's head", response).await.unwrap();
            assert_eq!(response.status(), 200, "round {round}");
            let mut body = response.into_body();
            let row = guard("a feed's first row", body.data())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&row[..], b"row\n");
            started.push(body);
        }
        drop(started); // RST_STREAM(CANCEL) each
        let closed = 100 * (round + 1);
        for _ in 0..4000 {
            if count(&events(), "session:close cancelled client gone") == closed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            count(&events(), "session:close cancelled client gone"),
            closed,
            "round {round}: {:?}",
            server.metrics()
        );
    }
    let mut body = guard("the next stream", common::h2_get(&mut client, addr, "/ok")).await;
    let mut got = Vec::new();
    while let Some(chunk) = guard("its body", body.data()).await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got, b"ok");
    driver.abort();
    let metrics = settled_whole(&server).await;
    let events = events();
    assert_eq!(count(&events, "session:open"), 1001);
    assert_eq!(count(&events, "session:close cancelled client gone"), 1000);
    assert_eq!(count(&events, "session:close success 200"), 1);
    assert_eq!(metrics.setups, 1001, "{metrics:?}");
    server.shutdown().await;
}

// ------------------------------ 13. an empty answer whose HTTP/2 stream was reset as it was made

/// Set to let [`blocking_created`] and [`blocking_empty`] return.
static UNBLOCK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Holds the handler's poll until [`UNBLOCK`] (bounded), in `block_in_place`, so that the
/// stream is reset while the handler runs and its answer is ready in the poll that would have
/// seen the reset (as `tests/known_gaps.rs` does for bodiless answers).
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

/// `201 Created`, no body: an import accepted, recorded by the session's teardown.
#[depends]
async fn blocking_created(#[dep(session)] _s: &Session) -> StatusCode {
    block_until_unblocked();
    StatusCode::CREATED
}

/// `200` with an empty body.
#[depends]
async fn blocking_empty(#[dep(session)] _s: &Session) -> &'static str {
    block_until_unblocked();
    ""
}

/// An empty streamed body that declares `Content-Length: 0`: not at its end before it is
/// polled (hyper sends its head without ending the stream), but complete once dropped.
fn declared_empty_stream() -> http::Response<di_runtime::Body> {
    http::Response::builder()
        .header(http::header::CONTENT_LENGTH, "0")
        .body(di_runtime::Body::from_stream(stream::empty::<
            Result<bytes::Bytes, std::convert::Infallible>,
        >()))
        .unwrap()
}

/// A streamed body of declared length zero.
#[depends]
async fn blocking_declared_empty(#[dep(session)] _s: &Session) -> http::Response<di_runtime::Body> {
    block_until_unblocked();
    declared_empty_stream()
}

/// An answer with a status that allows a body but an empty one (`201` with no body, a `200`
/// of `""`, a stream declared `Content-Length: 0`) is, over HTTP/2, a head that ends the
/// stream, as a 204's is (or one whose body hyper drops unasked when its head could not be
/// sent): when its client
/// reset the stream just as the answer was ready, hyper drops the head unsent, and its
/// `request`-scope teardowns must not be told a success (as `tests/known_gaps.rs` asserts for
/// a 204, a HEAD and a response with content in the same race).
#[test]
fn an_empty_answer_whose_http2_stream_was_reset_as_it_was_answered_is_not_a_success() {
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
            .get("/created", blocking_created)
            .get("/empty", blocking_empty)
            .get("/declared-empty", blocking_declared_empty);
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
            for path in ["/created", "/empty", "/declared-empty"] {
                common::clear();
                let request = http::Request::get(format!("http://{addr}{path}"))
                    .body(())
                    .unwrap();
                guard(
                    "room for a stream",
                    std::future::poll_fn(|cx| client.poll_ready(cx)),
                )
                .await
                .unwrap();
                let (response, mut send) = client.send_request(request, false).unwrap();
                wait_for("handler:blocking").await;
                send.send_reset(h2::Reason::CANCEL);
                // The server's connection task (on its other worker) takes the reset meanwhile.
                tokio::time::sleep(Duration::from_millis(100)).await;
                UNBLOCK.store(true, std::sync::atomic::Ordering::Release);
                for _ in 0..2000 {
                    if events().iter().any(|e| e.starts_with("session:close")) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                assert_eq!(
                    events(),
                    [
                        "session:open",
                        "handler:blocking",
                        "session:close cancelled client gone"
                    ],
                    "{path} (layered: {layered})"
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
async fn quick_created(#[dep(session)] _s: &Session) -> StatusCode {
    StatusCode::CREATED
}

#[depends]
async fn quick_empty(#[dep(session)] _s: &Session) -> &'static str {
    ""
}

#[depends]
async fn quick_declared_empty(#[dep(session)] _s: &Session) -> http::Response<di_runtime::Body> {
    declared_empty_stream()
}

/// The other side: an empty answer sent over HTTP/2 (held back one poll to see whether its
/// stream was reset) arrives empty, and its session sees a success; through a tower layer too.
#[tokio::test]
async fn an_empty_answer_sent_over_http2_is_a_success() {
    let _serial = serial().await;
    for layered in [false, true] {
        let app = App::new()
            .get("/created", quick_created)
            .get("/empty", quick_empty)
            .get("/declared-empty", quick_declared_empty);
        let app = if layered {
            app.layer(tower::layer::util::Identity::new())
        } else {
            app
        };
        let server = app.bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();
        let io = TcpStream::connect(addr).await.unwrap();
        let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
        for (path, status) in [("/created", 201), ("/empty", 200), ("/declared-empty", 200)] {
            common::clear();
            let response = common::h2_send_get(&mut client, addr, path).await;
            let response = guard("the answer", response).await.unwrap();
            assert_eq!(response.status(), status, "{path}");
            let mut body = response.into_body();
            // Nothing: the stream ends on the head (an empty answer), or on an empty frame
            // after it (the declared-empty stream, whose head cannot end it).
            while let Some(data) = guard("the end", body.data()).await {
                assert!(data.unwrap().is_empty(), "{path}");
            }
            wait_for(&format!("session:close success {status}")).await;
            assert_eq!(
                events(),
                ["session:open", &format!("session:close success {status}")],
                "{path} (layered: {layered})"
            );
        }
        driver.abort();
        settled_whole(&server).await;
        server.shutdown().await;
    }
}

// ------------------------------ 14. the request timeout during an HTTP/2 streamed upload

/// Over HTTP/2, a client streams one NDJSON line into a transaction, then stalls with its
/// stream open: at `request_timeout` the answer is 503 with `Retry-After`, the transaction and
/// the pooled connection are torn down once as timed out, the pool's only place is back (a
/// next import on the same connection gets it and succeeds), and the connection serves on.
#[tokio::test]
async fn the_request_timeout_during_a_stalled_http2_upload_is_a_503_and_tears_down_once() {
    let _serial = serial().await;
    let server = App::new()
        .post("/import", import)
        .request_timeout(Duration::from_millis(400))
        .max_concurrency_wait(Duration::from_secs(5))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;

    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .unwrap();
    let request = http::Request::post(format!("http://{addr}/import"))
        .body(())
        .unwrap();
    let (response, mut stalled) = client.send_request(request, false).unwrap();
    stalled
        .send_data(bytes::Bytes::from_static(b"{\"a\":1}\n"), false)
        .unwrap();
    let response = guard("the 503", response).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let mut body = response.into_body();
    while let Some(chunk) = guard("its body", body.data()).await {
        chunk.unwrap();
    }
    wait_for("conn:close cancelled timeout").await;

    // The place is back: a whole import on the same connection.
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .unwrap();
    let request = http::Request::post(format!("http://{addr}/import"))
        .body(())
        .unwrap();
    let (response, mut send) = client.send_request(request, false).unwrap();
    send.send_data(bytes::Bytes::from_static(b"{\"b\":2}\n{\"c\":3}\n"), true)
        .unwrap();
    let response = guard("the import", response).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut got = Vec::new();
    while let Some(chunk) = guard("its body", body.data()).await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got, b"imported 2");
    wait_for("conn:close success 200").await;
    drop(stalled);
    driver.abort();
    let metrics = settled_whole(&server).await;
    assert_eq!(metrics.teardowns.cancelled_timeout, 2, "{metrics:?}");
    assert_eq!(
        events(),
        [
            "conn:open",
            "tx:open",
            "import:line 1",
            "tx:close cancelled timeout",
            "conn:close cancelled timeout",
            "conn:open",
            "tx:open",
            "import:line 1",
            "import:line 2",
            "tx:close success 200",
            "conn:close success 200",
        ]
    );
    server.shutdown().await;
}

// ------------------------------ 15. many empty answers, some streams reset at once

#[derive(serde::Deserialize)]
struct Id {
    id: u32,
}

/// A session per request, its events named by the request's id.
#[depends]
async fn numbered_session(Query(Id { id }): Query<Id>, y: Yield<u32>) {
    log(format!("{id} open"));
    let (_s, outcome) = y.provide(id).await;
    log(format!("{id} close {}", describe(&outcome)));
}

#[depends]
async fn numbered_created(#[dep(numbered_session)] _s: &u32) -> StatusCode {
    tokio::task::yield_now().await;
    StatusCode::CREATED
}

/// 600 empty `201`s over three HTTP/2 connections, a third of them reset by the client right
/// after it sent them: every session set up is torn down exactly once, every answer the client
/// got was a success for its teardown, nothing is left held back or in flight, and each
/// connection serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_empty_http2_answers_with_resets_are_each_torn_down_once_and_truthfully() {
    let _serial = serial().await;
    let server = App::new()
        .get("/created", numbered_created)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut workers = Vec::new();
    for connection in 0..3u32 {
        workers.push(tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let (mut client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;
            let mut answered = Vec::new();
            for n in 0..200u32 {
                let id = connection * 1000 + n;
                std::future::poll_fn(|cx| client.poll_ready(cx))
                    .await
                    .unwrap();
                let request = http::Request::get(format!("http://{addr}/created?id={id}"))
                    .body(())
                    .unwrap();
                let (response, mut send) = client.send_request(request, false).unwrap();
                if n % 3 == 0 {
                    send.send_reset(h2::Reason::CANCEL);
                    drop(response);
                    continue;
                }
                let response = response.await.unwrap();
                assert_eq!(response.status(), 201);
                answered.push(id);
            }
            driver.abort();
            answered
        }));
    }
    let mut answered = Vec::new();
    for worker in workers {
        answered.extend(guard("a connection's requests", worker).await.unwrap());
    }
    settled_whole(&server).await;
    let events = events();
    let opened: Vec<&String> = events.iter().filter(|e| e.ends_with(" open")).collect();
    for open in &opened {
        let id = open.trim_end_matches(" open");
        let closes: Vec<&String> = events
            .iter()
            .filter(|e| e.starts_with(&format!("{id} close ")))
            .collect();
        assert_eq!(closes.len(), 1, "{id}: {closes:?}");
    }
    for id in &answered {
        assert_eq!(
            count(&events, &format!("{id} close success 201")),
            1,
            "{id} was answered: {events:?}"
        );
    }
    assert_eq!(answered.len(), 3 * 133);
    server.shutdown().await;
}
