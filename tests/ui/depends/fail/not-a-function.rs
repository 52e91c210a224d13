// `#[depends]` on something that is not a function is reported at the item.
use di_runtime::prelude::*;

#[depends]
struct Hello;

fn main() {}
