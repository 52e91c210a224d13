// `uses` without a list, and a `uses(...)` entry that is not a name.
use di_runtime::prelude::*;

#[depends]
async fn audit() {}

#[depends(uses = audit)]
async fn hello() -> &'static str {
    "hi"
}

#[depends(uses(audit = "x"))]
async fn bye() -> &'static str {
    "bye"
}

fn main() {
    let _ = App::new().get("/", hello).get("/bye", bye);
}
