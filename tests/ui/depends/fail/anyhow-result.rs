// `anyhow::Result<T>` reads as a `Result`, but its error does not implement
// `std::error::Error`: the message at the return type says how to map it.
use di_runtime::prelude::*;

mod anyhow {
    #[derive(Debug)]
    pub struct Error;
    pub type Result<T> = std::result::Result<T, Error>;
}

#[depends]
async fn load() -> anyhow::Result<u8> {
    Ok(1)
}

fn main() {}
