// `#[depends]` on a trait method's declaration (no body): one error that says it needs a free
// function with a body, not that the item is not a function.
use di_runtime::prelude::*;

trait Repo {
    #[depends]
    async fn load() -> String;
}

fn main() {}
