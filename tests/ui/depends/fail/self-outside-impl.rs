// `Self` in a `#[depends]` signature names nothing (the function is free): one error at
// `Self`, not a cascade naming the type the macro generates.
use di_runtime::prelude::*;

#[depends]
async fn whoami() -> Self {
    todo!()
}

fn main() {
    let _ = App::new().get("/", whoami);
}
