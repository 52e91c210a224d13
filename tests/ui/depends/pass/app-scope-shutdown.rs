// An `app`-scoped dependency may take `Shutdown`, the one input that is the app's and not a
// request's: a background worker stops as the shutdown begins.
use di_runtime::Shutdown;
use di_runtime::prelude::*;

#[depends(scope = "app")]
async fn reaper(shutdown: Shutdown, y: Yield<u32>) {
    let worker = tokio::spawn(shutdown.requested());
    let _ = y.provide(1).await;
    let _ = worker.await;
}

#[depends]
async fn handler(#[dep(reaper)] n: &u32) -> String {
    n.to_string()
}

fn main() {
    let _ = App::new().get("/", handler);
}
