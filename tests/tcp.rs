//! The contract over real TCP connections: keep-alive after a panic, client disconnects
//! mid-stream, `request` teardown that never delays the response, graceful shutdown.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{count, events, h2_client, h2_get, log, position, serial, wait_for};
use di_runtime::prelude::*;
use futures_util::{StreamExt, stream};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// One HTTP/1.1 keep-alive connection.
struct Connection {
    sender: http1::SendRequest<Empty<Bytes>>,
    task: JoinHandle<()>,
}

async fn connect(addr: SocketAddr) -> Connection {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    Connection { sender, task }
}

impl Connection {
    async fn get(&mut self, path: &str) -> http::Response<hyper::body::Incoming> {
        self.sender.ready().await.unwrap();
        let request = http::Request::get(path)
            .header("host", "test")
            .body(Empty::new())
            .unwrap();
        self.sender.send_request(request).await.unwrap()
    }

    /// Closes the socket, like a client that goes away.
    fn close(self) {
        drop(self.sender);
        self.task.abort();
    }
}

struct Session(&'static str);

#[depends]
async fn session(y: Yield<Session>) {
    log("req:open");
    let (_session, outcome) = y.provide(Session("db")).await;
    let what = match outcome {
        Outcome::Success { .. } => "success".to_owned(),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        Outcome::Panicked => "panicked".to_owned(),
        other => other.to_string(),
    };
    log(format!("req:close {what}"));
}

// ---------------------------------------------------------------- f. keep-alive after a panic

#[depends]
async fn panics(#[dep(session)] _s: &Session) -> &'static str {
    panic!("secret panic text");
}

#[depends]
async fn fine(#[dep(session)] s: &Session) -> String {
    format!("fine {}", s.0)
}

#[tokio::test]
async fn f_panic_then_next_request_on_the_same_connection_succeeds() {
    let _serial = serial().await;
    let server = App::new()
        .get("/panic", panics)
        .get("/fine", fine)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut connection = connect(server.local_addr()).await;

    let response = connection.get("/panic").await;
    assert_eq!(response.status(), 500);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, r#"{"detail":"Internal Server Error"}"#);
    assert!(!String::from_utf8_lossy(&body).contains("secret"));

    let response = connection.get("/fine").await;
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "fine db");

    server.settle().await;
    let events = events();
    assert_eq!(count(&events, "req:close panicked"), 1, "{events:?}");
    assert_eq!(count(&events, "req:close success"), 1, "{events:?}");
    connection.close();
    server.shutdown().await;
}

// ---------------------------------------------------------------- h. client gone mid-stream

#[depends]
async fn endless(
    #[dep(session)] s: Held<Session>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    let chunks = stream::unfold((s, 0u32), |(s, i)| async move {
        if i >= 10_000 {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Some((Ok(Bytes::from(format!("{} {i}\n", s.0))), (s, i + 1)))
    });
    StreamBody::new(chunks)
}

#[tokio::test]
async fn h_client_disconnect_mid_stream_tears_down_once_with_cancelled() {
    let _serial = serial().await;
    let server = App::new()
        .get("/endless", endless)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut connection = connect(server.local_addr()).await;
    let mut response = connection.get("/endless").await;
    let first = response
        .body_mut()
        .frame()
        .await
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(first, "db 0\n");
    log("client gone");
    drop(response);
    connection.close();

    wait_for("req:close cancelled client gone").await;
    server.settle().await;
    let events = events();
    assert_eq!(
        events.iter().filter(|e| e.starts_with("req:close")).count(),
        1,
        "{events:?}"
    );
    assert!(
        position(&events, "client gone") < position(&events, "req:close cancelled client gone")
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- i. teardown never delays

#[depends]
async fn slow_session(y: Yield<Session>) {
    let (_session, _outcome) = y.provide(Session("slow")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    log("slow:close");
}

#[depends]
async fn quick(#[dep(slow_session)] s: &Session) -> String {
    format!("quick {}", s.0)
}

#[tokio::test]
async fn i_slow_request_teardown_delays_neither_the_body_nor_the_next_request() {
    let _serial = serial().await;
    let server = App::new()
        .get("/quick", quick)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut connection = connect(server.local_addr()).await;

    let response = connection.get("/quick").await;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "quick slow");
    log("body");
    let response = connection.get("/quick").await;
    assert_eq!(response.status(), 200);
    let _ = response.into_body().collect().await.unwrap();
    log("second response");

    wait_for("slow:close").await;
    server.settle().await;
    let events = events();
    assert_eq!(count(&events, "slow:close"), 2, "{events:?}");
    assert!(
        position(&events, "body") < position(&events, "slow:close"),
        "{events:?}"
    );
    assert!(
        position(&events, "second response") < position(&events, "slow:close"),
        "{events:?}"
    );
    connection.close();
    server.shutdown().await;
}

// ---------------------------------------------------------------- teardowns hosted by connections

/// A connection's task runs the `request` teardowns of its responses: one still running
/// when the client closes the connection goes on to its end, once, and `settle` waits for it.
#[tokio::test]
async fn a_request_teardown_outlives_the_connection_that_hosts_it() {
    let _serial = serial().await;
    let server = App::new()
        .get("/quick", quick)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut connection = connect(server.local_addr()).await;
    let response = connection.get("/quick").await;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "quick slow");
    connection.close();
    log("closed");
    server.settle().await;
    log("settled");
    assert_eq!(events(), ["closed", "slow:close", "settled"]);
    server.shutdown().await;
    assert_eq!(count(&events(), "slow:close"), 1, "{:?}", events());
}

#[depends]
async fn quick_pooled(#[dep(slow_session)] s: &Session, #[dep(pool)] p: &Pool) -> String {
    format!("{} {}", s.0, p.0)
}

/// At shutdown, a connection task still running a teardown is cut with the others; the
/// teardown goes on in a tracked task, where it stood, and ends before `app` teardown.
#[tokio::test]
async fn shutdown_finishes_a_request_teardown_hosted_by_an_open_connection() {
    let _serial = serial().await;
    let server = App::new()
        .get("/quick", quick_pooled)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut connection = connect(server.local_addr()).await;
    let response = connection.get("/quick").await;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "slow pool");
    log("shutdown");
    server.shutdown().await;
    assert_eq!(
        events(),
        [
            "pool:open",
            "shutdown",
            "slow:close",
            "pool:close app stopped"
        ]
    );
    connection.close();
}

/// Released by [`many_waiting`]'s test: each `gated_session` teardown takes one permit.
static GATE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(0);

#[depends(scope = "request")]
async fn gated_session(y: Yield<Session>) {
    let _ = y.provide(Session("gated")).await;
    GATE.acquire().await.unwrap().forget();
    log("gated:close");
}

#[depends]
async fn gated(#[dep(gated_session)] s: &Session) -> &'static str {
    s.0
}

/// One keep-alive connection (a proxy's) whose responses' teardowns all wait: the connection
/// hosts a few of them and hands the rest to tasks of their own (each wake of it polled every
/// one it held, so that every request cost more than the last). Every response is answered
/// while the teardowns wait; each teardown runs once when released, and shutdown waits for
/// those still waiting, before `app` teardown, wherever they run.
#[tokio::test]
async fn many_waiting_request_teardowns_on_one_connection_each_run_once() {
    const REQUESTS: usize = 40;
    let _serial = serial().await;
    let server = App::new()
        .get("/gated", gated)
        .get("/pooled", quick_pooled)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut connection = connect(server.local_addr()).await;
    let body = connection.get("/pooled").await.into_body().collect().await;
    assert_eq!(body.unwrap().to_bytes(), "slow pool");
    for _ in 0..REQUESTS {
        let response = connection.get("/gated").await;
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "gated");
    }
    log("answered");
    // Half of them released while the server runs, on the open connection.
    GATE.add_permits(REQUESTS / 2);
    for _ in 0..4000 {
        if count(&events(), "gated:close") == REQUESTS / 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        count(&events(), "gated:close"),
        REQUESTS / 2,
        "{:?}",
        events()
    );
    // The rest at shutdown, which waits for them.
    let release = tokio::spawn(async {
        wait_for("shutdown").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        GATE.add_permits(REQUESTS / 2);
    });
    log("shutdown");
    server.shutdown().await;
    release.await.unwrap();
    let events = events();
    assert_eq!(count(&events, "gated:close"), REQUESTS, "{events:?}");
    assert_eq!(count(&events, "slow:close"), 1, "{events:?}");
    let app_closed = position(&events, "pool:close app stopped");
    assert!(
        events
            .iter()
            .enumerate()
            .filter(|(_, event)| *event == "gated:close")
            .all(|(at, _)| at < app_closed),
        "{events:?}"
    );
    connection.close();
}

/// GETs `path` on an HTTP/2 connection made with [`common::hyper_h2_client`]: the body of the answer,
/// which must be 200.
async fn h2_body(
    sender: &mut hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    addr: SocketAddr,
    path: &str,
) -> Bytes {
    let request = http::Request::get(format!("http://{addr}{path}"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap().to_bytes()
}

/// HTTP/2: each stream's task runs the `request` teardowns of its response, as a connection's
/// does over HTTP/1; a slow one still delays neither the body nor the next stream.
#[tokio::test]
async fn a_slow_request_teardown_over_http2_delays_neither_the_body_nor_the_next_stream() {
    let _serial = serial().await;
    let server = App::new()
        .get("/quick", quick)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let (mut sender, driver) = common::hyper_h2_client(addr).await;
    assert_eq!(h2_body(&mut sender, addr, "/quick").await, "quick slow");
    log("body");
    assert_eq!(h2_body(&mut sender, addr, "/quick").await, "quick slow");
    log("second response");
    server.settle().await;
    assert_eq!(
        events(),
        ["body", "second response", "slow:close", "slow:close"]
    );
    driver.abort();
    server.shutdown().await;
}

/// HTTP/2: a teardown still running in its stream's task when the client closes the
/// connection goes on to its end, once, and `settle` waits for it.
#[tokio::test]
async fn a_request_teardown_outlives_the_http2_connection_of_its_stream() {
    let _serial = serial().await;
    let server = App::new()
        .get("/quick", quick)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let (mut sender, driver) = common::hyper_h2_client(addr).await;
    assert_eq!(h2_body(&mut sender, addr, "/quick").await, "quick slow");
    drop(sender);
    driver.abort();
    log("closed");
    server.settle().await;
    log("settled");
    assert_eq!(events(), ["closed", "slow:close", "settled"]);
    server.shutdown().await;
    assert_eq!(count(&events(), "slow:close"), 1, "{:?}", events());
}

/// HTTP/2: at shutdown, a teardown its stream's task is still running ends before `app`
/// teardown.
#[tokio::test]
async fn shutdown_finishes_a_request_teardown_hosted_by_an_http2_stream() {
    let _serial = serial().await;
    let server = App::new()
        .get("/quick", quick_pooled)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let (mut sender, driver) = common::hyper_h2_client(addr).await;
    assert_eq!(h2_body(&mut sender, addr, "/quick").await, "slow pool");
    log("shutdown");
    server.shutdown().await;
    assert_eq!(
        events(),
        [
            "pool:open",
            "shutdown",
            "slow:close",
            "pool:close app stopped"
        ]
    );
    driver.abort();
}

// ---------------------------------------------------------------- app scope and shutdown

struct Pool(&'static str);

#[depends(scope = "app")]
async fn pool(y: Yield<Pool>) {
    log("pool:open");
    let (_pool, outcome) = y.provide(Pool("pool")).await;
    log(format!("pool:close {outcome}"));
}

#[depends(scope = "app")]
async fn cache(#[dep(pool)] p: &Pool, y: Yield<String>) {
    log("cache:open");
    let _ = y.provide(format!("cache over {}", p.0)).await;
    log("cache:close");
}

#[depends]
async fn slow_stream(
    #[dep(session)] _s: Held<Session>,
    #[dep(cache)] c: &String,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, Infallible>> + Send + 'static> {
    let text = c.clone();
    let chunks = stream::unfold(0u32, move |i| {
        let text = text.clone();
        async move {
            if i == 3 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            Some((Ok(format!("{text} {i};")), i + 1))
        }
    });
    StreamBody::new(chunks)
}

#[tokio::test]
async fn graceful_shutdown_finishes_streams_then_request_then_app_teardown() {
    let _serial = serial().await;
    let server = App::new()
        .get("/slow", slow_stream)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    assert_eq!(
        events(),
        ["pool:open", "cache:open"],
        "app scope is set up at start"
    );
    let mut connection = connect(server.local_addr()).await;
    let response = connection.get("/slow").await;
    assert_eq!(response.status(), 200);
    let reader =
        tokio::spawn(async move { response.into_body().collect().await.map(|b| b.to_bytes()) });
    tokio::time::sleep(Duration::from_millis(20)).await;
    log("shutdown");
    server.shutdown().await;
    let body = reader.await.unwrap().unwrap();
    assert_eq!(
        body,
        "cache over pool 0;cache over pool 1;cache over pool 2;"
    );
    assert_eq!(
        events(),
        [
            "pool:open",
            "cache:open",
            "req:open",
            "shutdown",
            "req:close success",
            "cache:close",
            "pool:close app stopped"
        ]
    );
}

// ---------------------------------------------------------------- end of body detection

#[depends]
async fn exact_length(#[dep(session)] s: Held<Session>) -> Response {
    // hyper stops polling once `Content-Length` bytes are written, so the end must be seen
    // after the last frame, not on a final poll.
    let chunks = stream::iter(["ab", "cd"]).map(move |c| {
        let _keep = &s;
        Ok::<_, Infallible>(Bytes::from(c))
    });
    let mut response = StreamBody::new(chunks).into_response();
    response
        .headers_mut()
        .insert("content-length", http::HeaderValue::from_static("4"));
    response
}

#[tokio::test]
async fn exact_content_length_stream_ends_with_success() {
    let _serial = serial().await;
    let server = App::new()
        .get("/exact", exact_length)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut connection = connect(server.local_addr()).await;
    let response = connection.get("/exact").await;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "abcd");
    wait_for("req:close success").await;
    server.settle().await;
    assert_eq!(events(), ["req:open", "req:close success"]);
    connection.close();
    server.shutdown().await;
}

#[depends]
async fn broken_stream(
    #[dep(session)] s: Held<Session>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static> {
    let chunks = stream::iter([
        Ok(Bytes::from("partial")),
        Err(std::io::Error::other("db went away")),
    ])
    .then(move |c| {
        let _keep = s.0;
        async move {
            if c.is_err() {
                // Let the head and the first chunk reach the client first.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            c
        }
    });
    StreamBody::new(chunks)
}

#[tokio::test]
async fn body_error_mid_stream_is_reported_to_request_teardown() {
    let _serial = serial().await;
    let server = App::new()
        .get("/broken", broken_stream)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut connection = connect(server.local_addr()).await;
    let response = connection.get("/broken").await;
    assert_eq!(
        response.status(),
        200,
        "the head was sent before the body failed"
    );
    assert!(
        response.into_body().collect().await.is_err(),
        "the body is cut, not completed"
    );
    wait_for("req:close body error").await;
    server.shutdown().await;
}

// ---------------------------------------------------------------- HTTP/2

#[tokio::test]
async fn http2_streams_and_tears_down_like_http1() {
    let _serial = serial().await;
    let server = App::new()
        .get("/slow", slow_stream)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (mut sender, task) = common::hyper_h2_client(server.local_addr()).await;
    let request = http::Request::get(format!("http://{}/slow", server.local_addr()))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        body,
        "cache over pool 0;cache over pool 1;cache over pool 2;"
    );
    wait_for("req:close success").await;
    task.abort();
    server.shutdown().await;
    let events = events();
    assert!(
        position(&events, "req:close success") < position(&events, "cache:close"),
        "{events:?}"
    );
}

// ---------------------------------------------------------------- max_concurrency

/// Bounds a wait (a broken build fails the test instead of hanging CI).
async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("did not finish within 20 s")
}

/// Lets a streaming body finish when the test says so (`notify_one` keeps a wake-up for a
/// body that is not waiting yet).
static RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[depends(max_concurrency = 1)]
async fn scarce(y: Yield<Session>) {
    log("scarce:open");
    let _ = y.provide(Session("scarce")).await;
    log("scarce:close");
}

#[depends(scope = "handler", max_concurrency = 1)]
async fn scarce_briefly(y: Yield<Session>) {
    log("brief:open");
    let _ = y.provide(Session("brief")).await;
    log("brief:close");
}

fn gated_stream(
    name: &'static str,
    keep: impl Send + Sync + 'static,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, Infallible>> + Send + 'static> {
    let chunks = stream::unfold((keep, 0u32), move |(keep, i)| async move {
        match i {
            0 => Some((Ok(format!("{name} first;")), (keep, 1))),
            1 => {
                RELEASE.notified().await;
                Some((Ok(format!("{name} last;")), (keep, 2)))
            }
            _ => None,
        }
    });
    StreamBody::new(chunks)
}

#[depends]
async fn scarce_stream(
    #[dep(scarce)] s: Held<Session>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, Infallible>> + Send + 'static> {
    gated_stream("scarce", s)
}

#[depends]
async fn brief_stream(
    #[dep(scarce_briefly)] _s: &Session,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, Infallible>> + Send + 'static> {
    gated_stream("brief", ())
}

#[tokio::test]
async fn max_concurrency_holds_a_request_scoped_place_until_the_stream_ends() {
    // FastAPI I06: with `request` scope the second request waits for the first stream's end.
    let _serial = serial().await;
    let server = App::new()
        .get("/scarce", scarce_stream)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut first = connect(server.local_addr()).await;
    let mut response = first.get("/scarce").await;
    let chunk = response
        .body_mut()
        .frame()
        .await
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(chunk, "scarce first;");

    let addr = server.local_addr();
    let second = tokio::spawn(async move {
        let mut connection = connect(addr).await;
        let response = connection.get("/scarce").await;
        log("second: head");
        let _ = within(response.into_body().collect()).await;
        connection.close();
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        events(),
        ["scarce:open"],
        "the second request waits for a place"
    );

    RELEASE.notify_one();
    let _ = within(response.into_body().collect()).await;
    wait_for("second: head").await;
    RELEASE.notify_one();
    within(second).await.unwrap();
    wait_for("scarce:close").await;
    server.settle().await;
    let events = events();
    assert_eq!(count(&events, "scarce:open"), 2, "{events:?}");
    assert!(
        events.iter().position(|e| e == "scarce:close")
            < events.iter().rposition(|e| e == "scarce:open"),
        "the place is given back by the first teardown: {events:?}"
    );
    first.close();
    server.shutdown().await;
}

#[tokio::test]
async fn max_concurrency_of_a_handler_scoped_dependency_frees_its_place_before_the_body() {
    let _serial = serial().await;
    let server = App::new()
        .get("/brief", brief_stream)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut first = connect(server.local_addr()).await;
    let mut response = first.get("/brief").await;
    let chunk = response
        .body_mut()
        .frame()
        .await
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(chunk, "brief first;");

    // The first body is still streaming, yet its `handler`-scoped place is free again.
    let mut second = connect(server.local_addr()).await;
    let mut other = second.get("/brief").await;
    let chunk = other
        .body_mut()
        .frame()
        .await
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(chunk, "brief first;");
    assert_eq!(
        events(),
        ["brief:open", "brief:close", "brief:open", "brief:close"]
    );

    RELEASE.notify_one();
    let _ = within(response.into_body().collect()).await;
    RELEASE.notify_one();
    let _ = within(other.into_body().collect()).await;
    first.close();
    second.close();
    server.shutdown().await;
}

// ------------------------------------------------- small frames ready together leave as one

#[depends]
async fn many_lines(
    #[dep(session)] s: Held<Session>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    let lines = (0..100).map(move |i| Ok(Bytes::from(format!("{} {i}\n", s.0))));
    StreamBody::new(stream::iter(lines))
}

#[depends]
async fn released_lines(
    #[dep(session)] s: Held<Session>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    let lines = stream::unfold((s, 0u32), |(s, i)| async move {
        match i {
            0 => {}
            1 => RELEASE.notified().await,
            _ => return None,
        }
        Some((Ok(Bytes::from(format!("{} {i}\n", s.0))), (s, i + 1)))
    });
    StreamBody::new(lines)
}

/// A raw HTTP/1.1 connection that sent `GET path` (and `Connection: close`).
async fn raw_get(addr: SocketAddr, path: &str) -> TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// The chunks of a chunked response body, as sent (`raw` holds the whole response), and
/// whether the last chunk closed the body.
fn chunks_of(raw: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let mut rest = &raw[head_end + 4..];
    let mut chunks = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16)
            .expect("a chunk size");
        if size == 0 {
            return (chunks, true);
        }
        let data = &rest[line_end + 2..];
        chunks.push(data[..size].to_vec());
        rest = &data[size + 2..];
    }
    (chunks, false)
}

#[tokio::test]
async fn small_frames_ready_together_leave_in_few_chunks_and_the_body_is_unchanged() {
    use tokio::io::AsyncReadExt;
    let _serial = serial().await;
    let app = || App::new().get("/lines", many_lines);
    let server = app().bind("127.0.0.1:0").await.unwrap();
    let mut raw = Vec::new();
    within(
        raw_get(server.local_addr(), "/lines")
            .await
            .read_to_end(&mut raw),
    )
    .await
    .unwrap();
    let (chunks, ended) = chunks_of(&raw);
    assert!(ended, "the body was completed");
    let expected: String = (0..100).map(|i| format!("db {i}\n")).collect();
    assert_eq!(String::from_utf8(chunks.concat()).unwrap(), expected);
    assert!(
        chunks.len() <= 2,
        "100 lines ready at once leave in a chunk or two, not one each: {} chunks",
        chunks.len()
    );
    wait_for("req:close success").await;
    server.shutdown().await;

    // In process (the app as a `tower::Service`), the body yields each item as it was made.
    let running = app().start().await.unwrap();
    let response = running
        .service()
        .call_request(
            http::Request::get("/lines")
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await;
    let mut body = response.into_body();
    let mut frames = 0;
    while let Some(frame) = body.frame().await {
        frame.unwrap();
        frames += 1;
    }
    assert_eq!(frames, 100);
    running.shutdown().await;
}

#[tokio::test]
async fn a_frame_is_sent_without_waiting_for_the_next() {
    use tokio::io::AsyncReadExt;
    let _serial = serial().await;
    let server = App::new()
        .get("/released", released_lines)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut stream = raw_get(server.local_addr(), "/released").await;
    let mut raw = Vec::new();
    // The first line arrives while the second is not ready (it waits for `RELEASE`).
    within(async {
        while !String::from_utf8_lossy(&raw).contains("db 0\n") {
            let mut buf = [0u8; 1024];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the connection closed before the first line");
            raw.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    RELEASE.notify_one();
    within(stream.read_to_end(&mut raw)).await.unwrap();
    let (chunks, ended) = chunks_of(&raw);
    assert!(ended);
    assert_eq!(chunks, [b"db 0\n".to_vec(), b"db 1\n".to_vec()]);
    wait_for("req:close success").await;
    server.shutdown().await;
}

// ---------------------------------------------------------------- HEAD over HTTP/2

#[depends]
async fn fine_full() -> &'static str {
    "fifteen bytes!!"
}

#[tokio::test]
async fn head_over_http2_sends_the_head_only_with_the_length_and_tears_down_with_success() {
    let _serial = serial().await;
    let server = App::new()
        .get("/full", fine_full)
        .get("/lines", many_lines)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (mut sender, task) = common::hyper_h2_client(server.local_addr()).await;
    for (path, length) in [("/full", Some("15")), ("/lines", None)] {
        let request = http::Request::head(format!("http://{}{path}", server.local_addr()))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = within(sender.send_request(request)).await.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response
                .headers()
                .get("content-length")
                .map(|v| v.to_str().unwrap()),
            length,
            "{path}: the length of the body a GET would have sent, when known"
        );
        let body = within(response.into_body().collect())
            .await
            .unwrap()
            .to_bytes();
        assert!(body.is_empty(), "{path}: no body for a HEAD: {body:?}");
    }
    // The stream's `request`-scoped session saw a bodiless response: a success.
    wait_for("req:close success").await;
    assert_eq!(count(&events(), "req:close success"), 1, "{:?}", events());
    task.abort();
    server.shutdown().await;
}

// ------------------------------------------------ a client that stops reading is cut

struct Pooled;

/// One place in the whole app: what a stalled reader must not keep.
#[depends(max_concurrency = 1)]
async fn pooled(y: Yield<Pooled>) {
    log("pooled:open");
    let (_pooled, outcome) = y.provide(Pooled).await;
    let told = match &outcome {
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        other => other.to_string(),
    };
    log(format!("pooled:close {told}"));
}

/// An export that never ends: 16 KiB lines, each ready at once.
#[depends]
async fn endless_export(
    #[dep(pooled)] pooled: Held<Pooled>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    let line = Bytes::from(vec![b'x'; 16 * 1024]);
    StreamBody::new(stream::unfold(pooled, move |pooled| {
        let line = line.clone();
        async move { Some((Ok(line), pooled)) }
    }))
}

fn stall_app() -> App {
    App::new()
        .get("/export", endless_export)
        .send_timeout(Duration::from_millis(300))
        .idle_timeout(Duration::from_millis(300))
        .max_concurrency_wait(Duration::from_secs(10))
}

/// After the stalled reader was cut, a second client gets the place: it waits for it (up to
/// `max_concurrency_wait`) and is served.
async fn a_second_client_gets_the_place(addr: SocketAddr) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut other = TcpStream::connect(addr).await.unwrap();
    other
        .write_all(b"GET /export HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(10), other.read_exact(&mut head))
        .await
        .expect("answered once the stalled response was cut")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let events = events();
    assert_eq!(
        count(&events, "pooled:close cancelled client gone"),
        1,
        "{events:?}"
    );
}

/// Serves `app` (a [`stall_app`]) to an HTTP/1 client that reads the head and a little of
/// `/export`, then stops reading and keeps its connection open, until the response is cut and
/// its teardowns see the client gone; then, if `then_another`, a second client gets the place.
async fn an_http1_stall_is_cut(app: App, then_another: bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = app.bind("127.0.0.1:0").await.unwrap();
    let mut stalled = TcpStream::connect(server.local_addr()).await.unwrap();
    stalled
        .write_all(b"GET /export HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    stalled.read_exact(&mut [0u8; 1024]).await.unwrap();
    wait_for("pooled:close cancelled client gone").await;
    if then_another {
        a_second_client_gets_the_place(server.local_addr()).await;
    }
    drop(stalled);
    server.shutdown().await;
}

/// [`an_http1_stall_is_cut`] over HTTP/2: a live client (it answers pings) that never reads
/// its stream, so its window stays shut.
async fn an_http2_stall_is_cut(app: App, then_another: bool) {
    let server = app.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let (mut client, driver) = h2_client(
        TcpStream::connect(addr).await.unwrap(),
        &h2::client::Builder::new(),
    )
    .await;
    let _unread = h2_get(&mut client, addr, "/export").await;
    wait_for("pooled:close cancelled client gone").await;
    if then_another {
        a_second_client_gets_the_place(addr).await;
    }
    driver.abort();
    server.shutdown().await;
}

/// An HTTP/1 client that reads the head and a little, then stops reading and keeps its
/// connection open, is cut after `send_timeout`: its response's teardowns run (the client is
/// gone) and its `max_concurrency` place comes back. Without the limit it held both for as
/// long as it kept the connection.
#[tokio::test]
async fn an_http1_client_that_stops_reading_is_cut_after_the_send_timeout() {
    let _serial = serial().await;
    an_http1_stall_is_cut(stall_app(), true).await;
}

/// The same over HTTP/2: a live client (it answers pings) that never reads its stream, so
/// its window stays shut.
#[tokio::test]
async fn an_http2_client_whose_window_stays_shut_is_cut_after_the_send_timeout() {
    let _serial = serial().await;
    an_http2_stall_is_cut(stall_app(), true).await;
}

/// [`stall_app`] with an idle timeout far longer than its send timeout: a connection is looked
/// at for a stalled response by `send_timeout` after a request starts, not first after
/// `idle_timeout` (60 s here, past the test's wait of about 10 s).
fn stall_app_idle_long() -> App {
    stall_app().idle_timeout(Duration::from_secs(60))
}

/// The send timeout is kept on a connection whose idle timeout is longer: HTTP/1.
#[tokio::test]
async fn a_send_timeout_shorter_than_the_idle_timeout_cuts_an_http1_stall_in_time() {
    let _serial = serial().await;
    an_http1_stall_is_cut(stall_app_idle_long(), false).await;
}

/// The same over HTTP/2.
#[tokio::test]
async fn a_send_timeout_shorter_than_the_idle_timeout_cuts_an_http2_stall_in_time() {
    let _serial = serial().await;
    an_http2_stall_is_cut(stall_app_idle_long(), false).await;
}

#[depends]
async fn pong() -> &'static str {
    "pong"
}

/// GETs `/pong` on an HTTP/2 connection and reads the answer in full, giving its window back.
async fn h2_pong(client: &mut h2::client::SendRequest<Bytes>, addr: SocketAddr) {
    let request = http::Request::get(format!("http://{addr}/pong"))
        .body(())
        .unwrap();
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .unwrap();
    let response = client.send_request(request, true).unwrap().0;
    let response = tokio::time::timeout(Duration::from_secs(5), response)
        .await
        .expect("the connection goes on serving")
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut read = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        read.extend_from_slice(&chunk);
    }
    assert_eq!(read, b"pong");
}

/// The send timeout holds per HTTP/2 stream: a client that keeps one stream's window shut
/// while it goes on using the connection (a request every 100 ms, each read in full) has that
/// stream cut (reset) after `send_timeout`, its teardowns see the client gone, and the rest of
/// the connection goes on being served. The stall was timed per connection, restarted by every
/// other stream's frames and ends: the stalled stream was never cut and held its
/// `max_concurrency` place (a pooled database connection) for as long as the client kept the
/// connection busy.
#[tokio::test]
async fn an_http2_stream_whose_window_stays_shut_is_cut_while_its_connection_goes_on() {
    let _serial = serial().await;
    let server = stall_app()
        .get("/pong", pong)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    // A connection window larger than a stream's: the unread stream shuts its own window only.
    let (mut client, driver) = h2_client(
        TcpStream::connect(addr).await.unwrap(),
        h2::client::Builder::new().initial_connection_window_size(1 << 22),
    )
    .await;
    let mut unread = h2_get(&mut client, addr, "/export").await;
    let started = tokio::time::Instant::now();
    let mut served = 0;
    while !events()
        .iter()
        .any(|e| e == "pooled:close cancelled client gone")
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the stalled stream was never cut ({served} other requests served): {:?}",
            events()
        );
        h2_pong(&mut client, addr).await;
        served += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Between `send_timeout` and `send_timeout` + `idle_timeout` (600 ms), with room for a
    // loaded machine.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut after {:?}",
        started.elapsed()
    );
    assert!(served >= 2, "{served}");
    // The connection was not closed for it: it goes on serving.
    for _ in 0..3 {
        h2_pong(&mut client, addr).await;
    }
    // The stalled stream was reset: past what it had buffered, its body ends in an error.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match unread.data().await {
                Some(Ok(_)) => {}
                Some(Err(error)) => break error.reason(),
                None => break None,
            }
        }
    })
    .await
    .expect("the stalled stream ends");
    assert_eq!(ended, Some(h2::Reason::CANCEL));
    // Its `max_concurrency` place came back.
    a_second_client_gets_the_place(addr).await;
    driver.abort();
    server.shutdown().await;
}

/// A client that opens no window for its streams (`initial_window_size(0)`) gets the head of a
/// streamed response, and nothing more: hyper waits for window before it asks the body for its
/// first frame. The stream is still cut after `send_timeout`: its teardowns see the client gone
/// and its `max_concurrency` place comes back. Its clock starts with the head: hyper 1.12 asks
/// the body for its first frame before it waits for window (which starts the clock too), but
/// releases without its fix for hyperium/hyper#4003 wait first, and there a body never asked
/// for a frame was never timed and held its pooled connection for as long as the client liked.
#[tokio::test]
async fn an_http2_stream_whose_window_never_opens_is_cut_after_the_send_timeout() {
    let _serial = serial().await;
    let server = stall_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let (mut client, driver) = h2_client(
        TcpStream::connect(addr).await.unwrap(),
        h2::client::Builder::new().initial_window_size(0),
    )
    .await;
    let _unread = h2_get(&mut client, addr, "/export").await;
    let started = tokio::time::Instant::now();
    wait_for("pooled:close cancelled client gone").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut after {:?}",
        started.elapsed()
    );
    a_second_client_gets_the_place(addr).await;
    driver.abort();
    server.shutdown().await;
}

struct Spare;

/// A `request`-scoped value of the second export, apart from `pooled`'s one place.
#[depends]
async fn spare(y: Yield<Spare>) {
    let (_spare, outcome) = y.provide(Spare).await;
    let told = match &outcome {
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        other => other.to_string(),
    };
    log(format!("spare:close {told}"));
}

/// Another export that never ends, holding `spare`.
#[depends]
async fn spare_export(
    #[dep(spare)] spare: Held<Spare>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    let line = Bytes::from(vec![b'y'; 16 * 1024]);
    StreamBody::new(stream::unfold(spare, move |spare| {
        let line = line.clone();
        async move { Some((Ok(line), spare)) }
    }))
}

/// A client whose connection window is used up by one unread stream, and which asks for a
/// second streamed response on the same connection: the second gets its head, but its first
/// frame never leaves (no connection window; hyper releases without the fix for
/// hyperium/hyper#4003 never ask its body for it). Both streams are cut after `send_timeout`,
/// each one's teardowns seeing the client gone.
#[tokio::test]
async fn http2_streams_starved_of_connection_window_are_cut_after_the_send_timeout() {
    let _serial = serial().await;
    let server = stall_app()
        .get("/spare", spare_export)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    // Default windows (64 KiB each): the first stream's unread data takes the whole
    // connection window.
    let (mut client, driver) = h2_client(
        TcpStream::connect(addr).await.unwrap(),
        &h2::client::Builder::new(),
    )
    .await;
    let mut first = h2_get(&mut client, addr, "/export").await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while first.flow_control().used_capacity() < 65_535 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the first stream takes the whole connection window");
    let _second = h2_get(&mut client, addr, "/spare").await;
    let started = tokio::time::Instant::now();
    wait_for("pooled:close cancelled client gone").await;
    wait_for("spare:close cancelled client gone").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut after {:?}",
        started.elapsed()
    );
    a_second_client_gets_the_place(addr).await;
    driver.abort();
    server.shutdown().await;
}

/// A whole body in one frame (4 MiB), `spare` held until it has been handed over.
#[depends]
async fn big(#[dep(spare)] _spare: &Spare) -> Vec<u8> {
    vec![b'z'; 4 << 20]
}

/// A whole response in one frame, to a client that opens no window for its streams: the
/// response's teardowns see success once its last frame is handed over (the contract's
/// "reached its end"), but hyper holds that frame, and the body, until the stream's window
/// takes it. The stream is cut after `send_timeout` (reset), and its teardowns are not run a
/// second time. The clock stopped at a last frame: the stream, its 4 MiB and its connection
/// (in use, so never closed for being idle) were held for as long as the client liked.
#[tokio::test]
async fn an_http2_stream_whose_last_frame_waits_for_a_shut_window_is_cut() {
    let _serial = serial().await;
    let server = stall_app()
        .get("/big", big)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let (mut client, driver) = h2_client(
        TcpStream::connect(addr).await.unwrap(),
        h2::client::Builder::new().initial_window_size(0),
    )
    .await;
    let mut unread = h2_get(&mut client, addr, "/big").await;
    let ended = tokio::time::timeout(Duration::from_secs(3), unread.data())
        .await
        .expect("the stream whose window stays shut is cut");
    assert_eq!(
        ended.and_then(|ended| ended.err()).and_then(|e| e.reason()),
        Some(h2::Reason::CANCEL)
    );
    server.settle().await;
    logged_once("spare:close success (200)");
    assert_eq!(events().len(), 1, "{:?}", events());
    driver.abort();
    server.shutdown().await;
}

/// An HTTP/1 client that sends its request and never reads holds no teardown: a streamed
/// response is cut after `send_timeout` (hyper asks for its first frame once the head is in its
/// buffer, and that frame starts the clock), and a whole response handed over in one frame has
/// its teardowns run with success (hyper drops the body with its last frame). That last one's
/// connection stays open while hyper's buffer waits for the client (it is not in use: no
/// request's resources are held with it).
#[tokio::test]
async fn an_http1_client_that_never_reads_holds_no_teardown() {
    use tokio::io::AsyncWriteExt;
    let _serial = serial().await;
    let server = stall_app()
        .get("/big", big)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut clients = Vec::new();
    for (path, closed) in [
        ("/export", "pooled:close cancelled client gone"),
        ("/big", "spare:close success (200)"),
    ] {
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        wait_for(closed).await;
        clients.push(stalled);
    }
    a_second_client_gets_the_place(addr).await;
    drop(clients);
    server.shutdown().await;
}

/// A client connected with a small receive buffer, so that the kernel takes little of a big
/// response for it: the rest stays in the server's buffers.
async fn connect_small_window(addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Asserts that `event` was logged exactly once.
fn logged_once(event: &str) {
    let events = events();
    assert_eq!(count(&events, event), 1, "{events:?}");
}

/// Waits (up to 5 s) until the server has no connection open.
async fn no_connection_left(server: &di_runtime::Server) {
    let started = tokio::time::Instant::now();
    while server.metrics().open_connections > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{} connection(s) still open after {:?}",
            server.metrics().open_connections,
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A new connection, served: the head of `/big` arrives.
async fn a_new_connection_is_served(addr: SocketAddr) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut other = TcpStream::connect(addr).await.unwrap();
    other
        .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), other.read_exact(&mut head))
        .await
        .expect("a new connection is served")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
}

/// An HTTP/1 client that never reads a whole response handed over in one frame (4 MiB): its
/// request has ended (the teardowns ran), but hyper holds what the client has not taken in its
/// write buffer, and the graceful close (the idle timeout's, or the one that makes room for a
/// new connection) waits for it to be flushed. The connection is cut once it has written
/// nothing for `send_timeout` while closing: it held a connection place and megabytes for as
/// long as the client liked, and with `max_connections(1)` no other client was ever served.
#[tokio::test]
async fn an_http1_client_that_never_reads_a_whole_body_is_cut_once_closing() {
    use tokio::io::AsyncWriteExt;
    let _serial = serial().await;
    // Closed for being idle, then to make room for a new connection (idle timeout too long).
    for idle_timeout in [Duration::from_millis(300), Duration::from_secs(60)] {
        let server = stall_app()
            .get("/big", big)
            .idle_timeout(idle_timeout)
            .max_connections(1)
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addr();
        let mut stalled = connect_small_window(addr).await;
        stalled
            .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        wait_for("spare:close success (200)").await;
        common::clear();
        if idle_timeout < Duration::from_secs(1) {
            no_connection_left(&server).await;
        }
        a_new_connection_is_served(addr).await;
        drop(stalled);
        server.shutdown().await;
    }
}

/// A client that reads a whole 4 MiB response slowly but steadily, for longer than
/// `idle_timeout` + `send_timeout`, is not cut while its connection is closing: it gets all of
/// it. (Steadily enough that the server's socket makes room for more within `send_timeout`:
/// the kernel wakes the writer once a third of its send buffer, up to 4 MiB, is free.)
#[tokio::test]
async fn an_http1_client_reading_a_whole_body_slowly_is_not_cut_once_closing() {
    use tokio::io::AsyncWriteExt;
    let _serial = serial().await;
    let server = stall_app()
        .get("/big", big)
        .send_timeout(Duration::from_secs(1))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // About 2 MiB a second: 2 s for the body. The connection is then closed for being idle.
    let (received, took) =
        read_h1_steadily(&mut slow, Steady::new(Duration::from_millis(30))).await;
    assert_eq!(received.len() - body_start(&received), 4 << 20);
    assert!(
        took > Duration::from_millis(1500),
        "read too fast to test anything: {took:?}"
    );
    drop(slow);
    server.shutdown().await;
}

/// The same over HTTP/2: a whole 4 MiB response to a client that never reads it. hyper hands
/// the frame to h2 as soon as the stream's window has room for a byte, and the response ends
/// (its teardowns run); h2 holds the rest until the client opens its window, and its graceful
/// close (`GOAWAY`) waits for it. The connection is cut `send_timeout` after the close.
#[tokio::test]
async fn an_http2_client_that_never_reads_a_whole_body_is_cut_once_closing() {
    let _serial = serial().await;
    let server = stall_app()
        .get("/big", big)
        .max_connections(1)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let (mut client, driver) = h2_client(
        connect_small_window(addr).await,
        &h2::client::Builder::new(),
    )
    .await;
    let _unread = h2_get(&mut client, addr, "/big").await;
    wait_for("spare:close success (200)").await;
    common::clear();
    no_connection_left(&server).await;
    a_new_connection_is_served(addr).await;
    driver.abort();
    server.shutdown().await;
}

/// The same over HTTP/2: a client that takes a whole 4 MiB body steadily (about 2 MiB a
/// second, its window released as it reads) is not cut when the connection closes (its idle
/// timeout, 300 ms) while h2 still holds most of the body: the response has ended for hyper,
/// but data still leaves the socket. (It was cut a second after the close.)
#[tokio::test]
async fn an_http2_client_reading_a_whole_body_slowly_is_not_cut_once_closing() {
    let _serial = serial().await;
    let server = stall_app()
        .get("/big", big)
        .send_timeout(Duration::from_secs(1))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let (mut client, driver) = h2_client(
        connect_small_window(addr).await,
        &h2::client::Builder::new(),
    )
    .await;
    let mut body = h2_get(&mut client, addr, "/big").await;
    // About 2 MiB a second: 2 s for the body.
    let (received, took) =
        read_h2_steadily(&mut body, Steady::new(Duration::from_millis(30))).await;
    assert_eq!(received.len(), 4 << 20);
    assert!(
        took > Duration::from_millis(1500),
        "read too fast to test anything: {took:?}"
    );
    driver.abort();
    server.shutdown().await;
}

/// Three lines, each 600 ms after the last, the first 600 ms after the head: a stream that
/// waits for its own next item.
#[depends]
async fn slow_events(
    #[dep(pooled)] pooled: Held<Pooled>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    StreamBody::new(stream::unfold((pooled, 0u8), |(pooled, n)| async move {
        if n == 3 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
        Some((Ok(Bytes::from(format!("event {n}\n"))), (pooled, n + 1)))
    }))
}

/// A stream that waits for its own next item longer than `send_timeout`, to a client that
/// reads everything, is never cut for it: the limit counts only while a frame waits for the
/// client.
#[tokio::test]
async fn a_stream_waiting_for_its_next_item_is_not_cut_by_the_send_timeout() {
    let _serial = serial().await;
    let server = App::new()
        .get("/events", slow_events)
        .send_timeout(Duration::from_millis(300))
        .idle_timeout(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(format!("http://{addr}/events"))
        .header("host", "x")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"event 0\nevent 1\nevent 2\n");
    server.settle().await;
    logged_once("pooled:close success (200)");
    server.shutdown().await;
}

/// The same over HTTP/2, where the stream's clock starts with its head: a body slow to give
/// its first item (asked, and waiting) is not cut either.
#[tokio::test]
async fn an_http2_stream_waiting_for_its_next_item_is_not_cut_by_the_send_timeout() {
    let _serial = serial().await;
    let server = App::new()
        .get("/events", slow_events)
        .send_timeout(Duration::from_millis(300))
        .idle_timeout(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let (mut sender, driver) = common::hyper_h2_client(addr).await;
    let request = http::Request::get(format!("http://{addr}/events"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"event 0\nevent 1\nevent 2\n");
    server.settle().await;
    logged_once("pooled:close success (200)");
    driver.abort();
    server.shutdown().await;
}

// ------------------------------------------------ HTTP/2 streams at shutdown

struct AppRes;

#[depends(scope = "app")]
async fn app_res(y: Yield<AppRes>) {
    let _ = y.provide(AppRes).await;
    log("app:close");
}

/// An export that never ends, holding a `request`-scoped value.
#[depends]
async fn endless_held(
    #[dep(app_res)] _r: &AppRes,
    #[dep(pooled)] pooled: Held<Pooled>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    let line = Bytes::from(vec![b'x'; 16 * 1024]);
    StreamBody::new(stream::unfold(pooled, move |pooled| {
        let line = line.clone();
        async move { Some((Ok(line), pooled)) }
    }))
}

/// An HTTP/2 stream cut at shutdown (its client reads nothing) is torn down before `app`
/// scope and before `shutdown()` returns, whether its client leaves before the grace ends or
/// after the stream was cut. hyper runs each HTTP/2 stream as a task of its own, which shutdown
/// did not wait for: the stream's teardowns could run after `app` scope was gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_stream_cut_at_shutdown_is_torn_down_before_app_scope() {
    let _serial = serial().await;
    for hold in [Duration::from_millis(300), Duration::from_millis(1500)] {
        common::clear();
        let server = App::new()
            .get("/export", endless_held)
            .shutdown_grace(Duration::from_millis(100))
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addr();
        let (mut client, driver) = h2_client(
            TcpStream::connect(addr).await.unwrap(),
            &h2::client::Builder::new(),
        )
        .await;
        let unread = h2_get(&mut client, addr, "/export").await;
        let shutdown = tokio::spawn(async move {
            server.shutdown().await;
            log("shutdown returned");
        });
        tokio::time::sleep(hold).await;
        drop(unread);
        drop(client);
        driver.abort();
        shutdown.await.unwrap();
        let events = events();
        let closed = position(&events, "pooled:close cancelled shutdown");
        assert!(
            closed < position(&events, "app:close")
                && closed < position(&events, "shutdown returned"),
            "held {hold:?}: {events:?}"
        );
    }
}

/// The size of each of [`big_then_more`]'s two large chunks.
const BIG_CHUNK: usize = 4 << 20;

/// A streamed body of two 4 MiB chunks (files read whole, one chunk each), then a line.
#[depends]
async fn big_then_more(
    #[dep(spare)] _spare: &Spare,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    let chunk = Bytes::from(vec![b'z'; BIG_CHUNK]);
    StreamBody::new(stream::iter([
        Ok(chunk.clone()),
        Ok(chunk),
        Ok(Bytes::from_static(b"end\n")),
    ]))
}

/// The app of the large-chunk tests: a send timeout of half a second, checked at least every
/// 300 ms (the idle timeout).
fn big_chunk_app() -> App {
    App::new()
        .get("/big-then-more", big_then_more)
        .send_timeout(Duration::from_millis(500))
        .idle_timeout(Duration::from_millis(300))
}

/// A reader's pace: a pause after each 64 KiB read (15 ms: about 4 MiB a second), or after
/// each `every` bytes ([`Steady::every`]).
struct Steady {
    pause: Duration,
    every: usize,
    since_pause: usize,
    /// An HTTP/1 reader stops once what it received ends with this (a kept-alive connection's
    /// chunked body), not only at the connection's end.
    until: Option<&'static [u8]>,
}

impl Steady {
    fn new(pause: Duration) -> Self {
        Self::every(64 * 1024, pause)
    }

    fn every(every: usize, pause: Duration) -> Self {
        Self {
            pause,
            every,
            since_pause: 0,
            until: None,
        }
    }

    /// Stops at the end of a chunked body.
    fn until_chunked_end(mut self) -> Self {
        self.until = Some(b"\r\n0\r\n\r\n");
        self
    }

    async fn took(&mut self, read: usize) {
        self.since_pause += read;
        while self.since_pause >= self.every {
            self.since_pause -= self.every;
            tokio::time::sleep(self.pause).await;
        }
    }
}

/// Reads an HTTP/2 response body to its end at `steady`'s pace, its window given back as it
/// reads: the body, and how long it took. Panics, saying when, if the stream is cut or nothing
/// comes for 5 s.
async fn read_h2_steadily(body: &mut h2::RecvStream, mut steady: Steady) -> (Vec<u8>, Duration) {
    let started = tokio::time::Instant::now();
    let mut received = Vec::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), body.data())
        .await
        .expect("the response keeps coming")
    {
        let chunk = chunk.unwrap_or_else(|error| {
            panic!(
                "cut after {:?}, {} bytes: {error}",
                started.elapsed(),
                received.len()
            )
        });
        let _ = body.flow_control().release_capacity(chunk.len());
        received.extend_from_slice(&chunk);
        steady.took(chunk.len()).await;
    }
    (received, started.elapsed())
}

/// Reads an HTTP/1 connection until the server closes it, at `steady`'s pace: everything
/// read, and how long it took. Panics, saying when, if the connection is cut or nothing comes
/// for 5 s.
async fn read_h1_steadily(stream: &mut TcpStream, mut steady: Steady) -> (Vec<u8>, Duration) {
    use tokio::io::AsyncReadExt;
    let started = tokio::time::Instant::now();
    let mut received = Vec::new();
    let mut buffer = vec![0u8; steady.every.min(64 * 1024)];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("the response keeps coming")
            .unwrap_or_else(|error| {
                panic!(
                    "cut after {:?}, {} bytes: {error}",
                    started.elapsed(),
                    received.len()
                )
            });
        if read == 0 {
            return (received, started.elapsed());
        }
        received.extend_from_slice(&buffer[..read]);
        if steady.until.is_some_and(|end| received.ends_with(end)) {
            return (received, started.elapsed());
        }
        steady.took(read).await;
    }
}

/// Where the body of an HTTP/1 response read whole begins.
fn body_start(response: &[u8]) -> usize {
    response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4
}

/// An HTTP/1 client that reads a streamed response steadily, about 4 MiB a second, gets the
/// whole of it although each of its large chunks takes longer than `send_timeout` to leave:
/// the limit is on the client taking nothing, not on a chunk's size. (hyper asks for the next
/// frame only once most of a chunk has left: the first 4 MiB chunk held the clock for about a
/// second and the response was cut after half of one.)
#[tokio::test]
async fn an_http1_client_reading_a_large_chunk_steadily_is_not_cut() {
    use tokio::io::AsyncWriteExt;
    let _serial = serial().await;
    let server = big_chunk_app().bind("127.0.0.1:0").await.unwrap();
    let mut client = connect_small_window(server.local_addr()).await;
    client
        .write_all(b"GET /big-then-more HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (received, took) =
        read_h1_steadily(&mut client, Steady::new(Duration::from_millis(15))).await;
    let body = common::dechunk(&received[body_start(&received)..]);
    assert_eq!(body.len(), 2 * BIG_CHUNK + 4, "cut after {took:?}");
    assert!(body.ends_with(b"end\n"));
    server.settle().await;
    logged_once("spare:close success (200)");
    common::clear();
    server.shutdown().await;
}

/// A streamed body of one 4 MiB chunk (a file read whole).
#[depends]
async fn many_chunks(
    #[dep(spare)] _spare: &Spare,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    StreamBody::new(stream::iter([Ok(Bytes::from(vec![b'w'; 4 << 20]))]))
}

/// An HTTP/1 client on an ordinary socket (whose buffers Linux grows to megabytes) that reads
/// a streamed response slowly but steadily, 8 KiB every 20 ms (about 400 KiB a second, above
/// the 256 KiB per `send_timeout` the README promises), gets the whole of it on a kept-alive
/// connection. Before, it was cut about 260 KiB before the end: once the body's last slice had
/// gone to the connection the request was over, the idle connection was asked to close, and
/// its close waited for the socket to take something for `send_timeout`; the kernel woke the
/// server to write only once about a third of the socket's send buffer had left, more than
/// the client read in a second. The socket now holds little unsent (`TCP_NOTSENT_LOWAT`), so
/// the server writes as the client reads.
#[tokio::test]
async fn an_http1_client_reading_slowly_but_steadily_with_a_large_socket_buffer_is_not_cut() {
    use tokio::io::AsyncWriteExt;
    let _serial = serial().await;
    let server = App::new()
        .get("/many-chunks", many_chunks)
        .send_timeout(Duration::from_secs(1))
        .idle_timeout(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut client = TcpStream::connect(server.local_addr()).await.unwrap();
    client
        .write_all(b"GET /many-chunks HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // 8 KiB every 20 ms: about 400 KiB a second.
    let (received, took) = read_h1_steadily(
        &mut client,
        Steady::every(8 * 1024, Duration::from_millis(20)).until_chunked_end(),
    )
    .await;
    let body = common::dechunk(&received[body_start(&received)..]);
    assert_eq!(body.len(), 4 << 20, "cut after {took:?}");
    server.settle().await;
    logged_once("spare:close success (200)");
    common::clear();
    server.shutdown().await;
}

/// The same over HTTP/2: h2 holds a chunk hyper hands it and gives hyper room for the next
/// only once most of it has left.
#[tokio::test]
async fn an_http2_client_reading_a_large_chunk_steadily_is_not_cut() {
    let _serial = serial().await;
    let server = big_chunk_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let (mut client, driver) = h2_client(
        connect_small_window(addr).await,
        &h2::client::Builder::new(),
    )
    .await;
    let mut body = h2_get(&mut client, addr, "/big-then-more").await;
    let (received, _) = read_h2_steadily(&mut body, Steady::new(Duration::from_millis(15))).await;
    assert_eq!(received.len(), 2 * BIG_CHUNK + 4);
    assert!(received.ends_with(b"end\n"));
    server.settle().await;
    logged_once("spare:close success (200)");
    common::clear();
    driver.abort();
    server.shutdown().await;
}
