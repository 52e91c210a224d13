// With the runtime renamed, `#[depends(crate = "...")]` points the expansion at the new name.
extern crate di_runtime as renamed;

use renamed::prelude::{App, Query, Yield};

#[renamed::depends(crate = "renamed")]
async fn name(y: Yield<String>) {
    let _ = y.provide("world".to_owned()).await;
}

#[renamed::depends(crate = "renamed", scope = "request")]
async fn hello(#[dep(name)] name: &String, Query(n): Query<u32>) -> String {
    format!("{name} {n}")
}

fn main() {
    let _ = App::new().get("/", hello);
}
