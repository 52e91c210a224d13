// Generated code names nothing from the prelude: it compiles in a `#![no_implicit_prelude]`
// module, for plain, fallible, generator and `impl Trait` functions.
mod handlers {
    #![no_implicit_prelude]

    use ::di_runtime::prelude::{HttpError, Query, StreamBody, Yield, depends};
    use ::std::string::String;

    #[depends(scope = "app")]
    pub async fn name() -> String {
        ::std::borrow::ToOwned::to_owned("world")
    }

    #[depends]
    pub async fn lines(y: Yield<::std::vec::Vec<String>>) -> ::std::result::Result<(), HttpError> {
        let _ = y.provide(::std::vec::Vec::new()).await;
        ::std::result::Result::Ok(())
    }

    #[depends]
    pub async fn hello(
        #[dep(name)] name: &String,
        #[dep(lines)] lines: &mut ::std::vec::Vec<String>,
        Query(n): Query<u32>,
    ) -> ::std::result::Result<String, HttpError> {
        lines.push(::std::clone::Clone::clone(name));
        ::std::result::Result::Ok(::std::format!("{name} {n}"))
    }

    #[depends]
    pub async fn export() -> StreamBody<
        impl ::futures_util::Stream<Item = ::std::result::Result<String, ::std::io::Error>>,
    > {
        StreamBody::new(::futures_util::stream::empty())
    }
}

fn main() {
    let _ = di_runtime::App::new()
        .get("/", handlers::hello)
        .get("/export", handlers::export);
}
