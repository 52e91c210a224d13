// `override_dep(a, b)` needs both to provide the same type: reported at the replacement `b`.
use di_runtime::prelude::*;

#[depends]
async fn user_name() -> String {
    "from the database".to_owned()
}

#[depends]
async fn fake_user_id() -> u64 {
    7
}

#[depends]
async fn whoami(#[dep(user_name)] name: &String) -> String {
    name.clone()
}

fn main() {
    let _ = App::new()
        .get("/me", whoami)
        .override_dep(user_name, fake_user_id);
}
