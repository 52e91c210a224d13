//! What the PostgreSQL tests share: the variable that names the test database, the rule for
//! a missing one (skip with a message, except under `CI=true`, where it fails), and the wait
//! for a condition on the server.

use std::time::{Duration, Instant};

/// The variable that names the test database.
pub(crate) const URL_VAR: &str = "DI_TEST_POSTGRES_URL";

/// The test database's URL, or `None` (with a message naming `test` and what it needs of the
/// database, `needs`) to skip; under `CI=true` a missing URL fails the test.
pub(crate) fn database_url(test: &str, needs: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            let in_ci = std::env::var("CI").is_ok_and(|ci| ci == "true");
            assert!(
                !in_ci,
                "{URL_VAR} is not set, and CI=true: .ci/run starts PostgreSQL and sets it; \
                 in CI the PostgreSQL test must run"
            );
            eprintln!(
                "SKIPPED {test}: no PostgreSQL to test against. Set {URL_VAR}, \
                 e.g. postgres://di:di@127.0.0.1:5432/di_test, to {needs} \
                 (docs/testing.md, \"Testing against PostgreSQL\")."
            );
            None
        }
    }
}

/// How long to wait for a condition on the server (a teardown still finishing) before a check
/// fails: a deadline for a condition to become true, not a timing assertion.
const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `check` every 20 ms until it gives a value; fails the test with its last reason past
/// [`DEADLINE`].
pub(crate) async fn eventually<T>(mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(why) => assert!(Instant::now() < deadline, "{why}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
