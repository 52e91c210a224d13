// Functions near `impl` blocks that are not in one (the macro reads which block is open at its
// attribute): in a method's body, after an `impl` block, after braces in literals and comments.
use di_runtime::prelude::*;

struct Service;

impl Service {
    fn app() -> App {
        #[depends]
        async fn inner() -> String {
            "inner".to_owned()
        }
        App::new().get("/inner", inner)
    }

    const OPEN: char = '{';
    const QUOTE: char = '\'';
}

/* impl Service { /* nested */ */
// impl Service {
const TEXT: &str = r#"impl Service { "#;

#[depends]
async fn outer(#[dep(r#impl)] i: &String) -> String {
    format!("{}{}{TEXT}{i}", Service::OPEN, Service::QUOTE)
}

#[depends]
async fn r#impl() -> String {
    "}".to_owned()
}

fn main() {
    Service::app().get("/", outer).check().unwrap();
}
