//! A serde maintainer's review of request input decoding (`di-runtime/src/input/`: the fast
//! paths, the every-problem search, the JSON tree, forms, cookies, path and query): each
//! input was read against what `serde_json`, `serde_urlencoded` or FastAPI make of it and
//! what it costs. Each test is a defect found so, shown failing before its fix.

use std::collections::HashMap;

use di_runtime::TestClient;
use di_runtime::prelude::*;
use serde::Deserialize;
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
