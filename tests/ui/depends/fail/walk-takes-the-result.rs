// A dependency returning `Result<T, E>` gives `T` to its users: `&Result<T, E>` is reported at
// the parameter's type, naming the `&String` it is given.
use di_runtime::prelude::*;

#[depends]
async fn user() -> Result<String, HttpError> {
    Ok("ada".into())
}

#[depends]
async fn hello(#[dep(user)] user: &Result<String, HttpError>) -> String {
    format!("{user:?}")
}

fn main() {
    let _ = App::new().get("/", hello);
}
