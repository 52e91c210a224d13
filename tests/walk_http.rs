//! An HTTP conformance and information-leak walk over real sockets, every byte written by
//! hand: what di's server answers where HTTP leaves room, and what the teardowns of what was
//! set up see.
//!
//! - `405`: its `Allow` names every method the path is served with, for each route shape
//!   (static, parameter, catch-all, nested groups, methods of `App::route`, a mounted app), a
//!   lowercase or unknown method included; nothing is set up.
//! - A `404` or `405` (the app's own or a mounted app's) whose body looks like a request, sent
//!   with `Content-Length`, `chunked` or behind `Expect: 100-continue`: the body is never
//!   served as the next request.
//! - `Expect: 100-continue` on a route that reads no body, on a miss, on a route whose setup
//!   fails before its body is read, and past the body limit: answered without `100`, the
//!   connection closed (the body the client holds back is never taken for a request); on a
//!   route that reads the body, `100` first; an HTTP/1.0 expectation is ignored.
//! - `HEAD` on a `GET` route, for every answer (200, a stream, 404, 409, 422, 500, 503): the
//!   `GET`'s status and headers without its body, its teardowns seeing the same outcome.
//! - `Upgrade: websocket` and `Upgrade: h2c` on HTTP/1.1 routes: answered over HTTP/1.1, the
//!   connection serving on, teardowns once with success.
//! - HTTP/1.0 with `Connection: keep-alive`: kept after answers of known length, errors
//!   included; a streamed answer (close-delimited) ends the connection and never says
//!   keep-alive.
//! - Every error status the server answers (400 from hyper and from di, 404, 405, 408, 413,
//!   414, 422, 431, 500, 501, 503): nothing internal in it (no panic text, type name, path or
//!   `Debug` output), a JSON body with its `Content-Type`, or none at all.

mod common;

use std::time::Duration;

use common::{events, log, serial};
use di_runtime::BodyStream;
use di_runtime::prelude::*;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[depends]
async fn req_gen(y: Yield<u8>) {
    log("req:setup");
    let (_, outcome) = y.provide(1).await;
    log(format!("req:{}", common::describe(&outcome)));
}

#[depends(scope = "handler")]
async fn hnd_gen(y: Yield<u8>) {
    log("hnd:setup");
    let (_, outcome) = y.provide(1).await;
    log(format!("hnd:{}", common::describe(&outcome)));
}

#[depends]
async fn ok(#[dep(req_gen)] _r: &u8, #[dep(hnd_gen)] _h: &u8) -> &'static str {
    "ok"
}

/// The route a request hidden in another's body would reach.
#[depends]
async fn fake() -> &'static str {
    log("fake served");
    "fake"
}

#[depends]
async fn conflict(#[dep(req_gen)] _r: &u8, #[dep(hnd_gen)] _h: &u8) -> Result<String, HttpError> {
    Err(HttpError::new(StatusCode::CONFLICT, "taken"))
}

#[depends]
async fn boom(#[dep(req_gen)] _r: &u8, #[dep(hnd_gen)] _h: &u8) -> &'static str {
    panic!("secret-panic-text")
}

#[depends]
async fn slow(#[dep(req_gen)] _r: &u8, #[dep(hnd_gen)] _h: &u8) -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "slow"
}

#[depends]
async fn by_id(#[dep(req_gen)] _r: &u8, Path(id): Path<i64>) -> String {
    id.to_string()
}

#[depends]
async fn by_name(Path(name): Path<String>) -> String {
    name
}

#[derive(Deserialize)]
struct Item {
    name: String,
}

#[depends]
async fn json(#[dep(req_gen)] _r: &u8, Json(item): Json<Item>) -> String {
    item.name
}

#[depends]
async fn upload(#[dep(req_gen)] _r: &u8, mut body: BodyStream) -> Result<String, HttpError> {
    let mut n = 0;
    while let Some(chunk) = body.next().await {
        n += chunk?.len();
    }
    Ok(n.to_string())
}

#[depends]
async fn refuses(y: Yield<u8>) -> Result<(), HttpError> {
    log("refuses:setup");
    let _ = y;
    Err(HttpError::new(StatusCode::UNAUTHORIZED, "no"))
}

/// A streamed upload behind a dependency that refuses it before the body is read.
#[depends]
async fn guarded(
    #[dep(req_gen)] _r: &u8,
    #[dep(refuses)] _g: &u8,
    mut body: BodyStream,
) -> Result<String, HttpError> {
    let mut n = 0;
    while let Some(chunk) = body.next().await {
        n += chunk?.len();
    }
    Ok(n.to_string())
}

#[depends]
async fn lines(
    #[dep(req_gen)] _r: &u8,
) -> StreamBody<
    impl futures_util::Stream<Item = Result<String, std::convert::Infallible>> + Send + 'static,
> {
    StreamBody::new(futures_util::stream::iter(["a\n", "b\n"]).map(|line| Ok(line.to_owned())))
}

#[depends]
async fn inner_hello() -> &'static str {
    "inner"
}

/// An app mounted in [`app`] at `/mounted`.
async fn inner() -> di_runtime::Running {
    App::new()
        .get("/hello", inner_hello)
        .post("/p/{id}", inner_hello)
        .start()
        .await
        .unwrap()
}

fn app(inner: &di_runtime::Running) -> App {
    App::new()
        .get("/ok", ok)
        .get("/fake", fake)
        .get("/conflict", conflict)
        .get("/boom", boom)
        .get("/slow", slow)
        .get("/lines", lines)
        .get("/items", ok)
        .post("/items", ok)
        .route(Method::OPTIONS, "/items", ok)
        .route(Method::from_bytes(b"PROPFIND").unwrap(), "/items", ok)
        .get("/notes/{id}", by_id)
        .delete("/notes/{id}", by_id)
        .get("/files/{*rest}", by_name)
        .post("/json", json)
        .post("/upload", upload)
        .post("/guarded", guarded)
        .nest(
            Group::new("/api").nest(
                Group::new("/v1")
                    .get("/things/{id}", by_id)
                    .put("/things/{id}", by_id),
            ),
        )
        .nest_service("/mounted", inner.service())
        .body_limit(1024)
        .body_timeout(Duration::from_millis(300))
        .request_timeout(Some(Duration::from_secs(1)))
        .header_read_timeout(Duration::from_secs(2))
}

/// Sends `request` on a new connection and reads until the server closes it (bounded).
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may close before it has taken it all.
    let _ = stream.write_all(request).await;
    common::read_to_close(&mut stream).await
}

/// Waits until no request or teardown runs, then gives the events so far.
async fn settled(server: &di_runtime::Server) -> Vec<String> {
    common::settled_whole(server).await;
    events()
}

/// The answers in `text`, each its head and its body (as long as its `Content-Length` says;
/// the rest of the text for one without).
fn answers(text: &str) -> Vec<(String, String)> {
    let mut rest = text.as_bytes();
    let mut all = Vec::new();
    while !rest.is_empty() {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("a head without its end: {text:?}"))
            + 4;
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end..];
        let length = header(&head, "content-length")
            .map_or(rest.len(), |length| length.parse::<usize>().unwrap())
            .min(rest.len());
        all.push((head, String::from_utf8_lossy(&rest[..length]).into_owned()));
        rest = &rest[length..];
    }
    all
}

/// The value of the header `name` in `head`, if it has one.
fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// The status of the answer whose head is `head`.
fn status(head: &str) -> u16 {
    head.get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a response: {head:?}"))
}

/// Nothing internal in an answer: no panic text, no Rust type, path or `Debug` output.
fn assert_clean(text: &str) {
    for leak in [
        "secret",
        "panick",
        "hyper",
        "di_runtime",
        "di-runtime",
        "src/",
        ".rs",
        "::",
        "Error(",
        "Error {",
        "Some(",
        "None",
        "Utf8",
        "backtrace",
        "thread '",
        "closure",
    ] {
        assert!(!text.contains(leak), "leaked `{leak}`: {text}");
    }
}

/// RFC 9110 15.5.6: a 405 names the methods the target resource supports in `Allow`. Each
/// route shape (a static path, a parameter, a catch-all, nested groups, methods given to
/// `App::route`, an app mounted with `nest_service`), a lowercase method (methods are
/// case-sensitive: `get` is not `GET`) and one no one knows: each is a 405 whose `Allow`
/// lists every method of the path (`HEAD` beside `GET`, which serves it), JSON, with its
/// request id, nothing set up; a `HEAD` to a path served by `POST` alone is the same 405,
/// without its body. The methods `App::route` added are served.
#[tokio::test]
async fn a_405_names_every_method_of_its_path_for_each_route_shape() {
    let _serial = serial().await;
    let inner = inner().await;
    let server = app(&inner).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let all_of_items = "GET, HEAD, POST, OPTIONS, PROPFIND";
    for (request, allow) in [
        ("PATCH /items", all_of_items),
        ("get /items", all_of_items),
        ("BREW /items", all_of_items),
        ("PUT /notes/7", "GET, HEAD, DELETE"),
        ("POST /files/a/b", "GET, HEAD"),
        ("DELETE /api/v1/things/1", "GET, HEAD, PUT"),
        ("GET /json", "POST"),
        ("HEAD /json", "POST"),
        ("GET /mounted/p/1", "POST"),
    ] {
        common::clear();
        let sent = format!("{request} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
        let text = exchange(addr, sent.as_bytes()).await;
        let [(head, body)] = &answers(&text)[..] else {
            panic!("{request}: one answer: {text}");
        };
        assert_eq!(status(head), 405, "{request}: {text}");
        assert_eq!(header(head, "allow"), Some(allow), "{request}: {text}");
        assert_eq!(
            header(head, "content-type"),
            Some("application/json"),
            "{request}: {text}"
        );
        assert_eq!(header(head, "content-length"), Some("31"), "{request}");
        assert!(header(head, "x-request-id").is_some(), "{request}: {text}");
        let expected = if request.starts_with("HEAD") {
            ""
        } else {
            r#"{"detail":"Method Not Allowed"}"#
        };
        assert_eq!(body, expected, "{request}: {text}");
        assert_eq!(settled(&server).await, Vec::<String>::new(), "{request}");
    }
    for method in ["OPTIONS", "PROPFIND"] {
        common::clear();
        let sent = format!("{method} /items HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
        let text = exchange(addr, sent.as_bytes()).await;
        assert!(
            text.starts_with("HTTP/1.1 200 ") && text.ends_with("\r\n\r\nok"),
            "{method}: {text}"
        );
        assert_eq!(
            settled(&server).await,
            [
                "req:setup",
                "hnd:setup",
                "hnd:success 200",
                "req:success 200"
            ],
            "{method}"
        );
    }
    server.shutdown().await;
    inner.shutdown().await;
}

/// A request the app does not serve (its own 404 or 405, a mounted app's 404) whose body is
/// a request, sent whole with `Content-Length`, behind `Expect: 100-continue`, or chunked:
/// the body is skipped (or the connection closed), never served as the next request; the
/// request pipelined after it is served, or the answer said `Connection: close`.
#[tokio::test]
async fn a_miss_whose_body_is_a_request_never_serves_that_request() {
    let _serial = serial().await;
    let inner = inner().await;
    let server = app(&inner).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let hidden = "GET /fake HTTP/1.1\r\nhost: t\r\n\r\n";
    let next = "GET /ok HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n";
    for (target, miss) in [
        ("POST /nope", 404),
        ("POST /notes/7", 405),
        ("PUT /items", 405),
        ("POST /mounted/nope", 404),
    ] {
        for framing in [
            format!("content-length: {}\r\n\r\n{hidden}", hidden.len()),
            format!(
                "content-length: {}\r\nexpect: 100-continue\r\n\r\n{hidden}",
                hidden.len()
            ),
            format!(
                "transfer-encoding: chunked\r\n\r\n{:x}\r\n{hidden}\r\n0\r\n\r\n",
                hidden.len()
            ),
        ] {
            common::clear();
            let sent = format!("{target} HTTP/1.1\r\nhost: t\r\n{framing}{next}");
            let text = exchange(addr, sent.as_bytes()).await;
            assert_clean(&text);
            let answers = answers(&text);
            let (first, _) = &answers[0];
            assert_eq!(status(first), miss, "{sent:?}: {text}");
            let events = settled(&server).await;
            assert!(
                !events.iter().any(|e| e == "fake served"),
                "{sent:?}: the body was served: {text} {events:?}"
            );
            if header(first, "connection") == Some("close") {
                assert_eq!(answers.len(), 1, "{sent:?}: {text}");
                assert_eq!(events, Vec::<String>::new(), "{sent:?}");
            } else {
                assert_eq!(answers.len(), 2, "{sent:?}: {text}");
                assert_eq!(status(&answers[1].0), 200, "{sent:?}: {text}");
                assert_eq!(answers[1].1, "ok", "{sent:?}: {text}");
                assert_eq!(
                    events,
                    [
                        "req:setup",
                        "hnd:setup",
                        "hnd:success 200",
                        "req:success 200"
                    ],
                    "{sent:?}"
                );
            }
        }
    }
    server.shutdown().await;
    inner.shutdown().await;
}

/// RFC 9110 10.1.1: a client that sends `Expect: 100-continue` may hold its body back until
/// it gets `100 Continue`. A request answered before its body is asked for (a route that reads
/// no body, a 404, a 405, a setup that fails before the handler reads the body, a body
/// declared past the limit) gets its final answer without a `100`, says `Connection: close`
/// and the connection is closed: the body the client holds back is never awaited, and never
/// read as its next request. A route that reads the body sends `100` first; an HTTP/1.0
/// request's expectation is ignored (no `100`: HTTP/1.0 has none).
#[tokio::test]
async fn an_expectation_answered_before_its_body_is_asked_for_gets_no_100_and_a_close() {
    let _serial = serial().await;
    let inner = inner().await;
    let server = app(&inner).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let handled = [
        "req:setup",
        "hnd:setup",
        "hnd:success 200",
        "req:success 200",
    ];
    let refused = ["req:setup", "refuses:setup", "req:setup_failed refuses"];
    for (target, length, expected, expected_events) in [
        ("GET /ok", 5, 200, &handled[..]),
        ("GET /ok", 5000, 200, &handled[..]),
        ("POST /nope", 5, 404, &[][..]),
        ("POST /nope", 5000, 404, &[][..]),
        ("POST /notes/7", 5, 405, &[][..]),
        ("POST /notes/7", 5000, 405, &[][..]),
        ("POST /guarded", 5, 401, &refused[..]),
        // Declared past the limit on a route that reads the body: refused before any setup.
        ("POST /guarded", 5000, 413, &[][..]),
    ] {
        common::clear();
        // The head alone: the client waits for `100 Continue` before it sends its body.
        let sent = format!(
            "{target} HTTP/1.1\r\nhost: t\r\ncontent-length: {length}\r\nexpect: 100-continue\r\n\r\n"
        );
        let text = exchange(addr, sent.as_bytes()).await;
        assert_clean(&text);
        let [(head, _)] = &answers(&text)[..] else {
            panic!("{sent:?}: one answer: {text}");
        };
        assert_eq!(status(head), expected, "{sent:?}: {text}");
        assert_eq!(
            header(head, "connection"),
            Some("close"),
            "{sent:?}: {text}"
        );
        assert_eq!(settled(&server).await, expected_events, "{sent:?}");
    }

    // Past the body limit on a route that reads it: 413, without asking for the body.
    common::clear();
    let text = exchange(
        addr,
        b"POST /json HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
          content-length: 5000\r\nexpect: 100-continue\r\n\r\n",
    )
    .await;
    let [(head, body)] = &answers(&text)[..] else {
        panic!("one answer: {text}");
    };
    assert_eq!(status(head), 413, "{text}");
    assert_eq!(header(head, "connection"), Some("close"), "{text}");
    assert_eq!(body, r#"{"detail":"Request body too large"}"#);
    assert_eq!(settled(&server).await, Vec::<String>::new());

    // A route that reads the body: `100` first, then the answer, and the connection serves on.
    common::clear();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /json HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
              content-length: 12\r\nexpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let interim = common::within(common::read_head(&mut stream)).await;
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(br#"{"name":"a"}"#).await.unwrap();
    stream
        .write_all(b"GET /ok HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let text = common::read_to_close(&mut stream).await;
    let statuses: Vec<u16> = answers(&text)
        .iter()
        .map(|(head, _)| status(head))
        .collect();
    assert_eq!(statuses, [200, 200], "{text}");
    assert!(text.ends_with("\r\n\r\nok"), "{text}");
    let events = settled(&server).await;
    assert_eq!(common::count(&events, "req:success 200"), 2, "{events:?}");

    // HTTP/1.0: the expectation is ignored, the body read as it comes.
    common::clear();
    let text = exchange(
        addr,
        b"POST /json HTTP/1.0\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\
          expect: 100-continue\r\n\r\n{\"name\":\"a\"}",
    )
    .await;
    assert!(!text.contains(" 100 "), "{text}");
    assert!(
        text.starts_with("HTTP/1.0 200 ") && text.ends_with("\r\n\r\na"),
        "{text}"
    );
    assert_eq!(settled(&server).await, ["req:setup", "req:success 200"]);
    server.shutdown().await;
    inner.shutdown().await;
}

/// The same as [`an_expectation_answered_before_its_body_is_asked_for_gets_no_100_and_a_close`]
/// for a service mounted with `nest_service` (here a `di` app, answering its own 404) that
/// answers without reading the body the client holds back (behind `Expect: 100-continue`, or
/// not yet all sent): the answer goes out without `Connection: close`, then hyper closes the
/// connection, since it cannot skip a body that has not come. A client told keep-alive loses
/// the next request it sends on that connection (the app's own routes say `close`: their
/// request is dropped while hyper reads, before it writes the head; a mounted service drops it
/// while hyper polls the answer, and the head is written in that same poll).
#[tokio::test]
async fn a_mounted_services_answer_before_the_body_came_says_close() {
    let _serial = serial().await;
    let inner = inner().await;
    let server = app(&inner).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    for sent in [
        &b"POST /mounted/nope HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n"[..],
        b"POST /mounted/nope HTTP/1.1\r\nhost: t\r\ncontent-length: 50\r\n\r\nabc",
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(sent).await.unwrap();
        let head = common::within(common::read_head(&mut stream)).await;
        assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
        // Closed after the answer (the rest of the body never came): it must say so.
        let _ = common::read_to_close(&mut stream).await;
        assert_eq!(header(&head, "connection"), Some("close"), "{head}");
    }
    server.shutdown().await;
    inner.shutdown().await;
}

/// The same for a tower layer that answers without calling the app (an auth layer's 401) and
/// for a mounted plain tower service that reads no body, each given a body held back behind
/// `Expect: 100-continue`, a body not all sent, and a whole body: an answer that does not say
/// `close` leaves the connection serving the next request. A mounted service that reads the
/// body to its end keeps the connection alive.
#[tokio::test]
async fn an_answer_given_around_the_app_before_the_body_was_read_says_close_or_serves_on() {
    use std::convert::Infallible;

    use di_runtime::Body;
    use http_body_util::BodyExt;

    let _serial = serial().await;
    let deny = tower::layer::layer_fn(|_inner: di_runtime::InnerService| {
        tower::service_fn(|_request: http::Request<Body>| async move {
            let mut response = http::Response::new(Body::from("no"));
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            Ok::<_, Infallible>(response)
        })
    });
    // Answers after a yield, as a service that looks something up first.
    let ignores = tower::service_fn(|_request: http::Request<Body>| async move {
        tokio::task::yield_now().await;
        Ok::<_, Infallible>(http::Response::new(Body::from("ignored")))
    });
    let reads = tower::service_fn(|request: http::Request<Body>| async move {
        let body = request.into_body().collect().await.map(|b| b.to_bytes());
        let answer = format!("read {}", body.map_or(0, |b| b.len()));
        Ok::<_, Infallible>(http::Response::new(Body::from(answer)))
    });
    let app = App::new()
        .get("/ok", ok)
        .nest(Group::new("/admin").layer(deny).post("/x", ok))
        .nest_service("/ignores", ignores)
        .nest_service("/reads", reads);
    let server = app.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let next = b"GET /ok HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n";
    for (path, expected) in [("/admin/x", 401), ("/ignores/x", 200)] {
        for (what, body) in [
            (
                "held back",
                "content-length: 5\r\nexpect: 100-continue\r\n\r\n",
            ),
            ("not all sent", "content-length: 50\r\n\r\nabc"),
            ("whole", "content-length: 3\r\n\r\nabc"),
        ] {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let sent = format!("POST {path} HTTP/1.1\r\nhost: t\r\n{body}");
            stream.write_all(sent.as_bytes()).await.unwrap();
            let head = common::within(common::read_head(&mut stream)).await;
            assert_eq!(status(&head), expected, "{path}, {what}: {head}");
            if header(&head, "connection") != Some("close") {
                let _ = stream.write_all(next).await;
                let rest = common::within(common::read_to_close(&mut stream)).await;
                assert!(
                    rest.contains("HTTP/1.1 200 "),
                    "{path}, {what}: said keep-alive ({head:?}), then {rest:?}"
                );
            }
        }
    }
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /reads/x HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\n\r\nabc")
        .await
        .unwrap();
    let head = common::within(common::read_head(&mut stream)).await;
    assert_eq!(status(&head), 200, "{head}");
    assert_eq!(header(&head, "connection"), None, "{head}");
    stream.write_all(next).await.unwrap();
    let rest = common::within(common::read_to_close(&mut stream)).await;
    assert!(
        rest.contains("read 3") && rest.contains("HTTP/1.1 200 "),
        "{rest:?}"
    );
    server.shutdown().await;
}

/// A `CONNECT` route is refused when the app is checked, in the app and in a group, with the
/// route named: a 2xx answer to `CONNECT` makes the HTTP/1 connection a tunnel (hyper sends the
/// head without the body, then closes the connection, as nothing takes the tunnel over; its
/// teardowns saw the client gone though it was there). Without a route, `CONNECT` is 405 on a
/// path served with other methods.
#[tokio::test]
async fn a_connect_route_is_refused_by_the_check() {
    let problems = App::new()
        .route(Method::CONNECT, "/tunnel", ok)
        .nest(Group::new("/api").route(Method::CONNECT, "/t", ok))
        .check()
        .expect_err("CONNECT routes are refused")
        .to_string();
    for route in ["route CONNECT /tunnel:", "route CONNECT /t:"] {
        assert!(problems.contains(route), "{problems}");
    }
    assert!(problems.contains("di serves no tunnels"), "{problems}");

    let _serial = serial().await;
    let server = App::new().get("/ok", ok).bind("127.0.0.1:0").await.unwrap();
    let text = exchange(
        server.local_addr(),
        b"CONNECT /ok HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 405 "), "{text}");
    server.shutdown().await;
}

/// RFC 9110 9.3.2: `HEAD` is `GET` without the body. On a `GET` route, for each answer it
/// gives (200, a stream, the app's 404, a handler's 409, a 422, a panic's 500, the request
/// timeout's 503): the same status and headers as the `GET` (a stream's `Transfer-Encoding`
/// may be left out: its length is known only as the body is made), no body, and the same
/// outcome for the teardowns.
#[tokio::test]
async fn head_is_get_without_its_body_for_every_answer() {
    let _serial = serial().await;
    let inner = inner().await;
    let server = app(&inner).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let fields = |head: &str| -> Vec<String> {
        let mut fields: Vec<String> = head
            .split("\r\n")
            .skip(1)
            .filter(|line| !line.is_empty())
            .map(str::to_ascii_lowercase)
            .filter(|line| {
                !line.starts_with("date:")
                    && !line.starts_with("x-request-id:")
                    && !line.starts_with("transfer-encoding:")
            })
            .collect();
        fields.sort();
        fields
    };
    for (path, expected) in [
        ("/ok", 200),
        ("/lines", 200),
        ("/nope", 404),
        ("/conflict", 409),
        ("/notes/x", 422),
        ("/boom", 500),
        ("/slow", 503),
    ] {
        let mut seen = Vec::new();
        for method in ["GET", "HEAD"] {
            common::clear();
            let sent = format!("{method} {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
            let text = exchange(addr, sent.as_bytes()).await;
            assert_clean(&text);
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert_eq!(status(head), expected, "{method} {path}: {text}");
            seen.push((fields(head), body.to_owned(), settled(&server).await));
        }
        let (get, head) = (&seen[0], &seen[1]);
        assert_eq!(get.0, head.0, "{path}: the headers");
        assert!(!get.1.is_empty(), "{path}");
        assert_eq!(head.1, "", "{path}: HEAD has no body");
        assert_eq!(get.2, head.2, "{path}: the teardowns");
    }
    server.shutdown().await;
    inner.shutdown().await;
}

/// An HTTP/1.1 client offering to upgrade (`Upgrade: websocket`, `Upgrade: h2c`) to a route
/// that answers over HTTP/1.1: the answer is a plain one (no `101`), the connection serves the
/// request pipelined after it, whether the offer had a body or not, and each request's
/// teardowns run once with success.
#[tokio::test]
async fn an_upgrade_offer_is_answered_over_http11_and_the_connection_serves_on() {
    let _serial = serial().await;
    let inner = inner().await;
    let server = app(&inner).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let websocket = "upgrade: websocket\r\nconnection: upgrade\r\n\
                     sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n";
    let h2c = "upgrade: h2c\r\nconnection: upgrade, http2-settings\r\n\
               http2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n";
    for offer in [websocket, h2c] {
        for (request, first_body, first_events) in [
            ("GET /ok HTTP/1.1\r\nhost: t\r\n".to_owned(), "ok", 4),
            (
                "POST /json HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 12\r\n"
                    .to_owned(),
                "a",
                2,
            ),
        ] {
            common::clear();
            let body = if first_body == "a" { r#"{"name":"a"}"# } else { "" };
            let sent = format!(
                "{request}{offer}\r\n{body}GET /ok HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
            );
            let text = exchange(addr, sent.as_bytes()).await;
            let answers = answers(&text);
            let statuses: Vec<u16> = answers.iter().map(|(head, _)| status(head)).collect();
            assert_eq!(statuses, [200, 200], "{sent:?}: {text}");
            assert_eq!(answers[0].1, first_body, "{sent:?}: {text}");
            assert_eq!(answers[1].1, "ok", "{sent:?}: {text}");
            assert_eq!(header(&answers[0].0, "upgrade"), None, "{text}");
            let events = settled(&server).await;
            assert_eq!(events.len(), first_events + 4, "{sent:?}: {events:?}");
            assert_eq!(common::count(&events, "req:setup"), 2, "{events:?}");
            assert_eq!(common::count(&events, "req:success 200"), 2, "{events:?}");
        }
    }
    server.shutdown().await;
    inner.shutdown().await;
}

/// An HTTP/1.0 client asking for `Connection: keep-alive`: kept after an answer of known
/// length, the app's and a handler's errors included (404, 409, 422, a panic's 500), which
/// say `keep-alive`; a streamed answer (its end is the connection's end in HTTP/1.0) never
/// says it, and ends the connection, its teardowns seeing success; a body declared past the
/// limit is a 413 with `Connection: close`.
#[tokio::test]
async fn http10_keep_alive_holds_after_answers_of_known_length_and_a_stream_ends_it() {
    let _serial = serial().await;
    let inner = inner().await;
    let server = app(&inner).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    for (path, expected) in [
        ("/nope", 404),
        ("/conflict", 409),
        ("/notes/x", 422),
        ("/boom", 500),
        ("/ok", 200),
    ] {
        common::clear();
        let sent = format!(
            "GET {path} HTTP/1.0\r\nconnection: keep-alive\r\n\r\nGET /ok HTTP/1.0\r\n\r\n"
        );
        let text = exchange(addr, sent.as_bytes()).await;
        assert_clean(&text);
        let answers = answers(&text);
        assert_eq!(answers.len(), 2, "{path}: {text}");
        assert!(
            answers[0].0.starts_with(&format!("HTTP/1.0 {expected} ")),
            "{text}"
        );
        assert_eq!(
            header(&answers[0].0, "connection"),
            Some("keep-alive"),
            "{text}"
        );
        assert!(answers[1].0.starts_with("HTTP/1.0 200 "), "{text}");
        assert_eq!(answers[1].1, "ok", "{text}");
        let events = settled(&server).await;
        assert_eq!(
            common::count(&events, "hnd:success 200"),
            1 + usize::from(expected == 200)
        );
        assert_eq!(
            common::count(&events, "req:setup"),
            events
                .iter()
                .filter(|e| e.starts_with("req:") && *e != "req:setup")
                .count(),
            "{path}: {events:?}"
        );
    }

    common::clear();
    let text = exchange(
        addr,
        b"GET /lines HTTP/1.0\r\nconnection: keep-alive\r\n\r\nGET /ok HTTP/1.0\r\n\r\n",
    )
    .await;
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200 "), "{text}");
    assert_ne!(header(head, "connection"), Some("keep-alive"), "{text}");
    assert_eq!(header(head, "content-length"), None, "{text}");
    assert_eq!(body, "a\nb\n", "{text}");
    assert_eq!(settled(&server).await, ["req:setup", "req:success 200"]);

    common::clear();
    let text = exchange(
        addr,
        b"POST /json HTTP/1.0\r\nconnection: keep-alive\r\ncontent-type: application/json\r\n\
          content-length: 5000\r\n\r\nGET /ok HTTP/1.0\r\n\r\n",
    )
    .await;
    let [(head, _)] = &answers(&text)[..] else {
        panic!("one answer: {text}");
    };
    assert!(head.starts_with("HTTP/1.0 413 "), "{text}");
    assert_eq!(header(head, "connection"), Some("close"), "{text}");
    assert_eq!(settled(&server).await, Vec::<String>::new());
    server.shutdown().await;
    inner.shutdown().await;
}

/// Every error status the server answers over HTTP/1, made by hyper (400 for a head it cannot
/// parse, 414, 431) or by di (400 for two `Host`s, 404, 405, 408, 413, 422, 500, 501, 503):
/// nothing internal in it; a body is JSON (`{"detail": ...}`, with its `Content-Type`) or
/// there is none; each, a failed setup's teardowns aside, sets nothing up.
#[tokio::test]
async fn every_error_answer_names_nothing_internal_and_is_json_or_empty() {
    let _serial = serial().await;
    let inner = inner().await;
    let server = app(&inner).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let close = "connection: close\r\n";
    let cases: Vec<(u16, Vec<u8>)> = vec![
        (400, format!("GET /ok HTTP/1.1\r\nhost: t\r\nx: a\r\n b\r\n{close}\r\n").into_bytes()),
        (400, format!("GET /ok HTTP/1.1\r\nhost: a\r\nhost: b\r\n{close}\r\n").into_bytes()),
        (404, format!("GET /nope HTTP/1.1\r\nhost: t\r\n{close}\r\n").into_bytes()),
        (405, format!("PATCH /ok HTTP/1.1\r\nhost: t\r\n{close}\r\n").into_bytes()),
        (
            408,
            format!("POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n{close}\r\nabc")
                .into_bytes(),
        ),
        (
            413,
            format!("POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 5000\r\n{close}\r\n")
                .into_bytes(),
        ),
        (
            414,
            format!("GET /files/{} HTTP/1.1\r\nhost: t\r\n{close}\r\n", "a".repeat(70_000))
                .into_bytes(),
        ),
        (
            422,
            format!(
                "POST /json HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
                 content-length: 3\r\n{close}\r\n{{\"n"
            )
            .into_bytes(),
        ),
        (
            431,
            format!("GET /ok HTTP/1.1\r\nhost: t\r\nx-big: {}\r\n{close}\r\n", "a".repeat(140_000))
                .into_bytes(),
        ),
        (500, format!("GET /boom HTTP/1.1\r\nhost: t\r\n{close}\r\n").into_bytes()),
        (
            501,
            format!(
                "POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: gzip, chunked\r\n{close}\r\n0\r\n\r\n"
            )
            .into_bytes(),
        ),
        (503, format!("GET /slow HTTP/1.1\r\nhost: t\r\n{close}\r\n").into_bytes()),
        (401, format!("POST /guarded HTTP/1.1\r\nhost: t\r\ncontent-length: 1\r\n{close}\r\nx").into_bytes()),
    ];
    for (expected, request) in cases {
        common::clear();
        let text = exchange(addr, &request).await;
        assert_clean(&text);
        let [(head, body)] = &answers(&text)[..] else {
            panic!("{expected}: one answer: {text}");
        };
        assert_eq!(status(head), expected, "{text}");
        if body.is_empty() {
            assert_eq!(header(head, "content-length"), Some("0"), "{text}");
        } else {
            assert_eq!(
                header(head, "content-type"),
                Some("application/json"),
                "{text}"
            );
            let json: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
            assert!(json.get("detail").is_some(), "{text}");
        }
        let events = settled(&server).await;
        let setups = common::count(&events, "req:setup");
        let torn_down = events
            .iter()
            .filter(|e| e.starts_with("req:") && *e != "req:setup")
            .count();
        assert_eq!(setups, torn_down, "{expected}: {events:?}");
        assert!(
            !events.iter().any(|e| e.contains("success")),
            "{expected}: {events:?}"
        );
    }
    server.shutdown().await;
    inner.shutdown().await;
}
