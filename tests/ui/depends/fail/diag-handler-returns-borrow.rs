// A handler (or dependency) returning a borrow of a parameter was told so at its `&`, and its
// route then reported "`&'static String` cannot be turned into an HTTP response" (the output
// had been named `&'static` to silence the rest): the `&` alone now.
use di_runtime::prelude::*;

#[depends]
async fn user() -> String {
    "ada".into()
}

#[depends]
async fn name(#[dep(user)] u: &String) -> &String {
    u
}

#[depends]
async fn greet(#[dep(name)] n: &String) -> String {
    format!("hi {n}")
}

fn main() {
    let _ = App::new().get("/", name).get("/greet", greet);
}
