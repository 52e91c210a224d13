// `Held<T>` without `#[dep(...)]` is reported at the type, showing how to name the dependency.
use di_runtime::prelude::*;

#[depends]
async fn hello(name: Held<String>) -> String {
    format!("hi {}", *name)
}

fn main() {}
