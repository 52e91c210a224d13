//! Generated code is clean under strict lints: `deny(warnings, missing_docs, ..)` (the clippy
//! lints are checked when clippy runs; rustc accepts and ignores them).
#![deny(
    warnings,
    missing_docs,
    unreachable_pub,
    unused_qualifications,
    rust_2018_idioms
)]
#![deny(clippy::all, clippy::pedantic, clippy::nursery)]
#![deny(
    missing_debug_implementations,
    unused_results,
    trivial_casts,
    unused_import_braces
)]

use di_runtime::prelude::*;

/// A documented app-scoped dependency.
#[depends(scope = "app")]
pub async fn config() -> String {
    "cfg".to_owned()
}

/// A documented generator.
///
/// # Errors
///
/// Never; the `Result` shows that a fallible generator is clean too.
#[depends(scope = "handler")]
pub async fn tx(#[dep(config)] config: &String, y: Yield<Vec<String>>) -> Result<(), HttpError> {
    let (lines, _) = y.provide(vec![config.clone()]).await;
    drop(lines);
    Ok(())
}

/// A documented handler.
///
/// # Errors
///
/// Never; the `Result` shows that a fallible handler is clean too.
#[depends]
pub async fn hello(
    #[dep(tx)] tx: &mut Vec<String>,
    #[dep(config)] config: Held<String>,
    Path(id): Path<u32>,
    headers: &HeaderMap,
) -> Result<String, HttpError> {
    tx.push(id.to_string());
    Ok(format!("{} {} {}", tx.len(), *config, headers.len()))
}

#[depends]
async fn private_handler() -> &'static str {
    "ok"
}

fn main() {
    drop(App::new().get("/{id}", hello).get("/p", private_handler));
}
