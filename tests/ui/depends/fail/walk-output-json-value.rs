// A handler returning `serde_json::Value`: reported at the route's handler, listing `Json<T>`
// among the responses.
use di_runtime::prelude::*;

#[depends]
async fn hello() -> serde_json::Value {
    serde_json::json!({ "a": 1 })
}

fn main() {
    let _ = App::new().get("/", hello);
}
