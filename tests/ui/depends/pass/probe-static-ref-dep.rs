// A dependency whose value is a `&'static` reference (which the macro's own message suggests
// for a borrowed output) injected as the type it provides.
use di_runtime::prelude::*;

#[depends]
async fn greeting() -> &'static str {
    "hi"
}

#[depends]
async fn hello(#[dep(greeting)] g: &'static str) -> String {
    g.to_owned()
}

fn main() {
    App::new().get("/", hello).check().unwrap();
}
