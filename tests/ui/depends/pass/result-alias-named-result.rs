// A `Result` alias named `Result` (`type Result<T> = std::result::Result<T, MyError>`) is read as
// a `Result`: its `Ok` type is the value, its error (a `std::error::Error`) a 500.
use di_runtime::prelude::*;

#[derive(Debug)]
pub struct MyError;

impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("my error")
    }
}
impl std::error::Error for MyError {}

type Result<T> = std::result::Result<T, MyError>;

#[depends]
async fn user() -> Result<String> {
    Ok("ada".into())
}

#[depends]
async fn hello(#[dep(user)] user: &String) -> Result<String> {
    Ok(format!("hi {user}"))
}

fn main() {
    let _ = App::new().get("/x", hello);
}
