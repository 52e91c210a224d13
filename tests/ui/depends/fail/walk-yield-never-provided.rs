// A generator whose body never calls `provide` (its `Yield<T>` is never named, or is `_`): one
// error at the parameter, with the fix. It compiled (with an "unused variable" warning), and
// every request using it failed with a 500: "`db` returned without calling `provide`".
use di_runtime::prelude::*;

#[depends]
async fn db(y: Yield<String>) {
    println!("connecting");
}

#[depends]
async fn cache(_: Yield<u8>) {}

#[depends]
async fn hello(#[dep(db)] db: &String, #[dep(cache)] c: &u8) -> String {
    format!("{db}{c}")
}

fn main() {
    let _ = App::new().get("/", hello);
}
