// `#[depends]` after other text on its line (a comment, another attribute) or below another
// attribute macro is still a module-level function, not one in an `impl` block.
use di_runtime::prelude::*;

/* the user */ #[depends]
pub(crate) async fn user() -> String {
    "ada".into()
}

/// The greeting.
#[inline] #[depends]
async fn greeting() -> String {
    "hi".into()
}

#[tracing::instrument]
#[depends]
async fn punctuation() -> String {
    "!".into()
}

#[depends]
async fn hello(
    #[dep(user)] user: &String,
    #[dep(greeting)] greeting: &String,
    #[dep(punctuation)] p: &String,
) -> String {
    format!("{greeting} {user}{p}")
}

fn main() {
    let _ = App::new().get("/x", hello);
}
