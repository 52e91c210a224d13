// `scope` given twice in `#[depends(...)]` is reported at the second `scope`.
use di_runtime::prelude::*;

#[depends(scope = "app", scope = "request")]
async fn hello() -> String {
    "hi".to_owned()
}

fn main() {}
