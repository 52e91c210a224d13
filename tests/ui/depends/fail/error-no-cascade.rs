// A function the macro rejects (here: not `async`) reports that one error only: routing it
// and injecting it elsewhere add no errors of their own.
use di_runtime::prelude::*;

#[depends]
fn name() -> String {
    "world".to_owned()
}

#[depends]
async fn hello(#[dep(name)] name: &String) -> String {
    format!("hi {name}")
}

fn main() {
    let _ = App::new().get("/", hello).get("/name", name);
}
