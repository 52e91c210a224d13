//! `App::max_concurrency`: a `max_concurrency` limit given when the app is built (a pool's size
//! read from the configuration), in place of the one a dependency's attribute declares.

mod common;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use common::{count, events, log, serial, within};
use di_runtime::TestResponse;
use di_runtime::prelude::*;
use futures_util::{Stream, stream};

struct Conn;

/// Sends one chunk, then never ends: the request keeps its places while its response is open.
fn held_open<T: Send + Sync + 'static>(
    keep: T,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    let chunks = stream::unfold((keep, false), |(keep, sent)| async move {
        if sent {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Some((Ok(Bytes::from_static(b"open;")), (keep, true)))
    });
    StreamBody::new(chunks)
}

/// A dependency that declares no limit.
#[depends]
async fn pool(y: Yield<Conn>) {
    log("pool:setup");
    let _ = y.provide(Conn).await;
}

/// A dependency that declares a limit of one.
#[depends(max_concurrency = 1)]
async fn one(y: Yield<Conn>) {
    log("one:setup");
    let _ = y.provide(Conn).await;
}

#[depends]
async fn fake_pool(y: Yield<Conn>) {
    log("fake_pool:setup");
    let _ = y.provide(Conn).await;
}

#[depends]
async fn holds_pool(
    #[dep(pool)] c: Held<Conn>,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    held_open(c)
}

#[depends]
async fn holds_one(
    #[dep(one)] c: Held<Conn>,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    held_open(c)
}

/// Opens `opened` requests to `path` one after the other, each kept open once its first chunk
/// has come, and returns their statuses with the responses that are still open.
async fn open(client: &TestClient, path: &str, opened: usize) -> (Vec<u16>, Vec<TestResponse>) {
    let mut statuses = Vec::new();
    let mut open = Vec::new();
    for _ in 0..opened {
        let mut response = within(client.get(path).send()).await;
        let status = response.status().as_u16();
        statuses.push(status);
        if status == 200 {
            assert_eq!(within(response.chunk()).await.unwrap().unwrap(), "open;");
            open.push(response);
        }
    }
    (statuses, open)
}

#[tokio::test]
async fn a_limit_set_at_start_holds_a_dependency_that_declares_none() {
    let _serial = serial().await;
    let app = App::new()
        .get("/pool", holds_pool)
        .max_concurrency(pool, 2)
        .max_concurrency_wait(Duration::from_millis(100));
    let client = TestClient::start(app).await.unwrap();
    let (statuses, open_responses) = open(&client, "/pool", 3).await;
    assert_eq!(
        statuses,
        [200, 200, 503],
        "two places, both held by open bodies"
    );
    assert_eq!(
        count(&events(), "pool:setup"),
        2,
        "the third set nothing up"
    );

    drop(open_responses);
    within(client.settle()).await;
    let (statuses, _open) = open(&client, "/pool", 1).await;
    assert_eq!(
        statuses,
        [200],
        "the places came back with the requests' ends"
    );
    client.shutdown().await;
}

#[tokio::test]
async fn a_limit_set_at_start_replaces_the_declared_one() {
    let _serial = serial().await;
    // Declared `max_concurrency = 1`: a second request would get 503 without the setting.
    let app = App::new()
        .get("/one", holds_one)
        .max_concurrency(one, 2)
        .max_concurrency_wait(Duration::from_millis(100));
    let client = TestClient::start(app).await.unwrap();
    let (statuses, _open) = open(&client, "/one", 3).await;
    assert_eq!(statuses, [200, 200, 503]);
    assert_eq!(count(&events(), "one:setup"), 2);
    client.shutdown().await;
}

#[tokio::test]
async fn the_declared_limit_holds_without_the_setting() {
    let _serial = serial().await;
    let app = App::new()
        .get("/one", holds_one)
        .max_concurrency_wait(Duration::from_millis(100));
    let client = TestClient::start(app).await.unwrap();
    let (statuses, _open) = open(&client, "/one", 2).await;
    assert_eq!(statuses, [200, 503]);
    client.shutdown().await;
}

#[tokio::test]
async fn none_lifts_a_declared_limit() {
    let _serial = serial().await;
    let app = App::new()
        .get("/one", holds_one)
        .max_concurrency(one, None)
        .max_concurrency_wait(Duration::from_millis(100));
    let client = TestClient::start(app).await.unwrap();
    let (statuses, _open) = open(&client, "/one", 3).await;
    assert_eq!(statuses, [200, 200, 200]);
    client.shutdown().await;
}

#[tokio::test]
async fn an_override_runs_under_the_limit_set_for_the_dependency_it_replaces() {
    let _serial = serial().await;
    let app = App::new()
        .get("/pool", holds_pool)
        .override_dep(pool, fake_pool)
        .max_concurrency(pool, 1)
        .max_concurrency_wait(Duration::from_millis(100));
    let client = TestClient::start(app).await.unwrap();
    let (statuses, _open) = open(&client, "/pool", 2).await;
    assert_eq!(statuses, [200, 503]);
    assert_eq!(count(&events(), "fake_pool:setup"), 1);
    assert_eq!(count(&events(), "pool:setup"), 0);
    client.shutdown().await;
}

#[depends(scope = "app")]
async fn settings() -> u32 {
    7
}

#[depends]
async fn reads_settings(#[dep(settings)] s: &u32) -> String {
    s.to_string()
}

#[tokio::test]
async fn a_limit_of_zero_and_one_on_an_app_scoped_dependency_are_refused_at_start() {
    let zero = App::new()
        .get("/one", holds_one)
        .max_concurrency(one, 0)
        .check()
        .expect_err("a limit of 0 would never let the dependency run");
    assert_eq!(
        zero.problems(),
        [
            "`App::max_concurrency(one, 0)` would never let `one` run; give 1 or more, or `None` for no limit"
        ]
    );
    let app_scoped = App::new()
        .get("/settings", reads_settings)
        .max_concurrency(settings, 3);
    assert_eq!(
        app_scoped.check().expect_err("nothing to limit").problems(),
        [
            "`App::max_concurrency(settings, ..)`: `settings` is `app`-scoped, set up once for the whole app, so a limit has nothing to limit; remove it, or make `settings` `request`- or `handler`-scoped"
        ]
    );
    // Starting reports the same, and serves nothing.
    let started = TestClient::start(app_scoped).await;
    assert!(started.is_err(), "an app with a problem does not start");
}

#[depends]
async fn two_pools(#[dep(pool)] _a: &Conn, #[dep(pool, fresh)] _b: &Conn) -> &'static str {
    "two"
}

#[tokio::test]
async fn a_set_limit_is_what_the_places_check_and_the_graph_read() {
    let error = App::new()
        .get("/two", two_pools)
        .max_concurrency(pool, 1)
        .check()
        .expect_err("one request needs two instances of a dependency limited to one");
    assert_eq!(
        error.problems(),
        [
            "route GET /two: one request needs 2 instances of `pool`, which is `max_concurrency = 1` (set with `App::max_concurrency`), so it could never be served; raise the limit, or share one instance instead of taking it `fresh`"
        ]
    );
    let app = App::new().get("/two", two_pools).max_concurrency(pool, 2);
    app.check().expect("two places for two instances");
    let graph = app.graph().unwrap().mermaid();
    assert!(graph.contains("max_concurrency = 2"), "{graph}");
}

/// More places than tokio's semaphore can count (`Semaphore::MAX_PERMITS`, `usize::MAX >> 3`).
#[depends(max_concurrency = 4_000_000_000_000_000_000)]
async fn huge() -> u8 {
    1
}

#[depends]
async fn reads_huge(#[dep(huge)] h: &u8) -> String {
    h.to_string()
}

#[tokio::test]
async fn a_limit_beyond_what_a_semaphore_counts_is_no_limit_not_a_panic() {
    let _serial = serial().await;
    let app = App::new()
        .get("/huge", reads_huge)
        .get("/pool", holds_pool)
        .max_concurrency(pool, usize::MAX);
    let client = TestClient::start(app).await.unwrap();
    let response = within(client.get("/huge").send()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "1");
    let (statuses, _open) = open(&client, "/pool", 2).await;
    assert_eq!(statuses, [200, 200]);
    client.shutdown().await;
}

static RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[depends]
async fn waits() -> &'static str {
    log("waits:run");
    RELEASE.notified().await;
    "done"
}

#[tokio::test]
async fn a_limit_set_at_start_holds_a_handler_too() {
    let _serial = serial().await;
    let app = App::new()
        .get("/waits", waits)
        .max_concurrency(waits, 1)
        .max_concurrency_wait(Duration::from_millis(100));
    let client = TestClient::start(app).await.unwrap();
    let first = client.get("/waits").send();
    let second = async {
        common::wait_for("waits:run").await;
        let status = client.get("/waits").send().await.status();
        RELEASE.notify_one();
        status
    };
    let (first, second) = within(async { tokio::join!(first, second) }).await;
    assert_eq!(second, 503, "one run at once");
    assert_eq!(first.status(), 200);
    assert_eq!(count(&events(), "waits:run"), 1);
    client.shutdown().await;
}
