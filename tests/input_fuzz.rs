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

fn pinned_app() -> App {
    App::new().post("/internal", internal)
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
