// A route registered with an `async fn` that lacks `#[depends]` (by name or with arguments),
// or with a closure: one error at the argument, saying to add `#[depends]` above it (it was
// rustc's E0593/E0631 about the arity or arguments of a `Fn` bound inside the library).
use di_runtime::prelude::*;

async fn plain_async_fn() -> String {
    "hi".to_owned()
}

async fn with_args(name: String) -> String {
    name
}

#[depends]
async fn dep() -> u8 {
    1
}

fn main() {
    let _ = App::new().get("/x", plain_async_fn);
    let _ = App::new().post("/y", with_args);
    let _ = App::new().dependency(plain_async_fn);
    let _ = App::new().override_dep(dep, with_args);
}
