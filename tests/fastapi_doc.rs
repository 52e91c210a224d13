//! What docs/fastapi.md says `di` does, for the claims no other suite shows: each test is
//! named next to its claim there.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{events, log, serial, wait_for};
use di_runtime::prelude::*;

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::HandlerError { status, .. } => format!("handler-error {}", status.as_u16()),
        other => other.to_string(),
    }
}

/// Bounds a wait, so that a hang fails the test instead of CI (not a timing assertion).
async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("did not finish within 20 s: it hangs")
}

// ------------------------------------------------ a plain function's scope is capped at `request`

#[depends(scope = "app")]
async fn base_rate() -> u32 {
    log("base_rate");
    7
}

/// Declares no scope and depends only on an `app` value: it is still `request`-scoped.
#[depends]
async fn rate(#[dep(base_rate)] base: &u32) -> u32 {
    log("rate");
    base + 1
}

#[depends]
async fn show_rate(#[dep(rate)] rate: &u32) -> String {
    rate.to_string()
}

#[tokio::test]
async fn a_plain_function_without_a_scope_is_request_scoped_even_over_app_values() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/rate", show_rate))
        .await
        .unwrap();
    assert_eq!(
        events(),
        ["base_rate"],
        "only `app` scope is set up at start"
    );
    for _ in 0..2 {
        assert_eq!(client.get("/rate").send().await.text().await.unwrap(), "8");
    }
    client.settle().await;
    assert_eq!(events(), ["base_rate", "rate", "rate"], "once per request");
    client.shutdown().await;
}

// ------------------------------------------------ a `fresh` use never fills the cache

static COUNTER: AtomicUsize = AtomicUsize::new(0);

#[depends]
async fn counter(y: Yield<usize>) {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
    log(format!("setup #{n}"));
    let (n, _) = y.provide(n).await;
    log(format!("teardown #{n}"));
}

#[depends]
async fn fresh_first(
    #[dep(counter, fresh)] a: &usize,
    #[dep(counter)] b: &usize,
    #[dep(counter)] c: &usize,
) -> String {
    format!("{a},{b},{c}")
}

#[tokio::test]
async fn a_fresh_use_before_a_cached_one_does_not_fill_the_cache() {
    // FastAPI stores the uncached result when the key is absent, so it answers `1,1,1` here.
    let _serial = serial().await;
    COUNTER.store(0, Ordering::SeqCst);
    let client = TestClient::start(App::new().get("/", fresh_first))
        .await
        .unwrap();
    assert_eq!(client.get("/").send().await.text().await.unwrap(), "1,2,2");
    client.settle().await;
    assert_eq!(
        events(),
        ["setup #1", "setup #2", "teardown #2", "teardown #1"]
    );
    client.shutdown().await;
}

// ------------------------------------------------ an error response is sent before `request` teardown

#[depends]
async fn req_res(y: Yield<u8>) {
    log("req:open");
    let (_, outcome) = y.provide(1).await;
    log(format!("req:close {}", describe(&outcome)));
}

#[depends(scope = "handler")]
async fn fn_res(y: Yield<u8>) {
    log("fn:open");
    let (_, outcome) = y.provide(2).await;
    log(format!("fn:close {}", describe(&outcome)));
}

#[depends]
async fn taken(#[dep(req_res)] _r: &u8, #[dep(fn_res)] _f: &u8) -> Result<String, HttpError> {
    log("handler");
    Err(HttpError::conflict("taken"))
}

#[tokio::test]
async fn an_error_response_is_sent_before_request_scope_teardown() {
    // FastAPI unwinds both scopes before it sends an error response.
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", taken)).await.unwrap();
    let response = client.get("/").send().await;
    log(format!("head {}", response.status().as_u16()));
    let body = response.text().await.unwrap();
    log(format!("body {body}"));
    client.settle().await;
    assert_eq!(
        events(),
        [
            "req:open",
            "fn:open",
            "handler",
            "fn:close handler-error 409",
            "head 409",
            r#"body {"detail":"taken"}"#,
            "req:close handler-error 409"
        ]
    );
    client.shutdown().await;
}

// ------------------------------------------------ `max_concurrency` belongs to the function

static GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[depends(max_concurrency = 1)]
async fn connection(y: Yield<u8>) {
    log("connection:open");
    let _ = y.provide(1).await;
    log("connection:close");
}

#[depends]
async fn holds_connection(#[dep(connection)] _c: &u8) -> &'static str {
    log("holding");
    GATE.notified().await;
    "held"
}

/// Another use of the same function, through a plain function, on another route.
#[depends]
async fn via_plain(#[dep(connection)] c: &u8) -> u8 {
    *c
}

#[depends]
async fn other_route(#[dep(via_plain)] c: &u8) -> String {
    c.to_string()
}

#[tokio::test]
async fn every_use_of_a_limited_function_shares_its_places() {
    let _serial = serial().await;
    let app = App::new()
        .get("/hold", holds_connection)
        .get("/other", other_route)
        .max_concurrency_wait(Duration::from_millis(100));
    let client = TestClient::start(app).await.unwrap();
    let (first, second) = within(async {
        tokio::join!(client.get("/hold").send(), async {
            wait_for("holding").await;
            let second = client.get("/other").send().await;
            GATE.notify_one();
            second
        })
    })
    .await;
    assert_eq!(second.status(), 503, "the one place is held by `/hold`");
    assert!(second.header("retry-after").is_some());
    assert_eq!(first.text().await.unwrap(), "held");
    client.settle().await;
    let third = client.get("/other").send().await;
    assert_eq!(third.text().await.unwrap(), "1", "the place is free again");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "connection:open",
            "holding",
            "connection:close",
            "connection:open",
            "connection:close"
        ],
        "the refused request set nothing up"
    );
    client.shutdown().await;
}

#[depends(max_concurrency = 1)]
async fn busy_handler() -> &'static str {
    log("busy");
    GATE.notified().await;
    "done"
}

#[tokio::test]
async fn a_handler_may_declare_max_concurrency() {
    let _serial = serial().await;
    let app = App::new()
        .get("/busy", busy_handler)
        .max_concurrency_wait(Duration::from_millis(100));
    let client = TestClient::start(app).await.unwrap();
    let (first, second) = within(async {
        tokio::join!(client.get("/busy").send(), async {
            wait_for("busy").await;
            let second = client.get("/busy").send().await;
            GATE.notify_one();
            second
        })
    })
    .await;
    assert_eq!(second.status(), 503);
    assert_eq!(first.text().await.unwrap(), "done");
    client.settle().await;
    assert_eq!(events(), ["busy"], "the second call never ran");
    client.shutdown().await;
}
