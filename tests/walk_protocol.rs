//! di's own server walked by an attacker and by a strict reverse proxy, over real TCP: HTTP/1
//! framing a careful server refuses (transfer codings it does not implement, a repeated or
//! invalid `Host` whatever the version), responses whose framing a proxy must be able to trust
//! (a `Content-Length` that contradicts its body), what the server answers and what the
//! teardowns of what was set up see.

mod common;

use common::{events, log, serial, served_ok, within};
use di_runtime::prelude::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[depends]
async fn session(y: Yield<u8>) {
    log("session:setup");
    let (_, outcome) = y.provide(1).await;
    let what = match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::HandlerError { status, .. } => format!("error {}", status.as_u16()),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        Outcome::BodyError { .. } => "body error".to_owned(),
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

type Declared<const N: usize, B> = ([(http::HeaderName, &'static str); N], B);

/// Declares 100 bytes and sends 5.
#[depends]
async fn declares_more(#[dep(session)] _s: &u8) -> Declared<1, &'static str> {
    ([(http::header::CONTENT_LENGTH, "100")], "short")
}

/// Declares 2 bytes and sends 11.
#[depends]
async fn declares_less(#[dep(session)] _s: &u8) -> Declared<1, &'static str> {
    ([(http::header::CONTENT_LENGTH, "2")], "longer body")
}

/// Declares two lengths.
#[depends]
async fn declares_twice(#[dep(session)] _s: &u8) -> Declared<2, &'static str> {
    (
        [
            (http::header::CONTENT_LENGTH, "5"),
            (http::header::CONTENT_LENGTH, "6"),
        ],
        "short",
    )
}

/// Declares a length that is not a number.
#[depends]
async fn declares_nonsense(#[dep(session)] _s: &u8) -> Declared<1, &'static str> {
    ([(http::header::CONTENT_LENGTH, "five")], "short")
}

/// Declares nothing to send, and has 5 bytes.
#[depends]
async fn declares_zero(#[dep(session)] _s: &u8) -> Declared<1, &'static str> {
    ([(http::header::CONTENT_LENGTH, "0")], "short")
}

/// A response of its own, declaring 100 bytes and holding 5.
#[depends]
async fn raw_declares_more(#[dep(session)] _s: &u8) -> http::Response<String> {
    let mut response = http::Response::new("short".to_owned());
    response.headers_mut().insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from_static("100"),
    );
    response
}

/// Declares the length its body has.
#[depends]
async fn declares_right(#[dep(session)] _s: &u8) -> Declared<1, &'static str> {
    ([(http::header::CONTENT_LENGTH, "5")], "short")
}

/// The answer of a `HEAD` route written by hand: the length of what a `GET` would send, and
/// no body.
#[depends]
async fn declares_without_body(#[dep(session)] _s: &u8) -> Declared<1, ()> {
    ([(http::header::CONTENT_LENGTH, "1234")], ())
}

fn declaring_app() -> App {
    app()
        .get("/more", declares_more)
        .get("/less", declares_less)
        .get("/twice", declares_twice)
        .get("/nonsense", declares_nonsense)
        .get("/zero", declares_zero)
        .get("/raw", raw_declares_more)
        .get("/right", declares_right)
        .get("/bodiless", declares_without_body)
}

/// A handler's `Content-Length` that contradicts its body of known length (100 declared and
/// 5 bytes sent, 2 declared and 11 sent) was sent with the body's bytes: the client (a proxy
/// that keeps its upstream connections) read the next response on the connection as the rest
/// of this body, or the rest of this body as the next response, handing one client's answer to
/// another; in a debug build hyper panicked in the connection's task instead (the client got
/// nothing, the teardowns were told the client had gone). The response now fails where the
/// body parts from its length, as a streamed body longer or shorter than its `Content-Length`
/// does: the teardowns see `BodyError`, the HTTP/1 connection is closed with nothing read
/// past it, the HTTP/2 stream is reset. A value that is not one length (two, a word), or zero
/// for a body that is not empty, is the handler's mistake as an invalid header is: a generic
/// 500, and the connection goes on. A length that matches is sent as it is; a bodiless
/// answer that declares the length of what a `GET` would send (a `HEAD` route written by
/// hand) keeps it for a `HEAD`, and to a `GET` fails as a body short of its length.
#[tokio::test]
async fn a_content_length_that_contradicts_the_body_never_desyncs_the_connection() {
    let _serial = serial().await;
    let server = declaring_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    for path in ["/more", "/less", "/raw", "/bodiless"] {
        common::clear();
        let sent = format!(
            "GET {path} HTTP/1.1\r\nhost: t\r\n\r\n\
             GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        );
        let text = exchange(addr, sent.as_bytes()).await;
        // At most the head and the body's bytes up to where it parts from its length (what
        // hyper had flushed), then the close: nothing after it is read as a response.
        assert!(text.matches("HTTP/1.1 ").count() <= 1, "{path}: {text:?}");
        assert!(!text.ends_with("ok"), "{path}: {text:?}");
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let declared: usize = head
                .split("\r\n")
                .find_map(|line| line.strip_prefix("content-length: "))
                .and_then(|length| length.parse().ok())
                .unwrap_or_else(|| panic!("{path}: {text:?}"));
            assert!(body.len() < declared, "{path}: {text:?}");
        }
        assert_eq!(
            settled(&server).await,
            ["session:setup", "session:body error"],
            "{path}"
        );
    }

    let internal = r#"{"detail":"Internal Server Error"}"#;
    for path in ["/twice", "/nonsense", "/zero"] {
        common::clear();
        let sent = format!(
            "GET {path} HTTP/1.1\r\nhost: t\r\n\r\n\
             GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        );
        let text = exchange(addr, sent.as_bytes()).await;
        let (first, second) = text
            .split_once(internal)
            .unwrap_or_else(|| panic!("{path}: no generic 500: {text:?}"));
        assert!(first.starts_with("HTTP/1.1 500 "), "{path}: {text:?}");
        assert!(
            first.contains(&format!("\r\ncontent-length: {}\r\n", internal.len())),
            "{path}: {text:?}"
        );
        assert!(
            served_ok(second),
            "{path}: the next request on the connection: {text:?}"
        );
        let events = settled(&server).await;
        assert_eq!(
            common::count(&events, "session:setup"),
            2,
            "{path}: {events:?}"
        );
        assert_eq!(
            common::count(&events, "session:error 500"),
            1,
            "{path}: {events:?}"
        );
        assert_eq!(
            common::count(&events, "session:success 200"),
            1,
            "{path}: {events:?}"
        );
    }

    common::clear();
    let text = exchange(
        addr,
        b"GET /right HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(
        text.starts_with("HTTP/1.1 200 ")
            && text.contains("\r\ncontent-length: 5\r\n")
            && text.ends_with("\r\n\r\nshort"),
        "{text:?}"
    );
    assert_eq!(
        settled(&server).await,
        ["session:setup", "session:success 200"]
    );

    common::clear();
    let text = exchange(
        addr,
        b"HEAD /bodiless HTTP/1.1\r\nhost: t\r\n\r\nGET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    )
    .await;
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 200 ") && head.contains("\r\ncontent-length: 1234"),
        "{text:?}"
    );
    assert!(
        rest.starts_with("HTTP/1.1 200 ") && rest.ends_with("\r\n\r\nok"),
        "{text:?}"
    );
    let events = settled(&server).await;
    assert_eq!(
        common::count(&events, "session:success 200"),
        2,
        "{events:?}"
    );

    // Over HTTP/2: the stream of a body that parts from its length is reset (or its body cut
    // short of its length), the others answered, on a connection that goes on.
    common::clear();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(stream, &h2::client::Builder::new()).await;
    for path in ["/more", "/less", "/raw", "/bodiless", "/twice", "/zero"] {
        let answer = async {
            let response = common::h2_send_get(&mut client, addr, path).await.await?;
            let status = response.status();
            let mut body = response.into_body();
            let mut got = Vec::new();
            while let Some(chunk) = body.data().await {
                got.extend_from_slice(&chunk?);
            }
            Ok::<_, h2::Error>((status, got))
        };
        match (path, within(answer).await) {
            ("/twice" | "/zero", Ok((status, body))) => {
                assert_eq!(
                    (status.as_u16(), &body[..]),
                    (500, internal.as_bytes()),
                    "{path}"
                );
            }
            ("/twice" | "/zero", Err(error)) => panic!("{path}: {error}"),
            (_, Ok((status, body))) => panic!("{path}: {status} {body:?} passed for whole"),
            (_, Err(_)) => {}
        }
    }
    let mut body = common::h2_get(&mut client, addr, "/health").await;
    assert_eq!(within(body.data()).await.unwrap().unwrap(), "ok");
    driver.abort();
    let events = settled(&server).await;
    assert_eq!(
        common::count(&events, "session:body error"),
        4,
        "{events:?}"
    );
    assert_eq!(common::count(&events, "session:error 500"), 2, "{events:?}");
    server.shutdown().await;
}

/// An error that gives its own `Content-Length` (and `Transfer-Encoding`) beside its JSON body.
#[depends]
async fn error_declaring(#[dep(session)] _s: &u8) -> Result<&'static str, HttpError> {
    Err(
        HttpError::new(StatusCode::UNAUTHORIZED, "Not authenticated")
            .with_header(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            )
            .with_header(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from_static("3"),
            ),
    )
}

/// An error that says its body is chunked.
#[depends]
async fn error_chunked(#[dep(session)] _s: &u8) -> Result<&'static str, HttpError> {
    Err(
        HttpError::new(StatusCode::FORBIDDEN, "Forbidden").with_header(
            http::header::TRANSFER_ENCODING,
            http::HeaderValue::from_static("chunked"),
        ),
    )
}

/// An error's body is the error's own (its JSON), so its length and framing are the server's:
/// a `Content-Length` or `Transfer-Encoding` given with `HttpError::with_header` was sent
/// beside it as it was, and a wrong length made hyper frame the body by its own length under
/// the given one (the next response read as the rest of this one by a client that trusts it;
/// in a debug build a panic in the connection's task, the client getting nothing). They are
/// left out, as they are of an error made from a response: the answer is the error with its
/// other headers, whole, and the connection goes on.
#[tokio::test]
async fn an_errors_own_content_length_or_transfer_encoding_is_left_out() {
    let _serial = serial().await;
    let server = app()
        .get("/denied", error_declaring)
        .get("/forbidden", error_chunked)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    for (path, status, body, header) in [
        (
            "/denied",
            "401",
            r#"{"detail":"Not authenticated"}"#,
            "\r\nwww-authenticate: Bearer\r\n",
        ),
        ("/forbidden", "403", r#"{"detail":"Forbidden"}"#, ""),
    ] {
        common::clear();
        let sent = format!(
            "GET {path} HTTP/1.1\r\nhost: t\r\n\r\n\
             GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        );
        let text = exchange(addr, sent.as_bytes()).await;
        let (first, second) = text
            .split_once(body)
            .unwrap_or_else(|| panic!("{path}: no whole error: {text:?}"));
        assert!(
            first.starts_with(&format!("HTTP/1.1 {status} ")),
            "{path}: {text:?}"
        );
        assert!(first.contains(header), "{path}: {text:?}");
        assert!(
            first.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
            "{path}: {text:?}"
        );
        assert_eq!(
            first.matches("content-length").count(),
            1,
            "{path}: {text:?}"
        );
        assert!(!first.contains("transfer-encoding"), "{path}: {text:?}");
        assert!(
            served_ok(second),
            "{path}: the next request on the connection: {text:?}"
        );
        let events = settled(&server).await;
        assert_eq!(
            common::count(&events, &format!("session:error {status}")),
            1,
            "{path}: {events:?}"
        );
        assert_eq!(
            common::count(&events, "session:success 200"),
            1,
            "{path}: {events:?}"
        );
    }
    // Over HTTP/2, the error whole.
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(stream, &h2::client::Builder::new()).await;
    let response = within(common::h2_send_get(&mut client, addr, "/denied").await)
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let mut body = response.into_body();
    let mut got = Vec::new();
    while let Some(chunk) = within(body.data()).await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got, br#"{"detail":"Not authenticated"}"#);
    driver.abort();
    server.shutdown().await;
}

/// Declares a length and a chunked body at once.
#[depends]
async fn declares_length_and_chunked(#[dep(session)] _s: &u8) -> Declared<2, &'static str> {
    (
        [
            (http::header::TRANSFER_ENCODING, "chunked"),
            (http::header::CONTENT_LENGTH, "4"),
        ],
        "body",
    )
}

/// RFC 9112 6.2: a message with a `Transfer-Encoding` carries no `Content-Length`. A handler
/// that gave its response both got nothing sent over HTTP/1.1 (hyper refuses such a head and
/// closes the connection: the client got an empty reply, and the teardowns were told the
/// client had gone, which it had not), while HTTP/1.0 and HTTP/2 sent it. It is the handler's
/// mistake, as an invalid header is: a generic 500 over every protocol, its teardowns told
/// so, and the connection goes on.
#[tokio::test]
async fn a_content_length_beside_a_transfer_encoding_is_a_500() {
    let _serial = serial().await;
    let server = app()
        .get("/both", declares_length_and_chunked)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let internal = r#"{"detail":"Internal Server Error"}"#;
    for version in ["1.1", "1.0"] {
        common::clear();
        let sent = format!(
            "GET /both HTTP/{version}\r\nhost: t\r\nconnection: keep-alive\r\n\r\n\
             GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        );
        let text = exchange(addr, sent.as_bytes()).await;
        let (first, second) = text
            .split_once(internal)
            .unwrap_or_else(|| panic!("HTTP/{version}: no generic 500: {text:?}"));
        assert!(
            first.starts_with(&format!("HTTP/{version} 500 ")),
            "{text:?}"
        );
        assert!(!first.contains("transfer-encoding"), "{text:?}");
        assert!(
            served_ok(second),
            "HTTP/{version}: the next request on the connection: {text:?}"
        );
        let events = settled(&server).await;
        assert_eq!(common::count(&events, "session:error 500"), 1, "{events:?}");
        assert_eq!(
            common::count(&events, "session:success 200"),
            1,
            "{events:?}"
        );
    }
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(stream, &h2::client::Builder::new()).await;
    let response = within(common::h2_send_get(&mut client, addr, "/both").await)
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    driver.abort();
    server.shutdown().await;
}
