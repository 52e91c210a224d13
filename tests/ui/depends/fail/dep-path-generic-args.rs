// `#[dep(f::<T>)]`: a `#[depends]` function is never generic; reported at the arguments, with
// the path to write.
use di_runtime::prelude::*;

#[depends]
async fn make() -> String {
    "a".into()
}

#[depends]
async fn hello(#[dep(make::<String>)] g: &String, #[dep(crate::make<u8>)] h: &String) -> String {
    format!("{g}{h}")
}

fn main() {
    let _ = App::new().get("/x", hello);
}
