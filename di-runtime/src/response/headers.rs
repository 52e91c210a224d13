//! Headers given beside a response: `([(name, value); N], T)`, `(StatusCode, headers, T)`,
//! and a [`HeaderMap`] in their place ([`ResponseHeaders`]); an array of them alone, or after
//! a status, `(StatusCode, [(name, value); N])`, is a response without a body.

use std::fmt;

use http::StatusCode;
use http::header::{CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue, TRANSFER_ENCODING};

use crate::response::body::Response;
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

/// A header given beside a response whose name or value is not a valid header.
#[derive(Debug)]
pub struct InvalidHeader {
    /// The header's name, when the name was valid and its value was not.
    name: Option<HeaderName>,
    reason: String,
}

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(
                f,
                "the handler gave the response header `{name}` an invalid value: {}",
                self.reason
            ),
            None => write!(
                f,
                "the handler gave the response an invalid header name: {}",
                self.reason
            ),
        }
    }
}

impl std::error::Error for InvalidHeader {}

fn with_headers(mut response: Response, headers: impl ResponseHeaders) -> Response {
    match headers.set_on(response.headers_mut()) {
        Ok(()) => checked_length(response),
        Err(invalid) => invalid_headers(invalid),
    }
}

/// `response` as a handler made it, the `Content-Length` it gave (if it gave one) checked
/// against its body (see [`declared_length`]).
pub(crate) fn checked_length(response: Response) -> Response {
    if response.headers().contains_key(CONTENT_LENGTH) {
        declared_length(response)
    } else {
        response
    }
}

/// A response whose handler gave it a `Content-Length`. hyper sends that value as it is, and a
/// body of known length whatever the value says (in a debug build it panics instead): a value
/// that contradicts the body would have the client (a proxy that keeps its connections) read
/// the next response on the connection as the rest of this body, or the rest of this body as
/// the next response.
///
/// A value that is not one length (two, or not a number), a length of zero for a body that is
/// not empty, or a length beside a `Transfer-Encoding`, is the handler's mistake, as an
/// invalid header is: a generic 500, the reason logged. One that differs from the length of a body known in advance is kept, and the body
/// held to it ([`Declared`]): the response fails as a body shorter or longer than its
/// `Content-Length` does (its `request`-scope teardowns see `BodyError`, the HTTP/1
/// connection is closed, the HTTP/2 stream reset), and a `HEAD` gets the length (the answer
/// to a `HEAD` written by hand: an empty body with the length of what a `GET` would send). A
/// streamed body is held to the declared length as it is sent.
#[cold]
#[inline(never)]
fn declared_length(response: Response) -> Response {
    use http_body::Body as _;
    // RFC 9112 6.2: no `Content-Length` beside a `Transfer-Encoding` (hyper's HTTP/1.1 refuses
    // such a head: the client got nothing, its HTTP/1.0 and HTTP/2 sent it).
    if response.headers().contains_key(TRANSFER_ENCODING) {
        return invalid_headers(InvalidHeader {
            name: Some(CONTENT_LENGTH),
            reason: "given beside a `Transfer-Encoding`; give one of them".to_owned(),
        });
    }
    let Some(exact) = response.body().size_hint().exact() else {
        return response;
    };
    let mut values = response.headers().get_all(CONTENT_LENGTH).iter();
    let length = match (values.next(), values.next()) {
        (Some(value), None) => {
            let digits = value.as_bytes();
            std::str::from_utf8(digits)
                .ok()
                .filter(|text| !text.is_empty() && digits.iter().all(u8::is_ascii_digit))
                .and_then(|text| text.parse::<u64>().ok())
        }
        _ => None,
    };
    match length {
        Some(length) if length == exact => response,
        // Zero: hyper would not ask the body for anything, and drop it unsent.
        Some(length) if length > 0 => {
            tracing::warn!(target: "di", declared = length, body = exact, "the handler's Content-Length differs from its body's length: the response fails where they part");
            let (parts, body) = response.into_parts();
            Response::from_parts(
                parts,
                crate::response::body::Body::new(Declared {
                    inner: body,
                    left: length,
                }),
            )
        }
        _ => {
            let given: Vec<&str> = response
                .headers()
                .get_all(CONTENT_LENGTH)
                .iter()
                .map(|value| value.to_str().unwrap_or("(not text)"))
                .collect();
            invalid_headers(InvalidHeader {
                name: Some(CONTENT_LENGTH),
                reason: format!(
                    "{} for a body of {exact} bytes; give one length",
                    match given.as_slice() {
                        [one] => format!("{one:?}"),
                        many => format!("{} values ({})", many.len(), many.join(", ")),
                    }
                ),
            })
        }
    }
}

pin_project_lite::pin_project! {
    /// A body held to the `Content-Length` its handler declared, which its length known in
    /// advance contradicts (see [`declared_length`]): it fails before it would send more, or
    /// when it ends short. Its length is the declared one, as hyper then sends it.
    struct Declared {
        #[pin]
        inner: crate::response::body::Body,
        // What the declared length leaves to send.
        left: u64,
    }
}

impl http_body::Body for Declared {
    type Data = bytes::Bytes;
    type Error = crate::response::body::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        let this = self.project();
        let polled = std::task::ready!(this.inner.poll_frame(cx));
        std::task::Poll::Ready(match polled {
            Some(Ok(frame)) => match frame.data_ref().map(|data| data.len() as u64) {
                Some(length) if length > *this.left => Some(Err(format!(
                    "the response body is longer than its Content-Length ({} bytes more)",
                    length - *this.left
                )
                .into())),
                Some(length) => {
                    *this.left -= length;
                    Some(Ok(frame))
                }
                None => Some(Ok(frame)),
            },
            None if *this.left > 0 => Some(Err(format!(
                "the response body ended {} bytes short of its Content-Length",
                this.left
            )
            .into())),
            other => other,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0 && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
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
