// An `app`-scoped dependency is set up once, so `max_concurrency` has nothing to limit:
// reported at the number.
use di_runtime::prelude::*;

#[depends(scope = "app", max_concurrency = 4)]
async fn pool() -> String {
    "pool".to_owned()
}

fn main() {}
