// A `#[depends]` argument written without its key was syn's "unexpected literal in nested
// attribute, expected ident", which gives no fix: it is told the key.
use di_runtime::prelude::*;

#[depends("app")]
async fn config() -> String {
    "n".to_owned()
}

#[depends(status = 201, 10)]
async fn created() -> String {
    "n".to_owned()
}

fn main() {
    let _ = App::new().get("/a", config).get("/c", created);
}
