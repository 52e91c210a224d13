//! Real-world client behaviours over TCP: HTTP/1.0 clients (a streamed body sent
//! close-delimited), pipelining behind a streamed response, `Expect: 100-continue` answered
//! without the body, a client that half-closes after its request, HTTP/2 resets, trailers
//! and many small streams.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{count, dechunk, events, log, position, read_head, read_to_close, serial, wait_for};
use di_runtime::prelude::*;
use futures_util::{StreamExt as _, stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Session;

#[depends]
async fn session(y: Yield<Session>) {
    let (_session, outcome) = y.provide(Session).await;
    let what = match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        Outcome::HandlerError { status, .. } => format!("error {}", status.as_u16()),
        other => other.to_string(),
    };
    log(format!("req:close {what}"));
}

/// 20 lines, a moment apart, holding the session until the last.
#[depends]
async fn lines(
    #[dep(session)] s: Held<Session>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    log("lines:handler");
    let chunks = stream::unfold((s, 0u32), |(s, i)| async move {
        if i == 20 {
            log("lines:end");
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        Some((Ok(Bytes::from(format!("line {i}\n"))), (s, i + 1)))
    });
    StreamBody::new(chunks)
}

fn all_lines() -> String {
    (0..20).map(|i| format!("line {i}\n")).collect()
}

/// A stream that never ends by itself.
#[depends]
async fn endless(
    #[dep(session)] s: Held<Session>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    let chunks = stream::unfold(s, |s| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Some((Ok(Bytes::from_static(b"more\n")), s))
    });
    StreamBody::new(chunks)
}

#[depends]
async fn full(#[dep(session)] _s: &Session) -> &'static str {
    log("full:handler");
    "full"
}

/// Answers after a moment (a query, a call to another service).
#[depends]
async fn slow(#[dep(session)] _s: &Session) -> &'static str {
    tokio::time::sleep(Duration::from_millis(200)).await;
    "slow"
}

#[depends]
async fn auth(head: &HeaderMap) -> Result<(), HttpError> {
    if head.get("x-key").is_some_and(|v| v == "yes") {
        Ok(())
    } else {
        Err(HttpError::new(
            StatusCode::UNAUTHORIZED,
            "Not authenticated",
        ))
    }
}

#[depends]
async fn guarded(
    #[dep(session)] _s: &Session,
    #[dep(auth)] _a: &(),
    Json(v): Json<serde_json::Value>,
) -> String {
    v.to_string()
}

/// A POST that reads no body (an action), behind `auth`.
#[depends]
async fn action(#[dep(session)] _s: &Session, #[dep(auth)] _a: &()) -> &'static str {
    "done"
}

/// A streamed upload behind `auth` (set up before the body is read).
#[depends]
async fn guarded_upload(
    #[dep(session)] _s: &Session,
    #[dep(auth)] _a: &(),
    body: di_runtime::BodyStream,
) -> Result<String, HttpError> {
    Ok(format!("{} bytes", body.to_bytes().await?.len()))
}

/// Answers from the first part of a streamed upload.
#[depends]
async fn first_chunk(
    #[dep(session)] _s: &Session,
    mut body: di_runtime::BodyStream,
) -> Result<String, HttpError> {
    let first = body.next().await.transpose()?.unwrap_or_default();
    Ok(format!("first {}", first.len().min(1)))
}

#[depends]
async fn upload(
    #[dep(session)] _s: &Session,
    mut body: di_runtime::BodyStream,
) -> Result<String, HttpError> {
    let mut n = 0;
    while let Some(chunk) = body.next().await {
        n += chunk?.len();
    }
    Ok(format!("{n} bytes"))
}

/// Which upload a `/tagged-upload` is: a required query parameter.
#[derive(serde::Deserialize)]
struct Tag {
    #[allow(dead_code)]
    tag: String,
}

/// A streamed upload with a request input: a request without `?tag=` is answered (422) before
/// anything is set up or the body is read.
#[depends]
async fn tagged_upload(
    #[dep(session)] _s: &Session,
    _tag: Query<Tag>,
    body: di_runtime::BodyStream,
) -> Result<String, HttpError> {
    Ok(format!("{} bytes", body.to_bytes().await?.len()))
}

/// A multipart form read to its end: the names of its fields.
#[depends]
async fn form_fields(
    #[dep(session)] _s: &Session,
    mut form: di_runtime::Multipart,
) -> Result<String, HttpError> {
    let mut names = Vec::new();
    while let Some(field) = form.next_field().await? {
        names.push(field.name().unwrap_or_default().to_owned());
        field.text().await?;
    }
    Ok(names.join(","))
}

#[depends]
async fn echo(#[dep(session)] _s: &Session, body: Bytes) -> String {
    format!("{} bytes", body.len())
}

async fn server() -> di_runtime::Server {
    App::new()
        .get("/lines", lines)
        .get("/endless", endless)
        .get("/full", full)
        .get("/slow", slow)
        .post("/guarded", guarded)
        .post("/action", action)
        .post("/guarded-upload", guarded_upload)
        .post("/first-chunk", first_chunk)
        .post("/tagged-upload", tagged_upload)
        .post("/upload", upload)
        .post("/form", form_fields)
        .post("/echo", echo)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// Reads one response of known framing from `stream`: its head (lower-cased) and body.
async fn read_response(stream: &mut TcpStream) -> (String, String) {
    read_response_from(stream).await
}

/// [`read_response`] from any reader.
async fn read_response_from<R: tokio::io::AsyncRead + Unpin>(stream: &mut R) -> (String, String) {
    let mut byte = [0u8; 1];
    let read = async {
        let head = read_head(stream).await.to_ascii_lowercase();
        let body = if let Some(length) = header(&head, "content-length") {
            let mut body = vec![0u8; length.parse().unwrap()];
            stream.read_exact(&mut body).await.unwrap();
            body
        } else if header(&head, "transfer-encoding").as_deref() == Some("chunked") {
            let mut raw = Vec::new();
            while !raw.ends_with(b"\r\n0\r\n\r\n") && raw != b"0\r\n\r\n" {
                assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed in a body");
                raw.push(byte[0]);
            }
            dechunk(&raw)
        } else {
            Vec::new()
        };
        (head, String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("a response within 5 s")
}

/// Asserts that the connection still serves: `GET /full` on it is answered in full.
async fn the_connection_serves_on(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /full HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    read_ok(stream, "full").await;
}

/// Reads the next response on `stream`, which must be a 200 with `body`.
async fn read_ok(stream: &mut TcpStream, body: &str) {
    let (head, read) = read_response(stream).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(read, body);
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim().to_owned())
    })
}

/// Once the server has settled, asserts that `event` was logged `times` times.
async fn logged_times(server: &di_runtime::Server, event: &str, times: usize) {
    let events = settled(server).await;
    assert_eq!(count(&events, event), times, "{events:?}");
}

async fn settled(server: &di_runtime::Server) -> Vec<String> {
    server.settle().await;
    events()
}

// ------------------------------------------------------------------------------ HTTP/1.0

/// An HTTP/1.0 client cannot take a chunked body: a streamed response goes close-delimited,
/// whole, the connection closed after it, with or without `Connection: keep-alive`; its
/// `request`-scope teardown sees a success.
#[tokio::test]
async fn an_http10_client_gets_a_streamed_body_whole_close_delimited() {
    let _serial = serial().await;
    let server = server().await;
    for request in [
        &b"GET /lines HTTP/1.0\r\n\r\n"[..],
        b"GET /lines HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ] {
        common::clear();
        let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
        stream.write_all(request).await.unwrap();
        let text = read_to_close(&mut stream).await;
        let (head, body) = text.split_once("\r\n\r\n").expect("a head");
        let head = head.to_ascii_lowercase();
        assert!(head.starts_with("http/1.0 200"), "{head}");
        assert!(!head.contains("chunked"), "{head}");
        // A close-delimited body: keep-alive announced, a client that trusts it (`ab -k`)
        // would take the response for bodiless and reuse a connection about to close.
        assert!(!head.contains("keep-alive"), "{head}");
        assert_eq!(body, all_lines());
        wait_for("req:close success 200").await;
        logged_times(&server, "req:close success 200", 1).await;
    }
    server.shutdown().await;
}

/// A HEAD on a streamed route sends the head alone and keeps the connection, over HTTP/1.1
/// and for an HTTP/1.0 keep-alive client; its teardown sees a success.
#[tokio::test]
async fn a_head_on_a_streamed_route_keeps_the_connection() {
    let _serial = serial().await;
    let server = server().await;
    for version in ["HTTP/1.1\r\nHost: t", "HTTP/1.0\r\nConnection: keep-alive"] {
        common::clear();
        let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
        stream
            .write_all(format!("HEAD /lines {version}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let head = read_head(&mut stream).await.to_ascii_lowercase();
        assert!(head.contains(" 200 "), "{version}: {head}");
        assert_ne!(
            header(&head, "connection").as_deref(),
            Some("close"),
            "{version}: {head}"
        );
        stream
            .write_all(format!("GET /full {version}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let (head, body) = read_response(&mut stream).await;
        assert!(head.contains(" 200 "), "{version}: {head}");
        assert_eq!(body, "full", "{version}");
        let events = settled(&server).await;
        assert_eq!(
            count(&events, "req:close success 200"),
            2,
            "{version}: {events:?}"
        );
    }
    server.shutdown().await;
}

/// An HTTP/1.0 keep-alive client asking for a body of known length is kept alive: its
/// second request is answered on the same connection; without keep-alive it is closed.
#[tokio::test]
async fn an_http10_keep_alive_client_is_kept_alive_for_a_body_of_known_length() {
    let _serial = serial().await;
    let server = server().await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"GET /full HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .await
            .unwrap();
        let (head, body) = read_response(&mut stream).await;
        assert!(head.starts_with("http/1.0 200"), "{head}");
        assert_eq!(
            header(&head, "connection").as_deref(),
            Some("keep-alive"),
            "{head}"
        );
        assert_eq!(body, "full");
    }
    stream
        .write_all(b"GET /full HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let text = read_to_close(&mut stream).await;
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    assert!(text.ends_with("\r\n\r\nfull"), "{text}");
    logged_times(&server, "req:close success 200", 3).await;
    server.shutdown().await;
}

/// An HTTP/1.0 keep-alive client answered before its body was read (413 by its declared
/// length): the connection closes after the answer, and the answer says so, never
/// `keep-alive` as well.
#[tokio::test]
async fn an_http10_keep_alive_client_answered_unread_is_told_close_only() {
    let _serial = serial().await;
    let server = server().await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(
            b"POST /echo HTTP/1.0\r\nConnection: keep-alive\r\n\
              content-length: 10000000\r\n\r\n",
        )
        .await
        .unwrap();
    let text = read_to_close(&mut stream).await;
    let (head, _) = text.split_once("\r\n\r\n").expect("a head");
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.0 413"), "{head}");
    assert_eq!(
        header(&head, "connection").as_deref(),
        Some("close"),
        "{head}"
    );
    server.shutdown().await;
}

/// A client that offers an upgrade to `h2c` (`curl --http2` over plain TCP) is answered
/// over HTTP/1.1, and its connection kept for the next request.
#[tokio::test]
async fn an_h2c_upgrade_offer_is_answered_over_http11_and_the_connection_kept() {
    let _serial = serial().await;
    let server = server().await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(
            b"GET /lines HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n\
              Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
        )
        .await
        .unwrap();
    read_ok(&mut stream, &all_lines()).await;
    the_connection_serves_on(&mut stream).await;
    let events = settled(&server).await;
    assert_eq!(count(&events, "req:close success 200"), 2, "{events:?}");
    server.shutdown().await;
}

/// A body not read to its end, sent whole by the client, more than hyper drains after the
/// answer: the client's next request on the connection is answered, or the answer said
/// `Connection: close`. A keep-alive answer followed by a close makes a pooling client fail its
/// next request. Routes: one that reads no body (an action answered from its head), a
/// streamed upload refused by a dependency before the handler took the body, one whose
/// handler answers from the first part of the body, and a streamed upload refused for a bad
/// request input (answered before any setup).
#[tokio::test]
async fn a_body_not_read_to_its_end_leaves_the_connection_usable_or_says_close() {
    let _serial = serial().await;
    let server = server().await;
    for (path, key, status, answer) in [
        ("/action", "yes", "200", "done"),
        ("/guarded-upload", "no", "401", "Not authenticated"),
        ("/first-chunk", "yes", "200", "first 1"),
        ("/tagged-upload", "yes", "422", "missing"),
    ] {
        for size in [100, 100_000, 1_000_000] {
            common::clear();
            let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
            let mut request = format!(
                "POST {path} HTTP/1.1\r\nHost: t\r\nx-key: {key}\r\ncontent-length: {size}\r\n\r\n"
            )
            .into_bytes();
            request.extend(std::iter::repeat_n(b'x', size));
            let (mut read, mut write) = stream.split();
            let (_, (head, body)) = tokio::join!(
                async {
                    // The server may close before it has taken it all.
                    let _ = write.write_all(&request).await;
                },
                read_response_from(&mut read)
            );
            assert!(
                head.starts_with(&format!("http/1.1 {status}")),
                "{path} {size}: {head}"
            );
            assert!(body.contains(answer), "{path} {size}: {body}");
            let closes = header(&head, "connection").as_deref() == Some("close");
            let _ = stream
                .write_all(b"GET /full HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .await;
            let rest = read_to_close(&mut stream).await;
            if !closes {
                assert!(
                    rest.starts_with("HTTP/1.1 200"),
                    "{path} {size}: said keep-alive ({head:?}), then {rest:?}"
                );
            }
        }
    }
    server.shutdown().await;
}

/// A streamed upload read to its end (declared length or chunked) keeps the connection: the
/// next request on it is answered.
#[tokio::test]
async fn a_streamed_upload_read_to_its_end_keeps_the_connection() {
    let _serial = serial().await;
    let server = server().await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    for request in [
        &b"POST /upload HTTP/1.1\r\nHost: t\r\ncontent-length: 3\r\n\r\nabc"[..],
        b"POST /upload HTTP/1.1\r\nHost: t\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"POST /upload HTTP/1.1\r\nHost: t\r\ncontent-length: 0\r\n\r\n",
    ] {
        stream.write_all(request).await.unwrap();
        let (head, _) = read_response(&mut stream).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert_ne!(header(&head, "connection").as_deref(), Some("close"), "{head}");
    }
    the_connection_serves_on(&mut stream).await;
    server.shutdown().await;
}

/// A multipart form read to its end (declared length, as browsers and curl send one) keeps
/// the connection too: the multipart reader stops at the closing boundary, the body's last
/// bytes.
#[tokio::test]
async fn a_multipart_form_read_to_its_end_keeps_the_connection() {
    let _serial = serial().await;
    let server = server().await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let form = "--b\r\ncontent-disposition: form-data; name=\"a\"\r\n\r\n1\r\n\
                --b\r\ncontent-disposition: form-data; name=\"b\"; filename=\"b.txt\"\r\n\r\n22\r\n\
                --b--\r\n";
    stream
        .write_all(
            format!(
                "POST /form HTTP/1.1\r\nHost: t\r\ncontent-type: multipart/form-data; boundary=b\r\n\
                 content-length: {}\r\n\r\n{form}",
                form.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (head, body) = read_response(&mut stream).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, "a,b");
    assert_ne!(
        header(&head, "connection").as_deref(),
        Some("close"),
        "{head}"
    );
    the_connection_serves_on(&mut stream).await;
    server.shutdown().await;
}

// ------------------------------------------------------------------------------ pipelining

/// Three requests in one write, the first streamed: answered in order, the first whole; the
/// second handler runs only once the first body has ended; every teardown a success.
#[tokio::test]
async fn pipelined_requests_behind_a_streamed_response_are_answered_in_order() {
    let _serial = serial().await;
    let server = server().await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(
            b"GET /lines HTTP/1.1\r\nHost: t\r\n\r\nGET /full HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /lines HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .await
        .unwrap();
    read_ok(&mut stream, &all_lines()).await;
    read_ok(&mut stream, "full").await;
    read_ok(&mut stream, &all_lines()).await;
    // Still kept alive.
    the_connection_serves_on(&mut stream).await;
    let events = settled(&server).await;
    assert_eq!(count(&events, "req:close success 200"), 4, "{events:?}");
    assert!(position(&events, "lines:end") < position(&events, "full:handler"));
    drop(stream);
    server.shutdown().await;
}

/// A pipelining client that closes once it has read the first (streamed) response: each
/// request set up is torn down once.
#[tokio::test]
async fn a_pipelining_client_that_closes_after_the_first_response_is_torn_down_once_each() {
    let _serial = serial().await;
    let server = server().await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(
            b"GET /lines HTTP/1.1\r\nHost: t\r\n\r\nGET /endless HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /full HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .await
        .unwrap();
    let (_, body) = read_response(&mut stream).await;
    assert_eq!(body, all_lines());
    drop(stream);
    wait_for("req:close cancelled client gone").await;
    let events = settled(&server).await;
    let closes = events.iter().filter(|e| e.starts_with("req:close")).count();
    assert_eq!(closes, 2, "{events:?}");
    assert_eq!(count(&events, "req:close success 200"), 1, "{events:?}");
    server.shutdown().await;
}

// ------------------------------------------------------------------- Expect: 100-continue

/// The body a client sends after its head: 28 bytes that look like a request head.
const LOOKS_LIKE_A_HEAD: &[u8] = b"GET /full HTTP/1.1\r\nX: 12\r\n\r\n";

/// `Expect: 100-continue` on a route that reads no body, answered (401 by a dependency, or
/// 200) without asking for the body: the client sends it anyway, then a second request. The
/// body is never taken for a request head: either the answer said `Connection: close` and the
/// connection closes, or the second request alone is answered.
#[tokio::test]
async fn an_expect_continue_body_never_asked_for_is_not_taken_for_a_head() {
    let _serial = serial().await;
    let server = server().await;
    for (path, key) in [
        ("/action", "no"),
        ("/action", "yes"),
        ("/guarded-upload", "no"),
    ] {
        common::clear();
        let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
        stream
            .write_all(
                format!(
                    "POST {path} HTTP/1.1\r\nHost: t\r\nx-key: {key}\r\n\
                     content-length: 28\r\nexpect: 100-continue\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let (head, _) = read_response(&mut stream).await;
        let expected = if key == "yes" {
            "http/1.1 200"
        } else {
            "http/1.1 401"
        };
        assert!(head.starts_with(expected), "{key}: {head}");
        let _ = stream.write_all(LOOKS_LIKE_A_HEAD).await;
        let _ = stream
            .write_all(b"GET /full HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await;
        let rest = read_to_close(&mut stream).await;
        let events = settled(&server).await;
        if header(&head, "connection").as_deref() == Some("close") {
            assert_eq!(rest, "", "{key}: nothing after a response that said close");
            assert_eq!(count(&events, "full:handler"), 0, "{key}: {events:?}");
        } else {
            assert_eq!(rest.matches("HTTP/1.1 ").count(), 1, "{key}: {rest}");
            assert!(rest.starts_with("HTTP/1.1 200"), "{key}: {rest}");
            assert_eq!(count(&events, "full:handler"), 1, "{key}: {events:?}");
        }
    }
    server.shutdown().await;
}

/// `Expect: 100-continue` on a route that reads its body before its dependencies: asked for
/// it (`100 Continue`), then answered 401, the connection kept alive for the next request.
#[tokio::test]
async fn an_expect_continue_upload_refused_by_a_dependency_keeps_the_connection() {
    let _serial = serial().await;
    let server = server().await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(
            b"POST /guarded HTTP/1.1\r\nHost: t\r\ncontent-type: application/json\r\n\
              content-length: 8\r\nexpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let (head, _) = read_response(&mut stream).await;
    assert!(head.starts_with("http/1.1 100"), "{head}");
    stream.write_all(b"{\"a\": 1}").await.unwrap();
    let (head, body) = read_response(&mut stream).await;
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(body.contains("Not authenticated"), "{body}");
    the_connection_serves_on(&mut stream).await;
    server.shutdown().await;
}

// -------------------------------------------------------------------------- half-close

/// README: a client that shuts down its write half after its request (`nc -N`) is taken as
/// gone, as hyper takes it: a request still running when the end of the input is read gets no
/// response, and its teardown sees `Cancelled(ClientGone)`, once (what lets a handler stop when
/// its client leaves: a half close and a close look the same).
#[tokio::test]
async fn a_client_that_half_closes_before_its_answer_is_taken_as_gone() {
    let _serial = serial().await;
    let server = server().await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    let text = read_to_close(&mut stream).await;
    assert_eq!(text, "", "no answer");
    wait_for("req:close cancelled client gone").await;
    let events = settled(&server).await;
    assert_eq!(events, ["req:close cancelled client gone"]);
    server.shutdown().await;
}

// ------------------------------------------------------------------------------- HTTP/2

async fn h2_client(
    addr: SocketAddr,
) -> (h2::client::SendRequest<Bytes>, tokio::task::JoinHandle<()>) {
    let io = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(io).await.unwrap();
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client.ready().await.unwrap(), driver)
}

async fn h2_read_all(mut body: h2::RecvStream) -> Vec<u8> {
    let mut all = Vec::new();
    while let Some(data) = body.data().await {
        let data = data.unwrap();
        let _ = body.flow_control().release_capacity(data.len());
        all.extend_from_slice(&data);
    }
    all
}

/// A stream reset by the client mid-response is torn down `Cancelled(ClientGone)`, once;
/// a stream beside it on the same connection is served whole, a success.
#[tokio::test]
async fn an_http2_stream_reset_mid_response_leaves_its_neighbour_whole() {
    let _serial = serial().await;
    let server = server().await;
    let addr = server.local_addr();
    let (mut client, driver) = h2_client(addr).await;
    let get = |path: &str| {
        http::Request::get(format!("http://{addr}{path}"))
            .body(())
            .unwrap()
    };
    let (endless, mut endless_send) = client.send_request(get("/endless"), true).unwrap();
    let mut client = client.ready().await.unwrap();
    let (lines, _) = client.send_request(get("/lines"), true).unwrap();
    let mut endless = tokio::time::timeout(Duration::from_secs(5), endless)
        .await
        .unwrap()
        .unwrap()
        .into_body();
    let first = endless.data().await.unwrap().unwrap();
    assert_eq!(first, "more\n");
    endless_send.send_reset(h2::Reason::CANCEL);
    let lines = tokio::time::timeout(Duration::from_secs(5), lines)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lines.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(5), h2_read_all(lines.into_body()))
        .await
        .unwrap();
    assert_eq!(String::from_utf8(body).unwrap(), all_lines());
    wait_for("req:close cancelled client gone").await;
    wait_for("req:close success 200").await;
    let events = settled(&server).await;
    assert_eq!(
        count(&events, "req:close cancelled client gone"),
        1,
        "{events:?}"
    );
    assert_eq!(count(&events, "req:close success 200"), 1, "{events:?}");
    // The connection still serves.
    let (response, _) = client.send_request(get("/full"), true).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), response)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h2_read_all(response.into_body()).await, b"full");
    driver.abort();
    server.shutdown().await;
}

/// A request body followed by trailers, over HTTP/2 and chunked HTTP/1: read whole, streamed
/// or not, a success.
#[tokio::test]
async fn a_request_body_with_trailers_is_read_whole() {
    let _serial = serial().await;
    let server = server().await;
    let addr = server.local_addr();
    let (mut client, driver) = h2_client(addr).await;
    for path in ["/upload", "/echo"] {
        let request = http::Request::post(format!("http://{addr}{path}"))
            .body(())
            .unwrap();
        client = client.ready().await.unwrap();
        let (response, mut send) = client.send_request(request, false).unwrap();
        send.send_data(Bytes::from_static(b"hello "), false)
            .unwrap();
        send.send_data(Bytes::from_static(b"world"), false).unwrap();
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-checksum", http::HeaderValue::from_static("abc"));
        send.send_trailers(trailers).unwrap();
        let response = tokio::time::timeout(Duration::from_secs(5), response)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let body = h2_read_all(response.into_body()).await;
        assert_eq!(String::from_utf8(body).unwrap(), "11 bytes", "{path}");
    }
    driver.abort();
    for path in ["/upload", "/echo"] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                format!(
                    "POST {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n\
                     6\r\nhello \r\n5\r\nworld\r\n0\r\nx-checksum: abc\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let (head, body) = read_response(&mut stream).await;
        assert!(head.starts_with("http/1.1 200"), "{path}: {head}");
        assert_eq!(body, "11 bytes", "{path}");
    }
    let events = settled(&server).await;
    assert_eq!(count(&events, "req:close success 200"), 4, "{events:?}");
    server.shutdown().await;
}

/// Many small streams at once on one HTTP/2 connection (more than its stream limit): each
/// answered, each torn down once with success.
#[tokio::test]
async fn many_small_concurrent_http2_streams_are_each_answered_and_torn_down() {
    const STREAMS: usize = 1000;
    let _serial = serial().await;
    let server = server().await;
    let addr = server.local_addr();
    // The 500 `/lines` responses send 20 small DATA frames each, one every 5 ms. h2's client
    // (0.4.21 and later) counts the small frames it holds unread against a budget (by default
    // about 130 of them on a connection) and ends the connection with ENHANCE_YOUR_CALM past
    // it: a flood guard. On a loaded machine this test's 1000 reading tasks lag behind the
    // frames, so the budget is raised to what the test may hold at worst (every frame unread):
    // what is tested is the server, not the client's guard.
    let mut builder = h2::client::Builder::new();
    builder.data_frame_budget(STREAMS * 20 * 256);
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &builder).await;
    // One stream first: the client has the server's SETTINGS (its stream limit) before the
    // flood (streams opened before them past the limit are refused, as RFC 9113 allows).
    let request = http::Request::get(format!("http://{addr}/full"))
        .body(())
        .unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    let response = response.await.unwrap();
    assert_eq!(h2_read_all(response.into_body()).await, b"full");
    let mut tasks = Vec::new();
    for i in 0..STREAMS {
        let mut client = client.clone();
        tasks.push(tokio::spawn(async move {
            let path = if i % 2 == 0 { "/full" } else { "/lines" };
            let request = http::Request::get(format!("http://{addr}{path}"))
                .body(())
                .unwrap();
            client = client.ready().await.unwrap();
            let (response, _) = client.send_request(request, true).unwrap();
            let response = response.await.unwrap();
            assert_eq!(response.status(), 200);
            let body = h2_read_all(response.into_body()).await;
            if i % 2 == 0 {
                assert_eq!(body, b"full");
            } else {
                assert_eq!(String::from_utf8(body).unwrap(), all_lines());
            }
        }));
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("answered")
            .unwrap();
    }
    let events = settled(&server).await;
    assert_eq!(
        count(&events, "req:close success 200"),
        STREAMS + 1,
        "{:?}",
        events
            .iter()
            .filter(|e| !e.starts_with("req:close success")
                && !e.starts_with("lines")
                && !e.starts_with("full"))
            .collect::<Vec<_>>()
    );
    driver.abort();
    server.shutdown().await;
}

/// Bodies a route never reads, over HTTP/2, far past the connection's flow-control window in
/// all: each answered, and the connection goes on taking the next stream's body (the window
/// an unread body took is given back).
#[tokio::test]
async fn unread_http2_bodies_do_not_use_up_the_connection_window() {
    let _serial = serial().await;
    let server = server().await;
    let addr = server.local_addr();
    let (mut client, driver) = h2_client(addr).await;
    let chunk = Bytes::from(vec![b'x'; 256 * 1024]);
    for round in 0..40 {
        let request = http::Request::post(format!("http://{addr}/action"))
            .header("x-key", "yes")
            .body(())
            .unwrap();
        client = client.ready().await.unwrap();
        let (response, mut send) = client.send_request(request, false).unwrap();
        let sent = async {
            let mut data = chunk.clone();
            while !data.is_empty() {
                send.reserve_capacity(data.len());
                match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                    Some(Ok(room)) if room > 0 => {
                        let part = data.split_to(room.min(data.len()));
                        if send.send_data(part, data.is_empty()).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                }
            }
        };
        let answered = async {
            let response = response.await.unwrap();
            assert_eq!(response.status(), 200, "round {round}");
            h2_read_all(response.into_body()).await
        };
        let ((), body) = tokio::time::timeout(Duration::from_secs(5), async {
            tokio::join!(sent, answered)
        })
        .await
        .unwrap_or_else(|_| panic!("round {round}: nothing for 5 s"));
        assert_eq!(body, b"done", "round {round}");
    }
    let events = settled(&server).await;
    assert_eq!(count(&events, "req:close success 200"), 40, "{events:?}");
    driver.abort();
    server.shutdown().await;
}
