//! The 422 bodies of this framework against FastAPI's, byte for byte.
//!
//! `fastapi_422/expected.json` holds, for each scenario, the request and FastAPI's response
//! (status and exact body), generated once by `fastapi_422/gen.py` from a FastAPI app with the
//! same inputs as the app below (the versions are in the file). This test replays every
//! request against the di app and compares the bytes; every row that differs is reported
//! with its name. The rows in [`EXCEPTIONS`] are the differences that remain, each with its
//! reason (docs/fastapi.md lists them too); they must still differ, so that a fixed one is
//! taken off the list.

use std::collections::BTreeMap;

use di_runtime::prelude::*;
use http::Method;
use serde::Deserialize;

/// Scenarios where di does not answer as FastAPI does, and why.
const EXCEPTIONS: &[(&str, &str)] = &[
    (
        "lax_numeric_string",
        "pydantic's lax mode turns the JSON string \"5\" into the integer 5 and FastAPI \
         answers 200; serde takes a JSON number only, so di answers 422 (`int_type`, \"Input \
         should be a valid integer\", the wording of pydantic's strict mode)",
    ),
    (
        "lax_query_bool",
        "pydantic takes yes/no/on/off/1/0/t/f/y/n as booleans and FastAPI answers 200; di \
         parses query and path text with `str::parse`, which takes true/false only, and \
         answers 422 `bool_parsing`",
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

#[derive(Deserialize)]
struct Expected {
    #[serde(rename = "_versions")]
    versions: BTreeMap<String, String>,
    scenarios: BTreeMap<String, Scenario>,
}

#[derive(Deserialize)]
struct Scenario {
    method: String,
    path: String,
    body: Option<String>,
    content_type: Option<String>,
    status: u16,
    response: String,
}

#[tokio::test]
async fn every_422_body_is_fastapis_byte_for_byte() {
    let expected: Expected = serde_json::from_str(include_str!("fastapi_422/expected.json"))
        .expect("expected.json parses");
    assert!(expected.versions.contains_key("fastapi"));
    let app = App::new()
        .get("/items", items)
        .get("/p/{id}/{color}", by_path)
        .post("/notes", notes)
        .post("/strict", strict)
        .post("/mixed/{id}", mixed);
    let client = TestClient::start(app).await.expect("the app starts");

    let mut mismatches = Vec::new();
    let mut still_differ = Vec::new();
    for (name, scenario) in &expected.scenarios {
        let method = Method::from_bytes(scenario.method.as_bytes()).expect("a method");
        let mut request = client.request(method, &scenario.path);
        if let Some(content_type) = &scenario.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(body) = &scenario.body {
            request = request.body(body.clone());
        }
        let response = request.send().await;
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        let same = status == scenario.status && text == scenario.response;
        match (EXCEPTIONS.iter().find(|(n, _)| n == name), same) {
            (None, true) => {}
            (None, false) => mismatches.push(format!(
                "{name}:\n  fastapi {} {}\n  di      {status} {text}",
                scenario.status, scenario.response
            )),
            (Some(_), true) => still_differ.push(name.clone()),
            (Some(_), false) => {}
        }
    }
    for (name, _) in EXCEPTIONS {
        assert!(
            expected.scenarios.contains_key(*name),
            "exception {name} has no scenario"
        );
    }
    assert!(
        still_differ.is_empty(),
        "these rows now match FastAPI: take them off EXCEPTIONS: {still_differ:?}"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} rows differ from FastAPI:\n{}",
        mismatches.len(),
        expected.scenarios.len(),
        mismatches.join("\n")
    );
}
