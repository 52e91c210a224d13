// FastAPI's `use_cache = false` in `#[dep]`: reported at the key, pointing to `fresh`.
use di_runtime::prelude::*;
#[depends]
async fn name() -> String { "a".to_owned() }
#[depends]
async fn greet(#[dep(name, use_cache = false)] name: &String) -> String { format!("hi {name}") }
fn main() { let _ = App::new().get("/", greet); }
