// `max_concurrency = 0` would never let the dependency run: reported at the number.
use di_runtime::prelude::*;

#[depends(max_concurrency = 0)]
async fn connection() -> String {
    "conn".to_owned()
}

fn main() {}
