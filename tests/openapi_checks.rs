//! The OpenAPI document checked by a real validator, `openapi-spec-validator` (PyPI), on an app
//! with every kind of input: path, query, header and cookie parameters (some read by
//! sub-dependencies), JSON, form, multipart and streamed bodies, every security scheme, nested
//! and enum schemas (referenced through `components`), tags, a declared status and a streamed
//! response. The notes example's own document is validated by
//! `examples/notes_openapi_checks.rs`.
//!
//! The validator is `DI_OPENAPI_VALIDATOR` (which `.ci/run` sets), or `openapi-spec-validator`
//! on `PATH`. Without it the test says it skips, unless `CI=true`, where that is a failure.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use di_runtime::prelude::*;
use di_runtime::{
    ApiKeyCookie, ApiKeyHeader, ApiKeyQuery, BodyStream, BoxError, Cookie, Form, Header, HttpBasic,
    HttpBearer, KeyName, Multipart,
};
use futures_util::stream;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

struct XKey;
impl KeyName for XKey {
    const NAME: &'static str = "X-Key";
}

struct KeyParam;
impl KeyName for KeyParam {
    const NAME: &'static str = "api_key";
}

struct SessionKey;
impl KeyName for SessionKey {
    const NAME: &'static str = "session";
}

/// A color, an enum schema referenced from a query parameter and from a body.
#[derive(Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Color {
    Red,
    Green,
}

/// Query parameters: required, optional, a list, an enum.
#[derive(Deserialize, JsonSchema)]
#[allow(dead_code, reason = "read by the document only")]
struct Filter {
    /// The page size.
    #[schemars(example = 20)]
    limit: u32,
    #[serde(default)]
    offset: Option<u32>,
    #[serde(default)]
    tag: Vec<String>,
    color: Option<Color>,
}

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code, reason = "read by the document only")]
struct Tenant {
    x_tenant_id: String,
}

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code, reason = "read by the document only")]
struct Prefs {
    theme: Option<String>,
}

/// A nested body: its parts are named schemas in `components`.
#[derive(Deserialize, Serialize, JsonSchema)]
struct Item {
    name: String,
    color: Color,
    meta: Meta,
    parts: Vec<Part>,
    note: Option<String>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
struct Meta {
    version: i32,
}

#[derive(Deserialize, Serialize, JsonSchema)]
struct Part {
    qty: u64,
}

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code, reason = "read by the document only")]
struct Login {
    user: String,
    password: String,
}

#[depends]
async fn filter(Query(f): Query<Filter>) -> u32 {
    f.limit
}

#[depends]
async fn tenant(Header(t): Header<Tenant>) -> String {
    t.x_tenant_id
}

/// Reads the tenant through `tenant`: its header belongs to every route that reaches this.
#[depends]
async fn scoped(#[dep(tenant)] t: &String, Cookie(p): Cookie<Prefs>) -> String {
    format!("{t}{:?}", p.theme)
}

#[depends]
async fn header_key(k: ApiKeyHeader<XKey>) -> String {
    k.into_key()
}

/// Lists the items.
///
/// Filtered by the query.
#[depends]
async fn list(
    #[dep(filter)] _f: &u32,
    #[dep(scoped)] _s: &String,
    #[dep(header_key)] _k: &String,
) -> Json<Vec<Item>> {
    Json(Vec::new())
}

#[depends]
async fn get_item(Path((shelf, id)): Path<(String, u64)>, _q: ApiKeyQuery<KeyParam>) -> Json<Item> {
    Json(Item {
        name: format!("{shelf}{id}"),
        color: Color::Red,
        meta: Meta { version: 1 },
        parts: Vec::new(),
        note: None,
    })
}

/// Creates an item.
#[depends(status = 201)]
async fn create(Json(item): Json<Item>, _b: HttpBearer) -> (StatusCode, Json<Item>) {
    (StatusCode::CREATED, Json(item))
}

#[depends]
async fn login(Form(l): Form<Login>, _c: ApiKeyCookie<SessionKey>) -> String {
    l.user
}

#[depends]
async fn upload(_m: Multipart, _b: HttpBasic) -> StatusCode {
    StatusCode::NO_CONTENT
}

#[depends]
async fn import(_b: BodyStream) -> &'static str {
    "ok"
}

#[depends(content_type = "text/csv")]
async fn export()
-> StreamBody<impl futures_util::Stream<Item = Result<Bytes, BoxError>> + Send + 'static> {
    StreamBody::new(stream::iter([Ok::<_, BoxError>(Bytes::from_static(
        b"a,b\n",
    ))]))
    .content_type("text/csv")
}

fn app() -> App {
    App::new()
        .get("/items", list)
        .get("/shelves/{shelf}/items/{id}", get_item)
        .post("/items", create)
        .post("/login", login)
        .post("/upload", upload)
        .post("/import", import)
        .get("/export", export)
        .nest(Group::new("/admin").tag("admin").get("/items", list))
}

fn show(output: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_validator_accepts_a_document_with_every_kind_of_input() {
    let Some(validator) = common::openapi_validator() else {
        return;
    };
    let json = app().openapi().expect("the app is valid").to_json();
    let doc: Value = serde_json::from_str(&json).expect("JSON");
    // The document has what the validator is to judge (else it would pass for nothing).
    let schemas = &doc["components"]["schemas"];
    // `Item` is taken and sent, and its `note` is always sent (as `null` when it has none)
    // but may be left out of a request: two schemas, as FastAPI names them.
    for name in ["Item-Input", "Item-Output", "Meta", "Part", "Color"] {
        assert!(
            schemas[name].is_object(),
            "components.schemas.{name}: {schemas}"
        );
    }
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .map_or(0, serde_json::Map::len);
    assert_eq!(schemes, 5, "{}", doc["components"]["securitySchemes"]);
    let list = &doc["paths"]["/items"]["get"];
    let names: Vec<&str> = list["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["limit", "offset", "tag", "color", "x-tenant-id", "theme"] {
        assert!(names.contains(&name), "GET /items has {name}: {names:?}");
    }

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/openapi-checks");
    std::fs::create_dir_all(&dir).expect("target/openapi-checks");
    let file = dir.join(format!("every-input-{}.json", std::process::id()));
    std::fs::write(&file, &json).expect("written");
    let output = Command::new(&validator)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", validator.display()));
    assert!(
        output.status.success(),
        "openapi-spec-validator rejects the document ({}): {}",
        file.display(),
        show(&output)
    );
    let _ = std::fs::remove_file(&file);
}
