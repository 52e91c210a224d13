// `impl Trait` inside a parameter's type makes the function generic as a bare one does: it was
// rustc's "`impl Trait` is not allowed in paths" about generated code; it is the macro's error.
use di_runtime::prelude::*;

#[depends]
async fn hello(q: Option<Query<impl serde::de::DeserializeOwned + Send + 'static>>) -> String {
    format!("{}", q.is_some())
}

fn main() {
    let _ = App::new().get("/", hello);
}
