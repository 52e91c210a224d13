// A handler named `main` in a module of pages is a handler like any other: only the program's
// `#[tokio::main] main` is refused (fail/diag-depends-on-main.rs).
use di_runtime::prelude::*;

mod pages {
    use di_runtime::prelude::*;

    #[depends]
    pub async fn main() -> &'static str {
        "the main page"
    }
}

fn main() {
    let app = App::new().get("/", pages::main);
    assert!(app.check().is_ok());
}
