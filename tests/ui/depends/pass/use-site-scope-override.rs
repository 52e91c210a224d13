// The use site may choose a dependency's scope: `#[dep(f, scope = "...")]` for each scope,
// including `Held<T>` of a request-scoped use of a handler-declared dependency.
use di_runtime::prelude::*;

#[depends]
async fn lines(y: Yield<Vec<String>>) {
    let _ = y.provide(Vec::new()).await;
}

#[depends(scope = "handler")]
async fn buffer(y: Yield<Vec<u8>>) {
    let _ = y.provide(Vec::new()).await;
}

#[depends]
async fn hello(
    #[dep(lines, scope = "handler")] lines: &mut Vec<String>,
    #[dep(buffer, scope = "request")] buffer: Held<Vec<u8>>,
) -> String {
    lines.push("x".to_owned());
    format!("{} {}", lines.len(), buffer.len())
}

fn main() {
    let _ = App::new().get("/", hello);
}
