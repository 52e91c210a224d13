// `scope` without a value in `#[dep(...)]` is reported at `scope`, listing the values.
use di_runtime::prelude::*;

#[depends]
async fn name() -> String {
    "world".to_owned()
}

#[depends]
async fn hello(#[dep(name, scope)] name: &String) -> String {
    format!("hi {name}")
}

fn main() {}
