// A parameter that is neither a request input nor `#[dep(...)]`: reported at its type with the
// `FromRequest` message, listing the inputs and how to inject a dependency.
use di_runtime::prelude::*;

struct Config;

#[depends]
async fn hello(config: Config) -> String {
    let _ = config;
    "hi".to_owned()
}

fn main() {
    let _ = App::new().get("/", hello);
}
