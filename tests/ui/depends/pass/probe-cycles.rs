// A dependency on itself, and a cycle of two, compile and are reported by `App::check`.
use di_runtime::prelude::*;

#[depends]
async fn me(#[dep(me)] m: &String) -> String {
    m.clone()
}

#[depends]
async fn a(#[dep(b)] b: &String) -> String {
    b.clone()
}

#[depends]
async fn b(#[dep(a)] a: &String) -> String {
    a.clone()
}

fn main() {
    let e = App::new().get("/", me).check().unwrap_err().to_string();
    assert!(e.contains("cycle"), "{e}");
    let e = App::new().get("/", a).check().unwrap_err().to_string();
    assert!(e.contains("cycle"), "{e}");
}
