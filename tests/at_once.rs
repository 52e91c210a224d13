//! A plain function whose body cannot wait (no `.await`, and no macro that could hide one) is
//! run where it is started, nothing boxed: these check that it gives the same values, errors,
//! panics and outcomes as a body that waits, and that a body that waits after all, inside a
//! macro named like one of `std`'s, fails its setup with a 500 instead of hanging or
//! panicking. (Most tests of the suite run such bodies too; these name the cases.)

mod common;

use std::time::Duration;

use common::{count, events, log, serial};
use di_runtime::prelude::*;
use serde::Deserialize;

/// Bounds a wait, so that a hang fails the test instead of CI (not a timing assertion).
async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("did not finish within 20 s: it hangs")
}

struct Conn;

/// A generator before the rest: its teardown reports the outcome it was given.
#[depends]
async fn conn(y: Yield<Conn>) {
    let (_conn, outcome) = y.provide(Conn).await;
    log(format!("conn:close {outcome}"));
}

#[derive(Deserialize)]
struct N {
    n: u32,
}

/// Cannot wait: an error for 0, a panic for 13, else the number doubled.
#[depends]
async fn number(#[dep(conn)] _c: &Conn, Query(q): Query<N>) -> Result<u32, HttpError> {
    if q.n == 0 {
        return Err(HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, "zero"));
    }
    assert!(q.n != 13, "unlucky number");
    Ok(q.n * 2)
}

/// The same, waiting once first.
#[depends]
async fn number_after_a_wait(#[dep(conn)] _c: &Conn, Query(q): Query<N>) -> Result<u32, HttpError> {
    tokio::task::yield_now().await;
    if q.n == 0 {
        return Err(HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, "zero"));
    }
    assert!(q.n != 13, "unlucky number");
    Ok(q.n * 2)
}

/// A handler that cannot wait, from a dependency that cannot.
#[depends]
async fn at_once(#[dep(number)] n: &u32) -> String {
    assert!(*n != 42, "the handler panics");
    format!("{n}")
}

/// The same handler, from the dependency that waits.
#[depends]
async fn after_a_wait(#[dep(number_after_a_wait)] n: &u32) -> String {
    assert!(*n != 42, "the handler panics");
    format!("{n}")
}

mod shadowed {
    use super::*;

    /// A macro named as `std`'s `format!` that awaits its argument: `#[depends]` reads
    /// `format!(..)` as `std`'s, which cannot wait.
    macro_rules! format {
        ($wait:expr) => {
            $wait.await
        };
    }

    #[depends]
    pub(crate) async fn waits_in_a_macro(#[dep(conn)] _c: &Conn) -> u32 {
        format!(tokio::task::yield_now());
        7
    }

    #[depends]
    pub(crate) async fn uses_it(#[dep(waits_in_a_macro)] n: &u32) -> String {
        n.to_string()
    }
}

fn app() -> App {
    App::new()
        .get("/at-once", at_once)
        .get("/after-a-wait", after_a_wait)
        .get("/shadowed", shadowed::uses_it)
        .teardown_timeout(Duration::from_secs(5))
}

/// Status, body and the outcome `conn`'s teardown saw, for `uri`.
async fn answer(client: &TestClient, uri: &str) -> (u16, String, Vec<String>) {
    common::clear();
    let response = client.get(uri).send().await;
    let status = response.status().as_u16();
    let body = response.text().await.expect("the body");
    within(client.settle()).await;
    let closes = events()
        .into_iter()
        .filter(|event| event.starts_with("conn:close"))
        .collect();
    (status, body, closes)
}

#[tokio::test]
async fn a_body_that_cannot_wait_answers_as_one_that_waits() {
    let _serial = serial().await;
    let client = TestClient::start(app()).await.unwrap();
    for (query, status, close) in [
        ("?n=4", 200, "conn:close success (200)"),
        ("?n=0", 422, "conn:close setup of `number` failed (422)"),
        ("?n=13", 500, "conn:close panicked"),
        ("?n=21", 500, "conn:close panicked"),
        ("?n=x", 422, ""),
    ] {
        let (got_status, got_body, closes) = answer(&client, &format!("/at-once{query}")).await;
        let (want_status, want_body, want_closes) =
            answer(&client, &format!("/after-a-wait{query}")).await;
        assert_eq!(got_status, status, "/at-once{query}: {got_body}");
        assert_eq!(want_status, status, "/after-a-wait{query}: {want_body}");
        let want_closes: Vec<String> = want_closes
            .iter()
            .map(|c| c.replace("number_after_a_wait", "number"))
            .collect();
        assert_eq!(got_body, want_body, "{query}");
        assert_eq!(closes, want_closes, "{query}");
        if close.is_empty() {
            assert!(closes.is_empty(), "{query}: nothing was set up: {closes:?}");
        } else {
            assert_eq!(count(&closes, close), 1, "{query}: {closes:?}");
        }
    }
    assert_eq!(client.running().teardown_failures(), 0);
    client.shutdown().await;
}

/// `di`'s DEBUG spans and log lines on, for this thread (each test's runtime is single-threaded,
/// so the app runs here): setups are traced, and a body that cannot wait is boxed so that its
/// `setup` span times it.
fn traced() -> tracing::subscriber::DefaultGuard {
    use tracing_subscriber::util::SubscriberInitExt as _;
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_test_writer()
        .finish()
        .set_default()
}

#[tokio::test]
async fn traced_setups_answer_as_untraced_ones() {
    let _serial = serial().await;
    let client = TestClient::start(app()).await.unwrap();
    let mut untraced = Vec::new();
    for uri in ["/at-once?n=4", "/at-once?n=0", "/at-once?n=13", "/shadowed"] {
        untraced.push(answer(&client, uri).await);
    }
    let _traced = traced();
    for (uri, untraced) in ["/at-once?n=4", "/at-once?n=0", "/at-once?n=13", "/shadowed"]
        .into_iter()
        .zip(untraced)
    {
        assert_eq!(answer(&client, uri).await, untraced, "{uri}");
    }
    client.shutdown().await;
}

#[tokio::test]
async fn a_body_that_waits_inside_a_macro_named_like_std_s_fails_its_setup_with_a_500() {
    let _serial = serial().await;
    let client = TestClient::start(app()).await.unwrap();
    let (status, body, closes) = answer(&client, "/shadowed").await;
    assert_eq!(status, 500, "{body}");
    assert!(!body.contains("macro"), "no internal message leaks: {body}");
    assert_eq!(
        closes,
        ["conn:close setup of `waits_in_a_macro` failed (500)"],
        "its generator before it is torn down with the failure"
    );
    // The app goes on serving.
    let (status, body, _) = answer(&client, "/at-once?n=1").await;
    assert_eq!((status, body.as_str()), (200, "2"));
    client.shutdown().await;
}
