//! di's own server walked by an attacker and by a strict reverse proxy, over real TCP: HTTP/1
//! framing a careful server refuses (transfer codings it does not implement, a repeated or
//! invalid `Host` whatever the version), what it answers and what the teardowns of what was
//! set up see.

mod common;

use std::time::Duration;

use common::{events, log, serial};
use di_runtime::prelude::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Bounds a wait (a broken build fails the test instead of hanging).
async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out")
}

#[depends]
async fn session(y: Yield<u8>) {
    log("session:setup");
    let (_, outcome) = y.provide(1).await;
    let what = match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::HandlerError { status, .. } => format!("error {}", status.as_u16()),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        other => other.to_string(),
    };
    log(format!("session:{what}"));
}

#[depends]
async fn echo(#[dep(session)] _s: &u8, body: Bytes) -> String {
    format!("{} bytes: {}", body.len(), String::from_utf8_lossy(&body))
}

#[depends]
async fn health(#[dep(session)] _s: &u8) -> &'static str {
    "ok"
}

fn app() -> App {
    App::new().post("/echo", echo).get("/health", health)
}

/// Sends `request` on a new connection and reads until the server closes it (bounded).
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    within(common::read_to_close(&mut stream)).await
}

/// Waits until no teardown runs, then gives the events so far.
async fn settled(server: &di_runtime::Server) -> Vec<String> {
    within(server.settle()).await;
    events()
}

/// RFC 9112 6.1 and RFC 9110 15.6.2: a request body in a transfer coding the server does not
/// implement (`gzip, chunked`: only `chunked` is) is answered 501, as nginx answers it. hyper
/// reads such a body as chunked and hands on its bytes still in the coding (gzip), as if they
/// were the content: a JSON body read as what it is not, and a proxy in front that decodes
/// the coding sees another body than the app. Refused before anything is set up, the body
/// unread and the connection closed (the request pipelined after it is never served), the
/// answer naming what is wrong; `chunked` alone, in any case, with empty list elements, is
/// served.
#[tokio::test]
async fn a_transfer_coding_other_than_chunked_is_501_and_the_connection_closed() {
    let _serial = serial().await;
    let server = app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    for codings in [
        "transfer-encoding: gzip, chunked\r\n",
        "transfer-encoding: identity, chunked\r\n",
        "transfer-encoding: x-custom;q=1 , chunked\r\n",
        "transfer-encoding: gzip\r\ntransfer-encoding: chunked\r\n",
        "transfer-encoding: deflate,chunked\r\ncontent-length: 3\r\n",
    ] {
        common::clear();
        let sent = format!(
            "POST /echo HTTP/1.1\r\nhost: t\r\n{codings}\r\n3\r\nabc\r\n0\r\n\r\n\
             GET /health HTTP/1.1\r\nhost: t\r\n\r\n"
        );
        let text = exchange(addr, sent.as_bytes()).await;
        assert!(text.starts_with("HTTP/1.1 501 "), "{codings:?}: {text}");
        assert_eq!(
            text.matches("HTTP/1.1 ").count(),
            1,
            "{codings:?}: the pipelined request was served: {text}"
        );
        assert!(
            text.contains("\r\nconnection: close\r\n"),
            "{codings:?}: {text}"
        );
        assert!(text.contains("\r\nx-request-id: "), "{codings:?}: {text}");
        assert!(
            text.ends_with(r#"{"detail":"Transfer-Encoding other than chunked is not supported"}"#),
            "{codings:?}: {text}"
        );
        assert_eq!(settled(&server).await, Vec::<String>::new(), "{codings:?}");
    }
    for codings in [
        "transfer-encoding: chunked\r\n",
        "transfer-encoding: CHUNKED\r\n",
        "transfer-encoding: , chunked\r\n",
    ] {
        common::clear();
        let sent = format!(
            "POST /echo HTTP/1.1\r\nhost: t\r\n{codings}connection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        );
        let text = exchange(addr, sent.as_bytes()).await;
        assert!(
            text.starts_with("HTTP/1.1 200 ") && text.ends_with("3 bytes: abc"),
            "{codings:?}: {text}"
        );
        assert_eq!(
            settled(&server).await,
            ["session:setup", "session:success 200"],
            "{codings:?}"
        );
    }
    server.shutdown().await;
}

/// RFC 9112 3.2: a server MUST answer 400 to any request with more than one `Host`, or an
/// invalid one, not only to an HTTP/1.1 one (HTTP/1.0 needs none, but two are as ambiguous:
/// nginx's `proxy_pass` speaks HTTP/1.0 to the app unless told otherwise). Nothing is set up,
/// and the connection is closed; an HTTP/1.0 request with one `Host` or none is served.
#[tokio::test]
async fn an_http10_request_with_two_hosts_or_an_invalid_one_is_400_and_sets_nothing_up() {
    let _serial = serial().await;
    let server = app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    for request in [
        &b"GET /health HTTP/1.0\r\nhost: a\r\nhost: b\r\n\r\n"[..],
        b"GET /health HTTP/1.0\r\nhost: a b\r\n\r\n",
        b"GET /health HTTP/1.0\r\nhost: user@a\r\nconnection: keep-alive\r\n\r\nGET /health HTTP/1.0\r\n\r\n",
        b"POST /echo HTTP/1.0\r\nhost: a\r\nhost: a\r\ncontent-length: 3\r\n\r\nabc",
    ] {
        common::clear();
        let text = exchange(addr, request).await;
        assert!(text.starts_with("HTTP/1.0 400 "), "{text}");
        assert!(text.contains("x-request-id: "), "{text}");
        assert!(
            text.ends_with(r#"{"detail":"Bad Request"}"#),
            "one response, then closed: {text}"
        );
        assert_eq!(settled(&server).await, Vec::<String>::new());
    }
    for request in [
        &b"GET /health HTTP/1.0\r\n\r\n"[..],
        b"GET /health HTTP/1.0\r\nhost: t\r\n\r\n",
        b"GET /health HTTP/1.0\r\nhost: 127.0.0.1:8080\r\n\r\n",
    ] {
        common::clear();
        let text = exchange(addr, request).await;
        assert!(
            text.starts_with("HTTP/1.0 200 ") && text.ends_with("ok"),
            "{text}"
        );
        assert_eq!(
            settled(&server).await,
            ["session:setup", "session:success 200"]
        );
    }
    server.shutdown().await;
}
