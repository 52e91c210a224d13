// `fresh` given a value (`fresh = true`) was syn's "expected `,`": it is told that `fresh`
// takes none.
use di_runtime::prelude::*;

#[depends]
async fn name() -> String {
    "n".to_owned()
}

#[depends]
async fn hello(#[dep(name, fresh = true)] name: &String) -> String {
    name.clone()
}

fn main() {
    let _ = App::new().get("/", hello);
}
