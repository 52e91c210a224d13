// `Held<str>` / `HeldMut<[u8]>`: a `Held<T>` holds the dependency's value itself, and no
// dependency provides an unsized `str` or `[u8]`. One error at the type, saying to name the
// type the dependency provides (`Held<String>`, `HeldMut<Vec<u8>>`).
use di_runtime::prelude::*;

#[depends]
async fn name() -> String {
    "ada".into()
}

#[depends]
async fn bytes() -> Vec<u8> {
    vec![1, 2]
}

#[depends]
async fn hello(#[dep(name)] name: Held<str>, #[dep(bytes)] bytes: HeldMut<[u8]>) -> String {
    format!("{}{}", &*name, bytes.len())
}

fn main() {
    let _ = App::new().get("/", hello);
}
