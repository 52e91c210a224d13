// A generator returning `()` compiles, as a dependency and as a handler's input.
use di_runtime::prelude::*;

#[depends(scope = "handler")]
async fn audit(y: Yield<Vec<String>>) {
    let (lines, outcome) = y.provide(Vec::new()).await;
    let _ = (lines, outcome.is_success());
}

#[depends]
async fn hello(#[dep(audit)] audit: &mut Vec<String>) -> &'static str {
    audit.push("hello".to_owned());
    "hi"
}

fn main() {
    let _ = App::new().get("/", hello);
}
