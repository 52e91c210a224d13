//! The inputs beyond path, query and JSON: `Header<T>`, `Cookie<T>`, `Form<T>`, the security
//! inputs (`HttpBearer`, `HttpBasic`, `ApiKeyHeader`/`ApiKeyQuery`/`ApiKeyCookie`) and
//! `ClientAddr`. Each works as a handler parameter and as a dependency's parameter; their
//! problems join the other inputs' in one 422; a 401 for missing credentials wins over the
//! 422; and neither sets anything up. How each reads a request against FastAPI's answers is
//! in `fastapi_422.rs`.

mod common;

use std::net::SocketAddr;

use common::{events, log, serial};
use di_runtime::prelude::*;
use di_runtime::{
    ApiKeyCookie, ApiKeyHeader, ApiKeyQuery, ClientAddr, HttpBasic, HttpBearer, KeyName,
    TestResponse,
};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};

const INT_PARSING: &str = "Input should be a valid integer, unable to parse string as an integer";
const FORM: &str = "application/x-www-form-urlencoded";

/// A generator that logs its setup and teardown: bad input must never open it.
#[depends]
async fn audit(y: Yield<u8>) {
    log("audit:open");
    let (_, outcome) = y.provide(1).await;
    log(format!("audit:close {}", outcome.is_success()));
}

#[derive(Deserialize)]
struct Client {
    user_agent: String,
    x_request_id: Option<u64>,
    #[serde(default)]
    x_tag: Vec<String>,
}

#[derive(Deserialize)]
struct Session {
    session_id: String,
    theme: Option<String>,
}

#[derive(Deserialize)]
struct Signup {
    username: String,
    age: u8,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
struct Page {
    limit: u32,
}

struct XApiKey;

impl KeyName for XApiKey {
    const NAME: &'static str = "X-API-Key";
}

struct ApiKeyParam;

impl KeyName for ApiKeyParam {
    const NAME: &'static str = "api_key";
}

struct KeyCookie;

impl KeyName for KeyCookie {
    const NAME: &'static str = "key";
}

// ------------------------------------------------------------ each input as a handler param

#[depends]
async fn as_handler_params(
    #[dep(audit)] _audit: &u8,
    Header(client): Header<Client>,
    Cookie(session): Cookie<Session>,
    Form(signup): Form<Signup>,
) -> Json<Value> {
    Json(json!({
        "user_agent": client.user_agent,
        "x_request_id": client.x_request_id,
        "x_tag": client.x_tag,
        "session_id": session.session_id,
        "theme": session.theme,
        "username": signup.username,
        "age": signup.age,
        "tags": signup.tags,
    }))
}

// ------------------------------------------------------- each input as a dependency's param

#[depends]
async fn who(Header(client): Header<Client>) -> String {
    log("who");
    client.user_agent
}

#[depends]
async fn session_id(Cookie(session): Cookie<Session>) -> String {
    log("session_id");
    session.session_id
}

#[depends]
async fn signup(Form(signup): Form<Signup>) -> String {
    log("signup");
    format!("{} {}", signup.username, signup.age)
}

#[depends]
async fn bearer_user(bearer: HttpBearer) -> Result<String, HttpError> {
    log("bearer_user");
    match bearer.token() {
        "t0ken" => Ok("ada".to_owned()),
        _ => Err(HttpError::new(StatusCode::FORBIDDEN, "bad token")),
    }
}

#[depends]
async fn basic_user(basic: HttpBasic) -> String {
    log("basic_user");
    basic.username().to_owned()
}

#[depends]
async fn keys(
    header: ApiKeyHeader<XApiKey>,
    query: Option<ApiKeyQuery<ApiKeyParam>>,
    cookie: Option<ApiKeyCookie<KeyCookie>>,
) -> String {
    log("keys");
    format!(
        "{} {:?} {:?}",
        header.key(),
        query.map(ApiKeyQuery::into_key),
        cookie.map(ApiKeyCookie::into_key)
    )
}

#[depends]
async fn from_dependencies(
    #[dep(audit)] _audit: &u8,
    #[dep(who)] who: &String,
    #[dep(session_id)] session: &String,
    #[dep(signup)] signup: &String,
) -> String {
    format!("{who} | {session} | {signup}")
}

#[depends]
async fn secured(
    #[dep(audit)] _audit: &u8,
    #[dep(bearer_user)] user: &String,
    Query(page): Query<Page>,
) -> String {
    format!("{user} {}", page.limit)
}

#[depends]
async fn basic_secured(#[dep(basic_user)] user: &String) -> String {
    user.clone()
}

#[depends]
async fn keyed(#[dep(audit)] _audit: &u8, #[dep(keys)] keys: &String) -> String {
    keys.clone()
}

#[depends]
async fn maybe_user(bearer: Option<HttpBearer>, basic: Option<HttpBasic>) -> String {
    format!(
        "{:?} {:?}",
        bearer.map(HttpBearer::into_token),
        basic.map(|b| b.username().to_owned())
    )
}

#[depends]
async fn client_addr(addr: Option<ClientAddr>, #[dep(peer)] peer: &String) -> String {
    format!(
        "{} {peer}",
        addr.map_or("none".to_owned(), |ClientAddr(a)| a.to_string())
    )
}

#[depends]
async fn peer(addr: Option<ClientAddr>) -> String {
    addr.map_or("none".to_owned(), |ClientAddr(a)| a.ip().to_string())
}

#[depends]
async fn strict_client_addr(ClientAddr(addr): ClientAddr) -> String {
    addr.to_string()
}

fn app() -> App {
    App::new()
        .post("/handler", as_handler_params)
        .post("/deps", from_dependencies)
        .get("/secured", secured)
        .get("/basic", basic_secured)
        .get("/keyed", keyed)
        .get("/maybe", maybe_user)
        .get("/addr", client_addr)
        .get("/strict_addr", strict_client_addr)
}

async fn client() -> TestClient {
    TestClient::start(app()).await.expect("the app starts")
}

async fn body(response: TestResponse) -> Value {
    response.json().await.expect("a JSON body")
}

#[tokio::test]
async fn header_cookie_and_form_work_as_handler_parameters() {
    let _serial = serial().await;
    let client = client().await;
    let response = client
        .post("/handler")
        .header("User-Agent", "curl/8")
        .header("X-Request-Id", "42")
        .header("x-tag", "a")
        .header("X-Tag", "b")
        .header("cookie", "session_id=s1; theme=\"dark\"")
        .header("content-type", FORM)
        .body("username=ada+l&age=36&tags=x&tags=y")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        body(response).await,
        json!({
            "user_agent": "curl/8", "x_request_id": 42, "x_tag": ["a", "b"],
            "session_id": "s1", "theme": "dark",
            "username": "ada l", "age": 36, "tags": ["x", "y"],
        })
    );
    client.settle().await;
    assert_eq!(events(), ["audit:open", "audit:close true"]);
    client.shutdown().await;
}

#[tokio::test]
async fn header_cookie_and_form_work_as_dependency_parameters() {
    let _serial = serial().await;
    let client = client().await;
    let response = client
        .post("/deps")
        .header("user-agent", "curl/8")
        .header("cookie", "theme=x")
        .header("cookie", "session_id=s2")
        .header(
            "content-type",
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        )
        .body("username=bo&age=7")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "curl/8 | s2 | bo 7");
    client.shutdown().await;
}

#[tokio::test]
async fn problems_of_every_input_come_in_one_422_in_parameter_order_and_nothing_is_set_up() {
    let _serial = serial().await;
    let client = client().await;
    // As a handler's parameters: header, cookie and form problems in one list.
    let response = client
        .post("/handler")
        .header("x-request-id", "abc")
        .header("cookie", "theme=t")
        .header("content-type", FORM)
        .body("username=&age=300")
        .send()
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "missing", "loc": ["header", "user-agent"], "msg": "Field required", "input": null},
            {"type": "int_parsing", "loc": ["header", "x-request-id"], "msg": INT_PARSING, "input": "abc"},
            {"type": "missing", "loc": ["cookie", "session_id"], "msg": "Field required", "input": null},
            {"type": "missing", "loc": ["body", "username"], "msg": "Field required", "input": null},
            {"type": "less_than_equal", "loc": ["body", "age"], "msg": "Input should be less than or equal to 255", "input": "300", "ctx": {"le": 255}},
        ]})
    );
    // As dependencies' parameters, the same; a form of another content type is empty.
    let response = client
        .post("/deps")
        .header("content-type", "application/json")
        .body(r#"{"username": "bo", "age": 7}"#)
        .send()
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "missing", "loc": ["header", "user-agent"], "msg": "Field required", "input": null},
            {"type": "missing", "loc": ["cookie", "session_id"], "msg": "Field required", "input": null},
            {"type": "missing", "loc": ["body", "username"], "msg": "Field required", "input": null},
            {"type": "missing", "loc": ["body", "age"], "msg": "Field required", "input": null},
        ]})
    );
    client.settle().await;
    assert_eq!(
        events(),
        Vec::<String>::new(),
        "no dependency is set up for bad input"
    );
    client.shutdown().await;
}

#[tokio::test]
async fn a_form_body_is_read_within_the_body_limit() {
    let _serial = serial().await;
    let client = TestClient::start(app().body_limit(64))
        .await
        .expect("the app starts");
    let long = format!("username={}&age=1", "a".repeat(100));
    let response = client
        .post("/handler")
        .header("user-agent", "x")
        .header("cookie", "session_id=s")
        .header("content-type", FORM)
        .body(long)
        .send()
        .await;
    assert_eq!(response.status(), 413);
    client.settle().await;
    assert_eq!(events(), Vec::<String>::new());
    client.shutdown().await;
}

#[tokio::test]
async fn missing_credentials_answer_401_with_the_scheme_before_any_422_and_set_nothing_up() {
    let _serial = serial().await;
    let client = client().await;
    for (path, auth, scheme) in [
        ("/secured?limit=x", None, "Bearer"),
        ("/secured?limit=x", Some("Basic dTpw"), "Bearer"),
        ("/secured", Some("Bearer "), "Bearer"),
        ("/basic", None, "Basic"),
        ("/basic", Some("Bearer t0ken"), "Basic"),
        ("/basic", Some("Basic dXNlcg=="), "Basic"),
        ("/basic", Some("Basic not base64!"), "Basic"),
        ("/keyed", None, "APIKey"),
    ] {
        let mut request = client.get(path);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await;
        assert_eq!(response.status(), 401, "{path} {auth:?}");
        assert_eq!(response.header("www-authenticate"), Some(scheme));
        assert_eq!(
            response.text().await.unwrap(),
            r#"{"detail":"Not authenticated"}"#
        );
    }
    // An empty key is no key.
    let response = client.get("/keyed").header("x-api-key", "").send().await;
    assert_eq!(response.status(), 401);
    client.settle().await;
    assert_eq!(events(), Vec::<String>::new(), "nothing is set up");
    client.shutdown().await;
}

#[tokio::test]
async fn credentials_reach_dependencies_and_are_checked_there() {
    let _serial = serial().await;
    let client = client().await;
    let response = client
        .get("/secured?limit=3")
        .header("authorization", "bearer   t0ken ")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ada 3");
    // A token the application refuses: its own answer, after setup.
    let response = client
        .get("/secured?limit=3")
        .header("authorization", "Bearer wrong-s3cret")
        .send()
        .await;
    assert_eq!(response.status(), 403);
    let text = response.text().await.unwrap();
    assert!(!text.contains("s3cret"), "{text}");
    // With credentials, the other inputs' problems are answered.
    let response = client
        .get("/secured?limit=x")
        .header("authorization", "Bearer t0ken")
        .send()
        .await;
    assert_eq!(response.status(), 422);

    // user:pä:ss (UTF-8, which FastAPI refuses).
    let response = client
        .get("/basic")
        .header("authorization", "Basic dXNlcjpww6Q6c3M=")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "user");

    let response = client
        .get("/keyed?api_key=q%201&api_key=q2")
        .header("X-Api-Key", "h1")
        .header("cookie", "key=c1; key=c2")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        r#"h1 Some("q2") Some("c2")"#
    );
    let response = client.get("/keyed").header("x-api-key", "h1").send().await;
    assert_eq!(response.text().await.unwrap(), "h1 None None");
    client.shutdown().await;
}

#[tokio::test]
async fn optional_credentials_are_none_when_absent_but_malformed_basic_is_still_401() {
    let _serial = serial().await;
    let client = client().await;
    let response = client.get("/maybe").send().await;
    assert_eq!(response.text().await.unwrap(), "None None");
    let response = client
        .get("/maybe")
        .header("authorization", "Bearer tok")
        .send()
        .await;
    assert_eq!(response.text().await.unwrap(), r#"Some("tok") None"#);
    let response = client
        .get("/maybe")
        .header("authorization", "Basic dTpw")
        .send()
        .await;
    assert_eq!(response.text().await.unwrap(), r#"None Some("u")"#);
    // As FastAPI's `HTTPBasic(auto_error=False)`: basic credentials without a `:` are refused.
    let response = client
        .get("/maybe")
        .header("authorization", "Basic dXNlcg==")
        .send()
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.header("www-authenticate"), Some("Basic"));
    client.shutdown().await;
}

#[tokio::test]
async fn credentials_are_not_in_debug_output() {
    let _serial = serial().await;
    #[depends]
    async fn debug(
        bearer: Option<HttpBearer>,
        basic: Option<HttpBasic>,
        key: Option<ApiKeyHeader<XApiKey>>,
    ) -> String {
        format!("{bearer:?} {basic:?} {key:?}")
    }
    let client = TestClient::start(App::new().get("/debug", debug))
        .await
        .expect("the app starts");
    let text = client
        .get("/debug")
        .header("authorization", "Bearer s3cret")
        .header("x-api-key", "s3cret")
        .send()
        .await
        .text()
        .await
        .unwrap();
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("HttpBearer"), "{text}");
    // user:s3cret
    let text = client
        .get("/debug")
        .header("authorization", "Basic dXNlcjpzM2NyZXQ=")
        .send()
        .await
        .text()
        .await
        .unwrap();
    assert!(!text.contains("s3cret") && text.contains("user"), "{text}");
    client.shutdown().await;
}

#[tokio::test]
async fn client_addr_is_the_peer_over_tcp_and_absent_in_the_test_client() {
    let _serial = serial().await;
    let client = client().await;
    let response = client.get("/addr").send().await;
    assert_eq!(response.text().await.unwrap(), "none none");
    let response = client.get("/strict_addr").send().await;
    assert_eq!(response.status(), 500);
    client.shutdown().await;

    let server = app().bind("127.0.0.1:0").await.expect("it binds");
    let stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let local: SocketAddr = stream.local_addr().unwrap();
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    for (path, expected) in [
        ("/addr", format!("{local} {}", local.ip())),
        ("/strict_addr", local.to_string()),
    ] {
        sender.ready().await.unwrap();
        let request = http::Request::get(path)
            .header("host", "test")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, expected);
    }
    drop(sender);
    task.abort();
    server.shutdown().await;
}

#[tokio::test]
async fn a_repeated_header_read_as_one_value_gives_its_first_and_a_rename_uses_underscores() {
    let _serial = serial().await;
    #[derive(Deserialize)]
    struct Renamed {
        #[serde(rename = "x_api_version")]
        version: u32,
        x_request_id: u64,
    }
    #[depends]
    async fn renamed(Header(h): Header<Renamed>) -> String {
        format!("{} {}", h.version, h.x_request_id)
    }
    let client = TestClient::start(App::new().get("/renamed", renamed))
        .await
        .expect("the app starts");
    let response = client
        .get("/renamed")
        .header("X-API-Version", "3")
        .header("x-request-id", "1")
        .header("x-request-id", "2")
        .send()
        .await;
    assert_eq!(response.text().await.unwrap(), "3 1");
    let response = client.get("/renamed").send().await;
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "missing", "loc": ["header", "x-api-version"], "msg": "Field required", "input": null},
            {"type": "missing", "loc": ["header", "x-request-id"], "msg": "Field required", "input": null},
        ]})
    );
    client.shutdown().await;
}

/// An input of the app's own that reports one problem per bad line (`?bad=N`), then, with
/// `&then=json`, reports the body's JSON as invalid, and with `&then=reject` (or
/// `&then=json,reject`) refuses the request: the shape of an upload of many bad lines.
struct ManyProblems;

impl di_runtime::FromRequest for ManyProblems {
    fn from_request(head: &di_runtime::RequestHead) -> Result<Self, Vec<InputError>> {
        let query = head.uri().query().unwrap_or("");
        let bad: usize = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("bad="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let mut problems: Vec<InputError> = (0..bad)
            .map(|line| InputError::new(("body", line), format!("line {line} is bad")))
            .collect();
        if query.contains("json") {
            problems.push(InputError::new(("body", bad), "not JSON").kind("json_invalid"));
        }
        if query.contains("reject") {
            problems.push(InputError::rejection(HttpError::new(
                StatusCode::FORBIDDEN,
                "not these lines",
            )));
        }
        if problems.is_empty() {
            Ok(ManyProblems)
        } else {
            Err(problems)
        }
    }
}

#[depends]
async fn many_problems(_lines: ManyProblems, _again: ManyProblems) -> &'static str {
    "ok"
}

/// However many problems an input reports, the answer is what the first 64 (each once, the
/// input being used twice) and the first rejection make it: the rejection when there is one
/// and no problem is `json_invalid`, the 422 of the first 64 otherwise.
#[tokio::test]
async fn an_input_with_many_problems_is_answered_by_the_first_64_and_its_rejection() {
    let client = TestClient::start(App::new().get("/lines", many_problems))
        .await
        .unwrap();

    let rejected = client.get("/lines?bad=20000&then=reject").send().await;
    assert_eq!(rejected.status(), 403);
    assert_eq!(
        rejected.json::<Value>().await.unwrap()["detail"],
        "not these lines"
    );

    for then in ["", "&then=json"] {
        let listed = client.get(&format!("/lines?bad=20000{then}")).send().await;
        assert_eq!(listed.status(), 422, "then: {then:?}");
        let detail = listed.json::<Value>().await.unwrap()["detail"].clone();
        let lines: Vec<Value> = detail
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["loc"][1].clone())
            .collect();
        assert_eq!(lines, (0..64).map(|line| json!(line)).collect::<Vec<_>>());
    }

    // A json_invalid past the 64th makes the 422 win over a rejection, as one among them does.
    let json_wins = client.get("/lines?bad=100&then=json,reject").send().await;
    assert_eq!(json_wins.status(), 422);
}

#[derive(Deserialize)]
struct Tenant {
    #[serde(rename = "X-Tenant-ID")]
    tenant: String,
    #[serde(rename = "x-trace")]
    trace: Option<u32>,
    user_agent: Option<String>,
}

#[depends]
async fn tenant(Header(t): Header<Tenant>) -> Json<Value> {
    Json(json!({ "tenant": t.tenant, "trace": t.trace, "agent": t.user_agent }))
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Kebab {
    x_api_key: String,
}

#[depends]
async fn kebab(Header(k): Header<Kebab>) -> String {
    k.x_api_key
}

/// A `Header<T>` field renamed as the header is written (`X-Tenant-ID`, `x-trace`,
/// `rename_all = "kebab-case"`: FastAPI's `Header(alias="X-Tenant-ID")`) takes that header in
/// any case, and its problems are reported at the name as written, FastAPI 0.165's answers byte
/// for byte. It was never taken: the field wanted `x_tenant_id`, and a client that sent the
/// header (as the OpenAPI document names it) got 422 `missing` at the header it had sent.
#[tokio::test]
async fn a_header_field_renamed_as_the_header_is_written_takes_it() {
    let client = TestClient::start(App::new().get("/t", tenant).get("/k", kebab))
        .await
        .unwrap();
    let response = client
        .get("/t")
        .header("x-tenant-id", "acme")
        .header("X-Trace", "5")
        .header("user-agent", "probe")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "tenant": "acme", "trace": 5, "agent": "probe" })
    );
    let response = client.get("/t").header("X-TENANT-ID", "b").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["tenant"], "b");

    let response = client.get("/t").send().await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail":[{"type":"missing","loc":["header","X-Tenant-ID"],"msg":"Field required","input":null}]})
    );
    let response = client.get("/t").header("x-trace", "abc").send().await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail":[
            {"type":"missing","loc":["header","X-Tenant-ID"],"msg":"Field required","input":null},
            {"type":"int_parsing","loc":["header","x-trace"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}
        ]})
    );

    let response = client.get("/k").header("X-API-Key", "secret").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "secret");
    client.shutdown().await;
}
