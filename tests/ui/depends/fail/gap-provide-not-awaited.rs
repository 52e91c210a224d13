// `y.provide(v)` without `.await` (as a statement, bound to `_`, or dropped): the value is never
// handed over and every request would fail with a 500. One error at the call, saying to
// write `y.provide(v).await`.
use di_runtime::prelude::*;

#[depends]
async fn db(y: Yield<String>) {
    let _ = y.provide("a".into());
}

#[depends]
async fn cache(y: Yield<u8>) {
    y.provide(1);
    println!("teardown");
}

#[depends]
async fn pool(y: Yield<u16>) {
    let _outcome = y.provide(1);
}

#[depends]
async fn conn(y: Yield<u32>) {
    drop(y.provide(1));
}

#[depends]
async fn hello(
    #[dep(db)] db: &String,
    #[dep(cache)] c: &u8,
    #[dep(pool)] p: &u16,
    #[dep(conn)] n: &u32,
) -> String {
    format!("{db}{c}{p}{n}")
}

fn main() {
    let _ = App::new().get("/", hello);
}
