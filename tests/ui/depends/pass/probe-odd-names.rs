// Function names that meet the names of the generated items: `call`, `meta`, `never`,
// `__di_run`, `core`.
use di_runtime::prelude::*;

#[depends]
async fn call() -> String {
    "c".to_owned()
}

#[depends]
async fn meta(#[dep(call)] c: &String) -> String {
    c.clone()
}

#[depends]
async fn never(#[dep(meta)] never: &String) -> String {
    never.clone()
}

#[depends]
async fn __di_run(#[dep(never)] n: &String) -> String {
    n.clone()
}

#[depends]
async fn core(#[dep(__di_run)] r: &String, #[dep(call)] call: String) -> String {
    format!("{r}{call}")
}

fn main() {
    App::new().get("/", core).check().unwrap();
    let _ = call::call();
}
