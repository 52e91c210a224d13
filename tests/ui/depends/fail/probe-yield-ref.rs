// A `Yield<T>` taken by reference was "`&Yield<u8>` is not a request input", with notes about
// request inputs: it is told to take it by value.
use di_runtime::prelude::*;

#[depends]
async fn conn(y: &Yield<u8>) {
    let _ = y;
}

#[depends]
async fn tx(y: &mut Yield<u8>) {
    let _ = y;
}

fn main() {
    let _ = App::new().get("/c", conn).get("/t", tx);
}
