//! A code review of the response side (`di-runtime/src/response/`, the body wrapper in
//! `run/body.rs`, a response as it leaves the app and as the test client gives it) and of the
//! OpenAPI document's responses (`openapi/build.rs`, `contract/doc.rs`), as axum's and hyper's
//! maintainers would read them: each handler output is sent, and documented, as a client made
//! from the document expects, over HTTP/1 and HTTP/2 and through the test client alike. Each
//! test that failed before a fix names it in CHANGELOG.md.

mod common;

use std::borrow::Cow;

use bytes::Bytes;
use common::Misjudged;
use di_runtime::prelude::*;
use di_runtime::{Html, OpenApi, Redirect, TestClient};
use http::header::{HeaderName, LOCATION};
use serde_json::Value;

/// The content types the document gives the success response of `GET path` (none: no body).
fn documented(doc: &OpenApi, path: &str) -> Vec<String> {
    let operation = doc
        .operation(path, "get")
        .unwrap_or_else(|| panic!("GET {path} is in the document"));
    let (_, success) = &operation.responses.0[0];
    success.content.keys().map(str::to_owned).collect()
}

/// The content type `GET path` is served with, without its parameters (none: no body).
async fn served(client: &TestClient, path: &str) -> Vec<String> {
    let response = client.get(path).send().await;
    assert_eq!(response.status().as_u16() / 100, 2, "GET {path}");
    let content_type = response.header("content-type").map(common::media_type);
    let body = response.bytes().await.expect("the whole body");
    match content_type {
        Some(content_type) => vec![content_type],
        None => {
            assert!(body.is_empty(), "GET {path}: a body without a content type");
            Vec::new()
        }
    }
}

// ------------- 1. outputs whose body and content type their type fixes, documented as sent

#[depends]
async fn raw_vec() -> Vec<u8> {
    b"\x00\x01".to_vec()
}

#[depends]
async fn raw_bytes() -> Bytes {
    Bytes::from_static(b"\x00\x01")
}

#[depends]
async fn cow_text() -> Cow<'static, str> {
    Cow::Borrowed("text")
}

#[depends]
async fn headers_alone() -> [(HeaderName, &'static str); 1] {
    [(LOCATION, "/notes/7")]
}

#[depends]
async fn status_and_headers() -> (StatusCode, [(HeaderName, &'static str); 1]) {
    (StatusCode::OK, [(LOCATION, "/notes/7")])
}

#[depends]
async fn json_value() -> Json<Value> {
    Json(serde_json::json!({"id": 7}))
}

#[depends]
async fn text() -> String {
    "text".to_owned()
}

#[depends]
async fn nothing() -> StatusCode {
    StatusCode::OK
}

fn outputs_app() -> App {
    App::new()
        .get("/vec", raw_vec)
        .get("/bytes", raw_bytes)
        .get("/cow", cow_text)
        .get("/headers", headers_alone)
        .get("/status-and-headers", status_and_headers)
        .get("/json", json_value)
        .get("/text", text)
        .get("/nothing", nothing)
}

/// `Vec<u8>` and `Bytes` are sent as `application/octet-stream`, `Cow<str>` as `text/plain`,
/// headers alone (`[(LOCATION, ..)]`, after a status or not) with no body at all: the document
/// said `application/json` of each (FastAPI's default for a type it knows nothing of), so a
/// client generated from it parsed bytes, text or nothing as JSON.
#[tokio::test]
async fn an_output_whose_type_fixes_its_content_type_is_documented_as_it_is_sent() {
    let app = outputs_app();
    let doc = app.openapi().expect("the app is valid");
    let client = TestClient::start(outputs_app()).await.expect("starts");
    for path in [
        "/vec",
        "/bytes",
        "/cow",
        "/headers",
        "/status-and-headers",
        "/json",
        "/text",
        "/nothing",
    ] {
        assert_eq!(
            documented(&doc, path),
            served(&client, path).await,
            "GET {path}: documented, then served"
        );
    }
    client.shutdown().await;
}

// ------------- 2. a streamed body written as `StreamBody<impl Stream>`, documented as a stream

type Lines =
    futures_util::stream::Iter<std::array::IntoIter<Result<&'static str, std::io::Error>, 2>>;

fn lines() -> Lines {
    futures_util::stream::iter([Ok("a\n"), Ok("b\n")])
}

/// The type named: documented as a stream.
#[depends]
async fn named_stream() -> StreamBody<Lines> {
    StreamBody::new(lines())
}

/// The same stream as most handlers write it (the type of a real stream cannot be named).
#[depends]
async fn opaque_stream()
-> StreamBody<impl futures_util::Stream<Item = Result<&'static str, std::io::Error>> + Send> {
    StreamBody::new(lines())
}

#[depends]
async fn fallible_opaque_stream() -> Result<
    (
        StatusCode,
        StreamBody<impl futures_util::Stream<Item = Result<&'static str, std::io::Error>> + Send>,
    ),
    HttpError,
> {
    Ok((StatusCode::OK, StreamBody::new(lines())))
}

#[depends]
async fn opaque_page() -> Html<impl Into<di_runtime::Body>> {
    Html("<p>page</p>")
}

/// Whatever `impl IntoResponse` is: FastAPI's default, as for any type the document cannot
/// read.
#[depends]
async fn opaque_response() -> impl IntoResponse {
    "text"
}

/// A handler that returns `StreamBody<impl Stream>` (the only way to return most streams,
/// and how the docs write every one) was documented `application/json` `{}`, where the same
/// `StreamBody` with its type named is `application/octet-stream`: the macro read an output
/// that holds an `impl Trait` as it reads a bare `impl IntoResponse`.
#[test]
fn a_stream_body_of_an_impl_stream_is_documented_as_a_stream() {
    let app = App::new()
        .get("/named", named_stream)
        .get("/opaque", opaque_stream)
        .get("/fallible", fallible_opaque_stream)
        .get("/page", opaque_page)
        .get("/response", opaque_response);
    let doc = app.openapi().expect("the app is valid");
    assert_eq!(documented(&doc, "/named"), ["application/octet-stream"]);
    for path in ["/opaque", "/fallible"] {
        assert_eq!(
            documented(&doc, path),
            ["application/octet-stream"],
            "GET {path}"
        );
    }
    assert_eq!(documented(&doc, "/page"), ["text/html"]);
    assert_eq!(documented(&doc, "/response"), ["application/json"]);
}

// ------------- 3. a redirect's location is a URI: what a URI cannot hold is percent-encoded

#[depends]
async fn search_again(Query(q): Query<std::collections::HashMap<String, String>>) -> Redirect {
    let q = q.get("q").map_or("", String::as_str);
    Redirect::to(&format!("/search?q={q}"))
}

/// `Location` is a URI reference (RFC 9110 10.2.2), which holds no space, tab, `"`, `<`, `>`,
/// `\`, `^`, `` ` ``, `{`, `|` or `}`: Starlette's `RedirectResponse` percent-encodes them (its
/// `quote(url, safe=":/%#?=@[]!$&'()*+,;")`), and so did `Redirect` for a location with a
/// character beyond ASCII, but an ASCII one was sent as it was: `Location: /search?q=a b`,
/// which a strict client refuses, and a tab raw in the header, where the same location with an
/// `é` in it got `%09` (and the docs promise a 500 for a control character).
#[tokio::test]
async fn a_redirect_percent_encodes_what_a_uri_cannot_hold_ascii_or_not() {
    for (given, sent) in [
        ("/search?q=a b", "/search?q=a%20b"),
        ("/a\tb", "/a%09b"),
        ("/a\tbé", "/a%09b%C3%A9"),
        (
            "/q?x=\"<tag>\"&y={1|2}^`\\",
            "/q?x=%22%3Ctag%3E%22&y=%7B1%7C2%7D%5E%60%5C",
        ),
        // What a URI holds is left as it is, and what is already encoded stays so.
        (
            "https://example.com:8443/a/b;c?d=e&f=g+h#i-j_k.l~m!$'()*,@[]:%20",
            "https://example.com:8443/a/b;c?d=e&f=g+h#i-j_k.l~m!$'()*,@[]:%20",
        ),
        ("/notes/cr%C3%A8me", "/notes/cr%C3%A8me"),
        ("/notes/crème", "/notes/cr%C3%A8me"),
    ] {
        assert_eq!(Redirect::to(given).location(), Some(sent), "{given:?}");
    }
    // A control character other than a tab is still the handler's mistake.
    assert_eq!(Redirect::to("/a\nb").location(), None);
    assert_eq!(Redirect::to("/a\r\nb é").location(), None);

    let client = TestClient::start(App::new().get("/again", search_again))
        .await
        .expect("starts");
    let response = client
        .get("/again")
        .query([("q", "milk and eggs")])
        .send()
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.header("location"),
        Some("/search?q=milk%20and%20eggs")
    );
    client.shutdown().await;
}

// ------------- 4. a route with a literal brace: its parameters as the router reads them

#[depends]
async fn in_braces(Path(id): Path<u32>) -> String {
    id.to_string()
}

/// `{{` and `}}` in a route are a literal brace (the router's escape, which `check` reads so):
/// `/v1/{{legacy}}/{id}` has one parameter, `id`. The document read `{legacy}` as a second
/// one, gave it `id`'s schema (the first name takes a single value) and `id` none, and kept
/// `{{legacy}}` in the path, where OpenAPI reads `{legacy}` as a template: openapi-spec-validator
/// refused the document ("Path parameter 'legacy' ... was not resolved"). A literal brace is
/// now written as a URI writes it, `%7B` and `%7D`.
#[test]
fn a_literal_brace_in_a_route_is_no_parameter_of_its_operation() {
    let app = App::new().get("/v1/{{legacy}}/{id}", in_braces);
    let doc = app.openapi().expect("the app is valid");
    let paths: Vec<&str> = doc.paths.keys().collect();
    assert_eq!(paths, ["/v1/%7Blegacy%7D/{id}"]);
    let json = serde_json::to_value(
        doc.operation("/v1/%7Blegacy%7D/{id}", "get")
            .expect("the operation"),
    )
    .expect("JSON");
    assert_eq!(
        json["parameters"],
        serde_json::json!([{
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {"type": "integer", "format": "uint32", "minimum": 0, "title": "Id"}
        }])
    );
}

// ------------- 5. bytes that live for the program (`include_bytes!`): a response, as in axum

/// A favicon, as `include_bytes!("favicon.ico")` gives it: `&'static [u8; N]`.
static FAVICON: &[u8; 4] = b"\x00\x00\x01\x00";

#[depends]
async fn favicon() -> (
    [(HeaderName, &'static str); 1],
    &'static [u8; FAVICON.len()],
) {
    ([(http::header::CONTENT_TYPE, "image/x-icon")], FAVICON)
}

#[depends]
async fn static_slice() -> &'static [u8] {
    &FAVICON[..]
}

/// `&'static str` was a response and `&'static [u8]` was not, nor what `include_bytes!` gives
/// (`&'static [u8; N]`): a favicon or a file embedded in the binary did not compile ("`&'static
/// [u8]` cannot be turned into an HTTP response"; axum answers both), though `Html` took such
/// bytes. Both are now `application/octet-stream`, as `Vec<u8>` and `Bytes` are.
#[tokio::test]
async fn static_bytes_are_a_response_and_documented_as_bytes() {
    let app = || {
        App::new()
            .get("/favicon.ico", favicon)
            .get("/slice", static_slice)
    };
    let doc = app().openapi().expect("the app is valid");
    assert_eq!(documented(&doc, "/slice"), ["application/octet-stream"]);
    assert_eq!(
        documented(&doc, "/favicon.ico"),
        ["application/octet-stream"]
    );
    let client = TestClient::start(app()).await.expect("starts");
    let response = client.get("/favicon.ico").send().await;
    assert_eq!(response.header("content-type"), Some("image/x-icon"));
    assert_eq!(response.bytes().await.expect("the body"), &FAVICON[..]);
    let response = client.get("/slice").send().await;
    assert_eq!(
        response.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(response.bytes().await.expect("the body"), &FAVICON[..]);
    client.shutdown().await;
}

// ------------- 6. the test client's length of a 205 and a 204, as the server sends them

#[depends]
async fn reset_with_body() -> (StatusCode, &'static str) {
    // A handler that answers 205 with what it would have said (a confirmation).
    (StatusCode::RESET_CONTENT, "saved")
}

#[depends]
async fn no_content_with_length() -> (StatusCode, [(HeaderName, &'static str); 1], &'static str) {
    (
        StatusCode::NO_CONTENT,
        [(http::header::CONTENT_LENGTH, "5")],
        "saved",
    )
}

/// The `Content-Length` field of `GET path` over a socket (HTTP/1.1), as a client reads it.
async fn length_on_a_socket(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sent");
    let mut answer = Vec::new();
    common::within(stream.read_to_end(&mut answer))
        .await
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let head = answer.split("\r\n\r\n").next().unwrap_or_default();
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.trim().to_owned())
}

/// A 205 has no content, and the server sends it with `Content-Length: 0` whatever body its
/// handler gave (RFC 9110 15.3.6); a 204 has no `Content-Length` at all, even one its handler
/// gave. The test client said `content-length: 5` of the 205 (its body's length, though it
/// gave no body) and kept the handler's `5` on the 204, so a test of either read what no
/// client is sent.
#[tokio::test]
async fn the_test_client_gives_a_205_and_a_204_the_length_the_server_sends() {
    let app = || {
        App::new()
            .get("/205", reset_with_body)
            .get("/204", no_content_with_length)
    };
    let server = app().bind("127.0.0.1:0").await.expect("binds");
    let client = TestClient::start(app()).await.expect("starts");
    for (path, sent) in [("/205", Some("0")), ("/204", None)] {
        assert_eq!(
            length_on_a_socket(server.local_addr(), path)
                .await
                .as_deref(),
            sent,
            "GET {path} over a socket"
        );
        let response = client.get(path).send().await;
        assert_eq!(
            response.header("content-length"),
            sent,
            "GET {path} through the test client"
        );
        assert!(response.bytes().await.expect("the body").is_empty());
    }
    client.shutdown().await;
    server.shutdown().await;
}

// ------------- 7. the document of every output kind, judged by a validator

#[depends]
async fn html_page() -> Html<&'static str> {
    Html("<p>page</p>")
}

#[depends]
async fn moved() -> Redirect {
    Redirect::permanent("/json")
}

/// Every output kind (bytes, text, JSON, HTML, headers alone, a redirect, named and opaque
/// streams) and a route with a literal brace, in one document: valid OpenAPI 3.1
/// (tests/openapi_checks.rs judges every input kind).
#[test]
fn the_validator_accepts_a_document_with_every_kind_of_output() {
    let doc = outputs_app()
        .get("/named", named_stream)
        .get("/opaque", opaque_stream)
        .get("/fallible", fallible_opaque_stream)
        .get("/page", opaque_page)
        .get("/response", opaque_response)
        .get("/html", html_page)
        .get("/moved", moved)
        .get("/favicon.ico", favicon)
        .get("/v1/{{legacy}}/{id}", in_braces)
        .openapi()
        .expect("the app is valid");
    common::assert_valid_openapi(&doc.to_json());
}

// ------------- 8. a header value with whitespace at either end, over HTTP/2

#[depends]
async fn padded() -> ([(&'static str, String); 2], &'static str) {
    let note = format!("{} ", "saved"); // a value formatted with a space after it
    (
        [("x-note", note), ("x-pad", " \tpadded".to_owned())],
        "body",
    )
}

/// An HTTP/2 field value must not begin or end with whitespace (RFC 9113 8.2.1: the message
/// is malformed), and HTTP/1 recipients drop it (RFC 9110 5.5: it is not part of the value).
/// A handler's `x-note: "saved "` went out so over HTTP/2: nghttp2 (curl's library, Envoy's
/// codec) refuses such a response ("Invalid HTTP header field was received") and resets the
/// stream with `PROTOCOL_ERROR`, so an answer HTTP/1 clients read as `saved` failed behind an
/// HTTP/2 proxy. Such a value now leaves the app trimmed, whoever serves it.
#[tokio::test]
async fn a_header_value_with_whitespace_at_either_end_leaves_trimmed() {
    let app = || App::new().get("/padded", padded);
    let server = app().bind("127.0.0.1:0").await.expect("binds");
    let addr = server.local_addr();
    let io = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let (mut h2, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    let response = common::within(async {
        common::h2_send_get(&mut h2, addr, "/padded")
            .await
            .await
            .expect("answered")
    })
    .await;
    for (name, value) in [("x-note", "saved"), ("x-pad", "padded")] {
        assert_eq!(
            response.headers().get(name).map(|v| v.as_bytes()),
            Some(value.as_bytes()),
            "HTTP/2 {name}"
        );
    }
    driver.abort();
    let client = TestClient::start(app()).await.expect("starts");
    let response = client.get("/padded").send().await;
    assert_eq!(response.header("x-note"), Some("saved"));
    assert_eq!(response.header("x-pad"), Some("padded"));
    client.shutdown().await;
    server.shutdown().await;
}

// ------------- 9. a status given beside an error that keeps its cause

/// An upstream's error, kept as the cause of the answer (for the log), never sent.
#[derive(Debug)]
struct UpstreamDown;

impl std::fmt::Display for UpstreamDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the payment service refused the connection")
    }
}

impl std::error::Error for UpstreamDown {}

#[depends]
async fn pay() -> Result<&'static str, (StatusCode, HttpError)> {
    Err((StatusCode::BAD_GATEWAY, HttpError::from(UpstreamDown)))
}

/// An app's error type whose response is a status beside the generic error of its cause.
#[derive(Debug)]
struct AppError(UpstreamDown);

impl IntoResponse for AppError {
    fn into_response(self) -> di_runtime::Response {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            HttpError::internal_from(self.0),
        )
            .into_response()
    }
}

#[depends]
async fn refund() -> Result<&'static str, AppError> {
    Err(AppError(UpstreamDown))
}

/// `(StatusCode::BAD_GATEWAY, HttpError::from(error))`, the status an app chose beside the
/// generic error that keeps its cause for the log, was answered 500: a status beside a 500 is
/// kept out only for a response that failed to be made (an invalid header, a redirect to a
/// location with a line break), but every error with a cause was taken for one. The status
/// given now stands, as in axum; the detail stays the generic one.
#[tokio::test]
async fn a_status_given_beside_an_error_with_a_cause_is_the_answers() {
    let client = TestClient::start(App::new().get("/pay", pay).get("/refund", refund))
        .await
        .expect("starts");
    for (path, status) in [
        ("/pay", StatusCode::BAD_GATEWAY),
        ("/refund", StatusCode::SERVICE_UNAVAILABLE),
    ] {
        let response = client.get(path).send().await;
        assert_eq!(response.status(), status, "GET {path}");
        assert_eq!(
            response.text().await.expect("the body"),
            r#"{"detail":"Internal Server Error"}"#,
            "GET {path}: the cause is not sent"
        );
    }
    // A response that failed to be made keeps its 500 whatever status is beside it.
    let made_wrong = (StatusCode::CREATED, Redirect::to("/a\nb")).into_response();
    assert_eq!(made_wrong.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let made_wrong = (StatusCode::CREATED, [("bad name", "v")], "body").into_response();
    assert_eq!(made_wrong.status(), StatusCode::INTERNAL_SERVER_ERROR);
    client.shutdown().await;
}

// ------------- 10. a HEAD's or a 304's declared length, not warned of

/// The answer to a `HEAD` written by hand: no body, the length a `GET` would send.
#[depends]
async fn file_head() -> ([(HeaderName, &'static str); 1], ()) {
    ([(http::header::CONTENT_LENGTH, "1234")], ())
}

/// A conditional `GET`'s 304, with the length of the representation it stands for (RFC 9110
/// 8.6 allows it).
#[depends]
async fn unchanged() -> (StatusCode, [(HeaderName, &'static str); 1]) {
    (
        StatusCode::NOT_MODIFIED,
        [(http::header::CONTENT_LENGTH, "1234")],
    )
}

/// An empty body that declares a length is the answer to a `HEAD` (the docs' own example) or
/// a 304, and is sent as it is; each such answer was logged at WARN as "the response's
/// Content-Length differs from its body's length: the response fails where they part", which
/// it never does. Sent with a body after all (to a `GET`), it fails, and that is logged where
/// it does.
#[tokio::test]
async fn a_head_or_304_that_declares_its_length_is_not_warned_of() {
    let (captured, _guard) = common::Captured::at(tracing_subscriber::filter::LevelFilter::WARN);
    let client = TestClient::start(
        App::new()
            .route(http::Method::HEAD, "/file", file_head)
            .get("/unchanged", unchanged),
    )
    .await
    .expect("starts");
    let response = client.head("/file").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.header("content-length"), Some("1234"));
    let response = client.get("/unchanged").send().await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.header("content-length"), Some("1234"));
    client.settle().await;
    client.shutdown().await;
    assert_eq!(captured.at_level("WARN"), Vec::<String>::new());

    // The same answer to a `GET` fails where its body ends short, and says so.
    let client = TestClient::start(App::new().get("/file", file_head))
        .await
        .expect("starts");
    let response = client.get("/file").send().await;
    assert!(
        response.bytes().await.is_err(),
        "a body short of its length"
    );
    client.settle().await;
    client.shutdown().await;
    let warned = captured.at_level("WARN");
    assert!(
        warned.len() == 1 && warned[0].contains("1234 bytes short"),
        "{warned:#?}"
    );
}

// ------------- 11. a body whose size hint is wrong, read through the test client

#[depends]
async fn hints_more() -> http::Response<Misjudged> {
    http::Response::new(Misjudged {
        data: Some(Bytes::from_static(b"hello")),
        hint: 10,
    })
}

#[depends]
async fn hints_less() -> http::Response<Misjudged> {
    http::Response::new(Misjudged {
        data: Some(Bytes::from_static(b"hello")),
        hint: 3,
    })
}

/// A body whose size hint says another length than it holds is sent with the hint as its
/// `Content-Length`, and the server cuts it where they part (tests/walk_shapes.rs
/// `a_body_whose_size_hint_is_wrong_is_a_cut_and_a_body_error_over_each_protocol`). The test
/// client gave the same `content-length: 10` and then the 5 bytes as a whole body, no error:
/// a test passed what every client fails. It now fails the body where they part, as the
/// server does.
#[tokio::test]
async fn the_test_client_fails_a_body_whose_size_hint_is_wrong_as_the_server_does() {
    let client = TestClient::start(
        App::new()
            .get("/hints-more", hints_more)
            .get("/hints-less", hints_less),
    )
    .await
    .expect("starts");
    for (path, length) in [("/hints-more", "10"), ("/hints-less", "3")] {
        let response = client.get(path).send().await;
        assert_eq!(response.header("content-length"), Some(length), "{path}");
        assert!(
            response.bytes().await.is_err(),
            "{path}: a body that is not its length is cut"
        );
    }
    client.shutdown().await;
}
