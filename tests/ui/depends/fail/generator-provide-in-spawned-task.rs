// `y.provide(v).await` in a spawned task (`tokio::spawn`, `std::thread::spawn`, a `JoinSet`):
// the app resumes only the generator's own future, so the value is never taken back and every
// request would fail. Reported at each `provide` (at the handle when the task only takes it).
use di_runtime::prelude::*;

#[depends]
async fn db(y: Yield<String>) {
    tokio::spawn(async move {
        let (db, _outcome) = y.provide("a".into()).await;
        drop(db);
    });
}

#[depends]
async fn cache(y: Yield<u8>) {
    let _ = std::thread::spawn(move || {
        let _ = tokio::runtime::Handle::current().block_on(y.provide(1));
    });
}

async fn run(y: Yield<u16>) {
    let _ = y.provide(1).await;
}

#[depends]
async fn pool(y: Yield<u16>) {
    let mut set = tokio::task::JoinSet::new();
    set.spawn(async move { run(y).await });
    let _ = set.join_next().await;
}

#[depends]
async fn hello(#[dep(db)] db: &String, #[dep(cache)] c: &u8, #[dep(pool)] p: &u16) -> String {
    format!("{db}{c}{p}")
}

fn main() {
    let _ = App::new().get("/x", hello);
}
