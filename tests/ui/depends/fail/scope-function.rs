// FastAPI's `scope = "function"` is reported at the string, suggesting `scope = "handler"`.
use di_runtime::prelude::*;

#[depends(scope = "function")]
async fn hello() -> String {
    "hi".to_owned()
}

fn main() {}
