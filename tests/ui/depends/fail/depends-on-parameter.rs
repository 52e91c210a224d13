// `#[depends(name)]` on a parameter (FastAPI's `Depends(name)`): one error at the attribute
// saying to write `#[dep(name)]`, not also "not a request input".
use di_runtime::prelude::*;
#[depends]
async fn name() -> String { "a".to_owned() }
#[depends]
async fn greet(#[depends(name)] name: &String) -> String { format!("hi {name}") }
fn main() { let _ = App::new().get("/", greet); }
