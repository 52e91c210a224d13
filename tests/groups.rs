//! Router groups and dependencies without a parameter (issue 7, section 6): `App::dependency`,
//! `Group::dependency`, `App::nest`/`Group::nest`, FastAPI's `FastAPI(dependencies=[...])`,
//! `APIRouter(prefix=..., dependencies=[...])`, `include_router`, and `#[depends(uses(f))]`
//! (`dependencies=[...]` on one path operation). Each test asserts the
//! exact order of events, as `semantics.rs` does.

mod common;

use common::{events, log, serial};
use di_runtime::prelude::*;
use serde_json::{Value, json};

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::SetupFailed { dependency, error } => {
            format!("setup-failed {dependency} {}", error.status().as_u16())
        }
        other => other.to_string(),
    }
}

/// App-level: a `request`-scoped generator, torn down after the body.
#[depends]
async fn audit(y: Yield<()>) {
    log("audit:open");
    let ((), outcome) = y.provide(()).await;
    log(format!("audit:close {}", describe(&outcome)));
}

/// Group-level: a plain check that answers 401 without the right header.
#[depends]
async fn auth(head: &HeaderMap) -> Result<(), HttpError> {
    let ok = head.get("x-api-key").is_some_and(|v| v == "secret");
    log(format!("auth {}", if ok { "ok" } else { "refused" }));
    if ok {
        Ok(())
    } else {
        Err(HttpError::new(
            StatusCode::UNAUTHORIZED,
            "Not authenticated",
        ))
    }
}

/// Nested group: a `handler`-scoped generator, torn down before the response head.
#[depends(scope = "handler")]
async fn tenant(y: Yield<&'static str>) {
    log("tenant:open");
    let (_, outcome) = y.provide("acme").await;
    log(format!("tenant:close {}", describe(&outcome)));
}

/// The handler's own: a `handler`-scoped generator.
#[depends(scope = "handler")]
async fn tx(y: Yield<()>) {
    log("tx:open");
    let ((), outcome) = y.provide(()).await;
    log(format!("tx:close {}", describe(&outcome)));
}

#[depends]
async fn show(#[dep(tx)] _tx: &(), Path(id): Path<u32>) -> String {
    log(format!("handler {id}"));
    format!("user {id}")
}

fn nested_app() -> App {
    App::new().dependency(audit).nest(
        Group::new("/admin")
            // Added after a route, still run for it: a group's dependencies are applied
            // when it is mounted.
            .nest(Group::new("/users").dependency(tenant).get("/{id}", show))
            .dependency(auth),
    )
}

#[tokio::test]
async fn app_then_outer_group_then_inner_group_then_handler_dependencies_set_up_in_order() {
    let _serial = serial().await;
    let client = TestClient::start(nested_app()).await.unwrap();
    let response = client
        .get("/admin/users/7")
        .header("x-api-key", "secret")
        .send()
        .await;
    log(format!("head {}", response.status().as_u16()));
    assert_eq!(response.text().await.unwrap(), "user 7");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "audit:open",
            "auth ok",
            "tenant:open",
            "tx:open",
            "handler 7",
            // `handler` scope, LIFO, before the head.
            "tx:close success 200",
            "tenant:close success 200",
            "head 200",
            // `request` scope after the body.
            "audit:close success 200",
        ]
    );
}

#[tokio::test]
async fn a_failing_group_dependency_is_the_response_and_what_was_set_up_is_torn_down() {
    let _serial = serial().await;
    let client = TestClient::start(nested_app()).await.unwrap();
    let response = client.get("/admin/users/7").send().await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"detail": "Not authenticated"}));
    client.settle().await;
    // Neither `tenant`, `tx` nor the handler ran; `audit` saw the failure.
    assert_eq!(
        events(),
        [
            "audit:open",
            "auth refused",
            "audit:close setup-failed auth 401",
        ]
    );
}

// ------------------------------------------------------------------------- caching

#[derive(Clone)]
struct User(&'static str);

#[depends]
async fn current_user() -> User {
    log("current_user");
    User("alice")
}

#[depends]
async fn whoami(#[dep(current_user)] user: &User) -> String {
    log("handler");
    user.0.to_owned()
}

#[tokio::test]
async fn a_group_dependency_is_cached_with_the_handlers_use_of_the_same_function() {
    let _serial = serial().await;
    let app = App::new()
        .dependency(current_user)
        .nest(Group::new("/me").dependency(current_user).get("", whoami));
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/me").send().await;
    assert_eq!(response.text().await.unwrap(), "alice");
    client.settle().await;
    assert_eq!(events(), ["current_user", "handler"]);
}

// ------------------------------------------------------------------------- overrides

#[depends]
async fn allow_all() -> Result<(), HttpError> {
    log("allow_all");
    Ok(())
}

#[depends]
async fn stats() -> &'static str {
    log("handler");
    "42"
}

#[tokio::test]
async fn an_override_replaces_a_group_dependency() {
    let _serial = serial().await;
    let app = App::new()
        .nest(Group::new("/admin").dependency(auth).get("/stats", stats))
        .override_dep(auth, allow_all);
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/admin/stats").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "42");
    client.settle().await;
    assert_eq!(events(), ["allow_all", "handler"]);
}

// ------------------------------------------------------------------------- start-time checks

#[depends(scope = "handler")]
async fn short(y: Yield<()>) {
    let ((), _) = y.provide(()).await;
}

/// `request`-scoped, over a `handler`-scoped value: breaks the scope rule.
#[depends(scope = "request")]
async fn long(#[dep(short)] _s: &(), y: Yield<()>) {
    let ((), _) = y.provide(()).await;
}

#[test]
fn check_rejects_a_group_dependency_that_breaks_the_scope_rule_naming_the_group() {
    let app = App::new()
        .nest(Group::new("/admin").nest(Group::new("/deep").dependency(long).get("/stats", stats)));
    let error = app.check().expect_err("the scope rule is broken");
    assert_eq!(
        error.problems(),
        [
            "route GET /admin/deep/stats: dependency `long` of group `/admin/deep`: dependency chain `stats` -> `long` -> `short`: `long` is `request`-scoped and cannot depend on `short`: `short` is `handler`-scoped; make `short` `request`-scoped, or make `long` `handler`-scoped"
        ]
    );
    let app = App::new().dependency(long).get("/stats", stats);
    let error = app.check().expect_err("the scope rule is broken");
    assert_eq!(error.problems().len(), 1);
    assert!(
        error.problems()[0].starts_with("route GET /stats: dependency `long` of the app: "),
        "{error}"
    );
}

#[test]
fn check_rejects_a_bad_prefix_and_an_empty_path() {
    let app = App::new()
        .nest(Group::new("admin").get("/a", stats))
        .nest(Group::new("/trailing/").get("/b", stats))
        .nest(Group::new("").get("", stats))
        .nest(Group::new("/users").get("list", stats));
    let error = app.check().expect_err("bad prefixes");
    assert_eq!(
        error.problems(),
        [
            "group `admin`: a prefix must be empty, or start with `/` and not end with `/`",
            "group `/trailing/`: a prefix must be empty, or start with `/` and not end with `/`",
            "route GET list: a path starts with `/`; write `/list`",
            "route GET : the path (with its groups' prefixes) is empty; a path starts with `/`",
        ]
    );
}

// ------------------------------------------------------------------------- prefixes

#[depends]
async fn slash() -> &'static str {
    "slash"
}

#[depends]
async fn bare() -> &'static str {
    "bare"
}

#[depends]
async fn items() -> &'static str {
    "items"
}

#[tokio::test]
async fn prefixes_join_as_written_and_misses_under_a_prefix_are_404_and_405() {
    let _serial = serial().await;
    let app = App::new()
        .nest(Group::new("/admin").get("/", slash).get("", bare))
        .nest(Group::new("").get("/x", items))
        .nest(Group::new("/api").nest(Group::new("/v1").post("/items", items)));
    let client = TestClient::start(app).await.unwrap();
    let text = |uri: &'static str| {
        let client = &client;
        async move {
            let response = client.get(uri).send().await;
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    // "/admin" + "/" is "/admin/", "/admin" + "" is "/admin" (FastAPI's concatenation).
    assert_eq!(text("/admin/").await, (200, "slash".into()));
    assert_eq!(text("/admin").await, (200, "bare".into()));
    // An empty prefix adds nothing.
    assert_eq!(text("/x").await, (200, "items".into()));
    // Under a prefix: an unknown path is 404, a known one with another method is 405.
    assert_eq!(
        text("/admin/nope").await,
        (404, r#"{"detail":"Not Found"}"#.into())
    );
    assert_eq!(text("/v1/items").await.0, 404);
    let response = client.get("/api/v1/items").send().await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.header("allow"), Some("POST"));
    let response = client.post("/api/v1/items").send().await;
    assert_eq!(response.text().await.unwrap(), "items");
    client.settle().await;
}

// ------------------------------------------------------------------------- the graph

#[test]
fn the_graph_shows_app_and_group_dependencies_as_edges_to_the_handler() {
    let app = App::new()
        .dependency(audit)
        .nest(Group::new("/me").dependency(current_user).get("", whoami));
    let mermaid = app.graph().unwrap().mermaid();
    let expected = r#"flowchart LR
  subgraph route0["GET /me: whoami"]
    r0n0(["audit<br/>request · yield"])
    r0n1["current_user<br/>request · plain"]
    r0n2{{"whoami"}}
  end
  r0n1 --> r0n2
  r0n0 -->|"app dependency"| r0n2
  r0n1 -->|"group /me"| r0n2
  classDef request fill:#e8f5e9,stroke:#2e7d32,color:#000
  class r0n0,r0n1 request
  classDef route fill:#ffffff,stroke:#424242,stroke-width:2px,color:#000
  class r0n2 route
"#;
    assert_eq!(mermaid, expected);
}

// ------------------------------------------------------------------------- uses(...)

#[depends(scope = "handler")]
async fn rate_limit(y: Yield<()>) {
    log("rate_limit:open");
    let ((), outcome) = y.provide(()).await;
    log(format!("rate_limit:close {}", describe(&outcome)));
}

/// A dependency with a `uses` of its own: `audit` runs before it, for its teardown.
#[depends(uses(audit))]
async fn profile(#[dep(current_user)] user: &User) -> String {
    log("profile");
    format!("{} (profile)", user.0)
}

/// `uses` runs before the handler's parameters' dependencies, in the order written.
#[depends(uses(rate_limit, current_user))]
async fn me(#[dep(profile)] profile: &String, #[dep(current_user)] user: &User) -> String {
    log("handler");
    format!("{profile} / {}", user.0)
}

#[tokio::test]
async fn uses_runs_a_dependency_whose_value_no_parameter_takes_cached_and_torn_down_in_order() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/me", me)).await.unwrap();
    let response = client.get("/me").send().await;
    assert_eq!(response.text().await.unwrap(), "alice (profile) / alice");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "rate_limit:open",
            // One instance for `uses(current_user)`, `profile`'s and the handler's parameters.
            "current_user",
            "audit:open",
            "profile",
            "handler",
            "rate_limit:close success 200",
            "audit:close success 200",
        ]
    );
}

#[depends(uses(short))]
async fn uses_short() -> &'static str {
    "x"
}

/// A `request`-scoped generator whose `uses` is `handler`-scoped breaks the scope rule.
#[depends(uses(uses_short))]
async fn long_user(y: Yield<()>) {
    let ((), _) = y.provide(()).await;
}

#[depends(uses(long_user))]
async fn guarded() -> &'static str {
    "ok"
}

#[test]
fn check_applies_the_scope_rule_to_uses_and_the_graph_draws_them() {
    let error = App::new()
        .get("/", guarded)
        .check()
        .expect_err("the scope rule is broken");
    assert_eq!(
        error.problems(),
        [
            "route GET /: dependency chain `guarded` -> `long_user` -> `uses_short` -> `short`: `long_user` is `request`-scoped and cannot depend on `uses_short`: `uses_short` lives only as long as `short`, which is `handler`-scoped (`uses_short` -> `short`); make `short` `request`-scoped, or make `long_user` `handler`-scoped"
        ]
    );
    let mermaid = App::new()
        .get("/", uses_short)
        .override_dep(short, rate_limit)
        .graph()
        .unwrap()
        .mermaid();
    assert!(
        mermaid.contains(r#"r0n0(["rate_limit (overrides short)<br/>handler · yield"])"#),
        "{mermaid}"
    );
    assert!(mermaid.contains(r#"r0n0 -->|"uses"| r0n1"#), "{mermaid}");
}

// ------------------------------------------------ an app dependency's teardown fails (FastAPI A08-A11)

#[depends(scope = "handler")]
async fn raise_after_provide_handler(y: Yield<u8>) -> Result<(), HttpError> {
    let _ = y.provide(1).await;
    log("handler-scoped app dependency fails");
    Err(HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Exception after yield",
    ))
}

#[depends]
async fn raise_after_provide_request(y: Yield<u8>) -> Result<(), HttpError> {
    let _ = y.provide(2).await;
    log("request-scoped group dependency fails");
    Err(HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Exception after yield",
    ))
}

#[depends]
async fn status_ok() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `FastAPI(dependencies=[Depends(raise_after_yield, scope="function")])` answers 503; the
/// `scope="request"` one, on a router, cannot change the 200 already sent.
#[tokio::test]
async fn a_failing_teardown_of_an_app_or_group_dependency_replaces_the_response_only_in_handler_scope()
 {
    let _serial = serial().await;
    let app = App::new()
        .dependency(raise_after_provide_handler)
        .get("/app-scope-function", status_ok);
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/app-scope-function").send().await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "Exception after yield"})
    );
    client.shutdown().await;

    let app = App::new().nest(
        Group::new("/router-scope-request")
            .dependency(raise_after_provide_request)
            .get("/", status_ok),
    );
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/router-scope-request/").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
    client.settle().await;
    assert_eq!(client.running().teardown_failures(), 1);
    client.shutdown().await;
    assert_eq!(
        events(),
        [
            "handler-scoped app dependency fails",
            "request-scoped group dependency fails"
        ]
    );
}
