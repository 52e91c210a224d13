// A `#[dep]` parameter borrowing the value mutably for `'static`: one error at the lifetime,
// with the fix. It was the borrow checker's "temporary value dropped while borrowed" at
// `#[depends]` (the shared `&'static T` is probe-static-borrow.rs).
use di_runtime::prelude::*;

#[depends]
async fn counter() -> u64 {
    0
}

#[depends]
async fn hello(#[dep(counter)] n: &'static mut u64) -> String {
    *n += 1;
    n.to_string()
}

fn main() {
    let _ = App::new().get("/", hello);
}
