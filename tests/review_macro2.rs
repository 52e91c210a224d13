//! A second review of what `#[depends]` generates: the lint attributes in its expansion. An
//! `#[allow]` of a lint the crate forbids is error E0453 ("allow(dead_code) incompatible with
//! previous forbid"), so every `#[allow(dead_code)]`, `#[allow(non_camel_case_types)]`,
//! `#[allow(unused_imports)]` and `#[allow(deprecated)]` the macro wrote made it unusable in a
//! crate that forbids those lints (or the `unused` group). This crate forbids them all, over
//! every shape of function: it failed to compile before, at each `#[depends]`.
#![forbid(
    unsafe_code,
    missing_docs,
    unused,
    dead_code,
    unused_imports,
    non_camel_case_types,
    nonstandard_style,
    deprecated,
    unit_bindings
)]

use di_runtime::prelude::*;

/// An `app`-scoped value.
#[depends(scope = "app")]
pub async fn config() -> String {
    "cfg".to_owned()
}

/// A `()` value, taken by value.
#[depends]
pub async fn unit() {}

/// A generator, `handler`-scoped, that fails at setup when asked to.
#[depends(scope = "handler")]
pub async fn log(#[dep(config)] config: &String, y: Yield<Vec<String>>) -> Result<(), HttpError> {
    let (lines, _outcome) = y.provide(vec![config.clone()]).await;
    drop(lines);
    Ok(())
}

/// A `request`-scoped generator, held by the handler.
#[depends]
pub async fn counter(y: Yield<u64>) {
    drop(y.provide(7).await);
}

/// A fallible plain dependency, taken by value.
#[depends]
pub async fn number(
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<u32, HttpError> {
    q.get("n").map_or(Ok(1), |n| {
        n.parse()
            .map_err(|_| HttpError::bad_request("`n` is no number"))
    })
}

/// A handler that takes each kind of parameter.
#[depends(uses(unit))]
pub async fn hello(
    #[dep(log)] log: &mut Vec<String>,
    #[dep(counter)] count: Held<u64>,
    #[dep(number)] n: u32,
    #[dep(unit)] unit: (),
    Path(id): Path<u32>,
    headers: &HeaderMap,
) -> Result<String, HttpError> {
    let () = unit;
    log.push(id.to_string());
    let anonymous = headers.get("x-who").is_none();
    Ok(format!("{} {} {anonymous} {n} {id}", log.join(","), *count))
}

/// A handler with an opaque response.
#[depends]
pub async fn opaque() -> impl IntoResponse {
    "opaque"
}

/// The handlers run as written under the crate's forbids (on a runtime built by hand:
/// `#[tokio::test]` allows `unused_mut`).
#[test]
fn a_crate_that_forbids_the_lints_the_expansion_allowed_serves_its_handlers() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(serve_under_forbids());
}

async fn serve_under_forbids() {
    let app = App::new().get("/{id}", hello).get("/opaque", opaque);
    let client = TestClient::start(app).await.expect("starts");
    let response = client.get("/5?n=3").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("a body"), "cfg,5 7 true 3 5");
    let response = client.get("/opaque").send().await;
    assert_eq!(response.text().await.expect("a body"), "opaque");
    let response = client.get("/5?n=x").send().await;
    assert_eq!(response.status(), 400);
}
