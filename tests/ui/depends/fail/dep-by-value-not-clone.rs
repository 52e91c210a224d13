// Taking a dependency by value (`T`) clones it: a value that is not `Clone` is reported at the
// parameter's type.
use di_runtime::prelude::*;

struct Pool;

#[depends(scope = "app")]
async fn pool() -> Pool {
    Pool
}

#[depends]
async fn hello(#[dep(pool)] pool: Pool) -> String {
    let _ = pool;
    "hi".to_owned()
}

fn main() {}
