// Every request input compiles, by value (`Path`, `Query`, `Json`, `Bytes`, `Method`, `Uri`,
// `HeaderMap`) and by reference (`&HeaderMap`, `&Method`, `&Uri`, `&RequestHead`).
use di_runtime::prelude::*;

#[derive(serde::Deserialize)]
struct Page {
    limit: Option<u32>,
}

#[derive(serde::Deserialize)]
struct NewNote {
    title: String,
}

#[depends]
async fn by_value(
    Path(id): Path<u64>,
    Query(page): Query<Page>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> String {
    format!("{id} {:?} {method} {uri} {}", page.limit, headers.len())
}

#[depends]
async fn json_body(Json(note): Json<NewNote>) -> String {
    note.title
}

#[depends]
async fn raw_body(body: Bytes) -> Bytes {
    body
}

#[depends]
async fn by_reference(
    headers: &HeaderMap,
    method: &Method,
    uri: &Uri,
    head: &RequestHead,
) -> String {
    format!(
        "{} {method} {uri} {}",
        headers.len(),
        head.path_param("id").unwrap_or("")
    )
}

fn main() {
    let _ = App::new()
        .get("/value/{id}", by_value)
        .post("/json", json_body)
        .post("/raw", raw_body)
        .get("/ref/{id}", by_reference);
}
