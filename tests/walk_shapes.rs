//! A walk of the response shapes a handler can build, crossed with HTTP/1.1, HTTP/1.0 (with
//! and without keep-alive), HTTP/2 and `HEAD`, over the app's own server: what the client
//! receives (status, headers, body bytes, or a cut it can see), whether its connection serves
//! on, and what each `request`-scope teardown is told, exactly once.
//!
//! - A response whose `version` the handler set to one HTTP/1 cannot write (`HTTP/3.0`,
//!   `HTTP/0.9`), made with `http::Response::builder()`: hyper's HTTP/1 panicked in the
//!   connection's task, the client got nothing, the request pipelined behind it was lost, and
//!   an empty answer's teardown was told a success (a defect, fixed: the version is the
//!   server's to choose).
//! - A response the handler marked `HTTP/1.0` to an HTTP/1.1 client, whose stream fails: its
//!   body went close-delimited and the cut was a clean close, a truncated body the client took
//!   for whole (a defect, fixed with the one above).
//! - Connection-specific headers (`connection`, `keep-alive`, `transfer-encoding`, `upgrade`,
//!   `proxy-connection`) on a response: left out of the HTTP/2 answer, which arrives whole.
//! - Unusual statuses (`299`, `599`) over each protocol, with and without `HEAD`.
//! - Streams of empty chunks only, and of no item, over each protocol: a well-framed empty body.
//! - Streams that fail or panic before their first item, over each protocol: a cut the client
//!   sees (a chunked body without its last chunk, an HTTP/1.0 connection reset, an HTTP/2
//!   stream reset), nothing of the error or the panic on the wire.
//! - `HEAD` of a streamed route and of a 10 MB `Vec<u8>`, over each protocol: the head only
//!   (the length when it is known), the connection serving on.
//! - Bodies whose `size_hint` is wrong (more, or less, than they hold): a cut and `BodyError`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{Misjudged, count, describe, events, guard, log, serial, settled_whole};
use di_runtime::Body;
use di_runtime::prelude::*;
use futures_util::stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `raw` over a new connection and reads until the server closes it: the bytes, and
/// whether the close was a reset (`false`: a clean end of stream).
async fn exchange(addr: SocketAddr, raw: &[u8]) -> (Vec<u8>, bool) {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(raw).await.unwrap();
    let mut received = Vec::new();
    let reset = guard("the close", async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) => return false,
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(error) => {
                    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
                    return true;
                }
            }
        }
    })
    .await;
    (received, reset)
}

/// The head of an HTTP/1 answer (up to its blank line) without its `date` and `x-request-id`
/// fields, and the bytes after it.
fn split(answer: &[u8]) -> (String, &[u8]) {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(answer)));
    let head = String::from_utf8_lossy(&answer[..end])
        .lines()
        .filter(|l| !l.starts_with("date:") && !l.starts_with("x-request-id:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    (head, &answer[end + 4..])
}

/// The pipelined request that follows the one under test: the connection serves it if it is
/// still in step.
const NEXT: &str = "GET /ok HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n";

/// Whether `rest`, what a connection sent after the body under test, is the answer to
/// [`NEXT`] (a 200 of `ok`), whole and alone.
fn next_answered(rest: &[u8]) -> bool {
    rest.starts_with(b"HTTP/1.1 200 OK\r\n") && rest.ends_with(b"\r\n\r\nok")
}

/// One HTTP/2 exchange on `client`: the status, the headers (without `date` and
/// `x-request-id`), the body's bytes, the stream's error if it was reset, and its trailers.
struct H2Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    reset: Option<h2::Reason>,
    trailers: Option<http::HeaderMap>,
}

async fn h2_exchange(
    client: &mut h2::client::SendRequest<Bytes>,
    addr: SocketAddr,
    method: &str,
    path: &str,
) -> H2Answer {
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .unwrap();
    let request = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(())
        .unwrap();
    let response = client.send_request(request, true).unwrap().0;
    let response = guard("the HTTP/2 answer", response).await.unwrap();
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter(|(n, _)| *n != "date" && *n != "x-request-id")
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let mut body = response.into_body();
    let mut got = Vec::new();
    let mut reset = None;
    while let Some(chunk) = guard("the HTTP/2 body", body.data()).await {
        match chunk {
            Ok(chunk) => {
                let _ = body.flow_control().release_capacity(chunk.len());
                got.extend_from_slice(&chunk);
            }
            Err(error) => {
                reset = Some(error.reason().expect("a stream reset"));
                break;
            }
        }
    }
    let trailers = if reset.is_none() {
        guard("the trailers", body.trailers()).await.unwrap()
    } else {
        None
    };
    H2Answer {
        status,
        headers,
        body: got,
        reset,
        trailers,
    }
}

// ------------------------------------------------------------------ the service

/// A `request`-scoped session: its teardown says how the request ended.
#[depends]
async fn session(y: Yield<u8>) {
    log("session:open");
    let (_s, outcome) = y.provide(0).await;
    log(format!("session:close {}", describe(&outcome)));
}

/// A `handler`-scoped transaction, committed or rolled back before the head.
#[depends(scope = "handler")]
async fn tx(y: Yield<u8>) {
    log("tx:open");
    let (_t, outcome) = y.provide(0).await;
    log(format!("tx:close {}", describe(&outcome)));
}

#[depends]
async fn ok() -> &'static str {
    "ok"
}

/// Waits until the session of the request under test was torn down, then hands back the
/// events and clears them.
async fn closed() -> Vec<String> {
    guard("the session's teardown", async {
        while !events().iter().any(|e| e.starts_with("session:close")) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let seen = events();
    common::clear();
    seen
}

// ------------------------------------- 1. a response version the server cannot write

/// A handler's own `http::Response`, marked `HTTP/3.0`.
#[depends]
async fn marked_http3(#[dep(session)] _s: &u8, #[dep(tx)] _t: &u8) -> http::Response<String> {
    http::Response::builder()
        .version(http::Version::HTTP_3)
        .body("hi".to_owned())
        .unwrap()
}

/// The same, marked `HTTP/0.9`, with an empty body.
#[depends]
async fn marked_http09(#[dep(session)] _s: &u8) -> http::Response<String> {
    http::Response::builder()
        .status(StatusCode::CREATED)
        .version(http::Version::HTTP_09)
        .body(String::new())
        .unwrap()
}

/// A response whose version the handler set to one HTTP/1 cannot write (`HTTP/3.0`,
/// `HTTP/0.9`) is sent as HTTP/1.1, as any other: the client gets it, the request pipelined
/// behind it is served, and its teardowns are told a success once. hyper's HTTP/1 panicked
/// in the connection's task ("unexpected response version"): the client got nothing and the
/// pipelined request was lost, while the empty `201`'s session was told `success 201` for an
/// answer never sent. HTTP/2 ignores the field, and an HTTP/1.0 client gets HTTP/1.0.
#[tokio::test]
async fn a_response_version_http1_cannot_write_is_sent_as_http11() {
    let _serial = serial().await;
    let server = App::new()
        .get("/http3", marked_http3)
        .get("/http09", marked_http09)
        .get("/ok", ok)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    for (path, status, body) in [
        ("/http3", "200 OK", &b"hi"[..]),
        ("/http09", "201 Created", &b""[..]),
    ] {
        let raw = format!("GET {path} HTTP/1.1\r\nhost: w\r\n\r\n{NEXT}");
        let (answer, reset) = guard("the answer", exchange(addr, raw.as_bytes())).await;
        assert!(!reset, "{path}");
        let (head, rest) = split(&answer);
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "{path}: {head}"
        );
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{path}: {head}"
        );
        assert!(rest.starts_with(body), "{path}: {rest:?}");
        assert!(
            next_answered(&rest[body.len()..]),
            "{path}: the next request: {rest:?}"
        );
        let seen = closed().await;
        let expected_status = &status[..3];
        assert_eq!(
            count(&seen, &format!("session:close success {expected_status}")),
            1,
            "{path}: {seen:?}"
        );
        assert_eq!(count(&seen, "session:open"), 1, "{path}: {seen:?}");
    }
    // An HTTP/1.0 client gets HTTP/1.0, as before.
    let (answer, _) = guard(
        "the answer",
        exchange(addr, b"GET /http3 HTTP/1.0\r\nhost: w\r\n\r\n"),
    )
    .await;
    let (head, rest) = split(&answer);
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
    assert_eq!(rest, b"hi");
    assert_eq!(
        closed().await,
        [
            "session:open",
            "tx:open",
            "tx:close success 200",
            "session:close success 200"
        ]
    );
    // HTTP/2 never looked at the field.
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    let answer = h2_exchange(&mut client, addr, "GET", "/http3").await;
    assert_eq!(
        (answer.status, &answer.body[..], answer.reset),
        (200, &b"hi"[..], None)
    );
    assert!(
        answer
            .headers
            .contains(&("content-length".into(), "2".into())),
        "{:?}",
        answer.headers
    );
    assert!(answer.trailers.is_none());
    closed().await;
    driver.abort();
    let metrics = settled_whole(&server).await;
    assert_eq!(metrics.teardowns.success, metrics.setups, "{metrics:?}");
    server.shutdown().await;
}

// ------------------------- 2. an answer marked HTTP/1.0 to an HTTP/1.1 client, cut short

/// A row, then a failure, in a response the handler marked `HTTP/1.0`.
#[depends]
async fn marked_http10_failing(#[dep(session)] _s: &u8) -> http::Response<Body> {
    let rows = stream::iter([
        Ok::<_, std::io::Error>(Bytes::from_static(b"row 1\n")),
        Err(std::io::Error::other("the database went away")),
    ]);
    http::Response::builder()
        .version(http::Version::HTTP_10)
        .body(Body::from_stream(rows))
        .unwrap()
}

/// A streamed answer the handler marked `HTTP/1.0`, to an HTTP/1.1 client, whose stream fails
/// after a row: the client sees the cut (a chunked body without its last chunk), and the
/// session is told `BodyError`. hyper wrote the body close-delimited, as HTTP/1.0 has no
/// chunked coding, and the server closed the connection cleanly where the stream failed (it
/// resets only an HTTP/1.0 *client's* connection): the client took `row 1` for the whole
/// export.
#[tokio::test]
async fn an_http11_client_sees_the_cut_of_a_failed_stream_its_handler_marked_http10() {
    let _serial = serial().await;
    let server = App::new()
        .get("/export", marked_http10_failing)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let (answer, reset) = guard(
        "the answer",
        exchange(addr, b"GET /export HTTP/1.1\r\nhost: w\r\n\r\n"),
    )
    .await;
    let (head, rest) = split(&answer);
    let cut = if head.contains("transfer-encoding: chunked") {
        // Chunked: no last chunk.
        assert_eq!(common::dechunk(rest), b"row 1\n");
        !rest.ends_with(b"0\r\n\r\n")
    } else {
        // Close-delimited: only a reset tells the cut from the end.
        reset
    };
    assert!(
        cut,
        "the client cannot tell the cut from the end: {head:?} {:?}, reset: {reset}",
        String::from_utf8_lossy(rest)
    );
    assert_eq!(closed().await, ["session:open", "session:close body_error"]);
    settled_whole(&server).await;
    server.shutdown().await;
}

// ------------------------------------------------------------------ 3. the other shapes

/// A handler's headers that HTTP/2 forbids (connection-specific ones).
#[depends]
async fn connection_headers(
    #[dep(session)] _s: &u8,
) -> ([(&'static str, &'static str); 5], &'static str) {
    (
        [
            ("connection", "keep-alive"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("proxy-connection", "keep-alive"),
        ],
        "body",
    )
}

#[depends]
async fn status_299(#[dep(session)] _s: &u8) -> (StatusCode, &'static str) {
    (StatusCode::from_u16(299).unwrap(), "odd")
}

#[depends]
async fn status_599(#[dep(session)] _s: &u8) -> (StatusCode, &'static str) {
    (StatusCode::from_u16(599).unwrap(), "odd")
}

type Items = StreamBody<stream::Iter<std::vec::IntoIter<Result<Bytes, std::io::Error>>>>;

#[depends]
async fn empty_chunks(#[dep(session)] _s: &u8) -> Items {
    StreamBody::new(stream::iter(vec![
        Ok(Bytes::new()),
        Ok(Bytes::new()),
        Ok(Bytes::new()),
    ]))
}

#[depends]
async fn no_items(#[dep(session)] _s: &u8) -> Items {
    StreamBody::new(stream::iter(Vec::new()))
}

#[depends]
async fn fails_first(#[dep(session)] _s: &u8) -> Items {
    StreamBody::new(stream::iter(vec![Err(std::io::Error::other(
        "secret: db down",
    ))]))
}

/// What a stream item is polled with and gives.
type Poll = std::task::Poll<Option<Result<Bytes, std::io::Error>>>;

type Panicking = StreamBody<stream::PollFn<for<'a, 'b> fn(&'a mut std::task::Context<'b>) -> Poll>>;

fn panic_at_once(
    _: &mut std::task::Context<'_>,
) -> std::task::Poll<Option<Result<Bytes, std::io::Error>>> {
    panic!("secret: the stream panicked")
}

#[depends]
async fn panics_first(#[dep(session)] _s: &u8) -> Panicking {
    StreamBody::new(stream::poll_fn(
        panic_at_once as for<'a, 'b> fn(&'a mut std::task::Context<'b>) -> Poll,
    ))
}

#[depends]
async fn two_lines(#[dep(session)] _s: &u8) -> Items {
    StreamBody::new(stream::iter(vec![
        Ok(Bytes::from_static(b"a\n")),
        Ok(Bytes::from_static(b"b\n")),
    ]))
}

#[depends]
async fn ten_megabytes(#[dep(session)] _s: &u8) -> Vec<u8> {
    vec![7u8; 10 * 1024 * 1024]
}

#[depends]
async fn hints_more(#[dep(session)] _s: &u8) -> http::Response<Misjudged> {
    http::Response::new(Misjudged {
        data: Some(Bytes::from_static(b"hello")),
        hint: 10,
    })
}

#[depends]
async fn hints_less(#[dep(session)] _s: &u8) -> http::Response<Misjudged> {
    http::Response::new(Misjudged {
        data: Some(Bytes::from_static(b"hello")),
        hint: 3,
    })
}

fn shapes_app() -> App {
    App::new()
        .get("/connection-headers", connection_headers)
        .get("/299", status_299)
        .get("/599", status_599)
        .get("/empty-chunks", empty_chunks)
        .get("/no-items", no_items)
        .get("/fails-first", fails_first)
        .get("/panics-first", panics_first)
        .get("/lines", two_lines)
        .get("/10mb", ten_megabytes)
        .get("/hints-more", hints_more)
        .get("/hints-less", hints_less)
        .get("/ok", ok)
}

/// Connection-specific headers a handler gave its response (`connection`, `keep-alive`,
/// `transfer-encoding`, `upgrade`, `proxy-connection`), which HTTP/2 forbids: the HTTP/2
/// answer arrives without them, its body whole, and its session is told a success; the
/// connection serves on.
#[tokio::test]
async fn connection_specific_headers_are_left_out_of_an_http2_answer_that_arrives_whole() {
    let _serial = serial().await;
    let server = shapes_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    let answer = h2_exchange(&mut client, addr, "GET", "/connection-headers").await;
    assert_eq!(
        (answer.status, &answer.body[..], answer.reset),
        (200, &b"body"[..], None)
    );
    let names: Vec<&str> = answer.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["content-type", "content-length"],
        "{:?}",
        answer.headers
    );
    assert_eq!(
        closed().await,
        ["session:open", "session:close success 200"]
    );
    let next = h2_exchange(&mut client, addr, "GET", "/ok").await;
    assert_eq!((next.status, &next.body[..]), (200, &b"ok"[..]));
    driver.abort();
    settled_whole(&server).await;
    server.shutdown().await;
}

/// The three ways of asking, each on a connection of its own.
#[derive(Clone, Copy, Debug)]
enum Protocol {
    Http11,
    /// HTTP/1.0 asking for keep-alive.
    Http10,
    Http2,
}

const PROTOCOLS: [Protocol; 3] = [Protocol::Http11, Protocol::Http10, Protocol::Http2];

/// What a client received for `method` `path` over `protocol`: the status, the head's fields
/// (HTTP/1: the head's text), the body, and how it ended: `clean` (framed and complete), `cut`
/// (an HTTP/1.1 chunked body without its last chunk, a body short of its `content-length`,
/// an HTTP/1 connection reset, or an HTTP/2 stream reset with `INTERNAL_ERROR`, or found
/// malformed by the client), or `closed` (HTTP/1.0: close-delimited, ended by
/// a clean close). For HTTP/1 a request pipelined behind it tells whether the connection went
/// on (`next`).
#[derive(Debug)]
struct Received {
    status: u16,
    head: String,
    body: Vec<u8>,
    ended: &'static str,
    next: bool,
}

async fn ask(addr: SocketAddr, protocol: Protocol, method: &str, path: &str) -> Received {
    if let Protocol::Http2 = protocol {
        let io = TcpStream::connect(addr).await.unwrap();
        let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
        let answer = h2_exchange(&mut client, addr, method, path).await;
        let ended = match answer.reset {
            None => "clean",
            // Reset by the server, or found malformed by the client (a body short of its
            // `content-length`).
            Some(h2::Reason::INTERNAL_ERROR | h2::Reason::PROTOCOL_ERROR) => "cut",
            Some(other) => panic!("{path}: reset with {other:?}"),
        };
        // The connection serves on.
        let next = ended == "cut" || {
            let next = h2_exchange(&mut client, addr, "GET", "/ok").await;
            next.status == 200 && next.body == b"ok"
        };
        driver.abort();
        let head = answer
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect::<Vec<_>>()
            .join("\r\n");
        return Received {
            status: answer.status,
            head,
            body: answer.body,
            ended,
            next,
        };
    }
    let (version, extra) = match protocol {
        Protocol::Http11 => ("HTTP/1.1", ""),
        _ => ("HTTP/1.0", "connection: keep-alive\r\n"),
    };
    let raw = format!("{method} {path} {version}\r\nhost: w\r\n{extra}\r\n{NEXT}");
    let (answer, reset) = exchange(addr, raw.as_bytes()).await;
    let (head, rest) = split(&answer);
    let status = head[9..12].parse().unwrap();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map(|l| l.parse::<usize>().unwrap());
    let chunked = head.contains("transfer-encoding: chunked");
    let bodiless = method == "HEAD";
    let (body, after, framed_whole) = if bodiless {
        (Vec::new(), rest, true)
    } else if let Some(length) = length {
        let taken = length.min(rest.len());
        (rest[..taken].to_vec(), &rest[taken..], taken == length)
    } else if chunked {
        let end = rest.windows(5).position(|w| w == b"0\r\n\r\n");
        match end {
            Some(end) => (common::dechunk(rest), &rest[end + 5..], true),
            None => (common::dechunk(rest), &b""[..], false),
        }
    } else {
        (rest.to_vec(), &b""[..], false)
    };
    let next = next_answered(after);
    let ended = if reset {
        "cut"
    } else if framed_whole {
        "clean"
    } else if chunked || length.is_some() {
        "cut"
    } else {
        "closed"
    };
    Received {
        status,
        head,
        body,
        ended,
        next,
    }
}

/// Unusual statuses (`299`, `599`: valid, unnamed) are sent as given over each protocol, to a
/// `GET` and to a `HEAD`, and their sessions are told a success with that status; the
/// connection serves on.
#[tokio::test]
async fn unusual_statuses_are_sent_and_told_as_given_over_each_protocol() {
    let _serial = serial().await;
    let server = shapes_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    for protocol in PROTOCOLS {
        for method in ["GET", "HEAD"] {
            for status in [299, 599] {
                let got = guard(
                    "the answer",
                    ask(addr, protocol, method, &format!("/{status}")),
                )
                .await;
                let body: &[u8] = if method == "HEAD" { b"" } else { b"odd" };
                assert_eq!(
                    (got.status, &got.body[..], got.ended, got.next),
                    (status, body, "clean", true),
                    "{protocol:?} {method}: {got:?}"
                );
                assert!(
                    got.head.contains("content-length: 3"),
                    "{protocol:?} {method}: {got:?}"
                );
                assert_eq!(
                    closed().await,
                    ["session:open", &format!("session:close success {status}")],
                    "{protocol:?} {method}"
                );
            }
        }
    }
    settled_whole(&server).await;
    server.shutdown().await;
}

/// A stream of empty chunks only, and a stream of no item, are an empty body, well framed over
/// each protocol (HTTP/1.1: chunked, its last chunk sent, the connection serving on; HTTP/1.0:
/// close-delimited, ended by a clean close; HTTP/2: the stream ended), and a success; a `HEAD`
/// of them is the head alone, and the connection serves on.
#[tokio::test]
async fn streams_of_empty_chunks_or_no_item_are_an_empty_body_well_framed() {
    let _serial = serial().await;
    let server = shapes_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    for protocol in PROTOCOLS {
        for path in ["/empty-chunks", "/no-items"] {
            let got = guard("the answer", ask(addr, protocol, "GET", path)).await;
            let (ended, next) = match protocol {
                Protocol::Http10 => ("closed", false),
                _ => ("clean", true),
            };
            assert_eq!(
                (got.status, &got.body[..], got.ended, got.next),
                (200, &b""[..], ended, next),
                "{protocol:?} {path}: {got:?}"
            );
            assert_eq!(
                closed().await,
                ["session:open", "session:close success 200"],
                "{protocol:?} {path}"
            );
            let got = guard("the answer", ask(addr, protocol, "HEAD", path)).await;
            assert_eq!(
                (got.status, got.ended, got.next),
                (200, "clean", true),
                "HEAD {protocol:?} {path}: {got:?}"
            );
            assert_eq!(
                closed().await,
                ["session:open", "session:close success 200"],
                "HEAD {protocol:?} {path}"
            );
        }
    }
    settled_whole(&server).await;
    server.shutdown().await;
}

/// A stream that fails, or panics, before its first item: the head (200) has gone, and the
/// client sees the cut over each protocol (HTTP/1.1: a chunked body without its last chunk;
/// HTTP/1.0: the connection reset; HTTP/2: the stream reset with `INTERNAL_ERROR`, the
/// connection serving on), never the error's or the panic's text; the session is told
/// `BodyError`, or the panic, once. A `HEAD` of the same routes never polls the stream: the
/// head alone, a success.
#[tokio::test]
async fn a_stream_failing_or_panicking_before_its_first_item_is_a_cut_over_each_protocol() {
    let _serial = serial().await;
    let server = shapes_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    for protocol in PROTOCOLS {
        for (path, told) in [
            ("/fails-first", "body_error"),
            ("/panics-first", "panicked"),
        ] {
            let got = guard("the answer", ask(addr, protocol, "GET", path)).await;
            assert_eq!(
                (got.status, &got.body[..], got.ended),
                (200, &b""[..], "cut"),
                "{protocol:?} {path}: {got:?}"
            );
            assert!(!got.head.contains("secret"), "{got:?}");
            assert_eq!(
                closed().await,
                ["session:open", &format!("session:close {told}")],
                "{protocol:?} {path}"
            );
            let got = guard("the answer", ask(addr, protocol, "HEAD", path)).await;
            assert_eq!(
                (got.status, got.ended, got.next),
                (200, "clean", true),
                "HEAD {protocol:?} {path}: {got:?}"
            );
            assert_eq!(
                closed().await,
                ["session:open", "session:close success 200"],
                "HEAD {protocol:?} {path}"
            );
        }
    }
    let metrics = settled_whole(&server).await;
    assert_eq!(metrics.teardowns.body_error, 3, "{metrics:?}");
    server.shutdown().await;
}

/// A `HEAD` of a streamed route and of a 10 MB `Vec<u8>` over each protocol: the head alone,
/// with the whole body's length when it is known (`content-length: 10485760`) and no framing
/// of a body otherwise, its session told a success, the connection serving on (a pipelined
/// request over HTTP/1, HTTP/1.0 asking for keep-alive included).
#[tokio::test]
async fn a_head_of_a_stream_or_of_ten_megabytes_is_the_head_alone_over_each_protocol() {
    let _serial = serial().await;
    let server = shapes_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    for protocol in PROTOCOLS {
        let got = guard("the answer", ask(addr, protocol, "HEAD", "/10mb")).await;
        assert_eq!(
            (got.status, got.ended, got.next),
            (200, "clean", true),
            "{protocol:?}: {got:?}"
        );
        assert!(
            got.head.contains("content-length: 10485760"),
            "{protocol:?}: {got:?}"
        );
        assert_eq!(
            closed().await,
            ["session:open", "session:close success 200"],
            "{protocol:?}"
        );
        let got = guard("the answer", ask(addr, protocol, "HEAD", "/lines")).await;
        assert_eq!(
            (got.status, got.ended, got.next),
            (200, "clean", true),
            "{protocol:?}: {got:?}"
        );
        assert!(
            !got.head.contains("content-length") && !got.head.contains("transfer-encoding"),
            "{protocol:?}: {got:?}"
        );
        assert_eq!(
            closed().await,
            ["session:open", "session:close success 200"],
            "{protocol:?}"
        );
    }
    settled_whole(&server).await;
    server.shutdown().await;
}

/// A body whose size hint is wrong, larger (10 for 5 bytes) or smaller (3 for 5) than what it
/// holds: the client sees a cut over each protocol (HTTP/1: the length it was told, then the
/// connection closed short of it; HTTP/2: the stream reset), and the session is told
/// `BodyError`, never a success.
#[tokio::test]
async fn a_body_whose_size_hint_is_wrong_is_a_cut_and_a_body_error_over_each_protocol() {
    let _serial = serial().await;
    let server = shapes_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    for protocol in PROTOCOLS {
        for path in ["/hints-more", "/hints-less"] {
            let got = guard("the answer", ask(addr, protocol, "GET", path)).await;
            assert_eq!(
                (got.status, got.ended),
                (200, "cut"),
                "{protocol:?} {path}: {got:?}"
            );
            assert_eq!(
                closed().await,
                ["session:open", "session:close body_error"],
                "{protocol:?} {path}"
            );
        }
    }
    settled_whole(&server).await;
    server.shutdown().await;
}

// ------------------------------ the version, wherever a response leaves the app

/// The version is set where every response leaves the app, not only in di's server: a review
/// found the app as a `tower::Service`, `AppService::call_request` and the `TestClient` still
/// giving the handler's `HTTP/3.0` (and hyper's HTTP/1 serving the app as a `tower::Service`
/// panicking on it).
mod version_wherever_it_leaves {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use di_runtime::prelude::*;
    use http_body_util::Empty;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tower_service::Service;

    #[depends]
    async fn marked_http3() -> http::Response<String> {
        http::Response::builder()
            .version(http::Version::HTTP_3)
            .body("hi".to_owned())
            .unwrap()
    }

    type Request = http::Request<Empty<Bytes>>;

    fn get(path: &str) -> Request {
        http::Request::get(path)
            .header("host", "w")
            .body(Empty::new())
            .unwrap()
    }

    /// A layer's answer marked `HTTP/3.0` in the handler's place.
    fn http3_answer_layer()
    -> tower::util::MapResponseLayer<fn(di_runtime::Response) -> di_runtime::Response> {
        fn mark(mut response: di_runtime::Response) -> di_runtime::Response {
            *response.version_mut() = http::Version::HTTP_3;
            response
        }
        tower::util::MapResponseLayer::new(mark as fn(_) -> _)
    }

    /// `App` itself as a `tower::Service`, `AppService::call_request`, `AppService` as a
    /// `tower::Service`, and the `TestClient`: each gives HTTP/1.1; so does a tower layer's
    /// answer marked otherwise.
    #[tokio::test]
    async fn every_entry_gives_http11() {
        let mut app = App::new().get("/http3", marked_http3);
        std::future::poll_fn(|cx| Service::<Request>::poll_ready(&mut app, cx))
            .await
            .unwrap();
        let response = app.call(get("/http3")).await.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_11, "App");

        let running = App::new()
            .get("/http3", marked_http3)
            .start()
            .await
            .unwrap();
        let response = running.service().call_request(get("/http3")).await;
        assert_eq!(response.version(), http::Version::HTTP_11, "call_request");
        let mut service = running.service().clone();
        let response = Service::<Request>::call(&mut service, get("/http3"))
            .await
            .unwrap();
        assert_eq!(response.version(), http::Version::HTTP_11, "AppService");
        running.shutdown().await;

        let client = TestClient::start(App::new().get("/http3", marked_http3))
            .await
            .unwrap();
        let response = client.get("/http3").send().await;
        assert_eq!(
            response.into_inner().version(),
            http::Version::HTTP_11,
            "TestClient"
        );

        let client = TestClient::start(
            App::new()
                .get("/http3", marked_http3)
                .layer(http3_answer_layer()),
        )
        .await
        .unwrap();
        let response = client.get("/http3").send().await;
        assert_eq!(
            response.into_inner().version(),
            http::Version::HTTP_11,
            "a layer's answer"
        );
    }

    /// The `App` served by hyper's own HTTP/1 connection (as a server of the tower ecosystem
    /// would serve it): the answer arrives, where hyper's connection task panicked on the
    /// handler's `HTTP/3.0` ("unexpected response version") and the client got nothing.
    #[tokio::test]
    async fn the_app_under_hypers_http1_answers() {
        let app = Arc::new(tokio::sync::Mutex::new(
            App::new().get("/http3", marked_http3),
        ));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let service =
                hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    async move {
                        let mut app = app.lock().await;
                        std::future::poll_fn(|cx| {
                            Service::<http::Request<hyper::body::Incoming>>::poll_ready(
                                &mut *app, cx,
                            )
                        })
                        .await?;
                        let future = app.call(request);
                        drop(app);
                        future.await
                    }
                });
            hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await
        });
        let mut socket = TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(b"GET /http3 HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut answer))
            .await
            .expect("the answer hung")
            .unwrap();
        let served = tokio::time::timeout(Duration::from_secs(20), server)
            .await
            .expect("the connection hung");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nhi"), "{answer}");
        assert!(
            matches!(served, Ok(Ok(()))),
            "the connection task: {served:?}"
        );
    }
}

// ------------------------------ trailers on a body of known length

/// `hello` with a `grpc-status: 0` trailer, as `http-body-util`'s `with_trailers` makes it: its
/// size hint is the data's exact length.
#[depends]
async fn with_trailers(#[dep(session)] _s: &u8) -> http::Response<Body> {
    use http_body_util::BodyExt;
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let body = http_body_util::Full::new(Bytes::from_static(b"hello"))
        .map_err(|never: std::convert::Infallible| match never {})
        .with_trailers(async move { Some(Ok(trailers)) });
    http::Response::new(Body::new(body))
}

/// A body of known length with trailers (`Full::new(..).with_trailers(..)`): over HTTP/2 the
/// client gets the data and the trailers, and the session a success, once. They were lost: the
/// body was taken as ended once its length was reached, and hyper ended the stream on the last
/// data frame. (Over HTTP/1 a body of known length goes with a `Content-Length`, which leaves
/// no room for trailers: the data arrives, and the session sees a success.)
#[tokio::test]
async fn the_trailers_of_a_body_of_known_length_reach_an_http2_client() {
    let _serial = serial().await;
    let server = App::new()
        .get("/trailers", with_trailers)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();

    common::clear();
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    let mut body = guard("the answer", common::h2_get(&mut client, addr, "/trailers")).await;
    let mut got = Vec::new();
    while let Some(data) = guard("the body", body.data()).await {
        got.extend_from_slice(&data.unwrap());
    }
    assert_eq!(got, b"hello");
    let trailers = guard("the trailers", body.trailers()).await.unwrap();
    assert_eq!(
        trailers.as_ref().and_then(|t| t.get("grpc-status")),
        Some(&http::HeaderValue::from_static("0")),
        "{trailers:?}"
    );
    common::wait_for("session:close success 200").await;
    driver.abort();
    settled_whole(&server).await;
    assert_eq!(events(), ["session:open", "session:close success 200"]);

    common::clear();
    let (answer, _) = exchange(
        addr,
        b"GET /trailers HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n",
    )
    .await;
    let (head, body) = split(&answer);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"hello", "{head}");
    settled_whole(&server).await;
    assert_eq!(events(), ["session:open", "session:close success 200"]);
    server.shutdown().await;
}

/// `size` bytes and a ready `grpc-status: 0` trailer, as `with_trailers` makes them.
fn sized_with_trailers(size: usize) -> http::Response<Body> {
    use http_body_util::BodyExt;
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let body = http_body_util::Full::new(Bytes::from(vec![b'x'; size]))
        .map_err(|never: std::convert::Infallible| match never {})
        .with_trailers(async move { Some(Ok(trailers)) });
    http::Response::new(Body::new(body))
}

/// 600 KiB with trailers: more than a window's worth, so that hyper takes the trailers only
/// once the client has taken the data.
#[depends]
async fn large_with_trailers(#[dep(session)] _s: &u8) -> http::Response<Body> {
    sized_with_trailers(600 * 1024)
}

/// A body of known length whose trailers had not gone out when its HTTP/2 client reset the
/// stream (it opened no window, so it took none of the data): its session is told the client
/// went away, not a success (a review found it told a success, the trailers held and dropped).
#[tokio::test]
async fn a_body_with_trailers_reset_before_they_went_is_not_a_success() {
    let _serial = serial().await;
    let server = App::new()
        .get("/large", large_with_trailers)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    common::clear();
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) =
        common::h2_client(io, h2::client::Builder::new().initial_window_size(0)).await;
    let response = guard(
        "the head",
        common::h2_send_get(&mut client, addr, "/large").await,
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    drop(response); // RST_STREAM(CANCEL)
    common::wait_for("session:close cancelled client gone").await;
    driver.abort();
    settled_whole(&server).await;
    assert_eq!(
        events(),
        ["session:open", "session:close cancelled client gone"]
    );
    server.shutdown().await;
}

/// Set when the client has seen the end of [`held_open`]'s stream: only then does its sender
/// close.
static SEEN_END: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// A stream declaring `Content-Length: 5` that sends its 5 bytes and then stays open (a
/// channel whose sender lives on), on a route with no `request`-scope work.
#[depends]
async fn held_open() -> http::Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        tx.send(Ok(Bytes::from_static(b"hello"))).await.ok();
        SEEN_END.notified().await;
        drop(tx);
    });
    let stream = stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = http::Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from_static("5"),
    );
    response
}

/// Over HTTP/2, a stream that has sent the length it declared ends there, though it stays
/// open: it is asked for nothing more, as over HTTP/1 (it held the stream open until its
/// sender closed, when no `request`-scope work tracked it).
#[tokio::test]
async fn a_stream_that_sent_its_declared_length_ends_over_http2_though_it_stays_open() {
    let _serial = serial().await;
    let server = App::new()
        .get("/held-open", held_open)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    let mut body = guard("the head", common::h2_get(&mut client, addr, "/held-open")).await;
    let mut got = Vec::new();
    while let Some(data) = guard("the end, its sender still open", body.data()).await {
        got.extend_from_slice(&data.unwrap());
    }
    assert_eq!(got, b"hello");
    SEEN_END.notify_one();
    driver.abort();
    server.shutdown().await;
}
