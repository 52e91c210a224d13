//! Probes of the server layer by a hostile client: responses that must go without a body,
//! and what their teardowns see.

mod common;

// Heap counts for `a_body_sent_in_one_byte_chunks_costs_about_its_size_to_read_whole` (no
// `unsafe` of ours); without a running profiler it passes every allocation to the system's.
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

use std::time::Duration;

use bytes::Bytes;
use common::{events, log, serial, within};
use di_runtime::prelude::*;
use futures_util::stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[depends]
async fn req_gen(y: Yield<u8>) {
    log("req:setup");
    let (_, outcome) = y.provide(1).await;
    let what = match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        other => other.to_string(),
    };
    log(format!("req:{what}"));
}

#[depends]
async fn no_content(#[dep(req_gen)] _r: &u8) -> (StatusCode, &'static str) {
    (StatusCode::NO_CONTENT, "a body a 204 must not carry")
}

#[depends]
async fn not_modified(
    #[dep(req_gen)] _r: Held<u8>,
) -> (
    StatusCode,
    StreamBody<
        impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
    >,
) {
    let lines = stream::iter((0..1000).map(|i| Ok(Bytes::from(format!("line {i}\n")))));
    (StatusCode::NOT_MODIFIED, StreamBody::new(lines))
}

fn bodiless_app() -> App {
    App::new().get("/204", no_content).get("/304", not_modified)
}

/// A 204 or 304 has no content (RFC 9110 15.3.5, 15.4.5) whatever the handler put in its
/// body: over HTTP/2 no DATA frame and no `Content-Length` of a body (RFC 9110 8.6: none on a
/// 204), and its `request`-scope teardowns see a success.
#[tokio::test]
async fn a_204_or_304_with_a_body_sends_no_content_over_http2() {
    let _serial = serial().await;
    let server = bodiless_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    for (path, status) in [("/304", 304), ("/204", 204)] {
        common::clear();
        let response = within(common::h2_send_get(&mut client, addr, path).await)
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        let content_length = response.headers().get("content-length").cloned();
        let mut body = response.into_body();
        let mut data = Vec::new();
        while let Some(chunk) = within(body.data()).await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            data.extend_from_slice(&chunk);
        }
        assert!(
            data.is_empty(),
            "{path}: content sent: {:?}",
            String::from_utf8_lossy(&data[..data.len().min(60)])
        );
        if status == 204 {
            assert_eq!(content_length, None, "{path}: Content-Length on a 204");
        }
        server.settle().await;
        assert_eq!(
            events(),
            ["req:setup".to_owned(), format!("req:success {status}")],
            "{path}"
        );
    }
    driver.abort();
    server.shutdown().await;
}

/// The same over HTTP/1 (where hyper drops the body unsent): three pipelined requests on one
/// connection, each answered without content, and the 204 without `Content-Length`.
#[tokio::test]
async fn a_204_or_304_with_a_body_sends_no_content_over_http1_and_keeps_the_connection() {
    let _serial = serial().await;
    let server = bodiless_app().bind("127.0.0.1:0").await.unwrap();
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(
            b"GET /204 HTTP/1.1\r\nhost: t\r\n\r\n\
              GET /304 HTTP/1.1\r\nhost: t\r\n\r\n\
              GET /204 HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let text = common::read_to_close(&mut stream).await;
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(at, _)| &text[at + 9..at + 12])
        .collect();
    assert_eq!(statuses, ["204", "304", "204"], "{text}");
    assert!(
        !text.contains("a body") && !text.contains("line 0"),
        "{text}"
    );
    for response in text.split("HTTP/1.1 ").filter(|r| r.starts_with("204")) {
        assert!(
            !response.to_ascii_lowercase().contains("content-length"),
            "{response}"
        );
    }
    server.settle().await;
    let events = events();
    assert_eq!(common::count(&events, "req:setup"), 3, "{events:?}");
    assert_eq!(common::count(&events, "req:success 204"), 2, "{events:?}");
    assert_eq!(common::count(&events, "req:success 304"), 1, "{events:?}");
    server.shutdown().await;
}

#[depends]
async fn health() -> &'static str {
    "ok"
}

/// A new connection that sends nothing, or part of the HTTP/2 preface (the first bytes, which
/// the server reads before it knows the protocol, under no header-read deadline of hyper's),
/// is closed at the header-read timeout, as one that sends part of an HTTP/1 head is: it was
/// held for the idle timeout (a minute here, past the 8 s the read waits), however much
/// longer. An HTTP/2 client that sent its preface and then waits before its first request is
/// still served (its connection is idle, kept for the idle timeout).
#[tokio::test]
async fn a_connection_silent_from_the_start_or_in_its_preface_is_closed_at_the_header_read_timeout()
{
    let server = App::new()
        .get("/health", health)
        .header_read_timeout(Duration::from_millis(200))
        .idle_timeout(Duration::from_secs(60))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    for (what, sent) in [
        ("nothing", &b""[..]),
        ("part of the HTTP/2 preface", b"PRI * HTTP/2.0\r\n"),
        ("one byte of an HTTP/1 head", b"G"),
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(sent).await.unwrap();
        let text = common::read_to_close(&mut stream).await;
        assert_eq!(text, "", "{what}");
    }
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut body = within(common::h2_get(&mut client, addr, "/health")).await;
    let data = within(body.data()).await.unwrap().unwrap();
    assert_eq!(&data[..], b"ok");
    driver.abort();
    server.shutdown().await;
}

#[depends(scope = "handler")]
async fn hnd_gen(y: Yield<u8>) {
    log("hnd:setup");
    let (_, outcome) = y.provide(1).await;
    let what = match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::HandlerError { status, .. } => format!("error {}", status.as_u16()),
        other => other.to_string(),
    };
    log(format!("hnd:{what}"));
}

/// A handler whose answer has an informational status, which cannot end an exchange.
#[depends]
async fn early_hints(#[dep(req_gen)] _r: &u8, #[dep(hnd_gen)] _h: &u8) -> StatusCode {
    StatusCode::from_u16(103).unwrap()
}

/// A handler that answers with a 1xx status (103 Early Hints as its final answer) gets the
/// client a generic 500 with the request's id, over both protocols, and its teardowns are
/// told so. hyper's HTTP/1 replaced the head with a bare 500 of its own (no `x-request-id`) and
/// broke off the connection, HTTP/2 reset the stream (`PROTOCOL_ERROR`), while every teardown
/// was told `Success(103)` and the metrics counted a 103.
#[tokio::test]
async fn a_handler_answering_with_a_1xx_status_is_a_generic_500_and_its_teardowns_are_told() {
    let _serial = serial().await;
    let server = App::new()
        .get("/103", early_hints)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let expected = [
        "req:setup",
        "hnd:setup",
        "hnd:error 500",
        "req:handler error (500)",
    ];
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /103 HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let text = common::read_to_close(&mut stream).await;
    assert!(text.starts_with("HTTP/1.1 500 "), "{text}");
    assert!(text.contains("x-request-id: "), "{text}");
    assert!(
        text.ends_with(r#"{"detail":"Internal Server Error"}"#),
        "{text}"
    );
    server.settle().await;
    assert_eq!(events(), expected);

    common::clear();
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    let response = within(common::h2_send_get(&mut client, addr, "/103").await)
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert!(response.headers().contains_key("x-request-id"));
    server.settle().await;
    assert_eq!(events(), expected);
    assert_eq!(
        server
            .metrics()
            .responses_with(StatusCode::INTERNAL_SERVER_ERROR),
        2
    );
    driver.abort();
    server.shutdown().await;
}

/// Opened by the test: the `request`-scope teardown of `/held` waits for it.
static GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[depends]
async fn slow_teardown(y: Yield<u8>) {
    let (_, _outcome) = y.provide(1).await;
    log("slow:teardown started");
    GATE.notified().await;
    log("slow:teardown ended");
}

#[depends]
async fn held(#[dep(slow_teardown)] _s: &u8) -> &'static str {
    "held"
}

/// A connection that has closed no longer counts against `max_connections`, though its task
/// still runs the `request`-scope teardown of its last response: with room for one
/// connection, a client that closes its connection after an answer whose teardown is slow
/// leaves the room to the next client at once. The closed connection held its place (and
/// counted as open) until the teardown ended: the next client waited, unserved, for up to
/// `teardown_timeout`, a teardown delaying other clients' requests.
#[tokio::test]
async fn a_closed_connection_still_running_a_teardown_leaves_its_place_to_the_next() {
    let _serial = serial().await;
    let server = App::new()
        .get("/held", held)
        .get("/health", health)
        .max_connections(1)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut first = TcpStream::connect(addr).await.unwrap();
    first
        .write_all(b"GET /held HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let text = common::read_to_close(&mut first).await;
    assert!(text.ends_with("held"), "{text}");
    drop(first);
    common::wait_for("slow:teardown started").await;
    let mut next = TcpStream::connect(addr).await.unwrap();
    next.write_all(b"GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let text = common::read_to_close(&mut next).await;
    assert!(
        text.starts_with("HTTP/1.1 200 ") && text.ends_with("ok"),
        "{text}"
    );
    assert_eq!(events(), ["slow:teardown started"]);
    assert_eq!(server.metrics().open_connections, 0);
    GATE.notify_one();
    server.settle().await;
    assert_eq!(events(), ["slow:teardown started", "slow:teardown ended"]);
    server.shutdown().await;
}

#[depends]
async fn body_length(body: Bytes) -> String {
    body.len().to_string()
}

/// A body read whole costs about its size, however the client cuts it up: 1 MB sent as a
/// million one-byte chunks (HTTP/1 chunked encoding; HTTP/2 DATA frames are the same) was kept
/// as a million frames until its end, about 32 bytes of bookkeeping a byte of body besides the
/// connection's read buffers each frame kept alive: some 40 MB of heap for a 1 MB body, and
/// about 80 MB a request within the default 2 MiB `body_limit`. Measured with dhat's heap
/// counts (the peak of live bytes), not the clock.
#[tokio::test]
async fn a_body_sent_in_one_byte_chunks_costs_about_its_size_to_read_whole() {
    let server = App::new()
        .post("/length", body_length)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    const CHUNKS: usize = 1_000_000;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let (mut read, mut write) = stream.split();
    let profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get();
    let (_, text) = tokio::join!(
        async {
            write
                .write_all(b"POST /length HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            // Written a batch at a time: the client's own copy of the body stays small.
            let batch = b"1\r\nx\r\n".repeat(10_000);
            for _ in 0..CHUNKS / 10_000 {
                write.write_all(&batch).await.unwrap();
            }
            write.write_all(b"0\r\n\r\n").await.unwrap();
        },
        // Bounded only to turn a hang into a failure: the read lasts the whole upload, a
        // million chunks through a debug build whose every allocation dhat records, which
        // took longer than `read_to_close`'s 8 s on a loaded machine.
        async {
            let mut answer = Vec::new();
            tokio::time::timeout(Duration::from_secs(120), read.read_to_end(&mut answer))
                .await
                .expect("the server kept the connection open")
                .unwrap();
            String::from_utf8_lossy(&answer).into_owned()
        }
    );
    let after = dhat::HeapStats::get();
    drop(profiler);
    assert!(text.ends_with(&format!("\r\n\r\n{CHUNKS}")), "{text}");
    let peak = after.max_bytes.saturating_sub(before.curr_bytes);
    assert!(
        peak < 8 * CHUNKS,
        "reading a {CHUNKS}-byte body took {peak} bytes of heap at its peak"
    );
    server.shutdown().await;
}

#[depends]
async fn echo_body(body: Bytes) -> String {
    log("echo:handler");
    format!("{} bytes", body.len())
}

/// A body chunked twice (RFC 9112 6.1: the chunked coding is applied once) is refused with a
/// 400 and the connection closed, whether the two are in one `Transfer-Encoding` field or in
/// two: hyper read it as chunked once, while a server in front may read its end elsewhere (a
/// smuggled request). The request pipelined after it is never served; a body chunked once is.
#[tokio::test]
async fn a_body_chunked_twice_is_refused_and_the_connection_closed() {
    let _serial = serial().await;
    let server = App::new()
        .post("/echo", echo_body)
        .get("/health", health)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    for codings in [
        "transfer-encoding: chunked, chunked\r\n",
        "transfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n",
        "transfer-encoding: Chunked ,chunked\r\n",
    ] {
        common::clear();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let sent = format!(
            "POST /echo HTTP/1.1\r\nhost: t\r\n{codings}\r\n3\r\nabc\r\n0\r\n\r\n\
             GET /health HTTP/1.1\r\nhost: t\r\n\r\n"
        );
        stream.write_all(sent.as_bytes()).await.unwrap();
        let text = within(common::read_to_close(&mut stream)).await;
        assert!(text.starts_with("HTTP/1.1 400 "), "{codings:?}: {text}");
        assert_eq!(
            text.matches("HTTP/1.1 ").count(),
            1,
            "{codings:?}: the pipelined request was served: {text}"
        );
        assert!(events().is_empty(), "{codings:?}: {:?}", events());
    }
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let text = within(common::read_to_close(&mut stream)).await;
    assert!(
        text.starts_with("HTTP/1.1 200 ") && text.ends_with("3 bytes"),
        "{text}"
    );
    server.shutdown().await;
}

/// A setup that fails with an informational status.
#[depends]
async fn hinting_setup() -> Result<u8, HttpError> {
    Err(HttpError::new(
        StatusCode::from_u16(103).unwrap(),
        "early hints",
    ))
}

#[depends]
async fn after_a_hinting_setup(
    #[dep(req_gen)] _r: &u8,
    #[dep(hinting_setup)] _h: &u8,
) -> &'static str {
    "never"
}

/// A setup whose error has an informational status gets the client a generic 500, as a
/// handler's answer of that status does, and the teardowns are told the setup failed with
/// that 500 (they were told it failed with the 103 the client never got).
#[tokio::test]
async fn a_setup_failing_with_a_1xx_status_is_a_500_and_its_teardowns_are_told_so() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", after_a_hinting_setup))
        .await
        .unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Internal Server Error"}"#
    );
    client.settle().await;
    assert_eq!(
        events(),
        ["req:setup", "req:setup of `hinting_setup` failed (500)"]
    );
}

#[depends]
async fn reset_content(#[dep(req_gen)] _r: &u8) -> (StatusCode, &'static str) {
    (StatusCode::RESET_CONTENT, "a body a 205 must not carry")
}

/// A 205 has no content either (RFC 9110 15.3.6), and hyper does not know it: it sent the
/// handler's body with its length. It now goes with `Content-Length: 0` and nothing after
/// it, over both protocols (the next response on the connection follows at once), and its
/// teardowns see a success.
#[tokio::test]
async fn a_205_with_a_body_sends_a_zero_content_length_and_nothing_else() {
    let _serial = serial().await;
    let server = App::new()
        .get("/205", reset_content)
        .get("/health", health)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"GET /205 HTTP/1.1\r\nhost: t\r\n\r\n\
              GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let text = within(common::read_to_close(&mut stream)).await;
    let (first, second) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(first.starts_with("HTTP/1.1 205 "), "{text}");
    assert!(first.contains("content-length: 0"), "{text}");
    assert!(
        second.starts_with("HTTP/1.1 200 ") && second.ends_with("ok"),
        "{text}"
    );
    server.settle().await;
    assert_eq!(events(), ["req:setup", "req:success 205"]);

    common::clear();
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    let response = within(common::h2_send_get(&mut client, addr, "/205").await)
        .await
        .unwrap();
    assert_eq!(response.status(), 205);
    assert_eq!(response.headers()["content-length"], "0");
    let mut body = response.into_body();
    assert!(within(body.data()).await.is_none(), "a DATA frame was sent");
    server.settle().await;
    assert_eq!(events(), ["req:setup", "req:success 205"]);
    driver.abort();
    server.shutdown().await;
}
