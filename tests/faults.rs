//! Failure paths: bad input, routing errors, failing and panicking teardowns, cancellation
//! (client gone, timeout), overrides, and graph errors reported before serving.

mod common;

use std::time::Duration;

use common::{count, events, log, position, serial, wait_for};
use di_runtime::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::HandlerError { status, .. } => format!("handler-error {}", status.as_u16()),
        Outcome::SetupFailed { dependency, .. } => format!("setup-failed {dependency}"),
        Outcome::TeardownFailed { dependency, error } => {
            format!("teardown-failed {dependency} {}", error.status().as_u16())
        }
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        other => other.to_string(),
    }
}

#[depends]
async fn side_effect(y: Yield<u8>) {
    log("side-effect:open");
    let (_, outcome) = y.provide(1).await;
    log(format!("side-effect:close {}", describe(&outcome)));
}

#[depends(scope = "handler")]
async fn fn_dep(y: Yield<u8>) {
    log("fn:open");
    let (_, outcome) = y.provide(2).await;
    log(format!("fn:close {}", describe(&outcome)));
}

// ---------------------------------------------------------------- bad input

#[derive(Deserialize)]
struct Page {
    limit: u32,
    #[allow(dead_code, reason = "deserialized only")]
    q: Option<String>,
}

#[derive(Deserialize)]
struct NewNote {
    title: String,
    #[allow(dead_code, reason = "deserialized only")]
    body: String,
}

#[depends]
async fn create(
    #[dep(side_effect)] _s: &u8,
    Path(id): Path<u32>,
    Query(page): Query<Page>,
    Json(note): Json<NewNote>,
) -> String {
    format!("{id} {} {}", page.limit, note.title)
}

#[tokio::test]
async fn bad_input_is_one_422_listing_every_problem_before_any_setup() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().post("/items/{id}", create))
        .await
        .unwrap();
    let response = client
        .post("/items/abc?limit=many")
        .json(&json!({"title": 5}))
        .send()
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    let locs: Vec<&Value> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["loc"])
        .collect();
    assert_eq!(
        locs,
        [
            &json!(["path", "id"]),
            &json!(["query", "limit"]),
            &json!(["body", "title"]),
            &json!(["body", "body"])
        ],
        "{body}"
    );
    client.settle().await;
    assert_eq!(
        events(),
        Vec::<String>::new(),
        "no dependency is set up for bad input"
    );

    let response = client
        .post("/items/7?limit=3")
        .json(&json!({"title": "t"}))
        .send()
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["detail"][0]["loc"], json!(["body", "body"]));
    assert_eq!(body["detail"][0]["type"], json!("missing"));

    let response = client
        .post("/items/7?limit=3")
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["detail"][0]["type"], json!("json_invalid"));

    let response = client
        .post("/items/7?limit=3")
        .body(r#"{"title":"t","body":"b"}"#)
        .send()
        .await;
    assert_eq!(
        response.status(),
        422,
        "a JSON body needs a JSON content type"
    );

    let response = client
        .post("/items/7?limit=3")
        .json(&json!({"title": "t", "body": "b"}))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "7 3 t");
    // Waits for the last request's `request`-scope teardown: run after this test had ended, it
    // logged into the next test's events (the log is shared), under load about once in ten runs.
    client.settle().await;
    assert_eq!(
        events(),
        ["side-effect:open", "side-effect:close success 200"]
    );
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let client = TestClient::start(App::new().post("/items/{id}", create).body_limit(16))
        .await
        .unwrap();
    let response = client
        .post("/items/1?limit=1")
        .json(&json!({"title": "a long title", "body": "x"}))
        .send()
        .await;
    assert_eq!(response.status(), 413);
}

// ---------------------------------------------------------------- routing

#[depends]
async fn hello() -> &'static str {
    "hello"
}

#[tokio::test]
async fn unknown_path_is_404_and_wrong_method_is_405_with_allow() {
    let client = TestClient::start(App::new().get("/hello", hello).put("/hello", hello))
        .await
        .unwrap();
    let response = client.get("/nope").send().await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "Not Found"})
    );
    let response = client.delete("/hello").send().await;
    assert_eq!(response.status(), 405);
    // `HEAD` is served by the `GET` route: it is allowed too.
    assert_eq!(response.header("allow"), Some("GET, HEAD, PUT"));
}

#[tokio::test]
async fn invalid_and_duplicate_routes_are_reported_together() {
    let app = App::new()
        .get("/a/{", hello)
        .get("/b", hello)
        .get("/b", hello)
        .get("c", hello);
    let message = app.check().unwrap_err().to_string();
    assert!(
        message.contains("route GET c: a path starts with `/`; write `/c`"),
        "{message}"
    );
    assert!(
        message.contains("route GET /a/{: invalid path"),
        "{message}"
    );
    assert!(
        message.contains("route GET /b: registered twice"),
        "{message}"
    );
}

// ---------------------------------------------------------------- teardown failures

#[depends(scope = "handler")]
async fn failing_commit(y: Yield<u8>) -> Result<(), HttpError> {
    let (_, _outcome) = y.provide(3).await;
    log("commit fails");
    Err(HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "commit failed",
    ))
}

#[depends]
async fn commits(
    #[dep(side_effect)] _s: &u8,
    #[dep(fn_dep)] _f: &u8,
    #[dep(failing_commit)] _c: &u8,
) -> &'static str {
    "created"
}

#[tokio::test]
async fn failing_handler_teardown_replaces_the_response_and_later_teardowns_see_it() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().post("/", commits))
        .await
        .unwrap();
    let response = client.post("/").send().await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "commit failed"})
    );
    client.settle().await;
    assert_eq!(
        events(),
        [
            "side-effect:open",
            "fn:open",
            "commit fails",
            "fn:close teardown-failed failing_commit 503",
            "side-effect:close teardown-failed failing_commit 503"
        ]
    );
}

#[depends]
async fn failing_close(y: Yield<u8>) -> Result<(), std::io::Error> {
    let _ = y.provide(4).await;
    log("close fails");
    Err(std::io::Error::other("disk full"))
}

#[depends]
async fn panicking_close(y: Yield<u8>) {
    let _ = y.provide(5).await;
    panic!("teardown panic");
}

#[depends]
async fn after_response(
    #[dep(side_effect)] _s: &u8,
    #[dep(failing_close)] _f: &u8,
    #[dep(panicking_close)] _p: &u8,
) -> &'static str {
    "sent"
}

#[tokio::test]
async fn failing_request_teardowns_cannot_change_the_response_are_counted_and_never_stop_the_others()
 {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", after_response))
        .await
        .unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "sent");
    client.settle().await;
    assert_eq!(client.running().teardown_failures(), 2);
    let events = events();
    assert_eq!(count(&events, "close fails"), 1, "{events:?}");
    // Told the first failure (teardown order: `panicking_close`, then `failing_close`).
    assert_eq!(
        count(
            &events,
            "side-effect:close teardown-failed panicking_close 500"
        ),
        1,
        "{events:?}"
    );
}

// Names its `Yield` (one that is never named does not compile) but drops it unprovided.
#[depends]
async fn forgets_to_provide(y: Yield<u8>) {
    drop(y);
}

#[depends]
async fn needs_forgetful(
    #[dep(side_effect)] _s: &u8,
    #[dep(forgets_to_provide)] _f: &u8,
) -> &'static str {
    "unreachable"
}

#[tokio::test]
async fn generator_that_never_provides_is_a_generic_500() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", needs_forgetful))
        .await
        .unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Internal Server Error"}"#
    );
    client.settle().await;
    assert_eq!(
        events(),
        [
            "side-effect:open",
            "side-effect:close setup-failed forgets_to_provide"
        ]
    );
}

// ---------------------------------------------------------------- cancellation

#[depends]
async fn slow_handler(#[dep(side_effect)] _s: &u8, #[dep(fn_dep)] _f: &u8) -> &'static str {
    log("handler starts");
    tokio::time::sleep(Duration::from_secs(30)).await;
    log("handler ends");
    "late"
}

#[tokio::test]
async fn request_dropped_mid_handler_tears_everything_down_with_client_gone() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", slow_handler))
        .await
        .unwrap();
    let sent = tokio::time::timeout(Duration::from_millis(50), client.get("/").send()).await;
    assert!(sent.is_err(), "the client gave up");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "side-effect:open",
            "fn:open",
            "handler starts",
            "fn:close cancelled client gone",
            "side-effect:close cancelled client gone"
        ]
    );
}

#[tokio::test]
async fn request_timeout_is_503_and_teardowns_see_timeout() {
    let _serial = serial().await;
    let app = App::new()
        .get("/", slow_handler)
        .request_timeout(Duration::from_millis(50));
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let _ = response.bytes().await;
    client.settle().await;
    assert_eq!(
        events(),
        [
            "side-effect:open",
            "fn:open",
            "handler starts",
            "fn:close cancelled timeout",
            "side-effect:close cancelled timeout"
        ]
    );
}

#[depends]
async fn a_bit_slow(#[dep(side_effect)] _s: &u8) -> &'static str {
    tokio::time::sleep(Duration::from_millis(200)).await;
    "done"
}

#[tokio::test]
async fn request_timeout_none_lets_a_slow_handler_finish() {
    let _serial = serial().await;
    // A limit the handler would exceed, then none: the last setting wins.
    let app = App::new()
        .get("/", a_bit_slow)
        .request_timeout(Duration::from_millis(50))
        .request_timeout(None);
    let client = TestClient::start(app).await.unwrap();
    let response = tokio::time::timeout(Duration::from_secs(30), client.get("/").send())
        .await
        .expect("the handler finishes");
    assert_eq!(response.status(), 200);
    let _ = response.bytes().await;
    client.settle().await;
    assert!(
        events()
            .iter()
            .any(|e| e == "side-effect:close success 200"),
        "{:?}",
        events()
    );
}

#[depends(scope = "handler")]
async fn slow_commit(y: Yield<u8>) {
    let _ = y.provide(6).await;
    log("commit starts");
    tokio::time::sleep(Duration::from_millis(100)).await;
    log("commit done");
}

#[depends]
async fn commits_slowly(#[dep(slow_commit)] _c: &u8) -> &'static str {
    "ok"
}

#[tokio::test]
async fn handler_teardown_is_shielded_from_the_client_going_away() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().post("/", commits_slowly))
        .await
        .unwrap();
    let sent = tokio::time::timeout(Duration::from_millis(30), client.post("/").send()).await;
    assert!(sent.is_err(), "the client left during the commit");
    client.settle().await;
    assert_eq!(
        events(),
        ["commit starts", "commit done"],
        "the commit was not cut in half"
    );
}

// ---------------------------------------------------------------- overrides

#[depends]
async fn user_name() -> String {
    log("real user_name");
    "from the database".into()
}

#[depends]
async fn fake_user_name(y: Yield<String>) {
    log("fake:open");
    let _ = y.provide("alice".to_owned()).await;
    log("fake:close");
}

#[depends]
async fn whoami(#[dep(user_name)] name: &String) -> String {
    log("handler");
    name.clone()
}

#[tokio::test]
async fn override_replaces_a_dependency_without_touching_handlers() {
    let _serial = serial().await;
    let app = App::new()
        .get("/me", whoami)
        .override_dep(user_name, fake_user_name);
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/me").send().await;
    assert_eq!(response.text().await.unwrap(), "alice");
    client.settle().await;
    assert_eq!(events(), ["fake:open", "handler", "fake:close"]);
}

// ---------------------------------------------------------------- scope at the use site

static INSTANCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[depends]
async fn session(y: Yield<u32>) {
    let n = INSTANCE.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    log(format!("session {n}:open"));
    let (n, _) = y.provide(n).await;
    log(format!("session {n}:close"));
}

#[depends]
async fn two_scopes(
    #[dep(session, scope = "handler")] a: &u32,
    #[dep(session)] b: &u32,
    #[dep(session, scope = "request")] c: &u32,
) -> String {
    format!("{a},{b},{c}")
}

#[tokio::test]
async fn use_site_scope_gives_a_separate_instance_torn_down_before_the_head() {
    let _serial = serial().await;
    INSTANCE.store(0, std::sync::atomic::Ordering::SeqCst);
    let client = TestClient::start(App::new().get("/", two_scopes))
        .await
        .unwrap();
    let response = client.get("/").send().await;
    log("head");
    assert_eq!(response.text().await.unwrap(), "1,2,2");
    client.settle().await;
    let events = events();
    assert!(
        position(&events, "session 1:close") < position(&events, "head"),
        "{events:?}"
    );
    assert!(
        position(&events, "head") < position(&events, "session 2:close"),
        "{events:?}"
    );
}

// ---------------------------------------------------------------- graph errors

#[depends]
async fn ping(#[dep(pong)] _p: &u8) -> u8 {
    1
}

#[depends]
async fn pong(#[dep(ping)] _p: &u8) -> u8 {
    2
}

#[depends]
async fn cyclic(#[dep(ping)] p: &u8) -> String {
    p.to_string()
}

#[depends]
async fn twice_mut(#[dep(side_effect)] a: &mut u8, #[dep(side_effect)] b: &mut u8) -> String {
    format!("{a}{b}")
}

#[depends]
async fn held_while_mut(#[dep(side_effect)] a: &mut u8, #[dep(side_effect)] b: Held<u8>) -> String {
    format!("{a}{}", *b)
}

#[depends(scope = "app")]
async fn app_value() -> u8 {
    7
}

#[depends]
async fn mut_app(#[dep(app_value)] a: &mut u8) -> String {
    a.to_string()
}

#[depends]
async fn held_mut_app(#[dep(app_value)] a: HeldMut<u8>) -> String {
    a.to_string()
}

#[depends(scope = "app")]
async fn app_over_request(#[dep(side_effect)] s: &u8) -> u8 {
    *s
}

#[depends]
async fn uses_bad_app(#[dep(app_over_request)] a: &u8) -> String {
    a.to_string()
}

/// A handler that declares `scope = "app"`: a route runs its handler for each request.
#[depends(scope = "app")]
async fn app_scoped_handler() -> String {
    "once?".to_owned()
}

#[depends]
async fn not_a_handler(y: Yield<String>) {
    let _ = y.provide("a value, not a response".to_owned()).await;
}

#[tokio::test]
async fn graph_errors_are_all_reported_before_serving() {
    let app = App::new()
        .get("/cyclic", cyclic)
        .get("/twice", twice_mut)
        .get("/held", held_while_mut)
        .get("/mut-app", mut_app)
        .get("/held-mut-app", held_mut_app)
        .get("/bad-app", uses_bad_app)
        .get("/gen", not_a_handler)
        .get("/app-handler", app_scoped_handler);
    let error = app.check().unwrap_err();
    let problems = error.problems();
    let expect = [
        (
            "route GET /cyclic",
            "dependency cycle: `cyclic` -> `ping` -> `pong` -> `ping`",
        ),
        (
            "route GET /twice",
            "`twice_mut` (parameter `a`) and `twice_mut` (parameter `b`) both borrow the same value mutably",
        ),
        (
            "route GET /held",
            "`held_while_mut` (parameter `a`) borrows a value mutably (`&mut`) while `held_while_mut` (parameter `b`) also borrows it",
        ),
        (
            "route GET /mut-app",
            "`app`-scoped and shared by all requests",
        ),
        (
            "route GET /held-mut-app",
            "takes `HeldMut` of `app_value`, which is `app`-scoped and shared by all requests",
        ),
        (
            "route GET /bad-app",
            "`app_over_request` is `app`-scoped and cannot depend on `side_effect`",
        ),
        (
            "route GET /gen",
            "takes a `Yield` and so is a dependency, not a handler",
        ),
        (
            "route GET /app-handler",
            "`app_scoped_handler` declares `scope = \"app\"`, but a route runs its handler for each request",
        ),
    ];
    for (route, text) in expect {
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(route) && p.contains(text)),
            "no problem for {route} containing {text:?} in {problems:#?}"
        );
    }
}

// ---------------------------------------------------------------- app scope start failure

#[depends(scope = "app")]
async fn first_app(y: Yield<u8>) {
    log("first:open");
    let (_, outcome) = y.provide(1).await;
    log(format!("first:close {}", describe(&outcome)));
}

#[depends(scope = "app")]
async fn broken_app(#[dep(first_app)] _f: &u8) -> Result<u8, std::io::Error> {
    Err(std::io::Error::other("database unreachable"))
}

#[depends]
async fn uses_broken(#[dep(broken_app)] b: &u8) -> String {
    b.to_string()
}

#[tokio::test]
async fn app_scope_setup_failure_stops_start_and_undoes_what_was_set_up() {
    let _serial = serial().await;
    let error = TestClient::start(App::new().get("/", uses_broken))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("`broken_app` (app scope) failed to set up"),
        "{message}"
    );
    assert!(message.contains("database unreachable"), "{message}");
    assert_eq!(
        events(),
        ["first:open", "first:close setup-failed broken_app"]
    );
}

#[tokio::test]
async fn head_is_served_by_the_get_route_and_request_teardown_sees_success() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", after_response_ok))
        .await
        .unwrap();
    let response = client.request(Method::HEAD, "/").send().await;
    assert_eq!(response.status(), 200);
    drop(response);
    client.settle().await;
    assert_eq!(
        events(),
        ["side-effect:open", "side-effect:close success 200"]
    );
}

#[depends]
async fn after_response_ok(#[dep(side_effect)] _s: &u8) -> &'static str {
    "body that HEAD does not send"
}

#[tokio::test]
async fn background_teardowns_past_the_bound_wait_their_turn_and_all_run() {
    let _serial = serial().await;
    let app = App::new()
        .get("/", after_response_ok)
        .max_background_teardowns(1);
    let client = TestClient::start(app).await.unwrap();
    for _ in 0..5 {
        let response = client.get("/").send().await;
        assert_eq!(response.status(), 200);
        let _ = response.bytes().await;
    }
    client.settle().await;
    let events = events();
    assert_eq!(
        count(&events, "side-effect:close success 200"),
        5,
        "{events:?}"
    );
}

// ---------------------------------------------------------------- values given up front

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
struct Settings {
    db: String,
}

#[depends(scope = "app")]
async fn settings() -> Settings {
    log("settings ran");
    Settings {
        db: "default.db".into(),
    }
}

#[depends]
async fn show_settings(
    #[dep(settings)] s: &Settings,
    #[dep(settings)] copy: Settings,
) -> Json<Settings> {
    assert_eq!(s, &copy);
    Json(copy)
}

#[tokio::test]
async fn provide_gives_a_value_up_front_and_the_dependency_never_runs() {
    let _serial = serial().await;
    let app = App::new().get("/settings", show_settings).provide(
        settings,
        Settings {
            db: "from-main.db".into(),
        },
    );
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/settings").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"db": "from-main.db"})
    );
    assert_eq!(
        events(),
        Vec::<String>::new(),
        "`settings` itself never ran"
    );
}

#[test]
fn input_error_locations_mix_names_and_indexes() {
    let error = InputError::new(("body", 3, "title"), "too long");
    assert_eq!(error.loc(), [json!("body"), json!(3), json!("title")]);
}

#[depends]
async fn reads_before_handler(#[dep(side_effect)] v: &u8) -> u8 {
    *v
}

#[depends]
async fn mutates_after_plain_read(
    #[dep(reads_before_handler)] read: &u8,
    #[dep(side_effect)] value: &mut u8,
) -> String {
    *value += 1;
    format!("{read} then {value}")
}

#[tokio::test]
async fn a_plain_read_during_setup_does_not_conflict_with_the_handlers_mut() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", mutates_after_plain_read))
        .await
        .unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.text().await.unwrap(), "1 then 2");
    client.settle().await;
    assert_eq!(count(&events(), "side-effect:close success 200"), 1);
}

struct Explodes;

impl IntoResponse for Explodes {
    fn into_response(self) -> Response {
        panic!("secret text from into_response");
    }
}

#[depends]
async fn explodes(#[dep(side_effect)] _s: &u8) -> Explodes {
    Explodes
}

#[tokio::test]
async fn a_panicking_into_response_is_a_generic_500_seen_as_panicked() {
    a_panicking_into_response_is_a_500(App::new().get("/", explodes)).await;
}

/// The same after a wait: the value is made the response after the handler's future ends,
/// not where the handler was started (as for `explodes`, which cannot wait).
#[depends]
async fn explodes_after_a_wait(#[dep(side_effect)] _s: &u8) -> Explodes {
    tokio::task::yield_now().await;
    Explodes
}

#[tokio::test]
async fn a_panicking_into_response_after_a_wait_is_a_generic_500_seen_as_panicked() {
    a_panicking_into_response_is_a_500(App::new().get("/", explodes_after_a_wait)).await;
}

/// `GET /` of `app`, whose handler's value panics as it is made the response: a generic 500,
/// and the handler's dependency torn down as `Panicked`.
async fn a_panicking_into_response_is_a_500(app: App) {
    let _serial = serial().await;
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Internal Server Error"}"#
    );
    client.settle().await;
    assert_eq!(events(), ["side-effect:open", "side-effect:close panicked"]);
}

#[depends]
async fn holds_plain_over_handler_scope(#[dep(plain_over_fn)] n: Held<u8>) -> String {
    n.to_string()
}

#[depends]
async fn plain_over_fn(#[dep(fn_dep)] n: &u8) -> u8 {
    *n
}

#[tokio::test]
async fn a_body_holding_a_plain_value_over_handler_scope_is_rejected_before_serving() {
    let error = App::new()
        .get("/", holds_plain_over_handler_scope)
        .check()
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("`holds_plain_over_handler_scope` -> `plain_over_fn` -> `fn_dep`"),
        "{message}"
    );
    assert!(
        message.contains(
            "the response body of `holds_plain_over_handler_scope` holds `plain_over_fn`"
        ),
        "{message}"
    );
}

// ---------------------------------------------------------------- the app as a tower service

#[tokio::test]
async fn the_app_is_a_tower_service_that_starts_on_poll_ready() {
    use tower_service::Service;

    let _serial = serial().await;
    let mut app = App::new().get("/", after_response_ok);
    let early = app
        .call(
            http::Request::get("/")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        early.status(),
        503,
        "`call` before `poll_ready` is refused, not a panic"
    );

    type Request = http::Request<http_body_util::Empty<bytes::Bytes>>;
    std::future::poll_fn(|cx| Service::<Request>::poll_ready(&mut app, cx))
        .await
        .unwrap();
    let request = http::Request::get("/")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = app.call(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let _ = http_body_util::BodyExt::collect(response.into_body()).await;
    // The `request`-scope teardown runs in a background task: wait for it (bounded), so that
    // it does not outlive this test.
    for _ in 0..1000 {
        if count(&events(), "side-effect:close success 200") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(count(&events(), "side-effect:close success 200"), 1);

    let mut broken = App::new().get("/audited", uses_bad_app);
    let error = std::future::poll_fn(|cx| Service::<Request>::poll_ready(&mut broken, cx))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("route GET /audited"), "{error}");
}

// ---------------------------------------------------------------- teardown deadline

#[depends]
async fn hangs_in_teardown(y: Yield<u8>) {
    let _ = y.provide(9).await;
    log("hang:start");
    tokio::time::sleep(Duration::from_secs(600)).await;
    log("hang:never");
}

#[depends]
async fn deadline_handler(
    #[dep(side_effect)] _s: &u8,
    #[dep(hangs_in_teardown)] _h: &u8,
) -> &'static str {
    "sent"
}

#[tokio::test]
async fn a_teardown_past_its_deadline_is_abandoned_counted_and_the_rest_still_run() {
    let _serial = serial().await;
    let app = App::new()
        .get("/", deadline_handler)
        .teardown_timeout(Duration::from_millis(50));
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.text().await.unwrap(), "sent");
    client.settle().await;
    assert_eq!(client.running().teardown_failures(), 1);
    assert_eq!(
        events(),
        [
            "side-effect:open",
            "hang:start",
            "side-effect:close teardown-failed hangs_in_teardown 500"
        ]
    );
}

#[depends]
async fn by_id(Path(id): Path<u32>) -> String {
    id.to_string()
}

#[test]
fn a_path_input_on_a_route_without_parameters_is_refused_at_check() {
    let message = App::new()
        .get("/items", by_id)
        .check()
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("route GET /items: `by_id` takes `Path<..>`")
            && message.contains("this path has none"),
        "{message}"
    );
    App::new()
        .get("/items/{id}", by_id)
        .check()
        .expect("a path with a parameter");
}

// ------------------------------------- abandoned rollbacks wait for no background place

struct PoolOfOne(std::sync::Arc<tokio::sync::Semaphore>);

#[depends(scope = "app")]
async fn pool_of_one() -> PoolOfOne {
    PoolOfOne(std::sync::Arc::new(tokio::sync::Semaphore::new(1)))
}

/// A transaction holding the pool's one connection until its teardown.
#[depends(scope = "handler")]
async fn pool_tx(#[dep(pool_of_one)] pool: &PoolOfOne, y: Yield<u8>) {
    let connection = pool
        .0
        .clone()
        .acquire_owned()
        .await
        .expect("the pool is open");
    log("pool-tx:open");
    let (_, outcome) = y.provide(1).await;
    drop(connection);
    log(format!("pool-tx:close {}", describe(&outcome)));
}

/// A `request`-scope teardown that needs a connection of the pool.
#[depends]
async fn pool_audit(#[dep(pool_of_one)] pool: &PoolOfOne, y: Yield<u8>) {
    let pool = pool.0.clone();
    let _ = y.provide(2).await;
    log("audit:close start");
    let _connection = pool.acquire_owned().await.expect("the pool is open");
    log("audit:close done");
}

#[depends]
async fn audited(#[dep(pool_audit)] _a: &u8) -> &'static str {
    "audited"
}

#[depends]
async fn writes_forever(#[dep(pool_tx)] _t: &u8) -> &'static str {
    log("writes:started");
    tokio::time::sleep(Duration::from_secs(3600)).await;
    "never"
}

/// A request abandoned in its handler rolls its `handler`-scope transaction back at once, even
/// when every background place is taken: here by a `request`-scope teardown that waits for the
/// very connection the transaction holds. The rollback used to wait for a place, so both waited
/// until `teardown_timeout` abandoned the other teardown.
#[tokio::test]
async fn an_abandoned_rollback_waits_for_no_background_place() {
    let _serial = serial().await;
    let client = TestClient::start(
        App::new()
            .get("/audited", audited)
            .get("/writes", writes_forever)
            .max_background_teardowns(1)
            .teardown_timeout(Duration::from_secs(30)),
    )
    .await
    .expect("the app starts");
    let writer = {
        let service = client.running().service();
        tokio::spawn(async move {
            let request = http::Request::get("/writes")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .expect("a request");
            let _ = service.call_request(request).await;
        })
    };
    wait_for("writes:started").await;
    let response = client.get("/audited").send().await;
    assert_eq!(response.text().await.expect("a body"), "audited");
    // The audit's teardown holds the one background place, waiting for the connection.
    wait_for("audit:close start").await;
    writer.abort();
    let _ = writer.await;
    tokio::time::timeout(Duration::from_secs(10), client.settle())
        .await
        .expect("the rollback frees the connection, and the audit's teardown ends");
    let events = events();
    assert_eq!(client.running().teardown_failures(), 0, "{events:?}");
    assert_eq!(
        count(&events, "pool-tx:close cancelled client gone"),
        1,
        "{events:?}"
    );
    assert_eq!(count(&events, "audit:close done"), 1, "{events:?}");
    assert!(
        position(&events, "pool-tx:close cancelled client gone")
            < position(&events, "audit:close done"),
        "{events:?}"
    );
    client.shutdown().await;
}

// ------------------------------------- two failing commits: one failure told to everyone

#[depends(scope = "handler")]
async fn commit_a(y: Yield<u8>) -> Result<(), HttpError> {
    let (_, outcome) = y.provide(1).await;
    log(format!(
        "commit_a told {} and fails 503",
        describe(&outcome)
    ));
    Err(HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "commit a failed",
    ))
}

#[depends(scope = "handler")]
async fn commit_b(y: Yield<u8>) -> Result<(), HttpError> {
    let _ = y.provide(2).await;
    log("commit_b fails 500");
    Err(HttpError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "commit b failed",
    ))
}

#[depends]
async fn observer(y: Yield<u8>) {
    let (_, outcome) = y.provide(3).await;
    log(format!("observer told {}", describe(&outcome)));
}

#[depends]
async fn two_commits(
    #[dep(observer)] _o: &u8,
    #[dep(commit_a)] _a: &u8,
    #[dep(commit_b)] _b: &u8,
) -> &'static str {
    "ok"
}

/// When two `handler`-scope teardowns fail, the first (in teardown order) becomes the response,
/// and every teardown after it, of either scope, is told that one: the `request`-scope
/// teardown used to be told the last failure, not the one the client got.
#[tokio::test]
async fn every_later_teardown_is_told_the_failure_that_became_the_response() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", two_commits))
        .await
        .expect("the app starts");
    let response = client.get("/").send().await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.text().await.expect("a body"),
        r#"{"detail":"commit b failed"}"#
    );
    client.settle().await;
    assert_eq!(
        events(),
        [
            "commit_b fails 500",
            "commit_a told teardown-failed commit_b 500 and fails 503",
            "observer told teardown-failed commit_b 500",
        ]
    );
    client.shutdown().await;
}

// ------------------------------------- an error type that is a response, as in axum

/// An application error as axum users write it: a response of its own, no `HttpError`.
enum AppError {
    Teapot,
    Gone(&'static str),
}

impl IntoResponse for AppError {
    fn into_response(self) -> di_runtime::Response {
        match self {
            AppError::Teapot => (StatusCode::IM_A_TEAPOT, "short and stout").into_response(),
            AppError::Gone(what) => (
                StatusCode::GONE,
                Json(json!({"error": "gone", "what": what})),
            )
                .into_response(),
        }
    }
}

#[depends]
async fn lookup(Query(page): Query<Page>) -> Result<u32, AppError> {
    match page.limit {
        0 => Err(AppError::Gone("page")),
        limit => Ok(limit),
    }
}

#[depends]
async fn app_error_handler(
    #[dep(fn_dep)] _f: &u8,
    #[dep(lookup)] limit: &u32,
) -> Result<String, AppError> {
    match limit {
        7 => Err(AppError::Teapot),
        limit => Ok(format!("limit {limit}")),
    }
}

/// A `Result` whose error type is a response (`IntoResponse`, as axum's handlers take) works
/// for a handler and for a dependency: the error's own response is sent, a handler's is a
/// handler error and a dependency's a setup failure for the teardowns.
#[tokio::test]
async fn an_error_type_that_is_a_response_is_sent_as_it_is() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", app_error_handler))
        .await
        .expect("the app starts");

    let response = client.get("/?limit=3").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("a body"), "limit 3");

    let response = client.get("/?limit=7").send().await;
    assert_eq!(response.status(), 418);
    assert_eq!(response.text().await.expect("a body"), "short and stout");

    let response = client.get("/?limit=0").send().await;
    assert_eq!(response.status(), 410);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "the error's own content type"
    );
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body, json!({"error": "gone", "what": "page"}));

    client.settle().await;
    let events = events();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.starts_with("fn:close"))
            .collect::<Vec<_>>(),
        [
            "fn:close success 200",
            "fn:close handler-error 418",
            "fn:close setup-failed lookup",
        ],
        "{events:?}"
    );
    client.shutdown().await;
}

/// The error type axum users write most: a `thiserror` enum (a `std::error::Error`) with an
/// `IntoResponse` of its own. Its own response is the one sent, from a handler, a dependency
/// and a generator's teardown alike; it was a generic 500 (the `std::error::Error` conversion
/// won), whatever its `IntoResponse` said.
#[derive(Debug)]
enum ApiError {
    NotFound(u32),
    Locked,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::NotFound(id) => write!(f, "item {id} not found"),
            ApiError::Locked => f.write_str("locked"),
        }
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> di_runtime::Response {
        let status = match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Locked => StatusCode::LOCKED,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

#[depends]
async fn api_lookup(Query(page): Query<Page>) -> Result<u32, ApiError> {
    match page.limit {
        0 => Err(ApiError::NotFound(0)),
        limit => Ok(limit),
    }
}

#[depends(scope = "handler")]
async fn api_lock(y: Yield<u8>) -> Result<(), ApiError> {
    let (_, outcome) = y.provide(1).await;
    log(format!("api_lock: {}", describe(&outcome)));
    match outcome {
        Outcome::Success { status } if status == StatusCode::ACCEPTED => Err(ApiError::Locked),
        _ => Ok(()),
    }
}

#[depends]
async fn api_error_handler(
    #[dep(api_lock)] _l: &u8,
    #[dep(api_lookup)] limit: &u32,
) -> Result<(StatusCode, String), ApiError> {
    match limit {
        7 => Err(ApiError::NotFound(7)),
        2 => Ok((StatusCode::ACCEPTED, "accepted".to_owned())),
        limit => Ok((StatusCode::OK, format!("limit {limit}"))),
    }
}

#[tokio::test]
async fn an_error_that_is_a_std_error_and_a_response_is_sent_as_its_response() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", api_error_handler))
        .await
        .expect("the app starts");

    let response = client.get("/?limit=3").send().await;
    assert_eq!(response.status(), 200);

    // The handler's error.
    let response = client.get("/?limit=7").send().await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body, json!({"error": "item 7 not found"}));

    // A dependency's error.
    let response = client.get("/?limit=0").send().await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body, json!({"error": "item 0 not found"}));

    // A `handler`-scope generator's teardown error.
    let response = client.get("/?limit=2").send().await;
    assert_eq!(response.status(), 423);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body, json!({"error": "locked"}));

    client.settle().await;
    let events = events();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.starts_with("api_lock"))
            .collect::<Vec<_>>(),
        [
            "api_lock: success 200",
            "api_lock: handler-error 404",
            "api_lock: setup-failed api_lookup",
            "api_lock: success 202",
        ],
        "{events:?}"
    );
    client.shutdown().await;
}

// ------------------------------------- a `handler`-scope teardown converts the handler's error

/// FastAPI `exp6 /convert-chain`, `test_catching`: the function-scoped dependency turns the
/// handler's error into another one.
#[depends(scope = "handler")]
async fn converts(y: Yield<u8>) -> Result<(), HttpError> {
    let (_, outcome) = y.provide(6).await;
    match outcome {
        Outcome::HandlerError { status, .. } if status == StatusCode::BAD_REQUEST => {
            log("converts 400 into 409");
            Err(HttpError::conflict("converted"))
        }
        other => {
            log(format!("converts: leaves {}", describe(&other)));
            Ok(())
        }
    }
}

#[depends]
async fn raises_400(
    #[dep(side_effect)] _s: &u8,
    #[dep(converts)] _c: &u8,
    Path(fail): Path<bool>,
) -> Result<&'static str, HttpError> {
    if fail {
        Err(HttpError::bad_request("original"))
    } else {
        Ok("fine")
    }
}

#[tokio::test]
async fn a_handler_teardown_may_turn_the_handlers_error_into_another_that_later_teardowns_see() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/{fail}", raises_400))
        .await
        .unwrap();
    let response = client.get("/true").send().await;
    assert_eq!(response.status(), 409);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "converted"})
    );
    client.settle().await;
    assert_eq!(
        events(),
        [
            "side-effect:open",
            "converts 400 into 409",
            "side-effect:close teardown-failed converts 409"
        ]
    );

    common::clear();
    let response = client.get("/false").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "fine");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "side-effect:open",
            "converts: leaves success 200",
            "side-effect:close success 200"
        ]
    );
    client.shutdown().await;
}

// ------------------------------------- a `request`-scope teardown failing after a stream

#[depends]
async fn fails_after_stream(y: Yield<u8>) -> Result<(), HttpError> {
    let (_, outcome) = y.provide(8).await;
    log(format!("stream-dep:close {} and fails", describe(&outcome)));
    Err(HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "too late to matter",
    ))
}

#[depends]
async fn streams_then_fails(
    #[dep(side_effect)] _s: &u8,
    #[dep(fails_after_stream)] held: Held<u8>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    StreamBody::new(futures_util::stream::iter(["a", "b", "c"].into_iter().map(
        move |c| {
            let _ = &held;
            Ok(c.to_owned())
        },
    )))
}

/// FastAPI `exp2 /stream-teardown-raises`: the client has the whole body and the 200; the
/// failure is counted, and the teardowns after it are told, but nothing is sent.
#[tokio::test]
async fn a_request_teardown_failing_after_a_streamed_body_leaves_the_response_whole() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", streams_then_fails))
        .await
        .unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "abc");
    client.settle().await;
    assert_eq!(client.running().teardown_failures(), 1);
    assert_eq!(
        events(),
        [
            "side-effect:open",
            "stream-dep:close success 200 and fails",
            "side-effect:close teardown-failed fails_after_stream 503"
        ]
    );
    client.shutdown().await;
}

// ------------------------------------- a plain function under three use-site scopes (FastAPI E10)

static PLAIN_CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[depends]
async fn plain_count() -> u32 {
    PLAIN_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
}

#[depends]
async fn plain_scopes(
    #[dep(plain_count)] a: &u32,
    #[dep(plain_count, scope = "handler")] b: &u32,
    #[dep(plain_count, scope = "request")] c: &u32,
    #[dep(plain_count)] d: &u32,
) -> String {
    format!("{a},{b},{c},{d}")
}

/// The cache key includes the scope for a plain function too; an undeclared plain function
/// over nothing is `request`-scoped, so its default use and `scope = "request"` share one
/// value (FastAPI, whose `Depends(f)` has no computed scope for a plain function, answers
/// `[1,2,3,1]`).
#[tokio::test]
async fn a_plain_function_used_at_two_scopes_runs_once_per_scope() {
    let _serial = serial().await;
    PLAIN_CALLS.store(0, std::sync::atomic::Ordering::SeqCst);
    let client = TestClient::start(App::new().get("/", plain_scopes))
        .await
        .unwrap();
    assert_eq!(
        client.get("/").send().await.text().await.unwrap(),
        "1,2,1,1"
    );
    client.shutdown().await;
}

// ------------------------------------- a failed commit replaces a streamed response

#[depends]
async fn held_conn(y: Yield<u8>) {
    log("conn:open");
    let (_, outcome) = y.provide(9).await;
    log(format!("conn:close {}", describe(&outcome)));
}

#[depends]
async fn stream_after_failed_commit(
    #[dep(held_conn)] conn: Held<u8>,
    #[dep(failing_commit)] _c: &u8,
    tasks: &BackgroundTasks,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    tasks.add(async { log("task ran") });
    StreamBody::new(futures_util::stream::iter([0, 1].into_iter().map(
        move |i| {
            log(format!("chunk {i}"));
            Ok(format!("{i}:{}", *conn))
        },
    )))
}

/// A `handler`-scope teardown that fails after the handler made a streamed body: the error
/// replaces the response, the body (and the `Held` value in it) is dropped unread, the held
/// value is torn down once, told the failure, and the tasks do not run.
#[tokio::test]
async fn a_failing_handler_teardown_replaces_a_streamed_response_and_releases_what_it_held() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", stream_after_failed_commit))
        .await
        .unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "commit failed"})
    );
    client.settle().await;
    assert_eq!(
        events(),
        [
            "conn:open",
            "commit fails",
            "conn:close teardown-failed failing_commit 503"
        ]
    );
    client.shutdown().await;
}

// ------------------------------------- a body error and background tasks

#[depends]
async fn stream_that_breaks(
    #[dep(held_conn)] conn: Held<u8>,
    tasks: &BackgroundTasks,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    tasks.add(async { log("task ran") });
    StreamBody::new(futures_util::stream::iter([0, 1].into_iter().map(
        move |i| {
            let _ = &conn;
            if i == 0 {
                Ok("first".to_owned())
            } else {
                Err(std::io::Error::other("secret: connection reset"))
            }
        },
    )))
}

/// FastAPI `test_broken_session_stream_no_raise`: the head and the first chunk were sent; the
/// body ends with an error, tasks do not run, and the teardown is told `body error`.
#[tokio::test]
async fn a_body_error_skips_the_tasks_and_teardown_is_told_body_error() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", stream_that_breaks))
        .await
        .unwrap();
    let mut response = client.get("/").send().await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.expect("a first chunk").unwrap();
    assert_eq!(&first[..], b"first");
    let mut failed = false;
    while let Some(chunk) = response.chunk().await {
        if chunk.is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "the body ends with an error");
    drop(response);
    client.settle().await;
    assert_eq!(events(), ["conn:open", "conn:close body error"]);
    client.shutdown().await;
}

// ------------------------------------- `fresh` with a use-site scope

#[depends]
async fn fresh_and_scoped(
    #[dep(session)] a: &u32,
    #[dep(session, fresh, scope = "handler")] b: &u32,
    #[dep(session, scope = "handler")] c: &u32,
    #[dep(session)] d: &u32,
) -> String {
    format!("{a},{b},{c},{d}")
}

/// A `fresh` use at `handler` scope is its own instance, torn down before the head; it does
/// not fill the `handler`-scope cache, so the next `handler`-scope use is another instance.
#[tokio::test]
async fn a_fresh_use_at_handler_scope_is_its_own_instance_torn_down_before_the_head() {
    let _serial = serial().await;
    INSTANCE.store(0, std::sync::atomic::Ordering::SeqCst);
    let client = TestClient::start(App::new().get("/", fresh_and_scoped))
        .await
        .unwrap();
    let response = client.get("/").send().await;
    log("head");
    assert_eq!(response.text().await.unwrap(), "1,2,3,1");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "session 1:open",
            "session 2:open",
            "session 3:open",
            "session 3:close",
            "session 2:close",
            "head",
            "session 1:close"
        ]
    );
    client.shutdown().await;
}
