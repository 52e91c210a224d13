// A `pub` dependency that returns a private type: rustc's "private type in public interface",
// reported at the return type (not at `#[depends]`).
use di_runtime::prelude::*;

struct Config {
    name: String,
}

#[depends]
pub async fn config() -> Config {
    Config { name: "a".into() }
}

#[depends]
pub async fn hello(#[dep(config)] c: &Config) -> String {
    c.name.clone()
}

fn main() {
    let _ = App::new().get("/x", hello);
}
