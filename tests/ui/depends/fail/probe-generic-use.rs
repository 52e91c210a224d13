// A generic `#[depends]` function (and one with a `where` clause) used elsewhere: one error at
// the generics. A generic output had no `Dependency` impl, so each use (`#[dep(make)]`,
// `App::get`, and the macro's own `CanBeHeld`) added "`make` is not a `#[depends]` function".
use di_runtime::prelude::*;

#[depends]
async fn make<T: Default>() -> T {
    T::default()
}

#[depends]
async fn name() -> String where String: Clone {
    String::new()
}

#[depends]
async fn user(#[dep(make)] m: &String, #[dep(name)] n: &String) -> String {
    format!("{m}{n}")
}

fn main() {
    let _ = App::new().get("/", user).get("/m", make);
}
