// `#[dep(T)]` where `T` is a type, not a `#[depends]` function: reported at the path `T`.
use di_runtime::prelude::*;

struct Config;

#[depends]
async fn hello(#[dep(Config)] config: &Config) -> String {
    let _ = config;
    "hi".to_owned()
}

fn main() {
    let _ = App::new().get("/", hello);
}
