// A plain function routed with `App::get`: reported at the function name, saying to add
// `#[depends]`.
use di_runtime::prelude::*;

async fn hello() -> String {
    "hi".to_owned()
}

fn main() {
    let _ = App::new().get("/", hello);
}
