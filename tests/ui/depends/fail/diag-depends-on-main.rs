// `#[depends]` on the program's `#[tokio::main] async fn main`, in either order, was reported
// as "`main` has invalid return type `di_runtime::__private::UseAsDepOrCall<main>`" (and
// "`()` is not a future"), or as a missing `async` on an `async fn`: one error now, at `main`.
// A handler named `main` in a module (tests/ui/depends/pass) stays one.
use di_runtime::prelude::*;

mod first {
    use di_runtime::prelude::*;

    #[depends]
    #[tokio::main]
    pub async fn main() {}
}

#[tokio::main]
#[depends]
async fn main() {
    first::main();
}
