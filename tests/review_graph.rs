//! A code review of how an app's dependency graph is planned and its `app` scope run, walked
//! as a reviewer of a DI container walks one: overrides that change a dependency's scope,
//! a dependency used under two scopes, `app`-scope starts that fail part way, and graph
//! errors as `check` and the first request report them.

mod common;

use common::{events, log, serial};
use di_runtime::prelude::*;

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::SetupFailed { dependency, .. } => format!("setup-failed {dependency}"),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        other => other.to_string(),
    }
}

// ------------------------- a. a plain function's borrow ends before a later generator starts

struct Ledger(Vec<&'static str>);

#[depends]
async fn ledger(y: Yield<Ledger>) {
    let (ledger, outcome) = y.provide(Ledger(vec!["first"])).await;
    log(format!(
        "ledger:close {:?} {}",
        ledger.0,
        describe(&outcome)
    ));
}

/// Reads the ledger while it runs, and keeps nothing of it.
#[depends]
async fn balance(#[dep(ledger)] ledger: &Ledger) -> usize {
    ledger.0.len()
}

/// Writes the ledger from its setup to its teardown; it needs `balance`, so `balance` has
/// read the ledger and returned before it starts.
#[depends]
async fn journal(
    #[dep(balance)] before: &usize,
    #[dep(ledger)] ledger: &mut Ledger,
    y: Yield<usize>,
) {
    ledger.0.push("journal");
    let (_, outcome) = y.provide(*before).await;
    ledger.0.push("journal:closed");
    log(format!("journal:close {}", describe(&outcome)));
}

#[depends]
async fn report(#[dep(journal)] before: &usize) -> String {
    format!("{before} entries before")
}

/// Writes the ledger while it runs, and keeps nothing of it.
#[depends]
async fn stamp(#[dep(ledger)] ledger: &mut Ledger) -> usize {
    ledger.0.push("stamp");
    ledger.0.len()
}

/// Reads the ledger from its setup to its teardown, after `stamp` wrote it.
#[depends]
async fn reader(#[dep(stamp)] _stamped: &usize, #[dep(ledger)] ledger: &Ledger, y: Yield<usize>) {
    let len = ledger.0.len();
    let (_, outcome) = y.provide(len).await;
    log(format!("reader:close {}", describe(&outcome)));
}

#[depends]
async fn read_report(#[dep(reader)] len: &usize) -> String {
    format!("{len} entries")
}

/// `balance` set up after `journal` took the ledger `&mut`: the two are alive at once.
#[depends]
async fn late_balance(#[dep(journal)] _j: &usize, #[dep(ledger)] ledger: &Ledger) -> usize {
    ledger.0.len()
}

#[depends]
async fn late_report(#[dep(late_balance)] len: &usize) -> String {
    len.to_string()
}

/// README: "Only borrows alive at once conflict, reported at start: a generator's lasts from
/// its setup to its teardown." A plain function that borrows a value and returns before a
/// generator borrowing it mutably is set up (one of the generator's own dependencies) was
/// refused at start all the same: "`journal` (parameter `ledger`) borrows a value mutably
/// (`&mut`) while `balance` (parameter `ledger`) also borrows it; only one of them can hold it
/// at a time", as if the plain function's borrow lasted as long as the generator's. So was a
/// plain `&mut` before a generator's shared borrow. One set up after the generator still is.
#[tokio::test]
async fn a_plain_borrow_that_ended_before_a_generator_started_does_not_conflict_with_it() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", report).get("/read", read_report))
        .await
        .unwrap();
    let response = client.get("/").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "1 entries before");
    let response = client.get("/read").send().await;
    assert_eq!(response.text().await.unwrap(), "2 entries");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "journal:close success 200",
            "ledger:close [\"first\", \"journal\", \"journal:closed\"] success 200",
            "reader:close success 200",
            "ledger:close [\"first\", \"stamp\"] success 200",
        ]
    );
    let error = App::new().get("/", late_report).check().unwrap_err();
    assert_eq!(
        error.problems(),
        [
            "route GET /: `journal` (parameter `ledger`) borrows a value mutably (`&mut`) while `late_balance` (parameter `ledger`) also borrows it; only one of them can hold it at a time; the value is `ledger`'s"
        ]
    );
}

// ------------------ b. a scope forced on a function's use is blamed, not the function

struct Hx;

#[depends(scope = "handler")]
async fn hx(y: Yield<Hx>) {
    let _ = y.provide(Hx).await;
}

/// Declares no scope: it is `handler`-scoped, as `hx` is, wherever a use does not force one.
#[depends]
async fn plain_on_hx(#[dep(hx)] _h: &Hx) -> u8 {
    1
}

#[depends]
async fn req_gen(#[dep(plain_on_hx, scope = "request")] _p: &u8, y: Yield<u16>) {
    let _ = y.provide(2).await;
}

#[depends]
async fn uses_req_gen(#[dep(req_gen)] _r: &u16) -> &'static str {
    "ok"
}

#[derive(serde::Deserialize)]
struct Page {
    _n: Option<u32>,
}

/// Declares no scope and reads the request.
#[depends]
async fn reads_query(Query(_p): Query<Page>) -> u8 {
    1
}

#[depends]
async fn forces_app(#[dep(reads_query, scope = "app")] _p: &u8) -> &'static str {
    "ok"
}

/// A function whose scope a use forces (`#[dep(f, scope = "...")]`) and that cannot have it
/// was blamed for it, and told a fix that could not work: "`plain_on_hx` is
/// `request`-scoped and cannot depend on `hx`: ...; make `hx` `request`-scoped, or make
/// `plain_on_hx` `handler`-scoped" (it declares no scope, is `handler`-scoped wherever no
/// use forces one, and a scope it declared would be forced all the same), and "`reads_query`
/// is `app`-scoped, so it ... cannot take the request input `Query<Page>`", with no fix, of a
/// function that declares no scope. Each now names the use that forces the scope.
#[test]
fn a_scope_forced_on_a_functions_use_is_named_when_that_function_cannot_have_it() {
    let problems = |app: App| app.check().unwrap_err().problems().to_vec();
    assert_eq!(
        problems(App::new().get("/", uses_req_gen)),
        [
            "route GET /: dependency chain `uses_req_gen` -> `req_gen` -> `plain_on_hx` -> `hx`: `plain_on_hx` is `request`-scoped because `req_gen` takes it with `scope = \"request\"`, and cannot depend on `hx`: `hx` is `handler`-scoped; make `hx` `request`-scoped, or drop `scope = \"request\"` from `req_gen`'s use of `plain_on_hx`"
        ]
    );
    assert_eq!(
        problems(App::new().get("/", forces_app)),
        [
            "route GET /: `forces_app` takes `reads_query` with `scope = \"app\"`, so it is set up once for all requests there and cannot take the request input `Query<Page>`; drop `scope = \"app\"` from that use"
        ]
    );
}

// ------------------------ c. an override that moves a dependency into or out of `app` scope

struct Pool(&'static str);

#[depends(scope = "app")]
async fn pool(y: Yield<Pool>) {
    log("pool:open");
    let (_, outcome) = y.provide(Pool("pool")).await;
    log(format!("pool:close {}", describe(&outcome)));
}

/// A `request`-scoped stand-in for the `app`-scoped `pool` (a test's own database each request).
#[depends]
async fn pool_per_request(y: Yield<Pool>) {
    log("pool_per_request:open");
    let (_, outcome) = y.provide(Pool("pool_per_request")).await;
    log(format!("pool_per_request:close {}", describe(&outcome)));
}

#[depends]
async fn conn(y: Yield<Pool>) {
    log("conn:open");
    let (_, outcome) = y.provide(Pool("conn")).await;
    log(format!("conn:close {}", describe(&outcome)));
}

/// An `app`-scoped stand-in for the `request`-scoped `conn` (one shared fake connection).
#[depends(scope = "app")]
async fn shared_conn(y: Yield<Pool>) {
    log("shared_conn:open");
    let (_, outcome) = y.provide(Pool("shared_conn")).await;
    log(format!("shared_conn:close {}", describe(&outcome)));
}

#[depends]
async fn which_pool(#[dep(pool)] pool: &Pool) -> &'static str {
    pool.0
}

#[depends]
async fn which_conn(#[dep(conn)] conn: &Pool) -> &'static str {
    conn.0
}

/// Pinned: a replacement lives in its own scope even when that moves the dependency out of
/// `app` scope (nothing is set up at start, one instance per request, each torn down after
/// its body) or into it (set up once at start, shared, torn down once at shutdown with
/// `Stopped`); the original never runs.
#[tokio::test]
async fn an_override_that_moves_a_dependency_into_or_out_of_app_scope_runs_in_the_new_scope() {
    let _serial = serial().await;
    let app = App::new()
        .get("/pool", which_pool)
        .get("/conn", which_conn)
        .override_dep(pool, pool_per_request)
        .override_dep(conn, shared_conn);
    let client = TestClient::start(app).await.unwrap();
    assert_eq!(events(), ["shared_conn:open"]);
    for _ in 0..2 {
        let response = client.get("/pool").send().await;
        assert_eq!(response.text().await.unwrap(), "pool_per_request");
        client.settle().await;
        let response = client.get("/conn").send().await;
        assert_eq!(response.text().await.unwrap(), "shared_conn");
        client.settle().await;
    }
    client.shutdown().await;
    assert_eq!(
        events(),
        [
            "shared_conn:open",
            "pool_per_request:open",
            "pool_per_request:close success 200",
            "pool_per_request:open",
            "pool_per_request:close success 200",
            "shared_conn:close app stopped",
        ]
    );
}

#[depends]
async fn no_deps() -> &'static str {
    "ok"
}

/// An app shut down while a clone of its service was still in use (the app inside axum,
/// whose graceful shutdown let one more request through, or a test that kept the service):
/// a route using an `app`-scoped value answered 500 and logged an internal error, its value
/// gone, while a route with no `app` dependency went on serving as if nothing had happened.
/// Every routed request to a stopped app is now a 503, as a server that is shutting down
/// answers, and sets nothing up.
#[tokio::test]
async fn a_request_to_an_app_that_has_shut_down_is_a_503_whatever_its_route() {
    let _serial = serial().await; // `pool` logs
    let app = App::new().get("/pool", which_pool).get("/plain", no_deps);
    let client = TestClient::start(app).await.unwrap();
    let service = client.running().service();
    let setups = client.running().metrics().setups;
    client.shutdown().await;
    for path in ["/pool", "/plain"] {
        let request = http::Request::get(path)
            .body(di_runtime::Body::empty())
            .unwrap();
        let response = service.call_request(request).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(
            &body[..],
            br#"{"detail":"The server is shutting down"}"#,
            "{path}"
        );
    }
    assert_eq!(
        service.metrics().setups,
        setups,
        "nothing set up after the shutdown"
    );
}

#[depends]
async fn ping(#[dep(pong)] _pong: &u8) -> u8 {
    1
}

#[depends]
async fn pong(#[dep(ping)] _ping: &u8) -> u8 {
    2
}

#[depends]
async fn cyclic(#[dep(ping)] _ping: &u8) -> &'static str {
    "never"
}

/// A dependency cycle named its functions and no way out of it, where every other graph
/// error says how to fix it.
#[test]
fn a_dependency_cycle_says_how_to_break_it() {
    let error = App::new().get("/cyclic", cyclic).check().unwrap_err();
    assert_eq!(
        error.problems(),
        [
            "route GET /cyclic: dependency cycle: `cyclic` -> `ping` -> `pong` -> `ping`; no dependency can take itself, directly or through others: move what `ping` needs from the cycle into a dependency of its own that the functions of the cycle take"
        ]
    );
}
