// A dependency taken only through `#[dep(..)]` or `uses(..)`, or called only as `name::call`,
// is not dead code. `#[expect(dead_code)]` on a `#[depends]` function that nothing uses was
// unfulfilled, since nothing the macro made was ever dead: it is taken as an `allow` (rustc's
// dead-code analysis cannot fulfil it on an associated function, see `is_dead_code_lint`).
#![deny(warnings)]

use di_runtime::prelude::*;

#[expect(dead_code, reason = "kept for a later route")]
#[depends]
async fn forgotten() -> &'static str {
    "never routed"
}

#[depends]
async fn injected() -> u32 {
    1
}

#[depends]
async fn only_used() -> u32 {
    2
}

#[depends]
async fn only_called() -> u32 {
    3
}

#[depends(uses(only_used))]
async fn routed(#[dep(injected)] n: &u32) -> String {
    n.to_string()
}

fn main() {
    drop(App::new().get("/", routed));
    drop(only_called::call());
}
