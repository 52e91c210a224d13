//! A second review of the OpenAPI document's accuracy (`di-runtime/src/openapi/`,
//! `contract/doc.rs`, the macro's doc output): the document must say what the server does, so
//! that a client generated from it sends what the server takes and reads what it sends. Each
//! finding is checked against the server, through the test client, and each document against
//! a real validator (`common::openapi_validator`).

mod common;

use di_runtime::prelude::*;
use di_runtime::{ApiKeyHeader, HttpBearer, KeyName, OpenApi, Redirect, TestClient};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The document as JSON, after a real validator has accepted it (when one is found).
fn validated(doc: &OpenApi) -> Value {
    let json = doc.to_json();
    common::assert_valid_openapi(&json);
    serde_json::from_str(&json).expect("the document is JSON")
}

// ------------- 1. security: two required inputs are one requirement; an optional one is `{}`

struct XKey;
impl KeyName for XKey {
    const NAME: &'static str = "X-Key";
}

#[depends]
async fn both(_key: ApiKeyHeader<XKey>, _bearer: HttpBearer) -> &'static str {
    "ok"
}

#[depends]
async fn maybe(bearer: Option<HttpBearer>) -> String {
    bearer.map_or_else(|| "anonymous".to_owned(), |b| b.token().to_owned())
}

#[depends]
async fn key_and_maybe(_key: ApiKeyHeader<XKey>, _bearer: Option<HttpBearer>) -> &'static str {
    "ok"
}

fn security_app() -> App {
    App::new()
        .get("/both", both)
        .get("/maybe", maybe)
        .get("/key-and-maybe", key_and_maybe)
}

/// A route that takes an API key and a bearer token, both required, refuses a request with
/// only one of them: OpenAPI writes that as one requirement object naming both. It was
/// documented `[{"APIKeyHeader": []}, {"HTTPBearer": []}]`, which OpenAPI reads as "either
/// one", so a client made from it sent one credential and was refused.
#[tokio::test]
async fn two_required_security_inputs_are_one_requirement_as_the_server_wants_both() {
    let doc = validated(&security_app().openapi().expect("the app is valid"));
    assert_eq!(
        doc["paths"]["/both"]["get"]["security"],
        json!([{"APIKeyHeader": [], "HTTPBearer": []}])
    );
    let client = TestClient::start(security_app()).await.expect("starts");
    let only_key = client.get("/both").header("x-key", "k").send().await;
    assert_eq!(only_key.status().as_u16(), 401, "the key alone");
    let only_bearer = client
        .get("/both")
        .header("authorization", "Bearer t")
        .send()
        .await;
    assert_eq!(only_bearer.status().as_u16(), 401, "the token alone");
    let both = client
        .get("/both")
        .header("x-key", "k")
        .header("authorization", "Bearer t")
        .send()
        .await;
    assert_eq!(both.status().as_u16(), 200, "both");
    client.shutdown().await;
}

/// `Option<HttpBearer>` is served without a token; OpenAPI says a requirement may be left out
/// with an empty requirement object `{}`. It was documented as required, so a client made
/// from it could not call the route without credentials, which the server takes.
#[tokio::test]
async fn an_optional_security_input_is_documented_as_optional() {
    let doc = validated(&security_app().openapi().expect("the app is valid"));
    assert_eq!(
        doc["paths"]["/maybe"]["get"]["security"],
        json!([{"HTTPBearer": []}, {}])
    );
    // A required key and an optional token: both, or the key alone.
    assert_eq!(
        doc["paths"]["/key-and-maybe"]["get"]["security"],
        json!([{"APIKeyHeader": [], "HTTPBearer": []}, {"APIKeyHeader": []}])
    );
    let client = TestClient::start(security_app()).await.expect("starts");
    let anonymous = client.get("/maybe").send().await;
    assert_eq!(anonymous.status().as_u16(), 200);
    assert_eq!(anonymous.text().await.expect("text"), "anonymous");
    let key_alone = client
        .get("/key-and-maybe")
        .header("x-key", "k")
        .send()
        .await;
    assert_eq!(key_alone.status().as_u16(), 200);
    let nothing = client.get("/key-and-maybe").send().await;
    assert_eq!(nothing.status().as_u16(), 401);
    client.shutdown().await;
}

// ------------- 2. a redirect is documented with the status it sends

#[depends]
async fn go_see() -> Redirect {
    Redirect::to("/elsewhere")
}

#[depends(status = 307)]
async fn go_temporarily() -> Result<Redirect, HttpError> {
    Ok(Redirect::temporary("/elsewhere"))
}

/// `Redirect::to` sends `303 See Other`; the route was documented `200`, a status it never
/// sends, so a generated client took the redirect for an unexpected status. A handler that
/// returns `Redirect` is now documented with `303` (`Redirect::to`'s) and the other statuses a
/// `Redirect` may send (`307`, `308`: tests/review_responses2.rs), or its `status = ..`.
#[tokio::test]
async fn a_redirect_is_documented_with_the_status_it_sends() {
    let app = || {
        App::new()
            .get("/see", go_see)
            .get("/temporarily", go_temporarily)
    };
    let doc = validated(&app().openapi().expect("the app is valid"));
    let client = TestClient::start(app()).await.expect("starts");
    for (path, status, listed) in [
        ("/see", "303", &["303", "307", "308"][..]),
        ("/temporarily", "307", &["307"][..]),
    ] {
        let responses = &doc["paths"][path]["get"]["responses"];
        let documented: Vec<&String> = responses.as_object().expect("responses").keys().collect();
        assert_eq!(documented, listed, "GET {path}: {responses}");
        assert_eq!(responses[status]["content"], Value::Null, "no body");
        let response = client.get(path).send().await;
        assert_eq!(response.status().as_u16().to_string(), status, "GET {path}");
    }
    client.shutdown().await;
}

// ------------- 3. a response is documented as serialized, a request body as deserialized

/// Sent only: every field is always written, except `note` when it has none.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all(serialize = "camelCase", deserialize = "snake_case"))]
struct Stats {
    total_count: u32,
    #[serde(default)]
    pages: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// Taken and sent: `created` is never read from a request, `draft` may be left out of one.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Note {
    title: String,
    #[serde(default)]
    draft: bool,
    #[serde(skip_deserializing)]
    created: u64,
}

/// Taken and sent alike.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Tag {
    name: String,
}

/// The same both ways itself, but it holds a `Note`, which is not.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Pinned {
    note: Note,
}

#[depends]
async fn pin(Json(pinned): Json<Pinned>) -> Json<Pinned> {
    Json(pinned)
}

#[depends]
async fn stats() -> Json<Stats> {
    Json(Stats {
        total_count: 3,
        pages: 1,
        note: None,
    })
}

#[depends]
async fn save_note(Json(note): Json<Note>) -> Json<Note> {
    Json(Note { created: 7, ..note })
}

#[depends]
async fn echo_tag(Json(tag): Json<Tag>) -> Json<Tag> {
    Json(tag)
}

fn contract_app() -> App {
    App::new()
        .get("/stats", stats)
        .post("/notes", save_note)
        .post("/tags", echo_tag)
        .post("/pinned", pin)
}

/// Follows a `$ref` into `components.schemas`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("a component: {reference}"));
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// The names a schema requires, sorted, and its properties' names, sorted.
fn shape(schema: &Value) -> (Vec<String>, Vec<String>) {
    let mut required: Vec<String> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    required.sort();
    let mut properties: Vec<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    properties.sort();
    (required, properties)
}

/// Response schemas were made with `schemars`' deserialize contract, the one for what a
/// request sends: a response with `#[serde(default)]` was documented with that field optional
/// though it is always sent, a `rename_all(serialize = "camelCase")` under the names it is
/// read by, a `skip_deserializing` field left out though it is sent. A response is now
/// documented with the serialize contract; a type both taken and sent whose two schemas
/// differ is two components, `{Name}-Input` and `{Name}-Output` (as FastAPI names them), and
/// one that is the same both ways stays one.
#[tokio::test]
async fn a_response_is_documented_as_it_is_serialized() {
    let doc = validated(&contract_app().openapi().expect("the app is valid"));
    let client = TestClient::start(contract_app()).await.expect("starts");

    // Sent: as serialized.
    let schema = resolve(
        &doc,
        &doc["paths"]["/stats"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
    );
    assert_eq!(
        shape(schema),
        (
            vec!["pages".to_owned(), "totalCount".to_owned()],
            vec![
                "note".to_owned(),
                "pages".to_owned(),
                "totalCount".to_owned()
            ]
        ),
        "{schema}"
    );
    let sent: Value = client
        .get("/stats")
        .send()
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(sent, json!({"totalCount": 3, "pages": 1}));

    // Taken and sent, differently: two schemas.
    let operation = &doc["paths"]["/notes"]["post"];
    let body_ref = &operation["requestBody"]["content"]["application/json"]["schema"];
    let response_ref = &operation["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(
        body_ref,
        &json!({"$ref": "#/components/schemas/Note-Input"})
    );
    assert_eq!(
        response_ref,
        &json!({"$ref": "#/components/schemas/Note-Output"})
    );
    assert_eq!(
        shape(resolve(&doc, body_ref)),
        (
            vec!["title".to_owned()],
            vec!["draft".to_owned(), "title".to_owned()]
        )
    );
    assert_eq!(
        shape(resolve(&doc, response_ref)),
        (
            vec!["created".to_owned(), "draft".to_owned(), "title".to_owned()],
            vec!["created".to_owned(), "draft".to_owned(), "title".to_owned()]
        )
    );
    assert!(doc["components"]["schemas"].get("Note").is_none());
    let sent: Value = client
        .post("/notes")
        .json(&json!({"title": "milk"}))
        .send()
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(sent, json!({"title": "milk", "draft": false, "created": 7}));

    // A type that holds one of those is two schemas too, each referring to its side's.
    let operation = &doc["paths"]["/pinned"]["post"];
    let body = resolve(
        &doc,
        &operation["requestBody"]["content"]["application/json"]["schema"],
    );
    let response = resolve(
        &doc,
        &operation["responses"]["200"]["content"]["application/json"]["schema"],
    );
    assert_eq!(
        body["properties"]["note"]["$ref"],
        "#/components/schemas/Note-Input"
    );
    assert_eq!(
        response["properties"]["note"]["$ref"],
        "#/components/schemas/Note-Output"
    );
    assert!(doc["components"]["schemas"]["Pinned-Input"].is_object());
    assert!(doc["components"]["schemas"]["Pinned-Output"].is_object());

    // Taken and sent alike: one schema.
    let operation = &doc["paths"]["/tags"]["post"];
    let tag = json!({"$ref": "#/components/schemas/Tag"});
    assert_eq!(
        operation["requestBody"]["content"]["application/json"]["schema"],
        tag
    );
    assert_eq!(
        operation["responses"]["200"]["content"]["application/json"]["schema"],
        tag
    );
    client.shutdown().await;
}

// ------------- 4. a type of the app's named as one of FastAPI's error schemas

/// An app's own type, named as FastAPI's item of a 422's `detail` is.
#[derive(Serialize, Deserialize, JsonSchema)]
struct ValidationError {
    field: String,
    problem: String,
}

#[depends]
async fn report(Json(problem): Json<ValidationError>) -> Json<Vec<ValidationError>> {
    Json(vec![problem])
}

/// A body of the app's own type `ValidationError` was documented with FastAPI's
/// `ValidationError` schema (`loc`, `msg`, `type`), written over the app's in
/// `components.schemas` because the route has a 422: a client made from it sent and read
/// `{"loc": .., "msg": ..}` where the server takes and sends `{"field": .., "problem": ..}`.
/// The app's type now keeps its schema, under a name of its own.
#[tokio::test]
async fn an_apps_type_named_as_fastapis_error_schema_keeps_its_own_schema() {
    let app = || App::new().post("/report", report);
    let doc = validated(&app().openapi().expect("the app is valid"));
    let operation = &doc["paths"]["/report"]["post"];
    let body = resolve(
        &doc,
        &operation["requestBody"]["content"]["application/json"]["schema"],
    );
    assert_eq!(
        shape(body),
        (
            vec!["field".to_owned(), "problem".to_owned()],
            vec!["field".to_owned(), "problem".to_owned()]
        ),
        "{body}"
    );
    let items = &operation["responses"]["200"]["content"]["application/json"]["schema"]["items"];
    assert_eq!(shape(resolve(&doc, items)), shape(body), "{items}");
    // The 422's own items are still FastAPI's.
    let detail = &doc["components"]["schemas"]["HTTPValidationError"]["properties"]["detail"];
    let fastapis = resolve(&doc, &detail["items"]);
    assert_eq!(
        shape(fastapis).0,
        ["loc".to_owned(), "msg".to_owned(), "type".to_owned()]
    );
    let client = TestClient::start(app()).await.expect("starts");
    let sent: Value = client
        .post("/report")
        .json(&json!({"field": "title", "problem": "empty"}))
        .send()
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(sent, json!([{"field": "title", "problem": "empty"}]));
    client.shutdown().await;
}

// ------------- 5. a status sent without a body is documented without one

#[depends(status = 204)]
async fn stored() -> (http::StatusCode, Json<u32>) {
    (http::StatusCode::NO_CONTENT, Json(3))
}

#[depends(status = 205, content_type = "text/plain")]
async fn reset() -> (http::StatusCode, &'static str) {
    (http::StatusCode::RESET_CONTENT, "reset")
}

/// A 204 or 205 is sent without a body whatever the handler gives (the server drops it), but
/// `status = 204` on a handler returning `(StatusCode, Json<u32>)` was documented with an
/// `application/json` body, which a client made from the document tried to read. The success
/// of a status that has no body (1xx, 204, 205, 304) is now documented without one, as
/// FastAPI documents it.
#[tokio::test]
async fn a_status_without_a_body_is_documented_without_one() {
    let app = || App::new().get("/stored", stored).get("/reset", reset);
    let doc = validated(&app().openapi().expect("the app is valid"));
    let client = TestClient::start(app()).await.expect("starts");
    for (path, status) in [("/stored", "204"), ("/reset", "205")] {
        let success = &doc["paths"][path]["get"]["responses"][status];
        assert!(success.is_object(), "GET {path}: {success}");
        assert_eq!(success["content"], Value::Null, "GET {path}: {success}");
        let response = client.get(path).send().await;
        assert_eq!(response.status().as_u16().to_string(), status, "GET {path}");
        assert!(
            response.bytes().await.expect("the body").is_empty(),
            "GET {path}"
        );
    }
    client.shutdown().await;
}

// ------------- 6. an `Authorization` read as a typed header is a security scheme

#[depends]
async fn typed_bearer(
    di_runtime::TypedHeader(auth): di_runtime::TypedHeader<
        headers::Authorization<headers::authorization::Bearer>,
    >,
) -> String {
    auth.token().to_owned()
}

#[depends]
async fn typed_basic(
    auth: Option<di_runtime::TypedHeader<headers::Authorization<headers::authorization::Basic>>>,
) -> String {
    auth.map_or_else(|| "anonymous".to_owned(), |a| a.0.username().to_owned())
}

/// OpenAPI ignores a header parameter named `Authorization` ("the parameter definition SHALL
/// be ignored"): `TypedHeader<Authorization<Bearer>>` was documented as one, so Swagger UI and
/// a client made from the document sent no credentials, and every call was refused. An
/// `Authorization<Bearer>` or `Authorization<Basic>` read as a typed header is now the
/// `HTTPBearer` or `HTTPBasic` security scheme, as `HttpBearer` and `HttpBasic` are.
#[tokio::test]
async fn an_authorization_typed_header_is_a_security_scheme() {
    let app = || {
        App::new()
            .get("/typed-bearer", typed_bearer)
            .get("/typed-basic", typed_basic)
    };
    let doc = validated(&app().openapi().expect("the app is valid"));
    let bearer = &doc["paths"]["/typed-bearer"]["get"];
    assert_eq!(bearer["security"], json!([{"HTTPBearer": []}]), "{bearer}");
    assert_eq!(bearer["parameters"], Value::Null, "{bearer}");
    let basic = &doc["paths"]["/typed-basic"]["get"];
    assert_eq!(basic["security"], json!([{"HTTPBasic": []}, {}]), "{basic}");
    assert_eq!(basic["parameters"], Value::Null, "{basic}");
    assert_eq!(
        doc["components"]["securitySchemes"],
        json!({
            "HTTPBearer": {"type": "http", "scheme": "bearer"},
            "HTTPBasic": {"type": "http", "scheme": "basic"}
        })
    );
    let client = TestClient::start(app()).await.expect("starts");
    let with = client
        .get("/typed-bearer")
        .header("authorization", "Bearer t0k")
        .send()
        .await;
    assert_eq!(with.status().as_u16(), 200);
    assert_eq!(with.text().await.expect("text"), "t0k");
    // Without it, the answer is one the document lists.
    let without = client.get("/typed-bearer").send().await;
    let status = without.status().as_u16().to_string();
    assert!(
        bearer["responses"].get(&status).is_some(),
        "{status} without credentials: {}",
        bearer["responses"]
    );
    let anonymous = client.get("/typed-basic").send().await;
    assert_eq!(anonymous.text().await.expect("text"), "anonymous");
    client.shutdown().await;
}
