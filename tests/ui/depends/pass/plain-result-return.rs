// A plain function returning `Result<T, E>` provides `T`, with `E` = `HttpError` or any
// `std::error::Error`; a handler may return a `Result` too.
use di_runtime::prelude::*;

#[depends]
async fn parsed() -> Result<u32, std::num::ParseIntError> {
    "7".parse()
}

#[depends]
async fn checked(#[dep(parsed)] n: &u32) -> Result<u32, HttpError> {
    if *n > 0 {
        Ok(*n)
    } else {
        Err(HttpError::bad_request("zero"))
    }
}

#[depends]
async fn hello(#[dep(checked)] n: u32) -> Result<String, HttpError> {
    Ok(n.to_string())
}

fn main() {
    let _ = App::new().get("/", hello);
}
