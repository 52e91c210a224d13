// `Self::` in front of a dependency's path (`#[dep(Self::name)]`, `uses(Self::audit)`), as if
// the functions were methods: one error at `Self`, naming the path to write. It was rustc's
// "can't use `Self` from outer item" about an `impl` and a `static` the macro generates, with
// a fix naming the struct the macro defines for the function (`#[dep(hello::name)]`).
use di_runtime::prelude::*;

#[depends]
async fn name() -> String {
    "ada".to_owned()
}

#[depends]
async fn audit() {}

#[depends]
async fn hello(#[dep(Self::name)] name: &String) -> String {
    format!("hi {name}")
}

#[depends(uses(Self::audit))]
async fn bye() -> &'static str {
    "bye"
}

fn main() {
    let _ = App::new().get("/", hello).get("/bye", bye);
}
