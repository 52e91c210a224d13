//! `App::override_dep`: a replacement runs with its own scope (the use site's `scope = ...`
//! still wins), and the replaced graph goes through every start-time check a graph without
//! overrides does, with errors that name the override (issue 7, section 1).

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use common::{count, events, log, serial};
use di_runtime::prelude::*;
use futures_util::{Stream, stream};

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        other => other.to_string(),
    }
}

/// The one problem of a route, or a failed test naming all of them.
fn problem_of(app: &App, route: &str) -> String {
    let error = app
        .check()
        .expect_err("the app must be rejected before it serves");
    let problems: Vec<&String> = error
        .problems()
        .iter()
        .filter(|p| p.starts_with(route))
        .collect();
    assert_eq!(problems.len(), 1, "{error}");
    problems[0].clone()
}

// ------------------------------------------------ a. the scope rule applies to a replacement

struct Tx;

#[depends(scope = "handler")]
async fn tx(y: Yield<Tx>) {
    let _ = y.provide(Tx).await;
}

struct AuditLog(&'static str);

/// The original: a plain function that declares no scope.
#[depends]
async fn audit_log() -> AuditLog {
    AuditLog("real")
}

/// Declared `request`, but it depends on a `handler`-scoped generator.
#[depends(scope = "request")]
async fn fake_audit_log(#[dep(tx)] _tx: &Tx, y: Yield<AuditLog>) {
    let _ = y.provide(AuditLog("fake")).await;
}

#[depends]
async fn audited(#[dep(audit_log)] log: &AuditLog) -> &'static str {
    log.0
}

#[depends]
async fn audited_directly(#[dep(fake_audit_log)] log: &AuditLog) -> &'static str {
    log.0
}

#[tokio::test]
async fn a_request_scoped_replacement_over_a_handler_scoped_generator_is_rejected_at_start() {
    let direct = problem_of(
        &App::new().get("/direct", audited_directly),
        "route GET /direct",
    );
    assert_eq!(
        direct,
        "route GET /direct: dependency chain `audited_directly` -> `fake_audit_log` -> `tx`: `fake_audit_log` is `request`-scoped and cannot depend on `tx`: `tx` is `handler`-scoped; make `tx` `request`-scoped, or make `fake_audit_log` `handler`-scoped"
    );
    let app = App::new()
        .get("/audited", audited)
        .override_dep(audit_log, fake_audit_log);
    assert_eq!(
        problem_of(&app, "route GET /audited"),
        "route GET /audited: dependency chain `audited` -> `fake_audit_log` (overriding `audit_log`) -> `tx`: `fake_audit_log` (overriding `audit_log`) is `request`-scoped and cannot depend on `tx`: `tx` is `handler`-scoped; make `tx` `request`-scoped, or make `fake_audit_log` `handler`-scoped"
    );
    assert!(
        TestClient::start(app).await.is_err(),
        "an app whose override breaks the scope rule never serves"
    );
}

// ------------------------------------------------ b. a body holding a handler-scoped replacement

struct Conn;

/// The original: `request`-scoped (the default), so a body may hold it (`Held<Conn>`).
#[depends]
async fn conn(y: Yield<Conn>) {
    let _ = y.provide(Conn).await;
}

#[depends(scope = "handler")]
async fn fake_conn(y: Yield<Conn>) {
    let _ = y.provide(Conn).await;
}

fn one_chunk<T: Send + Sync + 'static>(
    keep: T,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    StreamBody::new(stream::once(async move {
        let _keep = keep;
        Ok(Bytes::from_static(b"exported"))
    }))
}

#[depends]
async fn export(
    #[dep(conn)] c: Held<Conn>,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    one_chunk(c)
}

struct Wrapped;

/// A plain function over the connection: it lives only as long as what it depends on.
#[depends]
async fn wrapper(#[dep(conn)] _c: &Conn) -> Wrapped {
    Wrapped
}

#[depends]
async fn export_wrapped(
    #[dep(wrapper)] w: Held<Wrapped>,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    one_chunk(w)
}

#[tokio::test]
async fn a_handler_scoped_replacement_held_by_a_response_body_is_rejected_at_start() {
    // `Held<Conn>` of a `handler`-scoped function is a compile error; through an override the
    // types cannot see the replacement's scope, so the app refuses to start instead.
    let app = App::new()
        .get("/export", export)
        .get("/wrapped", export_wrapped)
        .override_dep(conn, fake_conn);
    assert_eq!(
        problem_of(&app, "route GET /export"),
        "route GET /export: dependency chain `export` -> `fake_conn` (overriding `conn`): the response body of `export` holds `fake_conn` (overriding `conn`), but `fake_conn` is `handler`-scoped and is torn down before the body is sent; make `fake_conn` `request`-scoped"
    );
    assert_eq!(
        problem_of(&app, "route GET /wrapped"),
        "route GET /wrapped: dependency chain `export_wrapped` -> `wrapper` -> `fake_conn` (overriding `conn`): the response body of `export_wrapped` holds `wrapper`, but `wrapper` lives only as long as `fake_conn`, which is `handler`-scoped (`wrapper` -> `fake_conn` (overriding `conn`)) and is torn down before the body is sent; make `fake_conn` `request`-scoped"
    );
    assert!(TestClient::start(app).await.is_err());
}

#[tokio::test]
async fn a_body_may_hold_a_replacement_the_use_site_makes_request_scoped() {
    let _serial = serial().await;
    let app = App::new()
        .get("/export", export_at_request_scope)
        .override_dep(conn, fake_conn);
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/export").send().await;
    assert_eq!(response.text().await.unwrap(), "exported");
    client.shutdown().await;
}

#[depends]
async fn export_at_request_scope(
    #[dep(conn, scope = "request")] c: Held<Conn>,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    one_chunk(c)
}

// ------------------------------------------------ c. a replacement with dependencies of its own

struct Pool;
struct Session;
struct Repo(&'static str);

#[depends(scope = "app")]
async fn pool(y: Yield<Pool>) {
    log("pool:open");
    let (_, outcome) = y.provide(Pool).await;
    log(format!("pool:close {}", describe(&outcome)));
}

#[depends]
async fn session(#[dep(pool)] _pool: &Pool, y: Yield<Session>) {
    log("session:open");
    let (_, outcome) = y.provide(Session).await;
    log(format!("session:close {}", describe(&outcome)));
}

#[depends(scope = "handler")]
async fn stamp(y: Yield<u32>) {
    log("stamp:open");
    let (_, outcome) = y.provide(7).await;
    log(format!("stamp:close {}", describe(&outcome)));
}

/// The original: never runs once it is overridden.
#[depends]
async fn repo() -> Repo {
    log("real repo");
    Repo("real")
}

#[depends(scope = "handler")]
async fn fake_repo(#[dep(session)] _s: &Session, #[dep(stamp)] n: &u32, y: Yield<Repo>) {
    log(format!("fake_repo:open {n}"));
    let (_, outcome) = y.provide(Repo("fake")).await;
    log(format!("fake_repo:close {}", describe(&outcome)));
}

/// Another user of the original: it gets the same (cached) replacement.
#[depends]
async fn lookup(#[dep(repo)] r: &Repo) -> String {
    log("lookup");
    format!("{} lookup", r.0)
}

#[depends]
async fn list(
    #[dep(repo)] r: &Repo,
    #[dep(session)] _s: &Session,
    #[dep(lookup)] l: &String,
) -> String {
    log("handler");
    format!("{}, {l}", r.0)
}

#[tokio::test]
async fn a_replacement_with_dependencies_of_its_own_sets_them_up_caches_and_tears_down_in_order() {
    let _serial = serial().await;
    let app = App::new().get("/list", list).override_dep(repo, fake_repo);
    let client = TestClient::start(app).await.unwrap();
    for round in 0..2 {
        let response = client.get("/list").send().await;
        log(format!("head {}", response.status().as_u16()));
        let body = response.text().await.unwrap();
        log(format!("body {body}"));
        client.settle().await;
        let mut expected = vec![
            "session:open",
            "stamp:open",
            "fake_repo:open 7",
            "lookup",
            "handler",
            "fake_repo:close success 200",
            "stamp:close success 200",
            "head 200",
            "body fake, fake lookup",
            "session:close success 200",
        ];
        if round == 0 {
            expected.insert(0, "pool:open");
        }
        assert_eq!(events(), expected, "round {round}");
        common::clear();
    }
    client.shutdown().await;
    assert_eq!(events(), ["pool:close app stopped"]);
}

// ------------------------------------------------ d. a replacement is torn down at its own time

struct Token;

/// The original: a plain function that declares no scope (so `request`).
#[depends]
async fn token() -> Token {
    Token
}

#[depends(scope = "handler")]
async fn fake_token(y: Yield<Token>) {
    log("fake_token:open");
    let (_, outcome) = y.provide(Token).await;
    log(format!("fake_token:close {}", describe(&outcome)));
}

#[depends]
async fn show_token(#[dep(token)] _t: &Token) -> &'static str {
    log("handler");
    "token"
}

struct Work;

/// The original: declared `handler`.
#[depends(scope = "handler")]
async fn unit_of_work(y: Yield<Work>) {
    let _ = y.provide(Work).await;
}

#[depends(scope = "request")]
async fn fake_unit_of_work(y: Yield<Work>) {
    log("fake_work:open");
    let (_, outcome) = y.provide(Work).await;
    log(format!("fake_work:close {}", describe(&outcome)));
}

#[depends]
async fn do_work(#[dep(unit_of_work)] _w: &Work) -> &'static str {
    log("handler");
    "work"
}

/// The use site's scope wins over the replacement's, as it does over any declaration.
#[depends]
async fn forced_scopes(
    #[dep(token, scope = "request")] _t: &Token,
    #[dep(unit_of_work, scope = "handler")] _w: &Work,
) -> &'static str {
    log("handler");
    "forced"
}

/// One request: the events, with `head` and `body` logged where the client saw them.
async fn round(client: &TestClient, path: &str) -> Vec<String> {
    common::clear();
    let response = client.get(path).send().await;
    log("head");
    let body = response.text().await.unwrap();
    log(format!("body {body}"));
    client.settle().await;
    events()
}

#[tokio::test]
async fn a_replacement_keeps_its_own_scope_and_is_torn_down_at_its_own_time() {
    let _serial = serial().await;
    let app = App::new()
        .get("/token", show_token)
        .get("/work", do_work)
        .get("/forced", forced_scopes)
        .override_dep(token, fake_token)
        .override_dep(unit_of_work, fake_unit_of_work);
    let client = TestClient::start(app).await.unwrap();
    assert_eq!(
        round(&client, "/token").await,
        [
            "fake_token:open",
            "handler",
            "fake_token:close success 200",
            "head",
            "body token"
        ],
        "a `handler`-declared replacement of an undeclared dependency closes before the head"
    );
    assert_eq!(
        round(&client, "/work").await,
        [
            "fake_work:open",
            "handler",
            "head",
            "body work",
            "fake_work:close success 200"
        ],
        "a `request`-declared replacement of a `handler`-declared dependency closes after the body"
    );
    assert_eq!(
        round(&client, "/forced").await,
        [
            "fake_token:open",
            "fake_work:open",
            "handler",
            "fake_work:close success 200",
            "head",
            "body forced",
            "fake_token:close success 200"
        ],
        "the use site's scope wins over the replacement's"
    );
    client.shutdown().await;
}

// ------------------------------------------------ e. cycles and borrows through an override

struct Base;

#[depends]
async fn base() -> Base {
    Base
}

/// Depends on the dependency it replaces: with the override in place that is itself.
#[depends]
async fn wraps_base(#[dep(base)] _b: &Base) -> Base {
    Base
}

#[depends]
async fn uses_base(#[dep(base)] _b: &Base) -> &'static str {
    "base"
}

struct Counter(u32);

#[depends]
async fn counter(y: Yield<Counter>) {
    let _ = y.provide(Counter(0)).await;
}

struct Report;

#[depends]
async fn report() -> Report {
    Report
}

/// Holds `&mut Counter` from its setup to its teardown.
#[depends]
async fn fake_report(#[dep(counter)] c: &mut Counter, y: Yield<Report>) {
    c.0 += 1;
    let _ = y.provide(Report).await;
}

#[depends]
async fn reads_counter(#[dep(report)] _r: &Report, #[dep(counter)] c: &Counter) -> String {
    c.0.to_string()
}

#[tokio::test]
async fn cycles_and_conflicting_borrows_through_an_override_are_reported_naming_it() {
    let app = App::new()
        .get("/base", uses_base)
        .get("/report", reads_counter)
        .override_dep(base, wraps_base)
        .override_dep(report, fake_report);
    assert_eq!(
        problem_of(&app, "route GET /base"),
        "route GET /base: dependency cycle: `uses_base` -> `wraps_base` (overriding `base`) -> `wraps_base` (overriding `base`); `wraps_base` replaces `base` everywhere, in its own dependencies too, so it cannot use `base`"
    );
    assert_eq!(
        problem_of(&app, "route GET /report"),
        "route GET /report: `fake_report` (overriding `report`) (parameter `c`) borrows a value mutably (`&mut`) while `reads_counter` (parameter `c`) also borrows it; only one of them can hold it at a time; the value is `counter`'s"
    );
}

// ------------------------------------------------ f. an override keeps the declaration's limit

#[depends(max_concurrency = 1)]
async fn limited(y: Yield<u8>) {
    let _ = y.provide(1).await;
}

/// Declares no limit of its own.
#[depends]
async fn fake_limited(y: Yield<u8>) {
    log("fake_limited:open");
    let _ = y.provide(2).await;
}

#[depends]
async fn two_limited(#[dep(limited)] a: &u8, #[dep(limited, fresh)] b: &u8) -> String {
    format!("{a}{b}")
}

#[depends]
async fn fake_limited_directly(
    #[dep(fake_limited)] a: &u8,
    #[dep(fake_limited, fresh)] b: &u8,
) -> String {
    format!("{a}{b}")
}

#[tokio::test]
async fn an_override_keeps_the_max_concurrency_of_the_declaration_it_replaces() {
    let _serial = serial().await;
    // Used directly, `fake_limited` has no limit: two instances in one request are fine.
    let client = TestClient::start(App::new().get("/direct", fake_limited_directly))
        .await
        .unwrap();
    assert_eq!(
        client.get("/direct").send().await.text().await.unwrap(),
        "22"
    );
    client.shutdown().await;
    assert_eq!(count(&events(), "fake_limited:open"), 2);
    // Standing in for `limited`, it keeps `limited`'s single place.
    let app = App::new()
        .get("/two", two_limited)
        .override_dep(limited, fake_limited);
    assert_eq!(
        problem_of(&app, "route GET /two"),
        "route GET /two: one request needs 2 instances of `fake_limited` (overriding `limited`), which keeps the `max_concurrency = 1` of `limited`, so it could never be served; raise the limit, or share one instance instead of taking it `fresh`"
    );
}

// ------------------------------------------------ g. a generator replaced by a plain value

#[derive(Clone)]
struct Db(&'static str);

#[depends]
async fn real_db(y: Yield<Db>) {
    log("real_db:open");
    let _ = y.provide(Db("real")).await;
    log("real_db:close");
}

/// A plain function standing in for a generator: nothing to tear down.
#[depends]
async fn plain_db() -> Db {
    log("plain_db");
    Db("plain")
}

/// A generator over the database: a user of the replaced sub-dependency.
#[depends(scope = "handler")]
async fn db_repo(#[dep(real_db)] db: &Db, y: Yield<String>) {
    log(format!("db_repo:open over {}", db.0));
    let (_, outcome) = y.provide(format!("repo over {}", db.0)).await;
    log(format!("db_repo:close {}", describe(&outcome)));
}

#[depends]
async fn uses_db_twice(
    #[dep(db_repo)] repo: &String,
    #[dep(real_db)] db: &Db,
    #[dep(real_db)] again: Db,
) -> String {
    log("handler");
    format!("{repo}; {} {}", db.0, again.0)
}

/// FastAPI `exp5 /ov1` and an override of a sub-dependency: the generator is never set up or
/// torn down, the plain replacement runs once per request and every user of the original,
/// the dependency over it too, gets its value.
#[tokio::test]
async fn a_generator_replaced_by_a_plain_function_or_a_value_is_never_set_up_or_torn_down() {
    let _serial = serial().await;
    let app = App::new()
        .get("/", uses_db_twice)
        .override_dep(real_db, plain_db);
    let client = TestClient::start(app).await.unwrap();
    for _ in 0..2 {
        common::clear();
        let response = client.get("/").send().await;
        log("head");
        assert_eq!(
            response.text().await.unwrap(),
            "repo over plain; plain plain"
        );
        client.settle().await;
        assert_eq!(
            events(),
            [
                "plain_db",
                "db_repo:open over plain",
                "handler",
                "db_repo:close success 200",
                "head"
            ]
        );
    }
    client.shutdown().await;

    // The same with a value given up front.
    common::clear();
    let app = App::new()
        .get("/", uses_db_twice)
        .provide(real_db, Db("given"));
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/").send().await;
    assert_eq!(
        response.text().await.unwrap(),
        "repo over given; given given"
    );
    client.settle().await;
    client.shutdown().await;
    assert_eq!(
        events(),
        [
            "db_repo:open over given",
            "handler",
            "db_repo:close success 200"
        ]
    );
}

// ------------------------------------------------ h. a replacement's own inputs are validated

#[derive(serde::Deserialize)]
struct CommonParams {
    q: String,
}

#[derive(serde::Deserialize)]
struct OverrideParams {
    k: String,
}

#[depends]
async fn common_parameters(Query(p): Query<CommonParams>) -> String {
    format!("q={}", p.q)
}

#[depends]
async fn overrider_with_sub(Query(p): Query<OverrideParams>) -> String {
    format!("k={}", p.k)
}

#[depends]
async fn main_depends(#[dep(common_parameters)] params: &String) -> String {
    format!("main-depends {params}")
}

/// FastAPI `test_override_with_sub_main_depends` (+ `_k_bar`): the replacement's inputs are
/// required and the original's are not.
#[tokio::test]
async fn a_replacements_own_inputs_are_required_and_the_originals_no_longer_are() {
    let _serial = serial().await;
    let app = App::new()
        .get("/main-depends/", main_depends)
        .override_dep(common_parameters, overrider_with_sub);
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/main-depends/").send().await;
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["detail"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(
        body["detail"][0]["loc"],
        serde_json::json!(["query", "k"]),
        "{body}"
    );
    let response = client.get("/main-depends/?k=bar").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "main-depends k=bar");
    client.shutdown().await;
}
