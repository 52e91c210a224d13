//! Declarative dependency injection for async HTTP handlers, where every dependency has
//! setup and teardown and **chooses whether its teardown runs before the response is sent or
//! after the response — including a streamed body — has been fully sent**.
//!
//! This is what FastAPI's `Depends` with `yield` and `scope=` gives Python, for Rust: a
//! transaction commits or rolls back from its own teardown, seeing how the request ended,
//! with no middleware; a streaming body keeps its database connection open until its last
//! byte; using a value that is gone before the body is sent does not compile.
//!
//! ```no_run
//! use di_runtime::prelude::*;
//!
//! struct Db;                                    // stands in for a pool
//! struct Tx(Vec<String>);                        // stands in for a transaction
//!
//! #[depends(scope = "app")]                      // once per app, torn down at shutdown
//! async fn db() -> Db { Db }
//!
//! #[depends(scope = "handler")]                  // torn down before the response is sent
//! async fn tx(#[dep(db)] _db: &Db, y: Yield<Tx>) -> Result<(), HttpError> {
//!     let (tx, outcome) = y.provide(Tx(Vec::new())).await;
//!     if outcome.is_success() { /* commit tx.0 */ } else { /* roll back */ }
//!     Ok(())
//! }
//!
//! #[depends]                                     // a handler is a `#[depends]` fn too
//! async fn create(#[dep(tx)] tx: &mut Tx, Json(title): Json<String>) -> (StatusCode, String) {
//!     tx.0.push(title);
//!     (StatusCode::CREATED, "created".into())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), ServeError> {
//!     App::new().post("/notes", create).serve("127.0.0.1:3000").await
//! }
//! ```
//!
//! # The model
//!
//! - [`#[depends]`](depends) on an `async fn` makes its parameters injected. The function can
//!   then be a dependency of another (`#[dep(name)] x: &T`), a handler (`App::get(path,
//!   name)`), or both.
//! - Parameters marked `#[dep(f)]` receive `f`'s value as `&T`, `&mut T`, `T` (a clone),
//!   [`Held<T>`] or [`HeldMut<T>`] (owned handles a response body can keep, with a stream
//!   borrowing the value through [`HeldMut::stream`]: a query's rows over a held connection).
//!   Other parameters are request inputs resolved by type: [`Path`], [`Query`], [`Json`],
//!   [`Form`], [`Header`], [`Cookie`], the security inputs ([`HttpBearer`], [`HttpBasic`],
//!   [`ApiKeyHeader`], [`ApiKeyQuery`], [`ApiKeyCookie`]), [`Option<ClientAddr>`](ClientAddr),
//!   [`Shutdown`], [`RequestId`], `Bytes`, [`BodyStream`], [`Multipart`], `&HeaderMap`,
//!   `&Method`, `&Uri`, `&RequestHead`, [`&BackgroundTasks`](BackgroundTasks), and
//!   [`&SetHeaders`](SetHeaders) (headers a dependency sets on the handler's answer). Bad input
//!   is one 422 listing every problem, before anything is set up.
//! - A parameter `y: Yield<T>` makes the function a generator: before
//!   [`y.provide(v).await`](Yield::provide) is setup, after it is teardown, which gets the value
//!   back with the request's [`Outcome`].
//! - [`Scope`]s: `app`, `request` (default) and `handler`.
//!
//! # Guarantees
//!
//! - Within a request a dependency runs at most once per scope (`#[dep(f, fresh)]` opts out).
//! - Setup runs in dependency order; teardown in reverse, `handler` scope before the response
//!   head is sent, `request` scope after the body's last frame (in the task that sent it, an
//!   HTTP/1 connection's or an HTTP/2 stream's, otherwise in a tracked background task; it
//!   delays neither the body nor the next request on the connection).
//! - Every dependency whose setup completed is torn down exactly once, with a truthful
//!   outcome, on success, handler error, setup failure, panic, client disconnect, timeout and
//!   shutdown; one whose setup did not complete never is. No user code runs in `Drop`.
//! - All request inputs are extracted before any dependency is set up; bad input gives one
//!   422 listing every problem. Panics become a generic 500; no panic message or error
//!   `Debug` output reaches a client.
//! - The scope rule (nothing depends on a shorter-lived value, checked through plain
//!   functions) is checked for every route before the first request, naming the chain.
//!
//! # Cargo features
//!
//! None is on by default.
//!
//! | feature | adds |
//! |---|---|
//! | `openapi` | `App::openapi` and `App::with_openapi`: an OpenAPI 3.1 document read off each route's dependency graph (schemas from `schemars::JsonSchema`), served at `/openapi.json` with Swagger UI at `/docs` |
//! | `validator` | `Json<T>`, `Query<T>`, `Form<T>`, `Header<T>` and `Cookie<T>` of a `T` deriving `validator::Validate` run its rules; each broken rule is a problem of the 422, in pydantic's terms |
//! | `headers` | `TypedHeader<H>`: one typed header of the `headers` crate as a request input |
//! | `axum` | `Extract<E>`: an axum extractor as a request input, `App::axum_state`, and `AxumLayer` for axum's `from_fn` middleware |
//! | `metrics` | the counters of [`Metrics`] exported through the `metrics` crate's facade |
//!
//! # Guides
//!
//! The repository's `README.md` is the tour (inputs, groups, tower layers, limits and
//! timeouts, request ids and metrics); `docs/` holds the guides: `testing.md` (the
//! [`TestClient`], fakes, teardown outcomes, real sockets), `fastapi.md` (FastAPI's names and
//! every difference), `axum.md` (adopting `di` inside an axum app, route by route),
//! `actix-rocket.md`, `openapi.md`, `libraries.md` (a crate of reusable dependencies) and
//! `architecture.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The layers, bottom first; each uses only those above it in this list (see
// docs/architecture.md; `tests/layers.rs` checks it).
mod app;
mod contract;
mod input;
#[cfg(feature = "openapi")]
mod openapi;
mod panic;
mod plan;
mod response;
mod run;

#[cfg(feature = "axum")]
pub use app::axum::{AxumInner, AxumLayer};
pub use app::builder::App;
pub use app::error::{BuildError, ServeError};
pub use app::group::Group;
pub use app::layer::{InnerService, TowerLayer};
#[cfg(feature = "openapi")]
pub use app::openapi::OpenApiConfig;
pub use app::routed::ResponseFuture;
pub use app::running::Running;
pub use app::server::Server;
pub use app::service::AppService;
pub use app::test_client::{TestClient, TestRequest, TestResponse};
pub use contract::background::BackgroundTasks;
pub use contract::held_stream::HeldStream;
pub use contract::outcome::{CancelReason, Outcome};
pub use contract::provide::Yield;
pub use contract::request::{FromRequest, FromRequestRef, RequestHead};
pub use contract::request_id::{MAX_CLIENT_REQUEST_ID, RequestId};
pub use contract::scope::Scope;
pub use contract::set_headers::SetHeaders;
pub use contract::slot::{Held, HeldMut};
#[cfg(feature = "axum")]
pub use input::axum::Extract;
pub use input::client::ClientAddr;
pub use input::cookie::Cookie;
pub use input::form::Form;
pub use input::header::Header;
pub use input::json::Json;
pub use input::multipart::{Multipart, MultipartField, UploadedFile};
pub use input::path::Path;
pub use input::query::Query;
pub use input::security::{
    ApiKeyCookie, ApiKeyHeader, ApiKeyQuery, HttpBasic, HttpBearer, KeyName,
};
pub use input::shutdown::Shutdown;
pub use input::stream::{BodyStream, Lines};
#[cfg(feature = "headers")]
pub use input::typed_header::TypedHeader;
#[cfg(feature = "openapi")]
pub use openapi::model::{
    ApiResponse, Components, Info, MediaType, OpenApi, Operation, Ordered, Parameter, PathItem,
    RequestBody, SecurityScheme,
};
pub use plan::graph::Graph;
pub use response::body::{Body, BoxError, Response};
pub use response::check::InvalidHeader;
pub use response::error::{BodyError, MultipartError};
pub use response::error::{HttpError, InputError, IntoLoc, LocPart};
pub use response::headers::ResponseHeaders;
pub use response::into::IntoResponse;
pub use response::page::{Html, Redirect};
pub use response::sse::SseEvent;
pub use response::stream::StreamBody;
pub use run::stats::{Metrics, TeardownCounts};

pub use bytes::Bytes;
/// The `http` crate di's requests and responses are made of (header names and values for
/// [`HttpError::with_header`], for instance), so that an app need not depend on it itself.
pub use http;
pub use http::{HeaderMap, Method, StatusCode, Uri};

/// Marks an `async fn` whose parameters are injected; see the [crate documentation](crate).
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[depends(scope = "handler")]
/// async fn audit(y: Yield<Vec<String>>) {
///     let (lines, outcome) = y.provide(Vec::new()).await;
///     println!("{} lines, {outcome}", lines.len());
/// }
/// ```
///
/// Attribute arguments:
///
/// - `scope = "app" | "request" | "handler"`: how long the value lives (default `request` for
///   a generator; a plain function without one takes the shortest scope of what it depends on,
///   at most `request`).
/// - `max_concurrency = N`: at most `N` instances set up at once in the whole app (cache hits do
///   not count); each holds its place until its teardown has finished, so a `request`-scoped
///   connection stays counted while a streamed body uses it. On a handler, at most `N` runs at
///   once. A request waiting for a place waits before any of its dependencies is set up.
///   [`App::max_concurrency`] sets or replaces the limit when the app is built (a pool's
///   size read from the configuration).
/// - `uses(f, g)`: runs the `#[depends]` functions `f` and `g` as dependencies of this one, for
///   their side effect or their teardown, without a parameter taking their values (FastAPI's
///   `@app.get(..., dependencies=[Depends(f)])`). They are set up before the dependencies of the
///   parameters, in the order written, and are otherwise like `#[dep(f)]` parameters: cached,
///   scoped, overridable, checked at start.
/// - `status = 201` (200 to 599), on a handler: the status of its success, FastAPI's
///   `status_code=`. An answer the handler gives with `200` (a `Json<T>`, a `String`, an
///   `Ok(..)`) is sent with it, and the OpenAPI document (feature `openapi`) lists it; an
///   answer that sets another status (an error, a `Redirect`, a `(StatusCode, T)`) is sent as
///   it is, and so is a `200` the handler chose: a return type that names its status (a
///   `(StatusCode, T)`, a `StatusCode`, a `Response`) keeps every status it gives (an upsert's
///   `200` for a row it replaced, `201` for one it made). On a function the app uses only as a dependency, no status would be sent:
///   [`App::check`] refuses it.
/// - `content_type = "..."`, `body_content_type = "..."`, `responses(404 = "...", ...)`: what
///   the OpenAPI document says of the function: its response's and its streamed (or `Bytes`)
///   request body's content types, the error statuses it answers with. They document and
///   change nothing at run time (docs/openapi.md).
/// - `crate = "path"`: the runtime crate, when it is renamed.
///
/// Parameter attribute: `#[dep(path)]`, `#[dep(path, scope = "...")]` (the scope at this use,
/// a separate instance), `#[dep(path, fresh)]` (not cached).
///
/// A plain function whose body cannot wait (no `.await`, and no macro call but `std`'s and the
/// logging macros of `tracing` and `log`, which cannot hide one) runs where the request starts
/// it, with nothing allocated for its future. A macro of your own named like one of those
/// (`format!`, `info!`, ...) must not expand to an `.await`: such a function would be dropped
/// at that wait and its setup fail with a logged 500. Write the `.await` in the body, or call
/// the macro by a path (`my_crate::info!`).
///
/// Attributes after `#[depends]` apply to the function as written, `name::call`; a
/// `#[tracing::instrument]` there still names its span after the function (`name = "..."` is
/// added unless given). A `#[deprecated]` function is deprecated for its users too: taking it
/// with `#[dep(name)]` warns there, as a call would (a library renaming a dependency keeps the
/// old name this way); routing it does not, and its OpenAPI operation is marked `deprecated`.
pub use di_macros::depends;

/// The names most apps need: `use di_runtime::prelude::*;`. Their tests too: the
/// [`TestClient`] with the [`TestRequest`] it builds and the [`TestResponse`] it returns.
pub mod prelude {
    pub use crate::{
        App, BackgroundTasks, BuildError, Bytes, CancelReason, Cookie, Form, Group, Header,
        HeaderMap, Held, HeldMut, Html, HttpError, InputError, IntoResponse, Json, Method, Outcome,
        Path, Query, Redirect, RequestHead, RequestId, Response, Scope, ServeError, SetHeaders,
        StatusCode, StreamBody, TestClient, TestRequest, TestResponse, Uri, Yield, depends,
    };
}

/// The README's examples, compiled as doc tests so that they stay true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// What `#[depends]` generates for the OpenAPI document only (an output's description, an
/// input's schema and field order): kept with the `openapi` feature; without it the fallback
/// after `else`, so that an app without the document does not type-check those probes
/// (about 7 % of an edit's `cargo check`; BENCHMARKS.md, "fifteenth round").
#[doc(hidden)]
#[macro_export]
#[cfg(feature = "openapi")]
macro_rules! __di_openapi_only {
    ({ $($document:tt)* } else { $($fallback:tt)* }) => { $($document)* };
}

/// See the `openapi` feature's definition above.
#[doc(hidden)]
#[macro_export]
#[cfg(not(feature = "openapi"))]
macro_rules! __di_openapi_only {
    ({ $($document:tt)* } else { $($fallback:tt)* }) => { $($fallback)* };
}

/// Used by the code `#[depends]` generates. Not a public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::__di_openapi_only as openapi_only;
    pub use crate::contract::doc::{
        DescribeFn, DescribeKnown, DescribeUnknown, Doc, DocProbe, DocumentedInput,
        DocumentedOutput, FieldsFn, FieldsKnown, FieldsUnknown, HeaderNameFn, InputDoc, InputKind,
        OutputDoc, OutputFn, OutputKind, OutputKnown, OutputUnknown, RouteFitFn, SchemaFn,
        SchemaKnown, SchemaProbe, SchemaUnknown, Schemas, SecurityKind, any_schema, no_fields,
        undocumented_input, unknown_output,
    };
    pub use crate::contract::meta::{
        Access, Args, CanBeHeld, DepError, DepFn, DepMeta, DepResult, Dependency,
        ErrorViaAxumResponse, ErrorViaHttp, ErrorViaInto, ErrorViaResponse, ExtractFn,
        FromDepValue, IntoDepResult, IntoGenResult, IsHeld, IsYield, Keep, KeepBoxed, KeepShared,
        NotADepFn, Param, ParamKind, RunFn, Started, UseAsDepOrCall, assert_can_be_held,
        assert_is_held, assert_is_yield, assert_static_borrow, extract, respond,
    };
    pub use crate::contract::request::{FromRequest, FromRequestRef};
    pub use crate::contract::scope::Scope;
    pub use crate::contract::slot::ArgError;
    pub use crate::input::validate::{CheckNothing, CheckRules, Probe, Validated};
    pub use crate::response::body::Response;
    pub use crate::{Held, HeldMut, HttpError, Yield};
    pub use core;
    pub use std;

    /// The traits among which a method call in generated code picks by the type it is made on
    /// (autoref specialization), each set in one module that `#[depends]` imports with a glob,
    /// `use pick::keep::*;`: the glob is used whichever trait is picked, so the generated code
    /// needs no `#[allow(unused_imports)]`, which a crate's `#![forbid(unused)]` rejects.
    pub mod pick {
        /// [`KeepShared`](super::KeepShared) or [`KeepBoxed`](super::KeepBoxed).
        pub mod keep {
            pub use crate::contract::meta::{KeepBoxed as _, KeepShared as _};
        }
        /// How a function's error becomes an `HttpError`.
        pub mod error {
            pub use crate::contract::meta::{
                ErrorViaAxumResponse as _, ErrorViaHttp as _, ErrorViaInto as _,
                ErrorViaResponse as _,
            };
        }
        /// [`CheckRules`](super::CheckRules) or [`CheckNothing`](super::CheckNothing).
        pub mod rules {
            pub use crate::input::validate::{CheckNothing as _, CheckRules as _};
        }
        /// [`DescribeKnown`](super::DescribeKnown) or [`DescribeUnknown`](super::DescribeUnknown).
        pub mod describe {
            pub use crate::contract::doc::{DescribeKnown as _, DescribeUnknown as _};
        }
        /// [`OutputKnown`](super::OutputKnown) or [`OutputUnknown`](super::OutputUnknown).
        pub mod output {
            pub use crate::contract::doc::{OutputKnown as _, OutputUnknown as _};
        }
        /// [`SchemaKnown`](super::SchemaKnown) or [`SchemaUnknown`](super::SchemaUnknown).
        pub mod schema {
            pub use crate::contract::doc::{SchemaKnown as _, SchemaUnknown as _};
        }
        /// [`FieldsKnown`](super::FieldsKnown) or [`FieldsUnknown`](super::FieldsUnknown).
        pub mod fields {
            pub use crate::contract::doc::{FieldsKnown as _, FieldsUnknown as _};
        }
    }
}
