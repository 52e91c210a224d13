//! Responses as axum's and FastAPI's handlers give them: headers beside a response
//! (`([(name, value); N], T)`, `(StatusCode, headers, T)`, a `HeaderMap`), `Html` and
//! `Redirect`, in process and in the OpenAPI document; a header or location that is not valid
//! is the handler's mistake, a generic 500 that its teardowns see.

mod common;

use common::{events, log, serial};
use di_runtime::TestResponse;
use di_runtime::http::HeaderName;
use di_runtime::http::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use di_runtime::prelude::*;
use serde_json::{Value, json};

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Note {
    id: u32,
}

/// Tells what the request ended as, as a transaction's commit or rollback would.
#[depends(scope = "handler")]
async fn tx(y: Yield<()>) {
    let ((), outcome) = y.provide(()).await;
    log(format!("tx: {outcome}"));
}

#[depends]
async fn created(#[dep(tx)] _tx: &()) -> (StatusCode, [(HeaderName, String); 1], Json<Note>) {
    (
        StatusCode::CREATED,
        [(LOCATION, format!("/notes/{}", 7))],
        Json(Note { id: 7 }),
    )
}

#[depends]
async fn cookies() -> ([(&'static str, &'static str); 3], &'static str) {
    (
        [
            ("x-count", "2"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ],
        "two cookies",
    )
}

#[depends]
async fn problem() -> (StatusCode, [(HeaderName, &'static str); 1], Json<Value>) {
    (
        StatusCode::BAD_REQUEST,
        [(CONTENT_TYPE, "application/problem+json")],
        Json(json!({"title": "bad"})),
    )
}

#[depends]
async fn header_map() -> (HeaderMap, String) {
    let mut headers = HeaderMap::new();
    headers.insert("x-one", "1".parse().expect("a valid value"));
    headers.append(SET_COOKIE, "a=1".parse().expect("a valid value"));
    headers.append(SET_COOKIE, "b=2".parse().expect("a valid value"));
    (headers, "from a map".to_owned())
}

#[depends]
async fn bad_name(#[dep(tx)] _tx: &()) -> ([(&'static str, &'static str); 1], &'static str) {
    ([("not a name", "v")], "never sent")
}

#[depends]
async fn bad_value(#[dep(tx)] _tx: &()) -> (StatusCode, [(&'static str, String); 1], &'static str) {
    (
        StatusCode::CREATED,
        [("x-secret", "line\nbreak".to_owned())],
        "never sent",
    )
}

#[depends]
async fn page() -> Html<String> {
    Html(format!("<h1>{}</h1>", "Notes"))
}

#[depends]
async fn moved(Path(id): Path<u32>) -> Redirect {
    match id {
        1 => Redirect::to("/notes/1"),
        2 => Redirect::temporary("/notes/2"),
        3 => Redirect::permanent("https://example.com/notes/3?x=y"),
        _ => Redirect::to("/notes/\r\nx-injected: yes"),
    }
}

/// A login check that sends the browser to the login page, as web apps do.
#[depends]
async fn signed_in(headers: &HeaderMap) -> Result<String, Redirect> {
    match headers.get("cookie").and_then(|c| c.to_str().ok()) {
        Some(cookie) if cookie.starts_with("user=") => Ok(cookie[5..].to_owned()),
        _ => Err(Redirect::to("/login?next=/account")),
    }
}

#[depends]
async fn account(#[dep(tx)] _tx: &(), #[dep(signed_in)] user: &String) -> Html<String> {
    Html(format!("<p>{user}</p>"))
}

fn app() -> App {
    App::new()
        .get("/account", account)
        .post("/created", created)
        .get("/cookies", cookies)
        .get("/problem", problem)
        .get("/map", header_map)
        .get("/bad-name", bad_name)
        .get("/bad-value", bad_value)
        .get("/page", page)
        .get("/moved/{id}", moved)
}

fn all<'a>(response: &'a TestResponse, name: &str) -> Vec<&'a str> {
    response
        .headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().expect("text"))
        .collect()
}

#[tokio::test]
async fn headers_beside_a_response_are_sent_with_it() {
    let _serial = serial().await;
    let client = TestClient::start(app()).await.expect("the app starts");

    let response = client.post("/created").send().await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.header("location"), Some("/notes/7"));
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!({"id": 7})
    );

    // A name given twice in one array gives both values; a name given once replaces.
    let response = client.get("/cookies").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(all(&response, "set-cookie"), ["a=1", "b=2"]);
    assert_eq!(all(&response, "x-count"), ["2"]);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.text().await.expect("text"), "two cookies");

    // A content type given beside `Json` wins over the one `Json` sets.
    let response = client.get("/problem").send().await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(all(&response, "content-type"), ["application/problem+json"]);

    let response = client.get("/map").send().await;
    assert_eq!(all(&response, "x-one"), ["1"]);
    assert_eq!(all(&response, "set-cookie"), ["a=1", "b=2"]);
    assert_eq!(response.text().await.expect("text"), "from a map");

    client.settle().await;
    assert!(
        events().contains(&"tx: success (201)".to_owned()),
        "{:?}",
        events()
    );
    client.shutdown().await;
}

#[tokio::test]
async fn an_invalid_header_is_a_generic_500_its_teardowns_see() {
    let _serial = serial().await;
    let client = TestClient::start(app()).await.expect("the app starts");
    for path in ["/bad-name", "/bad-value"] {
        let response = client.get(path).send().await;
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
        assert!(response.header("x-secret").is_none());
        let body = response.text().await.expect("text");
        assert_eq!(body, r#"{"detail":"Internal Server Error"}"#, "{path}");
    }
    client.settle().await;
    let told: Vec<String> = events()
        .into_iter()
        .filter(|e| e.starts_with("tx:"))
        .collect();
    assert_eq!(
        told,
        ["tx: handler error (500)", "tx: handler error (500)"],
        "the teardowns are told the 500, not the status the handler gave"
    );
    client.shutdown().await;
}

#[tokio::test]
async fn html_and_redirects() {
    let _serial = serial().await;
    let client = TestClient::start(app()).await.expect("the app starts");

    let response = client.get("/page").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(response.text().await.expect("text"), "<h1>Notes</h1>");

    for (id, status, location) in [
        (1, StatusCode::SEE_OTHER, "/notes/1"),
        (2, StatusCode::TEMPORARY_REDIRECT, "/notes/2"),
        (
            3,
            StatusCode::PERMANENT_REDIRECT,
            "https://example.com/notes/3?x=y",
        ),
    ] {
        let response = client.get(&format!("/moved/{id}")).send().await;
        assert_eq!(response.status(), status);
        assert_eq!(response.header("location"), Some(location));
        assert_eq!(response.text().await.expect("text"), "");
    }

    // A location with a line break cannot smuggle a header in: a generic 500.
    let response = client.get("/moved/4").send().await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.header("location").is_none());
    assert!(response.header("x-injected").is_none());
    client.shutdown().await;
}

/// A dependency that answers with a redirect instead of its value: the redirect is the
/// response, and the teardowns are told the setup failed.
#[tokio::test]
async fn a_dependency_can_answer_with_a_redirect() {
    let _serial = serial().await;
    let client = TestClient::start(app()).await.expect("the app starts");
    let response = client.get("/account").send().await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.header("location"), Some("/login?next=/account"));
    assert_eq!(response.text().await.expect("text"), "");

    let response = client
        .get("/account")
        .header("cookie", "user=ada")
        .send()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("text"), "<p>ada</p>");
    client.settle().await;
    let told: Vec<String> = events()
        .into_iter()
        .filter(|e| e.starts_with("tx:"))
        .collect();
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(told[0].contains("signed_in"), "{told:?}");
    assert_eq!(told[1], "tx: success (200)");
    client.shutdown().await;
}

/// `TestClient::patch` and `head`, as FastAPI's test client has them: a `PATCH` reaches a
/// route that has no such method as a 405, and a `HEAD` of a `GET` route has the headers beside
/// the body and no body.
#[tokio::test]
async fn the_test_client_sends_patch_and_head() {
    let _serial = serial().await;
    let client = TestClient::start(app()).await.expect("the app starts");
    let response = client.patch("/cookies").send().await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let response = client.head("/cookies").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(all(&response, "set-cookie"), ["a=1", "b=2"]);
    assert_eq!(response.text().await.expect("no body"), "");
    client.shutdown().await;
}

#[test]
fn redirect_reports_its_status_and_location() {
    let redirect = Redirect::temporary("/elsewhere");
    assert_eq!(redirect.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(redirect.location(), Some("/elsewhere"));
    assert_eq!(Redirect::to("/a\nb").location(), None);
}

#[test]
fn the_document_reads_the_body_beside_headers_and_html() {
    let doc = app().openapi().expect("the app is valid");
    let v: Value = serde_json::from_str(&doc.to_json()).expect("JSON");
    let created = &v["paths"]["/created"]["post"]["responses"]["200"]["content"];
    assert_eq!(
        created["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/Note"}),
        "{created}"
    );
    let page = &v["paths"]["/page"]["get"]["responses"]["200"]["content"];
    assert_eq!(
        page["text/html"]["schema"],
        json!({"type": "string"}),
        "{page}"
    );
    let moved = &v["paths"]["/moved/{id}"]["get"]["responses"]["200"];
    assert!(
        moved
            .get("content")
            .is_none_or(|c| c.as_object().is_some_and(|o| o.is_empty())),
        "{moved}"
    );
}
