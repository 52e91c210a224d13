//! The server against slow and silent clients, over real sockets.

mod common;

use std::time::Duration;

use di_runtime::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[depends]
async fn health() -> &'static str {
    "ok"
}

/// Reads until the server closes the connection (bounded: a hang fails the test).
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut received));
    match read.await {
        Ok(Ok(_)) | Ok(Err(_)) => received,
        Err(_) => panic!("the server kept the connection open: {received:?}"),
    }
}

#[tokio::test]
async fn a_client_that_sends_part_of_a_head_and_then_nothing_is_disconnected() {
    let server = App::new()
        .get("/health", health)
        .header_read_timeout(Duration::from_millis(200))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(server.local_addr()).await.unwrap();
    silent
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let received = read_to_close(&mut silent).await;
    assert!(
        !String::from_utf8_lossy(&received).contains("200 OK"),
        "no response to a head that never ended: {received:?}"
    );

    // A client that sends its head in time is served, and so is its next request on the same
    // connection.
    let mut prompt = TcpStream::connect(server.local_addr()).await.unwrap();
    for _ in 0..2 {
        prompt
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buffer = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(20), prompt.read(&mut buffer))
            .await
            .expect("a response in time")
            .unwrap();
        let text = String::from_utf8_lossy(&buffer[..n]);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        assert!(text.ends_with("ok"), "{text}");
    }
    // Then it goes quiet: the kept-alive connection is closed once its next head is late.
    let received = read_to_close(&mut prompt).await;
    assert!(received.is_empty(), "{received:?}");
    server.shutdown().await;
}

/// Answers after 1.5 s: three header-read timeouts of the app below.
#[depends]
async fn sleepy() -> &'static str {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    "slept"
}

#[tokio::test]
async fn a_request_slower_than_the_header_read_timeout_is_served_and_the_next_late_head_is_cut() {
    let server = App::new()
        .get("/sleepy", sleepy)
        .get("/health", health)
        // Long enough for the client's next head to arrive in time on a loaded machine.
        .header_read_timeout(Duration::from_millis(500))
        .idle_timeout(Duration::from_secs(60))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    // The head arrived in time: what the handler takes after it is not the head's deadline.
    for _ in 0..2 {
        let text = get(&mut stream, "/sleepy").await;
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        assert!(text.ends_with("slept"), "{text}");
    }
    // The next head, on the same connection, starts but never ends: the connection is closed
    // (well before the 60 s idle timeout could).
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let received = read_to_close(&mut stream).await;
    assert!(received.is_empty(), "{received:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_partial_head_on_a_connection_closed_to_make_room_is_cut_at_its_deadline() {
    let server = App::new()
        .get("/health", health)
        .max_connections(1)
        .header_read_timeout(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    // A new connection that sends part of its first head: chosen to make room for the next
    // one, it is closed gracefully, which does not end a connection that is reading its first
    // head; its header-read deadline does.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut next = TcpStream::connect(addr).await.unwrap();
    let text = get(&mut next, "/health").await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    let received = read_to_close(&mut slow).await;
    assert!(
        !String::from_utf8_lossy(&received).contains("200 OK"),
        "no response to a head that never ended: {received:?}"
    );
    server.shutdown().await;
}

/// A flood of connections that each send part of a head and then nothing more, as many as the
/// limit and as many again waiting behind it: a client that connects after them all is served
/// as soon as the server has made room for those ahead of it, each room made by cutting a
/// connection that has held its place a moment already without sending a whole head. Each
/// such cut waited a moment of its own (a second), so the client waited a second per
/// connection ahead of it, up to the header-read timeout (here an hour: the test's guard
/// fails first).
#[tokio::test]
async fn at_the_connection_limit_a_flood_of_unfinished_heads_does_not_keep_a_new_client_out() {
    const LIMIT: usize = 30;
    let server = App::new()
        .get("/health", health)
        .max_connections(LIMIT)
        .header_read_timeout(Duration::from_secs(3600))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut flood = Vec::new();
    for _ in 0..LIMIT {
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        flood.push(slow);
    }
    // Past the moment a new connection is given to send its first head.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for _ in 1..LIMIT {
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        flood.push(slow);
    }
    let mut client = TcpStream::connect(addr).await.unwrap();
    let served = tokio::time::timeout(Duration::from_secs(15), get(&mut client, "/health")).await;
    let text = served.expect("the client behind the flood is served");
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    // The first ones were cut to make the room, with no answer to their unfinished heads.
    for slow in flood.iter_mut().take(LIMIT) {
        let received = read_to_close(slow).await;
        assert!(received.is_empty(), "{received:?}");
    }
    server.shutdown().await;
}

static RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();
static SETUPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[depends]
async fn counted(y: Yield<u8>) {
    SETUPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let _ = y.provide(1).await;
}

#[depends]
async fn waits(#[dep(counted)] _c: &u8) -> &'static str {
    RELEASE.notified().await;
    "done"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_in_flight_limit_a_request_is_shed_at_once_with_nothing_set_up() {
    let client = TestClient::start(App::new().get("/wait", waits).max_in_flight(1))
        .await
        .unwrap();
    let service = client.running().service();
    let first = tokio::spawn(async move {
        let request = http::Request::get("/wait")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        service.call_request(request).await.status()
    });
    for _ in 0..2000 {
        if client.running().requests_in_flight() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(client.running().requests_in_flight(), 1);

    let shed = client.get("/wait").send().await;
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.header("retry-after"), Some("1"));
    assert_eq!(
        SETUPS.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the shed request set nothing up"
    );
    assert_eq!(client.running().requests_shed(), 1);

    RELEASE.notify_one();
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(client.running().requests_in_flight(), 0);
    RELEASE.notify_one();
    let again = client.get("/wait").send().await;
    assert_eq!(again.status(), 200, "served again once the first is done");
    client.shutdown().await;
}

static BODY_SETUPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[depends]
async fn body_counted(y: Yield<u8>) {
    BODY_SETUPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let _ = y.provide(1).await;
}

#[depends]
async fn upload(#[dep(body_counted)] _c: &u8, Json(value): Json<serde_json::Value>) -> String {
    value.to_string()
}

#[depends]
async fn echo(Json(value): Json<serde_json::Value>) -> String {
    value.to_string()
}

/// Sends a head announcing a 100-byte body, then one byte of it every 100 ms (10 bytes/s,
/// 10 s in all), and returns what the server answered before it closed the connection.
async fn trickle_a_body(server: &di_runtime::Server) -> String {
    let stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write
        .write_all(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n\"",
        )
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..98 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if write.write_all(b"a").await.is_err() {
                return;
            }
        }
        let _ = write.write_all(b"\"").await;
        // Keep the write half open: only the server may end the exchange.
        std::future::pending::<()>().await;
    });
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), read.read_to_end(&mut received));
    let closed = read.await;
    trickle.abort();
    assert!(
        closed.is_ok(),
        "the server kept the connection open: {received:?}"
    );
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn a_body_not_received_by_its_deadline_gets_408_and_the_connection_is_closed() {
    let server = App::new()
        .post("/upload", upload)
        .body_timeout(Duration::from_millis(500))
        .body_min_rate(0, Duration::ZERO)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let before = BODY_SETUPS.load(std::sync::atomic::Ordering::SeqCst);
    let text = trickle_a_body(&server).await;
    assert!(text.starts_with("HTTP/1.1 408 Request Timeout"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(
        text.ends_with(r#"{"detail":"Request body timed out"}"#),
        "{text}"
    );
    assert_eq!(
        BODY_SETUPS.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "nothing was set up"
    );
    server.shutdown().await;
}

#[depends]
async fn streamed_upload(body: di_runtime::BodyStream) -> Result<String, HttpError> {
    Ok(body.to_bytes().await?.len().to_string())
}

/// The request timeout fires while the handler still reads its body as a stream: the 503 says
/// `Connection: close`, since the rest of the body is never read, and the connection closes.
#[tokio::test]
async fn the_request_timeout_during_a_streamed_upload_is_503_with_connection_close() {
    let server = App::new()
        .post("/upload", streamed_upload)
        .request_timeout(Duration::from_millis(500))
        .body_timeout(Duration::from_secs(60))
        .body_min_rate(0, Duration::ZERO)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let text = trickle_a_body(&server).await;
    assert!(
        text.starts_with("HTTP/1.1 503 Service Unavailable"),
        "{text}"
    );
    assert!(text.contains("connection: close"), "{text}");
    assert!(
        text.ends_with(r#"{"detail":"Request timed out"}"#),
        "{text}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_request_timeout_covers_reading_the_body_503_and_nothing_set_up() {
    // The body's own deadline and minimum rate are far off: the request timeout fires first,
    // while the body is still being read.
    let server = App::new()
        .post("/upload", upload)
        .request_timeout(Duration::from_millis(500))
        .body_timeout(Duration::from_secs(60))
        .body_min_rate(0, Duration::ZERO)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let before = BODY_SETUPS.load(std::sync::atomic::Ordering::SeqCst);
    let text = trickle_a_body(&server).await;
    assert!(
        text.starts_with("HTTP/1.1 503 Service Unavailable"),
        "{text}"
    );
    assert!(text.contains("retry-after: 1"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(
        text.ends_with(r#"{"detail":"Request timed out"}"#),
        "{text}"
    );
    assert_eq!(
        BODY_SETUPS.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "nothing was set up"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_body_slower_than_the_minimum_rate_gets_408_before_its_deadline() {
    // The deadline is far; 10 bytes/s is under the minimum of 50 once 300 ms have passed.
    let server = App::new()
        .post("/upload", echo)
        .body_timeout(Duration::from_secs(60))
        .body_min_rate(50, Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let text = trickle_a_body(&server).await;
    assert!(text.starts_with("HTTP/1.1 408 Request Timeout"), "{text}");
    assert!(
        text.ends_with(r#"{"detail":"Request body timed out"}"#),
        "{text}"
    );

    // A body sent at once is read as before.
    let mut prompt = TcpStream::connect(server.local_addr()).await.unwrap();
    prompt
        .write_all(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 4\r\nConnection: close\r\n\r\n[1 ]",
        )
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&read_to_close(&mut prompt).await).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.ends_with("[1]"), "{text}");
    server.shutdown().await;
}

// ---------------------------------------------------------------- request heads and HTTP/2

/// Sends `request` on a new connection and reads until the server closes it.
async fn exchange(server: &di_runtime::Server, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(request).await;
    String::from_utf8_lossy(&read_to_close(&mut stream).await).into_owned()
}

#[tokio::test]
async fn a_head_over_the_head_size_limit_is_refused_over_both_protocols() {
    let server = App::new()
        .get("/health", health)
        .max_head_size(16 * 1024)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let big = "a".repeat(20 * 1024);
    let small = "a".repeat(4 * 1024);
    let head = |value: &str| {
        format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {value}\r\nConnection: close\r\n\r\n")
    };
    let text = exchange(&server, head(&big).as_bytes()).await;
    assert!(
        text.starts_with("HTTP/1.1 431 Request Header Fields Too Large"),
        "{text}"
    );
    let text = exchange(&server, head(&small).as_bytes()).await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");

    let (mut sender, task) = common::hyper_h2_client(server.local_addr()).await;
    let request = |value: &str| {
        http::Request::get(format!("http://{}/health", server.local_addr()))
            .header("x-big", value)
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap()
    };
    let refused = tokio::time::timeout(Duration::from_secs(20), sender.send_request(request(&big)))
        .await
        .expect("an answer in time");
    // 431, or the stream refused.
    if let Ok(response) = refused {
        assert_eq!(response.status(), 431);
    }
    let (mut sender, task2) = common::hyper_h2_client(server.local_addr()).await;
    let response = tokio::time::timeout(
        Duration::from_secs(20),
        sender.send_request(request(&small)),
    )
    .await
    .expect("an answer in time")
    .unwrap();
    assert_eq!(response.status(), 200);
    task.abort();
    task2.abort();
    server.shutdown().await;
}

#[tokio::test]
async fn an_http2_peer_that_does_not_answer_pings_is_disconnected() {
    let server = App::new()
        .get("/health", health)
        .http2_keep_alive(Some(Duration::from_millis(200)), Duration::from_millis(200))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    // The client preface and an empty SETTINGS frame, then silence: no SETTINGS ack, no PING
    // answer.
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let received = read_to_close(&mut stream).await;
    // The server's frames: SETTINGS, then at least one PING (type 6) before it gave up.
    let mut frames = Vec::new();
    let mut rest = &received[..];
    while rest.len() >= 9 {
        let length = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        frames.push(rest[3]);
        rest = &rest[(9 + length).min(rest.len())..];
    }
    assert!(
        frames.contains(&6),
        "a PING was sent: frame types {frames:?}"
    );
    server.shutdown().await;
}

/// The `SETTINGS_MAX_CONCURRENT_STREAMS` a server announces, seen by the `h2` client after
/// one request.
async fn announced_streams(server: &di_runtime::Server) -> usize {
    let addr = server.local_addr();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut client, connection) = h2::client::handshake(stream).await.unwrap();
    let connection = tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = http::Request::get(format!("http://{addr}/health"))
        .body(())
        .unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(20), response)
        .await
        .expect("an answer in time")
        .unwrap();
    assert_eq!(response.status(), 200);
    let announced = client.current_max_send_streams();
    connection.abort();
    announced
}

#[tokio::test]
async fn the_server_announces_its_http2_stream_limit() {
    let server = App::new()
        .get("/health", health)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    assert_eq!(announced_streams(&server).await, 100, "the default");
    server.shutdown().await;
    let server = App::new()
        .get("/health", health)
        .http2_max_concurrent_streams(3)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    assert_eq!(announced_streams(&server).await, 3);
    server.shutdown().await;
}

static RESET_SETUPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static RESET_TEARDOWNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static RESET_TEARING_DOWN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static RESET_MOST_TEARING_DOWN: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// A `request`-scoped generator whose teardown takes a little while, so that teardowns of
/// cancelled requests overlap.
#[depends]
async fn reset_resource(y: Yield<u8>) {
    use std::sync::atomic::Ordering::SeqCst;
    RESET_SETUPS.fetch_add(1, SeqCst);
    let _ = y.provide(1).await;
    let now = RESET_TEARING_DOWN.fetch_add(1, SeqCst) + 1;
    RESET_MOST_TEARING_DOWN.fetch_max(now, SeqCst);
    tokio::time::sleep(Duration::from_millis(2)).await;
    RESET_TEARING_DOWN.fetch_sub(1, SeqCst);
    RESET_TEARDOWNS.fetch_add(1, SeqCst);
}

#[depends]
async fn reset_target(#[dep(reset_resource)] _r: &u8) -> &'static str {
    tokio::time::sleep(Duration::from_millis(5)).await;
    "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rapid_reset_flood_leaves_the_server_serving_and_tears_down_exactly_once() {
    use std::sync::atomic::Ordering::SeqCst;
    const BOUND: usize = 8;
    const BURST: usize = 200;
    let server = App::new()
        .get("/reset", reset_target)
        .get("/health", health)
        .max_background_teardowns(BOUND)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();

    // The flood: 2,000 streams, each reset right after its head. The first 200 go at once,
    // with no pause at all: the classic attack, which h2 answers with GOAWAY once 20 resets are
    // pending accept (with pauses among them the server may accept each stream before its reset
    // arrives, and whether it falls behind depends on the machine's load). Of the rest, every
    // fourth is reset a moment later, once its request has started (a cancelled request, whose
    // teardowns are owed). A connection the server closes is replaced by a new one.
    let flood = async {
        let mut sent = 0;
        let mut connections = 0;
        while sent < 2000 {
            let stream = TcpStream::connect(addr).await.unwrap();
            let (mut client, connection) = h2::client::handshake(stream).await.unwrap();
            connections += 1;
            let connection = tokio::spawn(async move { connection.await.is_ok() });
            while sent < 2000 {
                if std::future::poll_fn(|cx| client.poll_ready(cx))
                    .await
                    .is_err()
                {
                    break; // the server closed the connection (GOAWAY)
                }
                let request = http::Request::get(format!("http://{addr}/reset"))
                    .body(())
                    .unwrap();
                let Ok((response, mut stream)) = client.send_request(request, true) else {
                    break;
                };
                if sent >= BURST && sent % 4 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                stream.send_reset(h2::Reason::CANCEL);
                drop(response);
                sent += 1;
            }
            drop(client);
            let _ = connection.await;
        }
        (sent, connections)
    };
    let (sent, connections) = tokio::time::timeout(Duration::from_secs(60), flood)
        .await
        .expect("the flood ended in time");

    assert!(
        connections > 1,
        "the server closed a flooding connection with GOAWAY"
    );

    // A control client on a new connection is answered.
    let (mut sender, task) = common::hyper_h2_client(server.local_addr()).await;
    for path in ["/health", "/reset"] {
        let request = http::Request::get(format!("http://{addr}{path}"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(20), sender.send_request(request))
            .await
            .expect("the control client is answered in time")
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let _ = http_body_util::BodyExt::collect(response.into_body()).await;
    }
    task.abort();

    // Every generator that was set up was torn down exactly once, within the bound.
    let settled = async {
        loop {
            server.settle().await;
            if RESET_SETUPS.load(SeqCst) == RESET_TEARDOWNS.load(SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), settled)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "setups {} != teardowns {}",
                RESET_SETUPS.load(SeqCst),
                RESET_TEARDOWNS.load(SeqCst)
            )
        });
    assert!(
        RESET_SETUPS.load(SeqCst) > 0,
        "the flood reached the handler"
    );
    let most = RESET_MOST_TEARING_DOWN.load(SeqCst);
    assert!(
        most <= BOUND,
        "{most} teardowns at once, over the bound {BOUND}"
    );
    server.shutdown().await;
    eprintln!(
        "{sent} reset streams on {connections} connections; {} set up and torn down; \
         at most {most} teardowns at once",
        RESET_SETUPS.load(SeqCst)
    );
}

#[tokio::test]
async fn by_default_a_70_kb_path_gets_414_and_a_150_kb_head_431() {
    let server = App::new()
        .get("/health", health)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let path = format!("/{}", "a".repeat(70 * 1024));
    let text = exchange(
        &server,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 414 URI Too Long"), "{text}");
    let header = "a".repeat(150 * 1024);
    let text = exchange(
        &server,
        format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {header}\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(
        text.starts_with("HTTP/1.1 431 Request Header Fields Too Large"),
        "{text}"
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- the connection limit

/// Sends a keep-alive `GET path` on `stream` and reads its response (head and
/// `Content-Length` body), within 20 s.
async fn get(stream: &mut TcpStream, path: &str) -> String {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    read_response(stream).await
}

/// Reads one response with a `Content-Length` body, within 20 s.
async fn read_response(stream: &mut TcpStream) -> String {
    let read = async {
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&received).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length: "))
                    .map_or(0, |n| n.trim().parse::<usize>().unwrap());
                if received.len() >= end + 4 + length {
                    return text;
                }
            }
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0, "closed before a whole response: {text:?}");
            received.extend_from_slice(&buffer[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("a response in time")
}

static HOLD_A: tokio::sync::Notify = tokio::sync::Notify::const_new();
static HOLD_B: tokio::sync::Notify = tokio::sync::Notify::const_new();
static HOLDING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[depends]
async fn hold_a() -> &'static str {
    HOLDING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    HOLD_A.notified().await;
    "a"
}

#[depends]
async fn hold_b() -> &'static str {
    HOLDING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    HOLD_B.notified().await;
    "b"
}

#[tokio::test]
async fn at_the_connection_limit_a_new_connection_waits_until_one_is_free() {
    let server = App::new()
        .get("/a", hold_a)
        .get("/b", hold_b)
        .get("/health", health)
        .max_connections(2)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    // Two connections, each with a request in progress.
    let mut a = TcpStream::connect(addr).await.unwrap();
    a.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut b = TcpStream::connect(addr).await.unwrap();
    b.write_all(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    for _ in 0..4000 {
        if HOLDING.load(std::sync::atomic::Ordering::SeqCst) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(HOLDING.load(std::sync::atomic::Ordering::SeqCst), 2);

    // A third connects (the kernel completes its handshake) but is not served: neither of the
    // first two is idle.
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(300), c.read(&mut buffer)).await;
    assert!(early.is_err(), "served past the limit: {early:?}");

    // The first one's request ends: its connection, now idle, is closed to make room, and the
    // third is served.
    HOLD_A.notify_one();
    let text = String::from_utf8_lossy(&read_to_close(&mut a).await).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.ends_with('a'), "{text}");
    let text = read_response(&mut c).await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");

    HOLD_B.notify_one();
    let text = read_response(&mut b).await;
    assert!(text.ends_with('b'), "{text}");
    server.shutdown().await;
}

#[tokio::test]
async fn at_the_connection_limit_the_connection_idle_the_longest_is_closed_first() {
    let server = App::new()
        .get("/health", health)
        .max_connections(2)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    // Two kept-alive connections, each idle after one request; `a` idle the longer.
    let mut a = TcpStream::connect(addr).await.unwrap();
    assert!(get(&mut a, "/health").await.ends_with("ok"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut b = TcpStream::connect(addr).await.unwrap();
    assert!(get(&mut b, "/health").await.ends_with("ok"));

    // A third is served at once: `a` is closed to make room, `b` stays open.
    let mut c = TcpStream::connect(addr).await.unwrap();
    assert!(get(&mut c, "/health").await.ends_with("ok"));
    // `a` was closed before `c` was served: its end is already there.
    let mut buffer = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(1), a.read(&mut buffer)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "`a` is closed: {closed:?}"
    );
    // `b` was not closed: it is served again.
    assert!(get(&mut b, "/health").await.ends_with("ok"));
    server.shutdown().await;
}

// ---------------------------------------------------------------- out of file descriptors

/// Set in the child process of `the_accept_loop_survives_running_out_of_file_descriptors`.
const EMFILE_CHILD: &str = "DI_HARDENING_EMFILE_CHILD";

/// The server side of `the_accept_loop_survives_running_out_of_file_descriptors`, run in a
/// child process whose descriptor limit it lowers; does nothing in a normal run.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn emfile_child_server() {
    if std::env::var_os(EMFILE_CHILD).is_none() {
        return;
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .init();
    let server = App::new()
        .get("/health", health)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    // Room for a few connections more than what is open now (the count includes the
    // directory being read).
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count();
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    rlimit::setrlimit(rlimit::Resource::NOFILE, open as u64 + 6, hard).unwrap();
    println!("ADDR {}", server.local_addr());
    // Serves until the parent writes a line (or closes stdin).
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    })
    .await
    .unwrap();
    server.shutdown().await;
    println!("STOPPED");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_accept_loop_survives_running_out_of_file_descriptors() {
    use std::process::Stdio;
    use tokio::io::AsyncBufReadExt;
    if std::env::var_os(EMFILE_CHILD).is_some() {
        return;
    }
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "emfile_child_server", "--nocapture"])
        .env(EMFILE_CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if let Some(addr) = line.strip_prefix("ADDR ") {
                return addr.parse::<std::net::SocketAddr>().unwrap();
            }
        }
        panic!("the child ended without serving");
    })
    .await
    .expect("the child serves in time");
    let mut stderr = child.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });

    // Far more connections than the child has descriptors for: the kernel completes every
    // handshake; the server accepts until it runs out, then backs off.
    let mut streams = Vec::new();
    for _ in 0..40 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        streams.push(stream);
    }
    let answers = futures_util::future::join_all(streams.iter_mut().map(|stream| async {
        let mut buffer = [0u8; 256];
        matches!(
            tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await,
            Ok(Ok(n)) if n > 0
        )
    }))
    .await;
    let served = answers.iter().filter(|served| **served).count();
    assert!(served > 0, "some connections were served");
    assert!(served < 40, "not all: the server ran out of descriptors");

    // Once they are closed, the server serves again.
    drop(streams);
    let again = async {
        loop {
            if let Ok(mut stream) = TcpStream::connect(addr).await
                && stream
                    .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .await
                    .is_ok()
            {
                let mut received = Vec::new();
                let _ = stream.read_to_end(&mut received).await;
                let text = String::from_utf8_lossy(&received).into_owned();
                if text.starts_with("HTTP/1.1 200 OK") {
                    return text;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let text = tokio::time::timeout(Duration::from_secs(20), again)
        .await
        .expect("served again once descriptors were free");
    assert!(text.ends_with("ok"), "{text}");

    // It shuts down cleanly, and never panicked.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"stop\n").await.unwrap();
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the child stops in time")
        .unwrap();
    let mut rest = String::new();
    while let Ok(Some(line)) = stdout.next_line().await {
        rest.push_str(&line);
        rest.push('\n');
    }
    let stderr = stderr.await.unwrap();
    assert!(status.success(), "{status}: {rest}\n{stderr}");
    assert!(rest.contains("STOPPED"), "{rest}");
    assert!(stderr.contains("accept failed"), "{stderr}");
    assert!(stderr.contains("Too many open files"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    eprintln!("{served} of 40 connections served before the child ran out; its log:\n{stderr}");
}

// ---------------------------------------------------------------- the idle (keep-alive) timeout

/// An app whose connections are closed after 300 ms idle, with every other timeout far
/// longer, so that a close can only be the idle timeout's.
async fn idle_server() -> di_runtime::Server {
    App::new()
        .get("/health", health)
        .get("/slow", slow_stream)
        .post("/echo", echo_bytes)
        .idle_timeout(Duration::from_millis(300))
        .header_read_timeout(Duration::from_secs(60))
        .http2_keep_alive(None, Duration::from_secs(60))
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// Ten lines, 100 ms apart: a response body that takes three idle timeouts to send.
#[depends]
async fn slow_stream() -> StreamBody<
    impl futures_util::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Send + 'static,
> {
    let lines = futures_util::stream::unfold(0u8, |i| async move {
        if i == 10 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok(bytes::Bytes::from(format!("line {i}\n"))), i + 1))
    });
    StreamBody::new(lines)
}

#[depends]
async fn echo_bytes(body: bytes::Bytes) -> String {
    format!("{} bytes", body.len())
}

/// The frame types in `received`, a server's HTTP/2 byte stream.
fn frame_types(received: &[u8]) -> Vec<u8> {
    let mut frames = Vec::new();
    let mut rest = received;
    while rest.len() >= 9 {
        let length = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        frames.push(rest[3]);
        rest = &rest[(9 + length).min(rest.len())..];
    }
    frames
}

#[tokio::test]
async fn an_idle_http1_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = idle_server().await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    assert!(get(&mut stream, "/health").await.ends_with("ok"));
    // Kept alive, then quiet: the server ends the stream (EOF, not a reset) well before the
    // 60 s header timeout could.
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buffer))
        .await
        .expect("the idle connection was closed");
    assert!(matches!(read, Ok(0)), "a clean end of stream: {read:?}");

    // A connection that never sends a request is idle too.
    let mut silent = TcpStream::connect(server.local_addr()).await.unwrap();
    assert!(read_to_close(&mut silent).await.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn an_idle_http2_connection_gets_goaway_after_the_idle_timeout() {
    let server = idle_server().await;
    // A raw HTTP/2 connection that opens no stream is sent `GOAWAY` (type 7). (h2 then sends a
    // PING and closes once it is answered; this client answers nothing.)
    let mut raw = TcpStream::connect(server.local_addr()).await.unwrap();
    raw.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    while !frame_types(&received).contains(&7) {
        let n = tokio::time::timeout(Duration::from_secs(20), raw.read(&mut buffer))
            .await
            .expect("GOAWAY in time")
            .unwrap();
        assert!(n > 0, "closed without GOAWAY: {received:?}");
        received.extend_from_slice(&buffer[..n]);
    }

    // A client that made a request and then went quiet sees its connection end.
    let (mut sender, task) = common::hyper_h2_client(server.local_addr()).await;
    let request = http::Request::get(format!("http://{}/health", server.local_addr()))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("the idle HTTP/2 connection was closed")
        .unwrap();
    assert!(sender.is_closed());
    server.shutdown().await;
}

#[tokio::test]
async fn a_connection_that_keeps_sending_requests_is_not_closed_for_being_idle() {
    let server = idle_server().await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    // Fifteen requests 100 ms apart: five idle timeouts since the connection was accepted,
    // never one since its last response.
    for _ in 0..15 {
        assert!(get(&mut stream, "/health").await.ends_with("ok"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Then it goes quiet, and the timer, moved at each of its firings meanwhile, closes it.
    assert!(read_to_close(&mut stream).await.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn a_long_response_body_or_a_slow_upload_is_not_cut_by_the_idle_timeout() {
    let server = idle_server().await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();

    // HTTP/1: a streamed body that takes a second, then another request on the connection.
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    while !received.ends_with(b"0\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buffer))
            .await
            .expect("the body goes on")
            .unwrap();
        assert!(
            n > 0,
            "cut mid-body: {:?}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buffer[..n]);
    }
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.contains("line 0\n") && text.contains("line 9\n"),
        "{text}"
    );

    // A request body that arrives over a second, one byte every 100 ms.
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        .await
        .unwrap();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream.write_all(b"x").await.unwrap();
    }
    let text = read_response(&mut stream).await;
    assert!(text.ends_with("10 bytes"), "{text}");
    assert!(get(&mut stream, "/health").await.ends_with("ok"));

    // HTTP/2: the same streamed body on one stream.
    let (mut sender, task) = common::hyper_h2_client(server.local_addr()).await;
    let request = http::Request::get(format!("http://{}/slow", server.local_addr()))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("the whole body")
        .to_bytes();
    assert_eq!(body.iter().filter(|&&b| b == b'\n').count(), 10);
    task.abort();
    server.shutdown().await;
}

#[tokio::test]
async fn time_limits_of_duration_max_mean_never_and_the_server_serves() {
    // Each would overflow the clock if a deadline were computed from it as it is.
    let server = App::new()
        .get("/health", health)
        .header_read_timeout(Duration::MAX)
        .idle_timeout(Duration::MAX)
        .request_timeout(Duration::MAX)
        .body_timeout(Duration::MAX)
        .body_min_rate(240, Duration::MAX)
        .teardown_timeout(Duration::MAX)
        .max_concurrency_wait(Duration::MAX)
        .shutdown_grace(Duration::MAX)
        .http2_keep_alive(Some(Duration::MAX), Duration::MAX)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    for _ in 0..2 {
        let text = get(&mut stream, "/health").await;
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    }
    let (mut sender, _task) = common::hyper_h2_client(server.local_addr()).await;
    let request = http::Request::get(format!("http://{}/health", server.local_addr()))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    drop(stream);
    drop(sender);
    // Both clients closed their connections: the shutdown has nothing to wait for.
    tokio::time::timeout(Duration::from_secs(20), server.shutdown())
        .await
        .expect("the server shut down");
}

struct Slow;

/// A setup slower than the minimum rate's grace period (a pool wait, a slow connect).
#[depends]
async fn slow_setup(y: Yield<Slow>) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = y.provide(Slow).await;
}

#[depends]
async fn upload_after_setup(
    #[dep(slow_setup)] _s: &Slow,
    body: di_runtime::BodyStream,
) -> Result<String, HttpError> {
    Ok(format!("{} bytes", body.to_bytes().await?.len()))
}

/// The minimum body rate counts from when the body is first asked for: an upload that waits
/// for `100 Continue` while a slow setup runs is asked for it, then read, not answered 408 for
/// the bytes it was never asked to send.
#[tokio::test]
async fn an_expect_100_continue_upload_is_asked_for_its_body_after_a_slow_setup() {
    let server = App::new()
        .post("/upload", upload_after_setup)
        .body_min_rate(240, Duration::from_secs(1))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut client = TcpStream::connect(server.local_addr()).await.unwrap();
    client
        .write_all(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\
              Expect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let head = common::read_head(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 100"), "{head}");
    client.write_all(&vec![b'x'; 100_000]).await.unwrap();
    let mut received = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), client.read(&mut received))
        .await
        .expect("answered")
        .unwrap();
    let text = String::from_utf8_lossy(&received[..n]).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("100000 bytes"), "{text}");
    server.shutdown().await;
}

/// A connection that sent half of its first request head holds shutdown up a moment only
/// (it held it for the whole grace period, hyper waiting for the rest of the head): it is
/// closed without a response, as a kept-alive connection's half-sent next head is.
#[tokio::test]
async fn a_half_sent_first_head_does_not_hold_up_shutdown() {
    let server = App::new()
        .get("/health", health)
        .shutdown_grace(Duration::from_secs(20))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut half = TcpStream::connect(server.local_addr()).await.unwrap();
    half.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("shut down well within the grace period");
    closed_without_a_response(&mut half).await;
}

/// Asserts that the server closes `stream` (within 5 s) without sending anything more.
async fn closed_without_a_response(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "closed without a response: {read:?} {rest:?}"
    );
}

/// A kept-alive connection that was served and then sent half of its next head holds shutdown
/// up a moment only (it held it for the header-read timeout, hyper waiting for the rest of the
/// head): it is closed without a second response.
#[tokio::test]
async fn a_half_sent_next_head_on_a_served_connection_does_not_hold_up_shutdown() {
    let server = App::new()
        .get("/health", health)
        .header_read_timeout(Duration::from_secs(20))
        .shutdown_grace(Duration::from_secs(20))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let text = get(&mut stream, "/health").await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    stream
        .write_all(b"GET /x HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(3), server.shutdown())
        .await
        .expect("shut down within a moment, not the header-read timeout");
    closed_without_a_response(&mut stream).await;
}

/// `an_expect_100_continue_upload_is_asked_for_its_body_after_a_slow_setup` over HTTP/2,
/// where hyper never sends `100 Continue`: a client that asked for it waits (curl one second
/// by default) and then sends its body. The minimum rate counts from
/// the body's first byte, so a wait longer than the grace period is not answered 408 for bytes
/// the client was never asked for (the whole-body deadline still holds). It was.
#[tokio::test]
async fn an_http2_expect_100_continue_upload_that_waits_for_a_continue_is_read() {
    let server = App::new()
        .post("/upload", count_bytes)
        .post("/stream", count_streamed)
        .body_min_rate(240, Duration::from_secs(1))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    for path in ["/upload", "/stream"] {
        let answer = h2_upload_after_a_wait(server.local_addr(), path).await;
        assert_eq!(answer, b"100000 bytes", "{path}");
    }
    server.shutdown().await;
}

/// A body read whole before anything is set up.
#[depends]
async fn count_bytes(body: Bytes) -> String {
    format!("{} bytes", body.len())
}

/// A body read as a stream by the handler, at once.
#[depends]
async fn count_streamed(body: di_runtime::BodyStream) -> Result<String, HttpError> {
    Ok(format!("{} bytes", body.to_bytes().await?.len()))
}

/// POSTs 100,000 bytes to `path` over HTTP/2 with `expect: 100-continue`, sent two seconds
/// after the head (a client waiting for the `100` that never comes); the answer's body, which
/// must come with a 200.
async fn h2_upload_after_a_wait(addr: std::net::SocketAddr, path: &str) -> Vec<u8> {
    let io = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(io).await.unwrap();
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.unwrap();
    let request = http::Request::post(format!("http://{addr}{path}"))
        .header("expect", "100-continue")
        .body(())
        .unwrap();
    let (response, mut body) = client.send_request(request, false).unwrap();
    // No `100` comes: the client gives up waiting for it after twice the grace period.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // (Refused if the server has already answered: the status says how.)
    let _ = body.send_data(Bytes::from(vec![b'x'; 100_000]), true);
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("answered")
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let mut answer = response.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = answer.data().await {
        text.extend_from_slice(&chunk.unwrap());
    }
    driver.abort();
    text
}

/// Bytes the endless body of [`h2_unread_export`] has made, and whether it may start.
static H2_UNREAD_MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static H2_UNREAD_GO: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// An endless body of 1 KiB lines, each ready at once, once the test lets it start.
#[depends]
async fn h2_unread_export() -> StreamBody<
    impl futures_util::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Send + 'static,
> {
    use std::sync::atomic::Ordering;
    StreamBody::new(futures_util::stream::unfold((), |()| async {
        while !H2_UNREAD_GO.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        H2_UNREAD_MADE.fetch_add(1024, Ordering::SeqCst);
        Some((Ok(bytes::Bytes::from(vec![b'x'; 1024])), ()))
    }))
}

/// A socket that reads until told to stop, then never again (a client that stops reading
/// without closing).
struct StopsReading {
    inner: TcpStream,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl tokio::io::AsyncRead for StopsReading {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.stop.load(std::sync::atomic::Ordering::SeqCst) {
            return std::task::Poll::Pending;
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for StopsReading {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An HTTP/2 client whose windows let a whole response in, and that then reads nothing, holds
/// little of the server's memory: each stream buffers at most about one frame beyond what
/// the socket took. It held h2's default, 400 KiB a stream (40 MB of one connection's 100
/// streams, until `send_timeout`): a walk pinned 1.3 GB with 30 such connections.
#[tokio::test]
async fn an_http2_client_with_open_windows_that_reads_nothing_holds_little_of_the_servers_memory() {
    use std::sync::atomic::Ordering;
    const STREAMS: usize = 100;
    let server = App::new()
        .get("/unread", h2_unread_export)
        .send_timeout(Duration::from_secs(60))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let io = StopsReading {
        inner: socket.connect(addr).await.unwrap(),
        stop: stop.clone(),
    };
    let (mut client, driver) = common::h2_client_over(
        io,
        h2::client::Builder::new()
            .initial_window_size(i32::MAX as u32)
            .initial_connection_window_size(i32::MAX as u32),
    )
    .await;
    let mut bodies = Vec::new();
    for _ in 0..STREAMS {
        bodies.push(common::h2_get(&mut client, addr, "/unread").await);
    }
    stop.store(true, Ordering::SeqCst);
    H2_UNREAD_GO.store(true, Ordering::SeqCst);
    // Until the server has filled what it may and the socket's buffers.
    let mut made = 0;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = H2_UNREAD_MADE.load(Ordering::SeqCst);
        if now == made && now > 0 {
            break;
        }
        made = now;
    }
    let made = H2_UNREAD_MADE.load(Ordering::SeqCst);
    driver.abort();
    drop(bodies);
    // Each stream's 16 KiB and the 16 KiB chunk it has in hand (3.2 MB), and what the
    // kernel takes into the server's socket (its send buffer grows to `tcp_wmem`'s largest,
    // 4 MiB here: 2.8 MB were queued there in a run). It was about 45 MB.
    assert!(
        made < 12 * 1024 * 1024,
        "the server made {made} bytes for a client that reads nothing ({STREAMS} streams)"
    );
    assert!(made > 0, "the bodies started");
}

/// How the teardown of [`slow_to_set_up`] saw its request end, one entry per request.
static SLOW_SETUP_OUTCOMES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

struct SlowToSetUp;

/// A dependency whose setup takes 300 ms, longer than the body timeout of the test below.
#[depends]
async fn slow_to_set_up(y: Yield<SlowToSetUp>) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_value, outcome) = y.provide(SlowToSetUp).await;
    SLOW_SETUP_OUTCOMES
        .lock()
        .unwrap()
        .push(format!("{outcome:?}"));
}

#[depends]
async fn upload_after_a_slow_setup(
    #[dep(slow_to_set_up)] _slow: &SlowToSetUp,
    mut body: di_runtime::BodyStream,
) -> Result<String, HttpError> {
    use futures_util::StreamExt;
    let mut read = 0;
    while let Some(chunk) = body.next().await {
        read += chunk?.len();
    }
    Ok(read.to_string())
}

/// A client that left in the middle of its upload, while a slow setup ran and past its body's
/// deadline, is gone when the handler first reads the body: its teardowns see the client gone
/// and no answer is counted. They saw a handler error (408), and a 408 was counted as sent,
/// since the body's deadline was looked at before the connection had read the socket's end
/// (HTTP/1 reads a body only once it is asked for).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_mid_upload_before_a_slow_setup_ends_is_gone_not_a_408() {
    SLOW_SETUP_OUTCOMES.lock().unwrap().clear();
    let server = App::new()
        .post("/upload", upload_after_a_slow_setup)
        .body_timeout(Duration::from_millis(50))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut client = TcpStream::connect(server.local_addr()).await.unwrap();
    client
        .write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    // Two chunks after the head, apart from it: read only when the handler asks for them,
    // long after the deadline (each read then a frame, and the client's end one read more).
    for chunk in [&b"5\r\nhello\r\n"[..], b"5\r\nworld\r\n"] {
        tokio::time::sleep(Duration::from_millis(5)).await;
        client.write_all(chunk).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    drop(client);
    // The setup ends at 300 ms; the handler then reads the body.
    for _ in 0..200 {
        if !SLOW_SETUP_OUTCOMES.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.settle().await;
    let outcomes = SLOW_SETUP_OUTCOMES.lock().unwrap().clone();
    assert_eq!(outcomes, ["Cancelled(ClientGone)"]);
    let metrics = server.metrics();
    assert!(
        metrics.responses.iter().all(|(status, _)| *status != 408),
        "{:?}",
        metrics.responses
    );
    server.shutdown().await;
}

/// A handler that first receives many values ready at once (each receive spends the task's
/// cooperative budget, as tokio counts it), then waits far past the request timeout.
#[depends]
async fn budget_spent_then_slow() -> &'static str {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    for i in 0..1000 {
        tx.send(i).unwrap();
    }
    for _ in 0..1000 {
        rx.recv().await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    "finished"
}

/// The request timeout fires even when the handler's task had spent its cooperative budget
/// when the timeout's timer was first polled: a timer polled then is not registered, and a
/// runtime that skipped polling it again (thinking it registered) never answered 503.
#[tokio::test]
async fn the_request_timeout_fires_after_a_handler_spent_its_cooperative_budget() {
    let client = TestClient::start(
        App::new()
            .get("/busy", budget_spent_then_slow)
            .request_timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap();
    let response = client.get("/busy").send().await;
    assert_eq!(response.status(), 503);
}

// ---------------------------------------------------------------- TCP keep-alive

/// One HTTP/1 request and one HTTP/2 request, each on its own connection, answered 200 `ok`.
async fn serves_both_protocols(server: &di_runtime::Server) {
    let text = exchange(
        server,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.ends_with("ok"), "{text}");
    let (mut sender, task) = common::hyper_h2_client(server.local_addr()).await;
    let request = http::Request::get(format!("http://{}/health", server.local_addr()))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(20), sender.send_request(request))
        .await
        .expect("an answer in time")
        .unwrap();
    assert_eq!(response.status(), 200);
    task.abort();
}

/// TCP keep-alive is set on each accepted socket (the setting's effect on a socket is unit
/// tested in `app::server`, where the socket can be read back): with the default, a time of
/// its own, a fractional one, one far too long for the kernel, or none, the server serves
/// both protocols.
#[tokio::test]
async fn a_server_serves_with_tcp_keepalive_on_by_default_set_or_off() {
    let settings = [
        None,
        Some(Some(Duration::from_secs(1))),
        Some(Some(Duration::from_millis(1500))),
        Some(Some(Duration::MAX)),
        Some(None),
    ];
    for setting in settings {
        let app = App::new().get("/health", health);
        let app = match setting {
            None => app,
            Some(idle) => app.tcp_keepalive(idle),
        };
        app.check().expect("a valid setting");
        let server = app.bind("127.0.0.1:0").await.unwrap();
        serves_both_protocols(&server).await;
        server.shutdown().await;
    }
}

#[tokio::test]
async fn a_zero_tcp_keepalive_time_is_refused_by_check_and_start() {
    let app = || {
        App::new()
            .get("/health", health)
            .tcp_keepalive(Some(Duration::ZERO))
    };
    let problems = app().check().unwrap_err().problems().to_vec();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("App::tcp_keepalive") && problems[0].contains("`None`"),
        "names the setting and how to turn it off: {problems:?}"
    );
    let refused = app().bind("127.0.0.1:0").await;
    assert!(refused.is_err(), "bind refuses it too");
}

// ---------------------------------------------------------------- a client that vanishes

/// Set in the child processes of `a_client_that_vanishes_…` tests, each run in a network
/// namespace of its own: the parent's namespace, which the child checks it is not in.
const VANISHED_CHILD: &str = "DI_HARDENING_VANISHED_CHILD";

/// What the `held` dependencies of a vanished-client child saw: `open` at setup, then their
/// outcome.
static HELD: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn held_log() -> Vec<String> {
    HELD.lock().unwrap().clone()
}

#[depends]
async fn held(y: Yield<u8>) {
    HELD.lock().unwrap().push("open".to_owned());
    let (_, outcome) = y.provide(1).await;
    HELD.lock().unwrap().push(format!("{outcome:?}"));
}

/// A long poll that never answers.
#[depends]
async fn never_answers(#[dep(held)] _held: &u8) -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

/// A quiet feed: one event, then none.
#[depends]
async fn quiet_feed(
    #[dep(held)] _held: &u8,
) -> StreamBody<
    impl futures_util::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Send + 'static,
> {
    use futures_util::StreamExt as _;
    let first =
        futures_util::stream::once(async { Ok(bytes::Bytes::from_static(b"data: first\n\n")) });
    StreamBody::new(first.chain(futures_util::stream::pending()))
}

/// Set once the clients of `vanished_mid_response_child` have vanished.
static VANISHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A feed whose second event comes once its client has vanished (see [`VANISHED`]): its
/// bytes are never acknowledged. Then none.
#[depends]
async fn feed_past_vanishing(
    #[dep(held)] _held: &u8,
) -> StreamBody<
    impl futures_util::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Send + 'static,
> {
    use futures_util::StreamExt as _;
    let first =
        futures_util::stream::once(async { Ok(bytes::Bytes::from_static(b"data: first\n\n")) });
    let second = futures_util::stream::once(async {
        while !VANISHED.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(bytes::Bytes::from_static(b"data: second\n\n"))
    });
    StreamBody::new(first.chain(second).chain(futures_util::stream::pending()))
}

/// An upload read as a stream, its client gone before its end.
#[depends]
async fn slow_upload(
    #[dep(held)] _held: &u8,
    body: di_runtime::BodyStream,
) -> Result<String, HttpError> {
    Ok(body.to_bytes().await?.len().to_string())
}

/// The app the vanished-client children serve: TCP keep-alive after 1 s of silence, then 3
/// probes 1 s apart (a silent connection, or data sent and unacknowledged, given up after
/// 4 s: the user timeout set with it); HTTP/2 pings off.
fn vanishing_app() -> App {
    App::new()
        .get("/health", health)
        .get("/poll", never_answers)
        .get("/feed", quiet_feed)
        .get("/feed-past-vanishing", feed_past_vanishing)
        .post("/upload", slow_upload)
        .tcp_keepalive(Some(Duration::from_secs(1)))
        .http2_keep_alive(None, Duration::from_secs(20))
}

/// Whether this process is a vanished-client child (else its test has nothing to do); one
/// refuses to run in its parent's network namespace, whose loopback it would blackhole.
fn in_own_network_namespace() -> bool {
    let Some(parent) = std::env::var_os(VANISHED_CHILD) else {
        return false;
    };
    let own = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(
        own.as_os_str(),
        parent,
        "not in a network namespace of its own: the host's loopback is left alone"
    );
    true
}

/// Reads `stream` until what it received contains `what` (bounded).
async fn read_until(stream: &mut TcpStream, what: &str) {
    let mut received = Vec::new();
    while !String::from_utf8_lossy(&received).contains(what) {
        let mut buffer = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("{what:?} in time: {received:?}"))
            .unwrap();
        assert!(n > 0, "the feed ended: {received:?}");
        received.extend_from_slice(&buffer[..n]);
    }
}

/// Makes every client of the namespace vanish without a FIN or a reset, once what was sent so
/// far has been acknowledged (the loopback's round trip): drops every packet of its loopback
/// (`tc qdisc add dev lo root blackhole`). When they vanished.
async fn vanish() -> std::time::Instant {
    tokio::time::sleep(Duration::from_millis(200)).await;
    let vanished = std::time::Instant::now();
    let tc = std::process::Command::new("tc")
        .args(["qdisc", "add", "dev", "lo", "root", "blackhole"])
        .status()
        .unwrap();
    assert!(tc.success(), "tc: {tc}");
    vanished
}

/// Makes the clients vanish ([`vanish`]), then runs `cue` (what the app waits for, if
/// anything), and waits until each of the `set_up` requests has been torn down seeing its
/// client gone (`Cancelled(ClientGone)`), within the hang guard of [`until_held`].
async fn vanish_and_see_each_gone(set_up: usize, cue: impl FnOnce()) {
    let vanished = vanish().await;
    cue();
    let seen = until_held("every request torn down", |seen| seen.len() == 2 * set_up).await;
    println!("TORN DOWN after {:?}: {seen:?}", vanished.elapsed());
    assert_eq!(
        seen[set_up..],
        vec!["Cancelled(ClientGone)"; set_up],
        "every request saw its client gone: {seen:?}"
    );
}

/// Waits (bounded) until `done` holds of what the `held` dependencies saw.
async fn until_held(what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let waited = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let seen = held_log();
            if done(&seen) {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    match waited.await {
        Ok(seen) => seen,
        Err(_) => panic!("{what}: {:?}", held_log()),
    }
}

/// Runs the test `child` of this binary in a network namespace of its own (`unshare -n`, its
/// loopback up), as a vanished-client child; it must end well and print `VANISHED OK`.
/// Nothing when this process is such a child already.
async fn run_in_own_network_namespace(child: &str) {
    if std::env::var_os(VANISHED_CHILD).is_some() {
        return;
    }
    let output = tokio::process::Command::new("unshare")
        .args([
            "--net",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" --exact \"$1\" --nocapture",
        ])
        .arg(std::env::current_exe().unwrap())
        .arg(child)
        .env(
            VANISHED_CHILD,
            std::fs::read_link("/proc/self/ns/net").unwrap(),
        )
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), output)
        .await
        .expect("the child ends in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("VANISHED OK"),
        "{}\n{stdout}\n{stderr}",
        output.status
    );
}

/// The child of `a_client_that_vanishes_is_found_by_tcp_keepalive`: in a network namespace
/// of its own (refuses to run otherwise), starts five requests that write nothing (a long
/// poll over HTTP/1, a quiet feed over HTTP/1, a long poll with a request pipelined behind it,
/// a long poll over HTTP/2 without pings, an upload read as a stream whose body stops
/// arriving), then makes their clients vanish ([`vanish`]). Each request's `request`-scope
/// teardown must then see `Cancelled(ClientGone)`, found by TCP keep-alive alone (1 s, then
/// 3 probes 1 s apart; see [`vanishing_app`]).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn vanished_child() {
    if !in_own_network_namespace() {
        return;
    }
    let server = vanishing_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let mut poll = TcpStream::connect(addr).await.unwrap();
    poll.write_all(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut feed = TcpStream::connect(addr).await.unwrap();
    feed.write_all(b"GET /feed HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut feed, "data: first").await;
    let mut pipelined = TcpStream::connect(addr).await.unwrap();
    pipelined
        .write_all(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (mut sender, h2_task) = common::hyper_h2_client(addr).await;
    let request = http::Request::get(format!("http://{addr}/poll"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let h2_poll = tokio::spawn(async move { sender.send_request(request).await });
    // An upload of 100 bytes, 10 sent: its body is being read when the client vanishes.
    let mut upload = TcpStream::connect(addr).await.unwrap();
    upload
        .write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    until_held("five requests set up", |seen| seen.len() == 5).await;
    vanish_and_see_each_gone(5, || ()).await;
    drop((poll, feed, pipelined, upload));
    h2_poll.abort();
    h2_task.abort();
    server.shutdown().await;
    println!("VANISHED OK");
}

/// A client that vanishes without a FIN or a reset while its request writes nothing is found
/// by TCP keep-alive, over HTTP/1 and HTTP/2 (see `vanished_child`). Needs root (`unshare -n`
/// and `tc`, with the `blackhole` qdisc): ignored by default; run it with
/// `cargo test -p di-tests --test hardening -- --ignored a_client_that_vanishes`. It touches
/// only a network namespace of its own, never the host's.
#[cfg(target_os = "linux")]
#[tokio::test]
#[ignore = "needs root: a network namespace of its own whose loopback drops every packet"]
async fn a_client_that_vanishes_is_found_by_tcp_keepalive() {
    run_in_own_network_namespace("vanished_child").await;
}

/// The child of `a_client_that_vanishes_with_a_response_unacknowledged_is_found`: in a
/// network namespace of its own (refuses to run otherwise), starts two feeds, over HTTP/1 and
/// over HTTP/2 without pings, whose clients read their first event; then makes the clients
/// vanish ([`vanish`]), and the feeds send their second event, which is never acknowledged:
/// TCP keep-alive sends no probe while it waits, and retransmissions alone would give it up
/// after about 15 minutes. Each request's `request`-scope teardown must see
/// `Cancelled(ClientGone)` within the hang guard of [`until_held`], found by the user
/// timeout the server sets with keep-alive (4 s here; see [`vanishing_app`]).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn vanished_mid_response_child() {
    use http_body_util::BodyExt as _;
    if !in_own_network_namespace() {
        return;
    }
    let server = vanishing_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let mut feed = TcpStream::connect(addr).await.unwrap();
    feed.write_all(b"GET /feed-past-vanishing HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut feed, "data: first").await;
    let (mut sender, h2_task) = common::hyper_h2_client(addr).await;
    let request = http::Request::get(format!("http://{addr}/feed-past-vanishing"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(20), sender.send_request(request))
        .await
        .expect("an answer in time")
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut h2_feed = response.into_body();
    let first = tokio::time::timeout(Duration::from_secs(20), h2_feed.frame())
        .await
        .expect("the first event in time")
        .expect("a frame")
        .unwrap();
    assert_eq!(first.into_data().unwrap(), "data: first\n\n");
    until_held("two feeds set up", |seen| seen.len() == 2).await;
    vanish_and_see_each_gone(2, || {
        VANISHED.store(true, std::sync::atomic::Ordering::SeqCst);
    })
    .await;
    drop((feed, h2_feed));
    h2_task.abort();
    server.shutdown().await;
    println!("VANISHED OK");
}

/// A client that vanishes without a FIN or a reset while part of a response waits to be
/// acknowledged, where TCP keep-alive sends no probes, is found by the user timeout the server
/// sets with it, over HTTP/1 and HTTP/2 (see `vanished_mid_response_child`): within the
/// bound keep-alive gives a silent connection, not after the 15 minutes retransmissions take.
/// Needs root, as `a_client_that_vanishes_is_found_by_tcp_keepalive` does: ignored by default.
#[cfg(target_os = "linux")]
#[tokio::test]
#[ignore = "needs root: a network namespace of its own whose loopback drops every packet"]
async fn a_client_that_vanishes_with_a_response_unacknowledged_is_found() {
    run_in_own_network_namespace("vanished_mid_response_child").await;
}
