// A `#[cfg_attr]` on a parameter that could remove it (`cfg_attr(.., cfg(..))`) is refused, in
// the words of `#[cfg_attr]`; one that only adds lints is kept (tests/walk_macro.rs). Both were
// refused with "`#[cfg]` on a parameter ... is not supported".
use di_runtime::prelude::*;

#[depends]
async fn hello(#[cfg_attr(test, cfg(test))] headers: &HeaderMap) -> String {
    headers.len().to_string()
}

fn main() {
    let _ = App::new().get("/", hello);
}
