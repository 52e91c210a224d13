// A plain function routed with `App::get`: reported at the function name, as a function
// that does not take the one argument a `#[depends]` function takes (rustc reports the
// arity of the `Fn` bound behind `DepFn`, not `DepFn`'s own note to add `#[depends]`).
use di_runtime::prelude::*;

async fn hello() -> String {
    "hi".to_owned()
}

fn main() {
    let _ = App::new().get("/", hello);
}
