// A `#[depends]` function named like a module its signature uses (`fn config() ->
// config::Config`): one error at the module's name in the path, saying to rename. It was
// "the name `config` is defined multiple times" at `#[depends]`, then "expected type, found
// module" and "cannot find function `call` in module `config`".
use di_runtime::prelude::*;

mod config {
    #[derive(Clone)]
    pub struct Config;
}

#[depends]
async fn config() -> config::Config {
    config::Config
}

#[depends]
async fn hello(#[dep(config)] c: &config::Config) -> String {
    let _ = c;
    String::new()
}

fn main() {
    let _ = App::new().get("/", hello);
}
