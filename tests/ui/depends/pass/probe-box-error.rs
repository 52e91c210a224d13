// A `Result` whose error is a boxed error, `Box<dyn Error + Send + Sync>` (what `?` makes of
// any error; `di_runtime::BoxError`), is a 500 as a `std::error::Error` is. It did not compile:
// "`Box<dyn std::error::Error + Send + Sync>` cannot be the error of a `#[depends]` function's
// `Result`".
use std::error::Error;

use di_runtime::prelude::*;

#[depends]
async fn config() -> Result<String, Box<dyn Error + Send + Sync>> {
    Ok(std::env::var("DI_PROBE_UNSET_VARIABLE")?)
}

#[depends]
async fn hello(#[dep(config)] c: &String) -> Result<String, di_runtime::BoxError> {
    Ok(c.clone())
}

#[depends]
async fn parse(Path(n): Path<String>) -> Result<String, Box<dyn Error + Send + Sync>> {
    Ok(n.parse::<u8>()?.to_string())
}

#[depends(scope = "handler")]
async fn tx(y: Yield<u8>) -> Result<(), Box<dyn Error + Send + Sync>> {
    let _ = y.provide(1).await;
    Err("commit failed".into())
}

#[depends]
async fn uses_tx(#[dep(tx)] t: &u8) -> String {
    t.to_string()
}

fn main() {
    let app = App::new()
        .get("/", hello)
        .get("/n/{n}", parse)
        .get("/tx", uses_tx);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = TestClient::start(app).await.unwrap();
        assert_eq!(client.get("/").send().await.status(), 500);
        assert_eq!(client.get("/n/x").send().await.status(), 500);
        assert_eq!(client.get("/n/7").send().await.text().await.unwrap(), "7");
    });
}
