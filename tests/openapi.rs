//! The OpenAPI document (issue 9, feature `openapi`): `App::openapi` reads every route's whole
//! graph after overrides, and `App::with_openapi` serves it with Swagger UI.

use di_runtime::prelude::*;
use di_runtime::{
    ApiKeyHeader, BodyStream, Form, HttpBearer, KeyName, Multipart, OpenApi, OpenApiConfig,
    Operation,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The `X-Token` header.
struct XToken;

impl KeyName for XToken {
    const NAME: &'static str = "X-Token";
}

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code, reason = "read by the document only")]
struct Page {
    limit: u32,
    #[serde(default)]
    offset: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code, reason = "read by the document only")]
struct Tenant {
    x_tenant_id: String,
}

#[derive(Deserialize, Serialize, JsonSchema)]
struct Item {
    name: String,
}

/// A type without `JsonSchema`: it still builds, with the schema `{}`.
#[derive(Deserialize, Serialize)]
struct Opaque {
    anything: String,
}

#[depends]
async fn auth(key: ApiKeyHeader<XToken>) -> String {
    key.into_key()
}

#[depends]
async fn pagination(Query(page): Query<Page>) -> (u32, Option<u32>) {
    (page.limit, page.offset)
}

/// Reads the page through `pagination`, as a second user of the cached value.
#[depends]
async fn window(#[dep(pagination)] page: &(u32, Option<u32>)) -> u32 {
    page.0
}

/// Reads the same query itself: a second input of the same parameters.
#[depends]
async fn also_the_page(Query(page): Query<Page>) -> u32 {
    page.limit
}

#[depends]
async fn tenant(Header(t): Header<Tenant>) -> String {
    t.x_tenant_id
}

/// Lists the items.
///
/// Sorted by name.
/// Paged by `limit` and `offset`.
#[depends]
async fn list_items(
    #[dep(auth)] _key: &String,
    #[dep(pagination)] _page: &(u32, Option<u32>),
    #[dep(window)] _window: &u32,
    #[dep(also_the_page)] _again: &u32,
) -> Json<Vec<Item>> {
    Json(Vec::new())
}

#[depends]
async fn scoped(#[dep(tenant)] t: &String) -> String {
    t.clone()
}

#[depends]
async fn fake_tenant(bearer: HttpBearer) -> String {
    bearer.token().to_owned()
}

#[depends(status = 201)]
async fn create_item(Json(item): Json<Item>) -> (StatusCode, Json<Item>) {
    (StatusCode::CREATED, Json(item))
}

#[depends]
async fn get_item(Path(id): Path<u64>) -> Json<Item> {
    Json(Item {
        name: id.to_string(),
    })
}

#[depends]
async fn pair(Path((a, b)): Path<(u64, String)>) -> String {
    format!("{a}{b}")
}

#[depends]
async fn opaque(Json(o): Json<Opaque>) -> Json<Opaque> {
    Json(o)
}

#[depends]
async fn form(Form(item): Form<Item>) -> String {
    item.name
}

#[depends]
async fn upload(_m: Multipart) -> StatusCode {
    StatusCode::NO_CONTENT
}

#[depends(content_type = "application/x-ndjson")]
async fn stream_in(_b: BodyStream) -> String {
    String::new()
}

#[depends]
async fn health() -> &'static str {
    "ok"
}

#[deprecated = "use /health"]
#[depends]
async fn ping() -> &'static str {
    "pong"
}

fn app() -> App {
    App::new()
        .get("/items", list_items)
        .get("/scoped", scoped)
        .get("/items/{id}", get_item)
        .get("/pairs/{a}/{b}", pair)
        .post("/opaque", opaque)
        .post("/form", form)
        .post("/upload", upload)
        .post("/stream", stream_in)
        .get("/health", health)
        .get("/ping", ping)
        .nest(
            Group::new("/admin")
                .tag("admin")
                .post("/items", create_item),
        )
}

fn doc() -> OpenApi {
    app().openapi().expect("the app is valid")
}

fn op<'a>(doc: &'a OpenApi, path: &str, method: &str) -> &'a Operation {
    doc.operation(path, method)
        .unwrap_or_else(|| panic!("{method} {path} is documented"))
}

/// Each parameter of an operation as `in:name:required`.
fn params(operation: &Operation) -> Vec<String> {
    operation
        .parameters
        .iter()
        .map(|p| format!("{}:{}:{}", p.location, p.name, p.required))
        .collect()
}

fn value(doc: &OpenApi) -> Value {
    serde_json::from_str(&doc.to_json()).expect("the document is JSON")
}

#[test]
fn inputs_read_by_sub_dependencies_belong_to_the_operation_once() {
    let doc = doc();
    let list = op(&doc, "/items", "get");
    // `Query<Page>` is read by `pagination` (cached: `window` reuses it) and again by
    // `also_the_page`; each field is one parameter, required as the schema says.
    assert_eq!(params(list), ["query:limit:true", "query:offset:false"]);
    // The API key, read by `auth`, is a security requirement, not a parameter.
    let v = value(&doc);
    assert_eq!(
        v["paths"]["/items"]["get"]["security"],
        json!([{"APIKeyHeader": []}])
    );
    assert_eq!(
        v["components"]["securitySchemes"]["APIKeyHeader"],
        json!({"type": "apiKey", "in": "header", "name": "X-Token"})
    );
    assert_eq!(
        v["paths"]["/items"]["get"]["parameters"][0]["schema"]["type"],
        "integer"
    );
    // Titled by name, as FastAPI titles parameters.
    assert_eq!(
        v["paths"]["/items"]["get"]["parameters"][1]["schema"]["title"],
        "Offset"
    );
}

#[test]
fn headers_are_named_with_hyphens() {
    let doc = doc();
    assert_eq!(
        params(op(&doc, "/scoped", "get")),
        ["header:x-tenant-id:true"]
    );
    let v = value(&doc);
    assert_eq!(
        v["paths"]["/scoped"]["get"]["parameters"][0]["schema"]["title"],
        "X-Tenant-Id"
    );
}

#[test]
fn an_override_documents_the_replacements_inputs() {
    let doc = app()
        .override_dep(tenant, fake_tenant)
        .openapi()
        .expect("the app is valid");
    let scoped = op(&doc, "/scoped", "get");
    assert!(scoped.parameters.is_empty(), "{:?}", params(scoped));
    let v = value(&doc);
    assert_eq!(
        v["paths"]["/scoped"]["get"]["security"],
        json!([{"HTTPBearer": []}])
    );
    assert_eq!(
        v["components"]["securitySchemes"]["HTTPBearer"],
        json!({"type": "http", "scheme": "bearer"})
    );
    // Without inputs of its own, no 422.
    assert!(
        v["paths"]["/scoped"]["get"]["responses"]
            .get("422")
            .is_none()
    );
}

#[test]
fn the_doc_comment_is_the_summary_and_the_description() {
    let doc = doc();
    let list = op(&doc, "/items", "get");
    assert_eq!(list.summary, "Lists the items.");
    assert_eq!(
        list.description.as_deref(),
        Some("Sorted by name.\nPaged by `limit` and `offset`.")
    );
    // Without a doc comment: the name in words, as FastAPI makes it.
    assert_eq!(op(&doc, "/health", "get").summary, "Health");
    assert_eq!(op(&doc, "/health", "get").description, None);
    // `#[deprecated]` marks the operation.
    let v = value(&doc);
    assert_eq!(v["paths"]["/ping"]["get"]["deprecated"], true);
    assert!(v["paths"]["/health"]["get"].get("deprecated").is_none());
}

#[test]
fn operation_ids_tags_and_statuses_are_fastapis() {
    let v = value(&doc());
    assert_eq!(
        v["paths"]["/items"]["get"]["operationId"],
        "list_items_items_get"
    );
    assert_eq!(
        v["paths"]["/items/{id}"]["get"]["operationId"],
        "get_item_items__id__get"
    );
    let create = &v["paths"]["/admin/items"]["post"];
    assert_eq!(create["tags"], json!(["admin"]));
    assert_eq!(
        create["responses"]["201"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/Item"})
    );
    assert_eq!(
        create["requestBody"],
        json!({"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}})
    );
    assert!(v["components"]["schemas"]["Item"]["properties"]["name"].is_object());
}

#[test]
fn a_validation_error_is_documented_exactly_when_there_are_inputs() {
    let v = value(&doc());
    let ref_422 = json!({"$ref": "#/components/schemas/HTTPValidationError"});
    for (path, method) in [
        ("/items", "get"),
        ("/items/{id}", "get"),
        ("/admin/items", "post"),
        ("/form", "post"),
    ] {
        let r = &v["paths"][path][method]["responses"]["422"];
        assert_eq!(r["description"], "Validation Error", "{method} {path}");
        assert_eq!(r["content"]["application/json"]["schema"], ref_422);
    }
    assert!(
        v["paths"]["/health"]["get"]["responses"]
            .get("422")
            .is_none()
    );
    // FastAPI's component schemas, as FastAPI 0.165 writes them.
    let schemas = &v["components"]["schemas"];
    assert_eq!(
        schemas["HTTPValidationError"]["properties"]["detail"]["items"],
        json!({"$ref": "#/components/schemas/ValidationError"})
    );
    assert_eq!(
        schemas["ValidationError"]["required"],
        json!(["loc", "msg", "type"])
    );
    assert_eq!(
        schemas["ValidationError"]["properties"]["type"]["title"],
        "Error Type"
    );
}

#[test]
fn paths_bodies_and_responses_by_kind() {
    let doc = doc();
    assert_eq!(params(op(&doc, "/items/{id}", "get")), ["path:id:true"]);
    assert_eq!(
        params(op(&doc, "/pairs/{a}/{b}", "get")),
        ["path:a:true", "path:b:true"]
    );
    let v = value(&doc);
    let body = |path: &str| v["paths"][path]["post"]["requestBody"]["content"].clone();
    assert!(body("/form")["application/x-www-form-urlencoded"].is_object());
    assert!(body("/upload")["multipart/form-data"].is_object());
    assert!(body("/stream")["application/octet-stream"].is_object());
    // A type without `JsonSchema` builds, and is documented as any value.
    assert_eq!(body("/opaque")["application/json"]["schema"], json!({}));
    let ok = |path: &str, method: &str| v["paths"][path][method]["responses"]["200"].clone();
    assert_eq!(
        ok("/opaque", "post")["content"]["application/json"]["schema"],
        json!({})
    );
    assert_eq!(
        ok("/health", "get")["content"]["text/plain"]["schema"],
        json!({"type": "string"})
    );
    assert!(ok("/upload", "post").get("content").is_none());
    assert!(ok("/stream", "post")["content"]["application/x-ndjson"].is_object());
}

#[tokio::test]
async fn the_served_document_is_app_openapi_and_the_page_loads_its_files() {
    let config = OpenApiConfig::new("Items", "2.0.0");
    let expected = app()
        .with_openapi(config.clone())
        .openapi()
        .expect("the app is valid");
    assert_eq!(expected.info.title, "Items");
    let client = TestClient::start(app().with_openapi(config))
        .await
        .expect("starts");

    let response = client.get("/openapi.json").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let served = response.text().await.expect("a body");
    assert_eq!(served, expected.to_json());
    // The serving routes are not in the document.
    assert!(expected.operation("/openapi.json", "get").is_none());
    assert!(expected.operation("/docs", "get").is_none());

    let page = client.get("/docs").send().await;
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = page.text().await.expect("a body");
    assert!(html.contains("\"/openapi.json\""), "{html}");
    let mut files = 0;
    for (file, content_type) in [
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        (
            "swagger-ui-standalone-preset.js",
            "text/javascript; charset=utf-8",
        ),
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("favicon-32x32.png", "image/png"),
    ] {
        let href = format!("/docs/{file}");
        assert!(html.contains(&format!("\"{href}\"")), "{href} in {html}");
        let asset = client.get(&href).send().await;
        assert_eq!(asset.status(), 200, "{href}");
        assert_eq!(asset.header("content-type"), Some(content_type), "{href}");
        assert!(!asset.bytes().await.expect("a body").is_empty());
        files += 1;
    }
    assert_eq!(files, 4);
    assert_eq!(client.get("/docs/nothing.js").send().await.status(), 404);
    // The app's own routes still answer.
    assert_eq!(client.get("/health").send().await.status(), 200);
    client.shutdown().await;
}

#[test]
fn a_route_in_the_way_of_the_documents_path_is_reported() {
    let app = app().get("/docs", health);
    // `openapi` does not add the serving routes; starting does, and reports the conflict.
    assert!(app.openapi().is_ok());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let Err(error) = runtime.block_on(app.with_openapi(OpenApiConfig::default()).start()) else {
        panic!("the conflict is reported");
    };
    assert!(
        error.problems().iter().any(|p| p.contains("/docs")),
        "{:?}",
        error.problems()
    );
}

#[tokio::test]
async fn the_document_is_served_beside_routes_with_their_own_layers() {
    // The serving routes are added when the app starts, beside routes that have layers of
    // their own (`route_layer`, a group's `layer`): each keeps its own, these get none.
    let app = App::new()
        .get("/health", health)
        .nest(
            Group::new("/v1")
                .layer(tower_http::cors::CorsLayer::permissive())
                .get("/ping", ping),
        )
        .route_layer(tower_http::cors::CorsLayer::permissive())
        .with_openapi(OpenApiConfig::new("Layered", "1.0.0"));
    let client = TestClient::start(app).await.expect("starts");
    let served = client.get("/openapi.json").send().await;
    assert_eq!(served.status(), 200);
    let doc: Value = serde_json::from_str(&served.text().await.expect("a body")).expect("JSON");
    assert!(doc["paths"]["/v1/ping"]["get"].is_object(), "{doc}");
    assert_eq!(client.get("/docs").send().await.status(), 200);
    let ping = client
        .get("/v1/ping")
        .header("origin", "https://a.example")
        .send()
        .await;
    assert_eq!(ping.status(), 200);
    assert_eq!(ping.header("access-control-allow-origin"), Some("*"));
}

// ---------------------------------------------------------------------------------------------
// Error statuses declared with `#[depends(responses(..))]`
// ---------------------------------------------------------------------------------------------

/// Answers 401 (no key, from `ApiKeyHeader`) and 403 (a wrong one).
#[depends(responses(401 = "No token", 403 = "Wrong token"))]
async fn guard(key: ApiKeyHeader<XToken>) -> String {
    key.into_key()
}

/// Two levels below the handler, through `loader`.
#[depends(responses(404 = "Not found by the loader", 409 = "Locked"))]
async fn loader(#[dep(guard)] _key: &String, Path(id): Path<u64>) -> u64 {
    id
}

/// The loader's replacement in a test: it declares nothing.
#[depends]
async fn fake_loader() -> u64 {
    7
}

#[depends(responses(404 = "Thing not found", 422 = "Bad id"))]
async fn fetch(#[dep(loader)] id: &u64) -> Json<Item> {
    Json(Item {
        name: id.to_string(),
    })
}

#[depends]
async fn plain() -> &'static str {
    "ok"
}

fn responses_app() -> App {
    App::new()
        .get("/things/{id}", fetch)
        .get("/open", plain)
        .nest(Group::new("/guarded").dependency(guard).get("", plain))
}

#[test]
fn error_statuses_declared_anywhere_in_the_graph_are_listed_once() {
    let v = value(&responses_app().openapi().expect("valid"));
    let responses = &v["paths"]["/things/{id}"]["get"]["responses"];
    let statuses: Vec<&str> = responses
        .as_object()
        .expect("responses")
        .keys()
        .map(String::as_str)
        .collect();
    // The success first, then every status of the graph once, in order.
    assert_eq!(statuses, ["200", "401", "403", "404", "409", "422"]);
    // The handler's own description wins over its dependency's.
    assert_eq!(responses["404"]["description"], "Thing not found");
    assert_eq!(responses["409"]["description"], "Locked");
    assert_eq!(responses["401"]["description"], "No token");
    let http_error = json!({"$ref": "#/components/schemas/HTTPError"});
    for status in ["401", "403", "404", "409"] {
        assert_eq!(
            responses[status]["content"]["application/json"]["schema"], http_error,
            "{status}"
        );
    }
    // A declared 422 names the validation error the inputs answer with.
    assert_eq!(responses["422"]["description"], "Bad id");
    assert_eq!(
        responses["422"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/HTTPValidationError"})
    );
    // A group's dependency declares them for each of its routes, and for no other.
    let guarded = &v["paths"]["/guarded"]["get"]["responses"];
    assert_eq!(guarded["403"]["description"], "Wrong token");
    assert!(guarded.get("404").is_none());
    let open = v["paths"]["/open"]["get"]["responses"]
        .as_object()
        .expect("responses")
        .clone();
    assert_eq!(open.keys().collect::<Vec<_>>(), ["200"]);
    assert_eq!(
        v["components"]["schemas"]["HTTPError"],
        json!({
            "properties": {"detail": {"type": "string", "title": "Detail"}},
            "type": "object",
            "required": ["detail"],
            "title": "HTTPError",
            "description": "An error's body: `{\"detail\": \"...\"}`."
        })
    );
    // No declared status, no `HTTPError` schema.
    assert!(
        value(&doc())["components"]["schemas"]
            .get("HTTPError")
            .is_none()
    );
}

#[test]
fn an_overridden_dependency_declares_the_replacements_statuses() {
    let v = value(
        &responses_app()
            .override_dep(loader, fake_loader)
            .openapi()
            .expect("valid"),
    );
    let responses = &v["paths"]["/things/{id}"]["get"]["responses"];
    // `loader`'s 404 and 409 and, through it, `guard`'s 401 and 403 are gone; the handler's
    // own remain.
    assert!(responses.get("409").is_none());
    assert!(responses.get("401").is_none());
    assert_eq!(responses["404"]["description"], "Thing not found");
}

// ---------------------------------------------------------------------------------------------
// Parameters in declaration order
// ---------------------------------------------------------------------------------------------

/// Fields out of alphabetical order; `a` renamed, `m` optional.
#[derive(Deserialize, JsonSchema)]
#[allow(dead_code, reason = "read by the document only")]
struct Unsorted {
    z: u32,
    #[serde(rename = "alpha")]
    a: String,
    m: Option<bool>,
}

/// Headers out of alphabetical order, read by a dependency.
#[derive(Deserialize, JsonSchema)]
#[allow(dead_code, reason = "read by the document only")]
struct UnsortedHeaders {
    x_zone: String,
    x_area: String,
}

#[depends]
async fn zones(Header(h): Header<UnsortedHeaders>) -> String {
    h.x_zone
}

#[depends]
async fn unsorted(#[dep(zones)] _zone: &String, Query(q): Query<Unsorted>) -> String {
    q.a
}

#[test]
fn parameters_come_in_the_order_their_fields_are_declared() {
    let doc = App::new()
        .get("/unsorted", unsorted)
        .openapi()
        .expect("valid");
    assert_eq!(
        params(op(&doc, "/unsorted", "get")),
        [
            "header:x-zone:true",
            "header:x-area:true",
            "query:z:true",
            "query:alpha:true",
            "query:m:false",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Examples declared with `#[schemars(example = ..)]`
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code, reason = "read by the document only")]
struct Search {
    #[schemars(example = &"milk")]
    q: String,
    #[schemars(example = 20, example = 50)]
    limit: Option<u32>,
    offset: Option<u32>,
}

/// A body type with an example of the whole value.
#[derive(Deserialize, Serialize, JsonSchema)]
#[schemars(example = Product { name: "milk".to_owned(), price: 129 })]
struct Product {
    name: String,
    /// In cents.
    #[schemars(example = 99)]
    price: u32,
}

#[depends]
async fn search(Query(_s): Query<Search>) -> Json<Vec<Product>> {
    Json(Vec::new())
}

#[depends(status = 201)]
async fn add_product(Json(p): Json<Product>) -> (StatusCode, Json<Product>) {
    (StatusCode::CREATED, Json(p))
}

#[test]
fn declared_examples_are_where_swagger_ui_shows_them() {
    let doc = App::new()
        .get("/products", search)
        .post("/products", add_product)
        .openapi()
        .expect("valid");
    let v = value(&doc);
    let parameters = &v["paths"]["/products"]["get"]["parameters"];
    // A parameter's example (the first, when several are declared), beside its schema's.
    assert_eq!(parameters[0]["name"], "q");
    assert_eq!(parameters[0]["example"], "milk");
    assert_eq!(parameters[0]["schema"]["examples"], json!(["milk"]));
    assert_eq!(parameters[1]["example"], 20);
    assert_eq!(parameters[1]["schema"]["examples"], json!([20, 50]));
    // None declared, none written.
    assert!(parameters[2].get("example").is_none());
    // A body's and a response's type: its schema's `examples`, from which Swagger UI makes
    // the "Example Value" of the request body and of the response.
    let product = &v["components"]["schemas"]["Product"];
    assert_eq!(product["examples"], json!([{"name": "milk", "price": 129}]));
    assert_eq!(product["properties"]["price"]["examples"], json!([99]));
    let post = &v["paths"]["/products"]["post"];
    let product_ref = json!({"$ref": "#/components/schemas/Product"});
    assert_eq!(
        post["requestBody"]["content"]["application/json"]["schema"],
        product_ref
    );
    assert_eq!(
        post["responses"]["201"]["content"]["application/json"]["schema"],
        product_ref
    );
}

// ---------------------------------------------------------------------------------------------
// A streamed body's content type
// ---------------------------------------------------------------------------------------------

/// Reads the body as a stream, declaring what it is; the handler that uses it has the body.
#[depends(body_content_type = "application/x-ndjson")]
async fn ndjson_lines(_body: BodyStream) -> usize {
    0
}

#[depends]
async fn import_lines(#[dep(ndjson_lines)] n: &usize) -> String {
    n.to_string()
}

#[test]
fn a_streamed_body_has_the_content_type_its_reader_declares() {
    let doc = App::new()
        .post("/import", import_lines)
        .openapi()
        .expect("valid");
    let v = value(&doc);
    let body = &v["paths"]["/import"]["post"]["requestBody"];
    assert_eq!(
        body,
        &json!({"required": true, "content": {"application/x-ndjson": {"schema": {}}}})
    );
    // Undeclared, it is any bytes.
    assert!(value(&self::doc())["paths"]["/stream"]["post"]["requestBody"]["content"]
        ["application/octet-stream"]
        .is_object());
}

// ---------------------------------------------------------------------------------------------
// Documents that stay valid: two keys of one kind, a method OpenAPI has no field for, one
// handler on two paths with one operation id, served paths
// ---------------------------------------------------------------------------------------------

/// The `X-Tenant-Key` header.
struct XTenantKey;

impl KeyName for XTenantKey {
    const NAME: &'static str = "X-Tenant-Key";
}

#[depends]
async fn two_keys(_token: ApiKeyHeader<XToken>, _tenant: ApiKeyHeader<XTenantKey>) -> &'static str {
    "ok"
}

#[depends]
async fn anywhere() -> &'static str {
    "ok"
}

#[test]
fn the_document_stays_valid_with_two_keys_an_odd_method_and_one_handler_on_two_paths() {
    let doc = App::new()
        .get("/keys", two_keys)
        .route(
            http::Method::from_bytes(b"PURGE").unwrap(),
            "/cache",
            anywhere,
        )
        .get("/a-b", anywhere)
        .get("/a_b", anywhere)
        .openapi()
        .expect("valid");
    let v = value(&doc);
    let schemes = &v["components"]["securitySchemes"];
    assert_eq!(schemes["APIKeyHeader"]["name"], "X-Token");
    assert_eq!(schemes["APIKeyHeader_X-Tenant-Key"]["name"], "X-Tenant-Key");
    assert_eq!(
        v["paths"]["/keys"]["get"]["security"],
        // One requirement: the route needs both keys (two objects would read "either one").
        json!([{"APIKeyHeader": [], "APIKeyHeader_X-Tenant-Key": []}])
    );
    assert!(
        v["paths"].get("/cache").is_none(),
        "PURGE has no field in a path item"
    );
    let ids = [&v["paths"]["/a-b"]["get"], &v["paths"]["/a_b"]["get"]]
        .map(|operation| operation["operationId"].as_str().unwrap().to_owned());
    assert_ne!(ids[0], ids[1], "{ids:?}");
}

#[tokio::test]
async fn served_paths_that_could_not_serve_the_document_are_refused() {
    for config in [
        OpenApiConfig::new("t", "1").json_path("openapi.json"),
        OpenApiConfig::new("t", "1").docs_path("/docs/"),
        OpenApiConfig::new("t", "1").docs_path("/"),
    ] {
        let error = App::new()
            .get("/", anywhere)
            .with_openapi(config)
            .start()
            .await
            .expect_err("a path that could not serve it");
        assert!(
            error.to_string().contains("a path starts with `/`"),
            "{error}"
        );
    }
}
