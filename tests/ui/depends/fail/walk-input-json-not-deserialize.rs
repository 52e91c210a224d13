// `Json<T>` of a type that does not derive `Deserialize`: reported at the parameter's type,
// with serde's note to derive it.
use di_runtime::prelude::*;

struct Note {
    title: String,
}

#[depends]
async fn create(Json(n): Json<Note>) -> String {
    n.title
}

fn main() {
    let _ = App::new().post("/", create);
}
