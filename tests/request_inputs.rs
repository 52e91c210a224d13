//! The request as a whole and typed headers: `&RequestHead` (FastAPI's `request: Request`)
//! gives a handler or a dependency the method, URI, version, headers, extensions, path
//! parameters and client address; `TypedHeader<H>` (di-runtime's `headers` feature) decodes
//! one typed header of the `headers` crate, with 422 problems at `["header", name]`.

mod common;

use common::{events, log, serial};
use di_runtime::prelude::*;
use di_runtime::{ClientAddr, RequestHead, TestResponse, TypedHeader};
use headers::{ContentLength, UserAgent};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};

/// A generator that logs its setup and teardown: bad input must never open it.
#[depends]
async fn audit(y: Yield<u8>) {
    log("audit:open");
    let (_, outcome) = y.provide(1).await;
    log(format!("audit:close {}", outcome.is_success()));
}

/// A dependency that reads the whole request head.
#[depends]
async fn seen(request: &RequestHead) -> String {
    let params: Vec<String> = request
        .path_params()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    format!(
        "{} {} {:?} [{}] tag={:?} client={:?} ext={:?}",
        request.method(),
        request.uri(),
        request.version(),
        params.join(","),
        request
            .headers()
            .get("x-tag")
            .map(|v| v.to_str().unwrap_or("")),
        request.client_addr(),
        request.extensions().get::<Marker>(),
    )
}

/// What a layer in front of the app might put in a request's extensions.
#[derive(Clone, Debug)]
#[allow(dead_code, reason = "read through `Debug`")]
struct Marker(&'static str);

#[depends]
async fn head_of(request: &RequestHead, #[dep(seen)] seen: &String) -> String {
    format!("{seen} | id={:?}", request.path_param("id"))
}

#[depends]
async fn agent(
    #[dep(audit)] _audit: &u8,
    TypedHeader(agent): TypedHeader<UserAgent>,
    length: Option<TypedHeader<ContentLength>>,
) -> String {
    format!("{} {:?}", agent.as_str(), length.map(|TypedHeader(l)| l.0))
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialized only")]
struct Page {
    limit: u32,
}

#[depends]
async fn agent_and_query(
    #[dep(audit)] _audit: &u8,
    Query(_): Query<Page>,
    TypedHeader(_): TypedHeader<UserAgent>,
    _length: Option<TypedHeader<ContentLength>>,
) -> String {
    "ok".to_owned()
}

fn app() -> App {
    App::new()
        .get("/notes/{id}/{part}", head_of)
        .get("/agent", agent)
        .get("/agent_and_query", agent_and_query)
}

async fn body(response: TestResponse) -> Value {
    response.json().await.expect("a JSON body")
}

#[tokio::test]
async fn a_handler_and_a_dependency_see_the_whole_request_head() {
    let _serial = serial().await;
    let client = TestClient::start(app()).await.expect("the app starts");
    let response = client
        .get("/notes/7/a%20b?x=1")
        .header("x-tag", "t1")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        "GET /notes/7/a%20b?x=1 HTTP/1.1 [id=7,part=a b] tag=Some(\"t1\") client=None ext=None | id=Some(\"7\")"
    );

    // Through `AppService`, a server of one's own can put extensions (and the client's
    // address) in the request; `&RequestHead` shows them.
    let addr: std::net::SocketAddr = "10.0.0.9:4321".parse().unwrap();
    let mut request = http::Request::get("/notes/1/x")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    request.extensions_mut().insert(Marker("from a layer"));
    request.extensions_mut().insert(ClientAddr(addr));
    let response = client.running().service().call_request(request).await;
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        text,
        "GET /notes/1/x HTTP/1.1 [id=1,part=x] tag=None client=Some(10.0.0.9:4321) ext=Some(Marker(\"from a layer\")) | id=Some(\"1\")"
    );
    client.shutdown().await;
}

#[tokio::test]
async fn a_typed_header_is_decoded_and_an_optional_one_may_be_absent() {
    let _serial = serial().await;
    let client = TestClient::start(app()).await.expect("the app starts");
    let response = client
        .get("/agent")
        .header("user-agent", "curl/8")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "curl/8 None");
    let response = client
        .get("/agent")
        .header("User-Agent", "curl/8")
        .header("Content-Length", "0")
        .send()
        .await;
    assert_eq!(response.text().await.unwrap(), "curl/8 Some(0)");
    client.shutdown().await;
}

#[tokio::test]
async fn a_missing_or_invalid_typed_header_is_a_422_problem_with_the_others_and_nothing_is_set_up()
{
    let _serial = serial().await;
    let client = TestClient::start(app()).await.expect("the app starts");
    let response = client.get("/agent").send().await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "missing", "loc": ["header", "user-agent"], "msg": "Field required", "input": null},
        ]})
    );
    // An `Option` is `None` only when the header is absent: a bad value is still a problem.
    let response = client
        .get("/agent_and_query?limit=x")
        .header("content-length", "abc")
        .send()
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "int_parsing", "loc": ["query", "limit"], "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "x"},
            {"type": "missing", "loc": ["header", "user-agent"], "msg": "Field required", "input": null},
            {"type": "value_error", "loc": ["header", "content-length"], "msg": "Value error, not a valid `content-length` header", "input": "abc", "ctx": {"error": {}}},
        ]})
    );
    client.settle().await;
    assert_eq!(events(), Vec::<String>::new(), "bad input sets nothing up");
    client.shutdown().await;
}
