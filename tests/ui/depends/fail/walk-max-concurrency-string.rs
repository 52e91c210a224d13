// `max_concurrency = "8"`, quoted as in a config file: reported at the string, showing the
// same number unquoted. It was "`max_concurrency` is a whole number: `max_concurrency = 10`".
use di_runtime::prelude::*;

#[depends(max_concurrency = "8")]
async fn db() -> String {
    "db".into()
}

fn main() {}
