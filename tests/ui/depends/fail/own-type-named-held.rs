// A `#[dep]` parameter whose type is named `Held` is read as `di_runtime::Held`: a user type of
// that name is reported at the parameter's type, with the fix.
use di_runtime::prelude::*;

mod mine {
    pub struct Held<T>(pub T);
}

#[depends]
async fn number() -> u8 {
    1
}

#[depends]
async fn wrong(#[dep(number)] n: mine::Held<u8>) -> u8 {
    n.0
}

fn main() {}
