// An alias of `Result` whose name ends in `Result` works as a `Result`: its `Ok` type is the
// dependency's value and its error a setup failure; so do `io::Result` and a struct under an
// alias that does not end in `Result`.
use di_runtime::prelude::*;

#[derive(Debug)]
pub struct ApiError;

impl From<ApiError> for HttpError {
    fn from(_: ApiError) -> Self {
        HttpError::conflict("api error")
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[depends]
async fn user_id() -> ApiResult<u64> {
    Ok(7)
}

#[depends]
async fn io_value() -> std::io::Result<u8> {
    Ok(1)
}

pub struct SearchResult {
    pub hits: u32,
}
type Found = SearchResult;

#[depends]
async fn search() -> Found {
    SearchResult { hits: 3 }
}

#[depends]
async fn show(
    #[dep(user_id)] id: &u64,
    #[dep(io_value)] one: &u8,
    #[dep(search)] found: &SearchResult,
) -> ApiResult<String> {
    Ok(format!("{id} {one} {}", found.hits))
}

fn main() {
    let _ = App::new().get("/", show);
}
