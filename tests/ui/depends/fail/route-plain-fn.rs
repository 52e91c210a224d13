// A plain function routed with `App::get`: reported at the function name with `DepFn`'s
// message, "not a `#[depends]` function: add `#[depends]`" (it was rustc's arity error,
// E0593, about the `Fn` bound behind `DepFn`).
use di_runtime::prelude::*;

async fn hello() -> String {
    "hi".to_owned()
}

fn main() {
    let _ = App::new().get("/", hello);
}
