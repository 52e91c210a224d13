// A generator returning `Result<(), E>` compiles, with `E` = `HttpError` or any
// `std::error::Error`.
use di_runtime::prelude::*;

#[depends]
async fn checked(y: Yield<u32>) -> Result<(), HttpError> {
    let (_, outcome) = y.provide(1).await;
    if outcome.is_success() {
        Ok(())
    } else {
        Err(HttpError::internal())
    }
}

#[depends]
async fn io(y: Yield<String>) -> Result<(), std::io::Error> {
    let _ = y.provide(String::new()).await;
    Ok(())
}

#[depends]
async fn hello(#[dep(checked)] n: &u32, #[dep(io)] s: &String) -> String {
    format!("{n} {s}")
}

fn main() {
    let _ = App::new().get("/", hello);
}
