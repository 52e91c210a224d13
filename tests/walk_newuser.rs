//! A new user's walk through the whole product: an experienced axum user who has never seen
//! `di` writes a small inventory service from the README, docs/ and rustdoc alone (an
//! `app`-scoped pool, a `handler`-scoped transaction that commits on success and rolls back
//! otherwise, a `request`-scoped reader that a streamed NDJSON body holds, every kind of
//! input with its 422, a group with a key check, overrides, the OpenAPI document, graceful
//! shutdown over a real socket), and asserts what the docs promise at each step.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use di_runtime::prelude::*;
use di_runtime::{ApiKeyHeader, KeyName, OpenApiConfig};
use futures_util::stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---------------------------------------------------------------------------------------
// The service, as a new user writes it.

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
struct Item {
    id: u64,
    name: String,
    qty: u32,
}

/// The pool: the table and a journal of what happened to it, shared by every request.
#[derive(Clone, Default)]
struct Pool {
    rows: Arc<Mutex<BTreeMap<u64, Item>>>,
    journal: Arc<Mutex<Vec<String>>>,
}

impl Pool {
    fn note(&self, line: impl Into<String>) {
        self.journal.lock().unwrap().push(line.into());
    }
    fn journal(&self) -> Vec<String> {
        self.journal.lock().unwrap().clone()
    }
    fn rows(&self) -> Vec<Item> {
        self.rows.lock().unwrap().values().cloned().collect()
    }
}

/// The real pool: opened once at start, closed at shutdown.
#[depends(scope = "app")]
async fn pool(y: Yield<Pool>) {
    let (pool, outcome) = y.provide(Pool::default()).await;
    pool.note(format!("pool closed: {outcome}"));
}

/// A transaction: its writes reach the table only if the request succeeded.
struct Tx {
    pool: Pool,
    pending: Vec<Item>,
}

#[depends(scope = "handler")]
async fn tx(#[dep(pool)] pool: &Pool, y: Yield<Tx>) {
    let tx = Tx {
        pool: pool.clone(),
        pending: Vec::new(),
    };
    let (tx, outcome) = y.provide(tx).await;
    if outcome.is_success() {
        let mut rows = tx.pool.rows.lock().unwrap();
        for item in tx.pending {
            rows.insert(item.id, item);
        }
        drop(rows);
        tx.pool.note("commit");
    } else {
        tx.pool
            .note(format!("rollback: {}", outcome_kind(&outcome)));
    }
}

fn outcome_kind(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Success { .. } => "success",
        Outcome::HandlerError { .. } => "handler error",
        Outcome::SetupFailed { .. } => "setup failed",
        Outcome::Panicked => "panicked",
        Outcome::Cancelled(CancelReason::ClientGone) => "client gone",
        Outcome::Cancelled(CancelReason::Timeout) => "timeout",
        Outcome::Cancelled(CancelReason::Shutdown) => "shutdown",
        Outcome::BodyError { .. } => "body error",
        _ => "other",
    }
}

/// A read snapshot, held by a streamed export until its last line.
struct Reader {
    pool: Pool,
    rows: Vec<Item>,
}

#[depends]
async fn reader(#[dep(pool)] pool: &Pool, y: Yield<Reader>) {
    pool.note("reader open");
    let (reader, outcome) = y
        .provide(Reader {
            pool: pool.clone(),
            rows: pool.rows(),
        })
        .await;
    reader
        .pool
        .note(format!("reader closed: {}", outcome_kind(&outcome)));
}

#[derive(Deserialize, validator::Validate, schemars::JsonSchema)]
struct NewItem {
    #[validate(length(min = 1, max = 20))]
    name: String,
    #[validate(range(min = 1, max = 1000))]
    qty: u32,
}

#[depends(status = 201)]
async fn create_item(
    #[dep(tx)] tx: &mut Tx,
    Json(new): Json<NewItem>,
) -> Result<(StatusCode, Json<Item>), HttpError> {
    let id = tx.pool.rows.lock().unwrap().len() as u64 + tx.pending.len() as u64 + 1;
    let item = Item {
        id,
        name: new.name,
        qty: new.qty,
    };
    tx.pending.push(item.clone());
    if item.name == "forbidden" {
        return Err(HttpError::new(StatusCode::CONFLICT, "that name is taken"));
    }
    if item.name == "boom" {
        panic!("secret panic text");
    }
    Ok((StatusCode::CREATED, Json(item)))
}

#[depends(status = 201)]
async fn create_item_form(
    #[dep(tx)] tx: &mut Tx,
    Form(new): Form<NewItem>,
) -> (StatusCode, Json<Item>) {
    let item = Item {
        id: 100 + tx.pending.len() as u64,
        name: new.name,
        qty: new.qty,
    };
    tx.pending.push(item.clone());
    (StatusCode::CREATED, Json(item))
}

#[depends]
async fn get_item(#[dep(pool)] pool: &Pool, Path(id): Path<u64>) -> Result<Json<Item>, HttpError> {
    pool.rows
        .lock()
        .unwrap()
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or_else(|| HttpError::new(StatusCode::NOT_FOUND, format!("item {id} not found")))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Page {
    #[serde(default = "ten")]
    limit: usize,
    #[serde(default)]
    offset: usize,
}

fn ten() -> usize {
    10
}

#[depends]
async fn list_items(#[dep(pool)] pool: &Pool, Query(page): Query<Page>) -> Json<Vec<Item>> {
    Json(
        pool.rows()
            .into_iter()
            .skip(page.offset)
            .take(page.limit)
            .collect(),
    )
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Agent {
    user_agent: String,
    x_tenant: u32,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Session {
    session_id: String,
}

#[depends]
async fn whoami(Header(agent): Header<Agent>, Cookie(session): Cookie<Session>) -> String {
    format!(
        "{} in tenant {} with {}",
        agent.user_agent, agent.x_tenant, session.session_id
    )
}

/// The export: one item a line, from the `request`-scoped reader, which the body holds.
#[depends(content_type = "application/x-ndjson")]
async fn export(
    #[dep(reader)] reader: Held<Reader>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    let lines = stream::unfold((reader, 0), |(reader, i)| async move {
        let item = reader.rows.get(i)?;
        let line = format!("{}\n", serde_json::to_string(item).unwrap());
        Some((Ok(line), (reader, i + 1)))
    });
    StreamBody::new(lines).content_type("application/x-ndjson")
}

struct XApiKey;
impl KeyName for XApiKey {
    const NAME: &'static str = "X-API-Key";
}

#[depends(responses(403 = "Wrong API key"))]
async fn require_key(key: ApiKeyHeader<XApiKey>) -> Result<(), HttpError> {
    if key.key() == "let-me-in" {
        Ok(())
    } else {
        Err(HttpError::new(StatusCode::FORBIDDEN, "wrong API key"))
    }
}

#[depends(status = 204)]
async fn purge(#[dep(tx)] tx: &mut Tx) -> StatusCode {
    tx.pool.note("purge asked");
    StatusCode::NO_CONTENT
}

#[depends]
async fn stats(#[dep(pool)] pool: &Pool) -> Json<Value> {
    Json(json!({ "items": pool.rows().len() }))
}

fn app() -> App {
    let reports = Group::new("/reports").get("/stats", stats);
    let admin = Group::new("/admin")
        .dependency(require_key)
        .delete("/items", purge)
        .nest(reports);
    App::new()
        .post("/items", create_item)
        .post("/items/form", create_item_form)
        .get("/items", list_items)
        .get("/items/{id}", get_item)
        .get("/items/export", export)
        .get("/whoami", whoami)
        .nest(admin)
        .with_openapi(OpenApiConfig::new("Inventory", "0.1.0"))
}

/// A test's helper names the test client's response type, which `TestClient`'s own methods
/// return: it was not in the prelude beside `TestClient`, and rustc offered `IntoResponse`
/// for it instead.
async fn json_of(response: TestResponse) -> Value {
    response.json().await.unwrap()
}

// ---------------------------------------------------------------------------------------
// The walk.

#[tokio::test]
async fn the_transaction_commits_on_success_and_rolls_back_otherwise() {
    let pool_here = Pool::default();
    let client = TestClient::start(app().provide(pool, pool_here.clone()))
        .await
        .unwrap();

    let r = client
        .post("/items")
        .json(&json!({"name": "bolt", "qty": 3}))
        .send()
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(json_of(r).await, json!({"id": 1, "name": "bolt", "qty": 3}));
    // The commit is done before the response head is sent: no settle needed.
    assert_eq!(pool_here.journal(), ["commit"]);

    let r = client
        .post("/items")
        .json(&json!({"name": "forbidden", "qty": 1}))
        .send()
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"detail":"that name is taken"}"#
    );

    let r = client
        .post("/items")
        .json(&json!({"name": "boom", "qty": 1}))
        .send()
        .await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let text = r.text().await.unwrap();
    assert!(!text.contains("secret"), "{text}");
    assert_eq!(text, r#"{"detail":"Internal Server Error"}"#);

    assert_eq!(
        pool_here.journal(),
        ["commit", "rollback: handler error", "rollback: panicked"]
    );
    assert_eq!(pool_here.rows().len(), 1);
    client.shutdown().await;
}

#[tokio::test]
async fn bad_input_is_one_422_and_opens_no_transaction() {
    let pool_here = Pool::default();
    let client = TestClient::start(app().provide(pool, pool_here.clone()))
        .await
        .unwrap();

    // Validation rules and type errors, all at once.
    let r = client
        .post("/items")
        .json(&json!({"name": "", "qty": 0}))
        .send()
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = json_of(r).await;
    let locs: Vec<&Value> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["loc"])
        .collect();
    assert_eq!(locs, [&json!(["body", "name"]), &json!(["body", "qty"])]);
    assert_eq!(body["detail"][0]["type"], "string_too_short");
    assert_eq!(body["detail"][1]["type"], "greater_than_equal");

    let r = client.post("/items").json(&json!({"name": 1})).send().await;
    let body = json_of(r).await;
    assert_eq!(body["detail"][0]["type"], "string_type");
    assert_eq!(body["detail"][1]["type"], "missing");
    assert_eq!(body["detail"][1]["loc"], json!(["body", "qty"]));

    // Not JSON at all.
    let r = client
        .post("/items")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = json_of(r).await;
    assert_eq!(body["detail"][0]["type"], "json_invalid");

    // A path and a query that do not parse.
    let r = client.get("/items/abc").send().await;
    let body = json_of(r).await;
    assert_eq!(body["detail"][0]["loc"], json!(["path", "id"]));
    assert_eq!(body["detail"][0]["type"], "int_parsing");
    let r = client.get("/items?limit=-1&offset=x").send().await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = json_of(r).await;
    assert_eq!(body["detail"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["query", "limit"]));
    assert_eq!(body["detail"][1]["loc"], json!(["query", "offset"]));

    // A form, with a rule broken.
    let r = client
        .post("/items/form")
        .form([("name", "nut"), ("qty", "0")])
        .send()
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = json_of(r).await;
    assert_eq!(body["detail"][0]["loc"], json!(["body", "qty"]));
    assert_eq!(body["detail"][0]["input"], "0");
    let r = client
        .post("/items/form")
        .form([("name", "nut"), ("qty", "4")])
        .send()
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // Headers and cookies: every problem at its header's and cookie's name.
    let r = client
        .get("/whoami")
        .header("x-tenant", "many")
        .send()
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = json_of(r).await;
    let locs: Vec<&Value> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["loc"])
        .collect();
    assert!(locs.contains(&&json!(["header", "user-agent"])), "{body}");
    assert!(locs.contains(&&json!(["header", "x-tenant"])), "{body}");
    assert!(locs.contains(&&json!(["cookie", "session_id"])), "{body}");
    let r = client
        .get("/whoami")
        .header("user-agent", "curl/8")
        .header("x-tenant", "7")
        .header("cookie", "session_id=abc")
        .send()
        .await;
    assert_eq!(r.text().await.unwrap(), "curl/8 in tenant 7 with abc");

    // Only the one good form opened (and committed) a transaction.
    assert_eq!(pool_here.journal(), ["commit"]);
    client.shutdown().await;
}

#[tokio::test]
async fn the_streamed_export_holds_its_reader_to_the_last_line() {
    let pool_here = Pool::default();
    let client = TestClient::start(app().provide(pool, pool_here.clone()))
        .await
        .unwrap();
    for name in ["a", "b"] {
        let r = client
            .post("/items")
            .json(&json!({"name": name, "qty": 1}))
            .send()
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }

    let mut r = client.get("/items/export").send().await;
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let first = r.chunk().await.unwrap().unwrap();
    assert_eq!(first, "{\"id\":1,\"name\":\"a\",\"qty\":1}\n");
    client.settle().await;
    assert_eq!(pool_here.journal().last().unwrap(), "reader open");
    let second = r.chunk().await.unwrap().unwrap();
    assert_eq!(second, "{\"id\":2,\"name\":\"b\",\"qty\":1}\n");
    assert!(r.chunk().await.is_none());
    client.settle().await;
    assert_eq!(
        pool_here.journal().last().unwrap(),
        "reader closed: success"
    );

    // A client that goes away mid-export: the reader sees it, never a success.
    let mut r = client.get("/items/export").send().await;
    r.chunk().await.unwrap().unwrap();
    drop(r);
    client.settle().await;
    assert_eq!(
        pool_here.journal().last().unwrap(),
        "reader closed: client gone"
    );
    client.shutdown().await;
}

#[tokio::test]
async fn the_admin_group_checks_the_key_on_every_route_nested_groups_included() {
    let pool_here = Pool::default();
    let client = TestClient::start(app().provide(pool, pool_here.clone()))
        .await
        .unwrap();

    let r = client.delete("/admin/items").send().await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("www-authenticate"), Some("APIKey"));
    assert_eq!(r.text().await.unwrap(), r#"{"detail":"Not authenticated"}"#);

    let r = client
        .get("/admin/reports/stats")
        .header("x-api-key", "nope")
        .send()
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let r = client
        .get("/admin/reports/stats")
        .header("x-api-key", "let-me-in")
        .send()
        .await;
    assert_eq!(json_of(r).await, json!({"items": 0}));

    let r = client
        .delete("/admin/items")
        .header("x-api-key", "let-me-in")
        .send()
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(pool_here.journal(), ["purge asked", "commit"]);

    // Routing answers: unknown paths and wrong methods.
    let r = client.get("/nowhere").send().await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.text().await.unwrap(), r#"{"detail":"Not Found"}"#);
    let r = client.put("/items").send().await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let mut allow: Vec<&str> = r.header("allow").unwrap().split(", ").collect();
    allow.sort_unstable();
    assert_eq!(allow, ["GET", "HEAD", "POST"]);
    client.shutdown().await;
}

/// A test's fake transaction: a `handler`-scoped generator too, recording its outcome.
#[depends(scope = "handler")]
async fn fake_tx(#[dep(pool)] pool: &Pool, y: Yield<Tx>) {
    let (tx, outcome) = y
        .provide(Tx {
            pool: pool.clone(),
            pending: Vec::new(),
        })
        .await;
    tx.pool.note(format!(
        "fake tx: {} with {} pending",
        outcome_kind(&outcome),
        tx.pending.len()
    ));
}

#[tokio::test]
async fn an_override_replaces_the_transaction_without_touching_the_handler() {
    let pool_here = Pool::default();
    let client = TestClient::start(
        app()
            .provide(pool, pool_here.clone())
            .override_dep(tx, fake_tx),
    )
    .await
    .unwrap();
    let r = client
        .post("/items")
        .json(&json!({"name": "x", "qty": 2}))
        .send()
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(pool_here.journal(), ["fake tx: success with 1 pending"]);
    assert!(pool_here.rows().is_empty());
    client.shutdown().await;
}

#[tokio::test]
async fn the_openapi_document_lists_the_routes_their_inputs_and_the_group_key() {
    let doc = app().openapi().unwrap();
    let doc: Value = serde_json::from_str(&doc.to_json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Inventory");
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/items",
        "/items/form",
        "/items/{id}",
        "/items/export",
        "/whoami",
        "/admin/items",
        "/admin/reports/stats",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing: {:?}",
            paths.keys()
        );
    }
    assert!(!paths.contains_key("/openapi.json"));
    let stats = &doc["paths"]["/admin/reports/stats"]["get"];
    assert!(stats["security"].is_array(), "{stats}");
    assert!(stats["responses"].get("403").is_some(), "{stats}");
    // A security input's 401 is listed only where its dependency declares it
    // (docs/openapi.md), as FastAPI's security classes list none.
    assert!(stats["responses"].get("401").is_none(), "{stats}");
    assert!(stats["responses"].get("422").is_none(), "{stats}");

    let create = &doc["paths"]["/items"]["post"];
    assert!(create["responses"].get("422").is_some(), "{create}");
    // `status = ..` and `content_type = ..` say what a value returned at run time cannot.
    assert_eq!(
        create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Item"
    );
    assert!(create["responses"].get("200").is_none(), "{create}");
    let name = &doc["components"]["schemas"]["NewItem"]["properties"]["name"];
    assert_eq!(
        (&name["minLength"], &name["maxLength"]),
        (&json!(1), &json!(20))
    );
    let purge = &doc["paths"]["/admin/items"]["delete"]["responses"];
    assert!(purge["204"].get("content").is_none(), "{purge}");
    let export = &doc["paths"]["/items/export"]["get"]["responses"]["200"]["content"];
    assert!(export.get("application/x-ndjson").is_some(), "{export}");
    let whoami = &doc["paths"]["/whoami"]["get"]["parameters"];
    let places: Vec<(&Value, &Value)> = whoami
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (&p["in"], &p["name"]))
        .collect();
    assert_eq!(
        places,
        [
            (&json!("header"), &json!("user-agent")),
            (&json!("header"), &json!("x-tenant")),
            (&json!("cookie"), &json!("session_id"))
        ]
    );

    // Served by the app, byte for byte what `App::openapi` gives.
    let client = TestClient::start(app().provide(pool, Pool::default()))
        .await
        .unwrap();
    let r = client.get("/openapi.json").send().await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), app().openapi().unwrap().to_json());
    let r = client.get("/docs").send().await;
    assert_eq!(r.status(), StatusCode::OK);
    client.shutdown().await;
}

async fn raw_request(addr: std::net::SocketAddr, request: &str) -> String {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    common::read_to_close(&mut socket).await
}

#[tokio::test]
async fn over_a_real_socket_malformed_requests_get_clear_problem_answers() {
    let server = app()
        .provide(pool, Pool::default())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();

    // Wrong content type for a JSON body.
    let answer = raw_request(
        addr,
        "POST /items HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 422"), "{answer}");
    assert!(
        answer.contains("model_attributes_type") || answer.contains("json"),
        "{answer}"
    );
    assert!(answer.contains("x-request-id"), "{answer}");

    // A body past the limit, declared: 413 before it is read.
    let answer = raw_request(
        addr,
        "POST /items HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 99999999\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#"{"detail":"#), "{answer}");

    // A huge integer in the path.
    let answer = raw_request(
        addr,
        "GET /items/99999999999999999999999 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 422"), "{answer}");

    server.shutdown().await;
}

/// The pool of the shutdown test: the real `pool` makes its own, out of the test's reach, so
/// this replacement hands out one the test can look into, and notes its own closing.
static SHUTDOWN_POOL: std::sync::OnceLock<Pool> = std::sync::OnceLock::new();

#[depends(scope = "app")]
async fn shared_pool(y: Yield<Pool>) {
    let pool = SHUTDOWN_POOL.get_or_init(Pool::default).clone();
    let (pool, outcome) = y.provide(pool).await;
    pool.note(format!("pool closed: {outcome}"));
}

#[tokio::test]
async fn graceful_shutdown_lets_the_export_finish_then_closes_the_pool() {
    let pool_here = SHUTDOWN_POOL.get_or_init(Pool::default).clone();
    pool_here.rows.lock().unwrap().insert(
        1,
        Item {
            id: 1,
            name: "a".into(),
            qty: 1,
        },
    );
    let server = app()
        .override_dep(pool, shared_pool)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let answer = raw_request(
        addr,
        "GET /items/export HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.contains("{\"id\":1,\"name\":\"a\",\"qty\":1}"),
        "{answer}"
    );
    server.shutdown().await;
    let journal = pool_here.journal();
    assert_eq!(
        journal,
        [
            "reader open",
            "reader closed: success",
            "pool closed: app stopped"
        ]
    );
}

// ---------------------------------------------------------------------------------------
// FastAPI's documented yield semantics, and inputs and responses every framework has.

#[derive(Debug)]
struct OwnerError;
impl std::fmt::Display for OwnerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("owner error")
    }
}
impl std::error::Error for OwnerError {}

/// FastAPI's tutorial008b: `try: yield "Rick" except OwnerError as e: raise
/// HTTPException(400, f"Owner error: {e}")`: a `handler`-scope teardown whose error replaces
/// the handler's.
#[depends(scope = "handler")]
async fn username(y: Yield<String>) -> Result<(), HttpError> {
    let (_, outcome) = y.provide("Rick".to_owned()).await;
    // FastAPI's `except OwnerError`: the handler's error, kept as the source of the 500 it
    // converted into, found by its type.
    let owner_error = outcome
        .error()
        .and_then(HttpError::source)
        .and_then(|source| source.downcast_ref::<OwnerError>());
    match owner_error {
        Some(_) => Err(HttpError::bad_request("Owner error: Rick")),
        None => Ok(()),
    }
}

#[depends]
async fn owned_item(#[dep(username)] user: &String) -> Result<String, OwnerError> {
    if user == "Rick" {
        Err(OwnerError)
    } else {
        Ok("plumbus".into())
    }
}

#[derive(Deserialize)]
struct Tags {
    tag: Vec<String>,
}

#[depends]
async fn tagged(Query(tags): Query<Tags>) -> String {
    tags.tag.join(",")
}

#[derive(Deserialize)]
struct Tokens {
    x_token: Option<Vec<String>>,
}

#[depends]
async fn tokens(Header(h): Header<Tokens>) -> String {
    format!("{:?}", h.x_token)
}

#[derive(Deserialize)]
struct Boxes {
    pick: Vec<String>,
}

#[depends]
async fn boxes(Form(b): Form<Boxes>) -> String {
    b.pick.join(",")
}

#[derive(Deserialize)]
struct Dashed {
    #[serde(rename = "session-id")]
    session: String,
}

#[depends]
async fn dashed_cookie(Cookie(c): Cookie<Dashed>) -> String {
    c.session
}

#[depends]
async fn login() -> (
    StatusCode,
    [(http::HeaderName, &'static str); 2],
    &'static str,
) {
    (
        StatusCode::OK,
        [
            (http::header::SET_COOKIE, "a=1; Path=/"),
            (http::header::SET_COOKIE, "b=2; Path=/"),
        ],
        "hi",
    )
}

#[depends]
async fn with_task(#[dep(pool)] pool: &Pool, tasks: &BackgroundTasks) -> &'static str {
    let pool = pool.clone();
    tasks.add(async move { pool.note("task ran") });
    "queued"
}

/// An error type with a response of its own: the teardown sees the response it made (its
/// status and body), not the value of its type.
struct Teapot;
impl IntoResponse for Teapot {
    fn into_response(self) -> Response {
        (StatusCode::IM_A_TEAPOT, "short and stout").into_response()
    }
}

#[depends(scope = "handler")]
async fn watching(y: Yield<()>) -> Result<(), HttpError> {
    let ((), outcome) = y.provide(()).await;
    match &outcome {
        Outcome::HandlerError {
            status,
            error: Some(error),
        } if *status == StatusCode::IM_A_TEAPOT
            && error.source().is_none()
            && error.detail() == "short and stout" =>
        {
            Err(HttpError::new(StatusCode::CONFLICT, "seen as its response"))
        }
        _ => Ok(()),
    }
}

#[depends]
async fn teapot(#[dep(watching)] _w: &()) -> Result<String, Teapot> {
    Err(Teapot)
}

#[tokio::test]
async fn a_handler_scope_teardown_turns_the_handlers_error_into_its_own_as_fastapis_except_does() {
    let client = TestClient::start(
        App::new()
            .get("/items/plumbus", owned_item)
            .get("/teapot", teapot),
    )
    .await
    .unwrap();
    let r = client.get("/items/plumbus").send().await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.text().await.unwrap(), r#"{"detail":"Owner error: Rick"}"#);
    // docs/fastapi.md: an error type with an `IntoResponse` of its own is seen as its response.
    let r = client.get("/teapot").send().await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    client.shutdown().await;
}

#[tokio::test]
async fn repeated_query_keys_headers_form_fields_and_dashed_cookies_are_read() {
    let pool_here = Pool::default();
    let client = TestClient::start(
        App::new()
            .get("/tagged", tagged)
            .get("/tokens", tokens)
            .post("/boxes", boxes)
            .get("/cookie", dashed_cookie)
            .get("/login", login)
            .get("/task", with_task)
            .provide(pool, pool_here.clone()),
    )
    .await
    .unwrap();
    let r = client.get("/tagged?tag=a&tag=b").send().await;
    assert_eq!(r.text().await.unwrap(), "a,b");
    let r = client
        .get("/tokens")
        .header("x-token", "a")
        .header("x-token", "b")
        .send()
        .await;
    assert_eq!(r.text().await.unwrap(), r#"Some(["a", "b"])"#);
    let r = client
        .post("/boxes")
        .form([("pick", "a"), ("pick", "b")])
        .send()
        .await;
    assert_eq!(r.text().await.unwrap(), "a,b");
    let r = client
        .get("/cookie")
        .header("cookie", "a=1; session-id=xyz")
        .send()
        .await;
    assert_eq!(r.text().await.unwrap(), "xyz");
    let r = client.get("/cookie").send().await;
    assert_eq!(
        json_of(r).await["detail"][0]["loc"],
        json!(["cookie", "session-id"])
    );

    let r = client.get("/login").send().await;
    let cookies: Vec<_> = r.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1; Path=/", "b=2; Path=/"]);

    let r = client.get("/task").send().await;
    assert_eq!(r.text().await.unwrap(), "queued");
    client.settle().await;
    assert_eq!(pool_here.journal(), ["task ran"]);
    client.shutdown().await;
}

#[depends]
async fn slow_export(
    #[dep(reader)] reader: Held<Reader>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    let lines = stream::unfold((reader, 0), |(reader, i)| async move {
        if i == 5 {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        Some((Ok(format!("{i}\n")), (reader, i + 1)))
    });
    StreamBody::new(lines).content_type("application/x-ndjson")
}

#[tokio::test]
async fn an_export_in_flight_at_shutdown_is_finished_before_the_server_stops() {
    let pool_here = Pool::default();
    let server = App::new()
        .get("/slow", slow_export)
        .provide(pool, pool_here.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut socket = TcpStream::connect(server.local_addr()).await.unwrap();
    socket
        .write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    // The head is there: the request is in flight when the shutdown begins.
    let mut head = [0; 12];
    socket.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let reading = tokio::spawn(async move { common::read_to_close(&mut socket).await });
    server.shutdown().await;
    let rest = reading.await.unwrap();
    assert!(rest.ends_with("4\n\r\n0\r\n\r\n"), "{rest:?}");
    assert_eq!(
        pool_here.journal(),
        ["reader open", "reader closed: success"]
    );
}

#[depends]
async fn slow_create(#[dep(tx)] tx: &mut Tx) -> StatusCode {
    tx.pool.note("handler started");
    std::future::pending::<()>().await;
    StatusCode::CREATED
}

#[tokio::test]
async fn a_client_gone_mid_handler_rolls_the_transaction_back() {
    let pool_here = Pool::default();
    let server = App::new()
        .post("/slow", slow_create)
        .provide(pool, pool_here.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut socket = TcpStream::connect(server.local_addr()).await.unwrap();
    socket
        .write_all(b"POST /slow HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    while pool_here.journal().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    drop(socket);
    while pool_here.journal().len() < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(
        pool_here.journal(),
        ["handler started", "rollback: client gone"]
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Route patterns an axum user mistypes.

/// A route pattern that cannot be a pattern was refused with the router crate's own words
/// ("invalid path: Parameters must be registered with a valid name"), naming neither the
/// mistake nor the fix; with a handler that takes `Path<..>`, `/items/{id` was refused for
/// the handler instead ("expected 1 path parameter, the route has 0"), hiding the
/// unclosed brace. And `/pairs/{id}/{id}`, a parameter named twice, was accepted, where
/// Starlette refuses it ("Duplicated param name"): a `Path` struct then read one of the two.
/// `check` now names each mistake in the app's own words, with the fix.
#[test]
fn a_route_pattern_that_cannot_be_one_is_refused_with_the_mistake_and_the_fix() {
    let cases = [
        ("/items/{id", "`{` without its `}`"),
        ("/items/id}", "`}` without its `{`"),
        ("/items/{}", "a parameter without a name"),
        ("/items/{a}-{b}", "one parameter per segment"),
        (
            "/files/{*rest}/raw",
            "a catch-all `{*rest}` must end the path",
        ),
        ("/pairs/{id}/{id}", "the parameter `id` is named twice"),
    ];
    for (path, expected) in cases {
        for handler_reads_the_path in [false, true] {
            let app = if handler_reads_the_path {
                App::new().get(path, get_item)
            } else {
                App::new().get(path, list_items)
            }
            .provide(pool, Pool::default());
            let message = app.check().unwrap_err().to_string();
            assert!(
                message.contains(&format!("route GET {path}: invalid path: ")),
                "{message}"
            );
            assert!(message.contains(expected), "{path}: {message}");
            // One problem, in the app's words: not the router crate's, nor a misfit of
            // the handler's `Path` to a pattern that is not one.
            assert_eq!(message.lines().count(), 2, "{message}");
            assert!(!message.contains("must be registered"), "{message}");
            assert!(!message.contains("does not fit"), "{message}");
        }
    }
    // A literal brace is still written doubled, and serves.
    assert!(
        App::new()
            .get("/items/{{id}}", list_items)
            .provide(pool, Pool::default())
            .check()
            .is_ok()
    );
}

/// axum 0.7's `/items/:id` on a handler that reads no `Path` was accepted as a route that only
/// a request for `/items/:id` itself reaches: every `/items/7` was a 404, and nothing said
/// why (axum 0.8 refuses the pattern). `check` refuses it with the fix, as it did already for
/// a handler that reads `Path`; a colon or star inside a segment is still text.
#[test]
fn an_axum_0_7_parameter_on_a_handler_without_path_is_refused_with_the_fix() {
    for (path, segment, fix) in [
        ("/items/:id", ":id", "{id}"),
        ("/items/{id}/parts/:part", ":part", "{part}"),
        ("/files/*rest", "*rest", "{*rest}"),
    ] {
        let message = App::new()
            .get(path, list_items)
            .provide(pool, Pool::default())
            .check()
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(&format!(
                "route GET {path}: invalid path: `{segment}` is a fixed segment here"
            )),
            "{message}"
        );
        assert!(
            message.contains(&format!("write the parameter `{fix}`")),
            "{message}"
        );
    }
    for path in ["/items:batch", "/v1/items/{id}:cancel", "/a/*", "/a/:"] {
        assert!(
            App::new()
                .get(path, list_items)
                .provide(pool, Pool::default())
                .check()
                .is_ok(),
            "{path}"
        );
    }
}
