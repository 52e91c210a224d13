//! The server against slow and silent clients, over real sockets.

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
