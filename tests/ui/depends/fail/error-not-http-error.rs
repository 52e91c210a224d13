// A plain function returning `Result<T, E>` needs `E: Into<HttpError>` (any
// `std::error::Error`) or `E: IntoResponse`: reported at the return type, with both fixes.
use di_runtime::prelude::*;

struct NotAnError;

#[depends]
async fn name() -> Result<String, NotAnError> {
    Ok("world".to_owned())
}

fn main() {}
