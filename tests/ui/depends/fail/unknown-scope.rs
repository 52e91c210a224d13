// An unknown scope value is reported at the string, listing `app`, `request`, `handler`.
use di_runtime::prelude::*;

#[depends(scope = "session")]
async fn hello() -> String {
    "hi".to_owned()
}

fn main() {}
