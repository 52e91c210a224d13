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
