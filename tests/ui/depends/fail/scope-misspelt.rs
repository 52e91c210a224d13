// A misspelt scope (`requets`) is reported at the string, listing the scopes and naming the one
// it is nearest to.
use di_runtime::prelude::*;

#[depends(scope = "requets")]
async fn db() -> String {
    "db".to_owned()
}

fn main() {
    drop(App::new().get("/", db));
}
