//! What a handler says of its response that the response must bear out: a header that is a
//! header ([`InvalidHeader`]), a `Content-Length` that is its body's length, and a
//! `Transfer-Encoding` that applies `chunked` once, last ([`checked_framing`]). Used by
//! [`headers`](super::headers) and [`into`](super::into), and for every response that leaves
//! an app's tower layers (a layer's or a mounted service's included: `app::layer`).

use std::fmt;

use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue, TRANSFER_ENCODING};

use crate::response::body::{Body, BoxError, Response};

/// The headers of a message's framing and of its connection, which the server writes for the
/// body it sends (and HTTP/2 forbids the connection's in a response): a request id cannot be
/// carried in one (`App::request_id_header`), nor is one set with `SetHeaders` sent.
pub(crate) const FRAMING_HEADERS: [&str; 8] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
];

/// A header given beside a response whose name or value is not a valid header.
#[derive(Debug)]
pub struct InvalidHeader {
    /// The header's name, when the name was valid and its value was not.
    pub(crate) name: Option<HeaderName>,
    pub(crate) reason: String,
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

/// `response` as a handler (or a tower layer, or a mounted service) made it, the framing it
/// gave checked: a `Transfer-Encoding` (see [`transfer_coding`]) and a `Content-Length`
/// against its body (see [`declared_length`]).
pub(crate) fn checked_framing(mut response: Response) -> Result<Response, InvalidHeader> {
    if response.headers().contains_key(TRANSFER_ENCODING) {
        response = transfer_coding(response)?;
    }
    if response.headers().contains_key(CONTENT_LENGTH) {
        declared_length(response)
    } else {
        Ok(response)
    }
}

/// A response whose handler gave it a `Transfer-Encoding`. The body's framing is the server's
/// (chunked or by its length over HTTP/1.1, by the connection's close over HTTP/1.0, by frames
/// over HTTP/2), and hyper's HTTP/1.1 wrote the handler's values as they were, with `, chunked`
/// after each that did not end in `chunked`, and after the `Connection` header that came next:
/// `chunked, chunked` for two values (chunked applied twice, which RFC 9112 7 forbids),
/// `chunked, gzip, chunked` for a coding after `chunked`, `connection: close, chunked`.
///
/// So the codings it names are read (every value, comma-separated, in order): `chunked`, which
/// is the server's to apply, is left out of them, once or wherever it was; none left (`chunked`
/// however written) and the header is dropped, the server framing the body as it would have;
/// any other (`gzip`: the coding is the handler's, or the layer's, to have applied, as
/// before) is sent in one value with `chunked` once after it, which hyper then writes as it
/// is. Each is logged at DEBUG. Beside a `Content-Length` (RFC 9112 6.2: never both), or not
/// text, it is the handler's mistake, as an invalid header is: a generic 500, the reason
/// logged.
#[cold]
#[inline(never)]
fn transfer_coding(mut response: Response) -> Result<Response, InvalidHeader> {
    // RFC 9112 6.2: no `Content-Length` beside a `Transfer-Encoding` (hyper's HTTP/1.1 refuses
    // such a head: the client got nothing, its HTTP/1.0 and HTTP/2 sent it).
    if response.headers().contains_key(CONTENT_LENGTH) {
        return Err(InvalidHeader {
            name: Some(CONTENT_LENGTH),
            reason: "given beside a `Transfer-Encoding`; give one of them".to_owned(),
        });
    }
    let mut codings = Vec::new();
    for value in response.headers().get_all(TRANSFER_ENCODING) {
        let text = value.to_str().map_err(|_| InvalidHeader {
            name: Some(TRANSFER_ENCODING),
            reason: "is not text".to_owned(),
        })?;
        codings.extend(
            text.split(',')
                .map(str::trim)
                .filter(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("chunked")),
        );
    }
    if codings.is_empty() {
        tracing::debug!(target: "di", "dropped the response's own `Transfer-Encoding: chunked`: the server frames the body itself");
        response.headers_mut().remove(TRANSFER_ENCODING);
        return Ok(response);
    }
    let value = format!("{}, chunked", codings.join(", "));
    tracing::debug!(target: "di", transfer_encoding = %value, "sent the response's own transfer codings, chunked once after them");
    // Made of parts of valid values, a comma and a space: a valid value.
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(TRANSFER_ENCODING, value);
    }
    Ok(response)
}

/// A response whose handler gave it a `Content-Length`. hyper sends that value as it is, and a
/// body of known length whatever the value says (in a debug build it panics instead): a value
/// that contradicts the body would have the client (a proxy that keeps its connections) read
/// the next response on the connection as the rest of this body, or the rest of this body as
/// the next response.
///
/// A value that is not one length (two, or not a number), a length of zero for a body that is
/// not empty, or a length beside a `Transfer-Encoding`, is the handler's mistake, as an
/// invalid header is: a generic 500, the reason logged. One that differs from the length of a
/// body known in advance is kept, and the body held to it ([`Declared`]): the response fails as
/// a body shorter or longer than its `Content-Length` does (its `request`-scope teardowns see
/// `BodyError`, the HTTP/1 connection is closed, the HTTP/2 stream reset), and a `HEAD` gets
/// the length (the answer to a `HEAD` written by hand: an empty body with the length of what a
/// `GET` would send). A streamed body is held to the declared length as it is sent (the same
/// [`Declared`]: it fails before it would send more, or when it ends short), and a value that
/// is not one length is the same 500 for it; a stream declared empty is not asked for
/// anything, as hyper does.
#[cold]
#[inline(never)]
fn declared_length(response: Response) -> Result<Response, InvalidHeader> {
    use http_body::Body as _;
    // A `Transfer-Encoding` beside it was refused, or dropped, by `transfer_coding`.
    // Known in advance, or `None` for a stream.
    let exact = response.body().size_hint().exact();
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
    match (length, exact) {
        (Some(length), Some(exact)) if length == exact => Ok(response),
        // A stream declared empty: hyper asks it for nothing, as the handler said.
        (Some(0), None) => Ok(response),
        // Zero for a body of known length that is not empty: hyper would not ask the body for
        // anything, and drop it unsent (below).
        (Some(length), exact) if length > 0 => {
            // An empty body is the answer to a `HEAD`, or a 304, which declares the length of
            // what a `GET` would send and is sent as it is: one that fails after all (sent to
            // a `GET`) is logged where it does.
            if let Some(exact) = exact.filter(|exact| *exact > 0) {
                tracing::warn!(target: "di", declared = length, body = exact, "the response's Content-Length differs from its body's length: the response fails where they part");
            }
            let (parts, body) = response.into_parts();
            Ok(Response::from_parts(
                parts,
                Body::new(Declared {
                    inner: body,
                    left: length,
                }),
            ))
        }
        _ => {
            let given: Vec<&str> = response
                .headers()
                .get_all(CONTENT_LENGTH)
                .iter()
                .map(|value| value.to_str().unwrap_or("(not text)"))
                .collect();
            let body = match exact {
                Some(exact) => format!("a body of {exact} bytes"),
                None => "a streamed body".to_owned(),
            };
            Err(InvalidHeader {
                name: Some(CONTENT_LENGTH),
                reason: format!(
                    "{} for {body}; give one length",
                    match given.as_slice() {
                        [one] => format!("{one:?}"),
                        many => format!("{} values ({})", many.len(), many.join(", ")),
                    }
                ),
            })
        }
    }
}

/// `body` held to `length`, the `Content-Length` it is sent with (see [`Declared`]): it fails
/// before it would send more, or when it ends short.
pub(crate) fn held_to_length(body: Body, length: u64) -> Body {
    Body::new(Declared {
        inner: body,
        left: length,
    })
}

pin_project_lite::pin_project! {
    /// A body held to the `Content-Length` its handler declared, which its length known in
    /// advance contradicts, or which a stream must bear out as it is sent (see
    /// [`declared_length`]): it fails before it would send more, or when it ends short. Its
    /// length is the declared one, as hyper then sends it.
    struct Declared {
        #[pin]
        inner: Body,
        // What the declared length leaves to send.
        left: u64,
    }
}

impl http_body::Body for Declared {
    type Data = bytes::Bytes;
    type Error = BoxError;

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

    /// Ended once its length is sent: asked for nothing more (as hyper's HTTP/1 does not ask
    /// it), so that over HTTP/2 a stream kept open after its declared length does not hold its
    /// own open until it ends.
    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }
}
