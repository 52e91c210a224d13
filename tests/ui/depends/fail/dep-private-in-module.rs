// `#[dep(module::f)]` of a private `#[depends]` fn in another module: rustc's privacy error at `f`
// (it names the struct `#[depends]` defines for `f`, noted at `#[depends]`); make `f` `pub(crate)`.
use di_runtime::prelude::*;

mod auth {
    use di_runtime::prelude::*;

    #[depends]
    async fn user() -> String {
        "ada".into()
    }
}

#[depends]
async fn hello(#[dep(auth::user)] user: &String) -> String {
    format!("hi {user}")
}

fn main() {
    let _ = App::new().get("/x", hello);
}
