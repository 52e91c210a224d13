//! The server as real HTTP clients meet it (curl, httpx, requests, nghttp, h2load, ab, and a
//! raw socket where a client does something odd), over real TCP: each test is a difference a
//! client saw, shown failing before its fix, with what the teardowns of what was set up see.
//!
//! - The host a request names, as the app reads it in `Host`: an HTTP/1 request in absolute
//!   form (`curl --request-target http://...`, a client that takes the server for a proxy)
//!   names its host in its target, which RFC 9112 3.2.2 says a server uses, its `Host` ignored;
//!   an HTTP/2 request (`curl --http2-prior-knowledge`, httpx, nghttp) names it in
//!   `:authority`, with no `host` field. The app read the `Host` a request in absolute form
//!   sent beside its target, and found no `Host` at all over HTTP/2.
//! - Cookies over HTTP/2: a browser sends each cookie of a request in a `cookie` field of its
//!   own (RFC 9113 8.2.3, for header compression), which a server must join with `"; "` into
//!   one before an application reads them. The app read the first field only where it reads
//!   one (`Header`, `HeaderMap::get`), where the same request over HTTP/1.1 gave them all.
//! - An upload refused before its body is read (curl `-T -` to a route whose dependency answers
//!   401): the server closed the connection at once, the client's bytes unread, so that the
//!   client's next bytes met a reset (RFC 9112 9.6); curl, still sending, failed with `Send
//!   failure: Broken pipe` and never showed the answer, one time in two.

mod common;

use common::{events, log, serial};
use di_runtime::prelude::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[depends]
async fn session(y: Yield<u8>) {
    log("session:setup");
    let (_, outcome) = y.provide(1).await;
    log(format!("session:{}", common::describe(&outcome)));
}

/// Answers the `Host` values the app reads, `none` for none.
#[depends]
async fn host(#[dep(session)] _s: &u8, head: &HeaderMap) -> String {
    let hosts: Vec<&str> = head
        .get_all(http::header::HOST)
        .iter()
        .map(|value| value.to_str().unwrap_or("?"))
        .collect();
    if hosts.is_empty() {
        "none".to_owned()
    } else {
        hosts.join(" | ")
    }
}

#[derive(serde::Deserialize)]
struct CookieHeader {
    cookie: String,
}

#[derive(serde::Deserialize)]
struct Crumbs {
    a: String,
    b: String,
    c: String,
}

/// Answers the `Cookie` fields the app reads, the `cookie` a `Header` input reads, and the
/// cookies a `Cookie` input reads.
#[depends]
async fn cookies(
    #[dep(session)] _s: &u8,
    head: &HeaderMap,
    Header(header): Header<CookieHeader>,
    Cookie(crumbs): Cookie<Crumbs>,
) -> String {
    let fields: Vec<&str> = head
        .get_all(http::header::COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap_or("?"))
        .collect();
    format!(
        "{} / {} / {} {} {}",
        fields.join(" | "),
        header.cookie,
        crumbs.a,
        crumbs.b,
        crumbs.c
    )
}

/// Sends `request` on a new connection and reads until the server closes it: the answer's
/// status and body.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let text = common::read_to_close(&mut stream).await;
    let status = text
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, body.to_owned())
}

/// Waits until no request or teardown runs, then gives the events so far.
async fn settled(server: &di_runtime::Server) -> Vec<String> {
    common::settled_whole(server).await;
    events()
}

/// GETs `uri` over `client`'s HTTP/2 connection with the `host` fields `hosts`: the answer's
/// status and body.
async fn h2_exchange(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    uri: &str,
    hosts: &[&str],
) -> (u16, String) {
    h2_get_with(client, uri, http::header::HOST, hosts).await
}

/// GETs `uri` over `client`'s HTTP/2 connection with a field `name` of each of `values`: the
/// answer's status and body.
async fn h2_get_with(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    uri: &str,
    name: http::header::HeaderName,
    values: &[&str],
) -> (u16, String) {
    let mut request = http::Request::get(uri);
    for value in values {
        request = request.header(&name, *value);
    }
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .unwrap();
    let (answer, _) = client
        .send_request(request.body(()).unwrap(), true)
        .unwrap();
    let response = common::within(answer).await.unwrap();
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut got = Vec::new();
    while let Some(chunk) = common::within(body.data()).await {
        got.extend_from_slice(&chunk.unwrap());
    }
    (status, String::from_utf8_lossy(&got).into_owned())
}

/// The host a request names is the `Host` the app reads, whatever the version and the form
/// of its target. An HTTP/1 request in absolute form (`GET http://target.example/host`) names
/// its host in its target; RFC 9112 3.2.2 asks a server to use it and ignore the `Host`
/// beside it, which a client that takes the server for a proxy may fill in otherwise. The
/// app read that `Host` (a tenant chosen by host was the one the target did not name), or
/// none when the client sent none. An HTTP/2 request names its host in `:authority`
/// (RFC 9113 8.3.1), which every HTTP/2 client sends and few send a `host` beside: the app
/// found no `Host` at all, where the same request over HTTP/1.1 had one (a FastAPI-style
/// `Header` input naming `host` answered 422 over HTTP/2 only). Now the `Host` the app reads
/// is the target's authority for a request in absolute form, and the `:authority` of an
/// HTTP/2 request that sends no `host`; a target whose authority has user info (never a
/// valid `Host`) is the generic 400 of a bad `Host`, nothing set up. A request in origin form
/// keeps its own `Host`, and one without any is still served without.
#[tokio::test]
async fn the_host_an_app_reads_is_the_one_the_request_names_over_http1_and_http2() {
    let _serial = serial().await;
    let server = App::new()
        .get("/host", host)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    for (request, answer) in [
        (
            &b"GET /host HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"[..],
            (200, "a.example"),
        ),
        (
            b"GET /host HTTP/1.1\r\nConnection: close\r\n\r\n",
            (200, "none"),
        ),
        (
            b"GET http://target.example:8080/host HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
            (200, "target.example:8080"),
        ),
        (
            b"GET http://target.example/host HTTP/1.1\r\nConnection: close\r\n\r\n",
            (200, "target.example"),
        ),
        (
            b"GET http://target.example/host HTTP/1.0\r\nHost: other.example\r\n\r\n",
            (200, "target.example"),
        ),
        (
            b"GET http://user@target.example/host HTTP/1.1\r\nHost: target.example\r\nConnection: close\r\n\r\n",
            (400, r#"{"detail":"Bad Request"}"#),
        ),
    ] {
        common::clear();
        let shown = String::from_utf8_lossy(request).into_owned();
        let (status, body) = exchange(addr, request).await;
        assert_eq!((status, body.as_str()), answer, "{shown}");
        let expected: &[&str] = if answer.0 == 200 {
            &["session:setup", "session:success 200"]
        } else {
            &[]
        };
        assert_eq!(settled(&server).await, expected, "{shown}");
    }

    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(stream, &h2::client::Builder::new()).await;
    for (uri, hosts, answer) in [
        ("http://target.example/host", &[][..], "target.example"),
        (
            "http://Target.example:8080/host",
            &[][..],
            "Target.example:8080",
        ),
        (
            "http://target.example/host",
            &["target.example:80"][..],
            "target.example:80",
        ),
        ("/host", &["a.example"][..], "a.example"),
    ] {
        common::clear();
        let (status, body) = h2_exchange(&mut client, uri, hosts).await;
        assert_eq!((status, body.as_str()), (200, answer), "{uri} {hosts:?}");
        assert_eq!(
            settled(&server).await,
            ["session:setup", "session:success 200"],
            "{uri} {hosts:?}"
        );
    }
    driver.abort();
    server.shutdown().await;
}

/// RFC 9113 8.2.3: an HTTP/2 client may send each cookie in a `cookie` field of its own (the
/// browsers do, so that header compression indexes each one), and a server MUST join them
/// with `"; "` before passing them to a generic HTTP server application. di passed them as
/// they came: `HeaderMap::get(COOKIE)`, a `Header` input's `cookie` and a mounted service's
/// read of the field saw the first cookie alone, where the same request over HTTP/1.1 (one
/// `Cookie` with them all) gave every one. Now an HTTP/2 request's `cookie` fields are one,
/// and the app reads the same over both protocols; a `Cookie` input read every cookie before
/// and still does.
#[tokio::test]
async fn an_http2_requests_cookies_sent_apart_are_read_as_one_cookie_field() {
    let _serial = serial().await;
    let server = App::new()
        .get("/cookies", cookies)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let together = "a=1; b=2; c=3";
    let expected = format!("{together} / {together} / 1 2 3");

    common::clear();
    let (status, body) = exchange(
        addr,
        b"GET /cookies HTTP/1.1\r\nHost: t\r\nCookie: a=1; b=2; c=3\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, expected.as_str()),
        "HTTP/1.1"
    );
    assert_eq!(
        settled(&server).await,
        ["session:setup", "session:success 200"]
    );

    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(stream, &h2::client::Builder::new()).await;
    let uri = format!("http://{addr}/cookies");
    for crumbs in [
        &["a=1", "b=2", "c=3"][..],
        &["a=1; b=2", "c=3"][..],
        &[together][..],
    ] {
        common::clear();
        let (status, body) = h2_get_with(&mut client, &uri, http::header::COOKIE, crumbs).await;
        assert_eq!(
            (status, body.as_str()),
            (200, expected.as_str()),
            "HTTP/2 {crumbs:?}"
        );
        assert_eq!(
            settled(&server).await,
            ["session:setup", "session:success 200"],
            "HTTP/2 {crumbs:?}"
        );
    }
    driver.abort();
    server.shutdown().await;
}

/// Refuses a request without `x-key` (before the handler takes the body).
#[depends]
async fn keyed(head: &HeaderMap) -> Result<u8, HttpError> {
    if head.contains_key("x-key") {
        Ok(1)
    } else {
        Err(HttpError::unauthorized("no key"))
    }
}

/// A streamed upload behind [`keyed`].
#[depends]
async fn guarded_upload(
    #[dep(session)] _s: &u8,
    #[dep(keyed)] _k: &u8,
    body: di_runtime::BodyStream,
) -> Result<String, HttpError> {
    Ok(format!("{} bytes", body.to_bytes().await?.len()))
}

/// RFC 9112 9.6: a server that closes a connection at once, its client's bytes unread, makes
/// the client's next bytes meet a reset, and a client still sending its body may never read
/// the answer. An upload refused before its body is read (a chunked one, as `curl -T -` sends
/// it, to a route whose dependency answers 401) was answered and closed so: curl, still
/// sending, failed one time in two with `Send failure: Broken pipe` and showed no answer.
/// Now the server closes such a connection in stages, as nginx's `lingering_close` does: its
/// own side first, then, once it has read and dropped what the client still sends (for a
/// moment at most), the rest. A client sending 16 MiB of body after its head sends it all
/// without an error, reads the whole answer and then the end of the connection; the
/// teardowns see the setup failure once.
#[tokio::test]
async fn an_upload_refused_before_its_body_is_read_is_closed_without_a_reset() {
    use tokio::io::AsyncReadExt;
    let _serial = serial().await;
    let server = App::new()
        .post("/guarded", guarded_upload)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    common::clear();
    let stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let sending = tokio::spawn(async move {
        write
            .write_all(b"POST /guarded HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await?;
        let mut chunk = b"10000\r\n".to_vec();
        chunk.extend_from_slice(&[b'x'; 0x10000]);
        chunk.extend_from_slice(b"\r\n");
        for _ in 0..256 {
            write.write_all(&chunk).await?;
        }
        Ok::<_, std::io::Error>(write)
    });
    let mut answer = Vec::new();
    let end = match common::within(read.read_to_end(&mut answer)).await {
        Ok(_) => "closed".to_owned(),
        Err(error) => format!("{:?}", error.kind()),
    };
    let sent = common::within(sending).await.unwrap().map(drop);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 401 "), "{answer}");
    assert!(answer.ends_with(r#"{"detail":"no key"}"#), "{answer}");
    assert_eq!(end, "closed", "{answer}");
    assert!(sent.is_ok(), "the body met {sent:?}");
    assert_eq!(
        settled(&server).await,
        ["session:setup", "session:setup_failed keyed"]
    );
    server.shutdown().await;
}
