//! Validated inputs (di-runtime's `validator` feature): `Json<T>`, `Query<T>` and `Form<T>` of
//! a type deriving `validator::Validate` run its rules after deserializing, in a handler's
//! parameters and in a dependency's; each broken rule is a 422 problem in pydantic's terms,
//! in one list with the other inputs' problems, and bad input sets nothing up. The bodies are
//! compared with FastAPI's in `fastapi_422.rs` (rows `checked_*`).

mod common;

use std::borrow::Cow;

use common::{events, log, serial};
use di_runtime::TestResponse;
use di_runtime::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use validator::{Validate, ValidationError};

const FORM: &str = "application/x-www-form-urlencoded";

/// A generator that logs its setup and teardown: bad input must never open it.
#[depends]
async fn audit(y: Yield<u8>) {
    log("audit:open");
    let (_, outcome) = y.provide(1).await;
    log(format!("audit:close {}", outcome.is_success()));
}

#[derive(Debug, Deserialize, Validate)]
struct Author {
    #[validate(length(min = 2))]
    name: String,
}

fn not_reserved(title: &str) -> Result<(), ValidationError> {
    if title == "admin" {
        return Err(ValidationError::new("reserved")
            .with_message(Cow::Borrowed("the title `admin` is reserved")));
    }
    Ok(())
}

fn summary_fits(note: &NewNote) -> Result<(), ValidationError> {
    match &note.summary {
        Some(summary) if summary.len() > note.body.len() => {
            Err(ValidationError::new("summary_longer_than_body"))
        }
        _ => Ok(()),
    }
}

// The fields are declared in an order that is not alphabetical: problems come in this order.
#[derive(Debug, Deserialize, Validate)]
#[validate(schema(function = "summary_fits"))]
struct NewNote {
    #[validate(length(min = 1, max = 10), custom(function = "not_reserved"))]
    title: String,
    #[validate(range(min = 1, max = 5))]
    priority: u8,
    body: String,
    #[validate(length(min = 1))]
    summary: Option<String>,
    #[validate(nested)]
    author: Author,
}

#[derive(Debug, Deserialize, Validate)]
struct Page {
    #[validate(range(min = 1, max = 100))]
    limit: u32,
}

#[derive(Debug, Deserialize, Validate)]
struct Login {
    #[validate(length(min = 3))]
    username: String,
    #[validate(email)]
    email: String,
}

#[depends]
async fn create(#[dep(audit)] _audit: &u8, Json(note): Json<NewNote>) -> String {
    format!(
        "{} p{} {:?} by {}",
        note.title, note.priority, note.summary, note.author.name
    )
}

#[depends]
async fn page(Query(page): Query<Page>) -> u32 {
    page.limit
}

/// The rules of a dependency's inputs are checked before anything is set up too.
#[depends]
async fn listed(#[dep(audit)] _audit: &u8, #[dep(page)] limit: &u32) -> String {
    format!("limit {limit}")
}

#[depends]
async fn login(Form(login): Form<Login>) -> String {
    format!("{} <{}>", login.username, login.email)
}

#[depends]
async fn mixed(#[dep(audit)] _audit: &u8, Query(_): Query<Page>, Json(_): Json<NewNote>) -> String {
    "ok".to_owned()
}

#[derive(Debug, Deserialize, Validate)]
struct Batch {
    #[validate(nested)]
    authors: Vec<Author>,
}

#[depends]
async fn batch(Json(batch): Json<Batch>) -> String {
    format!("{} authors", batch.authors.len())
}

#[derive(Debug, Deserialize, Validate)]
struct Token {
    #[validate(length(min = 8))]
    x_token: String,
}

#[derive(Debug, Deserialize, Validate)]
struct Theme {
    #[validate(length(max = 5))]
    theme: Option<String>,
}

#[depends]
async fn whoami(
    #[dep(audit)] _audit: &u8,
    Header(token): Header<Token>,
    Cookie(theme): Cookie<Theme>,
) -> String {
    format!("{} {:?}", token.x_token, theme.theme)
}

fn app() -> App {
    App::new()
        .get("/whoami", whoami)
        .post("/notes", create)
        .post("/batch", batch)
        .get("/notes", listed)
        .post("/login", login)
        .post("/mixed", mixed)
}

async fn client() -> TestClient {
    TestClient::start(app()).await.expect("the app starts")
}

async fn body(response: TestResponse) -> Value {
    response.json().await.expect("a JSON body")
}

fn good_note() -> Value {
    json!({"title": "t", "priority": 3, "body": "text", "author": {"name": "ada"}})
}

#[tokio::test]
async fn a_valid_input_passes_its_rules_and_reaches_the_handler() {
    let _serial = serial().await;
    let client = client().await;
    let response = client.post("/notes").json(&good_note()).send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "t p3 None by ada");
    client.settle().await;
    let response = client.get("/notes?limit=100").send().await;
    assert_eq!(response.text().await.unwrap(), "limit 100");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "audit:open",
            "audit:close true",
            "audit:open",
            "audit:close true"
        ]
    );
    client.shutdown().await;
}

#[tokio::test]
async fn every_broken_rule_is_a_422_problem_in_declaration_order_and_nothing_is_set_up() {
    let _serial = serial().await;
    let client = client().await;
    let response = client
        .post("/notes")
        .json(&json!({
            "author": {"name": "a"},
            "summary": "",
            "body": "b",
            "priority": 9,
            "title": "a title too long",
        }))
        .send()
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "string_too_long", "loc": ["body", "title"], "msg": "String should have at most 10 characters", "input": "a title too long", "ctx": {"max_length": 10}},
            {"type": "less_than_equal", "loc": ["body", "priority"], "msg": "Input should be less than or equal to 5", "input": 9, "ctx": {"le": 5}},
            {"type": "string_too_short", "loc": ["body", "summary"], "msg": "String should have at least 1 character", "input": "", "ctx": {"min_length": 1}},
            {"type": "string_too_short", "loc": ["body", "author", "name"], "msg": "String should have at least 2 characters", "input": "a", "ctx": {"min_length": 2}},
        ]})
    );
    client.settle().await;
    assert_eq!(events(), Vec::<String>::new(), "bad input sets nothing up");
    client.shutdown().await;
}

#[tokio::test]
async fn custom_rules_are_value_errors_and_a_struct_rule_is_at_the_struct() {
    let _serial = serial().await;
    let client = client().await;
    let mut note = good_note();
    note["title"] = json!("admin");
    let response = client.post("/notes").json(&note).send().await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "value_error", "loc": ["body", "title"], "msg": "Value error, the title `admin` is reserved", "input": "admin", "ctx": {"error": {}}},
        ]})
    );
    // A rule of the whole struct runs once its fields pass (as a pydantic model validator
    // in `after` mode), and is reported at the struct, with the whole body as `input`.
    let mut note = good_note();
    note["summary"] = json!("longer than the body");
    let response = client.post("/notes").json(&note).send().await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "value_error", "loc": ["body"], "msg": "Value error, summary_longer_than_body", "input": note, "ctx": {"error": {}}},
        ]})
    );
    client.settle().await;
    assert_eq!(events(), Vec::<String>::new());
    client.shutdown().await;
}

#[tokio::test]
async fn a_dependencys_query_rules_are_checked_before_any_setup_with_the_text_as_input() {
    let _serial = serial().await;
    let client = client().await;
    let response = client.get("/notes?limit=0").send().await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "greater_than_equal", "loc": ["query", "limit"], "msg": "Input should be greater than or equal to 1", "input": "0", "ctx": {"ge": 1}},
        ]})
    );
    client.settle().await;
    assert_eq!(events(), Vec::<String>::new());
    client.shutdown().await;
}

#[tokio::test]
async fn form_rules_report_at_body_with_the_sent_text() {
    let _serial = serial().await;
    let client = client().await;
    let response = client
        .post("/login")
        .header("content-type", FORM)
        .body("username=al&email=al%40")
        .send()
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "string_too_short", "loc": ["body", "username"], "msg": "String should have at least 3 characters", "input": "al", "ctx": {"min_length": 3}},
            {"type": "value_error", "loc": ["body", "email"], "msg": "value is not a valid email address: There must be something after the @-sign.", "input": "al@", "ctx": {"reason": "There must be something after the @-sign."}},
        ]})
    );
    let response = client
        .post("/login")
        .header("content-type", FORM)
        .body("username=ada&email=ada%40example.org")
        .send()
        .await;
    assert_eq!(response.text().await.unwrap(), "ada <ada@example.org>");
    client.shutdown().await;
}

#[tokio::test]
async fn broken_rules_come_beside_deserialize_problems_in_one_422_in_field_order() {
    let _serial = serial().await;
    let client = client().await;
    // The body is missing `priority`: its rules still run on the rest, as pydantic checks
    // constraints beside type errors, and the query's broken rule comes first.
    let response = client
        .post("/mixed?limit=500")
        .json(&json!({"title": "", "body": "b", "author": {"name": "ada"}}))
        .send()
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "less_than_equal", "loc": ["query", "limit"], "msg": "Input should be less than or equal to 100", "input": "500", "ctx": {"le": 100}},
            {"type": "string_too_short", "loc": ["body", "title"], "msg": "String should have at least 1 character", "input": "", "ctx": {"min_length": 1}},
            {"type": "missing", "loc": ["body", "priority"], "msg": "Field required", "input": {"title": "", "body": "b", "author": {"name": "ada"}}},
        ]})
    );
    // A field with a problem of its own stands in as a placeholder (`0`, an empty `Author`):
    // the rules it would break there (`priority` at least 1, a name of 2 characters) are not
    // reported, and neither is a struct rule, which runs on valid fields only.
    let response = client
        .post("/mixed?limit=5")
        .json(&json!({"title": "admin", "priority": "high", "body": "b", "summary": "too long"}))
        .send()
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "value_error", "loc": ["body", "title"], "msg": "Value error, the title `admin` is reserved", "input": "admin", "ctx": {"error": {}}},
            {"type": "int_parsing", "loc": ["body", "priority"], "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "high"},
            {"type": "missing", "loc": ["body", "author"], "msg": "Field required", "input": {"title": "admin", "priority": "high", "body": "b", "summary": "too long"}},
        ]})
    );
    client.settle().await;
    assert_eq!(events(), Vec::<String>::new());
    client.shutdown().await;
}

#[tokio::test]
async fn a_rule_broken_in_every_element_of_a_long_list_is_reported_64_times_at_most() {
    let _serial = serial().await;
    let client = client().await;
    let authors: Vec<Value> = (0..1000).map(|_| json!({"name": "x"})).collect();
    let response = client
        .post("/batch")
        .json(&json!({ "authors": authors }))
        .send()
        .await;
    assert_eq!(response.status(), 422);
    let detail = body(response).await["detail"].as_array().unwrap().clone();
    assert_eq!(
        detail.len(),
        64,
        "as many as the deserializer reports at most"
    );
    assert_eq!(detail[0]["loc"], json!(["body", "authors", 0, "name"]));
    assert_eq!(detail[63]["loc"], json!(["body", "authors", 63, "name"]));
    client.shutdown().await;
}

#[tokio::test]
async fn header_and_cookie_rules_are_checked_before_any_setup_at_the_header_name() {
    let _serial = serial().await;
    let client = client().await;
    let response = client
        .get("/whoami")
        .header("X-Token", "short")
        .header("cookie", "theme=solarized")
        .send()
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "string_too_short", "loc": ["header", "x-token"], "msg": "String should have at least 8 characters", "input": "short", "ctx": {"min_length": 8}},
            {"type": "string_too_long", "loc": ["cookie", "theme"], "msg": "String should have at most 5 characters", "input": "solarized", "ctx": {"max_length": 5}},
        ]})
    );
    client.settle().await;
    assert_eq!(events(), Vec::<String>::new(), "bad input sets nothing up");
    let response = client
        .get("/whoami")
        .header("X-Token", "long enough")
        .send()
        .await;
    assert_eq!(response.text().await.unwrap(), "long enough None");
    client.shutdown().await;
}
