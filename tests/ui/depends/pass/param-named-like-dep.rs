// A parameter may have the same name as its dependency: `#[dep(pool)] pool: &Pool`.
use di_runtime::prelude::*;

struct Pool;

#[depends(scope = "app")]
async fn pool() -> Pool {
    Pool
}

#[depends]
async fn conn(#[dep(pool)] pool: &Pool, y: Yield<u32>) {
    let _ = pool;
    let _ = y.provide(1).await;
}

#[depends]
async fn hello(#[dep(pool)] pool: &Pool, #[dep(conn)] conn: &mut u32) -> String {
    let _ = pool;
    conn.to_string()
}

fn main() {
    let _ = App::new().get("/", hello);
}
