// A doc comment on a parameter (a FastAPI habit: `Query(description=...)`) was rustc's "allow,
// cfg, cfg_attr, deny, expect, forbid, and warn are the only allowed built-in attributes in
// function parameters", about the expanded function: said now in the user's terms, once.
use di_runtime::prelude::*;

#[depends]
async fn hello(
    /// What to search for.
    Query(q): Query<std::collections::HashMap<String, String>>,
    #[allow(unused_variables)] headers: &HeaderMap,
) -> String {
    q.len().to_string()
}

fn main() {
    let _ = App::new().get("/", hello);
}
