// `pub`, `pub(crate)` and private `#[depends]` functions compile and can be used from another
// module.
mod deps {
    use di_runtime::prelude::*;

    #[depends]
    pub async fn public() -> String {
        "public".to_owned()
    }

    #[depends]
    pub(crate) async fn crate_visible(#[dep(private)] p: &String) -> String {
        p.clone()
    }

    #[depends]
    async fn private() -> String {
        "private".to_owned()
    }
}

use di_runtime::prelude::*;

#[depends]
async fn hello(#[dep(deps::public)] a: &String, #[dep(deps::crate_visible)] b: &String) -> String {
    format!("{a} {b}")
}

fn main() {
    let _ = App::new()
        .get("/", hello)
        .get("/public", deps::public)
        .get("/crate", deps::crate_visible);
}
