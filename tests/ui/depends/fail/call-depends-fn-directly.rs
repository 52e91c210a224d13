// Calling a `#[depends]` function directly (`get_db().await`): rustc names the argument type
// `UseAsDepOrCall<get_db>`, which says the two ways to use it: `#[dep(get_db)]` or
// `get_db::call(..)`; no internal name such as `Marker`.
use di_runtime::prelude::*;
#[derive(Clone)]
pub struct Db;
#[depends]
async fn get_db() -> Db { Db }
async fn helper() {
    let db = get_db().await;
    let _ = db;
}
fn main() { let _ = helper(); }
