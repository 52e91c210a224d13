// `#[depends]` on an associated function without `self` (in an `impl` block, or a trait's
// default method): one error at the function's name that says to move it to the module. It was
// rustc's "struct is not supported in `trait`s or `impl`s", "implementation is not supported",
// "`const` items in this context need a name" and three "cannot find type `hello`".
use di_runtime::prelude::*;

struct Service;

impl Service {
    #[depends]
    async fn hello(#[dep(name)] name: &String) -> Self {
        let _ = name;
        Service
    }

    fn helper() {}
}

trait Api {
    #[depends]
    async fn list() -> String {
        String::new()
    }
}

#[depends]
async fn name() -> String {
    Service::helper();
    "n".to_owned()
}

fn main() {
    let _ = App::new().get("/", name);
}
