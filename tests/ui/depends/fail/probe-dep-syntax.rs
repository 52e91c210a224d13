// `#[dep(...)]` written wrong: each is one error that shows the syntax. A path cut short
// (`#[dep(name::)]`) was "unexpected end of input, expected identifier" at `#[depends]`; a
// string was "expected identifier"; a missing comma "expected `,`".
use di_runtime::prelude::*;

#[depends]
async fn name() -> String {
    "n".to_owned()
}

#[depends]
async fn a(#[dep(name scope = "app")] n: &String) -> String {
    n.clone()
}

#[depends]
async fn b(#[dep(name::)] n: &String) -> String {
    n.clone()
}

#[depends]
async fn c(#[dep("name")] n: &String) -> String {
    n.clone()
}

#[depends]
async fn d(#[dep = name] n: &String) -> String {
    n.clone()
}

fn main() {
    let _ = App::new().get("/a", a).get("/b", b).get("/c", c).get("/d", d);
}
