// `Self` as the output of a `#[depends]` function (a constructor moved out of its `impl`): one
// error at `Self`. The dependency's value was then the macro's marker type, so the parameter
// that takes it was told "expected `&Db`, found `&db`" as well.
use di_runtime::prelude::*;

struct Db;

#[depends]
async fn db() -> Self {
    Db
}

#[depends]
async fn user(#[dep(db)] db: &Db) -> String {
    let _ = db;
    String::new()
}

fn main() {
    let _ = App::new().get("/", user);
}
