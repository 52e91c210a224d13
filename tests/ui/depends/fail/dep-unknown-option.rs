// An unknown `#[dep(...)]` option is reported at the option, listing `scope` and `fresh`.
use di_runtime::prelude::*;

#[depends]
async fn name() -> String {
    "world".to_owned()
}

#[depends]
async fn hello(#[dep(name, cached)] name: &String) -> String {
    format!("hi {name}")
}

fn main() {}
