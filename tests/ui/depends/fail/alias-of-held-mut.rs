// `Held`/`HeldMut` are recognised by name; through an alias the parameter reads as a value
// taken by clone, and the error at the parameter's type says to write `HeldMut<..>` out.
use di_runtime::prelude::*;

#[derive(Clone)]
struct Conn;

type HeldConn = HeldMut<Conn>;

#[depends]
async fn conn(y: Yield<Conn>) {
    let _ = y.provide(Conn).await;
}

#[depends]
async fn uses(#[dep(conn)] c: HeldConn) -> &'static str {
    let _ = c;
    "ok"
}

fn main() {}
