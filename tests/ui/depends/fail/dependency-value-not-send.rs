// A dependency's value is shared by the request's functions, which may run on any thread:
// it must be `Send + Sync`. Reported once, at the `Rc` of the return type, with the fix, and not
// again where it is taken (see rc-value.rs).
use di_runtime::prelude::*;
use std::rc::Rc;

#[depends]
async fn counter() -> Rc<u32> {
    Rc::new(1)
}

#[depends]
async fn show(#[dep(counter)] count: &Rc<u32>) -> String {
    count.to_string()
}

fn main() {
    let _ = App::new().get("/", show);
}
