// A plain function returning `Result<T, E>` needs `E: Into<HttpError>`: reported at the
// return type.
use di_runtime::prelude::*;

struct NotAnError;

#[depends]
async fn name() -> Result<String, NotAnError> {
    Ok("world".to_owned())
}

fn main() {}
