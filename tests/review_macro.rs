//! A code review of the `#[depends]` macro as a syn/quote maintainer reads it: what the
//! expansion makes of the attributes a user puts on a function (doc comments, lint levels), as
//! rustc, clippy and rustdoc see the items it generates (the struct of the function's name, the
//! marker function, `name::call`, the block of trait impls), and of a function whose tokens come
//! from another macro. The crate denies `missing_docs` and `deprecated`, so that a level that does
//! not reach its item fails the build; `cargo clippy -- -D warnings` checks the clippy levels.
#![deny(missing_docs, deprecated)]

use std::path::{Path, PathBuf};
use std::process::Command;

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

// A function that sets clippy's group instead: its `#[deny(clippy::pedantic)]` must not undo
// the macro's own `allow`s (`unused_async` is pedantic), as a crate-level one does not.

#[depends]
#[deny(clippy::pedantic)]
async fn strict(#[dep(name)] name: &String) -> String {
    name.clone()
}

// A dependency whose value may be absent, taken by reference: `&Option<String>` is the type
// `#[dep]` lends (`Option<&String>` is not its value). clippy's `ref_option` (pedantic, and
// `ref_option_ref` for `&Option<&'static str>`) asked for `Option<&T>` on `name::call`, which the
// macro allowed for `&String` (`ptr_arg`) and `&Box<dyn Trait>` (`borrowed_box`) but not here:
// a crate denying `clippy::pedantic` failed `cargo clippy` for the function the macro made.

#[depends]
async fn nickname() -> Option<String> {
    None
}

#[depends]
async fn motto() -> Option<&'static str> {
    Some("ad astra")
}

#[depends]
#[deny(clippy::pedantic)]
async fn greeting_for(
    #[dep(nickname)] nickname: &Option<String>,
    #[dep(motto)] motto: &Option<&'static str>,
) -> String {
    format!(
        "{} {}",
        nickname.as_deref().unwrap_or("ada"),
        motto.unwrap_or("")
    )
}

// A dependency deprecated in favour of `name`, taken by a handler being migrated, which allows
// the lint. rustc reports the use at the `#[dep(old_name)]` path, in the block of trait impls
// the macro makes, which got none of the function's lint levels: the warning stayed.

#[depends]
#[deprecated = "take `name` instead"]
async fn old_name() -> String {
    "old".to_owned()
}

#[depends]
#[allow(deprecated, reason = "migrating to `name`")]
async fn migrating(#[dep(old_name)] old: &String, #[dep(name)] name: &String) -> String {
    format!("{old} {name}")
}

// Inner attributes at the top of a body, the function's as outer ones are: syn keeps them
// among the function's attributes, and the macro wrote them, still inner, before each item it
// makes of the function: "an inner attribute is not permitted following an outer attribute".

#[depends]
pub async fn inner_attributes() -> String {
    //! Documented from inside its body.
    #![allow(unused_variables, reason = "read in the next release")]
    let unused = 1;
    "inner".to_owned()
}

#[tokio::test]
async fn functions_with_lint_levels_of_their_own_are_served() {
    let app = App::new()
        .get("/allowed", undocumented_allowed)
        .get("/expected", undocumented_expected)
        .get("/ported", ported_handler)
        .get("/ptr", ported_ptr_arg)
        .get("/strict", strict)
        .get("/migrating", migrating)
        .get("/greeting", greeting_for)
        .get("/inner", inner_attributes);
    let client = TestClient::start(app).await.expect("starts");
    for (path, body) in [
        ("/allowed", "allowed"),
        ("/expected", "expected"),
        ("/ported", "ported"),
        ("/ptr", "ada"),
        ("/strict", "ada"),
        ("/migrating", "old ada"),
        ("/greeting", "ada ad astra"),
        ("/inner", "inner"),
    ] {
        let response = client.get(path).send().await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await.expect("text"), body, "{path}");
    }
}

// A `macro_rules!` that adds `#[depends]` to the function it is given, its tokens passed on as
// they are: the attribute then comes from the macro's expansion, the parameters' types from the
// caller. The bindings of the generated code were spanned at each parameter's type, their
// `__di_args` with them, and so a variable other than the one `#[depends]` declared: every
// `#[dep]`, request input and `Yield` parameter was "cannot find value `__di_args` in this
// scope".

macro_rules! injected {
    ($($function:tt)*) => {
        #[depends]
        $($function)*
    };
}

#[derive(serde::Deserialize)]
struct Times {
    times: usize,
}

injected! {
    async fn greeting(y: Yield<String>) {
        let _ = y.provide("hello".to_owned()).await;
    }
}

injected! {
    async fn greet(
        #[dep(greeting)] greeting: &String,
        #[dep(name)] name: Held<String>,
        Query(Times { times }): Query<Times>,
        headers: &HeaderMap,
    ) -> String {
        let agent = headers.get("x-agent").map_or("", |v| v.to_str().unwrap_or(""));
        format!("{greeting} {} {agent}", name.repeat(times))
    }
}

#[tokio::test]
async fn a_function_given_to_a_macro_that_adds_depends_is_served() {
    let client = TestClient::start(App::new().get("/", greet))
        .await
        .expect("starts");
    let response = client
        .get("/?times=2")
        .header("x-agent", "curl")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("text"), "hello adaada curl");
}

/// The newest `libdi_runtime-*.rlib` beside this test's binary: the one cargo built for it.
fn runtime_rlib(deps: &Path) -> PathBuf {
    std::fs::read_dir(deps)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("libdi_runtime-") && name.ends_with(".rlib"))
        })
        .max_by_key(|path| std::fs::metadata(path).unwrap().modified().unwrap())
        .expect("di_runtime's rlib beside the test binary")
}

/// The doctests rustdoc runs for `source`, a library crate using `di_runtime`, by name.
fn doctests_of(source: &str) -> Vec<String> {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let dir = std::env::temp_dir().join(format!("di-review-macro-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lib.rs");
    std::fs::write(&file, source).unwrap();
    let output = Command::new(std::env::var_os("RUSTDOC").unwrap_or_else(|| "rustdoc".into()))
        .args(["--test", "--edition", "2024", "--crate-type", "lib"])
        .args(["--crate-name", "review_macro_doc"])
        .arg(&file)
        .arg("--extern")
        .arg(format!("di_runtime={}", runtime_rlib(&deps).display()))
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .current_dir(&dir)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "rustdoc --test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut names: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("test ")?.strip_suffix(" ... ok"))
        .filter_map(|test| test.split(" - ").nth(1))
        .map(|name| name.split(" (line").next().unwrap_or(name).to_owned())
        .collect();
    names.sort();
    names
}

/// A library's doc example on a `#[depends]` function is one doctest. The doc comment is on the
/// struct of the function's name and on `name::call` too, and rustdoc ran each example twice,
/// as `hello` and `hello::call`: twice the time, and an example that binds a port or writes a
/// file raced its own copy.
#[test]
fn a_doc_example_on_a_depends_function_is_one_doctest() {
    let source = r#"//! A library.
use di_runtime::prelude::*;

/// Says hello.
///
/// ```
/// assert_eq!(1 + 1, 2);
/// ```
#[depends]
pub async fn hello() -> String {
    "hello".to_owned()
}
"#;
    assert_eq!(doctests_of(source), ["hello"]);
}
