// An unknown type in a `#[depends]` signature, and an import that does not resolve: rustc's own
// "unresolved import" and "cannot find type", once each, at the user's tokens.
use di_runtime::prelude::*;
use crate::models::Missing;

#[depends]
async fn user(q: Query<Missing>) -> Missing {
    q.0
}

#[depends]
async fn hello(#[dep(user)] u: &Unknown) -> String {
    let _ = u;
    String::new()
}

fn main() {
    let _ = App::new().get("/x", hello);
}
