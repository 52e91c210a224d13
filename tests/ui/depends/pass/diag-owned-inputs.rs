// Inputs that own what they read, beside a `'static` one in a type that is not an input:
// nothing is refused (fail/diag-borrowed-input.rs is the borrowing kind).
use di_runtime::prelude::*;

#[derive(serde::Deserialize)]
struct Params {
    q: String,
}

#[depends]
async fn name() -> &'static str {
    "n"
}

#[depends]
async fn search(
    Query(p): Query<Params>,
    Path(id): Path<String>,
    body: Option<Json<Vec<String>>>,
    #[dep(name)] name: &&'static str,
) -> String {
    format!("{}{id}{}{name}", p.q, body.map_or(0, |Json(v)| v.len()))
}

fn main() {
    let app = App::new().post("/{id}", search);
    assert!(app.check().is_ok());
}
