// A dependency's value that is an `Rc` (or holds one), whether returned, in a `Result` or
// provided by a `Yield`: one error each, at the `Rc`, saying to use `Arc`. It was four
// (`Send` at the return type twice, `Send` and `Sync` again at each parameter that takes it,
// and `provide` refused in the generator's body), none with the fix.
use std::rc::Rc;

use di_runtime::prelude::*;

#[depends]
async fn counter() -> Rc<u32> {
    Rc::new(1)
}

#[depends]
async fn names() -> Result<Vec<std::rc::Rc<str>>, HttpError> {
    Ok(vec![Rc::from("ada")])
}

#[depends]
async fn shared(y: Yield<Option<Rc<String>>>) {
    let _ = y.provide(None).await;
}

#[depends]
async fn show(
    #[dep(counter)] count: &Rc<u32>,
    #[dep(names)] names: &Vec<Rc<str>>,
    #[dep(shared)] shared: &Option<Rc<String>>,
) -> String {
    format!("{count} {} {shared:?}", names.len())
}

fn main() {
    let _ = App::new().get("/", show);
}
