// A `#[depends]` function must be `async`: reported at the `fn` keyword, suggesting `async fn`.
use di_runtime::prelude::*;

#[depends]
fn hello() -> String {
    "hi".to_owned()
}

fn main() {}
