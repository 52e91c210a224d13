// `#[cfg]` on a parameter is not supported (the macro cannot know if it is removed): reported
// at the attribute, suggesting a `#[cfg]` on the whole function.
use di_runtime::prelude::*;

#[depends]
async fn hello(#[cfg(debug_assertions)] headers: &HeaderMap) -> String {
    headers.len().to_string()
}

fn main() {}
