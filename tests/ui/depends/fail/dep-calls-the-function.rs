// `#[dep(name())]` calls the dependency instead of naming it: reported at `()`, saying to
// drop it.
use di_runtime::prelude::*;
#[depends]
async fn name() -> String { "a".to_owned() }
#[depends]
async fn greet(#[dep(name())] name: &String) -> String { format!("hi {name}") }
fn main() { let _ = App::new().get("/", greet); }
