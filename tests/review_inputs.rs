//! A serde maintainer's review of request input decoding (`di-runtime/src/input/`: the fast
//! paths, the every-problem search, the JSON tree, forms, cookies, path and query): each
//! input was read against what `serde_json`, `serde_urlencoded` or FastAPI make of it and
//! what it costs. Each test is a defect found so, shown failing before its fix.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use di_runtime::TestClient;
use di_runtime::prelude::*;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The `loc` of every problem of a 422 body.
fn locs(body: &Value) -> Vec<Value> {
    body["detail"]
        .as_array()
        .expect("a list of problems")
        .iter()
        .map(|p| p["loc"].clone())
        .collect()
}

async fn post_json(client: &TestClient, path: &str, body: String) -> (u16, Value) {
    let response = client
        .post(path)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

// ------------- 1. a flattened map's bad value, repeated, hidden by a missing field beside it

/// A sign-up form that keeps the fields it does not name (a common `flatten` shape).
#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialized only")]
struct Signup {
    name: String,
    #[serde(flatten)]
    extra: HashMap<String, u32>,
}

#[depends]
async fn signup(Json(_s): Json<Signup>) -> &'static str {
    "ok"
}

#[tokio::test]
async fn a_flattened_values_problem_is_listed_beside_a_missing_field() {
    let client = TestClient::start(App::new().post("/signup", signup))
        .await
        .expect("starts");
    // With `name` there, the bad values (the same twice, so not told apart) are one problem at
    // the object holding them.
    let (status, body) = post_json(
        &client,
        "/signup",
        r#"{"name":"n","a":"x","b":"x"}"#.to_owned(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(locs(&body), [serde_json::json!(["body"])], "{body}");
    // Without it, that problem is still there, beside the missing field: one 422 lists every
    // problem, so that the client does not fix one to be told of the next.
    let (status, body) = post_json(&client, "/signup", r#"{"a":"x","b":"x"}"#.to_owned()).await;
    assert_eq!(status, 422, "{body}");
    let locs = locs(&body);
    assert!(
        locs.contains(&serde_json::json!(["body", "name"])),
        "{body}"
    );
    assert!(locs.contains(&serde_json::json!(["body"])), "{body}");
    client.shutdown().await;
}

// ------------- 2. a large object whose every entry ends an attempt walked again and again

/// How many times the body was deserialized (by the fast path and each attempt of the search).
static ATTEMPTS: AtomicUsize = AtomicUsize::new(0);

/// `T`, counting each time it is deserialized.
struct Counted<T>(#[allow(dead_code, reason = "deserialized only")] T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Counted<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ATTEMPTS.fetch_add(1, Ordering::SeqCst);
        T::deserialize(deserializer).map(Counted)
    }
}

/// An untagged enum: it takes no placeholder, so each of its bad values ends an attempt.
#[derive(Deserialize)]
#[serde(untagged)]
#[allow(dead_code, reason = "deserialized only")]
enum Shape {
    Circle { r: f64 },
    Square { side: f64 },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "deserialized only")]
struct Strict {
    id: u32,
}

#[depends]
async fn shapes(Json(_s): Json<Counted<BTreeMap<String, Shape>>>) -> &'static str {
    "ok"
}

#[depends]
async fn strict(Json(_s): Json<Counted<Strict>>) -> &'static str {
    "ok"
}

#[tokio::test]
async fn a_large_object_whose_entries_each_end_an_attempt_is_not_walked_for_each() {
    let client = TestClient::start(App::new().post("/shapes", shapes).post("/strict", strict))
        .await
        .expect("starts");
    let entries = 100_000;
    let object = |value: &str| {
        let entries: Vec<String> = (0..entries).map(|i| format!(r#""k{i}":{value}"#)).collect();
        format!("{{{}}}", entries.join(","))
    };
    // Every value refused (an untagged enum given `true`), every key unknown: each problem
    // ends the attempt that finds it, and each attempt took all 100,000 entries in hand.
    for (path, body) in [
        ("/shapes", object("true")),
        ("/strict", format!(r#"{{"id":1,{}"#, &object("1")[1..])),
    ] {
        ATTEMPTS.store(0, Ordering::SeqCst);
        let (status, answer) = post_json(&client, path, body).await;
        assert_eq!(status, 422, "{path}");
        assert!(answer["detail"].as_array().is_some_and(|d| !d.is_empty()));
        // The search's bound (`di-runtime/src/input/de/mod.rs`): at most about three walks of
        // the input (and 65,536 values more, less than one walk here), besides the fast
        // path's own.
        let attempts = ATTEMPTS.load(Ordering::SeqCst);
        assert!(
            attempts <= 1 + 3,
            "{path}: the body of {entries} entries was taken in hand {attempts} times"
        );
    }
    client.shutdown().await;
}
