//! Probes of the dependency contract (DESIGN.md) in combinations the other suites do not
//! cover; each test here failed before the fix named in CHANGELOG.md.

mod common;

use common::{events, log, serial};
use di_runtime::prelude::*;
use futures_util::StreamExt;

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        other => other.to_string(),
    }
}

// ------------------------------------- a. an `app`-scoped function holding a per-request value

struct Conn(&'static str);

#[depends]
async fn per_request_conn(y: Yield<Conn>) {
    let (_conn, outcome) = y.provide(Conn("req")).await;
    log(format!("conn:close {}", describe(&outcome)));
}

struct Cache(Held<Conn>);

/// `app`-scoped, but holds a `request`-scoped value: it would outlive it.
#[depends(scope = "app")]
async fn app_cache(#[dep(per_request_conn)] conn: Held<Conn>) -> Cache {
    Cache(conn)
}

#[depends]
async fn read_cache(#[dep(app_cache)] cache: &Cache) -> &'static str {
    (cache.0).0
}

#[tokio::test]
async fn an_app_scoped_function_holding_a_request_scoped_value_is_rejected_at_check() {
    let _serial = serial().await;
    let app = App::new().get("/cache", read_cache);
    let error = app
        .check()
        .expect_err("an app-scoped function cannot hold a request-scoped value");
    // Before: `check` passed, and `start` failed with "`app_cache` (app scope) failed to set
    // up: 500 Internal Server Error", naming neither the rule nor the chain.
    assert_eq!(
        error.problems(),
        [
            "route GET /cache: dependency chain `read_cache` -> `app_cache` -> `per_request_conn`: `app_cache` is `app`-scoped and cannot depend on `per_request_conn`: `per_request_conn` is `request`-scoped; make `per_request_conn` `app`-scoped, or make `app_cache` `request`-scoped"
        ]
    );
    assert!(events().is_empty(), "{:?}", events());
}

// ------------------------------ b. background tasks added while a streamed body is being sent

/// A stream of `parts` items whose last adds a background task to the request's list.
fn adding_at_the_end(
    tasks: BackgroundTasks,
    parts: u8,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    StreamBody::new(futures_util::stream::iter(0..parts).map(move |i| {
        log(format!("chunk {i}"));
        if i + 1 == parts {
            tasks.add(async { log("task added by the body") });
        }
        Ok(format!("{i};"))
    }))
}

/// Starts `app`, GETs `/` and reads the body, then waits for everything the request left to
/// run: the client, the body, and the events logged.
async fn get_then_settle(app: App) -> (TestClient, String, Vec<String>) {
    let client = TestClient::start(app).await.unwrap();
    let body = client.get("/").send().await.text().await.unwrap();
    client.settle().await;
    (client, body, events())
}

#[depends]
async fn export_adding_a_task(
    tasks: BackgroundTasks,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    adding_at_the_end(tasks, 2)
}

#[tokio::test]
async fn a_task_added_by_a_streamed_body_runs_after_it() {
    let _serial = serial().await;
    let (_client, body, events) = get_then_settle(App::new().get("/", export_adding_a_task)).await;
    assert_eq!(body, "0;1;");
    assert_eq!(events, ["chunk 0", "chunk 1", "task added by the body"]);
}

struct Reader;

#[depends]
async fn reader(y: Yield<Reader>) {
    log("reader:open");
    let (_reader, outcome) = y.provide(Reader).await;
    log(format!("reader:close {}", describe(&outcome)));
}

#[depends]
async fn export_with_reader_adding_a_task(
    #[dep(reader)] _reader: &Reader,
    tasks: BackgroundTasks,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    adding_at_the_end(tasks, 2)
}

#[tokio::test]
async fn a_task_added_by_a_streamed_body_runs_before_request_teardown() {
    let _serial = serial().await;
    let (_client, body, events) =
        get_then_settle(App::new().get("/", export_with_reader_adding_a_task)).await;
    assert_eq!(body, "0;1;");
    assert_eq!(
        events,
        [
            "reader:open",
            "chunk 0",
            "chunk 1",
            "task added by the body",
            "reader:close success 200"
        ]
    );
}

#[depends]
async fn export_handing_its_reader_to_a_task(
    #[dep(reader)] reader: Held<Reader>,
    tasks: BackgroundTasks,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    let mut reader = Some(reader);
    StreamBody::new(futures_util::stream::iter(0..2u8).map(move |i| {
        log(format!("chunk {i}"));
        if let Some(reader) = reader.take_if(|_| i == 1) {
            // The task keeps the reader until it has run: its teardown waits for it.
            tasks.add(async move {
                let _reader = reader;
                log("task with the reader");
            });
        }
        Ok(format!("{i};"))
    }))
}

#[tokio::test]
async fn a_task_added_by_a_streamed_body_may_keep_a_held_value_until_it_has_run() {
    let _serial = serial().await;
    // Short, so that the old behaviour (the teardown waiting for the task that runs after
    // it) fails quickly; the test asserts no time.
    let app = App::new()
        .get("/", export_handing_its_reader_to_a_task)
        .teardown_timeout(std::time::Duration::from_secs(1));
    let (client, body, events) = get_then_settle(app).await;
    assert_eq!(body, "0;1;");
    assert_eq!(
        events,
        [
            "reader:open",
            "chunk 0",
            "chunk 1",
            "task with the reader",
            "reader:close success 200"
        ]
    );
    let metrics = client.running().metrics();
    assert_eq!(metrics.teardown_timeouts, 0, "{metrics:?}");
}

#[depends]
async fn export_adding_a_task_then_failing(
    #[dep(reader)] reader: Held<Reader>,
    tasks: BackgroundTasks,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    let mut reader = Some(reader);
    StreamBody::new(futures_util::stream::iter(0..2u8).map(move |i| {
        if let Some(reader) = reader.take_if(|_| i == 0) {
            tasks.add(async move {
                let _reader = reader;
                log("task run after a failed body");
            });
            return Ok("0;".to_owned());
        }
        Err(std::io::Error::other("the export broke"))
    }))
}

#[tokio::test]
async fn a_task_added_by_a_body_that_then_fails_is_dropped_before_teardown() {
    let _serial = serial().await;
    let app = App::new()
        .get("/", export_adding_a_task_then_failing)
        .teardown_timeout(std::time::Duration::from_secs(1));
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/").send().await;
    assert!(response.bytes().await.is_err(), "the body fails");
    client.settle().await;
    assert_eq!(events(), ["reader:open", "reader:close body error"]);
    let metrics = client.running().metrics();
    assert_eq!(metrics.teardown_timeouts, 0, "{metrics:?}");
}

// ------------- c. start-time messages point at what to change: a use's scope, `App::provide`

struct Db;

/// `request`-scoped: declared so by default.
#[depends]
async fn db(y: Yield<Db>) {
    let _ = y.provide(Db).await;
}

struct Repo;

/// Makes its use of `db` a `handler`-scoped instance.
#[depends]
async fn repo(#[dep(db, scope = "handler")] _db: &Db, y: Yield<Repo>) {
    let _ = y.provide(Repo).await;
}

#[depends]
async fn list_with_repo(#[dep(repo)] _repo: &Repo) -> &'static str {
    "listed"
}

struct Query;

/// A plain function that makes its use of `db` `handler`-scoped, and so is itself.
#[depends]
async fn query(#[dep(db, scope = "handler")] _db: &Db) -> Query {
    Query
}

#[depends]
async fn repo_over_query(#[dep(query)] _query: &Query, y: Yield<Repo>) {
    let _ = y.provide(Repo).await;
}

#[depends]
async fn list_with_query(#[dep(repo_over_query)] _repo: &Repo) -> &'static str {
    "listed"
}

#[depends]
async fn export_query(#[dep(query)] _query: Held<Query>) -> &'static str {
    "exported"
}

#[tokio::test]
async fn a_scope_forced_at_a_use_is_named_as_the_cause_not_the_dependencys_declaration() {
    let _serial = serial().await;
    // Before: "... `db` is `handler`-scoped; make `db` `request`-scoped, or ...", of a `db`
    // that is `request`-scoped already.
    assert_eq!(
        common::problems(&App::new().get("/repo", list_with_repo)),
        [
            "route GET /repo: dependency chain `list_with_repo` -> `repo` -> `db`: `repo` is `request`-scoped and cannot depend on `db`: `repo` takes `db` with `scope = \"handler\"`; drop `scope = \"handler\"` from that use, or make `repo` `handler`-scoped"
        ]
    );
    assert_eq!(
        common::problems(&App::new().get("/query", list_with_query)),
        [
            "route GET /query: dependency chain `list_with_query` -> `repo_over_query` -> `query` -> `db`: `repo_over_query` is `request`-scoped and cannot depend on `query`: `query` lives only as long as `db`, which `query` takes with `scope = \"handler\"` (`query` -> `db`); drop `scope = \"handler\"` from that use, or make `repo_over_query` `handler`-scoped"
        ]
    );
    assert_eq!(
        common::problems(&App::new().get("/export", export_query)),
        [
            "route GET /export: dependency chain `export_query` -> `query` -> `db`: the response body of `export_query` holds `query`, but `query` lives only as long as `db`, which `query` takes with `scope = \"handler\"` (`query` -> `db`) and is torn down before the body is sent; drop `scope = \"handler\"` from that use"
        ]
    );
}

struct Tx;

#[depends(scope = "handler")]
async fn tx(y: Yield<Tx>) {
    let _ = y.provide(Tx).await;
}

#[depends]
async fn write(#[dep(tx)] _tx: &mut Tx) -> &'static str {
    "written"
}

#[depends]
async fn write_fresh(#[dep(tx, fresh)] _tx: &Tx) -> &'static str {
    "written"
}

#[tokio::test]
async fn a_value_given_with_provide_is_named_as_such_where_it_cannot_be_used() {
    let _serial = serial().await;
    // Before: "`tx` ... is `app`-scoped", of a `handler`-scoped `tx`; and for `fresh`, advice
    // (`scope = "request"` at the use) that a provided value ignores.
    assert_eq!(
        common::problems(&App::new().post("/write", write).provide(tx, Tx)),
        [
            "route POST /write: `write` takes `&mut` of `tx`, whose value is given with `App::provide` and shared by all requests; take `&T` and use interior mutability, or replace `tx` with `App::override_dep` for an instance per request"
        ]
    );
    assert_eq!(
        common::problems(&App::new().post("/fresh", write_fresh).provide(tx, Tx)),
        [
            "route POST /fresh: `write_fresh` takes `tx` `fresh`, but its value is given with `App::provide`: one value serves the whole app; drop `fresh`, or replace `tx` with `App::override_dep` for an instance of its own"
        ]
    );
}

// ------------------------- d. a clone taken by a generator is no borrow that outlasts its start

#[derive(Clone)]
struct Counter(u32);

#[depends]
async fn counter(y: Yield<Counter>) {
    let (counter, outcome) = y.provide(Counter(1)).await;
    log(format!(
        "counter:close {} {}",
        counter.0,
        describe(&outcome)
    ));
}

/// Takes a copy of the counter when it starts, and holds no borrow of it.
#[depends]
async fn snapshot(#[dep(counter)] counter: Counter, y: Yield<u32>) {
    log(format!("snapshot:open {}", counter.0));
    let (_, outcome) = y.provide(counter.0).await;
    log(format!("snapshot:close {}", describe(&outcome)));
}

#[depends]
async fn bump(#[dep(counter)] counter: &mut Counter, #[dep(snapshot)] seen: &u32) -> String {
    counter.0 += 1;
    format!("now {}, seen {seen}", counter.0)
}

#[tokio::test]
async fn a_generator_taking_a_clone_does_not_conflict_with_a_later_mut_borrow() {
    let _serial = serial().await;
    // Before: refused at check, "`bump` (parameter `counter`) borrows a value mutably
    // (`&mut`) while `snapshot` (parameter `counter`) also borrows it".
    let client = TestClient::start(App::new().get("/", bump)).await.unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "now 2, seen 1");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "snapshot:open 1",
            "snapshot:close success 200",
            "counter:close 2 success 200"
        ]
    );
}

/// Holds the counter mutably from its setup to its teardown.
#[depends]
async fn locker(#[dep(counter)] counter: &mut Counter, y: Yield<u8>) {
    counter.0 += 1;
    let _ = y.provide(0).await;
}

#[depends]
async fn copy_while_locked(
    #[dep(locker)] _locked: &u8,
    #[dep(counter)] counter: Counter,
) -> String {
    counter.0.to_string()
}

#[tokio::test]
async fn a_clone_taken_while_a_generator_holds_the_value_mutably_is_still_refused() {
    let _serial = serial().await;
    let error = App::new()
        .get("/", copy_while_locked)
        .check()
        .expect_err("the handler's clone would wait for the generator's `&mut`");
    assert_eq!(
        error.problems(),
        [
            "route GET /: `locker` (parameter `counter`) borrows a value mutably (`&mut`) while `copy_while_locked` (parameter `counter`) also borrows it; only one of them can hold it at a time; the value is `counter`'s"
        ]
    );
}

// ---------------------------- e. a failed start says why, and its teardowns are told the truth

struct Pool;

#[depends(scope = "app")]
async fn first_pool(y: Yield<Pool>) {
    let (_, outcome) = y.provide(Pool).await;
    log(format!("first_pool:close {}", describe(&outcome)));
}

#[depends(scope = "app")]
async fn panicking_cache() -> u8 {
    panic!("cannot reach the cache")
}

#[depends(scope = "app")]
async fn forgetful_cache(y: Yield<u8>) {
    drop(y);
}

#[depends]
async fn with_panicking_cache(
    #[dep(first_pool)] _p: &Pool,
    #[dep(panicking_cache)] _c: &u8,
) -> &'static str {
    "never"
}

#[depends]
async fn with_forgetful_cache(
    #[dep(first_pool)] _p: &Pool,
    #[dep(forgetful_cache)] _c: &u8,
) -> &'static str {
    "never"
}

#[tokio::test]
async fn an_app_setup_that_panics_or_breaks_the_contract_says_so_in_the_start_error() {
    let _serial = serial().await;
    // Before: "`panicking_cache` (app scope) failed to set up: 500 Internal Server Error",
    // and `first_pool` was told `SetupFailed` where a request's teardowns are told `Panicked`.
    let error = App::new()
        .get("/", with_panicking_cache)
        .start()
        .await
        .expect_err("the start fails");
    assert_eq!(
        error.problems(),
        ["`panicking_cache` (app scope) panicked while it was set up"]
    );
    assert_eq!(events(), ["first_pool:close panicked"]);
    common::clear();
    // Before: "... failed to set up: 500 Internal Server Error", the reason only in a log.
    let error = App::new()
        .get("/", with_forgetful_cache)
        .start()
        .await
        .expect_err("the start fails");
    assert_eq!(
        error.problems(),
        [
            "`forgetful_cache` (app scope) failed to set up: `forgetful_cache` returned without calling `provide`"
        ]
    );
    assert_eq!(
        events(),
        ["first_pool:close setup of `forgetful_cache` failed (500)"]
    );
}

// ------------------- f. an abandoned request gives back a `handler`-scoped place with its scope

struct Quota;

/// A plain `handler`-scoped dependency whose place is held until `handler` scope ends.
#[depends(scope = "handler", max_concurrency = 1)]
async fn quota() -> Quota {
    Quota
}

/// Lets the `request`-scope teardown under way finish.
static RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[depends]
async fn slow_release(y: Yield<u8>) {
    let (_, outcome) = y.provide(0).await;
    log(format!("release:start {}", describe(&outcome)));
    RELEASE.notified().await;
    log("release:done");
}

#[depends]
async fn hang(#[dep(quota)] _quota: &Quota, #[dep(slow_release)] _r: &u8) -> &'static str {
    log("hang:handler");
    std::future::pending::<()>().await;
    "never"
}

#[depends]
async fn quick(#[dep(quota)] _quota: &Quota) -> &'static str {
    "quick"
}

#[tokio::test]
async fn an_abandoned_request_gives_back_a_handler_scoped_place_before_its_request_teardowns() {
    let _serial = serial().await;
    let app = App::new()
        .get("/hang", hang)
        .get("/quick", quick)
        .max_concurrency_wait(std::time::Duration::from_millis(200));
    let client = TestClient::start(app).await.unwrap();
    let gone = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        client.get("/hang").send(),
    )
    .await;
    assert!(gone.is_err(), "the client gave up");
    // `handler` scope has ended: the request-scope teardown is under way, and waits.
    common::wait_for("release:start cancelled client gone").await;
    // Before: 503, the place of `quota` held until the request-scope teardown ended.
    let response = client.get("/quick").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    RELEASE.notify_one();
    client.settle().await;
    assert_eq!(
        events(),
        [
            "hang:handler",
            "release:start cancelled client gone",
            "release:done"
        ]
    );
}

// ------------------------ g. a dependency that was never set up holds no `max_concurrency` place

struct Conn2;

#[depends(max_concurrency = 1)]
async fn limited_conn(y: Yield<Conn2>) {
    log("limited_conn:open");
    let (_, outcome) = y.provide(Conn2).await;
    log(format!("limited_conn:close {}", describe(&outcome)));
}

#[depends]
async fn refuse() -> Result<u8, HttpError> {
    Err(HttpError::new(StatusCode::UNAUTHORIZED, "no"))
}

#[depends]
async fn refused_before_the_conn(
    #[dep(slow_release)] _r: &u8,
    #[dep(refuse)] _auth: &u8,
    #[dep(limited_conn)] _conn: &Conn2,
) -> &'static str {
    "never"
}

#[depends]
async fn with_conn(#[dep(limited_conn)] _conn: &Conn2) -> &'static str {
    "conn"
}

#[tokio::test]
async fn a_failed_setup_gives_back_the_places_of_what_it_never_set_up() {
    let _serial = serial().await;
    let app = App::new()
        .get("/refused", refused_before_the_conn)
        .get("/conn", with_conn)
        .max_concurrency_wait(std::time::Duration::from_millis(200));
    let client = TestClient::start(app).await.unwrap();
    let refused = client.get("/refused").send().await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let _ = refused.bytes().await;
    // The refused request's `request`-scope teardown is under way, and waits.
    common::wait_for("release:start setup of `refuse` failed (401)").await;
    // Before: 503, the place taken for `limited_conn`, never set up, kept until then.
    let response = client.get("/conn").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    let _ = response.bytes().await;
    common::wait_for("limited_conn:close success 200").await;
    RELEASE.notify_one();
    client.settle().await;
    assert_eq!(
        events(),
        [
            "release:start setup of `refuse` failed (401)",
            "limited_conn:open",
            "limited_conn:close success 200",
            "release:done"
        ]
    );
}

// ------------------- h. a task a teardown adds may hold what was set up before that teardown

#[depends]
async fn audit(#[dep(reader)] reader: Held<Reader>, tasks: BackgroundTasks, y: Yield<u8>) {
    let _ = y.provide(0).await;
    // Runs before `reader`'s teardown, which waits for this handle.
    tasks.add(async move {
        let _reader = reader;
        log("late task with the reader");
    });
}

#[depends]
async fn audited(#[dep(audit)] _audit: &u8) -> &'static str {
    "ok"
}

/// A task added by a `request`-scope teardown runs after that teardown and before the next.
/// Before: after every teardown, so one that holds the `Held` value of a generator set up
/// before the one that added it kept that generator's teardown waiting until
/// `teardown_timeout`, when it was abandoned and never ran (`["reader:open", "late task with
/// the reader"]`, one teardown timed out).
#[tokio::test]
async fn a_late_task_holding_an_earlier_generators_value_does_not_stall_its_teardown() {
    let _serial = serial().await;
    let app = App::new()
        .get("/", audited)
        .teardown_timeout(std::time::Duration::from_secs(1));
    let (client, _, _) = get_then_settle(app).await;
    assert_eq!(
        events(),
        [
            "reader:open",
            "late task with the reader",
            "reader:close success 200"
        ]
    );
    assert_eq!(client.running().metrics().teardown_timeouts, 0);
}

#[depends]
async fn audited_failing(#[dep(audit)] _audit: &u8) -> Result<&'static str, HttpError> {
    Err(HttpError::bad_request("refused"))
}

/// After a failed request the task is dropped unrun, before the next teardown.
#[tokio::test]
async fn a_task_a_teardown_adds_after_a_failed_request_is_dropped_before_the_next_teardown() {
    let _serial = serial().await;
    let app = App::new()
        .get("/", audited_failing)
        .teardown_timeout(std::time::Duration::from_secs(1));
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let _ = response.bytes().await;
    client.settle().await;
    assert_eq!(
        events(),
        ["reader:open", "reader:close handler error (400)"]
    );
    assert_eq!(client.running().metrics().teardown_timeouts, 0);
}

// ------------- i. a limited dependency used at two scopes: the message says why two instances

#[depends(max_concurrency = 1)]
async fn one_conn(y: Yield<u8>) {
    let _ = y.provide(0).await;
}

#[depends]
async fn at_two_scopes(
    #[dep(one_conn)] _request: &u8,
    #[dep(one_conn, scope = "handler")] _handler: &u8,
) -> &'static str {
    "never"
}

#[tokio::test]
async fn a_limited_dependency_used_at_two_scopes_is_reported_as_such() {
    let _serial = serial().await;
    // Before: "...; raise the limit, or share one instance instead of taking it `fresh`", of
    // a route that takes nothing `fresh`.
    assert_eq!(
        common::problems(&App::new().get("/", at_two_scopes)),
        [
            "route GET /: one request needs 2 instances of `one_conn`, which is `max_concurrency = 1`, so it could never be served; raise the limit, or share one instance: it is used at `request` and `handler` scope, an instance at each (and one for each `fresh` use)"
        ]
    );
}

// ------------------ j. a generator's error may be a response of its own, as a plain function's

/// An application error as axum users write it: a response, no `HttpError`.
enum TxError {
    Busy,
    Conflict,
}

impl IntoResponse for TxError {
    fn into_response(self) -> di_runtime::Response {
        match self {
            TxError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "database busy").into_response(),
            TxError::Conflict => (StatusCode::CONFLICT, "write conflict, retry").into_response(),
        }
    }
}

#[derive(serde::Deserialize)]
struct Fail {
    at: String,
}

#[depends(scope = "handler")]
async fn tx_or_error(
    di_runtime::Query(fail): di_runtime::Query<Fail>,
    y: Yield<u8>,
) -> Result<(), TxError> {
    if fail.at == "begin" {
        return Err(TxError::Busy);
    }
    let (_, outcome) = y.provide(1).await;
    log(format!("tx:close {}", describe(&outcome)));
    if fail.at == "commit" {
        return Err(TxError::Conflict);
    }
    Ok(())
}

#[depends]
async fn watcher(y: Yield<u16>) {
    let (_, outcome) = y.provide(1).await;
    log(format!("watcher:close {}", describe(&outcome)));
}

#[depends]
async fn write_in_tx(#[dep(watcher)] _w: &u16, #[dep(tx_or_error)] _tx: &u8) -> &'static str {
    "written"
}

#[tokio::test]
async fn a_generators_error_that_is_a_response_is_sent_as_it_is() {
    let _serial = serial().await;
    // Before: did not compile ("the trait bound `TxError: std::error::Error` is not
    // satisfied"), where docs and a plain function take an `IntoResponse` error.
    let client = TestClient::start(App::new().post("/", write_in_tx))
        .await
        .unwrap();
    for (at, status, body) in [
        ("none", 200, "written"),
        ("begin", 503, "database busy"),
        ("commit", 409, "write conflict, retry"),
    ] {
        let response = client.post(&format!("/?at={at}")).send().await;
        assert_eq!(response.status().as_u16(), status, "{at}");
        assert_eq!(response.text().await.unwrap(), body, "{at}");
        client.settle().await;
    }
    assert_eq!(
        events(),
        [
            "tx:close success 200",
            "watcher:close success 200",
            "watcher:close setup of `tx_or_error` failed (503)",
            "tx:close success 200",
            "watcher:close teardown of `tx_or_error` failed (409)",
        ]
    );
}

// -------------- k. `&mut` borrows one after the other share one value; only overlapping ones conflict

struct Ledger(Vec<&'static str>);

/// One transaction per request, committed (here: logged) in its teardown.
#[depends(scope = "handler")]
async fn one_tx(y: Yield<Ledger>) {
    let (tx, outcome) = y.provide(Ledger(Vec::new())).await;
    log(format!("tx:commit {:?} {}", tx.0, describe(&outcome)));
}

/// A repository function: writes through the transaction while it runs, and keeps no borrow.
#[depends]
async fn insert_user(#[dep(one_tx)] tx: &mut Ledger) -> u32 {
    tx.0.push("user");
    7
}

/// A second one, which waits: its borrow still ends when it returns.
#[depends]
async fn insert_audit(#[dep(one_tx)] tx: &mut Ledger, #[dep(insert_user)] id: &u32) -> u32 {
    tokio::task::yield_now().await;
    tx.0.push("audit");
    *id
}

#[depends]
async fn create_user(
    #[dep(one_tx)] tx: &mut Ledger,
    #[dep(insert_user)] id: &u32,
    #[dep(insert_audit)] audited: &u32,
) -> String {
    tx.0.push("reply");
    format!("{id} {audited} {:?}", tx.0)
}

#[tokio::test]
async fn mutable_borrows_one_after_the_other_write_through_one_value() {
    let _serial = serial().await;
    // Before: refused at check, "`create_user` (parameter `tx`) and `insert_user` (parameter
    // `tx`) both borrow the same value mutably (`&mut`) in one request; use `#[dep(f, fresh)]`
    // for a second instance", though a plain function's borrow ends before the next function
    // starts: and `fresh` gives each its own transaction, committed apart.
    let client = TestClient::start(App::new().post("/", create_user))
        .await
        .unwrap();
    let response = client.post("/").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        r#"7 7 ["user", "audit", "reply"]"#
    );
    client.settle().await;
    assert_eq!(
        events(),
        [r#"tx:commit ["user", "audit", "reply"] success 200"#]
    );
}

/// Holds the transaction mutably from its setup to its teardown.
#[depends(scope = "handler")]
async fn tx_holder(#[dep(one_tx)] tx: &mut Ledger, y: Yield<u8>) {
    tx.0.push("held");
    let _ = y.provide(0).await;
}

#[depends]
async fn writes_while_held(#[dep(tx_holder)] _h: &u8, #[dep(one_tx)] tx: &mut Ledger) -> String {
    tx.0.push("handler");
    String::new()
}

/// `request`-scoped: a value a function may keep a `HeldMut` of.
#[depends]
async fn request_ledger(y: Yield<Ledger>) {
    let _ = y.provide(Ledger(Vec::new())).await;
}

/// Takes the ledger as `HeldMut` and could keep it in its value.
#[depends]
async fn keeps_tx(#[dep(request_ledger)] tx: HeldMut<Ledger>) -> u8 {
    drop(tx);
    0
}

#[depends]
async fn writes_after_kept(
    #[dep(keeps_tx)] _k: &u8,
    #[dep(request_ledger)] tx: &mut Ledger,
) -> String {
    tx.0.push("handler");
    String::new()
}

#[tokio::test]
async fn mutable_borrows_alive_at_once_are_still_refused() {
    let _serial = serial().await;
    let error = App::new()
        .get("/held", writes_while_held)
        .get("/kept", writes_after_kept)
        .check()
        .expect_err("each route takes the transaction `&mut` twice at once");
    assert_eq!(
        error.problems(),
        [
            "route GET /held: `tx_holder` (parameter `tx`) and `writes_while_held` (parameter `tx`) both borrow the same value mutably (`&mut`) at once; only one of them can hold it at a time; the value is `one_tx`'s (`tx_holder` is a generator: it holds it from its setup to its teardown); use `#[dep(f, fresh)]` only if each needs an instance of its own",
            "route GET /kept: `keeps_tx` (parameter `tx`) and `writes_after_kept` (parameter `tx`) both borrow the same value mutably (`&mut`) at once; only one of them can hold it at a time; the value is `request_ledger`'s (`keeps_tx` (parameter `tx`) takes it as `Held`/`HeldMut` and may keep it in its value, so it holds it until the request ends); use `#[dep(f, fresh)]` only if each needs an instance of its own",
        ]
    );
}
