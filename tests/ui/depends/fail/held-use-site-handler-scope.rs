// `Held<T>` with a use-site `scope = "handler"` is reported at the scope string.
use di_runtime::prelude::*;

#[depends]
async fn lines(y: Yield<Vec<String>>) {
    let _ = y.provide(Vec::new()).await;
}

#[depends]
async fn export(#[dep(lines, scope = "handler")] lines: Held<Vec<String>>) -> String {
    lines.join("\n")
}

fn main() {}
