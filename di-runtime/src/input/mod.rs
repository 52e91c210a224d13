//! Request inputs resolved by type, above the contract: [`Path`](path::Path),
//! [`Query`](query::Query), [`Json`](json::Json), [`Form`](form::Form),
//! [`Header`](header::Header), [`Cookie`](cookie::Cookie), the security inputs
//! ([`security`]), [`ClientAddr`](client::ClientAddr), the head inputs (`Method`, `Uri`,
//! `HeaderMap`, `Bytes`, `&RequestHead`, `BackgroundTasks`), and the every-problem
//! deserializer behind the typed ones ([`de`]); what each is in the OpenAPI document
//! ([`documented`]). [`BodyStream`](stream::BodyStream) and
//! [`Multipart`](multipart::Multipart) read the body as a stream instead. `Extract` runs an
//! axum extractor (`axum.rs`, feature `axum`).
//!
//! Uses the contract (`FromRequest`, `RequestHead`) and the response layer (`InputError`,
//! JSON responses); nothing above.

#[cfg(feature = "axum")]
pub(crate) mod axum;
pub(crate) mod client;
pub(crate) mod cookie;
pub(crate) mod de;
pub(crate) mod documented;
pub(crate) mod form;
pub(crate) mod head;
pub(crate) mod header;
pub(crate) mod json;
pub(crate) mod json_syntax;
pub(crate) mod multipart;
pub(crate) mod path;
pub(crate) mod query;
pub(crate) mod request_id;
pub(crate) mod security;
pub(crate) mod shutdown;
pub(crate) mod stream;
#[cfg(feature = "headers")]
pub(crate) mod typed_header;
pub(crate) mod validate;
