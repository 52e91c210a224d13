// `override_dep(a, b)` compiles when both provide the same type, whatever their shapes.
use di_runtime::prelude::*;

#[depends]
async fn user_name() -> Result<String, HttpError> {
    Ok("from the database".to_owned())
}

#[depends]
async fn fake_user_name(y: Yield<String>) {
    let _ = y.provide("alice".to_owned()).await;
}

#[depends]
async fn whoami(#[dep(user_name)] name: &String) -> String {
    name.clone()
}

fn main() {
    let _ = App::new()
        .get("/me", whoami)
        .override_dep(user_name, fake_user_name);
}
