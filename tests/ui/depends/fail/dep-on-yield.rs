// `#[dep]` on a `Yield<T>` parameter is reported at the type, saying to remove `#[dep(...)]`.
use di_runtime::prelude::*;

#[depends]
async fn name() -> String {
    "world".to_owned()
}

#[depends]
async fn counter(#[dep(name)] y: Yield<u32>) {
    let _ = y.provide(1).await;
}

fn main() {}
