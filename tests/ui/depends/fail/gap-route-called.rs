// A `#[depends]` handler called instead of named in `App::get` (`hello()`): one error, at the
// call, naming the missing argument's type `UseAsDepOrCall<hello>`; no second error telling
// to add `#[depends]` to a function that has it.
use di_runtime::prelude::*;

#[depends]
async fn hello() -> String {
    "a".to_owned()
}

fn main() {
    let _ = App::new().get("/x", hello());
}
