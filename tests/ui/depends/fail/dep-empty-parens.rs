// `#[dep()]` needs the name of the dependency: reported inside the parentheses.
use di_runtime::prelude::*;

#[depends]
async fn name() -> String {
    "world".to_owned()
}

#[depends]
async fn hello(#[dep()] name: &String) -> String {
    format!("hi {name}")
}

fn main() {}
