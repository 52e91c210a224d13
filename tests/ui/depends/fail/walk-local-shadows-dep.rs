// A test's local variable named after a dependency hides the `#[depends]` function: the
// message says so, beside "not a `#[depends]` function" for the variable's type.
use di_runtime::prelude::*;

#[derive(Clone, Default)]
struct Store;

#[depends(scope = "app")]
async fn store() -> Store {
    Store
}

#[depends]
async fn hello(#[dep(store)] _store: &Store) -> &'static str {
    "hi"
}

fn main() {
    let store = Store::default();
    let _ = App::new().get("/", hello).provide(store, store.clone());
}
