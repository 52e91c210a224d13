// `#[depends]` goes on free functions: a `self` parameter is reported at `&self`.
use di_runtime::prelude::*;

struct Service;

impl Service {
    #[depends]
    async fn hello(&self) -> String {
        "hi".to_owned()
    }
}

fn main() {}
