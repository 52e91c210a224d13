// Generated code uses absolute paths: it compiles next to modules named `std`, `core` and
// `di_runtime`-like names, and types named `Option`, `Result`, `Ok`.
#![allow(dead_code)]

mod std {}
mod core {}

struct Option;
struct Result;
struct Ok;
struct Some;
struct Box;
struct Vec;
struct String;

use di_runtime::prelude::*;

#[depends]
async fn name() -> ::std::string::String {
    "world".into()
}

#[depends]
async fn checked(
    #[dep(name)] name: &::std::string::String,
) -> ::core::result::Result<u32, HttpError> {
    ::core::result::Result::Ok(name.len() as u32)
}

#[depends]
async fn log(y: Yield<u32>) -> ::core::result::Result<(), HttpError> {
    let _ = y.provide(1).await;
    ::core::result::Result::Ok(())
}

#[depends]
async fn hello(
    #[dep(checked)] n: &u32,
    #[dep(log)] l: &u32,
    Query(q): Query<::std::collections::HashMap<::std::string::String, ::std::string::String>>,
) -> ::std::string::String {
    ::std::format!("{n} {l} {}", q.len())
}

fn main() {
    let _ = App::new().get("/", hello);
}
