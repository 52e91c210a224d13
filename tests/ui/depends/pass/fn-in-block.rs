// A `#[depends]` function declared inside a function body (a block-level item) compiles and
// can be routed and injected there.
use di_runtime::prelude::*;

fn main() {
    #[depends]
    async fn name() -> String {
        "world".to_owned()
    }

    #[depends]
    async fn hello(#[dep(name)] name: &String) -> String {
        format!("hi {name}")
    }

    let _ = App::new().get("/", hello);
}
