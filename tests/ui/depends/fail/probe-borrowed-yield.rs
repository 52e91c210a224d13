// A generator that provides a borrow (`Yield<&str>`): one error at the borrow. It was rustc's
// "missing lifetime in associated type" about the macro's items, and "borrowed data escapes
// outside of associated function" in the body.
use di_runtime::prelude::*;

#[depends]
async fn name(y: Yield<&str>) {
    let _ = y.provide("name").await;
}

#[depends]
async fn hello(#[dep(name)] n: &&str) -> String {
    n.to_string()
}

fn main() {
    let _ = App::new().get("/", hello);
}
