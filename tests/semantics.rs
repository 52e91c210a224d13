//! The contract of DESIGN.md, in process: each test drives an app through `TestClient`
//! (the same service the server uses) and asserts the exact order of events.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{count, events, log, position, serial};
use di_runtime::prelude::*;
use futures_util::stream;
use serde_json::{Value, json};

/// A resource with an open flag that its teardown clears.
#[derive(Clone)]
struct Session {
    name: &'static str,
    open: Arc<AtomicBool>,
}

impl Session {
    fn new(name: &'static str) -> Self {
        log(format!("{name}:open"));
        Self {
            name,
            open: Arc::new(AtomicBool::new(true)),
        }
    }

    fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    fn close(self, outcome: &Outcome) {
        self.open.store(false, Ordering::SeqCst);
        log(format!("{}:close {}", self.name, describe(outcome)));
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::HandlerError { status, .. } => format!("handler-error {}", status.as_u16()),
        Outcome::SetupFailed { dependency, error } => {
            format!("setup-failed {dependency} {}", error.status().as_u16())
        }
        Outcome::TeardownFailed { dependency, .. } => format!("teardown-failed {dependency}"),
        Outcome::Panicked => "panicked".into(),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        Outcome::BodyError { .. } => "body-error".into(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------- a. handler-scoped commit

struct Tx {
    writes: Vec<String>,
}

#[depends(scope = "handler")]
async fn tx(y: Yield<Tx>) {
    log("open");
    let (tx, outcome) = y.provide(Tx { writes: Vec::new() }).await;
    if outcome.is_success() {
        log(format!("commit {:?}", tx.writes));
    } else {
        log(format!("rollback {}", describe(&outcome)));
    }
    log("close");
}

#[depends]
async fn create(#[dep(tx)] tx: &mut Tx, Json(title): Json<String>) -> (StatusCode, String) {
    log("handler");
    tx.writes.push(title);
    (StatusCode::CREATED, "created".into())
}

#[tokio::test]
async fn a_handler_scope_commits_before_the_response_head() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().post("/notes", create))
        .await
        .unwrap();
    let response = client.post("/notes").json("hello").send().await;
    log(format!("head {}", response.status().as_u16()));
    assert_eq!(response.text().await.unwrap(), "created");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "open",
            "handler",
            r#"commit ["hello"]"#,
            "close",
            "head 201"
        ]
    );
}

// ---------------------------------------------------------------- b. request + handler order

/// A generator's body: opens the session `name`, provides it, closes it with the outcome.
async fn open_session(y: Yield<Session>, name: &'static str) {
    let (session, outcome) = y.provide(Session::new(name)).await;
    session.close(&outcome);
}

#[depends]
async fn req_session(y: Yield<Session>) {
    open_session(y, "req").await;
}

#[depends(scope = "handler")]
async fn fn_session(y: Yield<Session>) {
    open_session(y, "fn").await;
}

#[depends]
async fn both(#[dep(req_session)] _r: &Session, #[dep(fn_session)] _f: &Session) -> &'static str {
    log("handler");
    "ok"
}

#[tokio::test]
async fn b_handler_scope_before_head_request_scope_after_body() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", both)).await.unwrap();
    let response = client.get("/").send().await;
    log("head");
    let body = response.text().await.unwrap();
    log(format!("body {body}"));
    client.settle().await;
    assert_eq!(
        events(),
        [
            "req:open",
            "fn:open",
            "handler",
            "fn:close success 200",
            "head",
            "body ok",
            "req:close success 200"
        ]
    );
}

// ---------------------------------------------------------------- c. streaming

#[depends]
async fn stream_both(
    #[dep(req_session)] req: Held<Session>,
    #[dep(fn_session)] func: &Session,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    log("handler");
    let func_flag = func.open.clone();
    let chunks = stream::unfold((req, 0), move |(req, i)| {
        let func_flag = func_flag.clone();
        async move {
            if i == 3 {
                return None;
            }
            let chunk = format!(
                "{i}:req={},fn={};",
                req.is_open(),
                func_flag.load(Ordering::SeqCst)
            );
            log(format!("chunk {i}"));
            Some((Ok(chunk), (req, i + 1)))
        }
    });
    StreamBody::new(chunks)
}

#[tokio::test]
async fn c_stream_reads_request_scope_until_the_end_and_never_handler_scope() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/stream", stream_both))
        .await
        .unwrap();
    let mut response = client.get("/stream").send().await;
    let mut body = String::new();
    while let Some(chunk) = response.chunk().await {
        body.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    log("end");
    drop(response);
    client.settle().await;
    assert_eq!(
        body,
        "0:req=true,fn=false;1:req=true,fn=false;2:req=true,fn=false;"
    );
    let events = events();
    assert!(
        position(&events, "fn:close success 200") < position(&events, "chunk 0"),
        "{events:?}"
    );
    assert!(
        position(&events, "chunk 2") < position(&events, "req:close success 200"),
        "{events:?}"
    );
    assert_eq!(count(&events, "req:close success 200"), 1, "{events:?}");
}

// ---------------------------------------------------------------- d. handler error

#[depends]
async fn missing(
    #[dep(tx)] tx: &mut Tx,
    #[dep(req_session)] _r: &Session,
) -> Result<String, HttpError> {
    log("handler");
    tx.writes.push("half-done".into());
    Err(HttpError::not_found("note 7 not found"))
}

#[tokio::test]
async fn d_handler_error_reaches_every_teardown_and_rolls_back() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/notes/7", missing))
        .await
        .unwrap();
    let response = client.get("/notes/7").send().await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"detail": "note 7 not found"}));
    client.settle().await;
    let events = events();
    assert_eq!(
        events,
        [
            "open",
            "req:open",
            "handler",
            "rollback handler-error 404",
            "close",
            "req:close handler-error 404"
        ]
    );
}

// ---------------------------------------------------------------- e. setup failure

#[depends]
async fn unauthorized() -> Result<String, HttpError> {
    log("third:setup");
    Err(HttpError::new(StatusCode::UNAUTHORIZED, "nope"))
}

#[depends]
async fn never_runs(
    #[dep(req_session)] _first: &Session,
    #[dep(fn_session)] _second: &Session,
    #[dep(unauthorized)] _third: &String,
) -> &'static str {
    log("handler");
    "unreachable"
}

#[tokio::test]
async fn e_setup_failure_tears_down_what_was_set_up_in_reverse() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", never_runs))
        .await
        .unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "nope"})
    );
    client.settle().await;
    assert_eq!(
        events(),
        [
            "req:open",
            "fn:open",
            "third:setup",
            "fn:close setup-failed unauthorized 401",
            "req:close setup-failed unauthorized 401"
        ]
    );
}

// ------------------------------------------- scopes interleaved: each torn down in reverse

#[depends]
async fn req_session_2(y: Yield<Session>) {
    open_session(y, "req2").await;
}

#[depends(scope = "handler")]
async fn fn_session_2(y: Yield<Session>) {
    open_session(y, "fn2").await;
}

#[depends]
async fn interleaved(
    #[dep(fn_session)] _f1: &Session,
    #[dep(req_session)] _r1: &Session,
    #[dep(fn_session_2)] _f2: &Session,
    #[dep(req_session_2)] _r2: &Session,
) -> &'static str {
    log("handler");
    "ok"
}

#[tokio::test]
async fn scopes_set_up_interleaved_are_each_torn_down_in_reverse_handler_scope_first() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", interleaved))
        .await
        .unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.status(), 200);
    log("body:start");
    assert_eq!(response.text().await.unwrap(), "ok");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "fn:open",
            "req:open",
            "fn2:open",
            "req2:open",
            "handler",
            "fn2:close success 200",
            "fn:close success 200",
            "body:start",
            "req2:close success 200",
            "req:close success 200",
        ]
    );
    client.shutdown().await;
}

// ---------------------------------------------------------------- f (in process). panics

#[depends]
async fn panics(#[dep(req_session)] _r: &Session, #[dep(fn_session)] _f: &Session) -> &'static str {
    panic!("secret panic text");
}

#[tokio::test]
async fn f_panic_becomes_a_generic_500_and_teardowns_see_it() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", panics))
        .await
        .unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.status(), 500);
    let text = response.text().await.unwrap();
    assert_eq!(text, r#"{"detail":"Internal Server Error"}"#);
    client.settle().await;
    assert_eq!(
        events(),
        [
            "req:open",
            "fn:open",
            "fn:close panicked",
            "req:close panicked"
        ]
    );
}

// ---------------------------------------------------------------- g. per-request cache

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[depends]
async fn counted(y: Yield<usize>) {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
    log(format!("setup #{n}"));
    let (n, _) = y.provide(n).await;
    log(format!("teardown #{n}"));
}

#[depends]
async fn uses_counted(#[dep(counted)] n: &usize) -> usize {
    *n
}

#[depends]
async fn cached(
    #[dep(counted)] a: &usize,
    #[dep(counted)] b: usize,
    #[dep(uses_counted)] c: &usize,
) -> String {
    format!("{a},{b},{c}")
}

#[depends]
async fn uncached(
    #[dep(counted)] a: &usize,
    #[dep(counted, fresh)] b: &usize,
    #[dep(counted, fresh)] c: &usize,
) -> String {
    format!("{a},{b},{c}")
}

#[tokio::test]
async fn g_cache_runs_once_per_request_and_fresh_opts_out_lifo() {
    let _serial = serial().await;
    COUNTER.store(0, Ordering::SeqCst);
    let app = App::new().get("/cached", cached).get("/uncached", uncached);
    let client = TestClient::start(app).await.unwrap();

    let body = client.get("/cached").send().await.text().await.unwrap();
    client.settle().await;
    assert_eq!(body, "1,1,1");
    assert_eq!(events(), ["setup #1", "teardown #1"]);

    let body = client.get("/cached").send().await.text().await.unwrap();
    client.settle().await;
    assert_eq!(body, "2,2,2", "nothing is cached across requests");

    let body = client.get("/uncached").send().await.text().await.unwrap();
    client.settle().await;
    assert_eq!(body, "3,4,5");
    assert_eq!(
        &events()[4..],
        [
            "setup #3",
            "setup #4",
            "setup #5",
            "teardown #5",
            "teardown #4",
            "teardown #3"
        ]
    );
}

// ---------------------------------------------------------------- j. the scope rule

#[depends]
async fn via_plain(#[dep(tx)] tx: &Tx) -> usize {
    tx.writes.len()
}

#[depends]
async fn audit(#[dep(via_plain)] n: &usize, y: Yield<usize>) {
    let _ = y.provide(*n).await;
}

#[depends]
async fn audited(#[dep(audit)] n: &usize) -> String {
    n.to_string()
}

#[tokio::test]
async fn j_request_scope_cannot_depend_on_handler_scope_through_a_plain_function() {
    let app = App::new().get("/audited", audited);
    let error = app.check().unwrap_err();
    let message = error.to_string();
    assert!(message.contains("route GET /audited"), "{message}");
    assert!(
        message.contains("`audited` -> `audit` -> `via_plain` -> `tx`"),
        "{message}"
    );
    assert!(message.contains("`audit` is `request`-scoped"), "{message}");
    let start = TestClient::start(App::new().get("/audited", audited)).await;
    assert!(
        start.is_err(),
        "an app that breaks the scope rule never serves"
    );
}

#[depends]
async fn plain_on_handler_scope(#[dep(via_plain)] n: &usize) -> String {
    n.to_string()
}

#[tokio::test]
async fn handler_may_use_a_plain_function_over_handler_scope() {
    // FastAPI A07: a plain function depending on a `handler`-scoped value is allowed; it
    // inherits the shorter scope.
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", plain_on_handler_scope))
        .await
        .unwrap();
    assert_eq!(client.get("/").send().await.text().await.unwrap(), "0");
}

// ---------------------------------------------------------------- background tasks

#[depends]
async fn query_logger(
    tasks: &BackgroundTasks,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> String {
    let q = q.get("q").cloned().unwrap_or_default();
    let found = q.clone();
    tasks.add(async move { log(format!("task: found query {found}")) });
    q
}

#[depends]
async fn send_notification(
    #[dep(req_session)] session: Held<Session>,
    #[dep(query_logger)] q: &String,
    tasks: BackgroundTasks,
    Path(email): Path<String>,
) -> Result<String, HttpError> {
    log("handler");
    if email == "nobody" {
        return Err(HttpError::not_found("no such user"));
    }
    if email == "explode" {
        tasks.add(async { panic!("task panic") });
    }
    tasks.add(async move {
        log(format!(
            "task: message to {email}, session open {}",
            session.is_open()
        ));
    });
    Ok(format!("queued ({q})"))
}

#[tokio::test]
async fn background_tasks_run_in_order_after_the_body_and_before_request_teardown() {
    // FastAPI D08 and T5: one shared list, tasks in insertion order, after the body is sent,
    // while `request`-scoped values are still open.
    let _serial = serial().await;
    let app = App::new().post("/send-notification/{email}", send_notification);
    let client = TestClient::start(app).await.unwrap();
    let response = client
        .post("/send-notification/foo@example.com?q=some-query")
        .send()
        .await;
    log("head");
    assert_eq!(response.text().await.unwrap(), "queued (some-query)");
    log("body");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "req:open",
            "handler",
            "head",
            "body",
            "task: found query some-query",
            "task: message to foo@example.com, session open true",
            "req:close success 200"
        ]
    );
}

/// A `request`-scoped generator that queues work from its teardown, as a session that
/// flushes an audit log once closed.
#[depends]
async fn audited_session(tasks: BackgroundTasks, y: Yield<u8>) {
    let (_, outcome) = y.provide(1).await;
    let succeeded = outcome.is_success();
    log(format!("audit:close success {succeeded}"));
    tasks.add(async move { log(format!("task: flush audit (success {succeeded})")) });
}

#[depends]
async fn audited_route(
    #[dep(audited_session)] _s: &u8,
    tasks: &BackgroundTasks,
    Path(fail): Path<bool>,
) -> Result<&'static str, HttpError> {
    tasks.add(async { log("task: from the handler") });
    if fail {
        return Err(HttpError::bad_request("failed"));
    }
    Ok("ok")
}

/// Tasks that a `request`-scope teardown adds run after the teardowns (they were dropped
/// unrun), as the handler's run before them; after a failed request, neither runs.
#[tokio::test]
async fn background_tasks_added_by_a_request_teardown_run_after_it() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/audited/{fail}", audited_route))
        .await
        .unwrap();
    let response = client.get("/audited/false").send().await;
    assert_eq!(response.text().await.unwrap(), "ok");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "task: from the handler",
            "audit:close success true",
            "task: flush audit (success true)",
        ]
    );

    common::clear();
    let response = client.get("/audited/true").send().await;
    assert_eq!(response.status(), 400);
    let _ = response.bytes().await;
    client.settle().await;
    assert_eq!(events(), ["audit:close success false"]);
    client.shutdown().await;
}

#[tokio::test]
async fn background_tasks_do_not_run_after_a_handler_error() {
    let _serial = serial().await;
    let app = App::new().post("/send-notification/{email}", send_notification);
    let client = TestClient::start(app).await.unwrap();
    let response = client.post("/send-notification/nobody?q=x").send().await;
    assert_eq!(response.status(), 404);
    let _ = response.bytes().await;
    client.settle().await;
    assert_eq!(
        events(),
        ["req:open", "handler", "req:close handler-error 404"]
    );
}

#[tokio::test]
async fn a_panicking_background_task_is_counted_and_the_rest_still_run() {
    let _serial = serial().await;
    let app = App::new().post("/send-notification/{email}", send_notification);
    let client = TestClient::start(app).await.unwrap();
    let response = client.post("/send-notification/explode?q=x").send().await;
    assert_eq!(response.status(), 200);
    let _ = response.bytes().await;
    client.settle().await;
    assert_eq!(client.running().background_task_failures(), 1);
    let events = events();
    assert_eq!(
        count(&events, "task: message to explode, session open true"),
        1,
        "{events:?}"
    );
    assert_eq!(
        events.last().map(String::as_str),
        Some("req:close success 200"),
        "{events:?}"
    );
}

// ------------------------------------------- the test client's shutdown with a response held

#[depends(scope = "app")]
async fn shared_pool(y: Yield<u8>) {
    let (_, outcome) = y.provide(7).await;
    log(format!("pool:close {outcome}"));
}

#[depends]
async fn pooled_conn(#[dep(shared_pool)] pool: &u8, y: Yield<u8>) {
    let (_, outcome) = y.provide(*pool).await;
    log(format!("conn:close {outcome}"));
}

#[depends]
async fn uses_conn(
    #[dep(pooled_conn)] conn: Held<u8>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    StreamBody::new(stream::iter([Ok(format!("conn {}", *conn))]))
}

#[tokio::test]
async fn shutdown_cuts_a_response_the_test_still_holds_then_tears_down_app_scope() {
    let _serial = serial().await;
    let app = App::new()
        .get("/", uses_conn)
        .teardown_timeout(std::time::Duration::from_secs(5));
    let client = TestClient::start(app).await.unwrap();
    let held = client.get("/").send().await;
    assert_eq!(held.status(), 200);
    // The streamed body is never read, and the response is still held at shutdown (a body
    // held whole is read by `send`, see `a_whole_body_is_sent_whether_or_not_the_test_reads_it`).
    client.shutdown().await;
    assert_eq!(
        events(),
        ["conn:close cancelled (shutdown)", "pool:close app stopped"],
        "the request's teardown first, with the shutdown's outcome, then app scope"
    );
    let mut held = held;
    assert!(
        held.chunk().await.is_some_and(|read| read.is_err()),
        "a body cut at shutdown reads as an error"
    );
}

// ------------------------------------- a sub-dependency shared by two scopes (FastAPI A15)

#[depends]
async fn shared_db(y: Yield<Session>) {
    open_session(y, "db").await;
}

/// `handler`-scoped, over the `request`-scoped `shared_db`.
#[depends(scope = "handler")]
async fn repo_over_db(#[dep(shared_db)] db: &Session, y: Yield<u8>) {
    log("repo:open");
    let (_, outcome) = y.provide(1).await;
    log(format!(
        "repo:close {} db open {}",
        describe(&outcome),
        db.is_open()
    ));
}

/// `request`-scoped, over the same `shared_db`.
#[depends]
async fn reader_over_db(#[dep(shared_db)] db: &Session, y: Yield<u8>) {
    log("reader:open");
    let (_, outcome) = y.provide(2).await;
    log(format!(
        "reader:close {} db open {}",
        describe(&outcome),
        db.is_open()
    ));
}

#[depends]
async fn repo_and_reader(
    #[dep(repo_over_db)] _repo: &u8,
    #[dep(reader_over_db)] _reader: &u8,
    #[dep(shared_db)] db: &Session,
) -> String {
    log("handler");
    db.name.to_owned()
}

/// One `request`-scoped instance serves a `handler`-scoped and a `request`-scoped dependant:
/// set up once, still open in both teardowns, torn down once, last.
#[tokio::test]
async fn a_sub_dependency_shared_by_a_handler_and_a_request_scoped_generator_is_one_instance() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", repo_and_reader))
        .await
        .unwrap();
    let response = client.get("/").send().await;
    log("head");
    assert_eq!(response.text().await.unwrap(), "db");
    log("body");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "db:open",
            "repo:open",
            "reader:open",
            "handler",
            "repo:close success 200 db open true",
            "head",
            "body",
            "reader:close success 200 db open true",
            "db:close success 200",
        ]
    );
    client.shutdown().await;
}

// ------------------------------------- `fresh` re-runs that dependency only (FastAPI E03)

static FRESH_COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[depends]
async fn tick(y: Yield<usize>) {
    let n = FRESH_COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
    log(format!("tick #{n}"));
    let (n, _) = y.provide(n).await;
    log(format!("untick #{n}"));
}

static WRAP_COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[depends]
async fn wraps_tick(#[dep(tick)] t: &usize, y: Yield<String>) {
    let n = WRAP_COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
    log(format!("wrap #{n} over tick #{t}"));
    let _ = y.provide(format!("w{n}t{t}")).await;
    log(format!("unwrap #{n}"));
}

/// FastAPI's `/sub-counter-no-cache/`: a cached use through a sub-dependency, then a fresh
/// use of the same function directly.
#[depends]
async fn sub_counter_no_cache(
    #[dep(wraps_tick)] sub: &String,
    #[dep(tick, fresh)] count: &usize,
) -> String {
    format!("{sub},{count}")
}

/// A fresh use of a dependency with sub-dependencies runs the dependency again; its
/// sub-dependencies stay cached (FastAPI's `use_cache` is per `Depends`).
#[depends]
async fn fresh_wrapper(
    #[dep(wraps_tick)] a: &String,
    #[dep(wraps_tick, fresh)] b: &String,
    #[dep(tick)] c: &usize,
) -> String {
    format!("{a},{b},{c}")
}

#[tokio::test]
async fn a_fresh_use_reruns_only_that_dependency_and_its_sub_dependencies_stay_cached() {
    let _serial = serial().await;
    FRESH_COUNTER.store(0, Ordering::SeqCst);
    WRAP_COUNTER.store(0, Ordering::SeqCst);
    let app = App::new()
        .get("/sub", sub_counter_no_cache)
        .get("/wrapper", fresh_wrapper);
    let client = TestClient::start(app).await.unwrap();

    let body = client.get("/sub").send().await.text().await.unwrap();
    client.settle().await;
    assert_eq!(body, "w1t1,2", "FastAPI: counter 2, subcounter 1");
    assert_eq!(
        events(),
        [
            "tick #1",
            "wrap #1 over tick #1",
            "tick #2",
            "untick #2",
            "unwrap #1",
            "untick #1"
        ]
    );

    common::clear();
    FRESH_COUNTER.store(0, Ordering::SeqCst);
    WRAP_COUNTER.store(0, Ordering::SeqCst);
    let body = client.get("/wrapper").send().await.text().await.unwrap();
    client.settle().await;
    assert_eq!(body, "w1t1,w2t1,1");
    assert_eq!(
        events(),
        [
            "tick #1",
            "wrap #1 over tick #1",
            "wrap #2 over tick #1",
            "unwrap #2",
            "unwrap #1",
            "untick #1"
        ]
    );
    client.shutdown().await;
}

// ------------------------------------- background tasks after a streamed body (FastAPI T5)

#[depends]
async fn stream_with_tasks(
    #[dep(req_session)] req: Held<Session>,
    #[dep(fn_session)] func: &Session,
    tasks: &BackgroundTasks,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    log("handler");
    let func = func.clone();
    let req_for_task = req.clone();
    tasks.add(async move {
        log(format!(
            "task: req open {}, fn open {}",
            req_for_task.is_open(),
            func.is_open()
        ));
    });
    let chunks = stream::unfold((req, 0), |(req, i)| async move {
        if i == 2 {
            return None;
        }
        log(format!("chunk {i}"));
        Some((Ok(format!("{i}:{};", req.is_open())), (req, i + 1)))
    });
    StreamBody::new(chunks)
}

/// Tasks run after the last chunk of a streamed body, when `handler` scope is long closed and
/// `request` scope still open, and before `request`-scope teardown.
#[tokio::test]
async fn background_tasks_run_after_the_last_chunk_of_a_stream_and_before_request_teardown() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", stream_with_tasks))
        .await
        .unwrap();
    let body = client.get("/").send().await.text().await.unwrap();
    assert_eq!(body, "0:true;1:true;");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "req:open",
            "fn:open",
            "handler",
            "fn:close success 200",
            "chunk 0",
            "chunk 1",
            "task: req open true, fn open false",
            "req:close success 200"
        ]
    );
    client.shutdown().await;
}

// ------------------------------------- the handler's error reaches teardown (FastAPI C07/C09/C17)

/// Records what the handler's error was, as an `except OwnerError as e:` would.
#[depends(scope = "handler")]
async fn owner_check(y: Yield<&'static str>) {
    let (_, outcome) = y.provide("Rick").await;
    match outcome.error() {
        Some(error) => log(format!(
            "owner:close {} {}",
            describe(&outcome),
            error.detail().as_str().unwrap_or_default()
        )),
        None => log(format!("owner:close {}", describe(&outcome))),
    }
}

#[depends]
async fn item(
    #[dep(owner_check)] owner: &&'static str,
    #[dep(req_session)] _r: &Session,
    Path(id): Path<String>,
) -> Result<String, HttpError> {
    match id.as_str() {
        "plumbus" => Err(HttpError::bad_request(format!("Owner error: {owner}"))),
        "foo" => Err(HttpError::not_found("Item not found")),
        _ => Ok(id),
    }
}

#[depends]
async fn broken_item(
    #[dep(owner_check)] _owner: &&'static str,
    #[dep(req_session)] _r: &Session,
) -> Result<String, std::io::Error> {
    Err(std::io::Error::other(
        "secret: the portal gun is too dangerous",
    ))
}

#[tokio::test]
async fn the_handlers_error_reaches_every_teardown_and_a_non_http_error_is_a_generic_500() {
    let _serial = serial().await;
    let app = App::new()
        .get("/items/{id}", item)
        .get("/broken", broken_item);
    let client = TestClient::start(app).await.unwrap();

    let response = client.get("/items/plumbus").send().await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "Owner error: Rick"})
    );
    client.settle().await;
    let response = client.get("/items/foo").send().await;
    assert_eq!(response.status(), 404);
    let _ = response.bytes().await;
    client.settle().await;
    assert_eq!(
        events(),
        [
            "req:open",
            "owner:close handler-error 400 Owner error: Rick",
            "req:close handler-error 400",
            "req:open",
            "owner:close handler-error 404 Item not found",
            "req:close handler-error 404",
        ]
    );

    common::clear();
    let response = client.get("/broken").send().await;
    assert_eq!(response.status(), 500);
    let text = response.text().await.unwrap();
    assert!(!text.contains("secret"), "{text}");
    client.settle().await;
    let events = events();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(
        events[1].starts_with("owner:close handler-error 500"),
        "{events:?}"
    );
    assert_eq!(events[2], "req:close handler-error 500");
    client.shutdown().await;
}

// ------------------------------------- a generator failing before `provide` (FastAPI C18)

#[depends(scope = "handler")]
async fn bad_gen(y: Yield<u8>) -> Result<(), HttpError> {
    log("bad:setup");
    let _ = &y;
    Err(HttpError::new(StatusCode::UNAUTHORIZED, "nope"))
}

#[depends]
async fn after_bad_gen(
    #[dep(req_session)] _r: &Session,
    #[dep(fn_session)] _f: &Session,
    #[dep(bad_gen)] _b: &u8,
) -> &'static str {
    log("handler");
    "unreachable"
}

/// A generator that returns its error before `provide` is a setup failure: that error is the
/// response, what was set up is torn down (told so), and the generator itself never is.
#[tokio::test]
async fn a_generator_failing_before_provide_is_the_response_and_the_rest_is_torn_down() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", after_bad_gen))
        .await
        .unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "nope"})
    );
    client.settle().await;
    assert_eq!(
        events(),
        [
            "req:open",
            "fn:open",
            "bad:setup",
            "fn:close setup-failed bad_gen 401",
            "req:close setup-failed bad_gen 401"
        ]
    );
    client.shutdown().await;
}

// ------------------------------------- tasks added by a `handler`-scope teardown

#[depends(scope = "handler")]
async fn commit_then_notify(tasks: BackgroundTasks, y: Yield<u8>) {
    let (_, outcome) = y.provide(1).await;
    log("commit");
    let ok = outcome.is_success();
    tasks.add(async move { log(format!("task: notify (committed {ok})")) });
}

#[depends]
async fn notify_route(
    #[dep(req_session)] _r: &Session,
    #[dep(commit_then_notify)] _c: &u8,
    tasks: &BackgroundTasks,
) -> &'static str {
    tasks.add(async { log("task: from the handler") });
    "ok"
}

/// A `handler`-scope teardown runs before the response, so the tasks it adds run with the
/// handler's, after the body and before `request`-scope teardown.
#[tokio::test]
async fn background_tasks_added_by_a_handler_teardown_run_after_the_body_before_request_teardown() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", notify_route))
        .await
        .unwrap();
    let response = client.get("/").send().await;
    log("head");
    assert_eq!(response.text().await.unwrap(), "ok");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "req:open",
            "commit",
            "head",
            "task: from the handler",
            "task: notify (committed true)",
            "req:close success 200"
        ]
    );
    client.shutdown().await;
}
