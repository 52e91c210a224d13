// A generator whose value is `Send` but not `Sync` (`Yield<Cell<u32>>`): one error, at the `T`
// of its `Yield<T>`, and one at each parameter that takes the value. The `provide` in its body
// was refused as well ("the method `provide` exists for struct `Yield<Cell<u32>>`, but its
// trait bounds were not satisfied"), an error that did not say where the fix goes.
use std::cell::Cell;

use di_runtime::prelude::*;

#[depends]
async fn hits(y: Yield<Cell<u32>>) {
    let (hits, _) = y.provide(Cell::new(0)).await;
    drop(hits);
}

#[depends]
async fn show(#[dep(hits)] hits: &Cell<u32>) -> String {
    hits.get().to_string()
}

fn main() {
    let _ = App::new().get("/", show);
}
