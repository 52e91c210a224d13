// A borrow inside a `#[depends]` function's output (`Cow<'_, str>`, `Option<&str>`): one error
// at the borrow. It was rustc's "`'_` cannot be used here" or "missing lifetime in associated
// type" about the macro's items, and "cannot return reference to function parameter" at
// `#[depends]`. (A borrow at the top, `-> &str`, is borrowed-lifetimes.rs.)
use std::borrow::Cow;

use di_runtime::prelude::*;

#[depends]
async fn agent(headers: &HeaderMap) -> Cow<'_, str> {
    Cow::Borrowed(headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""))
}

#[depends]
async fn path(uri: &Uri) -> Option<&str> {
    Some(uri.path())
}

fn main() {
    let _ = App::new().get("/a", agent).get("/p", path);
}
