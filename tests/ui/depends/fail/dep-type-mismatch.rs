// The parameter's type must match what the dependency provides: `&u32` for a `String`
// dependency is reported at the parameter's type.
use di_runtime::prelude::*;

#[depends]
async fn name() -> String {
    "world".to_owned()
}

#[depends]
async fn hello(#[dep(name)] name: &u32) -> String {
    format!("hi {name}")
}

fn main() {}
