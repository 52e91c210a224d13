// `#[dep(Query)]` (FastAPI's `q: str = Query()` read as a dependency) was rustc's "missing
// generics for struct `Query`", twice, with "add missing generic argument" as the fix: one
// error now, saying that an input is read by its type and takes no `#[dep]`.
use di_runtime::prelude::*;

#[depends]
async fn hello(
    #[dep(Query)] q: Query<String>,
    #[dep(di_runtime::HeaderMap)] headers: &HeaderMap,
) -> String {
    format!("{}{}", q.0, headers.len())
}

fn main() {
    let _ = App::new().get("/", hello);
}
