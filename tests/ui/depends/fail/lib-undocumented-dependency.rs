// A library that denies `missing_docs` and forgets the doc comment of a public dependency is
// told so at its `#[depends]` attribute (the struct the attribute defines has no docs); a
// documented one is not. The struct keeps the attribute's span: at the function's, the lints
// rustc keeps quiet in macro output (`missing_debug_implementations`, ...) would fire on it.
#![deny(missing_docs)]
//! A library.
use di_runtime::prelude::*;

#[depends]
pub async fn undocumented() -> u8 {
    2
}

/// Documented: no error.
#[depends]
pub async fn documented() -> u8 {
    3
}

fn main() {}
