// An `app`-scoped dependency is set up before any request: a request input parameter is
// reported at its type.
use di_runtime::prelude::*;

#[depends(scope = "app")]
async fn config(Query(name): Query<String>) -> String {
    name
}

fn main() {}
