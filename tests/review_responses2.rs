//! A second review of the response side (`di-runtime/src/response/`) and of how the OpenAPI
//! document tells it (`openapi/build.rs`, `contract/doc.rs`): each output kind as its bytes
//! leave a real socket, against what the document and the rustdoc say; a redirect's statuses;
//! framing headers a handler sets itself. Each test that failed before a fix names it in
//! CHANGELOG.md.

mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use di_runtime::prelude::*;
use di_runtime::{Html, OpenApi, Redirect};
use futures_util::stream;
use http::header::{HeaderName, HeaderValue, TRANSFER_ENCODING};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

/// A response as it came off the socket: status, headers (names lowercase, in order) and the
/// body's bytes (dechunked if it was chunked).
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    /// Every value of header `name`.
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The media type of its `Content-Type`, without parameters (none: no such header).
    fn media_type(&self) -> Option<String> {
        self.all("content-type")
            .first()
            .map(|value| common::media_type(value))
    }
}

/// Sends `request` (a whole HTTP/1 request, which should ask the server to close) to `addr`
/// and reads the answer to the end.
async fn exchange(addr: SocketAddr, request: &str) -> Raw {
    let mut socket = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    socket
        .write_all(request.as_bytes())
        .await
        .expect("sends the request");
    let bytes = common::read_bytes_to_close(&mut socket).await;
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("a head in {:?}", String::from_utf8_lossy(&bytes)));
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status in {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &bytes[end + 4..];
    // Chunked when `chunked` is the last coding (the others are left as they are).
    let chunked = headers.iter().any(|(n, v)| {
        n == "transfer-encoding"
            && v.rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    });
    let body = if chunked {
        common::dechunk(rest)
    } else {
        rest.to_vec()
    };
    Raw {
        status,
        headers,
        body,
    }
}

/// `GET path` over HTTP/1.1, the connection closed after it.
async fn get(addr: SocketAddr, path: &str) -> Raw {
    exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
    )
    .await
}

/// The document's responses of `GET path`, by status: each with its content types.
fn documented(doc: &Value, path: &str) -> Vec<(String, Vec<String>)> {
    let responses = doc["paths"][path]["get"]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("GET {path} has responses: {doc}"));
    responses
        .iter()
        .map(|(status, response)| {
            let types = response["content"]
                .as_object()
                .map(|content| content.keys().cloned().collect())
                .unwrap_or_default();
            (status.clone(), types)
        })
        .collect()
}

fn document(app: &App) -> Value {
    let doc: OpenApi = app.openapi().expect("the app is valid");
    serde_json::from_str(&doc.to_json()).expect("JSON")
}

// ------------- 1. every output kind: the content type on the wire is the documented one

type Lines = stream::Iter<std::array::IntoIter<Result<&'static str, std::io::Error>, 2>>;

fn lines() -> Lines {
    stream::iter([Ok("a\n"), Ok("b\n")])
}

#[depends]
async fn a_vec() -> Vec<u8> {
    vec![0, 1]
}

#[depends]
async fn some_bytes() -> Bytes {
    Bytes::from_static(b"\x00\x01")
}

#[depends]
async fn static_text() -> &'static str {
    "text"
}

#[depends]
async fn owned_text() -> String {
    "text".to_owned()
}

#[depends]
async fn a_json() -> Json<Value> {
    Json(serde_json::json!({"id": 7}))
}

#[depends]
async fn a_page() -> Html<&'static str> {
    Html("<p>page</p>")
}

#[depends]
async fn unit() {}

#[depends(status = 204)]
async fn no_content() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// A stream without a content type of its own.
#[depends]
async fn untyped_stream() -> StreamBody<Lines> {
    StreamBody::new(lines())
}

/// A stream with one, declared for the document.
#[depends(content_type = "application/x-ndjson")]
async fn typed_stream() -> StreamBody<Lines> {
    StreamBody::new(lines()).content_type("application/x-ndjson")
}

/// An error the document declares.
#[depends(responses(404 = "Not found"))]
async fn missing() -> Result<String, HttpError> {
    Err(HttpError::new(StatusCode::NOT_FOUND, "no such note"))
}

fn outputs_app() -> App {
    App::new()
        .get("/vec", a_vec)
        .get("/bytes", some_bytes)
        .get("/static-text", static_text)
        .get("/text", owned_text)
        .get("/json", a_json)
        .get("/html", a_page)
        .get("/unit", unit)
        .get("/no-content", no_content)
        .get("/untyped-stream", untyped_stream)
        .get("/typed-stream", typed_stream)
        .get("/missing", missing)
}

/// `StreamBody` without a content type was documented `application/octet-stream` (its rustdoc,
/// `OutputKind::Stream`'s and the OpenAPI document) and sent with no `Content-Type` at all, so
/// a browser sniffed it and a client made from the document met a response without the type
/// it was told. Every output kind is now sent with the content type the document gives it
/// (and one without a body with none), read off a real socket.
#[tokio::test]
async fn every_output_is_sent_with_the_content_type_the_document_gives_it() {
    let doc = document(&outputs_app());
    let server = outputs_app().bind("127.0.0.1:0").await.expect("binds");
    let addr = server.local_addr();
    for (path, status) in [
        ("/vec", 200),
        ("/bytes", 200),
        ("/static-text", 200),
        ("/text", 200),
        ("/json", 200),
        ("/html", 200),
        ("/unit", 200),
        ("/no-content", 204),
        ("/untyped-stream", 200),
        ("/typed-stream", 200),
        ("/missing", 404),
    ] {
        let raw = get(addr, path).await;
        assert_eq!(raw.status, status, "GET {path}");
        let responses = documented(&doc, path);
        let (_, types) = responses
            .iter()
            .find(|(documented, _)| *documented == status.to_string())
            .unwrap_or_else(|| panic!("GET {path}: {status} is documented: {responses:?}"));
        let sent: Vec<String> = raw.media_type().into_iter().collect();
        assert_eq!(*types, sent, "GET {path}: documented, then sent");
        if sent.is_empty() {
            assert!(raw.body.is_empty(), "GET {path}: a body without a type");
        }
    }
    server.shutdown().await;
}

/// What the rustdoc of `StreamBody` promises, in process too: `application/octet-stream`
/// unless it is given another; one given (or one the handler sets beside it) wins.
#[tokio::test]
async fn a_stream_body_has_the_octet_stream_type_unless_it_is_given_one() {
    let untyped = StreamBody::new(lines()).into_response();
    assert_eq!(
        untyped.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/octet-stream"[..])
    );
    let typed = StreamBody::new(lines())
        .content_type("text/csv")
        .into_response();
    assert_eq!(
        typed.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"text/csv"[..])
    );
    let beside = (
        [("content-type", "text/event-stream")],
        StreamBody::new(lines()),
    )
        .into_response();
    let values: Vec<_> = beside.headers().get_all("content-type").iter().collect();
    assert_eq!(values, ["text/event-stream"]);
}

// ------------- 2. a redirect is documented with every status it can send

#[depends]
async fn redirect(Path(how): Path<String>) -> Redirect {
    match how.as_str() {
        "temporary" => Redirect::temporary("/json"),
        "permanent" => Redirect::permanent("/json"),
        _ => Redirect::to("/json"),
    }
}

#[depends]
async fn fallible_redirect() -> Result<([(&'static str, &'static str); 1], Redirect), HttpError> {
    Ok(([("x-why", "moved")], Redirect::permanent("/json")))
}

/// The route declares the one status it sends.
#[depends(status = 307)]
async fn declared_redirect() -> Redirect {
    Redirect::temporary("/json")
}

/// A handler returning `Redirect` was documented with `303` alone, whichever constructor it
/// called: one that answered `Redirect::temporary` (307) or `Redirect::permanent` (308) sent a
/// status its document did not list, so a client made from it took the answer for an
/// unexpected status. Without a declared `status`, every status a `Redirect` can send is now
/// listed (303, 307, 308, none with a body); with one, that one. Each status sent is looked for
/// in the document.
#[tokio::test]
async fn a_redirect_is_documented_with_every_status_it_can_send() {
    let app = || {
        App::new()
            .get("/go/{how}", redirect)
            .get("/fallible", fallible_redirect)
            .get("/declared", declared_redirect)
    };
    let doc = document(&app());
    common::assert_valid_openapi(&serde_json::to_string(&doc).expect("JSON"));
    let every = ["303", "307", "308", "422"];
    let listed: Vec<String> = documented(&doc, "/go/{how}")
        .into_iter()
        .map(|(status, types)| {
            if status.starts_with('3') {
                assert!(types.is_empty(), "{status}: no body");
            }
            status
        })
        .collect();
    assert_eq!(listed, every, "GET /go/{{how}}");
    let listed: Vec<String> = documented(&doc, "/fallible")
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    assert_eq!(listed, every[..3], "GET /fallible");
    let listed: Vec<String> = documented(&doc, "/declared")
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    assert_eq!(listed, ["307"], "GET /declared");

    let server = app().bind("127.0.0.1:0").await.expect("binds");
    let addr = server.local_addr();
    for (path, documented_as) in [
        ("/go/see", "/go/{how}"),
        ("/go/temporary", "/go/{how}"),
        ("/go/permanent", "/go/{how}"),
        ("/fallible", "/fallible"),
        ("/declared", "/declared"),
    ] {
        let raw = get(addr, path).await;
        assert_eq!(raw.all("location"), ["/json"], "GET {path}");
        let statuses: Vec<String> = documented(&doc, documented_as)
            .into_iter()
            .map(|(status, _)| status)
            .collect();
        assert!(
            statuses.contains(&raw.status.to_string()),
            "GET {path}: sent {}, documented {statuses:?}",
            raw.status
        );
    }
    server.shutdown().await;
}

// ------------- 3. framing a handler sets itself: never sent as invalid framing

#[depends]
async fn says_chunked() -> ([(HeaderName, &'static str); 1], &'static str) {
    ([(TRANSFER_ENCODING, "chunked")], "hello")
}

#[depends]
async fn says_chunked_twice() -> ([(HeaderName, &'static str); 2], &'static str) {
    (
        [
            (TRANSFER_ENCODING, "chunked"),
            (TRANSFER_ENCODING, "chunked"),
        ],
        "hello",
    )
}

#[depends]
async fn says_chunked_capitalised() -> ([(&'static str, &'static str); 1], StreamBody<Lines>) {
    ([("Transfer-Encoding", "Chunked")], StreamBody::new(lines()))
}

#[depends]
async fn builds_chunked() -> http::Response<di_runtime::Body> {
    http::Response::builder()
        .header(TRANSFER_ENCODING, "chunked")
        .body(di_runtime::Body::from_stream(lines()))
        .unwrap_or_default()
}

#[depends]
async fn says_gzip() -> ([(HeaderName, &'static str); 1], &'static str) {
    ([(TRANSFER_ENCODING, "gzip")], "hello")
}

#[depends]
async fn says_gzip_chunked() -> ([(HeaderName, &'static str); 1], &'static str) {
    ([(TRANSFER_ENCODING, "gzip, chunked")], "hello")
}

#[depends]
async fn plain() -> &'static str {
    "hello"
}

fn framing_app() -> App {
    App::new()
        .get("/chunked", says_chunked)
        .get("/chunked-twice", says_chunked_twice)
        .get("/chunked-capitalised", says_chunked_capitalised)
        .get("/built-chunked", builds_chunked)
        .get("/gzip", says_gzip)
        .get("/gzip-chunked", says_gzip_chunked)
}

/// The framing of a response as it came off the socket is one the client can read: one
/// `Content-Length`, or one `Transfer-Encoding` that is exactly `chunked` (the one coding the
/// server applied, to a handler that named no other), never both.
fn assert_valid_framing(raw: &Raw, what: &str) {
    let lengths = raw.all("content-length");
    let codings = raw.all("transfer-encoding");
    assert!(
        lengths.len() + codings.len() <= 1,
        "{what}: one framing header: {:?}",
        raw.headers
    );
    for coding in codings {
        assert_eq!(coding, "chunked", "{what}: {:?}", raw.headers);
    }
}

/// A handler that set `Transfer-Encoding: chunked` itself, twice (two values), had hyper send
/// `transfer-encoding: chunked, chunked`: chunked applied twice, which RFC 9112 forbids, and
/// which a strict proxy refuses (a lenient client dechunks once and reads chunk sizes as
/// data). The body's framing is the server's: a `Transfer-Encoding` of `chunked` alone,
/// however written, is now dropped as the response leaves the app (logged at DEBUG), and the
/// server frames the body as it would have.
#[tokio::test]
async fn a_transfer_encoding_of_chunked_set_by_a_handler_is_the_servers_own() {
    let server = framing_app().bind("127.0.0.1:0").await.expect("binds");
    let addr = server.local_addr();
    for (path, body) in [
        ("/chunked", "hello"),
        ("/chunked-twice", "hello"),
        ("/chunked-capitalised", "a\nb\n"),
        ("/built-chunked", "a\nb\n"),
    ] {
        for version in ["1.1", "1.0"] {
            let raw = exchange(
                addr,
                &format!("GET {path} HTTP/{version}\r\nhost: x\r\nconnection: close\r\n\r\n"),
            )
            .await;
            let what = format!("GET {path} over HTTP/{version}");
            assert_eq!(raw.status, 200, "{what}");
            assert_valid_framing(&raw, &what);
            assert_eq!(String::from_utf8_lossy(&raw.body), body, "{what}");
        }
        let raw = exchange(
            addr,
            &format!("HEAD {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
        )
        .await;
        assert_valid_framing(&raw, &format!("HEAD {path}"));
        assert!(raw.body.is_empty(), "HEAD {path}");
    }
    server.shutdown().await;
}

#[depends]
async fn says_chunked_then_gzip() -> ([(HeaderName, &'static str); 2], &'static str) {
    (
        [(TRANSFER_ENCODING, "chunked"), (TRANSFER_ENCODING, "gzip")],
        "hello",
    )
}

/// A `Transfer-Encoding` naming another coding (`gzip`) is the handler's to have applied, as a
/// layer's is (tests/gaps_server.rs), and is sent; but hyper appended `, chunked` to each value
/// that did not end in it and to the header written after it: `gzip, chunked` came with
/// `connection: close, chunked` (a `Connection` naming a header `chunked`), and `chunked` then
/// `gzip` as `chunked, gzip, chunked` (chunked twice, not last once). The codings are now sent
/// in one value with `chunked` once, last, and the headers after it as they were.
#[tokio::test]
async fn a_transfer_coding_a_handler_names_is_sent_with_chunked_once_after_it() {
    let server = framing_app()
        .get("/chunked-then-gzip", says_chunked_then_gzip)
        .bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = server.local_addr();
    for path in ["/gzip", "/gzip-chunked", "/chunked-then-gzip"] {
        let raw = get(addr, path).await;
        assert_eq!(raw.status, 200, "GET {path}: {:?}", raw.headers);
        assert_eq!(
            raw.all("transfer-encoding"),
            ["gzip, chunked"],
            "GET {path}"
        );
        assert!(raw.all("content-length").is_empty(), "GET {path}");
        assert_eq!(raw.all("connection"), ["close"], "GET {path}");
        assert_eq!(raw.body, b"hello", "GET {path}");
    }
    server.shutdown().await;
}

/// A tower layer (or a mounted service) that sets the header is held to the same: its
/// response leaves the app through the same check as a handler's.
#[tokio::test]
async fn a_layers_transfer_encoding_is_held_to_the_same_rule() {
    use tower_http::set_header::SetResponseHeaderLayer;
    let chunked = App::new()
        .get("/", plain)
        .layer(SetResponseHeaderLayer::appending(
            TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        ))
        .bind("127.0.0.1:0")
        .await
        .expect("binds");
    let raw = get(chunked.local_addr(), "/").await;
    assert_eq!(raw.status, 200);
    assert_valid_framing(&raw, "a layer's chunked");
    assert_eq!(raw.body, b"hello");
    chunked.shutdown().await;

    let gzip = App::new()
        .get("/", plain)
        .layer(SetResponseHeaderLayer::overriding(
            TRANSFER_ENCODING,
            HeaderValue::from_static("gzip"),
        ))
        .bind("127.0.0.1:0")
        .await
        .expect("binds");
    let raw = get(gzip.local_addr(), "/").await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.all("transfer-encoding"), ["gzip, chunked"]);
    assert_eq!(raw.all("connection"), ["close"]);
    assert_eq!(raw.body, b"hello");
    gzip.shutdown().await;
}

// ------------- 4. HEAD, and statuses sent without a body

/// `HEAD` of every output kind is answered with the head `GET` gets (status, content type,
/// length when `GET` has one) and no body.
#[tokio::test]
async fn head_is_answered_with_the_head_get_gets() {
    let server = outputs_app().bind("127.0.0.1:0").await.expect("binds");
    let addr = server.local_addr();
    for path in [
        "/vec",
        "/bytes",
        "/static-text",
        "/text",
        "/json",
        "/html",
        "/unit",
        "/no-content",
        "/untyped-stream",
        "/typed-stream",
        "/missing",
    ] {
        let got = get(addr, path).await;
        let head = exchange(
            addr,
            &format!("HEAD {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(head.status, got.status, "HEAD {path}");
        assert_eq!(
            head.all("content-type"),
            got.all("content-type"),
            "HEAD {path}"
        );
        if !got.all("content-length").is_empty() {
            assert_eq!(
                head.all("content-length"),
                got.all("content-length"),
                "HEAD {path}"
            );
        }
        assert!(head.body.is_empty(), "HEAD {path}: {:?}", head.body);
    }
    server.shutdown().await;
}

#[depends(status = 204)]
async fn no_content_with_text() -> (StatusCode, &'static str) {
    (StatusCode::NO_CONTENT, "dropped")
}

#[depends(status = 304)]
async fn not_modified_with_json() -> (StatusCode, Json<Value>) {
    (StatusCode::NOT_MODIFIED, Json(serde_json::json!({"id": 7})))
}

#[depends(status = 205)]
async fn reset_with_stream() -> (StatusCode, StreamBody<Lines>) {
    (StatusCode::RESET_CONTENT, StreamBody::new(lines()))
}

/// A status sent without a body (204, 205, 304) is documented with no content: the head
/// sent names no content either (no `Content-Length` but a 205's `0`, no `Transfer-Encoding`),
/// and no byte of the body the handler gave reaches the wire.
#[tokio::test]
async fn a_bodiless_status_sends_no_body_whatever_the_handler_gave() {
    let app = || {
        App::new()
            .get("/204", no_content_with_text)
            .get("/304", not_modified_with_json)
            .get("/205", reset_with_stream)
    };
    let doc = document(&app());
    let server = app().bind("127.0.0.1:0").await.expect("binds");
    let addr = server.local_addr();
    for (path, status) in [("/204", 204), ("/304", 304), ("/205", 205)] {
        assert_eq!(
            documented(&doc, path),
            [(status.to_string(), Vec::<String>::new())],
            "GET {path}"
        );
        // Then another request on the same connection: nothing of the body was left on it.
        let raw = exchange(
            addr,
            &format!(
                "GET {path} HTTP/1.1\r\nhost: x\r\n\r\nGET /204 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
            ),
        )
        .await;
        assert_eq!(raw.status, status, "GET {path}");
        assert!(raw.all("transfer-encoding").is_empty(), "GET {path}");
        let lengths = raw.all("content-length");
        assert!(
            lengths.is_empty() || (status == 205 && lengths == ["0"]),
            "GET {path}: {lengths:?}"
        );
        let rest = String::from_utf8_lossy(&raw.body);
        assert!(
            rest.starts_with("HTTP/1.1 204 "),
            "GET {path}: the next answer follows at once: {rest:?}"
        );
        assert!(
            !rest.contains("dropped") && !rest.contains("\"id\""),
            "{rest:?}"
        );
    }
    server.shutdown().await;
}

// ------------- 5. a declared error status documented with the body its error type sends

#[depends(responses(401 = "No key"))]
async fn key(headers: &http::HeaderMap) -> Result<u8, StatusCode> {
    if headers.contains_key("x-key") {
        Ok(1)
    } else {
        Err(StatusCode::UNAUTHORIZED)
    }
}

/// axum's most common error, `Result<T, StatusCode>`, with the status it answers declared.
#[depends(responses(404 = "No such note"))]
async fn find_note(#[dep(key)] _key: &u8, Path(id): Path<u32>) -> Result<&'static str, StatusCode> {
    if id == 1 {
        Ok("note")
    } else {
        Err(StatusCode::NOT_FOUND)
    }
}

/// An error of `HttpError`'s, declared on the same route.
#[depends(responses(409 = "Taken"))]
async fn taken(#[dep(key)] _key: &u8) -> Result<&'static str, HttpError> {
    Err(HttpError::new(StatusCode::CONFLICT, "taken"))
}

/// A status declared with `responses(..)` was documented with `HttpError`'s JSON body
/// (`{"detail": ...}`) whatever the function's error type: one whose error is a bare
/// `StatusCode` answers it with no body and no content type (as axum does, and as the same
/// `StatusCode` answers when it is not an error), so a client made from the document parsed an
/// empty body as JSON. Such a status is now documented without a body; an `HttpError`'s keeps
/// its JSON. Each checked off a real socket.
#[tokio::test]
async fn a_declared_error_status_is_documented_with_the_body_its_error_sends() {
    let app = || {
        App::new()
            .get("/notes/{id}", find_note)
            .get("/taken", taken)
    };
    let doc = document(&app());
    common::assert_valid_openapi(&serde_json::to_string(&doc).expect("JSON"));
    let server = app().bind("127.0.0.1:0").await.expect("binds");
    let addr = server.local_addr();
    for (path, documented_as, key, status) in [
        ("/notes/2", "/notes/{id}", true, 404),
        ("/notes/1", "/notes/{id}", false, 401),
        ("/taken", "/taken", false, 401),
        ("/taken", "/taken", true, 409),
    ] {
        let raw = exchange(
            addr,
            &format!(
                "GET {path} HTTP/1.1\r\nhost: x\r\n{}connection: close\r\n\r\n",
                if key { "x-key: k\r\n" } else { "" }
            ),
        )
        .await;
        assert_eq!(raw.status, status, "GET {path}");
        let responses = documented(&doc, documented_as);
        let (_, types) = responses
            .iter()
            .find(|(documented, _)| *documented == status.to_string())
            .unwrap_or_else(|| panic!("GET {path}: {status} is documented: {responses:?}"));
        let sent: Vec<String> = raw.media_type().into_iter().collect();
        assert_eq!(*types, sent, "GET {path} ({status}): documented, then sent");
    }
    server.shutdown().await;
}
