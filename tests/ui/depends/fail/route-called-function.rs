// A `#[depends]` function called in `App::get` (`hello()` for `hello`): the missing argument
// is named `UseAsDepOrCall<hello>`, not an internal marker.
use di_runtime::prelude::*;
#[depends]
async fn hello() -> String { "a".to_owned() }
fn main() { let _ = App::new().get("/", hello()); }
