// The scope is a string: `scope = handler` is reported at `handler`, suggesting `"handler"`.
use di_runtime::prelude::*;

#[depends(scope = handler)]
async fn hello() -> String {
    "hi".to_owned()
}

fn main() {}
