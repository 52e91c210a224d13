//! A long-lived streaming service run as production runs it (server-sent events, NDJSON and
//! CSV exports read from a `request`-scoped session, long polls, streamed uploads): what its
//! clients get and what its teardowns see, over real TCP, HTTP/1 and HTTP/2, when a stream
//! fails, panics, or is cut.

mod common;

use std::time::Duration;

use common::{dechunk, events, log, read_bytes_to_close, serial, wait_for};
use di_runtime::SseEvent;
use di_runtime::prelude::*;
use futures_util::{StreamExt, stream};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Stands in for a database session the stream reads its rows from.
struct Session;

#[depends]
async fn session(y: Yield<Session>) {
    let (_session, outcome) = y.provide(Session).await;
    log(format!("session:close {}", short(&outcome)));
}

fn short(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        Outcome::BodyError { .. } => "body error".to_owned(),
        Outcome::Panicked => "panicked".to_owned(),
        other => other.to_string(),
    }
}

/// Three rows, all ready at once, then the database fails: the rows were read, and the
/// stream yielded them before its error.
#[depends]
async fn rows_then_failure(
    #[dep(session)] _s: Held<Session>,
) -> StreamBody<impl futures_util::Stream<Item = Result<&'static str, std::io::Error>> + Send> {
    StreamBody::new(stream::iter([
        Ok("row 1\n"),
        Ok("row 2\n"),
        Ok("row 3\n"),
        Err(std::io::Error::other("connection reset by the database")),
    ]))
    .content_type("application/x-ndjson")
}

/// GETs `path` over a new HTTP/1.1 connection and reads until the server closes it: the
/// response head, its (chunked) body's data, and whether the body had its last chunk.
async fn http1_get(addr: std::net::SocketAddr, path: &str) -> (String, Vec<u8>, bool) {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let all = read_bytes_to_close(&mut socket).await;
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    (
        String::from_utf8_lossy(&all[..split]).into_owned(),
        dechunk(&all[split..]),
        all.ends_with(b"\r\n0\r\n\r\n"),
    )
}

/// The rows and the head were in hyper's write buffer when the error came, and hyper closes
/// the connection on a body error without flushing it: the client got an empty reply (no
/// status at all), as if the server had crashed. Now the buffer is flushed first; the client
/// sees the head, the rows, and a chunked body cut short (no last chunk): an error, never a
/// complete export. On the multi-threaded runtime, as a server runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_a_stream_yielded_before_it_failed_reach_the_http1_client_before_the_cut() {
    let _serial = serial().await;
    let server = App::new()
        .get("/export", rows_then_failure)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (head, body, complete) = http1_get(server.local_addr(), "/export").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!complete, "a failed body never ends with its last chunk");
    assert_eq!(
        String::from_utf8_lossy(&body),
        "row 1\nrow 2\nrow 3\n",
        "the rows the stream yielded before its error are sent, then the connection is cut"
    );
    wait_for("session:close body error").await;
    server.settle().await;
    assert_eq!(events(), ["session:close body error"]);
    server.shutdown().await;
}

/// Over HTTP/2 the reset cleared the stream's queue in h2, the response head with it: the
/// client got `RST_STREAM` and no response. Now the connection task, woken by the queued
/// frames, gets a turn before the reset. That turn is the scheduler's: on one thread (this
/// test) it comes first; on several, the reset often comes first still (best effort).
#[tokio::test]
async fn rows_a_stream_yielded_before_it_failed_reach_the_http2_client_before_the_reset() {
    let _serial = serial().await;
    let server = App::new()
        .get("/export", rows_then_failure)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    let mut body = common::h2_get(&mut client, addr, "/export").await;
    let mut received = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            match body.data().await {
                Some(Ok(data)) => {
                    let _ = body.flow_control().release_capacity(data.len());
                    received.extend_from_slice(&data);
                }
                Some(Err(error)) => return Some(error),
                None => return None,
            }
        }
    })
    .await
    .expect("the stream ends");
    let reset = ended.expect("the stream is reset, not ended cleanly");
    assert_eq!(reset.reason(), Some(h2::Reason::INTERNAL_ERROR), "{reset}");
    assert_eq!(String::from_utf8_lossy(&received), "row 1\nrow 2\nrow 3\n");
    wait_for("session:close body error").await;
    server.settle().await;
    assert_eq!(events(), ["session:close body error"]);
    driver.abort();
    server.shutdown().await;
}

/// A feed's subscription, held by the response body until the client leaves.
struct Subscription;

#[depends]
async fn subscription(y: Yield<Subscription>) {
    log("subscription:open");
    let (_subscription, outcome) = y.provide(Subscription).await;
    log(format!("subscription:close {}", short(&outcome)));
}

#[derive(serde::Deserialize)]
struct Resume {
    last_event_id: Option<u64>,
}

/// Three events after the one the client last got, then a quiet feed (no event comes).
#[depends]
async fn feed(
    #[dep(subscription)] subscription: Held<Subscription>,
    Header(resume): Header<Resume>,
) -> StreamBody<impl futures_util::Stream<Item = Result<SseEvent, std::io::Error>> + Send> {
    let after = resume.last_event_id.unwrap_or(0);
    let events = (after + 1..=after + 3).map(|id| {
        Ok(SseEvent::data(format!("line one of {id}\nline two"))
            .id(id.to_string())
            .event("tick"))
    });
    // A feed with nothing to send: the body owns the subscription until it is dropped.
    let quiet = stream::pending().map(move |()| {
        let _held = &subscription;
        Ok(SseEvent::comment("never"))
    });
    StreamBody::new(stream::iter(events).chain(quiet)).content_type("text/event-stream")
}

/// The three events `feed` sends after `after`, as the client reads them.
fn three_events_after(after: u64) -> String {
    (after + 1..=after + 3)
        .map(|id| format!("id: {id}\nevent: tick\ndata: line one of {id}\ndata: line two\n\n"))
        .collect()
}

#[tokio::test]
async fn an_sse_feed_resumes_after_last_event_id_and_its_quiet_stream_sees_the_http1_client_leave()
{
    use tokio::io::AsyncReadExt;
    let _serial = serial().await;
    let server = App::new()
        .get("/feed", feed)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut socket = TcpStream::connect(server.local_addr()).await.unwrap();
    socket
        .write_all(b"GET /feed HTTP/1.1\r\nhost: test\r\nlast-event-id: 41\r\n\r\n")
        .await
        .unwrap();
    let head = common::read_head(&mut socket).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    let expected = three_events_after(41);
    let mut chunked = Vec::new();
    tokio::time::timeout(Duration::from_secs(8), async {
        while dechunk(&chunked).len() < expected.len() {
            let mut buf = [0u8; 4096];
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the feed ended");
            chunked.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("three events arrive");
    assert_eq!(String::from_utf8_lossy(&dechunk(&chunked)), expected);
    // The feed is quiet now: the client leaves while the stream waits for its next event.
    log("client gone");
    drop(socket);
    wait_for("subscription:close cancelled client gone").await;
    server.settle().await;
    assert_eq!(
        events(),
        [
            "subscription:open",
            "client gone",
            "subscription:close cancelled client gone"
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_quiet_sse_stream_reset_by_its_http2_client_is_torn_down_once_as_client_gone() {
    let _serial = serial().await;
    let server = App::new()
        .get("/feed", feed)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    let mut body = common::h2_get(&mut client, addr, "/feed").await;
    let expected = three_events_after(0);
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(8), async {
        while received.len() < expected.len() {
            let data = body.data().await.expect("the feed goes on").unwrap();
            let _ = body.flow_control().release_capacity(data.len());
            received.extend_from_slice(&data);
        }
    })
    .await
    .expect("three events arrive");
    assert_eq!(String::from_utf8_lossy(&received), expected);
    // Dropping the stream resets it (`CANCEL`); the connection stays open.
    log("client gone");
    drop(body);
    wait_for("subscription:close cancelled client gone").await;
    server.settle().await;
    assert_eq!(
        events(),
        [
            "subscription:open",
            "client gone",
            "subscription:close cancelled client gone"
        ]
    );
    driver.abort();
    server.shutdown().await;
}

/// An HTTP/1.0 client (nginx's `proxy_pass` speaks HTTP/1.0 to its upstream unless told
/// otherwise) has no chunked coding: the body ends where the connection closes. A failed
/// export closed it as a complete one does, and the client (nginx, then its own client) took
/// the truncated export for the whole. The connection is now reset instead.
#[tokio::test]
async fn an_http10_client_of_a_failed_stream_sees_the_connection_reset_not_a_clean_end() {
    use tokio::io::AsyncReadExt;
    let _serial = serial().await;
    let server = App::new()
        .get("/export", rows_then_failure)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut socket = TcpStream::connect(server.local_addr()).await.unwrap();
    socket
        .write_all(b"GET /export HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(8), async {
        let mut buf = [0u8; 4096];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(error) => return Err(error),
            }
        }
    })
    .await
    .expect("the connection ends");
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.0 200"),
        "{text}"
    );
    let error = ended.expect_err("the cut is not a clean end of the body");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    wait_for("session:close body error").await;
    server.settle().await;
    assert_eq!(events(), ["session:close body error"]);
    server.shutdown().await;
}

/// A complete HTTP/1.0 export still ends cleanly, the connection closed after it.
#[tokio::test]
async fn an_http10_client_of_a_complete_stream_sees_a_clean_end() {
    let _serial = serial().await;
    let server = App::new()
        .get("/rows", rows)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut socket = TcpStream::connect(server.local_addr()).await.unwrap();
    socket
        .write_all(b"GET /rows HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let all = read_bytes_to_close(&mut socket).await;
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    assert!(text.ends_with("\r\n\r\nrow 1\nrow 2\n"), "{text}");
    wait_for("session:close success 200").await;
    server.shutdown().await;
}

#[depends]
async fn rows(
    #[dep(session)] _s: Held<Session>,
) -> StreamBody<impl futures_util::Stream<Item = Result<&'static str, std::io::Error>> + Send> {
    StreamBody::new(stream::iter([Ok("row 1\n"), Ok("row 2\n")]))
}
