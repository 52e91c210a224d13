// A lifetime parameter on a `#[depends]` function was told "cannot be generic ... write one
// function per concrete type", which is no fix for `<'a>`: it is told to remove the lifetime.
use di_runtime::prelude::*;

#[depends]
async fn name() -> String {
    "n".to_owned()
}

#[depends]
async fn hello<'a>(#[dep(name)] name: &'a String) -> String {
    name.clone()
}

fn main() {
    let _ = App::new().get("/", hello);
}
