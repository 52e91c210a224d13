// `uses(f, g)` on a handler and on a dependency: run for their side effect, whose values no
// parameter takes; with other arguments, in any order, and with a path.
use di_runtime::prelude::*;

mod audit {
    use di_runtime::prelude::*;

    #[depends]
    pub async fn log_request(y: Yield<()>) {
        let ((), _outcome) = y.provide(()).await;
    }
}

#[depends(scope = "handler")]
async fn rate_limit() -> Result<(), HttpError> {
    Ok(())
}

#[depends(uses(audit::log_request))]
async fn user() -> String {
    "ada".to_owned()
}

#[depends(uses(rate_limit, audit::log_request), max_concurrency = 10)]
async fn hello(#[dep(user)] user: &String) -> String {
    format!("hi {user}")
}

#[depends(uses(rate_limit))]
async fn bare() -> &'static str {
    "no parameters"
}

fn main() {
    let _ = App::new().get("/", hello).get("/bare", bare);
}
