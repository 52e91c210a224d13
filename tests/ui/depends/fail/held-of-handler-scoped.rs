// Holding the value of a `handler`-scoped dependency in a response body does not compile:
// reported at the path in `#[dep(tx)]` with the `CanBeHeld` message.
use di_runtime::prelude::*;

#[depends(scope = "handler")]
async fn tx(y: Yield<Vec<String>>) {
    let _ = y.provide(Vec::new()).await;
}

#[depends]
async fn export(#[dep(tx)] tx: Held<Vec<String>>) -> String {
    tx.join("\n")
}

fn main() {
    let _ = App::new().get("/export", export);
}
