//! A review of `SetHeaders` and `#[depends(status = N)]` across the ways an app is composed
//! and served (groups, tower layers, mounted apps, HTTP/1.0, HTTP/1.1, HTTP/2, `HEAD`,
//! streamed bodies), and of two leftovers: `App::request_id_header` naming a header a response
//! carries for its own meaning, and the `Retry-After` of the 503 a stopped app answers.

mod common;

use common::{header_name, header_value};
use di_runtime::Body;
use di_runtime::http::header::{HeaderName, SET_COOKIE};
use di_runtime::prelude::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[depends]
async fn session(headers: &SetHeaders) -> u64 {
    headers.append(SET_COOKIE, header_value("session=abc"));
    7
}

#[depends]
async fn fake_session(headers: &SetHeaders) -> u64 {
    headers.append(SET_COOKIE, header_value("session=fake"));
    8
}

#[depends]
async fn group_guard(headers: &SetHeaders) {
    headers.insert(header_name("x-group"), header_value("yes"));
}

#[depends]
async fn counted(headers: &SetHeaders) -> u32 {
    headers.append(header_name("x-counted"), header_value("1"));
    1
}

/// A `request`-scope generator: its header before `provide` is sent.
#[depends]
async fn opened(headers: &SetHeaders, y: Yield<u8>) {
    headers.insert(header_name("x-opened"), header_value("before"));
    let (_, _) = y.provide(1).await;
}

#[depends]
async fn hello(#[dep(session)] user: &u64) -> String {
    format!("user {user}")
}

#[depends]
async fn twice(#[dep(counted, fresh)] a: &u32, #[dep(counted, fresh)] b: &u32) -> String {
    format!("{}", a + b)
}

#[depends]
async fn with_opened(#[dep(opened)] _o: &u8) -> &'static str {
    "opened"
}

#[depends]
async fn raw(#[dep(session)] _user: &u64) -> http::Response<String> {
    http::Response::builder()
        .header("x-raw", "1")
        .body("raw".to_owned())
        .unwrap()
}

#[depends]
async fn own_id(headers: &SetHeaders) -> &'static str {
    headers.insert(header_name("x-request-id"), header_value("mine"));
    "id"
}

type Lines =
    futures_util::stream::Iter<std::array::IntoIter<Result<&'static str, std::io::Error>, 2>>;

#[depends(status = 201)]
async fn created_stream(#[dep(session)] _user: &u64) -> StreamBody<Lines> {
    StreamBody::new(futures_util::stream::iter([Ok("a\n"), Ok("b\n")]))
}

#[depends(status = 204)]
async fn gone() -> String {
    "never sent".to_owned()
}

#[depends(status = 304)]
async fn unchanged() -> String {
    "never sent".to_owned()
}

/// `status = 201` on a function used only as a dependency: nothing sends it.
#[depends(status = 201)]
async fn dep_with_status() -> u32 {
    1
}

#[depends]
async fn uses_dep_with_status(#[dep(dep_with_status)] n: &u32) -> String {
    format!("{n}")
}

#[depends(status = 201)]
async fn handler_and_dependency() -> String {
    "made".to_owned()
}

#[depends]
async fn wraps(#[dep(handler_and_dependency)] made: &String) -> String {
    made.clone()
}

/// What each `stream_tx` teardown saw, in order.
static STREAM_OUTCOMES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A `request`-scope generator: its teardown runs after the body, and records the outcome.
#[depends]
async fn stream_tx(headers: &SetHeaders, y: Yield<u8>) {
    headers.insert(header_name("x-stream-tx"), header_value("open"));
    let (_, outcome) = y.provide(1).await;
    STREAM_OUTCOMES
        .lock()
        .unwrap()
        .push(common::describe(&outcome));
}

/// `status = 204` on a streamed body that holds a `request`-scope value: nothing is sent.
#[depends(status = 204)]
async fn gone_stream(#[dep(stream_tx)] _tx: &u8) -> StreamBody<Lines> {
    StreamBody::new(futures_util::stream::iter([Ok("never\n"), Ok("sent\n")]))
}

/// A value that cannot be serialized: its `Json` is di's generic 500, not the handler's answer.
struct Unserializable;

impl serde::Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("cannot"))
    }
}

#[depends]
async fn unserializable(#[dep(session)] _user: &u64) -> Json<Unserializable> {
    Json(Unserializable)
}

/// An informational status cannot end an exchange: di answers a generic 500 in its place.
#[depends]
async fn informational(#[dep(session)] _user: &u64) -> StatusCode {
    StatusCode::CONTINUE
}

/// A `handler`-scope teardown that fails: its 500 is not the handler's answer.
#[depends(scope = "handler")]
async fn failing_commit(y: Yield<u8>) -> Result<(), HttpError> {
    let (_, _) = y.provide(1).await;
    Err(HttpError::internal())
}

#[depends]
async fn commit_fails(
    #[dep(session)] _user: &u64,
    #[dep(failing_commit)] _tx: &u8,
) -> &'static str {
    "committed?"
}

#[depends]
async fn never_ends(#[dep(session)] _user: &u64) -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

fn app() -> App {
    App::new()
        .get("/hello", hello)
        .get("/twice", twice)
        .get("/opened", with_opened)
        .get("/raw", raw)
        .get("/own-id", own_id)
        .get("/created-stream", created_stream)
        .get("/gone", gone)
        .get("/unchanged", unchanged)
        .get("/gone-stream", gone_stream)
        .nest(
            Group::new("/g")
                .dependency(group_guard)
                .get("/hello", hello),
        )
}

// ------------- SetHeaders across compositions: each worked, pinned here

/// A group's dependency sets a header; `fresh` runs a dependency twice, each `append` sent;
/// a `request`-scope generator's header set before `provide` is sent; a handler's
/// `http::Response` gets them; an override's headers replace the original's.
#[tokio::test]
async fn set_headers_reach_the_answer_however_the_route_is_made() {
    let client = TestClient::start(app()).await.expect("starts");
    let answer = client.get("/g/hello").send().await;
    assert_eq!(answer.status(), 200);
    assert_eq!(common::header_values(&answer, "x-group"), ["yes"]);
    assert_eq!(
        common::header_values(&answer, "set-cookie"),
        ["session=abc"]
    );
    let answer = client.get("/twice").send().await;
    assert_eq!(common::header_values(&answer, "x-counted"), ["1", "1"]);
    let answer = client.get("/opened").send().await;
    assert_eq!(common::header_values(&answer, "x-opened"), ["before"]);
    let answer = client.get("/raw").send().await;
    assert_eq!(common::header_values(&answer, "x-raw"), ["1"]);
    assert_eq!(
        common::header_values(&answer, "set-cookie"),
        ["session=abc"]
    );
    client.shutdown().await;

    let client = TestClient::start(app().override_dep(session, fake_session))
        .await
        .expect("starts");
    let answer = client.get("/hello").send().await;
    assert_eq!(
        common::header_values(&answer, "set-cookie"),
        ["session=fake"]
    );
    assert_eq!(answer.text().await.unwrap(), "user 8");
    client.shutdown().await;
}

/// An app's tower layer sees them on the response; a `di` app mounted in another sends them.
#[tokio::test]
async fn a_layer_sees_them_and_a_mounted_app_sends_them() {
    let layered = app().layer(tower::util::MapResponseLayer::new(
        |mut response: http::Response<Body>| -> http::Response<Body> {
            let seen = response.headers().contains_key(SET_COOKIE);
            let said = if seen {
                header_value("yes")
            } else {
                header_value("no")
            };
            response.headers_mut().insert("x-layer-saw", said);
            response
        },
    ));
    let client = TestClient::start(layered).await.expect("starts");
    let answer = client.get("/hello").send().await;
    assert_eq!(common::header_values(&answer, "x-layer-saw"), ["yes"]);
    client.shutdown().await;

    let inner = app().start().await.expect("starts");
    let outer = App::new().nest_service("/inner", inner.service());
    let client = TestClient::start(outer).await.expect("starts");
    let answer = client.get("/inner/hello").send().await;
    assert_eq!(
        common::header_values(&answer, "set-cookie"),
        ["session=abc"]
    );
    client.shutdown().await;
    inner.shutdown().await;
}

/// The request id's header is the app's: a `SetHeaders` of that name is replaced by the id,
/// as the handler's own header of that name is.
#[tokio::test]
async fn the_request_id_header_is_the_apps() {
    let client = TestClient::start(app()).await.expect("starts");
    let answer = client
        .get("/own-id")
        .header("x-request-id", "abc-1")
        .send()
        .await;
    assert_eq!(common::header_values(&answer, "x-request-id"), ["abc-1"]);
    client.shutdown().await;
}

// ------------- `status = N` over the wire: each worked, pinned here

/// `status = 201` on a `StreamBody` handler, over HTTP/1.1, HTTP/1.0 and HTTP/2 and for
/// `HEAD`; `status = 204` and `304` on a handler with a body: nothing sent, no framing header,
/// over HTTP/1.1, HTTP/1.0 and HTTP/2.
#[tokio::test]
async fn a_declared_status_over_every_protocol() {
    let server = app().bind("127.0.0.1:0").await.expect("binds");
    let addr = server.local_addr();
    for version in ["1.1", "1.0"] {
        for (path, status) in [
            ("/gone", "204 No Content"),
            ("/unchanged", "304 Not Modified"),
            ("/created-stream", "201 Created"),
        ] {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let ask = format!("GET {path} HTTP/{version}\r\nhost: x\r\nconnection: close\r\n\r\n");
            stream.write_all(ask.as_bytes()).await.unwrap();
            let raw = common::read_to_close(&mut stream).await;
            assert!(
                raw.starts_with(&format!("HTTP/{version} {status}\r\n")),
                "{raw}"
            );
            let lower = raw.to_ascii_lowercase();
            if path == "/created-stream" {
                assert!(lower.contains("\r\nset-cookie: session=abc\r\n"), "{raw}");
                // Chunked to HTTP/1.1, delimited by the close to HTTP/1.0.
                let end = if version == "1.1" {
                    "\r\n\r\n4\r\na\nb\n\r\n0\r\n\r\n"
                } else {
                    "\r\n\r\na\nb\n"
                };
                assert!(raw.ends_with(end), "{raw}");
            } else {
                assert!(raw.ends_with("\r\n\r\n"), "{raw}");
                assert!(!raw.contains("never sent"), "{raw}");
                assert!(!lower.contains("content-length"), "{raw}");
                assert!(!lower.contains("transfer-encoding"), "{raw}");
            }
        }
    }
    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, connection) = common::h2_client(io, &h2::client::Builder::new()).await;
    for (path, status, body) in [
        ("/gone", 204, ""),
        ("/unchanged", 304, ""),
        ("/created-stream", 201, "a\nb\n"),
    ] {
        let response = common::h2_send_get(&mut client, addr, path)
            .await
            .await
            .unwrap();
        let (parts, mut stream) = response.into_parts();
        let mut got = Vec::new();
        while let Some(chunk) = stream.data().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(parts.status, status);
        assert_eq!(String::from_utf8_lossy(&got), body);
    }
    drop(client);
    connection.abort();
    server.shutdown().await;

    let client = TestClient::start(app()).await.expect("starts");
    let answer = client.head("/created-stream").send().await;
    assert_eq!(answer.status(), 201);
    assert_eq!(
        common::header_values(&answer, "set-cookie"),
        ["session=abc"]
    );
    client.shutdown().await;
}

// ------------- leftovers: the request id's header, a stopped app's 503

/// A header a response carries for its own meaning (`location`, `set-cookie`, `retry-after`,
/// ...) cannot carry the request id: every response's would be replaced by it. Before, such a
/// name was accepted, and a redirect lost its `Location`, a login its cookie.
#[test]
fn a_request_id_header_with_a_meaning_of_its_own_is_refused() {
    for header in [
        "location",
        "set-cookie",
        "retry-after",
        "allow",
        "www-authenticate",
        "cache-control",
        "etag",
        "vary",
        "date",
    ] {
        let app = app().request_id_header(HeaderName::from_static(header));
        assert_eq!(
            common::problems(&app),
            [format!(
                "`App::request_id_header(\"{header}\")`: a response's `{header}` has a meaning of its own in HTTP, which the request id would replace on every response; name a header of its own, such as `x-request-id`"
            )]
        );
    }
}

/// A header that carries the client's credentials cannot carry the request id: the client's
/// value would be taken as the id, sent back and written in every log line of the request.
#[test]
fn a_request_id_header_with_the_clients_credentials_is_refused() {
    for header in ["authorization", "proxy-authorization", "cookie"] {
        let app = app().request_id_header(HeaderName::from_static(header));
        assert_eq!(
            common::problems(&app),
            [format!(
                "`App::request_id_header(\"{header}\")`: a request's `{header}` carries the client's credentials, which would be taken as its id, sent back in the response and written in the request's log lines; name a header of its own, such as `x-request-id`"
            )]
        );
    }
}

/// The 503 of a request given to an app that has stopped carries `Retry-After`, as a shed
/// request's does: another instance (the one a rolling restart starts) may answer it. Before,
/// it carried none.
#[tokio::test]
async fn a_stopped_apps_503_says_when_to_retry() {
    let running = app().start().await.expect("starts");
    let service = running.service();
    running.shutdown().await;
    let response = tower::ServiceExt::oneshot(
        service,
        http::Request::get("/hello").body(Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
}

// ------------- `status` on a dependency

/// `status = N` on a function this app uses only as a dependency is the status of nothing: a
/// user who put it there (expecting the routes using it to answer `N`) got `200`, silently.
/// It is refused by `check`, with the fix; on a function that is also a route's handler in the
/// app, it is that route's status and accepted.
#[tokio::test]
async fn a_status_on_a_function_used_only_as_a_dependency_is_refused() {
    let app = App::new().get("/dep-status", uses_dep_with_status);
    assert_eq!(
        common::problems(&app),
        [
            "`dep_with_status` declares `status = 201`, the status of a handler's success, but this app uses it only as a dependency (of route GET /dep-status), where no status is sent; remove `status` from `dep_with_status`, or put it on the route's handler `uses_dep_with_status`"
        ]
    );

    let app = App::new()
        .post("/made", handler_and_dependency)
        .get("/wrapped", wraps);
    let client = TestClient::start(app).await.expect("starts");
    assert_eq!(client.post("/made").send().await.status(), 201);
    assert_eq!(client.get("/wrapped").send().await.status(), 200);
    client.shutdown().await;
}

// ------------- compile-time: `SetHeaders` by value

/// `SetHeaders` taken by value is reported at its type with the fix (`&SetHeaders`), where
/// rustc said "`SetHeaders` is not a request input" beside a list of inputs without it.
#[test]
#[rustversion::attr(not(stable(1.95)), ignore = "ui stderr is tied to rustc 1.95")]
fn set_headers_by_value_is_reported_with_the_fix() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/review_headers/*.rs");
}

// ------------- axum, and a bodiless status on a stream with `request` scope

/// axum's middleware in an `AxumLayer` sees them on the app's response; a `di` app inside an
/// axum `Router` sends them.
#[tokio::test]
async fn axum_sees_and_sends_them() {
    async fn saw(
        request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        let mut response = next.run(request).await;
        let seen = response.headers().contains_key(SET_COOKIE);
        let said = if seen {
            header_value("yes")
        } else {
            header_value("no")
        };
        response.headers_mut().insert("x-axum-saw", said);
        response
    }
    let layered = app().layer(di_runtime::AxumLayer(axum::middleware::from_fn(saw)));
    let client = TestClient::start(layered).await.expect("starts");
    let answer = client.get("/hello").send().await;
    assert_eq!(common::header_values(&answer, "x-axum-saw"), ["yes"]);
    client.shutdown().await;

    let running = app().start().await.expect("starts");
    let router = axum::Router::new().nest_service("/v2", running.service());
    let response = tower::ServiceExt::oneshot(
        router,
        http::Request::get("/v2/hello")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[SET_COOKIE], "session=abc");
    running.shutdown().await;
}

/// `status = 204` on a handler whose streamed body holds a `request`-scope value: no body is
/// sent, the generator's header is, and its teardown runs once, told the request succeeded
/// with `204`, over HTTP/1.1 and HTTP/2.
#[tokio::test]
async fn a_declared_bodiless_status_on_a_stream_ends_its_request_scope() {
    let _serial = common::serial().await;
    STREAM_OUTCOMES.lock().unwrap().clear();
    let server = app().bind("127.0.0.1:0").await.expect("binds");
    let addr = server.local_addr();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /gone-stream HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let raw = common::read_to_close(&mut stream).await;
    assert!(raw.starts_with("HTTP/1.1 204 No Content\r\n"), "{raw}");
    assert!(raw.ends_with("\r\n\r\n"), "{raw}");
    assert!(!raw.contains("never"), "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("\r\nx-stream-tx: open\r\n"),
        "{raw}"
    );

    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, connection) = common::h2_client(io, &h2::client::Builder::new()).await;
    let response = common::h2_send_get(&mut client, addr, "/gone-stream")
        .await
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["x-stream-tx"], "open");
    drop(client);
    connection.abort();
    common::settled_whole(&server).await;
    server.shutdown().await;
    assert_eq!(
        *STREAM_OUTCOMES.lock().unwrap(),
        ["success 204", "success 204"]
    );
}

// ------------- answers the handler did not give

/// The generic 500 di answers in place of the handler's answer (a value JSON cannot hold, an
/// informational status), a failed `handler`-scope teardown's 500 and the request timeout's
/// 503 carry none of the headers set: the handler did not give them, as FastAPI sends none
/// with the 500 of a response it could not serialize. Before, the first two carried them.
#[tokio::test]
async fn an_answer_di_gives_in_the_handlers_place_carries_none() {
    let app = App::new()
        .get("/unserializable", unserializable)
        .get("/informational", informational)
        .get("/commit-fails", commit_fails)
        .get("/never-ends", never_ends)
        .request_timeout(std::time::Duration::from_millis(50));
    let client = TestClient::start(app).await.expect("starts");
    for path in [
        "/unserializable",
        "/informational",
        "/commit-fails",
        "/never-ends",
    ] {
        let answer = client.get(path).send().await;
        assert!(
            answer.status().is_server_error(),
            "{path}: {}",
            answer.status()
        );
        assert!(
            common::header_values(&answer, "set-cookie").is_empty(),
            "{path}"
        );
    }
    client.shutdown().await;
}
