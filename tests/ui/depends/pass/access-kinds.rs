// Every way to take a dependency's value compiles: `&T`, `&mut T`, `T` (a clone), `Held<T>`
// and `HeldMut<T>`.
use di_runtime::prelude::*;

#[depends(scope = "app")]
async fn greeting() -> String {
    "hello".to_owned()
}

#[depends]
async fn lines(y: Yield<Vec<String>>) {
    let _ = y.provide(Vec::new()).await;
}

#[depends]
async fn counter() -> u64 {
    0
}

#[depends]
async fn shared(#[dep(greeting)] greeting: &String) -> String {
    greeting.clone()
}

#[depends]
async fn exclusive(#[dep(lines)] lines: &mut Vec<String>) -> String {
    lines.push("x".to_owned());
    lines.join("\n")
}

#[depends]
async fn cloned(#[dep(counter)] counter: u64) -> String {
    counter.to_string()
}

#[depends]
async fn held(#[dep(greeting)] greeting: Held<String>) -> String {
    (*greeting).clone()
}

#[depends]
async fn held_mut(#[dep(lines)] mut lines: HeldMut<Vec<String>>) -> String {
    lines.push("y".to_owned());
    lines.join("\n")
}

fn main() {
    let _ = App::new()
        .get("/shared", shared)
        .get("/exclusive", exclusive)
        .get("/cloned", cloned)
        .get("/held", held)
        .get("/held-mut", held_mut);
}
