// A user type named `Yield` is read as the generator's handle: the macro checks that it is
// `di_runtime::Yield` and says to import a type of one's own under another name.
use di_runtime::prelude::*;

mod mine {
    pub struct Yield<T>(pub T);
}

#[depends]
async fn wrong(y: mine::Yield<u8>) -> u8 {
    y.0
}

fn main() {}
