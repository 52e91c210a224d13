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
/// `skip_serializing` field is read and never answered. The body read and the body answered
/// are two schemas, `Account-Input` with the password and `Account-Output` without, as
/// FastAPI names them, so the answer without it fits the document (passes; new coverage; it
/// was one schema with `writeOnly` on the password, before responses were documented as
/// serialized: tests/review_openapi2.rs).
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
    let read = &doc["components"]["schemas"]["Account-Input"];
    assert!(read["properties"]["password"].is_object(), "{read}");
    let answered = &doc["components"]["schemas"]["Account-Output"];
    assert!(
        answered["properties"].get("password").is_none(),
        "{answered}"
    );
    let body =
        &doc["paths"]["/accounts"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["$ref"], "#/components/schemas/Account-Input");
    let sent = &doc["paths"]["/accounts"]["post"]["responses"]["201"]["content"]["application/json"]
        ["schema"];
    assert_eq!(sent["$ref"], "#/components/schemas/Account-Output");
}

// ------------------ 6. a client made from the document, on every kind of input

mod every {
    #![allow(
        dead_code,
        reason = "the fields are read by their `Debug`, which each handler answers"
    )]

    use di_runtime::prelude::*;
    use di_runtime::{
        ApiKeyCookie, ApiKeyHeader, ApiKeyQuery, Cookie, Form, Header, HttpBasic, HttpBearer,
        KeyName, Multipart, TypedHeader,
    };
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Color {
        Red,
        Green,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    struct Search {
        limit: u32,
        #[serde(default = "ten")]
        size: u32,
        #[serde(default)]
        tag: Vec<String>,
        color: Option<Color>,
        ids: Vec<u32>,
        #[serde(rename = "camelName")]
        camel: Option<String>,
        flag: Option<bool>,
    }

    fn ten() -> u32 {
        10
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    struct Tenant {
        x_tenant_id: String,
        x_request_id: Option<u64>,
        #[serde(default)]
        x_tag: Vec<String>,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    struct Session {
        session_id: String,
        #[serde(rename = "Theme")]
        theme: Option<String>,
    }

    #[derive(Debug, Deserialize, Serialize, JsonSchema)]
    struct Inner {
        n: i32,
    }

    #[derive(Debug, Deserialize, Serialize, JsonSchema)]
    struct Item {
        name: String,
        #[serde(rename = "itemColor")]
        color: Color,
        inner: Inner,
        note: Option<String>,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    struct Login {
        user: String,
        remember: Option<bool>,
        #[serde(default)]
        scope: Vec<String>,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    struct Shelf {
        shelf: u32,
        color: Color,
    }

    struct XKey;
    impl KeyName for XKey {
        const NAME: &'static str = "X-API-Key";
    }
    struct QKey;
    impl KeyName for QKey {
        const NAME: &'static str = "api_key";
    }
    struct CKey;
    impl KeyName for CKey {
        const NAME: &'static str = "session";
    }

    #[depends]
    async fn search(Query(q): Query<Search>) -> String {
        format!("{q:?}")
    }
    #[depends]
    async fn tenant(Header(h): Header<Tenant>, Cookie(c): Cookie<Session>) -> String {
        format!("{h:?} {c:?}")
    }
    /// A group's guard: an API key, declared 403.
    #[depends(responses(403 = "Wrong key"))]
    async fn guard(key: ApiKeyHeader<XKey>) -> Result<(), HttpError> {
        if key.key() == "k" {
            Ok(())
        } else {
            Err(HttpError::new(StatusCode::FORBIDDEN, "wrong key"))
        }
    }
    #[depends(status = 201, responses(409 = "Taken"))]
    async fn create(Json(item): Json<Item>) -> (StatusCode, Json<Item>) {
        (StatusCode::CREATED, Json(item))
    }
    #[depends]
    async fn maybe(item: Option<Json<Item>>) -> String {
        format!("{}", item.is_some())
    }
    #[depends]
    async fn login(Form(l): Form<Login>, _c: ApiKeyCookie<CKey>) -> String {
        format!("{l:?}")
    }
    #[depends]
    async fn upload(_m: Multipart, _b: HttpBasic) -> String {
        "ok".to_owned()
    }
    #[depends]
    async fn shelf(Path(s): Path<Shelf>, _k: ApiKeyQuery<QKey>) -> String {
        format!("{s:?}")
    }
    #[depends]
    async fn file(Path(rest): Path<String>, _b: HttpBearer) -> String {
        rest
    }
    #[depends]
    async fn agent(TypedHeader(ua): TypedHeader<headers::UserAgent>) -> String {
        ua.to_string()
    }

    pub(super) fn app() -> App {
        App::new()
            .get("/search", search)
            .post("/items", create)
            .put("/items", maybe)
            .post("/login", login)
            .post("/upload", upload)
            .get("/shelves/{shelf}/{color}", shelf)
            .get("/files/{*rest}", file)
            .get("/agent", agent)
            .nest(
                Group::new("/admin")
                    .tag("admin")
                    .dependency(guard)
                    .get("/tenant", tenant),
            )
    }
}

/// A value for `schema` (resolving `$ref`s in `doc`) as a generated client fills one in:
/// only the required properties of an object, or all of them.
fn example(doc: &Value, schema: &Value, all: bool) -> Value {
    if let Some(name) = schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        return example(doc, &doc["components"]["schemas"][name], all);
    }
    if let Some(first) = schema["anyOf"].as_array().and_then(|a| a.first()) {
        return example(doc, first, all);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|a| a.first()) {
        return first.clone();
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds.iter().find(|k| *k != "null").cloned(),
        kind => Some(kind.clone()),
    };
    match kind.as_ref().and_then(Value::as_str) {
        Some("integer") => json!(1),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        Some("string") => json!("x"),
        Some("array") => json!([example(doc, &schema["items"], all)]),
        Some("object") => {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let properties = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            Value::Object(
                properties
                    .iter()
                    .filter(|(name, _)| all || required.contains(&name.as_str()))
                    .map(|(name, s)| (name.clone(), example(doc, s, all)))
                    .collect(),
            )
        }
        _ => json!("x"),
    }
}

/// A value as text in a URL, a header or a form.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The request a client made from `doc` sends for `method path`: every required parameter
/// and body (and the optional ones too when `all`), with credentials for each security
/// scheme the operation requires unless `credentials` is false.
fn generated_request<'c>(
    client: &'c TestClient,
    doc: &Value,
    path: &str,
    method: &str,
    all: bool,
    credentials: bool,
) -> di_runtime::TestRequest<'c> {
    let operation = &doc["paths"][path][method];
    let mut uri = path.to_owned();
    let mut query: Vec<(String, String)> = Vec::new();
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut cookies: Vec<String> = Vec::new();
    for p in operation["parameters"].as_array().into_iter().flatten() {
        if !all && p["required"] != true {
            continue;
        }
        let name = p["name"].as_str().unwrap();
        let value = example(doc, &p["schema"], all);
        // OpenAPI's defaults: `form` exploded for a query, `simple` for a path or header.
        let values: Vec<String> = match &value {
            Value::Array(items) => items.iter().map(text).collect(),
            one => vec![text(one)],
        };
        match p["in"].as_str().unwrap() {
            "path" => uri = uri.replace(&format!("{{{name}}}"), &values.join(",")),
            "query" => query.extend(values.into_iter().map(|v| (name.to_owned(), v))),
            "header" => headers.push((name.to_owned(), values.join(","))),
            "cookie" => cookies.push(format!("{name}={}", values.join(","))),
            other => panic!("{other}"),
        }
    }
    if credentials {
        for requirement in operation["security"].as_array().into_iter().flatten() {
            for scheme in requirement.as_object().unwrap().keys() {
                let scheme = &doc["components"]["securitySchemes"][scheme];
                match (scheme["type"].as_str(), scheme["scheme"].as_str()) {
                    (Some("http"), Some("bearer")) => {
                        headers.push(("authorization".into(), "Bearer t".into()));
                    }
                    (Some("http"), Some("basic")) => {
                        headers.push(("authorization".into(), "Basic dTpw".into()));
                    }
                    _ => {
                        let name = scheme["name"].as_str().unwrap().to_owned();
                        match scheme["in"].as_str().unwrap() {
                            "header" => headers.push((name, "k".into())),
                            "query" => query.push((name, "k".into())),
                            _ => cookies.push(format!("{name}=k")),
                        }
                    }
                }
            }
        }
    }
    if !cookies.is_empty() {
        headers.push(("cookie".into(), cookies.join("; ")));
    }
    let mut request = client.request(method.to_uppercase().parse().unwrap(), &uri);
    request = request.query(query);
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let body = &operation["requestBody"];
    if body.is_object() && (all || body["required"] == true) {
        let (content_type, media) = body["content"].as_object().unwrap().iter().next().unwrap();
        let value = example(doc, &media["schema"], all);
        request = match content_type.as_str() {
            "application/json" => request.json(&value),
            "application/x-www-form-urlencoded" => {
                let mut pairs: Vec<(String, String)> = Vec::new();
                for (name, v) in value.as_object().unwrap() {
                    match v {
                        Value::Array(items) => {
                            pairs.extend(items.iter().map(|i| (name.clone(), text(i))));
                        }
                        one => pairs.push((name.clone(), text(one))),
                    }
                }
                request.form(pairs)
            }
            "multipart/form-data" => request
                .header("content-type", "multipart/form-data; boundary=B")
                .body("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--B--\r\n"),
            other => panic!("{other}"),
        };
    }
    request
}

/// Every operation of an app with every kind of input, sent as a client made from its
/// document sends it (the required inputs only, then all of them), is answered with the
/// operation's documented success; without one required parameter or body at a time, with a
/// documented status (the 422); with a declared status's cause (a wrong key), with it; and
/// without credentials, with FastAPI's 401, which like FastAPI the document lists only where a
/// function declares it (docs/openapi.md) (passes; new coverage).
#[tokio::test]
async fn a_client_made_from_the_document_is_answered_as_the_document_says() {
    let doc: Value = serde_json::from_str(&every::app().openapi().unwrap().to_json()).unwrap();
    let client = TestClient::start(every::app()).await.unwrap();
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            let success = responses.keys().next().unwrap().clone();
            for all in [false, true] {
                let response = generated_request(&client, &doc, path, method, all, true)
                    .send()
                    .await;
                let status = response.status().as_u16().to_string();
                let body = response.text().await.unwrap();
                assert_eq!(status, success, "{method} {path} (all: {all}): {body}");
            }
            // Each required parameter left out in turn: a documented status.
            let parameters = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for (i, p) in parameters.iter().enumerate() {
                if p["required"] != true || p["in"] == "path" {
                    continue;
                }
                let mut without = doc.clone();
                without["paths"][path][method]["parameters"]
                    .as_array_mut()
                    .unwrap()
                    .remove(i);
                let response = generated_request(&client, &without, path, method, false, true)
                    .send()
                    .await;
                let status = response.status().as_u16().to_string();
                assert!(
                    responses.contains_key(&status),
                    "{method} {path} without {}: {status} is not documented",
                    p["name"]
                );
                assert_eq!(status, "422", "{method} {path} without {}", p["name"]);
            }
            if operation["requestBody"]["required"] == true {
                let mut without = doc.clone();
                without["paths"][path][method]
                    .as_object_mut()
                    .unwrap()
                    .remove("requestBody");
                let response = generated_request(&client, &without, path, method, false, true)
                    .send()
                    .await;
                let status = response.status().as_u16().to_string();
                assert_eq!(status, "422", "{method} {path} without its body");
            }
            if operation["security"].is_array() {
                let response = generated_request(&client, &doc, path, method, false, false)
                    .send()
                    .await;
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
                assert!(!responses.contains_key("401"), "undeclared, as in FastAPI");
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 9, "every operation walked");
    // The group's declared 403, for a wrong key.
    let response = client
        .get("/admin/tenant")
        .header("x-api-key", "wrong")
        .header("x-tenant-id", "t")
        .header("cookie", "session_id=s")
        .send()
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(doc["paths"]["/admin/tenant"]["get"]["responses"]["403"].is_object());
    client.shutdown().await;
}
