//! An adversarial walk of the contract (DESIGN.md) in combinations.

mod common;

use std::time::Duration;

use common::{describe, events, log, serial, within};
use di_runtime::prelude::*;
use futures_util::StreamExt;

// ---------------------------------------------- 1. a panicking and a failing handler teardown

struct A;
struct B;

#[depends(scope = "handler")]
async fn fails_with_secret(y: Yield<A>) -> Result<(), std::io::Error> {
    let (_a, outcome) = y.provide(A).await;
    log(format!("a:down {}", describe(&outcome)));
    Err(std::io::Error::other("password=hunter2 in the DSN"))
}

#[depends(scope = "handler")]
async fn panics_in_teardown(y: Yield<B>) {
    let (_b, outcome) = y.provide(B).await;
    log(format!("b:down {}", describe(&outcome)));
    panic!("secret panic payload");
}

#[depends]
async fn two_bad(
    #[dep(fails_with_secret)] _a: &A,
    #[dep(panics_in_teardown)] _b: &B,
) -> &'static str {
    "ok"
}

#[depends]
async fn two_bad_rev(
    #[dep(panics_in_teardown)] _b: &B,
    #[dep(fails_with_secret)] _a: &A,
) -> &'static str {
    "ok"
}

#[tokio::test]
async fn a_panicking_and_a_failing_handler_teardown_give_a_generic_500_and_both_run() {
    let _s = serial().await;
    let client = TestClient::start(App::new().get("/x", two_bad).get("/y", two_bad_rev))
        .await
        .unwrap();
    for path in ["/x", "/y"] {
        common::clear();
        let response = within(client.get(path).send()).await;
        assert_eq!(response.status(), 500, "{path}");
        let body = within(response.text()).await.unwrap();
        assert!(!body.contains("hunter2"), "{path}: {body}");
        assert!(!body.contains("secret"), "{path}: {body}");
        within(client.settle()).await;
        let ev = events();
        assert_eq!(ev.len(), 2, "{path}: {ev:?}");
    }
    let m = client.running().metrics();
    assert_eq!(m.teardown_panics, 2);
    assert_eq!(m.teardown_errors, 2);
    assert_eq!(m.setups, m.teardowns.total());
    within(client.shutdown()).await;
}

// -------------------------- 2. a `request`-scope generator used only by a `handler`-scope one

struct Conn;
struct Tx;

#[depends]
async fn req_conn(y: Yield<Conn>) {
    log("conn:up");
    let (_c, outcome) = y.provide(Conn).await;
    log(format!("conn:down {}", describe(&outcome)));
}

#[depends(scope = "handler")]
async fn h_tx(#[dep(req_conn)] _c: &Conn, y: Yield<Tx>) {
    log("tx:up");
    let (_t, outcome) = y.provide(Tx).await;
    log(format!("tx:down {}", describe(&outcome)));
}

#[depends]
async fn streams_after_tx(
    #[dep(h_tx)] _t: &Tx,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    StreamBody::new(futures_util::stream::iter(0..3).map(|i| {
        log(format!("chunk {i}"));
        Ok(format!("{i}"))
    }))
}

#[tokio::test]
async fn a_request_scope_generator_used_only_by_a_handler_scope_one_lives_until_the_body_ends() {
    let _s = serial().await;
    let client = TestClient::start(App::new().get("/", streams_after_tx))
        .await
        .unwrap();
    let response = within(client.get("/").send()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(within(response.text()).await.unwrap(), "012");
    within(client.settle()).await;
    assert_eq!(
        events(),
        [
            "conn:up",
            "tx:up",
            "tx:down success 200",
            "chunk 0",
            "chunk 1",
            "chunk 2",
            "conn:down success 200"
        ]
    );
    within(client.shutdown()).await;
}

// ------------------------------------------------ 3. override + fresh + cache + scopes

struct Counter(u32);

#[depends]
async fn counter() -> Counter {
    Counter(0)
}

#[depends]
async fn counting_gen(y: Yield<Counter>) {
    log("gen:up");
    let (_c, outcome) = y.provide(Counter(7)).await;
    log(format!("gen:down {}", describe(&outcome)));
}

#[depends]
async fn cached_and_fresh(
    #[dep(counter)] a: &Counter,
    #[dep(counter)] b: &Counter,
    #[dep(counter, fresh)] c: &Counter,
    #[dep(counter, scope = "handler")] d: &Counter,
) -> String {
    format!("{} {} {} {}", a.0, b.0, c.0, d.0)
}

#[tokio::test]
async fn an_overridden_dependency_keeps_cache_fresh_and_scope_semantics() {
    let _s = serial().await;
    let client = TestClient::start(
        App::new()
            .get("/", cached_and_fresh)
            .override_dep(counter, counting_gen),
    )
    .await
    .unwrap();
    let response = within(client.get("/").send()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(within(response.text()).await.unwrap(), "7 7 7 7");
    within(client.settle()).await;
    let ev = events();
    assert_eq!(common::count(&ev, "gen:up"), 3, "{ev:?}");
    assert_eq!(common::count(&ev, "gen:down success 200"), 3, "{ev:?}");
    within(client.shutdown()).await;
}

// ------------------ 4. override of a held request-scope generator by a handler-scope one

struct Reader(u32);

#[depends]
async fn reader(y: Yield<Reader>) {
    let (_r, outcome) = y.provide(Reader(1)).await;
    log(format!("reader:down {}", describe(&outcome)));
}

#[depends(scope = "handler")]
async fn handler_reader(y: Yield<Reader>) {
    log("hreader:up");
    let (_r, outcome) = y.provide(Reader(2)).await;
    log(format!("hreader:down {}", describe(&outcome)));
}

#[depends]
async fn export(
    #[dep(reader)] r: Held<Reader>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    StreamBody::new(futures_util::stream::iter(0..2).map(move |i| {
        log(format!("chunk {i} reads {}", r.0));
        Ok(format!("{i}"))
    }))
}

#[tokio::test]
async fn overriding_a_held_request_generator_with_a_handler_scoped_one_is_refused_at_check() {
    let _s = serial().await;
    let app = App::new()
        .get("/", export)
        .override_dep(reader, handler_reader);
    let checked = app.check();
    assert!(
        checked.is_err(),
        "a handler-scoped replacement held by a body should be refused"
    );
    let problems = checked.unwrap_err().problems().join("\n");
    assert!(problems.contains("handler_reader"), "{problems}");
}

// ------------------------------------------ 5. HEAD on a streamed route with a held value

#[depends]
async fn export_with_task(
    #[dep(reader)] r: Held<Reader>,
    tasks: &BackgroundTasks,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    tasks.add(async { log("task ran") });
    StreamBody::new(futures_util::stream::iter(0..2).map(move |i| {
        log(format!("chunk {i} reads {}", r.0));
        Ok(format!("{i}"))
    }))
}

#[tokio::test]
async fn head_on_a_streamed_route_runs_tasks_and_request_teardown_once_with_success() {
    let _s = serial().await;
    let client = TestClient::start(App::new().get("/", export_with_task))
        .await
        .unwrap();
    let response = within(client.head("/").send()).await;
    assert_eq!(response.status(), 200);
    drop(response);
    within(client.settle()).await;
    assert_eq!(events(), ["task ran", "reader:down success 200"]);
    within(client.shutdown()).await;
}

#[tokio::test]
async fn head_over_tcp_on_a_streamed_route_runs_tasks_and_request_teardown_once_with_success() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _s = serial().await;
    let server = within(App::new().get("/", export_with_task).bind("127.0.0.1:0"))
        .await
        .unwrap();
    let mut socket = within(tokio::net::TcpStream::connect(server.local_addr()))
        .await
        .unwrap();
    socket
        .write_all(b"HEAD / HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut all = Vec::new();
    within(socket.read_to_end(&mut all)).await.unwrap();
    let text = String::from_utf8_lossy(&all);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
    common::wait_for("reader:down success 200").await;
    within(server.shutdown()).await;
    let ev = events();
    assert_eq!(common::count(&ev, "task ran"), 2, "{ev:?}");
    assert_eq!(common::count(&ev, "reader:down success 200"), 2, "{ev:?}");
}

// ---------------------------------------- 6. a 204 with a streamed body holding a value

#[depends]
async fn no_content_stream(
    #[dep(reader)] r: Held<Reader>,
) -> (
    StatusCode,
    StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static>,
) {
    (
        StatusCode::NO_CONTENT,
        StreamBody::new(futures_util::stream::iter(0..2).map(move |i| {
            log(format!("chunk {i} reads {}", r.0));
            Ok(format!("{i}"))
        })),
    )
}

#[tokio::test]
async fn a_204_whose_handler_gave_a_stream_tears_down_once_with_success() {
    let _s = serial().await;
    let client = TestClient::start(App::new().get("/", no_content_stream))
        .await
        .unwrap();
    let response = within(client.get("/").send()).await;
    assert_eq!(response.status(), 204);
    drop(response);
    within(client.settle()).await;
    assert_eq!(events(), ["reader:down success 204"]);
    within(client.shutdown()).await;

    common::clear();
    let server = within(App::new().get("/", no_content_stream).bind("127.0.0.1:0"))
        .await
        .unwrap();
    let answer = raw_http1(
        server.local_addr(),
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    common::wait_for("reader:down success 204").await;
    within(server.shutdown()).await;
    assert_eq!(events(), ["reader:down success 204"]);
}

async fn raw_http1(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut all = Vec::new();
    let _ = within(socket.read_to_end(&mut all)).await;
    String::from_utf8_lossy(&all).into_owned()
}

// ----------------------------------------- 7. shutdown while a request teardown is slow

struct Pool;

#[depends(scope = "app")]
async fn app_pool(y: Yield<Pool>) {
    log("pool:up");
    let (_p, outcome) = y.provide(Pool).await;
    log(format!("pool:down {}", describe(&outcome)));
}

#[depends]
async fn slow_close(#[dep(app_pool)] _p: &Pool, y: Yield<Conn>) {
    let (_c, outcome) = y.provide(Conn).await;
    log(format!("slow:down:start {}", describe(&outcome)));
    tokio::time::sleep(Duration::from_millis(400)).await;
    log("slow:down:end");
}

#[depends]
async fn uses_slow(#[dep(slow_close)] _c: &Conn) -> &'static str {
    "ok"
}

#[tokio::test]
async fn shutdown_waits_for_a_slow_request_teardown_before_app_teardown() {
    let _s = serial().await;
    let client = TestClient::start(App::new().get("/", uses_slow))
        .await
        .unwrap();
    let response = within(client.get("/").send()).await;
    assert_eq!(response.status(), 200);
    common::wait_for("slow:down:start success 200").await;
    within(client.shutdown()).await;
    assert_eq!(
        events(),
        [
            "pool:up",
            "slow:down:start success 200",
            "slow:down:end",
            "pool:down app stopped"
        ]
    );
}

#[tokio::test]
async fn shutdown_past_the_teardown_timeout_still_tears_down_app_scope_over_tcp() {
    let _s = serial().await;
    let server = within(
        App::new()
            .get("/", uses_slow)
            .teardown_timeout(Duration::from_millis(100))
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let answer = raw_http1(
        server.local_addr(),
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    common::wait_for("slow:down:start success 200").await;
    let m = server.metrics();
    within(server.shutdown()).await;
    let ev = events();
    assert_eq!(
        ev.last().map(String::as_str),
        Some("pool:down app stopped"),
        "{ev:?}"
    );
    assert!(!ev.contains(&"slow:down:end".to_owned()), "{ev:?}");
    let _ = m;
}

// ------------------------------------------------------------- 8. a deep chain of generators

macro_rules! chain {
    ($first:ident) => {
        #[depends]
        async fn $first(y: Yield<u32>) {
            let (_v, outcome) = y.provide(0).await;
            log(format!("{}:down {}", stringify!($first), describe(&outcome)));
        }
    };
    ($this:ident $prev:ident $($rest:ident)*) => {
        #[depends]
        async fn $this(#[dep($prev)] p: &u32, y: Yield<u32>) {
            let (_v, outcome) = y.provide(*p + 1).await;
            log(format!("{}:down {}", stringify!($this), describe(&outcome)));
        }
        chain!($prev $($rest)*);
    };
}

chain!(
    g79 g78 g77 g76 g75 g74 g73 g72 g71 g70 g69 g68 g67 g66 g65 g64 g63 g62 g61 g60 g59 g58
    g57 g56 g55 g54 g53 g52 g51 g50 g49 g48 g47 g46 g45 g44 g43 g42 g41 g40 g39 g38 g37 g36
    g35 g34 g33 g32 g31 g30 g29 g28 g27 g26 g25 g24 g23 g22 g21 g20 g19 g18 g17 g16 g15 g14
    g13 g12 g11 g10 g9 g8 g7 g6 g5 g4 g3 g2 g1 g0
);

#[depends]
async fn deep(#[dep(g79)] v: &u32) -> String {
    v.to_string()
}

#[tokio::test]
async fn a_deep_chain_is_set_up_in_order_and_torn_down_lifo() {
    let _s = serial().await;
    let client = TestClient::start(App::new().get("/", deep)).await.unwrap();
    let response = within(client.get("/").send()).await;
    assert_eq!(within(response.text()).await.unwrap(), "79");
    within(client.settle()).await;
    let expected: Vec<String> = (0..80)
        .rev()
        .map(|i| format!("g{i}:down success 200"))
        .collect();
    assert_eq!(events(), expected);
    within(client.shutdown()).await;
}

// ------------------------------------- 9. a plain dependency shared by `app` scope and a route

struct Settings(u32);

#[depends]
async fn settings() -> Settings {
    log("settings:run");
    Settings(3)
}

#[depends(scope = "app")]
async fn pool_from_settings(#[dep(settings)] s: &Settings) -> Pool {
    log(format!("pool from {}", s.0));
    Pool
}

#[depends]
async fn route_with_both(
    #[dep(pool_from_settings)] _p: &Pool,
    #[dep(settings)] s: &Settings,
) -> String {
    s.0.to_string()
}

#[tokio::test]
async fn a_plain_dependency_with_no_scope_used_by_app_scope_is_refused_with_the_chain() {
    let _s = serial().await;
    let app = App::new().get("/", route_with_both);
    let problems = app.check().unwrap_err().problems().to_vec();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("`route_with_both` -> `pool_from_settings` -> `settings`"));
}

// ------------------------------------- 10. groups at several levels using one generator

struct Audit;

#[depends]
async fn audit(y: Yield<Audit>) {
    log("audit:up");
    let (_a, outcome) = y.provide(Audit).await;
    log(format!("audit:down {}", describe(&outcome)));
}

#[depends]
async fn fake_audit(y: Yield<Audit>) -> Result<(), HttpError> {
    log("fake:up");
    let (_a, outcome) = y.provide(Audit).await;
    log(format!("fake:down {}", describe(&outcome)));
    Ok(())
}

#[depends]
async fn failing_audit(y: Yield<Audit>) -> Result<(), HttpError> {
    drop(y);
    log("failing:up");
    Err(HttpError::new(StatusCode::FORBIDDEN, "no audit"))
}

#[depends(uses(audit))]
async fn audited_leaf(#[dep(audit)] _a: &Audit) -> &'static str {
    log("leaf");
    "leaf"
}

fn nested_app() -> App {
    App::new().dependency(audit).nest(
        Group::new("/a")
            .dependency(audit)
            .nest(Group::new("/b").dependency(audit).get("/c", audited_leaf)),
    )
}

#[tokio::test]
async fn one_generator_at_every_level_of_nested_groups_is_one_instance_and_overridable() {
    let _s = serial().await;
    let client = TestClient::start(nested_app()).await.unwrap();
    let response = within(client.get("/a/b/c").send()).await;
    assert_eq!(response.status(), 200);
    within(client.settle()).await;
    assert_eq!(events(), ["audit:up", "leaf", "audit:down success 200"]);
    within(client.shutdown()).await;

    common::clear();
    let client = TestClient::start(nested_app().override_dep(audit, fake_audit))
        .await
        .unwrap();
    let response = within(client.get("/a/b/c").send()).await;
    assert_eq!(response.status(), 200);
    within(client.settle()).await;
    assert_eq!(events(), ["fake:up", "leaf", "fake:down success 200"]);
    within(client.shutdown()).await;

    common::clear();
    let client = TestClient::start(nested_app().override_dep(audit, failing_audit))
        .await
        .unwrap();
    let response = within(client.get("/a/b/c").send()).await;
    assert_eq!(response.status(), 403);
    within(client.settle()).await;
    assert_eq!(events(), ["failing:up"]);
    within(client.shutdown()).await;
}

// --------------------------------------- 11. an override that depends on what it overrides

#[depends]
async fn wraps_counter(#[dep(counter)] c: &Counter) -> Counter {
    Counter(c.0 + 100)
}

#[tokio::test]
async fn an_override_that_depends_on_its_original_is_one_check_error() {
    let _s = serial().await;
    let app = App::new()
        .get("/", cached_and_fresh)
        .override_dep(counter, wraps_counter);
    let problems = app.check().unwrap_err().problems().to_vec();
    assert!(problems[0].contains("dependency cycle"), "{problems:?}");
    // Before: the same problem, word for word, once per use of `counter` in the handler.
    assert_eq!(problems.len(), 1, "{problems:#?}");
}

// ------------------------------------------- 12. two `&mut` of one generator, one `fresh`

struct Session(u32);

#[depends(scope = "handler")]
async fn session(y: Yield<Session>) {
    let (s, outcome) = y.provide(Session(0)).await;
    log(format!("session:down {} {}", s.0, describe(&outcome)));
}

#[depends]
async fn two_sessions(
    #[dep(session)] a: &mut Session,
    #[dep(session, fresh)] b: &mut Session,
) -> &'static str {
    a.0 += 1;
    b.0 += 2;
    "ok"
}

#[tokio::test]
async fn a_mut_borrow_and_a_fresh_mut_borrow_of_one_generator_are_two_values() {
    let _s = serial().await;
    let app = App::new().get("/", two_sessions);
    if let Err(e) = app.check() {
        panic!("refused: {:?}", e.problems());
    }
    let client = TestClient::start(app).await.unwrap();
    let response = within(client.get("/").send()).await;
    assert_eq!(response.status(), 200);
    within(client.settle()).await;
    let mut ev = events();
    ev.sort();
    assert_eq!(
        ev,
        ["session:down 1 success 200", "session:down 2 success 200"]
    );
    within(client.shutdown()).await;
}

// ------------------ 13. a layer's timeout falling while a `handler`-scope commit runs

#[depends(scope = "handler")]
async fn slow_commit(y: Yield<Tx>) {
    let (_t, outcome) = y.provide(Tx).await;
    log(format!("commit:start {}", describe(&outcome)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    log("commit:end");
}

#[depends]
async fn writes(#[dep(req_conn)] _c: &Conn, #[dep(slow_commit)] _t: &Tx) -> &'static str {
    "written"
}

#[tokio::test]
async fn a_layer_timeout_during_a_handler_teardown_finishes_it_and_tears_down_the_rest_once() {
    let _s = serial().await;
    let app =
        App::new()
            .get("/", writes)
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_millis(100),
            ));
    let client = TestClient::start(app).await.unwrap();
    let response = within(client.get("/").send()).await;
    let status = response.status();
    drop(response);
    common::wait_for("conn:down cancelled timeout").await;
    within(client.settle()).await;
    let ev = events();
    eprintln!("{status} {ev:?}");
    assert_eq!(status, 408);
    // The commit had begun as a success: it is finished, not cut, though the client got 408.
    assert_eq!(common::count(&ev, "commit:start success 200"), 1, "{ev:?}");
    assert_eq!(common::count(&ev, "commit:end"), 1, "{ev:?}");
    assert_eq!(
        common::count(&ev, "conn:down cancelled timeout"),
        1,
        "{ev:?}"
    );
    let m = client.running().metrics();
    assert_eq!(m.setups, m.teardowns.total());
    within(client.shutdown()).await;
}

// ---------------------- 14. a panicking request teardown beside a panicking background task

#[depends]
async fn panicky_conn(y: Yield<Conn>) {
    let (_c, outcome) = y.provide(Conn).await;
    log(format!("panicky:down {}", describe(&outcome)));
    panic!("secret teardown panic");
}

#[depends]
async fn plain_conn(y: Yield<Reader>) {
    let (_c, outcome) = y.provide(Reader(0)).await;
    log(format!("plain:down {}", describe(&outcome)));
}

#[depends]
async fn with_tasks(
    #[dep(plain_conn)] _p: &Reader,
    #[dep(panicky_conn)] _c: &Conn,
    tasks: &BackgroundTasks,
) -> &'static str {
    tasks.add(async { panic!("secret task panic") });
    tasks.add(async { log("second task") });
    "ok"
}

#[tokio::test]
async fn a_panicking_task_and_a_panicking_request_teardown_leave_the_rest_running() {
    let _s = serial().await;
    let client = TestClient::start(App::new().get("/", with_tasks))
        .await
        .unwrap();
    for _ in 0..2 {
        common::clear();
        let response = within(client.get("/").send()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(within(response.text()).await.unwrap(), "ok");
        within(client.settle()).await;
        assert_eq!(
            events(),
            [
                "second task",
                "panicky:down success 200",
                "plain:down teardown_failed panicky_conn"
            ]
        );
    }
    let m = client.running().metrics();
    assert_eq!(m.background_task_panics, 2);
    assert_eq!(m.teardown_panics, 2);
    assert_eq!(m.setups, m.teardowns.total());
    within(client.shutdown()).await;
}

// ------------------------------- 15. a stream that panics mid-way, over TCP, with both scopes

#[depends]
async fn panicking_stream(
    #[dep(req_conn)] _c: &Conn,
    #[dep(slow_commit)] _t: &Tx,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    StreamBody::new(futures_util::stream::iter(0..3).map(|i| {
        if i == 1 {
            panic!("secret stream panic");
        }
        Ok(format!("part{i};"))
    }))
}

#[tokio::test]
async fn a_stream_panicking_mid_way_over_tcp_is_panicked_once_and_leaks_nothing() {
    let _s = serial().await;
    let server = within(App::new().get("/", panicking_stream).bind("127.0.0.1:0"))
        .await
        .unwrap();
    let answer = raw_http1(server.local_addr(), b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!answer.contains("secret"), "{answer}");
    assert!(
        !answer.ends_with("0\r\n\r\n"),
        "a cut body must not look complete: {answer}"
    );
    common::wait_for("conn:down panicked").await;
    let m = server.metrics();
    within(server.shutdown()).await;
    let ev = events();
    assert_eq!(
        ev,
        [
            "conn:up",
            "commit:start success 200",
            "commit:end",
            "conn:down panicked"
        ]
    );
    assert_eq!(m.setups, m.teardowns.total());
}

// ------------ 16. a stream that declared its length and reached it, then never ends

#[depends]
async fn exact_then_stalls(
    #[dep(req_conn)] _c: &Conn,
) -> (
    [(http::header::HeaderName, &'static str); 1],
    StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static>,
) {
    let items = futures_util::stream::iter(["ab".to_owned(), "cd".to_owned()])
        .map(Ok)
        .chain(futures_util::stream::pending());
    (
        [(http::header::CONTENT_LENGTH, "4")],
        StreamBody::new(items),
    )
}

#[tokio::test]
async fn a_stream_that_reached_its_content_length_is_a_success_though_it_never_ends() {
    let _s = serial().await;
    let server = within(App::new().get("/", exact_then_stalls).bind("127.0.0.1:0"))
        .await
        .unwrap();
    let answer = raw_http1(
        server.local_addr(),
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.ends_with("\r\n\r\nabcd"), "{answer}");
    common::wait_for("conn:down success 200").await;
    within(server.shutdown()).await;

    common::clear();
    let client = TestClient::start(App::new().get("/", exact_then_stalls))
        .await
        .unwrap();
    let response = within(client.get("/").send()).await;
    let body = within(response.text()).await.unwrap();
    assert_eq!(body, "abcd");
    within(client.settle()).await;
    assert_eq!(events(), ["conn:up", "conn:down success 200"]);
    within(client.shutdown()).await;
}

// ------------------------- 17. a client gone after the last chunk but before the end

#[depends]
async fn last_then_stalls(
    #[dep(req_conn)] _c: &Conn,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    let items = futures_util::stream::iter(["ab".to_owned(), "cd".to_owned()])
        .map(Ok)
        .chain(futures_util::stream::pending());
    StreamBody::new(items)
}

#[tokio::test]
async fn a_client_gone_after_the_last_chunk_before_the_end_is_client_gone() {
    let _s = serial().await;
    let client = TestClient::start(App::new().get("/", last_then_stalls))
        .await
        .unwrap();
    let mut response = within(client.get("/").send()).await;
    assert_eq!(within(response.chunk()).await.unwrap().unwrap(), "ab");
    assert_eq!(within(response.chunk()).await.unwrap().unwrap(), "cd");
    drop(response);
    within(client.settle()).await;
    assert_eq!(events(), ["conn:up", "conn:down cancelled client gone"]);
    within(client.shutdown()).await;
}

// --------------------------- 18. max_concurrency and a panicking / timed-out teardown

#[depends(max_concurrency = 1)]
async fn limited_panicky(y: Yield<Conn>) {
    let (_c, _outcome) = y.provide(Conn).await;
    log("limited:down");
    panic!("secret");
}

#[depends]
async fn uses_limited(#[dep(limited_panicky)] _c: &Conn) -> &'static str {
    "ok"
}

#[tokio::test]
async fn a_place_is_given_back_after_a_panicking_teardown() {
    let _s = serial().await;
    let client = TestClient::start(
        App::new()
            .get("/", uses_limited)
            .max_concurrency_wait(Duration::from_millis(200)),
    )
    .await
    .unwrap();
    for _ in 0..3 {
        let response = within(client.get("/").send()).await;
        assert_eq!(response.status(), 200);
        within(client.settle()).await;
    }
    assert_eq!(common::count(&events(), "limited:down"), 3);
    within(client.shutdown()).await;
}

// --------------------- 19. a generator dropping its Yield and failing, after others

#[depends]
async fn drops_yield_and_fails(
    #[dep(req_conn)] _c: &Conn,
    y: Yield<Audit>,
) -> Result<(), HttpError> {
    drop(y);
    Err(HttpError::new(StatusCode::CONFLICT, "taken"))
}

#[depends]
async fn after_drop(
    #[dep(slow_commit)] _t: &Tx,
    #[dep(drops_yield_and_fails)] _a: &Audit,
) -> &'static str {
    log("handler ran");
    "never"
}

#[tokio::test]
async fn a_generator_that_drops_its_yield_and_fails_is_a_setup_failure_never_torn_down() {
    let _s = serial().await;
    let client = TestClient::start(App::new().get("/", after_drop))
        .await
        .unwrap();
    let response = within(client.get("/").send()).await;
    assert_eq!(response.status(), 409);
    assert_eq!(
        within(response.text()).await.unwrap(),
        r#"{"detail":"taken"}"#
    );
    within(client.settle()).await;
    let ev = events();
    assert!(!ev.contains(&"handler ran".to_owned()));
    assert_eq!(common::count(&ev, "commit:end"), 1, "{ev:?}");
    assert_eq!(
        common::count(&ev, "conn:down setup_failed drops_yield_and_fails"),
        1,
        "{ev:?}"
    );
    within(client.shutdown()).await;
}

// --------------- 20. a body taking HeldMut of what a handler-scope generator borrows

#[depends(scope = "handler")]
async fn tx_reading_conn(#[dep(req_conn)] _c: &Conn, y: Yield<Tx>) {
    let (_t, outcome) = y.provide(Tx).await;
    log(format!("txr:down {}", describe(&outcome)));
}

#[depends]
async fn body_takes_conn_mut(
    #[dep(tx_reading_conn)] _t: &Tx,
    #[dep(req_conn)] c: HeldMut<Conn>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    StreamBody::new(futures_util::stream::iter(0..1).map(move |_| {
        let _c = &c;
        Ok("x".to_owned())
    }))
}

#[tokio::test]
async fn heldmut_of_a_value_a_handler_scope_generator_borrows_is_a_check_error_or_works() {
    let _s = serial().await;
    let app = App::new().get("/", body_takes_conn_mut);
    match app.check() {
        Err(e) => eprintln!("refused: {:?}", e.problems()),
        Ok(()) => {
            let client = TestClient::start(App::new().get("/", body_takes_conn_mut))
                .await
                .unwrap();
            let response = within(client.get("/").send()).await;
            let status = response.status();
            let body = within(response.text()).await.unwrap();
            within(client.settle()).await;
            assert_eq!(
                status,
                200,
                "check passed, but the request failed: {body} {:?}",
                events()
            );
            within(client.shutdown()).await;
        }
    }
}

// ------------ 21. shutdown's grace ending while a request runs, its commit slow

#[depends]
async fn never_ends(#[dep(req_conn)] _c: &Conn, #[dep(slow_commit)] _t: &Tx) -> &'static str {
    log("handler:start");
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late"
}

#[depends]
async fn writes_with_pool(
    #[dep(app_pool)] _p: &Pool,
    #[dep(req_conn)] _c: &Conn,
    #[dep(slow_commit)] _t: &Tx,
) -> &'static str {
    "written"
}

#[tokio::test]
async fn a_request_cut_at_the_end_of_the_grace_is_torn_down_before_app_scope() {
    let _s = serial().await;
    let server = within(
        App::new()
            .dependency(app_pool)
            .get("/", never_ends)
            .shutdown_grace(Duration::from_millis(100))
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let client = tokio::spawn(raw_http1(addr, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
    common::wait_for("handler:start").await;
    within(server.shutdown()).await;
    let _ = within(client).await;
    let ev = events();
    assert_eq!(
        ev,
        [
            "pool:up",
            "conn:up",
            "handler:start",
            "commit:start cancelled shutdown",
            "commit:end",
            "conn:down cancelled shutdown",
            "pool:down app stopped"
        ]
    );
}

#[tokio::test]
async fn a_commit_under_way_when_the_grace_ends_finishes_before_app_scope() {
    let _s = serial().await;
    let server = within(
        App::new()
            .get("/", writes_with_pool)
            .shutdown_grace(Duration::from_millis(50))
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let client = tokio::spawn(raw_http1(addr, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
    common::wait_for("commit:start success 200").await;
    within(server.shutdown()).await;
    let answer = within(client).await.unwrap();
    let ev = events();
    eprintln!("{answer:?}");
    assert_eq!(
        ev,
        [
            "pool:up",
            "conn:up",
            "commit:start success 200",
            "commit:end",
            // The grace's extra second let the response finish: a whole 200, a true success.
            "conn:down success 200",
            "pool:down app stopped"
        ]
    );
    assert!(answer.ends_with("written"), "{answer}");
}

// ---------------- 22. app-scope teardowns that panic or hang at shutdown

struct P1;
struct P2;
struct P3;

#[depends(scope = "app")]
async fn app_first(y: Yield<P1>) {
    let (_v, outcome) = y.provide(P1).await;
    log(format!("first:down {}", describe(&outcome)));
}

#[depends(scope = "app")]
async fn app_hangs(#[dep(app_first)] _a: &P1, y: Yield<P2>) {
    let (_v, _) = y.provide(P2).await;
    log("hangs:down");
    std::future::pending::<()>().await;
}

#[depends(scope = "app")]
async fn app_panics(#[dep(app_hangs)] _a: &P2, y: Yield<P3>) {
    let (_v, _) = y.provide(P3).await;
    log("panics:down");
    panic!("secret");
}

#[depends]
async fn uses_app(#[dep(app_panics)] _p: &P3) -> &'static str {
    "ok"
}

#[tokio::test]
async fn app_teardowns_that_panic_or_hang_do_not_stop_the_others_or_shutdown() {
    let _s = serial().await;
    let client = TestClient::start(
        App::new()
            .get("/", uses_app)
            .teardown_timeout(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    assert_eq!(within(client.get("/").send()).await.status(), 200);
    within(client.shutdown()).await;
    assert_eq!(
        events(),
        [
            "panics:down",
            "hangs:down",
            "first:down teardown_failed app_panics"
        ]
    );
}

// ------------------------- 23. a request generator forced to `app` scope at one use

#[depends]
async fn forced_app(
    #[dep(req_conn, scope = "app")] _a: &Conn,
    #[dep(req_conn)] _b: &Conn,
) -> &'static str {
    "ok"
}

#[tokio::test]
async fn a_request_generator_forced_to_app_scope_at_a_use() {
    let _s = serial().await;
    let app = App::new().get("/", forced_app);
    match app.check() {
        Err(e) => eprintln!("forced app refused: {:?}", e.problems()),
        Ok(()) => {
            let client = TestClient::start(App::new().get("/", forced_app))
                .await
                .unwrap();
            for _ in 0..2 {
                assert_eq!(within(client.get("/").send()).await.status(), 200);
                within(client.settle()).await;
            }
            within(client.shutdown()).await;
            let ev = events();
            eprintln!("forced app: {ev:?}");
            assert_eq!(common::count(&ev, "conn:up"), 3, "{ev:?}");
            assert_eq!(
                ev.last().map(String::as_str),
                Some("conn:down app stopped"),
                "{ev:?}"
            );
        }
    }
}

// ------- 24. an app-scoped generator replaced by a request-scoped one another app dep uses

#[depends(scope = "app")]
async fn app_over_pool(#[dep(app_pool)] _p: &Pool) -> P1 {
    P1
}

#[depends]
async fn req_pool(y: Yield<Pool>) {
    let (_p, _) = y.provide(Pool).await;
}

#[depends]
async fn uses_app_over_pool(#[dep(app_over_pool)] _p: &P1) -> &'static str {
    "ok"
}

#[tokio::test]
async fn replacing_an_app_generator_under_another_app_dep_with_a_request_one_is_refused() {
    let _s = serial().await;
    let app = App::new()
        .get("/", uses_app_over_pool)
        .override_dep(app_pool, req_pool);
    let problems = app.check().unwrap_err().problems().to_vec();
    assert!(
        problems.iter().any(|p| p.contains("req_pool")),
        "{problems:?}"
    );
}

// ------------------------------------ 25. HEAD over HTTP/2 on a streamed route, and a 304

#[tokio::test]
async fn head_over_http2_on_a_streamed_route_tears_down_once_with_success() {
    let _s = serial().await;
    let server = within(App::new().get("/", export_with_task).bind("127.0.0.1:0"))
        .await
        .unwrap();
    let (mut sender, task) = within(common::hyper_h2_client(server.local_addr())).await;
    let request = http::Request::head(format!("http://{}/", server.local_addr()))
        .body(http_body_util::Empty::new())
        .unwrap();
    let response = within(sender.send_request(request)).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = within(http_body_util::BodyExt::collect(response.into_body()))
        .await
        .unwrap()
        .to_bytes();
    assert!(body.is_empty());
    common::wait_for("reader:down success 200").await;
    task.abort();
    within(server.shutdown()).await;
    assert_eq!(events(), ["task ran", "reader:down success 200"]);
}

#[depends]
async fn not_modified(#[dep(reader)] _r: &Reader, tasks: &BackgroundTasks) -> StatusCode {
    tasks.add(async { log("task ran") });
    StatusCode::NOT_MODIFIED
}

#[tokio::test]
async fn a_304_runs_its_tasks_then_request_teardown_with_success() {
    let _s = serial().await;
    let client = TestClient::start(App::new().get("/", not_modified))
        .await
        .unwrap();
    let response = within(client.get("/").send()).await;
    assert_eq!(response.status(), 304);
    within(client.settle()).await;
    assert_eq!(events(), ["task ran", "reader:down success 304"]);
    within(client.shutdown()).await;
}

// ---------------------------------- 26. a Held kept by the app past its request

static KEPT: std::sync::Mutex<Option<Held<Reader>>> = std::sync::Mutex::new(None);

#[depends]
async fn keeps_reader(#[dep(reader)] r: Held<Reader>) -> &'static str {
    *KEPT.lock().unwrap() = Some(r);
    "kept"
}

#[tokio::test]
async fn a_held_value_kept_past_its_request_stalls_its_teardown_until_the_deadline() {
    let _s = serial().await;
    let client = TestClient::start(
        App::new()
            .get("/", keeps_reader)
            .teardown_timeout(Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let response = within(client.get("/").send()).await;
    assert_eq!(response.status(), 200);
    within(client.settle()).await;
    let m = client.running().metrics();
    eprintln!("kept: {:?} timeouts {}", events(), m.teardown_timeouts);
    drop(KEPT.lock().unwrap().take());
    within(client.shutdown()).await;
    assert_eq!(m.teardown_timeouts, 1);
    assert!(events().is_empty(), "{:?}", events());
}
