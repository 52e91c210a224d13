// FastAPI's `id: int` path parameter written as `id: u32`: reported at the type as not a
// request input, listing the inputs, and showing `Path(id): Path<u32>` for `/items/{id}`.
use di_runtime::prelude::*;

#[depends]
async fn note(id: u32) -> String {
    id.to_string()
}

fn main() {
    let _ = App::new().get("/notes/{id}", note);
}
