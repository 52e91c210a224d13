//! Headers given beside a response: `([(name, value); N], T)`, `(StatusCode, headers, T)`,
//! and a [`HeaderMap`] in their place ([`ResponseHeaders`]); an array of them alone, or after
//! a status, `(StatusCode, [(name, value); N])`, is a response without a body.

use std::fmt;

use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::response::body::Response;
use crate::response::check::{InvalidHeader, checked_length};
use crate::response::error::HttpError;
use crate::response::into::{IntoResponse, with_status};

/// Headers a handler gives beside its response, as axum's handlers do:
/// `([(LOCATION, "/notes/7")], Json(note))`, `(StatusCode::CREATED, [("x-count", "3")], body)`.
///
/// Implemented for an array of `(name, value)` pairs (names and values as `HeaderName` /
/// `HeaderValue` or as text) and for a [`HeaderMap`]. A header they give replaces the header
/// of that name the response already had (a `content-type` of their own wins over the one
/// `Json` sets); a name given twice in one array (two `set-cookie`) gives both values. A name
/// or value that is not a valid header is the handler's mistake: a generic 500, its teardowns
/// told `HandlerError(500)`, the reason logged with the request id, nothing of it sent.
///
/// A `Content-Length` given here (or in an `http::Response` a handler returns) is sent as it
/// is, and must be the body's length: one that is not one length (two values, a word), is
/// zero for a body that is not empty, or is given beside a `Transfer-Encoding`, is such a
/// mistake too; one that differs from the length
/// of a body known in advance fails the response where the body parts from it, as a streamed
/// body longer or shorter than its `Content-Length` does (its teardowns told `BodyError`, the
/// HTTP/1 connection closed, the HTTP/2 stream reset), never sending a body that a client
/// would frame otherwise. An empty body may declare the length of what a `GET` would send, as
/// the answer to a `HEAD`.
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::http::header::LOCATION;
///
/// #[depends]
/// async fn create() -> (StatusCode, [(di_runtime::http::HeaderName, String); 1], &'static str) {
///     (StatusCode::CREATED, [(LOCATION, format!("/notes/{}", 7))], "created")
/// }
/// ```
pub trait ResponseHeaders {
    /// Sets them on `headers`.
    ///
    /// # Errors
    ///
    /// The first name or value that is not a valid header.
    fn set_on(self, headers: &mut HeaderMap) -> Result<(), InvalidHeader>;
}

impl<K, V, const N: usize> ResponseHeaders for [(K, V); N]
where
    K: TryInto<HeaderName>,
    K::Error: fmt::Display,
    V: TryInto<HeaderValue>,
    V::Error: fmt::Display,
{
    fn set_on(self, headers: &mut HeaderMap) -> Result<(), InvalidHeader> {
        let mut given: Vec<HeaderName> = Vec::new();
        for (name, value) in self {
            let name = name.try_into().map_err(|error| InvalidHeader {
                name: None,
                reason: error.to_string(),
            })?;
            let value = value.try_into().map_err(|error| InvalidHeader {
                name: Some(name.clone()),
                reason: error.to_string(),
            })?;
            if given.contains(&name) {
                headers.append(name, value);
            } else {
                given.push(name.clone());
                headers.insert(name, value);
            }
        }
        Ok(())
    }
}

impl ResponseHeaders for HeaderMap {
    fn set_on(self, headers: &mut HeaderMap) -> Result<(), InvalidHeader> {
        // `HeaderMap`'s own `extend`: the first value of each name replaces the response's,
        // the others are appended.
        headers.extend(self);
        Ok(())
    }
}

fn with_headers(mut response: Response, headers: impl ResponseHeaders) -> Response {
    match headers.set_on(response.headers_mut()) {
        Ok(()) => checked_length(response).unwrap_or_else(invalid_headers),
        Err(invalid) => invalid_headers(invalid),
    }
}

#[cold]
fn invalid_headers(invalid: InvalidHeader) -> Response {
    HttpError::internal_from(invalid).into_response()
}

impl<H: ResponseHeaders, T: IntoResponse> IntoResponse for (H, T) {
    fn into_response(self) -> Response {
        with_headers(self.1.into_response(), self.0)
    }
}

/// Headers alone are a response: `200` with no body, or with a status before them,
/// `(StatusCode::SEE_OTHER, [(LOCATION, "/me"), (SET_COOKIE, cookie)])` (actix's
/// `HttpResponse::build(status).insert_header(..).finish()`), as in axum.
impl<K, V, const N: usize> IntoResponse for [(K, V); N]
where
    Self: ResponseHeaders,
{
    fn into_response(self) -> Response {
        with_headers(Response::new(crate::response::body::Body::empty()), self)
    }
}

impl<H: ResponseHeaders, T: IntoResponse> IntoResponse for (StatusCode, H, T) {
    fn into_response(self) -> Response {
        with_headers(with_status(self.2.into_response(), self.0), self.1)
    }
}
