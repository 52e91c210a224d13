// Trailing commas in `#[depends(...)]` and `#[dep(...)]`.
use di_runtime::prelude::*;

#[depends(scope = "app")]
async fn config() -> String {
    "c".to_owned()
}

#[depends(uses(config,), status = 201)]
async fn hello(
    #[dep(config)] c: &String,
    #[dep(config, scope = "request", fresh)] d: &String,
) -> String {
    format!("{c}{d}")
}

fn main() {
    App::new().get("/", hello).check().unwrap();
}
