// A request input that borrows (`Json<&str>`, a struct with a lifetime) was serde's
// "implementation of `Deserialize` is not general enough", twice, one of them at
// `#[depends]`: one error now, at the borrow, saying that inputs own what they read.
use di_runtime::prelude::*;

#[derive(serde::Deserialize)]
struct Params<'a> {
    q: &'a str,
}

#[depends]
async fn create(Json(title): Json<&str>) -> String {
    title.to_owned()
}

#[depends]
async fn search(Query(p): Query<Params<'_>>, Path(id): Path<&str>) -> String {
    format!("{}{id}", p.q)
}

#[depends]
async fn maybe(body: Option<Form<&str>>) -> String {
    body.map(|Form(s)| s.to_owned()).unwrap_or_default()
}

fn main() {
    let _ = App::new()
        .post("/", create)
        .get("/{id}", search)
        .post("/maybe", maybe);
}
