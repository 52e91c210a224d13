// Attributes a user puts on a handler: `#[cfg]` (after `#[depends]`), `#[cfg_attr]`,
// `#[must_use]`, `#[inline]`, `#[deprecated]`, `#[allow(non_snake_case)]` (which did not
// silence the name's warning: see probe-lint-attrs.rs).
#![deny(warnings)]
#![allow(deprecated)]
use di_runtime::prelude::*;

#[depends]
#[cfg(any())]
async fn gone() -> String {
    "gone".to_owned()
}

#[depends]
#[cfg(all())]
async fn here() -> String {
    "here".to_owned()
}

#[depends]
#[cfg_attr(all(), allow(unused_variables))]
#[must_use]
#[inline]
async fn attrs(#[dep(here)] h: &String) -> String {
    let unused = 1;
    "a".to_owned()
}

#[depends]
#[deprecated = "use `attrs`"]
async fn old() -> String {
    "old".to_owned()
}

#[depends]
#[allow(non_snake_case)]
async fn OddName() -> String {
    "odd".to_owned()
}

fn main() {
    App::new()
        .get("/a", attrs)
        .get("/o", old)
        .get("/h", here)
        .get("/odd", OddName)
        .check()
        .unwrap();
}
