//! An OpenAPI parity walk against real FastAPI (0.165): apps with path, query (defaults,
//! lists, enums), header (underscores), cookie, JSON (required and optional), form, multipart
//! and security inputs, declared error responses, `Option` and renamed fields, nested models
//! and groups, whose documents were compared with their FastAPI twins' and, more to the point,
//! with what di's server does: each parameter and body the document lists is sent as a client
//! generated from the document would send it, and each status the server answers with for a
//! route is looked for in the document. Each test that failed before a fix names it in
//! CHANGELOG.md.

use di_runtime::prelude::*;
use di_runtime::{OpenApi, Operation};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

fn op<'a>(doc: &'a OpenApi, path: &str, method: &str) -> &'a Operation {
    doc.operation(path, method)
        .unwrap_or_else(|| panic!("{method} {path} is in the document"))
}

/// The operation as JSON, as a client generator reads it.
fn op_json(doc: &OpenApi, path: &str, method: &str) -> Value {
    serde_json::to_value(op(doc, path, method)).expect("an operation is JSON")
}

/// The operation's parameter `name` in `location`.
fn param(operation: &Value, location: &str, name: &str) -> Value {
    operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["in"] == location && p["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{location} parameter {name}: {operation}"))
}

// ------------------ 1. one input read twice: required wins, as in FastAPI

#[derive(Deserialize, JsonSchema)]
struct MaybePage {
    page: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
struct Page {
    page: u32,
}

#[derive(Deserialize, Serialize, JsonSchema)]
struct Note {
    title: String,
}

/// Reads `?page=` if it is there (a dependency set up before the handler).
#[depends]
async fn maybe_page(Query(p): Query<MaybePage>) -> Option<u32> {
    p.page
}

/// Reads the body if there is one.
#[depends]
async fn maybe_note(note: Option<Json<Note>>) -> bool {
    note.is_some()
}

/// Needs `?page=` and a body.
#[depends]
async fn needs_both(
    #[dep(maybe_page)] _seen: &Option<u32>,
    #[dep(maybe_note)] _had: &bool,
    Query(p): Query<Page>,
    Json(note): Json<Note>,
) -> String {
    format!("{} {}", p.page, note.title)
}

/// An input a dependency reads as optional and the handler as required is required: a request
/// without it is 422. FastAPI lists such a parameter once, the required one winning
/// (`get_openapi_path`: "required definitions of the same parameter take precedence"); di kept
/// the first one it met, the dependency's optional one, and the optional body too, so a client
/// generated from the document could leave out what the server demands.
#[tokio::test]
async fn an_input_read_as_optional_and_as_required_is_documented_required() {
    let app = || App::new().post("/notes", needs_both);
    let doc = app().openapi().unwrap();
    let operation = op_json(&doc, "/notes", "post");

    let client = TestClient::start(app()).await.unwrap();
    let without_page = client
        .post("/notes")
        .json(&json!({"title": "a"}))
        .send()
        .await;
    assert_eq!(without_page.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let without_body = client.post("/notes?page=1").send().await;
    assert_eq!(without_body.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let both = client
        .post("/notes?page=1")
        .json(&json!({"title": "a"}))
        .send()
        .await;
    assert_eq!(both.status(), StatusCode::OK);
    client.shutdown().await;

    let page = param(&operation, "query", "page");
    assert_eq!(page["required"], true, "the server needs ?page=: {page}");
    assert_eq!(page["schema"]["type"], "integer", "{page}");
    assert_eq!(
        operation["requestBody"]["required"], true,
        "the server needs the body: {}",
        operation["requestBody"]
    );
}

// ------------------ 2. path parameters read as a map or a list, as axum users read them

#[depends]
async fn by_map(Path(params): Path<std::collections::HashMap<String, String>>) -> String {
    format!("{} {}", params["owner"], params["repo"])
}

#[depends]
async fn by_list(Path(params): Path<Vec<u32>>) -> String {
    format!("{params:?}")
}

/// `Path<HashMap<String, String>>` and `Path<Vec<T>>` take each `{name}` of the route as one
/// value (a map by name, a list in order). The document said the first `{name}` was the whole
/// map (`type: object`) or list (`type: array`), which a client serializes as `k,v` or `1,2`
/// into one segment, and the others strings; each is the map's value or the list's item.
#[tokio::test]
async fn path_parameters_read_as_a_map_or_a_list_are_each_one_value() {
    let app = || {
        App::new()
            .get("/repos/{owner}/{repo}", by_map)
            .get("/pairs/{a}/{b}", by_list)
    };
    let client = TestClient::start(app()).await.unwrap();
    let response = client.get("/repos/ada/notes").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "ada notes");
    let response = client.get("/pairs/1/2").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "[1, 2]");
    // An item that does not parse is the client's 422, so `b` is an integer too.
    let response = client.get("/pairs/1/x").send().await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    client.shutdown().await;

    let doc = app().openapi().unwrap();
    let repos = op_json(&doc, "/repos/{owner}/{repo}", "get");
    for name in ["owner", "repo"] {
        let p = param(&repos, "path", name);
        assert_eq!(p["schema"]["type"], "string", "{p}");
        assert_eq!(p["required"], true, "{p}");
    }
    let pairs = op_json(&doc, "/pairs/{a}/{b}", "get");
    for name in ["a", "b"] {
        let p = param(&pairs, "path", name);
        assert_eq!(p["schema"]["type"], "integer", "{p}");
        assert_eq!(p["required"], true, "{p}");
    }
}

// ------------------ 3. a body read whole as `Bytes`

/// A route that answers its own way takes its body as `Bytes` (docs/actix-rocket.md).
#[depends(body_content_type = "application/json")]
async fn create_strict(body: Bytes) -> Result<Json<Note>, HttpError> {
    serde_json::from_slice(&body)
        .map(Json)
        .map_err(|e| HttpError::bad_request(format!("bad note: {e}")))
}

/// FastAPI's `await request.body()`. A route whose handler reads `Bytes` had no
/// `requestBody` in the document, so a client made from it sent none (and Swagger UI had no
/// box for one), and this route answered that client 400; it is documented as a streamed body
/// is (`application/octet-stream`, or the `body_content_type` its function declares).
#[tokio::test]
async fn a_body_read_whole_as_bytes_is_documented() {
    let app = || App::new().post("/strict", create_strict);
    let client = TestClient::start(app()).await.unwrap();
    let no_body = client.post("/strict").send().await;
    assert_eq!(no_body.status(), StatusCode::BAD_REQUEST);
    let with_body = client
        .post("/strict")
        .json(&json!({"title": "a"}))
        .send()
        .await;
    assert_eq!(with_body.status(), StatusCode::OK);
    client.shutdown().await;

    let doc = app().openapi().unwrap();
    let operation = op_json(&doc, "/strict", "post");
    assert_eq!(
        operation["requestBody"],
        json!({"required": true, "content": {"application/json": {"schema": {}}}}),
        "{operation}"
    );
}

// ------------------ 4. a form whose fields are all optional

#[derive(Deserialize, JsonSchema)]
struct Filters {
    q: Option<String>,
    limit: Option<u32>,
}

#[depends]
async fn search_form(Form(f): Form<Filters>) -> String {
    format!("{:?} {:?}", f.q, f.limit)
}

/// A form none of whose fields is required is read from no body at all (every field `None`),
/// as FastAPI reads `a: Annotated[str | None, Form()] = None`, whose document leaves
/// `required` out of the body. di documented the body as required.
#[tokio::test]
async fn a_form_of_optional_fields_is_an_optional_body() {
    let app = || App::new().post("/search", search_form);
    let client = TestClient::start(app()).await.unwrap();
    let no_body = client.post("/search").send().await;
    assert_eq!(no_body.status(), StatusCode::OK);
    assert_eq!(no_body.text().await.unwrap(), "None None");
    client.shutdown().await;

    let doc = app().openapi().unwrap();
    let operation = op_json(&doc, "/search", "post");
    assert_eq!(
        operation["requestBody"]["required"], false,
        "{}",
        operation["requestBody"]
    );
    // A form with a required field stays a required body.
    let login = App::new().post("/login", login_form).openapi().unwrap();
    assert_eq!(
        op_json(&login, "/login", "post")["requestBody"]["required"],
        true
    );
}

#[derive(Deserialize, JsonSchema)]
struct Login {
    user: String,
    remember: Option<bool>,
}

#[depends]
async fn login_form(Form(l): Form<Login>) -> String {
    format!("{} {:?}", l.user, l.remember)
}

// ------------------ 5. a field serde writes but never reads

/// An account as it is created (with its password) and as it is answered (without).
#[derive(Deserialize, Serialize, JsonSchema)]
struct Account {
    name: String,
    #[serde(skip_serializing)]
    #[allow(dead_code, reason = "read from the body, answered never")]
    password: String,
}

#[depends(status = 201)]
async fn sign_up(Json(account): Json<Account>) -> (StatusCode, Json<Account>) {
    (StatusCode::CREATED, Json(account))
}

/// One type for the body read and the body answered, as Rust services write it: a
/// `skip_serializing` field is read and never answered. Its one schema says so with
/// `writeOnly` (OpenAPI 3.1 clients read a required `writeOnly` property as required in
/// requests only), so the answer without it fits the document (passes; new coverage).
#[tokio::test]
async fn a_field_never_answered_is_write_only() {
    let app = || App::new().post("/accounts", sign_up);
    let client = TestClient::start(app()).await.unwrap();
    let created = client
        .post("/accounts")
        .json(&json!({"name": "bo", "password": "p"}))
        .send()
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let answered: Value = created.json().await.unwrap();
    assert_eq!(answered, json!({"name": "bo"}));
    client.shutdown().await;

    let doc: Value = serde_json::from_str(&app().openapi().unwrap().to_json()).unwrap();
    let account = &doc["components"]["schemas"]["Account"];
    assert_eq!(
        account["properties"]["password"]["writeOnly"], true,
        "{account}"
    );
    let sent = &doc["paths"]["/accounts"]["post"]["responses"]["201"]["content"]["application/json"]
        ["schema"];
    assert_eq!(sent["$ref"], "#/components/schemas/Account");
}
