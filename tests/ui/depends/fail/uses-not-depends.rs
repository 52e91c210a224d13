// `uses(f)` where `f` is a plain function, not a `#[depends]` one: reported at the path `f`.
use di_runtime::prelude::*;

async fn audit() {}

#[depends(uses(audit))]
async fn hello() -> &'static str {
    "hi"
}

fn main() {
    let _ = App::new().get("/", hello);
}
