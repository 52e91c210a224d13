//! `HeldMut::stream` / `Held::stream`: a response body that owns a `request`-scoped value and
//! a stream borrowing it, frame after frame; the value's teardown runs after the last frame,
//! or with `Cancelled(ClientGone)` when the client goes away mid-stream.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{events, log, position, serial};
use di_runtime::prelude::*;
use di_runtime::{HeldStream, TestClient};
use futures_util::{Stream, StreamExt, stream};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Stands in for a connection: it counts the rows read through it.
struct Counter {
    reads: u32,
}

#[depends]
async fn counter(y: Yield<Counter>) {
    log("counter:open");
    let (counter, outcome) = y.provide(Counter { reads: 0 }).await;
    let what = match outcome {
        Outcome::Success { .. } => "success".to_owned(),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        other => other.to_string(),
    };
    log(format!(
        "counter:close {what} after {} reads",
        counter.reads
    ));
}

const FRAMES: u32 = 1000;

/// Every frame reads through the borrowed `&mut Counter`.
fn rows(counter: &mut Counter, limit: u32) -> stream::BoxStream<'_, Result<Bytes, Infallible>> {
    stream::unfold(counter, move |counter| async move {
        if counter.reads == limit {
            return None;
        }
        tokio::task::yield_now().await;
        counter.reads += 1;
        Some((Ok(Bytes::from(format!("{}\n", counter.reads))), counter))
    })
    .boxed()
}

#[depends]
async fn export(
    #[dep(counter)] c: HeldMut<Counter>,
) -> StreamBody<HeldStream<Result<Bytes, Infallible>>> {
    StreamBody::new(HeldMut::stream(c, |c: &mut Counter| rows(c, FRAMES)))
}

#[depends]
async fn endless(
    #[dep(counter)] c: HeldMut<Counter>,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    let frames = HeldMut::stream(c, |c: &mut Counter| {
        stream::unfold(c, |c| async move {
            if c.reads > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            c.reads += 1;
            Some((Ok(Bytes::from(format!("{}\n", c.reads))), c))
        })
        .boxed()
    });
    StreamBody::new(frames)
}

#[tokio::test]
async fn a_body_borrows_a_held_mut_across_every_frame_and_teardown_runs_after_the_last() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/export", export))
        .await
        .unwrap();
    let mut response = client.get("/export").send().await;
    assert_eq!(response.status(), 200);
    let mut expected = 1;
    while let Some(chunk) = response.chunk().await {
        let chunk = chunk.unwrap();
        // Frames may be coalesced; each line is the count of reads so far, in order.
        for line in String::from_utf8(chunk.to_vec()).unwrap().lines() {
            assert_eq!(line, expected.to_string());
            assert!(
                !events().iter().any(|e| e.starts_with("counter:close")),
                "torn down while the body streams"
            );
            expected += 1;
        }
    }
    assert_eq!(expected, FRAMES + 1, "every frame arrived");
    drop(response);
    client.settle().await;
    let events = events();
    assert_eq!(
        events,
        [
            "counter:open".to_owned(),
            format!("counter:close success after {FRAMES} reads"),
        ]
    );
    client.shutdown().await;
}

#[tokio::test]
async fn the_value_is_torn_down_only_after_the_stream_has_ended() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/export", export))
        .await
        .unwrap();
    let mut response = client.get("/export").send().await;
    // Part of the body read: the value is still held by the body.
    let first = response.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"1\n"));
    client.settle().await;
    assert_eq!(events(), ["counter:open"], "held while the body streams");
    let rest = response.bytes().await.unwrap();
    assert!(rest.ends_with(format!("{FRAMES}\n").as_bytes()));
    client.settle().await;
    assert_eq!(
        events().last().map(String::as_str),
        Some(format!("counter:close success after {FRAMES} reads").as_str())
    );
    client.shutdown().await;
}

/// Waits (bounded, so a broken build fails instead of hanging) until `event` was logged.
async fn wait_for(prefix: &str) -> String {
    for _ in 0..1000 {
        if let Some(event) = events().into_iter().find(|e| e.starts_with(prefix)) {
            return event;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("`{prefix}` never happened: {:?}", events());
}

#[tokio::test]
async fn a_client_gone_mid_stream_cancels_the_held_value_once() {
    let _serial = serial().await;
    let server = App::new()
        .get("/endless", endless)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr: SocketAddr = server.local_addr();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = http::Request::get("/endless")
        .header("host", "test")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let mut response = sender.send_request(request).await.unwrap();
    let first = response
        .body_mut()
        .frame()
        .await
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(first, "1\n");
    log("client gone");
    drop(response);
    drop(sender);
    task.abort();

    let close = wait_for("counter:close").await;
    assert!(
        close.starts_with("counter:close cancelled client gone after "),
        "{close}"
    );
    server.settle().await;
    let events = events();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.starts_with("counter:close"))
            .count(),
        1,
        "{events:?}"
    );
    assert!(position(&events, "client gone") < position(&events, &close));
    server.shutdown().await;
}

#[depends]
async fn words(y: Yield<Vec<String>>) {
    let (_words, outcome) = y.provide(vec!["a".into(), "b".into(), "c".into()]).await;
    log(format!("words:close {}", outcome.is_success()));
}

#[depends]
async fn shared(
    #[dep(words)] w: Held<Vec<String>>,
) -> StreamBody<impl Stream<Item = Result<String, Infallible>> + Send + 'static> {
    StreamBody::new(Held::stream(w, |w: &Vec<String>| {
        stream::iter(w).map(|w| Ok(format!("{w}\n"))).boxed()
    }))
}

#[tokio::test]
async fn held_stream_borrows_a_shared_value_too() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/words", shared))
        .await
        .unwrap();
    let response = client.get("/words").send().await;
    assert_eq!(response.text().await.unwrap(), "a\nb\nc\n");
    client.settle().await;
    assert_eq!(events(), ["words:close true"]);
    client.shutdown().await;
}

#[depends]
async fn breaks(
    #[dep(counter)] c: HeldMut<Counter>,
) -> StreamBody<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static> {
    // Three rows, then the cursor fails (a lost database connection, say).
    StreamBody::new(HeldMut::stream(c, |c: &mut Counter| {
        rows(c, 3)
            .map(|row| row.map_err(|never| match never {}))
            .chain(stream::once(async {
                Err(std::io::Error::other("the cursor broke"))
            }))
            .boxed()
    }))
}

#[tokio::test]
async fn a_failing_item_ends_the_body_and_the_value_is_torn_down_once() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/breaks", breaks))
        .await
        .unwrap();
    let response = client.get("/breaks").send().await;
    assert_eq!(response.status(), 200, "the head left before the failure");
    assert!(
        response.bytes().await.is_err(),
        "the body does not end cleanly"
    );
    client.settle().await;
    // Torn down once, after the three rows, seeing the failure.
    assert_eq!(
        events(),
        ["counter:open", "counter:close body error after 3 reads"]
    );
    client.shutdown().await;
}

#[depends]
async fn panics_mid_stream(
    #[dep(counter)] c: HeldMut<Counter>,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    StreamBody::new(HeldMut::stream(c, |c: &mut Counter| {
        rows(c, 2)
            .chain(stream::once(async { panic!("a row could not be read") }))
            .boxed()
    }))
}

#[tokio::test]
async fn a_panic_in_the_borrowing_stream_is_caught_and_the_value_torn_down_once() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/panics", panics_mid_stream))
        .await
        .unwrap();
    let response = client.get("/panics").send().await;
    assert_eq!(response.status(), 200, "the head left before the panic");
    assert!(response.bytes().await.is_err(), "the body breaks off");
    client.settle().await;
    assert_eq!(
        events(),
        ["counter:open", "counter:close panicked after 2 reads"]
    );
    client.shutdown().await;
}
