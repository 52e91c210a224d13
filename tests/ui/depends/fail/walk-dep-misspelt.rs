// A misspelt dependency name in `#[dep(usr)]`: reported at the name, with rustc's suggestion of
// the `#[depends]` function of a similar name.
use di_runtime::prelude::*;

#[depends]
async fn user() -> String {
    "ada".into()
}

#[depends]
async fn hello(#[dep(usr)] user: &String) -> String {
    user.clone()
}

fn main() {
    let _ = App::new().get("/", hello);
}
