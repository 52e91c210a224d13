// `provide` called twice: `Yield::provide` takes the handle by value, so the second call is
// rustc's "use of moved value: `y`" at it.
use di_runtime::prelude::*;

#[depends]
async fn db(y: Yield<String>) {
    y.provide("a".into()).await;
    y.provide("b".into()).await;
}

fn main() {}
