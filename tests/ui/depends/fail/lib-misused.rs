// A library's dependencies misused from an app: each error points at the app's own tokens.
use di_runtime::prelude::*;
use di_runtime::Held;
use di_walk_lib::auth::CurrentUser;
use di_walk_lib::db::Tx;

#[depends]
async fn wrong_type(#[dep(di_walk_lib::current_user)] user: &String) -> String {
    user.clone()
}

#[depends]
async fn a_type(#[dep(di_walk_lib::auth::CurrentUser)] user: &CurrentUser) -> String {
    user.name.clone()
}

#[depends]
async fn held_tx(#[dep(di_walk_lib::db::tx)] tx: Held<Tx>) -> String {
    let _ = tx;
    String::new()
}

#[depends]
async fn private_helper(#[dep(di_walk_lib::auth::check)] user: &CurrentUser) -> String {
    user.name.clone()
}

fn main() {}
