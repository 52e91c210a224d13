//! Probes of the dependency contract (DESIGN.md) in combinations the other suites do not
//! cover; each test here failed before the fix named in CHANGELOG.md.

mod common;

use common::{events, log, serial};
use di_runtime::prelude::*;

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
