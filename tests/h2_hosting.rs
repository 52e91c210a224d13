//! HTTP/2 streams that host the `request`-scope teardowns (and background tasks) of their
//! responses (`run/host.rs`, `StreamTasks` in the server): a stream cut while it hosts one,
//! a nested app's teardowns hosted by the stream of the app around it, shutdown while streams
//! host teardowns, and teardowns that panic or add background tasks.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{count, events, log, position, serial, wait_for};
use di_runtime::prelude::*;
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// An HTTP/2 client (prior knowledge) over `io`, made by `builder`, ready to send; its
/// connection is driven in the task returned (abort it to drop the connection).
async fn h2_client(
    io: TcpStream,
    builder: &h2::client::Builder,
) -> (h2::client::SendRequest<Bytes>, tokio::task::JoinHandle<()>) {
    let (client, connection) = builder.handshake::<_, Bytes>(io).await.unwrap();
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client.ready().await.unwrap(), driver)
}

/// GETs `path` from `addr` on `client`'s HTTP/2 connection: the body of the answer, whose
/// status must be 200.
async fn h2_get(
    client: &mut h2::client::SendRequest<Bytes>,
    addr: SocketAddr,
    path: &str,
) -> h2::RecvStream {
    let request = http::Request::get(format!("http://{addr}{path}"))
        .body(())
        .unwrap();
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .unwrap();
    let response = client.send_request(request, true).unwrap().0.await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body()
}

/// Waits (up to 10 s) until `stream` is reset by the server; its reason.
async fn reset_of(stream: &mut h2::RecvStream) -> Option<h2::Reason> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.data().await {
                Some(Ok(_)) => continue,
                Some(Err(error)) => return error.reason(),
                None => return None,
            }
        }
    })
    .await
    .expect("the stream whose window stays shut is cut")
}

/// Released by the test: what a teardown waits for.
static RELEASE: Notify = Notify::const_new();

fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        other => other.to_string(),
    }
}

// ------------------------------------------------ a nested app's teardowns

struct InnerPool;

#[depends(scope = "app")]
async fn inner_pool(y: Yield<InnerPool>) {
    let (_pool, outcome) = y.provide(InnerPool).await;
    log(format!("inner pool:close {}", outcome_text(&outcome)));
}

struct Lingering;

/// A `request`-scoped value whose teardown waits until the test releases it.
#[depends]
async fn lingering(y: Yield<Lingering>) {
    let (_value, outcome) = y.provide(Lingering).await;
    log(format!("lingering:start {}", outcome_text(&outcome)));
    RELEASE.notified().await;
    log("lingering:close");
}

/// A whole body in one frame (below the server's send slice), so that the teardowns start as
/// hyper takes it, while the frame waits for the client's window.
#[depends]
async fn inner_big(#[dep(lingering)] _l: &Lingering, #[dep(inner_pool)] _p: &InnerPool) -> Vec<u8> {
    vec![b'z'; 200 * 1024]
}

/// An app nested in another (`nest_service` of a started app's service) and served over
/// HTTP/2: its `request`-scope teardown runs in the stream of the app around it. That stream
/// is cut by the outer app's `send_timeout` while the teardown waits: the teardown goes on in
/// a tracked task, and the nested app still counts it, so its `settle` waits for it and its
/// `app` scope is torn down after it.
#[tokio::test]
async fn a_nested_apps_teardown_hosted_by_a_cut_http2_stream_is_still_waited_for_by_that_app() {
    let _serial = serial().await;
    let inner = App::new().get("/big", inner_big).start().await.unwrap();
    let server = App::new()
        .send_timeout(Duration::from_millis(300))
        .idle_timeout(Duration::from_millis(300))
        .nest_service("/inner", inner.service())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let (mut client, driver) = h2_client(
        TcpStream::connect(addr).await.unwrap(),
        h2::client::Builder::new().initial_window_size(0),
    )
    .await;
    let mut unread = h2_get(&mut client, addr, "/inner/big").await;
    assert_eq!(reset_of(&mut unread).await, Some(h2::Reason::CANCEL));
    // The stream is gone; its teardown still waits for the release.
    assert_eq!(events(), ["lingering:start success (200)"]);
    assert_eq!(
        inner.teardowns_in_flight(),
        1,
        "the nested app no longer counts its teardown still under way"
    );
    RELEASE.notify_one();
    inner.settle().await;
    assert_eq!(
        events(),
        ["lingering:start success (200)", "lingering:close"]
    );
    inner.shutdown().await;
    assert_eq!(
        events(),
        [
            "lingering:start success (200)",
            "lingering:close",
            "inner pool:close app stopped"
        ]
    );
    driver.abort();
    server.shutdown().await;
}
