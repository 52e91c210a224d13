// Every way of awaiting `provide` compiles: awaited at once, bound to a name awaited later,
// passed on to a function that awaits it, and in parentheses; a `provide` of another value
// after the generator's own (its name bound again) is not taken for the generator's.
use di_runtime::prelude::*;

struct Other;
impl Other {
    fn provide(&self, _: u8) {}
}

async fn within<F: std::future::Future>(future: F) -> F::Output {
    future.await
}

#[depends]
async fn now(y: Yield<u8>) {
    let _ = y.provide(1).await;
}

#[depends]
async fn later(y: Yield<u16>) {
    let pending = y.provide(2);
    println!("set up");
    let (_value, outcome) = pending.await;
    println!("{outcome}");
}

#[depends]
async fn passed_on(y: Yield<u32>) {
    let (_value, _outcome) = within(y.provide(3)).await;
}

#[depends]
async fn parenthesised(y: Yield<u64>) {
    (y).provide(4).await;
}

#[depends]
async fn shadowed(y: Yield<i8>) {
    y.provide(5).await;
    let y = Other;
    y.provide(6);
}

#[depends]
async fn hello(
    #[dep(now)] a: &u8,
    #[dep(later)] b: &u16,
    #[dep(passed_on)] c: &u32,
    #[dep(parenthesised)] d: &u64,
    #[dep(shadowed)] e: &i8,
) -> String {
    format!("{a}{b}{c}{d}{e}")
}

fn main() {
    let _ = App::new().get("/", hello);
}
