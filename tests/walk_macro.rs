//! A Rust web developer coming from axum writes `#[depends]` functions the way they would write
//! handlers and extractors: patterns in parameters, `impl Trait` responses, names that meet the
//! macro's own, a dependency's `String` taken as `&str`, generators that provide from a branch,
//! lints added to a parameter by `#[cfg_attr]`. Each
//! compiles and behaves as written, through the `TestClient`. The mistakes of the same walk
//! that do not compile are `tests/ui/depends/fail/walk-macro-*.rs`.

use std::sync::Mutex;

use di_runtime::prelude::*;

#[derive(serde::Serialize, serde::Deserialize, Clone)]
struct Note {
    title: String,
    body: String,
}

#[depends]
async fn name() -> String {
    "ada".to_owned()
}

#[depends]
async fn pair() -> (u32, u32) {
    (1, 2)
}

/// Destructuring in parameters, as in an axum handler: a struct inside `Json`, a tuple behind a
/// reference, an owned tuple (a clone), `mut`, `ref` and `@` bindings.
#[allow(
    clippy::redundant_pattern,
    clippy::toplevel_ref_arg,
    reason = "the patterns a user may write"
)]
#[depends]
async fn patterns(
    Json(Note { title, .. }): Json<Note>,
    #[dep(pair)] &(a, b): &(u32, u32),
    #[dep(pair)] (c, d): (u32, u32),
    #[dep(name)] mut owned: String,
    #[dep(name)] ref by_ref: String,
    #[dep(name)] whole @ _: String,
) -> String {
    owned.push('!');
    format!("{title} {a}{b}{c}{d} {owned} {by_ref} {whole}")
}

/// A dependency's `String` taken as `&str`: the borrow derefs as a function call's argument
/// does.
#[depends]
async fn as_str(#[dep(name)] n: &str) -> String {
    n.to_uppercase()
}

mod names {
    //! Dependencies and parameters named like the items and locals the macro generates, and
    //! like prelude items in lower case.
    use di_runtime::prelude::*;

    #[depends]
    pub(crate) async fn args() -> u32 {
        1
    }
    #[depends]
    pub(crate) async fn ret() -> u32 {
        2
    }
    #[depends]
    pub(crate) async fn head() -> u32 {
        3
    }
    #[depends]
    pub(crate) async fn extract() -> u32 {
        4
    }
    #[depends]
    pub(crate) async fn describe() -> u32 {
        5
    }
    #[depends]
    pub(crate) async fn p0() -> u32 {
        6
    }
    #[depends]
    pub(crate) async fn output() -> u32 {
        7
    }
    #[depends]
    pub(crate) async fn result() -> u32 {
        8
    }
    #[depends]
    pub(crate) async fn option() -> u32 {
        9
    }
    #[depends]
    pub(crate) async fn json() -> u32 {
        10
    }

    #[allow(clippy::too_many_arguments, reason = "one of each name")]
    #[depends]
    pub(crate) async fn all(
        #[dep(args)] args: &u32,
        #[dep(ret)] ret: &u32,
        #[dep(head)] head: &u32,
        #[dep(extract)] extract: &u32,
        #[dep(describe)] describe: &u32,
        #[dep(p0)] p1: &u32,
        #[dep(output)] output: &u32,
        #[dep(result)] result: &u32,
        #[dep(option)] option: &u32,
        #[dep(json)] p0: &u32,
        Json(body): Json<u32>,
        never: &HeaderMap,
    ) -> String {
        let sum = args + ret + head + extract + describe + p1 + output + result + option + p0;
        format!("{sum} {body} {}", !never.is_empty())
    }

    /// A generator whose dependency is called `args`, the name of `__di_run`'s parameter.
    #[depends]
    pub(crate) async fn doubled(#[dep(args)] args: &u32, y: Yield<u32>) {
        let _ = y.provide(*args * 2).await;
    }

    #[depends]
    pub(crate) async fn uses_doubled(#[dep(doubled)] d: &u32) -> String {
        d.to_string()
    }
}

/// `impl Trait` inside a handler's response: `Json<impl Serialize>`, a tuple with
/// `impl IntoResponse`, bounds after `impl IntoResponse`.
#[depends]
async fn json_impl() -> Json<impl serde::Serialize> {
    Json(Note {
        title: "t".into(),
        body: "b".into(),
    })
}

#[depends]
async fn created_impl() -> (StatusCode, impl IntoResponse) {
    (StatusCode::CREATED, "made")
}

#[depends]
async fn bounded_impl() -> impl IntoResponse + Send + 'static {
    "bounded"
}

/// axum's error idiom: an error type with its own `IntoResponse`, beside an `impl IntoResponse`.
#[derive(Debug)]
struct Teapot;

impl IntoResponse for Teapot {
    fn into_response(self) -> Response {
        (StatusCode::IM_A_TEAPOT, "short and stout").into_response()
    }
}

#[depends]
async fn fallible_impl(Path(id): Path<u32>) -> Result<impl IntoResponse, Teapot> {
    if id == 0 {
        return Err(Teapot);
    }
    Ok((StatusCode::ACCEPTED, format!("item {id}")))
}

/// What the generators saw at teardown.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A generator that provides in either branch of an `if`.
#[depends]
async fn branchy(Query(q): Query<std::collections::HashMap<String, String>>, y: Yield<String>) {
    let (value, outcome) = if q.contains_key("loud") {
        y.provide("LOUD".to_owned()).await
    } else {
        y.provide("quiet".to_owned()).await
    };
    SEEN.lock()
        .unwrap()
        .push(format!("branchy {value} {}", outcome.is_success()));
}

/// A `mut` generator handle, bound again under another name before `provide`.
#[depends]
async fn moved_handle(mut y: Yield<u32>) {
    let _ = &mut y;
    let handle = y;
    let (v, _) = handle.provide(7).await;
    SEEN.lock().unwrap().push(format!("moved_handle {v}"));
}

#[depends]
async fn uses_generators(#[dep(branchy)] b: &String, #[dep(moved_handle)] m: &u32) -> String {
    format!("{b} {m}")
}

/// A `#[cfg_attr]` that only adds a lint to a parameter (one used in one configuration only):
/// kept on the function. It was refused as "`#[cfg]` on a parameter ... is not supported".
#[depends]
async fn lint_by_configuration(
    #[cfg_attr(not(debug_assertions), allow(unused_variables))] headers: &HeaderMap,
    #[cfg_attr(all(), cfg_attr(all(), expect(unused_mut)))]
    #[dep(name)]
    mut n: String,
) -> String {
    #[cfg(debug_assertions)]
    let _ = headers;
    n
}

/// Doc comments written by macros: `concat!` and `include_str!`.
#[doc = concat!("Concatenated ", "documentation.")]
#[depends]
async fn documented() -> &'static str {
    "documented"
}

#[tokio::test]
async fn parameter_patterns_bind_as_written() {
    let app = App::new().post("/p", patterns).get("/s", as_str);
    let client = TestClient::start(app).await.expect("starts");
    let response = client
        .post("/p")
        .json(&Note {
            title: "hello".into(),
            body: "world".into(),
        })
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.expect("text"),
        "hello 1212 ada! ada ada"
    );
    let response = client.get("/s").send().await;
    assert_eq!(response.text().await.expect("text"), "ADA");
    client.shutdown().await;
}

#[tokio::test]
async fn names_like_the_generated_items_are_plain_names() {
    let app = App::new()
        .post("/all", names::all)
        .get("/d", names::uses_doubled);
    let client = TestClient::start(app).await.expect("starts");
    let response = client.post("/all").json(&5).send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("text"), "55 5 true");
    let response = client.get("/d").send().await;
    assert_eq!(response.text().await.expect("text"), "2");
    client.shutdown().await;
}

#[tokio::test]
async fn impl_trait_responses_and_an_error_with_its_own_response() {
    let app = App::new()
        .get("/json", json_impl)
        .get("/created", created_impl)
        .get("/bounded", bounded_impl)
        .get("/items/{id}", fallible_impl)
        .get("/doc", documented)
        .get("/lint", lint_by_configuration);
    let client = TestClient::start(app).await.expect("starts");
    let response = client.get("/json").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.expect("text"),
        r#"{"title":"t","body":"b"}"#
    );
    let response = client.get("/created").send().await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.text().await.expect("text"), "made");
    let response = client.get("/bounded").send().await;
    assert_eq!(response.text().await.expect("text"), "bounded");
    let response = client.get("/items/3").send().await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.text().await.expect("text"), "item 3");
    let response = client.get("/items/0").send().await;
    assert_eq!(response.status(), 418);
    assert_eq!(response.text().await.expect("text"), "short and stout");
    let response = client.get("/doc").send().await;
    assert_eq!(response.text().await.expect("text"), "documented");
    let response = client.get("/lint").send().await;
    assert_eq!(response.text().await.expect("text"), "ada");
    client.shutdown().await;
}

#[tokio::test]
async fn a_generator_provides_from_either_branch_and_through_a_moved_handle() {
    SEEN.lock().unwrap().clear();
    let app = App::new().get("/g", uses_generators);
    let client = TestClient::start(app).await.expect("starts");
    let response = client.get("/g?loud=1").send().await;
    assert_eq!(response.text().await.expect("text"), "LOUD 7");
    let response = client.get("/g").send().await;
    assert_eq!(response.text().await.expect("text"), "quiet 7");
    client.settle().await;
    let mut seen = SEEN.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            "branchy LOUD true",
            "branchy quiet true",
            "moved_handle 7",
            "moved_handle 7"
        ]
    );
    client.shutdown().await;
}
