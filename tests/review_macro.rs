//! A code review of the `#[depends]` macro as a syn/quote maintainer reads it: what the
//! expansion makes of the attributes a user puts on a function (doc comments, lint levels), as
//! rustc, clippy and rustdoc see the items it generates (the struct of the function's name, the
//! marker function, `name::call`). The crate denies `missing_docs`, and `cargo clippy -- -D
//! warnings` checks the clippy lint levels below; the compile-time mistakes of this walk are
//! `tests/ui/depends/fail/review-macro-*.rs`.
#![deny(missing_docs)]

use di_runtime::prelude::*;

#[depends]
async fn name() -> String {
    "ada".to_owned()
}

// A public dependency left undocumented on purpose, the lint allowed or expected on it as on any
// item. rustc reports a missing doc comment at the struct the macro makes of the function, which
// got none of the function's lint levels: `#[allow(missing_docs)]` did not silence "missing
// documentation for a struct", and `#[expect(missing_docs)]` was both reported and unfulfilled.

#[depends]
#[allow(
    missing_docs,
    reason = "an internal dependency, documented where it is defined"
)]
pub async fn undocumented_allowed() -> String {
    "allowed".to_owned()
}

#[depends]
#[expect(
    missing_docs,
    reason = "an internal dependency, documented where it is defined"
)]
pub async fn undocumented_expected() -> String {
    "expected".to_owned()
}

// A handler moved from axum keeps the clippy levels it had there. The macro's own
// `#[allow(clippy::unused_async)]` and `#[allow(clippy::ptr_arg)]` on `name::call` came after
// the function's attributes and overrode them: each `#[expect]` below was "unfulfilled", an
// error under `cargo clippy -- -D warnings`.

#[depends]
#[expect(clippy::unused_async, reason = "an axum handler is async")]
async fn ported_handler() -> String {
    "ported".to_owned()
}

#[depends]
#[expect(clippy::ptr_arg, reason = "the dependency provides a `String`")]
async fn ported_ptr_arg(#[dep(name)] name: &String) -> String {
    name.clone()
}

#[tokio::test]
async fn functions_with_lint_levels_of_their_own_are_served() {
    let app = App::new()
        .get("/allowed", undocumented_allowed)
        .get("/expected", undocumented_expected)
        .get("/ported", ported_handler)
        .get("/ptr", ported_ptr_arg);
    let client = TestClient::start(app).await.expect("starts");
    for (path, body) in [
        ("/allowed", "allowed"),
        ("/expected", "expected"),
        ("/ported", "ported"),
        ("/ptr", "ada"),
    ] {
        let response = client.get(path).send().await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await.expect("text"), body, "{path}");
    }
}
