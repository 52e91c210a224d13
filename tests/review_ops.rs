//! A code review of the server's configuration and operations, as an operator running it in
//! production sees them: settings that would make the server unusable, what the `metrics`
//! export counts, and what the log lines of the server say.

mod common;

use std::time::Duration;

use di_runtime::prelude::*;

#[depends]
async fn hello() -> &'static str {
    "hello"
}

// ------------------------------------------------------------------ settings that stop it all

/// `max_in_flight(0)` was accepted: the server started, and every request was shed with 503,
/// none ever handled. `check` refuses it, naming the setting and what to write.
#[tokio::test]
async fn a_zero_max_in_flight_is_refused_with_what_to_write() {
    let app = App::new().get("/", hello).max_in_flight(0);
    assert_eq!(
        common::problems(&app),
        [
            "`App::max_in_flight(0)`: every request would be shed with 503, none ever handled; give the number of requests handled at once (1 or more), or leave it unset for no limit"
        ]
    );
    assert!(
        TestClient::start(app).await.is_err(),
        "start refuses it too"
    );

    // One is a limit like any other.
    let client = TestClient::start(App::new().get("/", hello).max_in_flight(1))
        .await
        .expect("starts");
    assert_eq!(client.get("/").send().await.status(), 200);
    client.shutdown().await;
}

/// `send_timeout(Duration::ZERO)` was accepted: every response whose client had not taken a
/// frame by the connection's next look was cut. `check` refuses it, as it refuses a zero
/// idle or header-read timeout.
#[tokio::test]
async fn a_zero_send_timeout_is_refused_with_what_to_write() {
    let app = App::new().get("/", hello).send_timeout(Duration::ZERO);
    assert_eq!(
        common::problems(&app),
        [
            "`App::send_timeout(Duration::ZERO)`: every response the client does not take at once would be cut, its connection closed; give the time a client may take nothing of a response (default 60 s)"
        ]
    );
    let refused = App::new()
        .get("/", hello)
        .send_timeout(Duration::ZERO)
        .bind("127.0.0.1:0")
        .await;
    assert!(refused.is_err(), "bind refuses it too");
    App::new()
        .get("/", hello)
        .send_timeout(Duration::from_millis(1))
        .check()
        .expect("a short one is a time like any other");
}

// ------------------------------------------------------------------ what the metrics count

/// Waits (bounded) until `done` holds of the server's metrics; fails the test with the last
/// metrics seen otherwise.
/// The servers of this file, one at a time: a test that reaches the connection limit, or logs,
/// with no subscriber on its thread while another captures its own lines could leave them
/// unseen (tracing caches whether a callsite is enabled for every thread at once).
async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    common::serial().await
}

async fn until_metrics(server: &di_runtime::Server, done: impl Fn(&di_runtime::Metrics) -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if done(&server.metrics()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "never: {:?}", server.metrics());
}

/// What hyper's HTTP/1 answers by itself, before the app sees a request (a request line it
/// cannot parse, a head past `max_head_size`, a target too long), was not counted in
/// `Metrics::responses` nor in `di_requests_total`, which count "the app's own answers": a
/// client flooding the server with bad heads showed on no dashboard. Each is counted by its
/// status now.
#[tokio::test]
async fn the_answers_hyper_gives_by_itself_are_counted() {
    let _serial = one_at_a_time().await;
    use tokio::io::AsyncWriteExt;
    let server = App::new()
        .get("/", hello)
        .bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = server.local_addr();
    let huge_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "p".repeat(70 * 1024));
    let sent = [
        (b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), "400"),
        (huge_header.into_bytes(), "431"),
        (long_target.into_bytes(), "414"),
    ];
    for (request, status) in &sent {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        // The server may answer and close before all of a large head is written.
        let _ = stream.write_all(request).await;
        let answer = common::read_to_close(&mut stream).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{status}: {answer:?}"
        );
    }
    until_metrics(&server, |metrics| metrics.responses_total() == 3).await;
    let metrics = server.metrics();
    for status in [
        StatusCode::BAD_REQUEST,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        StatusCode::URI_TOO_LONG,
    ] {
        assert_eq!(metrics.responses_with(status), 1, "{status}: {metrics:?}");
    }
    // A client that closes before its head ends got no answer: nothing counted.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET / HTT").await.unwrap();
    drop(stream);
    assert_eq!(
        common::within(async { reqwest_free_get(addr).await }).await,
        "hello"
    );
    until_metrics(&server, |metrics| {
        metrics.responses_with(StatusCode::OK) == 1
    })
    .await;
    assert_eq!(server.metrics().responses_total(), 4);
    server.shutdown().await;
}

/// A plain HTTP/1.1 GET of `/` over a fresh connection: its body.
async fn reqwest_free_get(addr: std::net::SocketAddr) -> String {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = common::read_to_close(&mut stream).await;
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

static RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();
static STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[depends]
async fn busy() -> &'static str {
    STARTED.store(true, std::sync::atomic::Ordering::SeqCst);
    RELEASE.notified().await;
    "done"
}

/// A server at its connection limit of one: the one place taken by a request to `/busy` in
/// progress (never closed to make room), until [`RELEASE`]. Returns that request's connection.
async fn at_the_limit() -> (di_runtime::Server, tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    STARTED.store(false, std::sync::atomic::Ordering::SeqCst);
    let server = App::new()
        .get("/busy", busy)
        .get("/", hello)
        .max_connections(1)
        .bind("127.0.0.1:0")
        .await
        .expect("binds");
    let mut first = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    first
        .write_all(b"GET /busy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    common::within(async {
        while !STARTED.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    (server, first)
}

/// At `max_connections` the server accepts one more connection and holds it unserved until
/// there is room: its socket is open, a descriptor of the process, but `open_connections`
/// (`di_connections_open`) left it out, so the gauge read the limit while one more was open.
/// It counts from when it is accepted now, and once served it is counted once.
#[tokio::test]
async fn a_connection_held_at_the_connection_limit_is_counted_open() {
    let _serial = one_at_a_time().await;
    let (server, mut first) = at_the_limit().await;
    let addr = server.local_addr();
    assert_eq!(server.metrics().open_connections, 1);
    // The next is accepted and held.
    let second = tokio::spawn(reqwest_free_get(addr));
    until_metrics(&server, |metrics| metrics.open_connections == 2).await;
    RELEASE.notify_one();
    assert!(common::read_to_close(&mut first).await.ends_with("done"));
    assert_eq!(common::within(second).await.unwrap(), "hello");
    until_metrics(&server, |metrics| metrics.open_connections == 0).await;
    server.shutdown().await;
}

// ------------------------------------------------------------------ what the log lines say

/// An export that never ends: 16 KiB lines, each ready at once.
#[depends]
async fn endless() -> StreamBody<
    impl futures_util::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Send + 'static,
> {
    let line = bytes::Bytes::from(vec![b'x'; 16 * 1024]);
    StreamBody::new(futures_util::stream::repeat_with(move || Ok(line.clone())))
}

/// The export, its clients cut after 300 ms of taking nothing.
fn stall_app() -> App {
    App::new()
        .get("/export", endless)
        .send_timeout(Duration::from_millis(300))
        .idle_timeout(Duration::from_millis(300))
}

/// Waits (bounded) for the WARN line that says the send timeout cut a response.
async fn send_timeout_line(captured: &common::Captured) -> String {
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(line) = captured
                .at_level("WARN")
                .into_iter()
                .find(|line| line.contains("send timeout"))
            {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no send timeout line: {:#?}", captured.lines()))
}

/// The WARN a response cut by the send timeout gets said nothing of which request it was:
/// every other per-request line carries the `request_id` the client got back, and an operator
/// could not tell which export's client stopped reading. It carries it now, over HTTP/1...
#[tokio::test]
async fn the_send_timeout_line_names_the_request_over_http1() {
    let _serial = one_at_a_time().await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (captured, _guard) = common::Captured::at(tracing_subscriber::filter::LevelFilter::WARN);
    let server = stall_app().bind("127.0.0.1:0").await.unwrap();
    let mut stalled = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    stalled
        .write_all(b"GET /export HTTP/1.1\r\nHost: x\r\nx-request-id: stalled-export-1\r\n\r\n")
        .await
        .unwrap();
    stalled.read_exact(&mut [0u8; 1024]).await.unwrap();
    let line = send_timeout_line(&captured).await;
    assert!(
        line.contains("closing the connection") && line.contains("request_id=stalled-export-1"),
        "{line}"
    );
    drop(stalled);
    server.shutdown().await;
    assert_eq!(
        captured
            .lines()
            .iter()
            .filter(|line| line.contains("send timeout"))
            .count(),
        1,
        "one line for the one cut: {:#?}",
        captured.lines()
    );
}

/// ... and over HTTP/2, where the stream alone is reset.
#[tokio::test]
async fn the_send_timeout_line_names_the_request_over_http2() {
    let _serial = one_at_a_time().await;
    let (captured, _guard) = common::Captured::at(tracing_subscriber::filter::LevelFilter::WARN);
    let server = stall_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let (mut client, driver) = common::h2_client(
        tokio::net::TcpStream::connect(addr).await.unwrap(),
        &h2::client::Builder::new(),
    )
    .await;
    let request = http::Request::get(format!("http://{addr}/export"))
        .header("x-request-id", "stalled-stream-2")
        .body(())
        .unwrap();
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .unwrap();
    let (answer, _) = client.send_request(request, true).unwrap();
    let response = common::within(answer).await.unwrap();
    assert_eq!(response.status(), 200);
    // Never read: its window stays shut.
    let _unread = response.into_body();
    let line = send_timeout_line(&captured).await;
    assert!(
        line.contains("resetting the stream") && line.contains("request_id=stalled-stream-2"),
        "{line}"
    );
    driver.abort();
    server.shutdown().await;
}

/// `idle_timeout`, `send_timeout` and `header_read_timeout` under a millisecond passed the
/// check that refuses zero, and the server, which counts them in whole milliseconds, took
/// them as zero: with an idle timeout of 500 µs a client that sent its request 5 ms after it
/// connected was never served (20 tries of 20). Each is refused now, saying what to write.
#[tokio::test]
async fn a_connection_time_under_a_millisecond_is_refused_as_zero_is() {
    let app = App::new()
        .get("/", hello)
        .idle_timeout(Duration::from_micros(500))
        .send_timeout(Duration::from_nanos(1))
        .header_read_timeout(Duration::from_micros(999));
    assert_eq!(
        common::problems(&app),
        [
            "`App::idle_timeout` of 500µs: the server counts this time in whole milliseconds, and less than one is none: every connection would be closed before its first request; give 1 ms or more (default 30 s)",
            "`App::send_timeout` of 1ns: the server counts this time in whole milliseconds, and less than one is none: every response the client does not take at once would be cut; give 1 ms or more (default 60 s)",
            "`App::header_read_timeout` of 999µs: the server counts this time in whole milliseconds, and less than one is none: every new connection would be closed before it could send enough to be served; give 1 ms or more (default 30 s)",
        ]
    );
    App::new()
        .get("/", hello)
        .idle_timeout(Duration::from_millis(1))
        .send_timeout(Duration::from_millis(1))
        .header_read_timeout(Duration::from_millis(1))
        .check()
        .expect("a millisecond is a time like any other");
}

/// At `max_connections` new clients wait in the listen backlog, unserved, and nothing above
/// DEBUG said so: an operator whose clients timed out found no line in the log. The server
/// says it at WARN once each time it reaches the limit (not once per connection that waits:
/// again only after a connection was served at once), naming the setting to raise.
#[tokio::test]
async fn reaching_the_connection_limit_is_said_once_at_warn() {
    let _serial = one_at_a_time().await;
    let (captured, _guard) = common::Captured::at(tracing_subscriber::filter::LevelFilter::WARN);
    let (server, mut first) = at_the_limit().await;
    let addr = server.local_addr();
    assert!(
        captured.at_level("WARN").is_empty(),
        "{:#?}",
        captured.lines()
    );
    // The next is held; the server looks at its limit again each time it makes room.
    let second = tokio::spawn(reqwest_free_get(addr));
    until_metrics(&server, |metrics| metrics.open_connections == 2).await;
    RELEASE.notify_one();
    assert!(common::read_to_close(&mut first).await.ends_with("done"));
    assert_eq!(common::within(second).await.unwrap(), "hello");
    server.shutdown().await;
    let said: Vec<String> = captured
        .at_level("WARN")
        .into_iter()
        .filter(|line| line.contains("connection limit reached"))
        .collect();
    assert_eq!(said.len(), 1, "{:#?}", captured.lines());
    assert!(
        said[0].contains("max_connections=1") && said[0].contains("raise `App::max_connections`"),
        "{}",
        said[0]
    );
}

/// At `max_connections`, the connection taken from the backlog once there was room (its
/// request sent long before, waiting in its socket) was the one closed to make room for the
/// next client, before hyper had read a byte of it: it counted as idle before its first
/// request, and hyper's graceful shutdown of a connection that has not yet shown its protocol
/// drops it at once. Its client got its connection closed with no answer, and so did each
/// client after it while more came. A connection never served is now given its first moment
/// (as the server meant to give it): a request it sends then is served, with
/// `Connection: close`, before it closes.
#[tokio::test]
async fn the_connection_let_in_at_the_limit_is_served_before_it_is_closed_for_room() {
    let _serial = one_at_a_time().await;
    let (server, mut first) = at_the_limit().await;
    let addr = server.local_addr();
    // One held at the limit, one in the backlog behind it; both have sent their request.
    let second = tokio::spawn(reqwest_free_get(addr));
    until_metrics(&server, |metrics| metrics.open_connections == 2).await;
    let third = tokio::spawn(reqwest_free_get(addr));
    tokio::time::sleep(Duration::from_millis(50)).await;
    RELEASE.notify_one();
    assert!(common::read_to_close(&mut first).await.ends_with("done"));
    assert_eq!(common::within(second).await.unwrap(), "hello", "the second");
    assert_eq!(common::within(third).await.unwrap(), "hello", "the third");
    server.shutdown().await;
}
