// A generator must return `()` or `Result<(), E>`: another return type is reported at it.
use di_runtime::prelude::*;

#[depends]
async fn counter(y: Yield<u32>) -> u32 {
    let (n, _) = y.provide(1).await;
    n
}

fn main() {}
