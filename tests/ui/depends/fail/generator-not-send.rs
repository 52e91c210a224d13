// A generator holding a value that is not `Send` across `provide`: its future cannot move
// between threads. Reported at the function (its return type is `()`), not at `#[depends]`.
use di_runtime::prelude::*;
use std::rc::Rc;

#[depends]
async fn counter(y: Yield<String>) {
    let shared = Rc::new(1);
    let _ = y.provide(format!("{shared}")).await;
    drop(shared);
}

fn main() {
    let _ = App::new().get("/", counter);
}
