//! What the PostgreSQL tests share: the variable that names the test database, and the rule
//! for a missing one (skip with a message, except under `CI=true`, where it fails).

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
