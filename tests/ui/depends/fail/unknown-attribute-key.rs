// An unknown `#[depends(...)]` key is reported at the key, listing the valid keys.
use di_runtime::prelude::*;

#[depends(lifetime = "request")]
async fn hello() -> String {
    "hi".to_owned()
}

fn main() {}
