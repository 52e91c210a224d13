// Lint attributes on a `#[depends]` function apply to what the macro makes of it. rustc reports
// a function's name (`non_snake_case`) at the macro's marker function `name`, which did not get
// them: `#[allow(non_snake_case)]` did not silence it, and `#[expect(non_snake_case)]` was
// both reported and unfulfilled.
#![deny(warnings, unreachable_pub, missing_docs)]
//! Crate docs.

mod inner {
    use di_runtime::prelude::*;

    #[depends]
    #[allow(unreachable_pub)]
    pub async fn exported() -> String {
        "x".to_owned()
    }

    #[depends]
    #[expect(non_snake_case)]
    pub(crate) async fn Expected() -> String {
        "x".to_owned()
    }

    #[depends]
    #[expect(unused_variables)]
    pub(crate) async fn body_lint() -> String {
        let unused = 1;
        "x".to_owned()
    }
}

fn main() {
    use di_runtime::App;
    App::new()
        .get("/", inner::exported)
        .get("/e", inner::Expected)
        .get("/b", inner::body_lint)
        .check()
        .unwrap();
}
