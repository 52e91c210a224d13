//! Generated inputs through the extraction of request inputs, and the bugs they found,
//! each pinned by a test of its own.

use di_runtime::TestClient;
use di_runtime::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(tag = "kind")]
enum Internal {
    A { a: u16 },
    B { b: bool },
}

#[depends]
async fn internal(Json(_): Json<Internal>) -> &'static str {
    "ok"
}

#[derive(Deserialize, Serialize, Debug)]
struct Wide {
    n: u128,
    m: i128,
}

#[depends]
async fn wide(Json(v): Json<Wide>) -> Json<Wide> {
    Json(v)
}

fn pinned_app() -> App {
    App::new().post("/internal", internal).post("/wide", wide)
}

async fn post_json(client: &TestClient, uri: &str, body: &str) -> (u16, Value) {
    let response = client
        .post(uri)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// An internally tagged enum given something other than an object is pydantic's
/// `model_attributes_type`, as a struct is: serde's message names the Rust type
/// (`expected internally tagged enum Internal`) and must not reach the client.
#[tokio::test]
async fn an_internally_tagged_enum_given_a_non_object_does_not_name_the_rust_type() {
    let client = TestClient::start(pinned_app())
        .await
        .expect("the app starts");
    for body in ["true", "5", "\"x\"", "null"] {
        let (status, answer) = post_json(&client, "/internal", body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        let text = answer.to_string();
        assert!(
            !text.contains("Internal")
                && !text.contains("invalid type")
                && !text.contains("expected"),
            "{body}: {text}"
        );
        assert_eq!(
            answer["detail"][0]["type"], "model_attributes_type",
            "{body}: {text}"
        );
        assert_eq!(
            answer["detail"][0]["loc"],
            json!(["body"]),
            "{body}: {text}"
        );
    }
}

/// A `u128`/`i128` beyond its range is refused by the fast path (serde_json reads the literal
/// exactly); the every-problem search, which reads it as an `f64`, took the floats at the
/// bounds (2^128, ±2^127) as in range: 200 with the value saturated to `u128::MAX` or
/// `i128::MIN`, or a `value_error` with serde's message (`invalid value: u128, expected
/// i128`).
#[tokio::test]
async fn a_wide_integer_out_of_range_is_refused_and_never_saturated() {
    let client = TestClient::start(pinned_app())
        .await
        .expect("the app starts");
    for (body, kind, loc) in [
        (
            r#"{"n":340282366920938463463374607431768211456,"m":0}"#,
            "less_than_equal",
            "n",
        ),
        (
            r#"{"n":1,"m":-170141183460469231731687303715884105729}"#,
            "greater_than_equal",
            "m",
        ),
        (
            r#"{"n":1,"m":170141183460469231731687303715884105728}"#,
            "less_than_equal",
            "m",
        ),
    ] {
        assert!(serde_json::from_str::<Wide>(body).is_err(), "{body}");
        let (status, answer) = post_json(&client, "/wide", body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["detail"][0]["type"], kind, "{body}: {answer}");
        assert_eq!(
            answer["detail"][0]["loc"],
            json!(["body", loc]),
            "{body}: {answer}"
        );
    }
    // At the bounds, they are taken exactly.
    let body = r#"{"n":340282366920938463463374607431768211455,"m":-170141183460469231731687303715884105728}"#;
    let (status, answer) = post_json(&client, "/wide", body).await;
    assert_eq!(status, 200, "{answer}");
}
