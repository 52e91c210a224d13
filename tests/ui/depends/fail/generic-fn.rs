// A `#[depends]` function cannot be generic: reported at the generic parameters.
use di_runtime::prelude::*;

#[depends]
async fn hello<T: Default>() -> String {
    "hi".to_owned()
}

fn main() {}
