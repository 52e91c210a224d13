//! A newcomer's first day with `#[depends]` (an axum or FastAPI user who has read the README):
//! the mistakes that compile and are refused when the app is checked, and what `App::check`
//! says of each: the user's functions by name, the rule, and the fix. The mistakes the
//! compiler refuses are `tests/ui/depends/fail/walk-*.rs`.

use di_runtime::prelude::*;

struct Db;

#[depends]
async fn db() -> Db {
    Db
}

#[depends]
async fn user(headers: &HeaderMap) -> String {
    format!("{} headers", headers.len())
}

/// FastAPI's `Depends(db, scope="function")` inside a `request`-scoped dependency.
#[depends(scope = "request")]
async fn audit(#[dep(db, scope = "handler")] _db: &Db) -> u8 {
    0
}

#[depends]
async fn audited(#[dep(audit)] a: &u8) -> String {
    a.to_string()
}

#[depends(scope = "app")]
async fn cache(#[dep(user)] user: &String) -> String {
    user.clone()
}

#[depends]
async fn cached(#[dep(cache)] c: &String) -> String {
    c.clone()
}

#[depends(scope = "app")]
async fn config() -> String {
    "config".to_owned()
}

#[depends]
async fn edit_config(#[dep(config)] c: &mut String) -> String {
    c.push('!');
    c.clone()
}

#[depends]
async fn note(Path(id): Path<u32>) -> String {
    id.to_string()
}

#[depends]
async fn file(Path(rest): Path<String>) -> String {
    rest
}

/// The one problem `App::check` finds in `app`.
fn problem(app: App) -> String {
    let problems = app
        .check()
        .expect_err("the app must be refused")
        .to_string();
    let lines: Vec<&str> = problems.lines().skip(1).collect();
    assert_eq!(lines.len(), 1, "{problems}");
    lines[0].trim_start_matches("  - ").to_owned()
}

#[test]
fn a_use_site_handler_scope_inside_a_request_scoped_dependency_names_the_use_and_both_fixes() {
    assert_eq!(
        problem(App::new().get("/", audited)),
        "route GET /: dependency chain `audited` -> `audit` -> `db`: `audit` is `request`-scoped and cannot depend on `db`: `audit` takes `db` with `scope = \"handler\"`; drop `scope = \"handler\"` from that use, or make `audit` `handler`-scoped"
    );
}

#[test]
fn an_app_scoped_dependency_on_one_that_reads_the_request_is_told_the_one_fix() {
    assert_eq!(
        problem(App::new().get("/", cached)),
        "route GET /: dependency chain `cached` -> `cache` -> `user`: `cache` is `app`-scoped and cannot depend on `user`: `user` is `request`-scoped; `user` reads the request, so it cannot be `app`-scoped either; make `cache` `request`-scoped"
    );
}

#[test]
fn a_mut_borrow_of_an_app_scoped_value_says_it_is_shared_by_all_requests() {
    assert_eq!(
        problem(App::new().get("/", edit_config)),
        "route GET /: `edit_config` takes `&mut` of `config`, which is `app`-scoped and shared by all requests; take `&T` and use interior mutability"
    );
}

#[test]
fn an_axum_0_7_path_parameter_is_told_the_brace_syntax() {
    assert_eq!(
        problem(App::new().get("/notes/:id", note)),
        "route GET /notes/:id: `note` takes `Path<..>`, which reads the path's `{name}` parameters, but this path has none: `:id` is a fixed segment here (the `:name` syntax of axum 0.7 and Express); write the parameter `{id}`"
    );
    assert_eq!(
        problem(App::new().get("/files/*rest", file)),
        "route GET /files/*rest: `file` takes `Path<..>`, which reads the path's `{name}` parameters, but this path has none: `*rest` is a fixed segment here (the `*name` syntax of axum 0.7 and Express); write the parameter `{*rest}`"
    );
    assert!(App::new().get("/notes/{id}", note).check().is_ok());
}

#[test]
fn a_path_input_on_a_route_without_parameters_says_to_add_one() {
    assert_eq!(
        problem(App::new().get("/notes", note)),
        "route GET /notes: `note` takes `Path<..>`, which reads the path's `{name}` parameters, but this path has none; add one (as in `/items/{id}`) or read the value another way"
    );
}

#[depends]
async fn echo_token(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("none")
        .to_owned()
}

/// A test builds a header from a `String` (a token it made): `TestRequest::header` took
/// `&str` only, and `.header("authorization", format!(..))` did not compile.
#[tokio::test]
async fn the_test_clients_header_takes_owned_text() {
    let client = TestClient::start(App::new().get("/", echo_token))
        .await
        .unwrap();
    let token = format!("Bearer {}", 42);
    let response = client.get("/").header("authorization", &token).send().await;
    assert_eq!(response.text().await.unwrap(), "Bearer 42");
    let name = String::from("authorization");
    let response = client.get("/").header(name, token).send().await;
    assert_eq!(response.text().await.unwrap(), "Bearer 42");
    client.shutdown().await;
}
