//! The 422 bodies of this framework against FastAPI's, byte for byte, and how the header,
//! cookie, form and security inputs read a request (the 200s and 401s of those rows).
//!
//! `fastapi_422/expected.json` holds, for each scenario, the request and FastAPI's response
//! (status, exact body and `WWW-Authenticate`), generated once by `fastapi_422/gen.py` from a FastAPI app with the
//! same inputs as the app below (the versions are in the file). This test replays every
//! request against the di app and compares the bytes; every row that differs is reported
//! with its name. The rows in [`EXCEPTIONS`] are the differences that remain, each with its
//! reason (docs/fastapi.md lists them too); they must still differ, so that a fixed one is
//! taken off the list.

mod common;

use std::collections::BTreeMap;

use di_runtime::prelude::*;
use di_runtime::{ApiKeyCookie, ApiKeyHeader, ApiKeyQuery, HttpBasic, HttpBearer, KeyName};
use serde::Deserialize;
use validator::Validate;

/// Scenarios where di does not answer as FastAPI does, and why.
const EXCEPTIONS: &[(&str, &str)] = &[
    (
        "lax_numeric_string",
        "pydantic's lax mode turns the JSON string \"5\" into the integer 5 and FastAPI \
         answers 200; serde takes a JSON number only, so di answers 422 (`int_type`, \"Input \
         should be a valid integer\", the wording of pydantic's strict mode)",
    ),
    (
        "json_nan",
        "Python's `json` reads NaN (and Infinity) and FastAPI answers 200; serde_json rejects \
         it, so di answers 422 `json_invalid` with serde_json's message",
    ),
];

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code, reason = "deserialized only")]
enum Color {
    Red,
    Green,
    Blue,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialized only")]
struct Items {
    q: String,
    limit: u32,
    ratio: Option<f64>,
    flag: Option<bool>,
    color: Option<Color>,
    small: Option<u8>,
    offset: Option<i32>,
    letter: Option<char>,
    #[serde(default)]
    tags: Vec<i64>,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialized only")]
struct ByPath {
    id: u16,
    color: Color,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialized only")]
struct Meta {
    author: String,
    version: i32,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialized only")]
struct Item {
    name: String,
    qty: u32,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialized only")]
struct Note {
    title: String,
    count: u8,
    score: f64,
    done: bool,
    color: Color,
    tags: Vec<String>,
    meta: Meta,
    items: Vec<Item>,
    note: Option<String>,
    pair: Option<(i32, i32)>,
    #[serde(default)]
    labels: BTreeMap<String, i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "deserialized only")]
struct Strict {
    name: String,
    n: i32,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialized only")]
struct Limit {
    limit: u32,
}

#[depends]
async fn items(Query(_): Query<Items>) -> Json<&'static str> {
    Json("ok")
}

#[depends]
async fn by_path(Path(_): Path<ByPath>) -> Json<&'static str> {
    Json("ok")
}

#[depends]
async fn notes(Json(_): Json<Note>) -> Json<&'static str> {
    Json("ok")
}

#[depends]
async fn strict(Json(_): Json<Strict>) -> Json<&'static str> {
    Json("ok")
}

#[depends]
async fn mixed(
    Path(_): Path<u16>,
    Query(_): Query<Limit>,
    Json(_): Json<Strict>,
) -> Json<&'static str> {
    Json("ok")
}

static SLUG: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new("^[a-z-]+$").expect("a valid pattern"));

#[derive(Deserialize, Validate)]
#[allow(dead_code, reason = "deserialized and validated only")]
struct Part {
    #[validate(length(min = 1))]
    name: String,
}

/// `Checked` of gen.py: pydantic's `Field(...)` constraints as `validator` rules.
#[derive(Deserialize, Validate)]
#[allow(dead_code, reason = "deserialized and validated only")]
struct Checked {
    #[validate(length(min = 1, max = 20))]
    title: String,
    #[validate(range(min = 0, max = 10))]
    count: i64,
    #[validate(range(exclusive_min = 0.0, exclusive_max = 1.5))]
    ratio: f64,
    #[validate(length(min = 1, max = 3))]
    tags: Vec<String>,
    #[validate(email)]
    email: String,
    #[validate(regex(path = *SLUG, message = "^[a-z-]+$"))]
    slug: String,
    #[validate(nested)]
    parts: Vec<Part>,
}

#[depends]
async fn checked(Json(_): Json<Checked>) -> Json<&'static str> {
    Json("ok")
}

#[derive(Deserialize, Validate)]
#[allow(dead_code, reason = "deserialized and validated only")]
struct CheckedQuery {
    #[validate(range(min = 1, max = 100))]
    limit: u32,
    #[validate(length(min = 2))]
    name: String,
}

#[depends]
async fn checked_query(Query(_): Query<CheckedQuery>) -> Json<&'static str> {
    Json("ok")
}

#[derive(Deserialize, Validate)]
#[allow(dead_code, reason = "deserialized and validated only")]
struct CheckedForm {
    #[validate(length(min = 3, max = 8))]
    username: String,
    #[validate(range(min = 18))]
    age: u8,
}

#[depends]
async fn checked_form(Form(_): Form<CheckedForm>) -> Json<&'static str> {
    Json("ok")
}

#[derive(Deserialize, Validate)]
#[allow(dead_code, reason = "deserialized and validated only")]
struct CheckedLimit {
    #[validate(range(min = 1, max = 100))]
    limit: u32,
}

#[depends]
async fn checked_mixed(
    Query(_): Query<CheckedLimit>,
    Json(_): Json<Checked>,
) -> Json<&'static str> {
    Json("ok")
}

#[derive(Deserialize, Validate)]
struct CheckedHeaders {
    #[validate(length(min = 3))]
    x_token: String,
    #[validate(range(min = 1, max = 10))]
    x_count: i64,
}

#[derive(Deserialize, Validate)]
struct CheckedCookies {
    #[validate(length(min = 4))]
    session_id: String,
}

#[depends]
async fn checked_headers(
    Header(h): Header<CheckedHeaders>,
    Cookie(c): Cookie<CheckedCookies>,
) -> Json<&'static str> {
    let _ = (h.x_token, h.x_count, c.session_id);
    Json("ok")
}

#[derive(Deserialize)]
struct Headers {
    x_count: u32,
    x_ratio: Option<f64>,
    #[serde(default)]
    x_token: Vec<i64>,
    user_agent: Option<String>,
}

#[depends]
async fn headers(Header(h): Header<Headers>) -> Json<(u32, Option<f64>, Vec<i64>, Option<String>)> {
    Json((h.x_count, h.x_ratio, h.x_token, h.user_agent))
}

#[derive(Deserialize)]
struct Cookies {
    session_id: String,
    n: Option<u8>,
}

#[depends]
async fn cookies(Cookie(c): Cookie<Cookies>) -> Json<(String, Option<u8>)> {
    Json((c.session_id, c.n))
}

#[derive(Deserialize)]
struct Signup {
    username: String,
    age: u8,
    #[serde(default)]
    tags: Vec<String>,
    nick: Option<String>,
}

#[depends]
async fn form(Form(f): Form<Signup>) -> Json<(String, u8, Vec<String>, Option<String>)> {
    Json((f.username, f.age, f.tags, f.nick))
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialized only")]
struct XCount {
    x_count: u32,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialized only")]
struct SessionId {
    session_id: String,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialized only")]
struct Age {
    age: u8,
}

#[depends]
async fn form_query_header(
    Query(_): Query<Limit>,
    Header(_): Header<XCount>,
    Cookie(_): Cookie<SessionId>,
    Form(_): Form<Age>,
) -> Json<&'static str> {
    Json("ok")
}

#[depends]
async fn with_bearer(bearer: HttpBearer) -> Json<String> {
    Json(bearer.into_token())
}

#[depends]
async fn with_optional_bearer(bearer: Option<HttpBearer>) -> Json<Option<String>> {
    Json(bearer.map(HttpBearer::into_token))
}

#[depends]
async fn bearer_and_query(Query(_): Query<Limit>, _bearer: HttpBearer) -> Json<&'static str> {
    Json("ok")
}

#[depends]
async fn bearer_and_body(Json(_): Json<Strict>, _bearer: HttpBearer) -> Json<&'static str> {
    Json("ok")
}

#[depends]
async fn with_basic(basic: HttpBasic) -> Json<(String, String)> {
    Json((basic.username().to_owned(), basic.password().to_owned()))
}

#[depends]
async fn with_optional_basic(basic: Option<HttpBasic>) -> Json<Option<(String, String)>> {
    Json(basic.map(|b| (b.username().to_owned(), b.password().to_owned())))
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

#[depends]
async fn with_key_header(key: ApiKeyHeader<XApiKey>) -> Json<String> {
    Json(key.into_key())
}

#[depends]
async fn with_key_query(key: ApiKeyQuery<ApiKeyParam>) -> Json<String> {
    Json(key.into_key())
}

#[depends]
async fn with_key_cookie(key: ApiKeyCookie<KeyCookie>) -> Json<String> {
    Json(key.into_key())
}

#[tokio::test]
async fn every_422_body_is_fastapis_byte_for_byte() {
    let app = App::new()
        .get("/items", items)
        .get("/p/{id}/{color}", by_path)
        .post("/notes", notes)
        .post("/strict", strict)
        .post("/mixed/{id}", mixed)
        .get("/headers", headers)
        .get("/cookies", cookies)
        .post("/form", form)
        .post("/form_query_header", form_query_header)
        .get("/bearer", with_bearer)
        .get("/bearer_optional", with_optional_bearer)
        .get("/bearer_and_query", bearer_and_query)
        .post("/bearer_and_body", bearer_and_body)
        .get("/basic", with_basic)
        .get("/basic_optional", with_optional_basic)
        .get("/key_header", with_key_header)
        .get("/key_query", with_key_query)
        .get("/key_cookie", with_key_cookie)
        .post("/checked", checked)
        .get("/checked_query", checked_query)
        .post("/checked_form", checked_form)
        .post("/checked_mixed", checked_mixed)
        .get("/checked_headers", checked_headers);
    let client = TestClient::start(app).await.expect("the app starts");
    common::answers_as_fastapi(
        &client,
        include_str!("fastapi_422/expected.json"),
        EXCEPTIONS,
        true,
    )
    .await;
}
