// A generator that returns the value it provided: reported at its return type, saying a
// generator returns `()` or `Result<(), E>` and hands its value over with `provide`.
use di_runtime::prelude::*;

#[depends]
async fn db(y: Yield<String>) -> String {
    let (s, _) = y.provide("a".into()).await;
    s
}

fn main() {}
