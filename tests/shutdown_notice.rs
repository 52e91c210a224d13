//! `Shutdown`: work that never ends by itself (server-sent events, a long poll) told that the
//! app has begun to shut down, over real sockets. Without it such a stream held a graceful
//! shutdown for the whole grace period and was then cut, its teardowns told
//! `Cancelled(Shutdown)`; with it the stream ends cleanly as soon as the server stops
//! accepting, its teardowns see success, and the shutdown ends without waiting for the grace.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use di_runtime::Shutdown;
use di_runtime::prelude::*;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Outcomes the `request`-scoped `feed_session` saw, in order.
type Seen = Arc<Mutex<Vec<String>>>;

#[depends(scope = "app")]
async fn seen(y: Yield<Seen>) {
    let _ = y.provide(Seen::default()).await;
}

#[depends]
async fn feed_session(#[dep(seen)] seen: &Seen, y: Yield<u32>) {
    let seen = seen.clone();
    let (_, outcome) = y.provide(7).await;
    seen.lock().unwrap().push(outcome.to_string());
}

/// A tick every 20 ms until the app shuts down, then a last event.
#[depends]
async fn events(
    #[dep(feed_session)] session: Held<u32>,
    shutdown: Shutdown,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::convert::Infallible>>> {
    assert!(!shutdown.is_requested(), "no shutdown yet");
    let ticks = futures_util::stream::unfold(0u64, |n| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Some((format!("data: {n}\n\n"), n + 1))
    });
    let bye = async move { format!("event: bye\ndata: session {}\n\n", *session) };
    let events = ticks
        .take_until(shutdown.requested())
        .chain(futures_util::stream::once(bye));
    StreamBody::new(events.map(Ok)).content_type("text/event-stream")
}

/// Told when a long poll is waiting.
#[depends(scope = "app")]
async fn polling() -> Arc<tokio::sync::Notify> {
    Arc::default()
}

/// A long poll: answers 503 when the app shuts down, else (never, here) an update.
#[depends]
async fn poll(
    #[dep(polling)] polling: &Arc<tokio::sync::Notify>,
    shutdown: Shutdown,
) -> Result<&'static str, HttpError> {
    polling.notify_one();
    tokio::select! {
        () = shutdown.requested() => Err(HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down; poll again")),
        () = std::future::pending::<()>() => Ok("update"),
    }
}

#[depends]
async fn state(shutdown: Shutdown) -> String {
    format!("requested: {}", shutdown.is_requested())
}

fn app(outcomes: &Seen, polling_now: &Arc<tokio::sync::Notify>) -> App {
    App::new()
        .provide(seen, outcomes.clone())
        .provide(polling, polling_now.clone())
        .get("/events", events)
        .get("/poll", poll)
        .get("/state", state)
        // Far longer than any deadline below: a stream not told would hold the shutdown.
        .shutdown_grace(Duration::from_secs(120))
}

/// A connection to `addr` that has sent `GET path`.
async fn get(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut client = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
    client.write_all(request.as_bytes()).await.unwrap();
    client
}

/// Reads from `client` into `seen` until it holds `needle`, within a minute: a stream not
/// told of the shutdown would go on for its whole grace period.
async fn read_until(client: &mut TcpStream, seen: &mut Vec<u8>, needle: &[u8]) {
    let read = async {
        let mut buf = [0u8; 4096];
        while !seen.windows(needle.len()).any(|w| w == needle) {
            let n = client.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed before {:?}: {}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
    };
    if tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .is_err()
    {
        panic!("no {:?} within a minute", String::from_utf8_lossy(needle));
    }
}

#[tokio::test]
async fn a_stream_that_waits_for_shutdown_ends_cleanly_when_it_begins() {
    let outcomes = Seen::default();
    let server = app(&outcomes, &Arc::default())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut client = get(addr, "/events").await;
    let mut seen = Vec::new();
    read_until(&mut client, &mut seen, b"data: 1\n\n").await;

    let shutdown = tokio::spawn(server.shutdown());
    // The rest of the stream: its last event, then the chunked body's end.
    read_until(&mut client, &mut seen, b"0\r\n\r\n").await;
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains("event: bye\ndata: session 7\n\n"), "{text}");
    tokio::time::timeout(Duration::from_secs(60), shutdown)
        .await
        .expect("the shutdown ends once the stream has: it is not held for the grace period")
        .unwrap();
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert!(
        outcomes[0].starts_with("success"),
        "the stream reached its end: {outcomes:?}"
    );
}

#[tokio::test]
async fn a_long_poll_waiting_for_shutdown_is_answered_when_it_begins() {
    let polling_now = Arc::<tokio::sync::Notify>::default();
    let server = app(&Seen::default(), &polling_now)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();

    let mut client = get(addr, "/state").await;
    let mut seen = Vec::new();
    read_until(&mut client, &mut seen, b"requested: false").await;

    let mut client = get(addr, "/poll").await;
    polling_now.notified().await;
    let shutdown = tokio::spawn(server.shutdown());
    let mut seen = Vec::new();
    read_until(&mut client, &mut seen, b"poll again\"}").await;
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    tokio::time::timeout(Duration::from_secs(60), shutdown)
        .await
        .expect("the shutdown ends once the poll is answered")
        .unwrap();
}

/// An app served by another server (inside axum) is told through its service, when that
/// server begins its graceful shutdown; it still serves.
#[tokio::test]
async fn an_app_served_elsewhere_is_told_through_its_service() {
    let outcomes = Seen::default();
    let client = TestClient::start(app(&outcomes, &Arc::default()))
        .await
        .unwrap();
    let state = async || client.get("/state").send().await.text().await.unwrap();
    assert_eq!(state().await, "requested: false");
    let mut events = client.get("/events").send().await;
    let first = events.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"data: 0\n\n");

    client.running().service().begin_shutdown();
    assert_eq!(state().await, "requested: true");
    let mut rest = Vec::new();
    while let Some(chunk) = events.chunk().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    assert!(
        rest.ends_with(b"event: bye\ndata: session 7\n\n"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    client.settle().await;
    let seen = outcomes.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].starts_with("success"), "{seen:?}");
    client.shutdown().await;
}
