// `&String` for a dependency whose value is `&'static str`: reported at the parameter's type,
// naming both types (expected `&String`, found `&&str`).
use di_runtime::prelude::*;

#[depends]
async fn name() -> &'static str {
    "ada"
}

#[depends]
async fn hello(#[dep(name)] name: &String) -> String {
    name.clone()
}

fn main() {
    let _ = App::new().get("/", hello);
}
