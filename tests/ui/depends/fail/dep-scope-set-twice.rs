// `scope` given twice in `#[dep(...)]` is reported at the second `scope`.
use di_runtime::prelude::*;

#[depends]
async fn name() -> String {
    "world".to_owned()
}

#[depends]
async fn hello(#[dep(name, scope = "request", scope = "handler")] name: &String) -> String {
    format!("hi {name}")
}

fn main() {}
