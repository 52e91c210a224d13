// A generator provides one value: a second `Yield<T>` is reported at its type.
use di_runtime::prelude::*;

#[depends]
async fn pair(a: Yield<u32>, b: Yield<String>) {
    let _ = a.provide(1).await;
    let _ = b.provide(String::new()).await;
}

fn main() {}
