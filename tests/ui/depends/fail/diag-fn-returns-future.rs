// A `fn` returning `impl Future<Output = T>` (an `async` block as its body) was told first to
// return "the concrete type, or a `Box<dyn Future<..>>`" (the opaque-value rule), then to add
// `async`: one error now, at `fn`, naming the `async fn` to write.
use di_runtime::prelude::*;
use std::future::Future;

#[depends]
fn hello() -> impl Future<Output = String> {
    async move { "hi".to_owned() }
}

fn main() {
    let _ = App::new().get("/", hello);
}
