// A dependency returning `impl Trait` (not a response), taken by `#[dep(store)] s: &Mem`: one
// error at `impl`, saying to return the concrete type. It was three: "`impl Store` cannot be
// turned into an HTTP response" at the return type, then `Response<Body>` is not `Sync` and
// "expected `&Mem`, found `&Response<Body>`" at the parameter.
use di_runtime::prelude::*;

trait Store {
    fn get(&self) -> u8;
}

struct Mem;

impl Store for Mem {
    fn get(&self) -> u8 {
        1
    }
}

#[depends]
async fn store() -> impl Store {
    Mem
}

#[depends]
async fn fallible_store() -> Result<impl Store, HttpError> {
    Ok(Mem)
}

#[depends]
async fn hello(#[dep(store)] s: &Mem, #[dep(fallible_store)] f: &Mem) -> String {
    (s.get() + f.get()).to_string()
}

fn main() {
    let _ = App::new().get("/", hello);
}
