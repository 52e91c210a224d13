// `#[depends]` on a method of an `impl` block: one error at `&self`, saying to move the
// function out of the block.
use di_runtime::prelude::*;

struct Svc;

impl Svc {
    #[depends]
    async fn hello(&self) -> String {
        "hi".into()
    }
}

fn main() {}
