// A library deprecates a dependency (`di_walk_lib::auth::user`, renamed `current_user`): an
// app that takes it with `#[dep]` is told so at its own use, as for any deprecated function
// (here denied, so that the warning shows as an error). Routing or overriding it is not
// warned: a `#[deprecated]` handler is still routed, its OpenAPI operation marked.
#![deny(deprecated)]
use di_runtime::prelude::*;
use di_walk_lib::auth::CurrentUser;

#[depends]
async fn greet(#[dep(di_walk_lib::auth::user)] user: &CurrentUser) -> String {
    user.name.clone()
}

#[depends]
async fn fake_user() -> CurrentUser {
    CurrentUser { name: "tester".into() }
}

fn main() {
    let _ = App::new()
        .get("/", greet)
        .override_dep(di_walk_lib::auth::user, fake_user);
}
