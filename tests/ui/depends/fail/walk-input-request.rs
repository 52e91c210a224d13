// axum's or actix's whole `Request` as a parameter: reported at the type as not a request
// input; the list names `&RequestHead` and `Bytes`.
use di_runtime::prelude::*;

#[depends]
async fn hello(req: http::Request<Bytes>) -> String {
    req.uri().to_string()
}

fn main() {
    let _ = App::new().get("/", hello);
}
