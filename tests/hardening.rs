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
