//! Request inputs resolved by type, above the contract: [`Path`](path::Path),
//! [`Query`](query::Query), [`Json`](json::Json), the head inputs (`Method`, `Uri`,
//! `HeaderMap`, `Bytes`, `&RequestHead`, `BackgroundTasks`), and the every-problem deserializer
//! behind the first three ([`de`]).
//!
//! Uses the contract (`FromRequest`, `RequestHead`) and the response layer (`InputError`,
//! JSON responses); nothing above.

pub(crate) mod de;
pub(crate) mod head;
pub(crate) mod json;
pub(crate) mod json_syntax;
pub(crate) mod path;
pub(crate) mod query;
