// A `#[depends]` function returning `!`: one error at `!`. It was "the `!` type is experimental"
// (the macro named it as the output), an "unreachable expression" warning at `#[depends]`, and
// "`!` cannot be turned into an HTTP response" at `App::get`.
use di_runtime::prelude::*;

#[depends]
async fn never() -> ! {
    panic!("never")
}

fn main() {
    let _ = App::new().get("/", never);
}
