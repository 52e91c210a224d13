// Request inputs are read-only: `&mut HeaderMap` is reported at its type, suggesting `&HeaderMap`.
use di_runtime::prelude::*;

#[depends]
async fn hello(headers: &mut HeaderMap) -> String {
    headers.len().to_string()
}

fn main() {}
