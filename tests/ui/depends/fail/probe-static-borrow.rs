// A `#[dep]` parameter borrowing the value for `'static` (`&'static String` of an `app`-scoped
// dependency): one error at the parameter's type, with the fix. It was the borrow checker's
// "temporary value dropped while borrowed" at `#[depends]`. (A dependency whose value is a
// `&'static str` can be taken as `&'static str`: pass/probe-static-ref-dep.rs.)
use di_runtime::prelude::*;

#[depends(scope = "app")]
async fn config() -> String {
    "c".to_owned()
}

#[depends]
async fn hello(#[dep(config)] c: &'static String) -> String {
    c.clone()
}

fn main() {
    let _ = App::new().get("/", hello);
}
