// A `Result` whose error is `Box<dyn Error>` (the boxed error of many tutorials) cannot go
// to the response across threads: one error at the box, saying to add `+ Send + Sync`. It was
// three at the return type ("cannot be sent between threads safely", "cannot be shared between
// threads safely", "the size ... cannot be known at compilation time"), none with the fix.
use std::error::Error;

use di_runtime::prelude::*;

#[depends]
async fn hello() -> Result<String, Box<dyn Error>> {
    Ok(std::env::var("HOME")?)
}

#[depends]
async fn only_send() -> Result<String, Box<dyn std::error::Error + Send>> {
    Ok("hi".to_owned())
}

#[depends(scope = "handler")]
async fn tx(y: Yield<u8>) -> Result<(), Box<dyn Error>> {
    let _ = y.provide(1).await;
    Err("commit failed".into())
}

#[depends]
async fn uses(#[dep(tx)] tx: &u8, #[dep(only_send)] s: &String) -> String {
    format!("{tx}{s}")
}

fn main() {
    let _ = App::new().get("/", hello).get("/uses", uses);
}
