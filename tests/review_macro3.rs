//! A third review of `#[depends]`, with the function shapes real services write: what
//! compiles and is served. The refused shapes of this review are
//! `tests/ui/depends/fail/rc-value.rs` and `tests/ui/depends/fail/dep-names-plain-fn.rs`.

use std::rc::Rc;
use std::sync::Arc;

use di_runtime::prelude::*;

// Every name the expansion could reach unqualified, shadowed in the module of the functions:
// the prelude's traits, types, variants and macros, and modules named `std`, `core`,
// `di_runtime` and `__private`. The expansion names each through an absolute path.
mod shadowed {
    #![allow(
        dead_code,
        non_camel_case_types,
        unused_macros,
        reason = "each item is only here to shadow a name"
    )]

    use ::di_runtime::prelude::{Held, HttpError, Query, Yield, depends};

    trait Send {}
    trait Sync {}
    trait Clone {}
    trait Into<T> {}
    trait From<T> {}
    trait Future {}
    trait Sized {}
    trait Fn {}
    struct Result;
    struct Option;
    struct Box;
    struct Ok;
    struct Err;
    struct Some;
    struct None;
    struct String;
    struct Vec;
    mod core {}
    mod std {}
    mod di_runtime {}
    mod __private {}
    fn drop() {}
    macro_rules! unreachable {
        () => {
            1
        };
    }
    macro_rules! concat {
        () => {
            1
        };
    }
    macro_rules! module_path {
        () => {
            1
        };
    }
    macro_rules! assert {
        () => {
            1
        };
    }

    #[derive(::serde::Deserialize)]
    pub(crate) struct Add {
        add: u32,
    }

    #[depends(scope = "app")]
    pub(crate) async fn name() -> ::std::string::String {
        ::std::borrow::ToOwned::to_owned("ada")
    }

    #[depends]
    pub(crate) async fn counter(y: Yield<u32>) -> ::std::result::Result<(), HttpError> {
        let _ = y.provide(1).await;
        ::std::result::Result::Ok(())
    }

    #[depends]
    pub(crate) async fn hello(
        #[dep(name)] name: &::std::string::String,
        #[dep(counter)] counter: &mut u32,
        #[dep(name)] held: Held<::std::string::String>,
        Query(Add { add }): Query<Add>,
    ) -> ::std::result::Result<::std::string::String, HttpError> {
        *counter += add;
        ::std::result::Result::Ok(::std::format!("{name} {counter} {}", *held))
    }
}

#[tokio::test]
async fn names_of_the_prelude_shadowed_in_scope_do_not_break_the_expansion() {
    let client = TestClient::start(App::new().get("/", shadowed::hello))
        .await
        .expect("starts");
    let response = client.get("/?add=2").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("text"), "ada 3 ada");
}

// A value that only names an `Rc` where it is not held (the argument of a function it holds)
// is `Send + Sync`: the macro's check of an `Rc` in a value (tests/ui/depends/fail/rc-value.rs)
// does not refuse it.

/// What a request counts with.
type Counter = Arc<dyn Fn(Rc<u32>) -> u32 + Send + Sync>;

#[depends(scope = "app")]
async fn counting() -> Counter {
    Arc::new(|n: Rc<u32>| *n + 1)
}

#[depends]
async fn count(#[dep(counting)] counting: &Counter) -> String {
    counting(Rc::new(41)).to_string()
}

#[tokio::test]
async fn a_value_that_names_an_rc_it_does_not_hold_is_served() {
    let client = TestClient::start(App::new().get("/", count))
        .await
        .expect("starts");
    let response = client.get("/").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("text"), "42");
}
