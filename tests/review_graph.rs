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
