// `max_concurrency = N` on request- and handler-scoped dependencies and on a handler.
use di_runtime::prelude::*;

#[depends(max_concurrency = 10)]
async fn connection(y: Yield<String>) {
    let _ = y.provide("conn".to_owned()).await;
}

#[depends(scope = "handler", max_concurrency = 2)]
async fn permit() -> u8 {
    1
}

#[depends(max_concurrency = 100)]
async fn handler(#[dep(connection)] c: &String, #[dep(permit)] p: &u8) -> String {
    format!("{c} {p}")
}

fn main() {
    let _ = App::new().get("/", handler);
}
