// Generated code is clean under the lint groups a strict crate denies. With `unit_bindings`
// denied, a `#[dep]` parameter typed `()` (`#[dep(unit)] u: ()`) failed: "binding has unit
// type `()`", at the parameter, about the macro's binding of its value.
#![forbid(unsafe_code)]
#![deny(
    warnings,
    future_incompatible,
    nonstandard_style,
    rust_2018_idioms,
    rust_2021_compatibility,
    rust_2024_compatibility,
    unused,
    let_underscore,
    missing_docs,
    missing_copy_implementations,
    missing_debug_implementations,
    unit_bindings,
    single_use_lifetimes,
    unused_lifetimes,
    unreachable_pub,
    unused_qualifications,
    unnameable_types,
    unused_results,
    trivial_casts,
    trivial_numeric_casts,
    variant_size_differences,
    unused_import_braces,
    meta_variable_misuse,
    redundant_lifetimes,
    non_ascii_idents,
    macro_use_extern_crate,
    elided_lifetimes_in_paths,
    explicit_outlives_requirements,
    unsafe_op_in_unsafe_fn,
    deprecated_in_future,
    ffi_unwind_calls,
    missing_unsafe_on_extern
)]
//! A crate with strict lints.

use di_runtime::prelude::*;

/// Config.
#[depends(scope = "app")]
pub async fn config() -> String {
    "cfg".to_owned()
}

/// Unit-returning dependency, injected by value.
#[depends]
pub async fn unit() {}

/// A generator.
#[depends(scope = "handler")]
pub async fn tx(#[dep(config)] c: &String, y: Yield<Vec<String>>) {
    let (_lines, _outcome) = y.provide(vec![c.clone()]).await;
}

/// A handler using all of it.
#[depends(uses(unit))]
pub async fn hello(
    #[dep(tx)] tx: &mut Vec<String>,
    #[dep(config)] config: Held<String>,
    #[dep(unit)] u: (),
    Path(id): Path<u32>,
    headers: &HeaderMap,
    q: Query<u32>,
) -> Result<String, HttpError> {
    tx.push(id.to_string());
    let () = u;
    Ok(format!("{} {} {} {q:?}", tx.len(), *config, headers.len()))
}

/// A handler answering `()`.
#[depends]
pub async fn nothing() {}

/// A handler answering `impl IntoResponse`.
#[depends]
pub async fn anything() -> impl IntoResponse {
    "x"
}

mod inner {
    use di_runtime::prelude::*;
    #[depends]
    pub(crate) async fn private(#[dep(super::config)] c: &String) -> String {
        c.clone()
    }
    #[depends]
    pub(super) async fn sup() -> String {
        String::new()
    }
}

fn main() {
    drop(
        App::new()
            .get("/{id}", hello)
            .get("/n", nothing)
            .get("/a", anything)
            .get("/p", inner::private)
            .get("/s", inner::sup),
    );
}
