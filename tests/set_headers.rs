//! `SetHeaders`: headers a dependency (or the handler) sets on the handler's answer, FastAPI's
//! `response: Response` parameter. Before it, a dependency could not set a header or a cookie
//! on a success (docs/fastapi.md listed it as a difference).

mod common;

use std::sync::Mutex;

use common::{header_name, header_value};
use di_runtime::http::header::{CONTENT_LENGTH, CONTENT_TYPE, SET_COOKIE, TRANSFER_ENCODING};
use di_runtime::prelude::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A session dependency: refreshes its cookie on every answer the handler gives.
#[depends]
async fn session(headers: &SetHeaders) -> u64 {
    headers.append(SET_COOKIE, header_value("session=abc; HttpOnly"));
    7
}

/// A rate limiter: tells what is left of the quota, replacing what the handler said.
#[depends]
async fn quota(headers: &SetHeaders) -> u32 {
    headers.insert(header_name("x-quota-left"), header_value("99"));
    99
}

/// A transaction that names itself in its `handler`-scope teardown, before the answer leaves.
#[depends(scope = "handler")]
async fn tx(headers: &SetHeaders, y: Yield<()>) {
    let ((), outcome) = y.provide(()).await;
    let verdict = if outcome.is_success() {
        "committed"
    } else {
        "rolled-back"
    };
    headers.insert(header_name("x-tx"), header_value(verdict));
}

/// Sets a header in its `request`-scope teardown, after the answer's head was made: not sent.
#[depends]
async fn late(headers: &SetHeaders, y: Yield<()>) {
    let ((), _) = y.provide(()).await;
    headers.insert(header_name("x-late"), header_value("too late"));
    LATE_SET.lock().unwrap().push(());
}

static LATE_SET: Mutex<Vec<()>> = Mutex::new(Vec::new());

#[derive(serde::Deserialize)]
struct Ask {
    fail: Option<bool>,
}

#[depends]
async fn me(
    #[dep(session)] user: &u64,
    #[dep(quota)] _left: &u32,
    #[dep(tx)] _tx: &(),
    headers: &SetHeaders,
    Query(ask): Query<Ask>,
) -> Result<([(&'static str, &'static str); 2], String), HttpError> {
    headers.append(SET_COOKIE, header_value("seen=1"));
    if ask.fail == Some(true) {
        return Err(HttpError::new(StatusCode::CONFLICT, "taken"));
    }
    // Its own `x-quota-left`, replaced by the limiter's `insert`; its own `x-own`, kept.
    Ok((
        [("x-quota-left", "0"), ("x-own", "mine")],
        format!("user {user}"),
    ))
}

#[depends]
async fn failing_setup(#[dep(session)] _user: &u64) -> Result<u32, HttpError> {
    Err(HttpError::new(StatusCode::UNAUTHORIZED, "no"))
}

#[depends]
async fn after_failing(#[dep(failing_setup)] _x: &u32) -> &'static str {
    "never"
}

#[depends]
async fn panics(#[dep(session)] _user: &u64) -> &'static str {
    panic!("boom")
}

#[depends]
async fn with_late(#[dep(late)] _late: &(), #[dep(session)] _user: &u64) -> &'static str {
    "late"
}

/// Framing headers are the server's: one set here is not sent.
#[depends]
async fn framing(headers: &SetHeaders) -> &'static str {
    headers.insert(CONTENT_LENGTH, header_value("999"));
    headers.insert(TRANSFER_ENCODING, header_value("chunked"));
    headers.insert(CONTENT_TYPE, header_value("text/csv"));
    "a,b"
}

fn app() -> App {
    App::new()
        .get("/me", me)
        .get("/setup-fails", after_failing)
        .get("/panics", panics)
        .get("/late", with_late)
        .get("/framing", framing)
}

/// A dependency's cookie and header, a `handler`-scope teardown's header and the handler's
/// own, on a success: `insert` replaces the handler's header of that name, `append` adds a
/// line beside it.
#[tokio::test]
async fn a_dependency_sets_headers_on_the_handlers_success() {
    let client = TestClient::start(app()).await.expect("starts");
    let answer = client.get("/me").send().await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        common::header_values(&answer, "set-cookie"),
        ["session=abc; HttpOnly", "seen=1"]
    );
    assert_eq!(common::header_values(&answer, "x-quota-left"), ["99"]);
    assert_eq!(common::header_values(&answer, "x-own"), ["mine"]);
    assert_eq!(common::header_values(&answer, "x-tx"), ["committed"]);
    assert_eq!(answer.text().await.unwrap(), "user 7");
    client.shutdown().await;
}

/// The handler's `Err` is its answer too: the headers go with it, and the teardown's verdict.
#[tokio::test]
async fn they_go_with_the_handlers_error_too() {
    let client = TestClient::start(app()).await.expect("starts");
    let answer = client.get("/me").query([("fail", "true")]).send().await;
    assert_eq!(answer.status(), 409);
    assert_eq!(
        common::header_values(&answer, "set-cookie"),
        ["session=abc; HttpOnly", "seen=1"]
    );
    assert_eq!(common::header_values(&answer, "x-tx"), ["rolled-back"]);
    client.shutdown().await;
}

/// An answer the handler did not give carries none: a failed setup's error, a panic's 500,
/// a 422 of bad input.
#[tokio::test]
async fn an_answer_the_handler_did_not_give_carries_none() {
    let client = TestClient::start(app()).await.expect("starts");
    let answer = client.get("/setup-fails").send().await;
    assert_eq!(answer.status(), 401);
    assert!(common::header_values(&answer, "set-cookie").is_empty());
    let answer = client.get("/panics").send().await;
    assert_eq!(answer.status(), 500);
    assert!(common::header_values(&answer, "set-cookie").is_empty());
    let answer = client.get("/me").query([("fail", "maybe")]).send().await;
    assert_eq!(answer.status(), 422);
    assert!(common::header_values(&answer, "set-cookie").is_empty());
    client.shutdown().await;
}

/// A header set after the answer's head was made (in a `request`-scope teardown) is not sent.
#[tokio::test]
async fn a_header_set_after_the_head_is_not_sent() {
    let (log, _guard) = common::Captured::at(tracing_subscriber::filter::LevelFilter::WARN);
    let client = TestClient::start(app()).await.expect("starts");
    let before = LATE_SET.lock().unwrap().len();
    let answer = client.get("/late").send().await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        common::header_values(&answer, "set-cookie"),
        ["session=abc; HttpOnly"]
    );
    assert!(common::header_values(&answer, "x-late").is_empty());
    assert_eq!(answer.text().await.unwrap(), "late");
    client.settle().await;
    assert!(LATE_SET.lock().unwrap().len() > before, "the teardown ran");
    client.shutdown().await;
    let warned = log.at_level("WARN");
    assert!(
        warned
            .iter()
            .any(|line| line.contains("header=x-late") && line.contains("is not sent")),
        "{warned:#?}"
    );
}

/// Over HTTP/1.1 and HTTP/2, as a client reads them; a framing header set is not sent, the body
/// framed as the server frames it.
#[tokio::test]
async fn over_the_wire_and_not_the_framing() {
    let (log, _guard) = common::Captured::at(tracing_subscriber::filter::LevelFilter::WARN);
    let server = app().bind("127.0.0.1:0").await.expect("binds");
    let addr = server.local_addr();

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /me HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let raw = common::read_to_close(&mut stream)
        .await
        .to_ascii_lowercase();
    assert!(raw.starts_with("http/1.1 200 ok\r\n"), "{raw}");
    assert!(
        raw.contains("\r\nset-cookie: session=abc; httponly\r\n"),
        "{raw}"
    );
    assert!(raw.contains("\r\nset-cookie: seen=1\r\n"), "{raw}");
    assert!(raw.contains("\r\nx-tx: committed\r\n"), "{raw}");

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /framing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let raw = common::read_to_close(&mut stream).await;
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    let lower = raw.to_ascii_lowercase();
    assert!(lower.contains("\r\ncontent-length: 3\r\n"), "{raw}");
    assert!(!lower.contains("999"), "{raw}");
    assert!(!lower.contains("transfer-encoding"), "{raw}");
    assert!(lower.contains("\r\ncontent-type: text/csv\r\n"), "{raw}");
    assert!(raw.ends_with("\r\n\r\na,b"), "{raw}");

    let io = TcpStream::connect(addr).await.unwrap();
    let (mut client, connection) = common::h2_client(io, &h2::client::Builder::new()).await;
    let response = common::h2_send_get(&mut client, addr, "/me")
        .await
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["session=abc; HttpOnly", "seen=1"]);
    assert_eq!(response.headers()["x-tx"], "committed");
    drop(client);
    connection.abort();
    server.shutdown().await;
    let warned = log.at_level("WARN");
    for name in ["content-length", "transfer-encoding"] {
        assert!(
            warned
                .iter()
                .any(|line| line.contains(&format!("header={name}"))
                    && line.contains("the server writes it")),
            "{warned:#?}"
        );
    }
}

/// `HEAD` gets what `GET` would.
#[tokio::test]
async fn a_head_gets_them_too() {
    let client = TestClient::start(app()).await.expect("starts");
    let answer = client.head("/me").send().await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        common::header_values(&answer, "set-cookie"),
        ["session=abc; HttpOnly", "seen=1"]
    );
    client.shutdown().await;
}

/// It is no parameter of the document: nothing the client sends.
#[test]
fn the_document_lists_no_parameter_for_it() {
    let doc = App::new()
        .get("/late", with_late)
        .openapi()
        .expect("valid")
        .to_json();
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let operation = &doc["paths"]["/late"]["get"];
    assert!(operation.is_object(), "{doc}");
    assert!(operation.get("parameters").is_none(), "{operation}");
    assert!(operation.get("requestBody").is_none(), "{operation}");
}
