// `#[dep(f)]` where `f` is a plain function, not a `#[depends]` one: reported at the path `f`.
use di_runtime::prelude::*;

async fn name() -> String {
    "world".to_owned()
}

#[depends]
async fn hello(#[dep(name)] name: &String) -> String {
    format!("hi {name}")
}

fn main() {
    let _ = App::new().get("/", hello);
}
