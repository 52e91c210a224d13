//! A FastAPI service ported to di, walked request by request against the FastAPI original:
//! each test here failed before the fix named in CHANGELOG.md, and shows what a FastAPI user
//! gets now.

mod common;

use di_runtime::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

// ------------------ 1. the test client sends a URI as FastAPI's (httpx) does

#[derive(Deserialize)]
struct Search {
    q: Option<String>,
}

#[depends]
async fn post_by_slug(Path(slug): Path<String>, Query(search): Query<Search>) -> Json<Value> {
    Json(json!({ "slug": slug, "q": search.q }))
}

/// `client.get("/posts/héllo wörld")` in FastAPI's `TestClient` sends
/// `/posts/h%C3%A9llo%20w%C3%B6rld`; di's test client answered its own empty 400 instead,
/// without sending the request.
#[tokio::test]
async fn the_test_client_percent_encodes_spaces_and_non_ascii_as_fastapis_does() {
    let client = TestClient::start(App::new().get("/posts/{slug}", post_by_slug))
        .await
        .unwrap();
    let response = client.get("/posts/héllo wörld?q=été à").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "slug": "héllo wörld", "q": "été à" }));

    // What is already encoded stays as it is.
    let response = client.get("/posts/a%2Fb%20c?q=x%26y").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "slug": "a/b c", "q": "x&y" }));
    client.shutdown().await;
}

// ------------------ 2. an optional JSON body: FastAPI's `item: Item | None = None`

#[derive(Deserialize, serde::Serialize, validator::Validate, schemars::JsonSchema)]
struct Patch {
    #[validate(length(min = 1))]
    title: String,
}

#[depends]
async fn patch_todo(body: Option<Json<Patch>>) -> Json<Value> {
    Json(json!({ "patch": body.map(|Json(patch)| patch) }))
}

/// FastAPI answers a request without a body (or with `null`) to `item: Item | None = None`
/// with `item` `None`, and checks a body that is there as it checks `item: Item`; di had no
/// optional body (`Option<Json<T>>` was "not a request input", `Json<Option<T>>` is 422
/// `missing` without a body).
#[tokio::test]
async fn an_optional_json_body_is_none_without_a_body_and_checked_with_one() {
    let client = TestClient::start(App::new().patch("/todos", patch_todo))
        .await
        .unwrap();
    let sent = |body: Option<&'static str>, json: bool| {
        let mut request = client.patch("/todos");
        if json {
            request = request.header("content-type", "application/json");
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        async move {
            let response = request.send().await;
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    // No body at all, an empty JSON body, and `null`: `None`, as in FastAPI.
    for (body, json) in [(None, false), (None, true), (Some("null"), true)] {
        assert_eq!(
            sent(body, json).await,
            (StatusCode::OK, json!({ "patch": null })),
            "{body:?}"
        );
    }
    assert_eq!(
        sent(Some(r#"{"title":"new"}"#), true).await,
        (StatusCode::OK, json!({ "patch": { "title": "new" } }))
    );
    // A body that is there is checked as a required one is: its type, its rules, its syntax,
    // its content type (FastAPI's answers byte for byte).
    assert_eq!(
        sent(Some(r#"{"title":1}"#), true).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail":[{"type":"string_type","loc":["body","title"],"msg":"Input should be a valid string","input":1}]})
        )
    );
    assert_eq!(
        sent(Some(r#"{"title":""}"#), true).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail":[{"type":"string_too_short","loc":["body","title"],"msg":"String should have at least 1 character","input":"","ctx":{"min_length":1}}]})
        )
    );
    assert_eq!(
        sent(Some(r#"{"title":"#), true).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail":[{"type":"json_invalid","loc":["body",9],"msg":"JSON decode error","input":{},"ctx":{"error":"Expecting value"}}]})
        )
    );
    assert_eq!(
        sent(Some(r#"{"title":"new"}"#), false).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":"{\"title\":\"new\"}"}]})
        )
    );
    client.shutdown().await;

    // The OpenAPI document says the body is optional.
    let doc =
        serde_json::to_value(App::new().patch("/todos", patch_todo).openapi().unwrap()).unwrap();
    let body = &doc["paths"]["/todos"]["patch"]["requestBody"];
    assert_eq!(body["required"], json!(false), "{body}");
}
