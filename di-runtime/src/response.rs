//! Responses: the [`Body`] type, [`IntoResponse`] and streaming bodies.

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use serde::Serialize;

use crate::error::ErrorMark;

/// A boxed error, as carried by bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response type handlers produce: an [`http::Response`] with a [`Body`].
pub type Response<B = Body> = http::Response<B>;

/// A response body: full, empty or streamed.
pub struct Body(UnsyncBoxBody<Bytes, BoxError>);

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Self::new(http_body_util::Empty::new())
    }

    /// Wraps any [`http_body::Body`] of [`Bytes`].
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self(body.map_err(Into::into).boxed_unsync())
    }

    /// A body that sends each item of `stream` as one frame, in order, and fails the response
    /// (the connection is cut) at the first `Err`.
    pub fn from_stream<S, D, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<D, E>> + Send + 'static,
        D: Into<Bytes>,
        E: Into<BoxError> + 'static,
    {
        let frames = stream
            .map_ok(|data| Frame::data(data.into()))
            .map_err(Into::into);
        Self::new(http_body_util::StreamBody::new(frames))
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("size_hint", &http_body::Body::size_hint(&self.0))
            .finish_non_exhaustive()
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

macro_rules! body_from {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Body {
            fn from(value: $ty) -> Self {
                Self::new(http_body_util::Full::new(Bytes::from(value)))
            }
        }
    )*};
}
body_from!(Bytes, String, &'static str, Vec<u8>, &'static [u8]);

/// Turns a value into an HTTP response.
///
/// Implemented for text (`&'static str`, `String`), bytes, [`Json`](crate::Json),
/// [`StatusCode`], `(StatusCode, T)`, [`http::Response`], [`HttpError`](crate::HttpError),
/// [`StreamBody`], `()` and `Result<T, E>` where both are responses. An `Err` is reported to
/// teardowns as [`Outcome::HandlerError`](crate::Outcome::HandlerError).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be turned into an HTTP response",
    label = "a handler must return a response",
    note = "return a type that implements `di_runtime::IntoResponse`: `String`, `Json<T>`, `StatusCode`, `(StatusCode, T)`, `HttpError`, `StreamBody<S>`, `Result<T, E>` of those, or implement it for `{Self}`"
)]
pub trait IntoResponse {
    /// Builds the response.
    fn into_response(self) -> Response;
}

/// Any `http::Response` whose body yields [`Bytes`]: `Response<Body>` as it is, others boxed
/// into a [`Body`] (for example `Response<String>` or a `Response` with a body from another
/// crate).
impl<B> IntoResponse for http::Response<B>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn into_response(self) -> Response {
        let (parts, body) = self.into_parts();
        let mut body = Some(body);
        // Already our body type: do not box it a second time.
        let body = match (&mut body as &mut dyn std::any::Any).downcast_mut::<Option<Body>>() {
            Some(ours) => ours.take().unwrap_or_default(),
            None => body.map(Body::new).unwrap_or_default(),
        };
        Response::from_parts(parts, body)
    }
}

impl IntoResponse for Body {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(Body::empty())
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = self;
        response
    }
}

fn text_response(body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        text_response(self.into())
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        text_response(self.into())
    }
}

impl IntoResponse for Cow<'static, str> {
    fn into_response(self) -> Response {
        match self {
            Cow::Borrowed(s) => s.into_response(),
            Cow::Owned(s) => s.into_response(),
        }
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self));
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        response
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Bytes::from(self).into_response()
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        *response.status_mut() = self.0;
        response
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(value) => value.into_response(),
            Err(error) => {
                let mut response = error.into_response();
                if response.extensions().get::<ErrorMark>().is_none() {
                    response.extensions_mut().insert(ErrorMark(None));
                }
                response
            }
        }
    }
}

/// Serializes `value` as a JSON response; a value that cannot be serialized becomes a logged
/// generic 500 rather than a panic.
pub(crate) fn json_response<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(error) => {
            tracing::error!(target: "di", %error, "response could not be serialized as JSON");
            internal_error_response()
        }
    }
}

/// The generic 500 sent for panics and internal failures: no message, no `Debug` output.
pub(crate) fn internal_error_response() -> Response {
    let mut response = Response::new(Body::from(&br#"{"detail":"Internal Server Error"}"#[..]));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A streamed response body built from a [`Stream`] of `Result<impl Into<Bytes>, E>`.
///
/// The stream may own `request`-scoped values through [`Held`](crate::Held) or
/// [`HeldMut`](crate::HeldMut): they stay alive until the stream's last item has been sent or
/// the server drops the body, and only then are they torn down.
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

    /// Sets the `Content-Type` header. An invalid header value is ignored (and logged).
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
        if let Some(content_type) = self.content_type {
            response.headers_mut().insert(CONTENT_TYPE, content_type);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(response: Response) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn any_http_response_with_a_bytes_body_is_a_response() {
        let plain = http::Response::new(String::from("from a String body"));
        assert_eq!(text(plain.into_response()).await, "from a String body");

        let full = http::Response::builder()
            .status(StatusCode::ACCEPTED)
            .body(http_body_util::Full::new(Bytes::from_static(b"full")))
            .unwrap()
            .into_response();
        assert_eq!(full.status(), StatusCode::ACCEPTED);
        assert_eq!(text(full).await, "full");

        let ours = Response::new(Body::from("ours")).into_response();
        assert_eq!(text(ours).await, "ours");
    }
}
