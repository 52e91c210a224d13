// `status`, `content_type` and `responses` document a route's response, and an `impl IntoResponse`
// output is a handler's: an `app`-scoped dependency, set up once, is never a route's handler.
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
    routes();
}

// An `impl IntoResponse` output is a handler's: its `scope = "app"` would be ignored.
#[depends(scope = "app")]
async fn home() -> impl IntoResponse {
    "home"
}

fn routes() {
    let _ = App::new().get("/", home);
}
