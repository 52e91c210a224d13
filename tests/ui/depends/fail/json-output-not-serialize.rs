// A `Json<T>` output whose `T` is not `Serialize`, routed: reported at `App::get` (the bound is
// the route's, since a dependency's value need not be a response), with serde's note to derive it.
use di_runtime::prelude::*;

struct Note {
    title: String,
}

#[depends]
async fn note() -> Json<Note> {
    Json(Note { title: "a".into() })
}

fn main() {
    let _ = App::new().get("/x", note);
}
