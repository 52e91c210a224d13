// A dependency's value that holds an `Rc` the macro cannot see (a struct of the app's, an
// alias): `Send` is reported once, at the return type, and `Sync` once at each parameter that
// takes it. It was `Send` twice at the return type (the second naming the runtime's
// `KeepBoxed::plain_now`), then `Send` and `Sync` again at each parameter.
use std::rc::Rc;

use di_runtime::prelude::*;

pub struct Session {
    user: Rc<String>,
}

type Hits = Rc<u32>;

#[depends]
async fn session() -> Session {
    Session {
        user: Rc::new("ada".to_owned()),
    }
}

#[depends]
async fn hits() -> Result<Hits, HttpError> {
    Ok(Rc::new(1))
}

#[depends]
async fn show(#[dep(session)] session: &Session, #[dep(hits)] hits: &Hits) -> String {
    format!("{} {hits}", session.user)
}

fn main() {
    let _ = App::new().get("/", show);
}
