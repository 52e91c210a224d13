//! The response side, at the bottom of the crate: the [`Body`](body::Body) type,
//! [`IntoResponse`](into::IntoResponse), [`StreamBody`](stream::StreamBody), headers beside a
//! response ([`ResponseHeaders`](headers::ResponseHeaders)) and what they must bear out
//! ([`check`]: a valid header, a `Content-Length` that is the body's), [`Html`](page::Html) and
//! [`Redirect`](page::Redirect), server-sent events ([`SseEvent`](sse::SseEvent)), and the
//! errors that become responses ([`HttpError`](error::HttpError), [`InputError`](error::InputError)).
//!
//! It uses no other module of the crate; every other layer may use it (an [`Outcome`] carries
//! an `HttpError`, a handler's value becomes a response).
//!
//! [`Outcome`]: crate::contract::outcome::Outcome

pub(crate) mod body;
pub(crate) mod check;
pub(crate) mod error;
pub(crate) mod headers;
pub(crate) mod into;
pub(crate) mod page;
pub(crate) mod sse;
pub(crate) mod stream;
