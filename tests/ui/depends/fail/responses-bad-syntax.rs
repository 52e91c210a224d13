// `responses(...)` lists error statuses with their descriptions; a status without one, a
// success status, or a description that is not a string is reported at the user's token.
use di_runtime::prelude::*;

#[depends(responses(404))]
async fn no_description() -> String {
    "hi".to_owned()
}

#[depends(responses(201 = "Created"))]
async fn success_status() -> String {
    "hi".to_owned()
}

#[depends(responses(404 = note_not_found))]
async fn not_a_string() -> String {
    "hi".to_owned()
}

fn main() {}
