//! Headers given beside a response: `([(name, value); N], T)`, `(StatusCode, headers, T)`,
//! and a [`HeaderMap`] in their place ([`ResponseHeaders`]); an array of them alone, or after
//! a status, `(StatusCode, [(name, value); N])`, is a response without a body.

use std::fmt;

use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::response::body::Response;
use crate::response::check::{InvalidHeader, checked_framing};
use crate::response::into::{IntoResponse, made_wrong, with_status};

/// Headers a handler gives beside its response, as axum's handlers do:
/// `([(LOCATION, "/notes/7")], Json(note))`, `(StatusCode::CREATED, [("x-count", "3")], body)`.
///
/// Implemented for an array of `(name, value)` pairs (names and values as `HeaderName` /
/// `HeaderValue` or as text) and for a [`HeaderMap`]. A header they give replaces the header
/// of that name the response already had (a `content-type` of their own wins over the one
/// `Json` sets); a name given twice in one array (two `set-cookie`) gives both values. A name
/// or value that is not a valid header is the handler's mistake: a generic 500, its teardowns
/// told `HandlerError(500)`, the reason logged with the request id, nothing of it sent. A
/// value's whitespace at either end (`format!("{} ", note)`) is trimmed as the response
/// leaves the app: HTTP/2 forbids it, and an HTTP/1 client drops it.
///
/// A `Content-Length` given here (or in an `http::Response` a handler returns) is sent as it
/// is, and must be the body's length: one that is not one length (two values, a word), is
/// zero for a body that is not empty, or is given beside a `Transfer-Encoding`, is such a
/// mistake too; one that differs from the length
/// of a body known in advance fails the response where the body parts from it, as a streamed
/// body longer or shorter than its `Content-Length` does (its teardowns told `BodyError`, the
/// HTTP/1 connection closed, the HTTP/2 stream reset), never sending a body that a client
/// would frame otherwise. An empty body may declare the length of what a `GET` would send, as
/// the answer to a `HEAD`. A `Transfer-Encoding` given here (or in an `http::Response`) says
/// nothing of the framing, which is the server's: `chunked` is left out of it, and the header
/// dropped if that is all it said; another coding (`gzip`, which the handler must then have
/// applied) is sent over HTTP/1.1 with `chunked` once after it.
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
        let pairs = self.map(|(name, value)| {
            let name: HeaderName = name.try_into().map_err(|error| InvalidHeader {
                name: None,
                reason: error.to_string(),
            })?;
            let value = value.try_into().map_err(|error| InvalidHeader {
                name: Some(name.clone()),
                reason: error.to_string(),
            })?;
            Ok((name, value))
        });
        // Whether each name was given before it in the array (its value is then appended),
        // found by comparing the names where they are: no copy of a name, nothing allocated.
        let mut again = [false; N];
        for (at, pair) in pairs.iter().enumerate() {
            if let Ok((name, _)) = pair {
                again[at] = pairs[..at]
                    .iter()
                    .any(|earlier| matches!(earlier, Ok((earlier, _)) if earlier == name));
            }
        }
        for (pair, again) in pairs.into_iter().zip(again) {
            let (name, value) = pair?;
            if again {
                headers.append(name, value);
            } else {
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
        Ok(()) => checked_framing(response).unwrap_or_else(invalid_headers),
        Err(invalid) => invalid_headers(invalid),
    }
}

#[cold]
fn invalid_headers(invalid: InvalidHeader) -> Response {
    made_wrong(invalid)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
        headers
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap_or("?"))
            .collect()
    }

    #[test]
    fn an_array_replaces_what_was_there_and_keeps_each_value_of_a_name_given_twice() {
        let mut headers = HeaderMap::new();
        headers.insert("x-old", HeaderValue::from_static("old"));
        headers.append("set-cookie", HeaderValue::from_static("before"));
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        let given = [
            ("Set-Cookie", "a=1"),
            ("x-old", "new"),
            ("x-count", "1"),
            ("set-cookie", "b=2"),
            ("content-type", "application/json"),
            ("SET-COOKIE", "c=3"),
            ("x-count", "2"),
        ];
        assert!(given.set_on(&mut headers).is_ok());
        assert_eq!(values(&headers, "set-cookie"), ["a=1", "b=2", "c=3"]);
        assert_eq!(values(&headers, "x-old"), ["new"]);
        assert_eq!(values(&headers, "x-count"), ["1", "2"]);
        assert_eq!(values(&headers, "content-type"), ["application/json"]);
        assert_eq!(headers.len(), 7);
    }

    #[test]
    fn the_first_invalid_name_or_value_is_the_error() {
        let mut headers = HeaderMap::new();
        let error = [("x-a", "1"), ("x-b", "bad\nvalue"), ("bad name", "v")]
            .set_on(&mut headers)
            .err();
        assert_eq!(
            error.and_then(|e| e.name),
            Some(HeaderName::from_static("x-b"))
        );
        let error = [("x-a", "1"), ("bad name", "v"), ("x-b", "bad\nvalue")]
            .set_on(&mut headers)
            .err();
        assert!(error.is_some_and(|e| e.name.is_none()));
    }
}
