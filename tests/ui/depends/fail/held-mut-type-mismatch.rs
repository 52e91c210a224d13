// `HeldMut<T>` must name the type the dependency provides: `HeldMut<u32>` for a `String`
// dependency is reported at the parameter's type.
use di_runtime::prelude::*;

#[depends]
async fn name(y: Yield<String>) {
    let _ = y.provide(String::new()).await;
}

#[depends]
async fn hello(#[dep(name)] name: HeldMut<u32>) -> String {
    name.to_string()
}

fn main() {}
