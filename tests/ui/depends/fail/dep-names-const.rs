// `#[dep(CONST)]`: rustc's "expected type, found constant", at the path.
use di_runtime::prelude::*;

const GREETING: &str = "hi";

#[depends]
async fn hello(#[dep(GREETING)] g: &&'static str) -> String {
    g.to_string()
}

fn main() {
    let _ = App::new().get("/x", hello);
}
