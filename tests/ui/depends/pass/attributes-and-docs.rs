// Other attributes on the function and its parameters are kept (docs, `#[allow]`), and the
// function stays callable as `name::call`.
use di_runtime::prelude::*;

/// Says hello.
#[depends]
#[allow(clippy::unused_async)]
async fn hello(#[allow(unused_variables)] Query(n): Query<u32>) -> String {
    "hi".to_owned()
}

#[depends]
async fn unit() {}

fn main() {
    let _ = App::new().get("/", hello).get("/unit", unit);
    let _future = hello::call(Query(1));
    let _future = unit::call();
}
