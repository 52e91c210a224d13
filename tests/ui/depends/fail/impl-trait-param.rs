// An `impl Trait` parameter makes the function generic: reported at the type.
use di_runtime::prelude::*;

#[depends]
async fn hello(name: impl ToString) -> String {
    name.to_string()
}

fn main() {}
