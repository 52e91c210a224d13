// `Option<&T>` is not a way to take a dependency's value: reported at the parameter's type,
// listing the ways (`T`, `&T`, `&mut T`, `Held<T>`, `HeldMut<T>`).
use di_runtime::prelude::*;

#[depends]
async fn user() -> String {
    "ada".into()
}

#[depends]
async fn hello(#[dep(user)] user: Option<&String>) -> String {
    format!("{user:?}")
}

fn main() {
    let _ = App::new().get("/", hello);
}
