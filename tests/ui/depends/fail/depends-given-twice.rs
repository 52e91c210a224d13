// `#[depends]` twice on one function: one error at `fn`, not a cascade from the second
// expanding inside what the first generated.
use di_runtime::prelude::*;

#[depends]
#[depends]
async fn twice() -> String {
    "twice".to_owned()
}

fn main() {
    let _ = App::new().get("/", twice);
}
