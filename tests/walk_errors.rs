//! Error handling as users write it: an `enum AppError` with its own `IntoResponse` built on
//! `HttpError` (a `WWW-Authenticate`, a `Retry-After`, a problem content type), axum's
//! `Result<T, StatusCode>` and a `Redirect` as errors, from a handler, a setup and a
//! `handler`-scope teardown; a `String` error (a 200) from a setup; a body that cannot be JSON
//! beside a status; an error whose response streams; a client's text with line breaks in an
//! error and a panic message; a streamed body that fails or panics on a route that owes
//! nothing after it (HTTP/1.1, HTTP/2); a tower layer that fails; panics with payloads that
//! are not text, everywhere user code runs. What must hold: the client gets the status,
//! headers and body the error says, never an internal message; every teardown is told the
//! true outcome, once; the log says what happened, on a line with the request id. Each test
//! but the last failed before its fix (CHANGELOG, "Fixed").

mod common;

use common::{describe, events, log, serial};
use di_runtime::prelude::*;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};

// ------------------------------------------------------------------ the service's own error

/// The error enum of a service, answering with `HttpError`'s JSON body and headers of its own.
#[derive(Debug)]
enum AppError {
    /// No valid credentials: 401 with the challenge.
    Unauthorized,
    /// The database is busy: 503 with `Retry-After`.
    Busy,
    /// A conflict, answered as an RFC 9457 problem.
    Conflict,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Unauthorized => (
                [(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"api\""),
                )],
                // The challenge given with the error, replaced by the one beside it.
                HttpError::new(StatusCode::UNAUTHORIZED, "Not authenticated")
                    .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")),
            )
                .into_response(),
            AppError::Busy => {
                let mut response =
                    HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "The database is busy")
                        .into_response();
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            AppError::Conflict => (
                [(CONTENT_TYPE, "application/problem+json")],
                HttpError::new(StatusCode::CONFLICT, "title taken"),
            )
                .into_response(),
        }
    }
}

#[depends]
async fn session(y: Yield<u8>) {
    let (_s, outcome) = y.provide(0).await;
    log(format!("session:close {}", describe(&outcome)));
}

#[depends]
async fn user(#[dep(session)] _s: &u8, headers: &HeaderMap) -> Result<String, AppError> {
    match headers.get("authorization") {
        Some(_) => Ok("ada".into()),
        None => Err(AppError::Unauthorized),
    }
}

#[depends]
async fn in_handler(#[dep(session)] _s: &u8) -> Result<String, AppError> {
    Err(AppError::Unauthorized)
}

#[depends]
async fn problem() -> Result<String, AppError> {
    Err(AppError::Conflict)
}

#[depends]
async fn in_dependency(#[dep(user)] user: &String) -> String {
    user.clone()
}

#[depends(scope = "handler")]
async fn busy_commit(y: Yield<u8>) -> Result<(), AppError> {
    let (_tx, _outcome) = y.provide(0).await;
    Err(AppError::Busy)
}

#[depends]
async fn in_teardown(#[dep(session)] _s: &u8, #[dep(busy_commit)] _tx: &u8) -> &'static str {
    "written"
}

#[depends(scope = "handler")]
async fn busy_begin(y: Yield<u8>) -> Result<(), AppError> {
    if true {
        return Err(AppError::Busy);
    }
    let _ = y.provide(0).await;
    Ok(())
}

#[depends]
async fn in_setup(#[dep(session)] _s: &u8, #[dep(busy_begin)] _tx: &u8) -> &'static str {
    "never"
}

fn app() -> App {
    App::new()
        .get("/handler", in_handler)
        .get("/dependency", in_dependency)
        .get("/teardown", in_teardown)
        .get("/setup", in_setup)
        .get("/problem", problem)
}

#[tokio::test]
async fn an_app_errors_headers_reach_the_client_wherever_it_is_returned() {
    let _serial = serial().await;
    let client = TestClient::start(app()).await.unwrap();
    let mut wrong = Vec::new();
    for (path, status, name, value) in [
        ("/handler", 401, WWW_AUTHENTICATE, "Bearer realm=\"api\""),
        ("/dependency", 401, WWW_AUTHENTICATE, "Bearer realm=\"api\""),
        ("/teardown", 503, RETRY_AFTER, "1"),
        ("/setup", 503, RETRY_AFTER, "1"),
        ("/problem", 409, CONTENT_TYPE, "application/problem+json"),
    ] {
        let response = client.get(path).send().await;
        let got = response.status().as_u16();
        let header = response.header(name.as_str()).map(str::to_owned);
        let values = response.headers().get_all(&name).iter().count();
        let body = response.text().await.unwrap();
        if got != status || header.as_deref() != Some(value) || values != 1 {
            wrong.push(format!("{path}: {got} {name}={header:?} {body}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    client.settle().await;
    // Each request's teardown was told what the client got.
    assert_eq!(
        events(),
        [
            "session:close handler_error 401",
            "session:close setup_failed user",
            "session:close teardown_failed busy_commit",
            "session:close setup_failed busy_begin",
        ]
    );
}

// ------------------------------------------------------------------ a `StatusCode` as the error

/// axum's most common error: `Result<T, StatusCode>`.
#[depends]
async fn not_found(#[dep(session)] _s: &u8) -> Result<&'static str, StatusCode> {
    Err(StatusCode::NOT_FOUND)
}

#[depends]
async fn forbid(#[dep(session)] _s: &u8) -> Result<u8, StatusCode> {
    Err(StatusCode::FORBIDDEN)
}

#[depends]
async fn behind_forbid(#[dep(forbid)] _f: &u8) -> &'static str {
    "never"
}

/// A commit that sends the client elsewhere when it fails.
#[depends(scope = "handler")]
async fn redirecting_commit(y: Yield<u8>) -> Result<(), Redirect> {
    let _ = y.provide(0).await;
    Err(Redirect::to("/try-again"))
}

#[depends]
async fn behind_redirecting_commit(#[dep(redirecting_commit)] _t: &u8) -> &'static str {
    "written"
}

#[tokio::test]
async fn an_empty_error_answer_is_not_labelled_json() {
    let _serial = serial().await;
    let app = App::new()
        .get("/handler", not_found)
        .get("/dependency", behind_forbid)
        .get("/teardown", behind_redirecting_commit);
    let client = TestClient::start(app).await.unwrap();
    let mut wrong = Vec::new();
    for (path, status) in [("/handler", 404), ("/dependency", 403), ("/teardown", 303)] {
        let response = client.get(path).send().await;
        let got = response.status().as_u16();
        let content_type = response.header("content-type").map(str::to_owned);
        let body = response.bytes().await.unwrap();
        // As the same `StatusCode` or `Redirect` answers when it is not an error (and as axum
        // answers it): no body, so no content type; a client that reads a JSON content type
        // as JSON fails on an empty body.
        if got != status || content_type.is_some() || !body.is_empty() {
            wrong.push(format!(
                "{path}: {got} content-type={content_type:?} {body:?}"
            ));
        }
    }
    client.settle().await;
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(
        events(),
        [
            "session:close handler_error 404",
            "session:close setup_failed forbid",
        ]
    );
}

// ------------------------------------------------------------------ a body that cannot be JSON

/// Scores by a pair of ids: a map whose keys are not strings, which JSON cannot write.
fn scores() -> std::collections::BTreeMap<(u32, u32), u32> {
    std::collections::BTreeMap::from([((1, 2), 3)])
}

#[depends]
async fn created_scores(
    #[dep(session)] _s: &u8,
) -> (
    StatusCode,
    Json<std::collections::BTreeMap<(u32, u32), u32>>,
) {
    (StatusCode::CREATED, Json(scores()))
}

/// An error type whose body cannot be written as JSON.
struct Scored;

impl IntoResponse for Scored {
    fn into_response(self) -> Response {
        (StatusCode::CONFLICT, Json(scores())).into_response()
    }
}

#[depends]
async fn conflicting_scores(#[dep(session)] _s: &u8) -> Result<u8, Scored> {
    Err(Scored)
}

#[depends]
async fn behind_conflicting_scores(#[dep(conflicting_scores)] _c: &u8) -> &'static str {
    "never"
}

#[tokio::test]
async fn a_body_that_cannot_be_json_is_a_500_whatever_status_was_set_beside_it() {
    let _serial = serial().await;
    let (captured, _subscriber) =
        common::Captured::at(tracing_subscriber::filter::LevelFilter::INFO);
    let app = App::new()
        .post("/scores", created_scores)
        .get("/conflict", behind_conflicting_scores);
    let client = TestClient::start(app).await.unwrap();
    let mut wrong = Vec::new();
    for (method, path, id) in [
        ("POST", "/scores", "json-1"),
        ("GET", "/conflict", "json-2"),
    ] {
        let request = match method {
            "POST" => client.post(path),
            _ => client.get(path),
        };
        let response = request.header("x-request-id", id).send().await;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        // The generic 500 of a body the handler could not make, never a 201 (or a 409) whose
        // body says "Internal Server Error".
        if status != 500 || body != r#"{"detail":"Internal Server Error"}"# {
            wrong.push(format!("{path}: {status} {body}"));
        }
        // The reason is logged with the request's id.
        let lines = captured.lines();
        if !lines.iter().any(|line| {
            line.contains(&format!("request_id={id}")) && line.contains("key must be a string")
        }) {
            wrong.push(format!(
                "{path}: no line with serde's reason and the id in {lines:#?}"
            ));
        }
    }
    client.settle().await;
    assert!(wrong.is_empty(), "{wrong:#?}");
    // The teardowns were told of a failure, never a success.
    assert_eq!(
        events(),
        [
            "session:close handler_error 500",
            "session:close setup_failed conflicting_scores"
        ]
    );
}

// ------------------------------------------------------------------ an error that says "200"

/// A configuration check written with a `String` error: a `String` is a `200` response.
#[depends]
async fn settings(#[dep(session)] _s: &u8) -> Result<u8, String> {
    Err("DATABASE_URL is not set".to_owned())
}

#[depends]
async fn behind_settings(#[dep(settings)] _s: &u8) -> &'static str {
    "never"
}

#[depends]
async fn handler_with_string_error(#[dep(session)] _s: &u8) -> Result<&'static str, String> {
    Err("no such note".to_owned())
}

#[tokio::test]
async fn an_error_answered_with_a_success_status_is_warned_of_from_a_setup_as_from_a_handler() {
    let _serial = serial().await;
    let (captured, _subscriber) =
        common::Captured::at(tracing_subscriber::filter::LevelFilter::INFO);
    let app = App::new()
        .get("/setup", behind_settings)
        .get("/handler", handler_with_string_error);
    let client = TestClient::start(app).await.unwrap();
    for (path, id, name) in [
        ("/setup", "ok-1", "settings"),
        ("/handler", "ok-2", "handler_with_string_error"),
    ] {
        let response = client.get(path).header("x-request-id", id).send().await;
        // What the error type says (README: its response is sent)...
        assert_eq!(response.status(), 200, "{path}");
        // ...and a warning says what the client was told while the teardowns rolled back.
        let line = captured.line("success status", id);
        assert!(line.contains("WARN") && line.contains(name), "{line}");
    }
    client.settle().await;
    assert_eq!(
        events(),
        [
            "session:close setup_failed settings",
            "session:close handler_error 200"
        ]
    );
}

// ------------------------------------------------------------------ an error that streams

/// An error type whose response is a stream still to come, which an error cannot hold.
struct Streamed;

impl IntoResponse for Streamed {
    fn into_response(self) -> Response {
        use futures_util::StreamExt as _;
        let later = futures_util::stream::once(async {
            tokio::task::yield_now().await;
            Ok::<_, std::io::Error>("not yet")
        })
        .boxed();
        (StatusCode::BAD_GATEWAY, StreamBody::new(later)).into_response()
    }
}

#[depends]
async fn streamed_setup(#[dep(session)] _s: &u8) -> Result<u8, Streamed> {
    Err(Streamed)
}

#[depends]
async fn behind_streamed_setup(#[dep(streamed_setup)] _s: &u8) -> &'static str {
    "never"
}

#[tokio::test]
async fn an_error_whose_response_streams_is_a_500_logged_with_the_request_id() {
    let _serial = serial().await;
    let (captured, _subscriber) =
        common::Captured::at(tracing_subscriber::filter::LevelFilter::INFO);
    let client = TestClient::start(App::new().get("/", behind_streamed_setup))
        .await
        .unwrap();
    let response = client
        .get("/")
        .header("x-request-id", "streamed-1")
        .send()
        .await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Internal Server Error"}"#
    );
    client.settle().await;
    assert_eq!(events(), ["session:close setup_failed streamed_setup"]);
    // Every line about it names the request (README, "Request id"), and one says why.
    let lines = captured
        .at_level("ERROR")
        .into_iter()
        .chain(captured.at_level("WARN"));
    let lines: Vec<String> = lines.collect();
    assert!(
        lines
            .iter()
            .all(|line| line.contains("request_id=streamed-1")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|line| line.contains("streamed body")),
        "{lines:#?}"
    );
}

// ------------------------------------------------------------------ the client's text in a log line

/// What a client sends to forge a log line of another request, in a name it looks up.
const FORGED: &str = "\r\n2026-01-01T00:00:00.000000Z  INFO di: FORGED request_id=someone-else";

/// A lookup error that quotes the name looked up, as errors do.
#[derive(Debug)]
struct NoSuchUser(String);

impl std::fmt::Display for NoSuchUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no user named {:?}", self.0).and(write!(f, " ({})", self.0))
    }
}

impl std::error::Error for NoSuchUser {}

#[derive(serde::Deserialize)]
struct Lookup {
    name: String,
}

#[depends]
async fn lookup(Query(q): Query<Lookup>) -> Result<&'static str, NoSuchUser> {
    Err(NoSuchUser(q.name))
}

#[depends]
async fn audit_of(Query(q): Query<Lookup>, y: Yield<u8>) -> Result<(), NoSuchUser> {
    let _ = y.provide(0).await;
    Err(NoSuchUser(q.name))
}

#[depends]
async fn audited(#[dep(audit_of)] _a: &u8) -> &'static str {
    "ok"
}

#[depends]
async fn panics_on(Query(q): Query<Lookup>) -> &'static str {
    panic!("no user named {}", q.name)
}

#[depends]
async fn export_of(
    #[dep(session)] _s: &u8,
    Query(q): Query<Lookup>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, NoSuchUser>> + Send + use<>> {
    StreamBody::new(futures_util::stream::iter([
        Ok("first row\n".to_owned()),
        Err(NoSuchUser(q.name)),
    ]))
}

#[tokio::test]
async fn a_line_break_in_an_errors_text_stays_on_its_requests_log_line() {
    let _serial = serial().await;
    let (captured, _subscriber) =
        common::Captured::at(tracing_subscriber::filter::LevelFilter::INFO);
    let app = App::new()
        .get("/handler", lookup)
        .get("/teardown", audited)
        .get("/panic", panics_on)
        .get("/export", export_of);
    let client = TestClient::start(app).await.unwrap();
    let name: String = FORGED.bytes().map(|b| format!("%{b:02X}")).collect();
    for path in ["/handler", "/teardown", "/panic", "/export"] {
        let id = format!("forge{}", path.replace('/', "-"));
        let response = client
            .get(&format!("{path}?name={name}"))
            .header("x-request-id", &id)
            .send()
            .await;
        let _ = response.bytes().await;
        client.settle().await;
    }
    // The client's text is in the log, on the line of its own request: a line break in it
    // starts no line that could pass for another request's.
    let lines = captured.lines();
    let forged: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("FORGED"))
        .collect();
    assert!(forged.len() >= 4, "{lines:#?}");
    for line in forged {
        assert!(
            line.contains("request_id=forge-") && !line.starts_with("2026-01-01"),
            "{lines:#?}"
        );
    }
}

// ------------------------------------------------------------------ a stream that fails, nothing after it

/// An export that owes nothing after its body (no `request`-scope dependency): its rows fail
/// mid-way, with an error or a panic.
#[depends]
async fn bare_export(
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> StreamBody<impl futures_util::Stream<Item = Result<&'static str, std::io::Error>> + Send + use<>>
{
    use futures_util::StreamExt as _;
    let panics = q.contains_key("panic");
    let failure = futures_util::stream::poll_fn(move |_| {
        if panics {
            std::panic::panic_any(42_u32)
        }
        std::task::Poll::Ready(Some(Err(std::io::Error::other("the database went away"))))
    });
    StreamBody::new(futures_util::stream::iter([Ok("first row\n")]).chain(failure))
}

#[tokio::test]
async fn a_stream_that_fails_on_a_route_that_owes_nothing_after_it_is_cut_and_logged() {
    use tokio::io::AsyncWriteExt as _;
    let _serial = serial().await;
    let (captured, _subscriber) =
        common::Captured::at(tracing_subscriber::filter::LevelFilter::INFO);
    let server = App::new()
        .get("/export", bare_export)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut wrong = Vec::new();
    for (query, id, line) in [
        ("", "bare-error", "response body failed"),
        ("?panic", "bare-panic", "response body panicked"),
    ] {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(
                format!("GET /export{query} HTTP/1.1\r\nhost: a\r\nx-request-id: {id}\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
        let got = common::read_to_close(&mut socket).await;
        // README: what the stream yielded before it failed is sent first, then a chunked body
        // without its last chunk.
        if !got.starts_with("HTTP/1.1 200 OK\r\n") || !got.ends_with("\r\n\r\nA\r\nfirst row\n\r\n")
        {
            wrong.push(format!("{id}: the client got {got:?}"));
        }
        let lines = captured.lines();
        if !lines
            .iter()
            .any(|l| l.contains(line) && l.contains(&format!("request_id={id}")))
        {
            wrong.push(format!("{id}: no `{line}` line with its id in {lines:#?}"));
        }
    }
    // Over HTTP/2 the panicking stream is reset as a failed one is (README: `INTERNAL_ERROR`).
    let io = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut h2, _connection) = common::h2_client(io, &h2::client::Builder::new()).await;
    let response = common::h2_send_get(&mut h2, addr, "/export?panic").await;
    let mut body = common::within(response).await.unwrap().into_body();
    let reason = loop {
        match common::within(body.data()).await {
            Some(Ok(_)) => continue,
            Some(Err(error)) => break error.reason(),
            None => break None,
        }
    };
    if reason != Some(h2::Reason::INTERNAL_ERROR) {
        wrong.push(format!("http/2: the stream ended with {reason:?}"));
    }
    guard_settle(&server).await;
    assert!(wrong.is_empty(), "{wrong:#?}");
}

async fn guard_settle(server: &di_runtime::Server) {
    common::guard("settle", server.settle()).await;
}

// ------------------------------------------------------------------ a tower layer that fails

#[depends]
async fn behind_a_layer(#[dep(session)] _s: &u8) -> &'static str {
    "from the app"
}

#[tokio::test]
async fn a_tower_layer_that_fails_is_logged_with_the_request_id() {
    let _serial = serial().await;
    let (captured, _subscriber) =
        common::Captured::at(tracing_subscriber::filter::LevelFilter::INFO);
    type Answered = Result<http::Response<di_runtime::Body>, std::convert::Infallible>;
    // A layer whose service fails (an auth backend it asks is down) after the app answered.
    let failing = tower::util::MapResultLayer::new(|answered: Answered| {
        drop(answered);
        Err::<http::Response<di_runtime::Body>, di_runtime::BoxError>(
            "the auth backend is down".into(),
        )
    });
    let client = TestClient::start(App::new().get("/", behind_a_layer).layer(failing))
        .await
        .unwrap();
    let response = client
        .get("/")
        .header("x-request-id", "layer-1")
        .send()
        .await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Internal Server Error"}"#
    );
    client.settle().await;
    let line = captured.line("a tower layer of the app failed", "layer-1");
    assert!(line.contains("the auth backend is down"), "{line}");
}

// ------------------------------------------------------------------ panics whose payload is not text

/// What a library panics with when it panics with a value: not a `&str` nor a `String`.
#[derive(Debug)]
struct Payload {
    _secret: &'static str,
}

#[depends]
async fn panicking_setup(#[dep(session)] _s: &u8) -> u8 {
    std::panic::panic_any(42_u32)
}

#[depends]
async fn behind_panicking_setup(#[dep(panicking_setup)] _p: &u8) -> &'static str {
    "never"
}

#[depends]
async fn panicking_handler(#[dep(session)] _s: &u8) -> &'static str {
    std::panic::panic_any(Payload { _secret: "hunter2" })
}

#[depends(scope = "handler")]
async fn panicking_commit(y: Yield<u8>) {
    let _ = y.provide(0).await;
    std::panic::panic_any(7_i64);
}

#[depends]
async fn behind_panicking_commit(
    #[dep(session)] _s: &u8,
    #[dep(panicking_commit)] _c: &u8,
) -> &'static str {
    "written"
}

#[depends]
async fn panicking_close(y: Yield<u8>) {
    let _ = y.provide(0).await;
    std::panic::panic_any(Payload { _secret: "hunter2" });
}

#[depends]
async fn behind_panicking_close(
    #[dep(session)] _s: &u8,
    #[dep(panicking_close)] _c: &u8,
) -> &'static str {
    "written"
}

#[depends]
async fn panicking_task(#[dep(session)] _s: &u8, tasks: &BackgroundTasks) -> &'static str {
    tasks.add(async { std::panic::panic_any(Payload { _secret: "hunter2" }) });
    "queued"
}

#[tokio::test]
async fn a_panic_whose_payload_is_not_text_is_answered_told_and_logged_like_any_other() {
    let _serial = serial().await;
    let (captured, _subscriber) =
        common::Captured::at(tracing_subscriber::filter::LevelFilter::INFO);
    let app = App::new()
        .get("/setup", behind_panicking_setup)
        .get("/handler", panicking_handler)
        .get("/commit", behind_panicking_commit)
        .get("/close", behind_panicking_close)
        .get("/task", panicking_task);
    let client = TestClient::start(app).await.unwrap();
    let generic = r#"{"detail":"Internal Server Error"}"#;
    for (path, status, body, told, line) in [
        (
            "/setup",
            500,
            generic,
            "session:close panicked",
            "setup panicked",
        ),
        (
            "/handler",
            500,
            generic,
            "session:close panicked",
            "handler panicked",
        ),
        (
            "/commit",
            500,
            generic,
            "session:close teardown_failed panicking_commit",
            "teardown panicked",
        ),
        // The response was sent: it stands.
        (
            "/close",
            200,
            "written",
            "session:close teardown_failed panicking_close",
            "teardown panicked",
        ),
        // README: a panicking task is logged and counted, and reaches no teardown.
        (
            "/task",
            200,
            "queued",
            "session:close success 200",
            "background task panicked",
        ),
    ] {
        common::clear();
        let id = format!("payload{}", path.replace('/', "-"));
        let response = client.get(path).header("x-request-id", &id).send().await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(response.text().await.unwrap(), body, "{path}");
        client.settle().await;
        assert_eq!(events(), [told], "{path}");
        // Logged with the request's id; the payload's own fields never.
        let logged = captured.line(line, &id);
        assert!(!logged.contains("hunter2"), "{logged}");
    }
    let lines = captured.lines();
    assert!(
        lines.iter().all(|line| !line.contains("hunter2")),
        "{lines:#?}"
    );
}
