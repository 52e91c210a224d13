// `scope = "App"`, capitalised: reported at the string, listing the scopes in lower case.
use di_runtime::prelude::*;

#[depends(scope = "App")]
async fn db() -> String {
    "db".into()
}

fn main() {}
