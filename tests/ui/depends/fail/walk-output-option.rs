// A handler returning `Option<String>` (FastAPI returns `None` as `null`): reported at the
// route's handler as not a response, listing the responses.
use di_runtime::prelude::*;

#[depends]
async fn hello() -> Option<String> {
    Some("hi".into())
}

fn main() {
    let _ = App::new().get("/", hello);
}
