// Two `#[dep]` attributes on one parameter: reported at the second one.
use di_runtime::prelude::*;

#[depends]
async fn name() -> String {
    "world".to_owned()
}

#[depends]
async fn hello(
    #[dep(name)]
    #[dep(name)]
    name: &String,
) -> String {
    format!("hi {name}")
}

fn main() {}
