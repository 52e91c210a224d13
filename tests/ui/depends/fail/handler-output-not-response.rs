// A handler whose output is not a response: reported at the handler passed to `App::get`
// with the `IntoResponse` message.
use di_runtime::prelude::*;

struct Note;

#[depends]
async fn note() -> Note {
    Note
}

fn main() {
    let _ = App::new().get("/", note);
}
