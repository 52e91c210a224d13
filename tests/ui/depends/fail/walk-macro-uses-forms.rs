// `uses(...)` written as `#[dep(...)]` is mistyped: each gets `#[dep]`'s kind of message, at the
// token. They were syn's "unexpected literal in nested attribute, expected ident" (a string),
// "unexpected end of input, expected nested attribute" (`uses()`), "expected ident" (a
// turbofish), and rustc's "missing generics for struct `Query`" with "add missing generic
// argument" as the fix; a call was told only that `uses` takes names.
use di_runtime::prelude::*;

#[depends]
async fn audit() {}

#[depends(uses("audit"))]
async fn a() -> &'static str {
    "a"
}

#[depends(uses())]
async fn b() -> &'static str {
    "b"
}

#[depends(uses(audit::<u8>))]
async fn c() -> &'static str {
    "c"
}

#[depends(uses(Query))]
async fn d() -> &'static str {
    "d"
}

#[depends(uses(audit()))]
async fn e() -> &'static str {
    "e"
}

fn main() {
    let _ = App::new().get("/a", a).get("/b", b).get("/c", c).get("/d", d).get("/e", e);
}
