// A `#[depends]` function is called by the app for every request: it cannot be `unsafe` (the
// error was in generated code, at `#[depends]`) nor have an ABI. Each is reported at its token.
use di_runtime::prelude::*;

#[depends]
async unsafe fn risky() -> String {
    "risky".to_owned()
}

#[depends]
async extern "C" fn foreign() -> String {
    "foreign".to_owned()
}

fn main() {}
