// `#[dep(f, fresh)]` (a new instance, not the cached one) compiles, alone and with a scope.
use di_runtime::prelude::*;

#[depends]
async fn id() -> u64 {
    1
}

#[depends]
async fn hello(
    #[dep(id)] cached: &u64,
    #[dep(id, fresh)] fresh: &u64,
    #[dep(id, fresh, scope = "handler")] fresh_handler: u64,
) -> String {
    format!("{cached} {fresh} {fresh_handler}")
}

fn main() {
    let _ = App::new().get("/", hello);
}
