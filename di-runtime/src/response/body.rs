//! The response [`Body`]: full, empty or streamed, one boxed type.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

/// A boxed error, as carried by bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response type handlers produce: an [`http::Response`] with a [`Body`].
pub type Response<B = Body> = http::Response<B>;

/// A response body: full, empty or streamed.
///
/// A full body (from [`Bytes`], `String`, `Vec<u8>`, ...) is held as it is; only other bodies
/// are boxed.
pub struct Body(Kind);

enum Kind {
    /// The whole body, until it has been sent; then `None`.
    Full(Option<Bytes>),
    /// Any other body.
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
    /// A body that wraps one held whole: a response's body, tracked to its end (see
    /// [`Body::is_whole`]).
    Whole(UnsyncBoxBody<Bytes, BoxError>),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Self(Kind::Full(None))
    }

    /// Wraps any [`http_body::Body`] of [`Bytes`]. A `Body` is kept as it is, not boxed again
    /// (the body of a response a tower layer of the app hands on unchanged).
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let mut body = Some(body);
        if let Some(ours) = (&mut body as &mut dyn std::any::Any).downcast_mut::<Option<Body>>() {
            return ours.take().unwrap_or_default();
        }
        match body {
            Some(body) => Self(Kind::Boxed(body.map_err(Into::into).boxed_unsync())),
            None => Self::empty(),
        }
    }

    /// Whether every byte of the body is in memory (no stream behind it): a server sends it
    /// whole whether or not the client reads it, and the test client reads it at once.
    pub(crate) fn is_whole(&self) -> bool {
        matches!(self.0, Kind::Full(_) | Kind::Whole(_))
    }

    /// The whole body, when it is held whole (not a stream).
    pub(crate) fn into_full(mut self) -> Result<Bytes, Self> {
        match &mut self.0 {
            Kind::Full(bytes) => Ok(bytes.take().unwrap_or_default()),
            _ => Err(self),
        }
    }

    /// The whole body at once.
    fn full(bytes: Bytes) -> Self {
        Self(Kind::Full((!bytes.is_empty()).then_some(bytes)))
    }

    /// A body that sends each item of `stream` as one frame, in order, and fails the response
    /// (the connection is cut) at the first `Err`. With `di`'s server, the items before the
    /// `Err` are sent first: over HTTP/1.1 the client gets them (as far as its socket takes
    /// them at once), then a body cut short (a chunked body without its last chunk; an
    /// HTTP/1.0 client's connection is reset, as its body ends where the connection closes).
    /// Over HTTP/2 the stream is reset (`INTERNAL_ERROR`), and the items before reach the
    /// client only when the connection's task sends them before the reset, which a
    /// multi-threaded runtime does not promise.
    pub fn from_stream<S, D, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<D, E>> + Send + 'static,
        D: Into<Bytes>,
        E: Into<BoxError> + 'static,
    {
        Self::from_boxed_error(Frames {
            stream,
            ended: false,
        })
    }

    /// Wraps a body whose errors are already [`BoxError`]s: boxed as it is, with no layer
    /// to convert them (a layer costs every frame).
    pub(crate) fn from_boxed_error<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes, Error = BoxError> + Send + 'static,
    {
        Self(Kind::Boxed(UnsyncBoxBody::new(body)))
    }

    /// [`Body::from_boxed_error`] for a body that wraps a response's body and gives its frames
    /// on: still [whole](Body::is_whole) if the body it wraps was (`whole`).
    pub(crate) fn wrapping<B>(body: B, whole: bool) -> Self
    where
        B: http_body::Body<Data = Bytes, Error = BoxError> + Send + 'static,
    {
        let body = UnsyncBoxBody::new(body);
        Self(if whole {
            Kind::Whole(body)
        } else {
            Kind::Boxed(body)
        })
    }
}

pin_project_lite::pin_project! {
    /// The frames of a stream of data, each item one frame (see [`Body::from_stream`]).
    ///
    /// Polled again after its end, it ends again, without polling the stream: a layer around
    /// the app may do so (tower-http's compression does), and a stream such as
    /// `stream::unfold` panics if it is polled past its end.
    struct Frames<S> {
        #[pin]
        stream: S,
        ended: bool,
    }
}

impl<S, D, E> http_body::Body for Frames<S>
where
    S: Stream<Item = Result<D, E>>,
    D: Into<Bytes>,
    E: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        let item = std::task::ready!(this.stream.poll_next(cx));
        *this.ended = item.is_none();
        Poll::Ready(item.map(|item| {
            item.map(|data| Frame::data(data.into()))
                .map_err(Into::into)
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("size_hint", &http_body::Body::size_hint(self))
            .finish_non_exhaustive()
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

/// A body's own `Drop` (a user's stream, a tower layer's body) may panic: it is dropped inside
/// a catch, and the panic logged, wherever the body is let go of (a server that sent it, a
/// layer that replaced it), so that the panic never unwinds through a connection's task.
impl Drop for Body {
    fn drop(&mut self) {
        if let Kind::Boxed(_) | Kind::Whole(_) = self.0 {
            let body = std::mem::replace(&mut self.0, Kind::Full(None));
            crate::panic::drop_logged(body, "a response body");
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.0 {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes)))),
            Kind::Boxed(body) | Kind::Whole(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Boxed(body) | Kind::Whole(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Boxed(body) | Kind::Whole(body) => body.size_hint(),
        }
    }
}

macro_rules! body_from {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Body {
            fn from(value: $ty) -> Self {
                Self::full(Bytes::from(value))
            }
        }
    )*};
}
body_from!(Bytes, String, &'static str, Vec<u8>, &'static [u8]);

/// Whether a response of `status` goes without a body whatever the request (1xx, 204, 205,
/// 304): the server sends none, and the OpenAPI document documents none.
pub(crate) fn sends_no_body(status: http::StatusCode) -> bool {
    status.is_informational()
        || status == http::StatusCode::NO_CONTENT
        || status == http::StatusCode::RESET_CONTENT
        || status == http::StatusCode::NOT_MODIFIED
}
