// `SetHeaders` taken by value: reported at its type, saying to take it by reference (it was
// "`SetHeaders` is not a request input", with a list of inputs that did not name it).
use di_runtime::prelude::*;

#[depends]
async fn session(headers: SetHeaders) -> u64 {
    let _ = headers;
    7
}

fn main() {}
