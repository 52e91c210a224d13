//! [`StreamBody`]: a response streamed from a [`Stream`], which may own `request`-scoped values.

use bytes::Bytes;
use futures_util::Stream;
use http::header::{CONTENT_TYPE, HeaderValue};

use crate::response::body::{Body, BoxError, Response};
use crate::response::into::IntoResponse;

/// A streamed response body built from a [`Stream`] of `Result<impl Into<Bytes>, E>`.
///
/// The stream may own `request`-scoped values through [`Held`](crate::Held) or
/// [`HeldMut`](crate::HeldMut): they stay alive until the stream's last item has been sent or
/// the server drops the body, and only then are they torn down.
///
/// The server sends the items that are ready together in one chunk (up to 16 KiB), and an
/// item that is ready alone at once: a stream of many short lines costs a few writes, not
/// one per line. In process (the test client, the app as a `tower::Service`) each item is
/// one frame of the body.
///
/// It is sent with `Content-Type: application/octet-stream` unless it is given another
/// ([`StreamBody::content_type`], or a `content-type` header beside it, which replaces it, or
/// the handler's `#[depends(content_type = "..")]`), as the OpenAPI document says of it.
///
/// ```
/// use di_runtime::StreamBody;
/// use futures_util::stream;
///
/// let lines = stream::iter(["a\n", "b\n"].map(Ok::<_, std::io::Error>));
/// let body = StreamBody::new(lines).content_type("application/x-ndjson");
/// # let _ = body;
/// ```
pub struct StreamBody<S> {
    stream: S,
    content_type: Option<HeaderValue>,
}

impl<S> StreamBody<S> {
    /// A `200 OK` response streaming the items of `stream`.
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            content_type: None,
        }
    }

    /// Sets the `Content-Type` header (`application/octet-stream` without it). An invalid
    /// header value is ignored (and logged): the body is then sent as
    /// `application/octet-stream`.
    #[must_use]
    pub fn content_type(mut self, value: &str) -> Self {
        match HeaderValue::from_str(value) {
            Ok(value) => self.content_type = Some(value),
            Err(_) => tracing::warn!(target: "di", value, "ignored an invalid content type"),
        }
        self
    }
}

impl<S, D, E> IntoResponse for StreamBody<S>
where
    S: Stream<Item = Result<D, E>> + Send + 'static,
    D: Into<Bytes>,
    E: Into<BoxError> + 'static,
{
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from_stream(self.stream));
        // Sent with the type the document gives it: without one, a client (a browser) sniffs
        // the bytes, and one made from the document meets a response without the type it was
        // told.
        let content_type = self
            .content_type
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        response.headers_mut().insert(CONTENT_TYPE, content_type);
        response
    }
}
