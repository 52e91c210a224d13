//! A second review of what `#[depends]` generates: the lint attributes in its expansion. An
//! `#[allow]` of a lint the crate forbids is error E0453 ("`allow(dead_code)` incompatible with
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
// The clippy groups, checked by `cargo clippy -- -D warnings`: the expansion allowed all three on
// its block of trait impls, and `clippy::unused_async`, `ptr_arg`, `borrowed_box`, `ref_option`
// and `ref_option_ref` on every `name::call`, whatever its body and parameters; allowing a lint of
// a forbidden group is the `forbidden_lint_groups` warning. Each is now allowed only where it
// would fire: below, every body awaits and no `#[dep]` parameter borrows a `String`, a `Vec`,
// a `Box` or an `Option`.
#![forbid(clippy::all, clippy::pedantic, clippy::nursery)]

use di_runtime::prelude::*;

/// The app's settings.
#[derive(Clone, Debug)]
pub struct Config(String);

/// The lines a request logs.
#[derive(Debug)]
pub struct Lines(Vec<String>);

/// Nothing to wait for, awaited (a body without `.await` trips `clippy::unused_async`, which a
/// `#[depends]` function cannot avoid: the crate forbids it).
async fn ready() {
    std::future::ready(()).await;
}

/// An `app`-scoped value.
#[depends(scope = "app")]
pub async fn config() -> Config {
    ready().await;
    Config("cfg".to_owned())
}

/// A `()` value, taken by value.
#[depends]
pub async fn unit() {
    ready().await;
}

/// A generator, `handler`-scoped.
///
/// # Errors
///
/// Never; the `Result` shows that a fallible generator is clean too.
#[depends(scope = "handler")]
pub async fn log(#[dep(config)] config: &Config, y: Yield<Lines>) -> Result<(), HttpError> {
    let (lines, _outcome) = y.provide(Lines(vec![config.0.clone()])).await;
    drop(lines);
    Ok(())
}

/// A `request`-scoped generator, held by the handler.
#[depends]
pub async fn counter(y: Yield<u64>) {
    drop(y.provide(7).await);
}

/// A fallible plain dependency, taken by value.
///
/// # Errors
///
/// A 400 when `n` is no number.
#[depends]
pub async fn number(
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<u32, HttpError> {
    ready().await;
    q.get("n").map_or(Ok(1), |n| {
        n.parse()
            .map_err(|_| HttpError::bad_request("`n` is no number"))
    })
}

/// A handler that takes each kind of parameter.
///
/// # Errors
///
/// Never; its dependencies may fail.
#[depends(uses(unit))]
pub async fn hello(
    #[dep(log)] log: &mut Lines,
    #[dep(counter)] count: Held<u64>,
    #[dep(number)] n: u32,
    #[dep(unit)] unit: (),
    Path(id): Path<u32>,
    headers: &HeaderMap,
) -> Result<String, HttpError> {
    let () = unit;
    ready().await;
    log.0.push(id.to_string());
    let anonymous = headers.get("x-who").is_none();
    Ok(format!(
        "{} {} {anonymous} {n} {id}",
        log.0.join(","),
        *count
    ))
}

/// A handler with an opaque response.
#[depends]
pub async fn opaque() -> impl IntoResponse {
    ready().await;
    "opaque"
}

/// A generator with a limit, held mutably by the handler's body.
#[depends(max_concurrency = 4)]
pub async fn conn(y: Yield<Lines>) {
    drop(y.provide(Lines(Vec::new())).await);
}

/// A handler with a JSON body, a fresh value, a use-site scope, a held mutable value and a
/// fallible opaque response.
///
/// # Errors
///
/// A 422 when the title is empty.
#[depends]
pub async fn create(
    #[dep(number, fresh)] n: u32,
    #[dep(counter, scope = "handler")] count: &u64,
    #[dep(conn)] mut conn: HeldMut<Lines>,
    Json(title): Json<String>,
) -> Result<impl IntoResponse, HttpError> {
    ready().await;
    if title.is_empty() {
        return Err(HttpError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "an empty title",
        ));
    }
    conn.0.push(title);
    Ok((
        StatusCode::CREATED,
        format!("{} {n} {count}", conn.0.join(",")),
    ))
}

/// A fallible dependency whose error is boxed.
///
/// # Errors
///
/// Never.
#[depends]
pub async fn parsed() -> Result<u16, Box<dyn std::error::Error + Send + Sync>> {
    ready().await;
    Ok("8".parse()?)
}

/// A handler of the boxed error's value.
#[depends]
pub async fn show(#[dep(parsed)] p: Held<u16>) -> String {
    ready().await;
    p.to_string()
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
    let app = App::new()
        .get("/{id}", hello)
        .get("/opaque", opaque)
        .post("/notes", create)
        .get("/show", show);
    let client = TestClient::start(app).await.expect("starts");
    let response = client.get("/5?n=3").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("a body"), "cfg,5 7 true 3 5");
    let response = client.get("/opaque").send().await;
    assert_eq!(response.text().await.expect("a body"), "opaque");
    let response = client.get("/5?n=x").send().await;
    assert_eq!(response.status(), 400);
    let response = client.post("/notes").json("a").send().await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.text().await.expect("a body"), "a 1 7");
    let response = client.get("/show").send().await;
    assert_eq!(response.text().await.expect("a body"), "8");
    drop(client);
}
