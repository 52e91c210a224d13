// `max_concurrency` is a whole number from 1 up: a negative one, one too large for `usize`
// and one with a suffix each get the rule and an example, at the number.
use di_runtime::prelude::*;

#[depends(max_concurrency = -1)]
async fn negative() -> String {
    "n".to_owned()
}

#[depends(max_concurrency = 99999999999999999999999)]
async fn huge() -> String {
    "h".to_owned()
}

#[depends(max_concurrency = 5u8)]
async fn suffixed() -> String {
    "s".to_owned()
}

fn main() {}
