// A request input is lent for the call only: a lifetime named on it is reported at the
// lifetime. A function's value is kept for the request: a borrowed return type is reported at
// its `&`. Both were errors inside generated code.
use di_runtime::prelude::*;

#[depends]
async fn agent(headers: &'static HeaderMap) -> String {
    format!("{}", headers.len())
}

#[depends]
async fn name() -> String {
    "ada".to_owned()
}

#[depends]
async fn first_letter(#[dep(name)] name: &String) -> &str {
    &name[..1]
}

fn main() {
    let _ = App::new().get("/a", agent).get("/f", first_letter);
}
