// A return type whose name ends in `Result` is read as a `Result` alias; a plain struct of
// that name is reported at the return type, with the fix (return it under another name).
use di_runtime::prelude::*;

pub struct SearchResult {
    pub hits: u32,
}

#[depends]
async fn search() -> SearchResult {
    SearchResult { hits: 3 }
}

fn main() {}
