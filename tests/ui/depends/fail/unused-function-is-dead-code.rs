// A `#[depends]` function that nothing routes, injects or calls is dead code, as a plain
// `async fn` is: rustc reports it at the function's name (here denied, so that the warning
// shows as an error), and not the one that is used.
#![deny(dead_code)]

use di_runtime::prelude::*;

#[depends]
async fn forgotten() -> &'static str {
    "never routed"
}

#[depends]
async fn routed() -> &'static str {
    "routed"
}

fn main() {
    drop(App::new().get("/", routed));
}
