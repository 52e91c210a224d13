//! Adversarial clients over real sockets: malformed and smuggling-shaped HTTP/1 requests,
//! pipelining, cut bodies, HTTP/2 resets, faulty teardowns at shutdown. Each checks the
//! contract: a clean 4xx (nothing internal leaked), no crash, every teardown exactly once
//! with a truthful outcome.

mod common;

use std::time::Duration;

use common::{events, h2_frame, log, serial};
use di_runtime::prelude::*;
use di_runtime::{BodyStream, Multipart};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn short(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::HandlerError { status, .. } => format!("error {}", status.as_u16()),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        other => other.to_string(),
    }
}

#[depends]
async fn req_gen(y: Yield<u8>) {
    log("req:setup");
    let (_, outcome) = y.provide(1).await;
    log(format!("req:{}", short(&outcome)));
}

#[depends(scope = "handler")]
async fn hnd_gen(y: Yield<u8>) {
    log("hnd:setup");
    let (_, outcome) = y.provide(1).await;
    log(format!("hnd:{}", short(&outcome)));
}

#[depends]
async fn ok(#[dep(req_gen)] _r: &u8, #[dep(hnd_gen)] _h: &u8) -> &'static str {
    "ok"
}

#[depends]
async fn boom(#[dep(req_gen)] _r: &u8, #[dep(hnd_gen)] _h: &u8) -> &'static str {
    panic!("secret-panic-text")
}

#[depends]
async fn json(
    #[dep(req_gen)] _r: &u8,
    #[dep(hnd_gen)] _h: &u8,
    Json(v): Json<serde_json::Value>,
) -> String {
    v.to_string()
}

#[depends]
async fn upload(
    #[dep(req_gen)] _r: &u8,
    #[dep(hnd_gen)] _h: &u8,
    mut body: BodyStream,
) -> Result<String, HttpError> {
    let mut n = 0;
    while let Some(chunk) = body.next().await {
        n += chunk?.len();
        log(format!("read {n}"));
    }
    Ok(format!("{n}"))
}

/// Reads a multipart upload field by field, chunk by chunk.
#[depends]
async fn form(
    #[dep(req_gen)] _r: &u8,
    #[dep(hnd_gen)] _h: &u8,
    mut form: Multipart,
) -> Result<String, HttpError> {
    let mut n = 0;
    while let Some(mut field) = form.next_field().await? {
        while let Some(chunk) = field.chunk().await? {
            n += chunk.len();
            log(format!("read {n}"));
        }
    }
    Ok(format!("{n}"))
}

#[depends]
async fn by_id(Path(id): Path<i64>) -> String {
    id.to_string()
}

#[depends]
async fn by_name(Path(name): Path<String>) -> String {
    name
}

#[derive(Deserialize)]
struct Q {
    a: Option<String>,
}

#[depends]
async fn query(Query(q): Query<Q>) -> String {
    q.a.unwrap_or_default()
}

fn app() -> App {
    App::new()
        .get("/ok", ok)
        .get("/boom", boom)
        .post("/json", json)
        .post("/upload", upload)
        .post("/form", form)
        .get("/notes/{id}", by_id)
        .get("/s/{name}", by_name)
        .get("/q", query)
        .body_limit(1024)
        .body_timeout(Duration::from_secs(2))
        .header_read_timeout(Duration::from_secs(2))
}

/// Sends `request`, then reads until the server closes (bounded).
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request).await;
    common::read_to_close(&mut stream).await
}

fn status(text: &str) -> u16 {
    text.get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a response: {text:?}"))
}

fn assert_clean(text: &str) {
    for leak in [
        "panick",
        "secret",
        "hyper",
        "Error(",
        "Utf8",
        "invalid utf-8",
        "backtrace",
    ] {
        assert!(!text.contains(leak), "leaked `{leak}`: {text}");
    }
}

async fn settled(server: &di_runtime::Server) -> Vec<String> {
    server.settle().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    events()
}

fn count_prefix(events: &[String], prefix: &str) -> usize {
    events.iter().filter(|e| e.starts_with(prefix)).count()
}

/// Every setup has exactly one teardown.
fn balanced(events: &[String]) {
    let req_setups = count_prefix(events, "req:setup");
    let hnd_setups = count_prefix(events, "hnd:setup");
    assert_eq!(
        count_prefix(events, "req:") - req_setups,
        req_setups,
        "{events:?}"
    );
    assert_eq!(
        count_prefix(events, "hnd:") - hnd_setups,
        hnd_setups,
        "{events:?}"
    );
}

/// Malformed, ambiguous and smuggling-shaped HTTP/1 requests: each gets its 4xx (hyper's bare
/// 400 for a head it cannot parse, the app's JSON answer otherwise), nothing internal in it,
/// and every teardown of what was set up exactly once. `Content-Length` with
/// `Transfer-Encoding` is read as chunked and the connection closed after it (RFC 9112 6.3).
/// A path or query value with invalid UTF-8 after percent-decoding is read with U+FFFD, as
/// FastAPI (uvicorn's `unquote`) reads it; `..` is not normalized.
#[tokio::test]
async fn malformed_and_ambiguous_http1_requests_get_a_clean_4xx_and_tear_down_once() {
    let _serial = serial().await;
    let server = app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let over = |head: &[u8], tail: &[u8]| -> Vec<u8> { [head, &[b' '; 2000][..], tail].concat() };
    let cases: Vec<(&str, Vec<u8>, u16, &[&str])> = vec![
        ("obs-fold", b"GET /ok HTTP/1.1\r\nhost: t\r\nx-a: 1\r\n  folded\r\n\r\n".to_vec(), 400, &[]),
        ("nul", b"GET /ok HTTP/1.1\r\nhost: t\r\nx-a: a\0b\r\n\r\n".to_vec(), 400, &[]),
        ("bare cr", b"GET /ok HTTP/1.1\r\nhost: t\r\nx-a: a\rb\r\n\r\n".to_vec(), 400, &[]),
        ("bad method", b"G\x01T /ok HTTP/1.1\r\nhost: t\r\n\r\n".to_vec(), 400, &[]),
        ("http/0.9", b"GET /ok\r\n\r\n".to_vec(), 400, &[]),
        ("http/2.0 as text", b"GET /ok HTTP/2.0\r\nhost: t\r\n\r\n".to_vec(), 400, &[]),
        ("absolute form", b"GET http://t/ok HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n".to_vec(), 200,
            &["req:setup", "hnd:setup", "hnd:success 200", "req:success 200"]),
        ("%FF int path", b"GET /notes/%FF HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n".to_vec(), 422, &[]),
        ("%FF str path", b"GET /s/%FF HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n".to_vec(), 200, &[]),
        ("dotdot", b"GET /s/../ok HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n".to_vec(), 404, &[]),
        ("bad query escapes", b"GET /q?a=%zz&b=%FF&%FF=1 HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n".to_vec(), 200, &[]),
        ("asterisk form", b"OPTIONS * HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n".to_vec(), 404, &[]),
        ("connect", b"CONNECT t:443 HTTP/1.1\r\nhost: t:443\r\nconnection: close\r\n\r\n".to_vec(), 404, &[]),
        ("http/1.0 chunked", b"POST /json HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n".to_vec(), 400, &[]),
        ("te gzip", b"POST /json HTTP/1.1\r\nhost: t\r\ntransfer-encoding: gzip\r\n\r\n".to_vec(), 400, &[]),
        ("two lengths", b"POST /json HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}".to_vec(), 400, &[]),
        ("length list", b"POST /json HTTP/1.1\r\nhost: t\r\ncontent-length: 2, 2\r\n\r\n{}".to_vec(), 400, &[]),
        ("negative length", b"POST /json HTTP/1.1\r\nhost: t\r\ncontent-length: -1\r\n\r\n{}".to_vec(), 400, &[]),
        ("signed length", b"POST /json HTTP/1.1\r\nhost: t\r\ncontent-length: +2\r\n\r\n{}".to_vec(), 400, &[]),
        ("length past u64", b"POST /json HTTP/1.1\r\nhost: t\r\ncontent-length: 99999999999999999999999\r\n\r\n{}".to_vec(), 400, &[]),
        ("length past the limit", b"POST /json HTTP/1.1\r\nhost: t\r\ncontent-length: 1000000000\r\n\r\n{}".to_vec(), 413, &[]),
        ("bad chunk size", b"POST /json HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".to_vec(), 400, &[]),
        ("huge chunk size", b"POST /json HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffff\r\n{}\r\n0\r\n\r\n".to_vec(), 400, &[]),
        ("negative chunk size", b"POST /json HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n-2\r\n{}\r\n0\r\n\r\n".to_vec(), 400, &[]),
        ("chunk without crlf", b"POST /json HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n".to_vec(), 400, &[]),
        ("bad chunk size, streamed", b"POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n".to_vec(), 400,
            &["req:setup", "hnd:setup", "read 2", "hnd:error 400", "req:error 400"]),
        ("chunk extension flood", [&b"POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n1"[..], &b";a=b".repeat(20000), b"\r\nx\r\n0\r\n\r\n"].concat(), 400,
            &["req:setup", "hnd:setup", "hnd:error 400", "req:error 400"]),
        ("length and chunked", b"POST /json HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n".to_vec(), 200,
            &["req:setup", "hnd:setup", "hnd:success 200", "req:success 200"]),
        ("chunked and length, streamed", b"POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n2\r\nab\r\n0\r\n\r\n".to_vec(), 200,
            &["req:setup", "hnd:setup", "read 2", "hnd:success 200", "req:success 200"]),
        ("json past the limit", over(b"POST /json HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 2000\r\n\r\n", b""), 413, &[]),
        ("chunked json past the limit", over(b"POST /json HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n7d0\r\n", b"\r\n0\r\n\r\n"), 413, &[]),
        ("stream past the limit", over(b"POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n7d0\r\n", b"\r\n0\r\n\r\n"), 413,
            &["req:setup", "hnd:setup", "hnd:error 413", "req:error 413"]),
        ("expect 100-continue, body never sent", b"POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\nexpect: 100-continue\r\n\r\n".to_vec(), 408,
            &["req:setup", "hnd:setup", "hnd:error 408", "req:error 408"]),
    ];
    for (name, request, expected, expected_events) in cases {
        common::clear();
        // Each answer ends the connection: none of these asks to keep it.
        let text = exchange(addr, &request).await;
        let events = settled(&server).await;
        // An interim 100 Continue comes first.
        let last = text.rfind("HTTP/1.1 ").map_or("", |at| &text[at..]);
        assert_eq!(status(last), expected, "{name}: {text}");
        assert_eq!(
            text.matches("HTTP/1.1 ").count() - text.matches("HTTP/1.1 100").count(),
            1,
            "{name}: one answer: {text}"
        );
        assert_clean(&text);
        assert_eq!(events, *expected_events, "{name}");
    }
    server.shutdown().await;
}

/// Three requests in one write, the second panicking: answered in order (200, generic 500,
/// 200), every teardown once; and a client that half-closes after its pipelined pair is
/// taken as gone for the request it had not been answered, with teardowns still once each.
#[tokio::test]
async fn pipelined_requests_with_a_panic_are_answered_in_order_and_torn_down_once() {
    let _serial = serial().await;
    let server = app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let text = exchange(
        addr,
        b"GET /ok HTTP/1.1\r\nhost: t\r\n\r\nGET /boom HTTP/1.1\r\nhost: t\r\n\r\nPOST /json HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
    )
    .await;
    let events = settled(&server).await;
    let statuses: Vec<u16> = text
        .match_indices("HTTP/1.1 ")
        .map(|(at, _)| status(&text[at..]))
        .collect();
    assert_eq!(statuses, [200, 500, 200], "{text}");
    assert!(text.ends_with("{}"), "{text}");
    assert_clean(&text);
    balanced(&events);
    for event in ["req:success 200", "req:panicked", "hnd:panicked"] {
        assert!(events.iter().any(|e| e == event), "{event}: {events:?}");
    }
    assert_eq!(count_prefix(&events, "req:setup"), 3, "{events:?}");

    common::clear();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /ok HTTP/1.1\r\nhost: t\r\n\r\nGET /boom HTTP/1.1\r\nhost: t\r\n\r\nGET /ok HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    let mut all = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut all)).await;
    let events = settled(&server).await;
    let all = String::from_utf8_lossy(&all);
    assert_clean(&all);
    balanced(&events);
    assert!(count_prefix(&events, "req:setup") >= 1, "{events:?}");
    server.shutdown().await;
}

// ------------------------------------------------------------------------ HTTP/2, raw frames

/// A GET's HEADERS block (HPACK, no Huffman): `:method GET`, `:scheme http`, `:path`, `:authority t`.
fn get_block(path: &str) -> Vec<u8> {
    let mut b = vec![0x82, 0x86, 0x44, path.len() as u8];
    b.extend_from_slice(path.as_bytes());
    b.extend_from_slice(&[0x41, 1, b't']);
    b
}

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

async fn h2_raw(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend(h2_frame(4, 0, 0, &[]));
    s.write_all(&hello).await.unwrap();
    s
}

/// Reads frames (ACKing SETTINGS) for `for_ms`; returns (type, flags, stream, payload) of each.
async fn h2_read(s: &mut TcpStream, for_ms: u64) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_millis(for_ms), async {
        let mut buf = [0u8; 8192];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let mut frames = Vec::new();
    let mut at = 0;
    while raw.len() >= at + 9 {
        let len = (usize::from(raw[at]) << 16)
            | (usize::from(raw[at + 1]) << 8)
            | usize::from(raw[at + 2]);
        if raw.len() < at + 9 + len {
            break;
        }
        let stream =
            u32::from_be_bytes([raw[at + 5], raw[at + 6], raw[at + 7], raw[at + 8]]) & 0x7fff_ffff;
        frames.push((
            raw[at + 3],
            raw[at + 4],
            stream,
            raw[at + 9..at + 9 + len].to_vec(),
        ));
        at += 9 + len;
    }
    frames
}

#[depends(scope = "handler")]
async fn slow_hnd(y: Yield<u8>) {
    log("hnd:setup");
    let (_, outcome) = y.provide(1).await;
    log("teardown-start");
    tokio::time::sleep(Duration::from_millis(400)).await;
    log(format!("hnd:{}", short(&outcome)));
}

#[depends]
async fn slow_commit(#[dep(req_gen)] _r: &u8, #[dep(slow_hnd)] _h: &u8) -> &'static str {
    "committed"
}

#[depends]
async fn endless(
    #[dep(req_gen)] r: Held<u8>,
) -> StreamBody<
    impl futures_util::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Send + use<>,
> {
    StreamBody::new(futures_util::stream::unfold(r, |r| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Some((Ok(bytes::Bytes::from_static(b"tick\n")), r))
    }))
}

#[depends]
async fn sleeper(#[dep(req_gen)] _r: &u8, #[dep(hnd_gen)] _h: &u8) -> &'static str {
    tokio::time::sleep(Duration::from_millis(500)).await;
    "slept"
}

fn h2_app() -> App {
    app()
        .get("/commit", slow_commit)
        .get("/endless", endless)
        .get("/sleep", sleeper)
        .http2_max_concurrent_streams(2)
}

/// Over HTTP/2: a stream reset while its `handler`-scope teardown runs (the commit finishes,
/// once; the `request` scope sees the client gone), a client GOAWAY in the middle of an
/// endless body (cancelled, once), and streams past `max_concurrent_streams` (refused with
/// REFUSED_STREAM, nothing set up for them; the others served).
#[tokio::test]
async fn http2_resets_goaway_and_streams_past_the_limit_tear_down_once() {
    let _serial = serial().await;
    let server = h2_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();

    let mut s = h2_raw(addr).await;
    s.write_all(&h2_frame(
        1,
        END_STREAM | END_HEADERS,
        1,
        &get_block("/commit"),
    ))
    .await
    .unwrap();
    common::wait_for("teardown-start").await;
    s.write_all(&h2_frame(3, 0, 1, &8u32.to_be_bytes()))
        .await
        .unwrap();
    let _ = h2_read(&mut s, 700).await;
    let events = settled(&server).await;
    assert_eq!(
        events,
        [
            "req:setup",
            "hnd:setup",
            "teardown-start",
            "hnd:success 200",
            "req:cancelled client gone"
        ]
    );
    drop(s);

    common::clear();
    let mut s = h2_raw(addr).await;
    s.write_all(&h2_frame(
        1,
        END_STREAM | END_HEADERS,
        1,
        &get_block("/endless"),
    ))
    .await
    .unwrap();
    common::wait_for("req:setup").await;
    let mut goaway = 1u32.to_be_bytes().to_vec();
    goaway.extend_from_slice(&0u32.to_be_bytes());
    s.write_all(&h2_frame(7, 0, 0, &goaway)).await.unwrap();
    let frames = h2_read(&mut s, 300).await;
    assert!(
        frames.iter().any(|f| f.0 == 0 && f.2 == 1),
        "the body goes on after GOAWAY"
    );
    drop(s);
    common::wait_for("req:cancelled client gone").await;
    assert_eq!(
        settled(&server).await,
        ["req:setup", "req:cancelled client gone"]
    );

    common::clear();
    let mut s = h2_raw(addr).await;
    let mut burst = Vec::new();
    for i in 0..6u32 {
        burst.extend(h2_frame(
            1,
            END_STREAM | END_HEADERS,
            1 + 2 * i,
            &get_block("/sleep"),
        ));
    }
    s.write_all(&burst).await.unwrap();
    let frames = h2_read(&mut s, 1500).await;
    let events = settled(&server).await;
    let refused: Vec<u32> = frames
        .iter()
        .filter(|f| f.0 == 3 && f.3 == 7u32.to_be_bytes())
        .map(|f| f.2)
        .collect();
    let answered: Vec<u32> = frames.iter().filter(|f| f.0 == 1).map(|f| f.2).collect();
    assert_eq!(refused, [5, 7, 9, 11]);
    assert_eq!(answered, [1, 3]);
    assert_eq!(count_prefix(&events, "req:success 200"), 2, "{events:?}");
    balanced(&events);
    server.shutdown().await;
}

// ------------------------------------------------------- faulty teardowns, client gone, shutdown

#[depends(scope = "app")]
async fn app_res(y: Yield<u8>) {
    log("app:setup");
    let (_, outcome) = y.provide(1).await;
    log(format!("app:{outcome}"));
}

#[depends]
async fn hangs(#[dep(app_res)] _a: &u8, y: Yield<u8>) {
    log("hang:setup");
    let (_, outcome) = y.provide(1).await;
    log(format!("hang:teardown {}", short(&outcome)));
    std::future::pending::<()>().await;
}

#[depends(scope = "handler")]
async fn panics_in_teardown(y: Yield<u8>) {
    log("ptd:setup");
    let (_, outcome) = y.provide(1).await;
    log(format!("ptd:teardown {}", short(&outcome)));
    panic!("secret-teardown-panic");
}

#[depends]
async fn faulty_stream(
    #[dep(hangs)] h: Held<u8>,
    #[dep(req_gen)] r: Held<u8>,
    #[dep(panics_in_teardown)] _p: &u8,
) -> StreamBody<
    impl futures_util::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Send + use<>,
> {
    StreamBody::new(futures_util::stream::unfold((h, r), |s| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Some((Ok(bytes::Bytes::from_static(b"tick\n")), s))
    }))
}

#[depends]
async fn faulty_slow(
    #[dep(hangs)] _h: &u8,
    #[dep(req_gen)] _r: &u8,
    #[dep(panics_in_teardown)] _p: &u8,
) -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "never"
}

#[tokio::test]
async fn panicking_and_hanging_teardowns_with_a_client_gone_at_shutdown_each_run_once() {
    let _serial = serial().await;
    let server = App::new()
        .get("/faulty", faulty_stream)
        .get("/faulty-slow", faulty_slow)
        .teardown_timeout(Duration::from_millis(500))
        .shutdown_grace(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    // A: streaming, the client goes away.
    let mut a = TcpStream::connect(addr).await.unwrap();
    a.write_all(b"GET /faulty HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let _ = a.read(&mut buf).await.unwrap();
    // B: a handler still running at shutdown.
    let mut b = TcpStream::connect(addr).await.unwrap();
    b.write_all(b"GET /faulty-slow HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    // C: streaming, still open at shutdown.
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET /faulty HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    let _ = c.read(&mut buf).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Client A goes away at the same moment as shutdown starts.
    drop(a);
    let started = std::time::Instant::now();
    let done = tokio::time::timeout(Duration::from_secs(10), server.shutdown()).await;
    let took = started.elapsed();
    let events = events();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(done.is_ok(), "shutdown hung: {events:?}");
    assert_eq!(count_prefix(&events, "hang:setup"), 3, "{events:?}");
    assert_eq!(count_prefix(&events, "hang:teardown"), 3, "{events:?}");
    assert_eq!(count_prefix(&events, "ptd:teardown"), 3, "{events:?}");
    balanced(&events);
    // The handler-scope teardown's panic became each response (500): the later teardowns are
    // told so; the one still running at shutdown was told `Cancelled(Shutdown)`.
    let at_shutdown = events
        .iter()
        .filter(|e| *e == "ptd:teardown cancelled shutdown");
    assert_eq!(at_shutdown.count(), 1, "{events:?}");
    assert_eq!(
        events.last().map(String::as_str).unwrap_or("").get(..4),
        Some("app:"),
        "{events:?}"
    );
    drop((b, c));
}

// ----------------------------------------------------------------------------- regressions

/// RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request with more than one `Host`,
/// or with an invalid one; nothing is set up, and the connection is closed (the request's
/// body, if any, was never read). HTTP/1.0 needs none; an empty `Host` is valid; one left out
/// is tolerated (see the server's `host_is_acceptable`).
#[tokio::test]
async fn an_http11_request_with_two_hosts_or_an_invalid_one_is_400_and_sets_nothing_up() {
    let _serial = serial().await;
    let server = app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    for request in [
        &b"GET /ok HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n"[..],
        b"GET http://a/ok HTTP/1.1\r\nhost: a\r\nhost: a\r\n\r\n",
        b"GET /ok HTTP/1.1\r\nhost: a b\r\n\r\n",
        b"GET /ok HTTP/1.1\r\nhost: user@a\r\n\r\n",
        b"POST /json HTTP/1.1\r\nhost: a\r\nhost: b\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}GET /ok HTTP/1.1\r\nhost: a\r\n\r\n",
    ] {
        common::clear();
        let text = exchange(addr, request).await;
        assert_eq!(status(&text), 400, "{text}");
        assert!(text.contains("x-request-id: "), "{text}");
        assert!(text.ends_with(r#"{"detail":"Bad Request"}"#), "one response, then closed: {text}");
        assert_eq!(settled(&server).await, Vec::<String>::new());
    }
    for request in [
        &b"GET /ok HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"[..],
        b"GET /ok HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nconnection: close\r\n\r\n",
        b"GET /ok HTTP/1.1\r\nhost: [::1]:80\r\nconnection: close\r\n\r\n",
        b"GET /ok HTTP/1.1\r\nhost:\r\nconnection: close\r\n\r\n",
        b"GET /ok HTTP/1.0\r\n\r\n",
        // No `Host` at all is served, as hyper, axum and most servers do: nothing here routes
        // by it, and quick clients (a health check written by hand) leave it out.
        b"GET /ok HTTP/1.1\r\nconnection: close\r\n\r\n",
    ] {
        let text = exchange(addr, request).await;
        assert_eq!(status(&text), 200, "{text}");
    }
    server.shutdown().await;
}

fn post_block(path: &str, content_length: Option<usize>) -> Vec<u8> {
    let mut b = vec![0x83, 0x86, 0x44, path.len() as u8];
    b.extend_from_slice(path.as_bytes());
    b.extend_from_slice(&[0x41, 1, b't']);
    b.extend_from_slice(&[0x5f, 0x10]);
    b.extend_from_slice(b"application/json");
    if let Some(len) = content_length {
        let len = len.to_string();
        b.extend_from_slice(&[0x5c, len.len() as u8]);
        b.extend_from_slice(len.as_bytes());
    }
    b
}

/// HTTP/2 request bodies that go wrong: reset mid-body, DATA past `content-length`, past
/// the body limit. Nothing set up for a body read whole; a streamed body's teardowns once,
/// never with success; nothing internal in an answer.
#[tokio::test]
async fn http2_bodies_reset_overlong_or_too_large_tear_down_once_and_never_succeed() {
    let _serial = serial().await;
    let server = h2_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    type Case = (&'static str, &'static str, Option<usize>, Vec<u8>, bool);
    let cases: Vec<Case> = vec![
        (
            "upload rst mid-body",
            "/upload",
            None,
            b"abcde".to_vec(),
            true,
        ),
        (
            "upload cl short then rst",
            "/upload",
            Some(100),
            b"abcde".to_vec(),
            true,
        ),
        (
            "json rst mid-body",
            "/json",
            None,
            b"{\"a\":".to_vec(),
            true,
        ),
        (
            "json data past cl",
            "/json",
            Some(2),
            b"{\"a\": 1}".to_vec(),
            false,
        ),
        (
            "upload data past cl",
            "/upload",
            Some(2),
            b"{\"a\": 1}".to_vec(),
            false,
        ),
        ("json over limit", "/json", None, vec![b' '; 2000], false),
        (
            "upload over limit",
            "/upload",
            None,
            vec![b' '; 2000],
            false,
        ),
    ];
    for (name, path, cl, data, reset) in cases {
        common::clear();
        let mut s = h2_raw(addr).await;
        let mut out = h2_frame(1, END_HEADERS, 1, &post_block(path, cl));
        out.extend(h2_frame(0, if reset { 0 } else { END_STREAM }, 1, &data));
        s.write_all(&out).await.unwrap();
        if reset {
            tokio::time::sleep(Duration::from_millis(200)).await;
            s.write_all(&h2_frame(3, 0, 1, &8u32.to_be_bytes()))
                .await
                .unwrap();
        }
        let frames = h2_read(&mut s, 700).await;
        drop(s);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let events = settled(&server).await;
        let status = frames
            .iter()
            .find(|f| f.0 == 1 && f.2 == 1)
            .map(|f| f.3.clone());
        let _ = (name, status);
        for f in frames.iter().filter(|f| f.0 == 0) {
            let text = String::from_utf8_lossy(&f.3);
            assert_clean(&text);
        }
        balanced(&events);
        assert!(!events.iter().any(|e| e.contains("success")), "{events:?}");
    }
    server.shutdown().await;
}

/// README: "every body-read error closes the HTTP/1 connection after its answer". A body read
/// as a stream (`BodyStream`) that fails while the handler reads it (past the limit, 413; too
/// slow, 408) is answered with `Connection: close` and the connection closed at once, as a
/// body read whole is: not kept alive while the rest of an oversized upload is drained.
#[tokio::test]
async fn a_streamed_body_that_fails_mid_read_closes_the_http1_connection_after_its_answer() {
    let _serial = serial().await;
    let server = app()
        .header_read_timeout(Duration::from_secs(20))
        .idle_timeout(Duration::from_secs(20))
        .body_timeout(Duration::from_millis(500))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let past_the_limit = [
        &b"POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n7d0\r\n"[..],
        &[b' '; 2000][..],
        b"\r\n0\r\n\r\n",
    ]
    .concat();
    let too_slow =
        b"POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n"
            .to_vec();
    for (request, expected) in [(past_the_limit, 413), (too_slow, 408)] {
        common::clear();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let mut received = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut received));
        let closed = read.await.is_ok();
        let text = String::from_utf8_lossy(&received);
        assert_eq!(status(&text), expected, "{text}");
        assert!(text.contains("connection: close"), "{text}");
        assert!(closed, "the connection was kept open after: {text}");
        let events = settled(&server).await;
        let error = format!("req:error {expected}");
        assert_eq!(
            events.iter().filter(|e| **e == error).count(),
            1,
            "{events:?}"
        );
        balanced(&events);
    }
    server.shutdown().await;
}

/// Waits (bounded) until the `request`-scope teardown has run.
async fn req_torn_down() {
    for _ in 0..1000 {
        if count_prefix(&events(), "req:") > count_prefix(&events(), "req:setup") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// README: "teardown sees how the request ended (... client gone)". A client that goes away
/// in the middle of a streamed upload makes the handler read an error item, which it returns
/// with `?`; its 400 reaches no one, and every teardown is told `Cancelled(ClientGone)`, once,
/// as when a client goes away during a handler that reads no body. Over HTTP/1: the socket
/// closed (chunked, or short of its `Content-Length`), or only its write half shut down; a
/// malformed chunk stays the client's error (400). Over HTTP/2: the stream reset (CANCEL).
#[tokio::test]
async fn a_client_gone_mid_streamed_upload_tears_down_once_with_client_gone() {
    let _serial = serial().await;
    let server = h2_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let gone = [
        "req:setup",
        "hnd:setup",
        "read 5",
        "hnd:cancelled client gone",
        "req:cancelled client gone",
    ];
    let chunked =
        b"POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n5\r\nabcde\r\n";
    let sized = b"POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\nabcde";
    let multipart = b"POST /form HTTP/1.1\r\nhost: t\r\ncontent-length: 300\r\n\
        content-type: multipart/form-data; boundary=B\r\n\r\n\
        --B\r\ncontent-disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nabcde";
    // (case, request, shut down only the write half)
    let cases: [(&str, &[u8], bool); 4] = [
        ("chunked, closed", chunked, false),
        ("content-length, closed", sized, false),
        ("multipart, closed", multipart, false),
        ("chunked, write half shut down", chunked, true),
    ];
    for (name, request, half) in cases {
        common::clear();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        common::wait_for("read 5").await;
        if half {
            stream.shutdown().await.unwrap();
            let mut received = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut received))
                .await;
            // Hyper cannot tell a half close from a close (both are the end of the input
            // mid-body): the 400 is still written, to a client that abandoned its request.
            let text = String::from_utf8_lossy(&received);
            assert_eq!(status(&text), 400, "{text}");
        } else {
            drop(stream);
        }
        req_torn_down().await;
        let events = settled(&server).await;
        assert_eq!(events, gone, "{name}");
    }

    // A malformed chunk is not the client gone: the handler's 400 is its outcome.
    common::clear();
    let text = exchange(
        addr,
        b"POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n5\r\nabcde\r\nzz\r\n",
    )
    .await;
    assert_eq!(status(&text), 400, "{text}");
    let events = settled(&server).await;
    assert_eq!(
        events,
        [
            "req:setup",
            "hnd:setup",
            "read 5",
            "hnd:error 400",
            "req:error 400"
        ]
    );

    // HTTP/2: the stream reset with CANCEL mid-body.
    common::clear();
    let mut s = h2_raw(addr).await;
    let mut out = h2_frame(1, END_HEADERS, 1, &post_block("/upload", None));
    out.extend(h2_frame(0, 0, 1, b"abcde"));
    s.write_all(&out).await.unwrap();
    common::wait_for("read 5").await;
    s.write_all(&h2_frame(3, 0, 1, &8u32.to_be_bytes()))
        .await
        .unwrap();
    req_torn_down().await;
    let _ = h2_read(&mut s, 200).await;
    let events = settled(&server).await;
    assert_eq!(events, gone, "HTTP/2 reset");
    drop(s);
    server.shutdown().await;
}

/// An idle HTTP/2 connection whose peer does not answer the shutdown's GOAWAY ping (a dead or
/// hostile peer) does not hold up graceful shutdown, and with it `app`-scope teardown, for the
/// whole grace period: with nothing in progress it is closed a moment after it was asked to
/// close, as a connection that never sent a request is. One that answers is served until its
/// streams end, as before (tests/tcp.rs).
#[tokio::test]
async fn an_idle_http2_peer_that_ignores_goaway_does_not_hold_up_shutdown() {
    let _serial = serial().await;
    let server = app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let mut s = h2_raw(addr).await;
    s.write_all(&h2_frame(1, END_STREAM | END_HEADERS, 1, &get_block("/ok")))
        .await
        .unwrap();
    let frames = h2_read(&mut s, 300).await;
    assert!(frames.iter().any(|f| f.0 == 1 && f.2 == 1), "answered");
    // The client now reads nothing and answers nothing, but stays connected.
    let started = std::time::Instant::now();
    let shutdown = tokio::time::timeout(Duration::from_secs(10), server.shutdown()).await;
    assert!(shutdown.is_ok(), "shutdown waited for the grace period");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    balanced(&events());
    drop(s);
}
