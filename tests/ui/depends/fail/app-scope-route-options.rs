// `status`, `content_type` and `responses` document a route's response; an `app`-scoped
// dependency, set up once for the whole app, is never a route's handler: reported at the key.
use di_runtime::prelude::*;

#[depends(scope = "app", status = 201)]
async fn config() -> String {
    "cfg".into()
}

#[depends(responses(404 = "Not found"), scope = "app")]
async fn pool() -> u32 {
    1
}

#[depends]
async fn hello(#[dep(config)] c: &String, #[dep(pool)] p: &u32) -> String {
    format!("{c}{p}")
}

fn main() {
    let _ = App::new().get("/x", hello);
}
