//! [`IntoResponse`]: what handlers return, turned into a [`Response`]; the JSON error body
//! of [`HttpError`] and the generic 500.

use std::borrow::Cow;

use bytes::Bytes;
use http::StatusCode;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, TRANSFER_ENCODING};
use serde::Serialize;

use crate::response::body::{Body, BoxError, Response};
use crate::response::check::checked_framing;
use crate::response::error::{HttpError, own_status};

/// Turns a value into an HTTP response.
///
/// Implemented for text (`&'static str`, `String`, `Cow<'static, str>`), bytes (`Vec<u8>`,
/// [`Bytes`], `&'static [u8]`, `&'static [u8; N]`: `application/octet-stream`),
/// [`Json`](crate::Json),
/// [`Html`](crate::Html), [`Redirect`](crate::Redirect), [`StatusCode`], `(StatusCode, T)`,
/// headers beside a response (`(headers, T)`, `(StatusCode, headers, T)`: see
/// [`ResponseHeaders`](crate::ResponseHeaders)), [`http::Response`],
/// [`HttpError`](crate::HttpError), a boxed error ([`BoxError`]: a 500),
/// [`StreamBody`](crate::StreamBody), `()` and `Result<T, E>` where both are responses. An `Err` is reported to
/// teardowns as [`Outcome::HandlerError`](crate::Outcome::HandlerError).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be turned into an HTTP response",
    label = "a handler must return a response",
    note = "return a type that implements `di_runtime::IntoResponse`: `String`, `Json<T>`, `Html<T>`, `Redirect`, `StatusCode`, `(StatusCode, T)`, `[(name, value); N]`, `([(name, value); N], T)`, `(StatusCode, [(name, value); N], T)`, `HttpError`, `StreamBody<S>`, `Result<T, E>` of those, or implement it for `{Self}`"
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
        // A `Content-Length` of the handler's own must say what the body holds.
        match checked_framing(Response::from_parts(parts, body)) {
            Ok(response) => response,
            Err(invalid) => made_wrong(invalid),
        }
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

/// Bytes that live for the program (a file embedded with `include_bytes!`, whose
/// `&'static [u8; N]` is a response too).
impl IntoResponse for &'static [u8] {
    fn into_response(self) -> Response {
        Bytes::from_static(self).into_response()
    }
}

impl<const N: usize> IntoResponse for &'static [u8; N] {
    fn into_response(self) -> Response {
        Bytes::from_static(self).into_response()
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        with_status(self.1.into_response(), self.0)
    }
}

/// `response` with `status`, unless it is the generic 500 of a handler's mistake in making it
/// (a header that is not one, a redirect to a location with a control character): that 500
/// stays, as it does without a status beside it. Any other response takes the status, an
/// error's included (`(StatusCode::BAD_GATEWAY, HttpError::from(error))`, the status an app
/// chose beside the generic error that keeps its cause for the log), as in axum.
pub(crate) fn with_status(mut response: Response, status: StatusCode) -> Response {
    if response.status() == StatusCode::INTERNAL_SERVER_ERROR && is_made_wrong(&response) {
        return response;
    }
    *response.status_mut() = status;
    response
}

/// Whether `response` is the 500 of a response made wrong ([`made_wrong`]), or of a body that
/// could not be serialized (`(StatusCode::CREATED, Json(v))` of a map whose keys are not
/// strings: a 201 saying "Internal Server Error" would tell the client it went well).
#[cold]
fn is_made_wrong(response: &Response) -> bool {
    response.extensions().get::<Unserializable>().is_some()
        || response.extensions().get::<MadeWrong>().is_some()
}

/// The generic 500 of a response its handler made wrong (a header that is not one, a
/// redirect to a location with a line break, a `Content-Length` that cannot be its body's),
/// `reason` its source for the log: a status beside it does not replace it ([`with_status`]).
#[cold]
pub(crate) fn made_wrong(reason: impl std::error::Error + Send + Sync + 'static) -> Response {
    let mut response = HttpError::internal_from(reason).into_response();
    response.extensions_mut().insert(MadeWrong);
    response
}

/// Marks the 500 of [`made_wrong`].
#[derive(Clone, Copy, Debug)]
struct MadeWrong;

/// A boxed error (`Box<dyn Error + Send + Sync>`, what `?` makes of any error into a
/// [`BoxError`]) is a 500 with the error as its source, as any `std::error::Error` is (std has
/// no `Error` impl for the box, so it has no `Into<HttpError>`): the client sees the generic
/// detail, the log and the teardowns the error. A boxed [`BodyError`](crate::BodyError) keeps
/// its status, as it does converted into an [`HttpError`].
impl IntoResponse for BoxError {
    #[cold]
    fn into_response(self) -> Response {
        match own_status(&*self) {
            Some(error) => error,
            None => HttpError::internal_from_boxed(self),
        }
        .into_response()
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

/// The [`HttpError`] that the response an error type made ([`IntoResponse`] of a `Result`'s
/// error) becomes: its status, headers and exact body, the body as text its detail; an
/// `HttpError`'s response is that error again, with the status and the headers the error
/// type gave it beside the error's own (a `WWW-Authenticate`, a `Retry-After`). A body of
/// another type than ours (axum's, a `String` in an `http::Response<String>`) is read if it
/// is all there at once; a body that is a stream still to come cannot be kept in an error:
/// it is a logged generic 500.
pub(crate) fn error_from_response(response: Response) -> HttpError {
    let (mut parts, body) = response.into_parts();
    if let Some(ErrorMark(Some(error))) = parts.extensions.remove() {
        return answered_as(error, parts.status, &parts.headers);
    }
    // The generic 500 of a body that could not be serialized: serde's reason kept as its
    // source, for the line that logs the error with the request's id.
    if let Some(unserializable) = parts.extensions.remove::<Unserializable>() {
        return HttpError::internal_from(unserializable);
    }
    let bytes = match body.into_full() {
        Ok(bytes) => Some(bytes),
        Err(body) => ready_body(body),
    };
    match bytes {
        Some(bytes) => {
            // Its own length and framing are set again when it is sent.
            parts.headers.remove(CONTENT_LENGTH);
            parts.headers.remove(TRANSFER_ENCODING);
            HttpError::raw(parts.status, parts.headers, bytes)
        }
        // Kept as the source, logged with the request's id where the error is (the setup's,
        // the handler's or the teardown's line).
        None => HttpError::internal_from(StreamedError(parts.status)),
    }
}

/// Why an error type's response (of this status) was answered with a generic 500: its body is
/// a stream still to come, which an error cannot hold.
#[derive(Debug)]
struct StreamedError(StatusCode);

impl std::fmt::Display for StreamedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "an error's response ({}) has a streamed body, which an error cannot hold; answered a generic 500",
            self.0.as_u16()
        )
    }
}

impl std::error::Error for StreamedError {}

/// `error` as the response made of it was answered: an error type's `IntoResponse` that
/// builds on an [`HttpError`] (`([(WWW_AUTHENTICATE, ..)], HttpError::new(..))`, or a header
/// set on its response) gives it another status or headers of its own, which are the
/// answer's too.
#[cold]
fn answered_as(mut error: HttpError, status: StatusCode, headers: &http::HeaderMap) -> HttpError {
    let own = error.clone().into_response();
    if status == own.status() && headers == own.headers() {
        return error;
    }
    error.set_status(status);
    // The headers as the error type left them (a value it replaced replaces the error's own);
    // the content type only if it is not the one the error's body is sent with anyway.
    let mut kept = headers.clone();
    kept.remove(CONTENT_LENGTH);
    kept.remove(TRANSFER_ENCODING);
    if kept.get(CONTENT_TYPE) == own.headers().get(CONTENT_TYPE) {
        kept.remove(CONTENT_TYPE);
    }
    error.set_headers(kept);
    error
}

/// The whole of `body` if it is there without waiting (a body of another type than ours that
/// holds all its bytes), else `None`.
#[cold]
fn ready_body(body: Body) -> Option<Bytes> {
    use futures_util::FutureExt as _;
    use http_body_util::BodyExt as _;

    match body.collect().now_or_never() {
        Some(Ok(collected)) => Some(collected.to_bytes()),
        Some(Err(_)) | None => None,
    }
}

/// The [`HttpError`] that the response an error type's axum `IntoResponse` impl made becomes
/// (cargo feature `axum`), as [`error_from_response`] makes one of ours.
#[cfg(feature = "axum")]
pub(crate) fn error_from_axum_response(response: axum_core::response::Response) -> HttpError {
    error_from_response(response.into_response())
}

/// Marks a response as a handler error so that teardowns see [`Outcome::HandlerError`].
///
/// [`Outcome::HandlerError`]: crate::Outcome::HandlerError
#[derive(Clone, Debug)]
pub(crate) struct ErrorMark(pub(crate) Option<HttpError>);

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            detail: &'a serde_json::Value,
        }
        let mut response = match self.body_bytes() {
            Some(bytes) => {
                let mut response = Response::new(crate::response::body::Body::from(bytes));
                *response.status_mut() = self.status();
                // An answer made elsewhere has the content type it was given, or none: the
                // empty body of a `StatusCode` or a `Redirect` is not JSON.
                if !self.foreign_body() {
                    response
                        .headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                response
            }
            None => json_response(
                self.status(),
                &Body {
                    detail: self.detail(),
                },
            ),
        };
        for (name, value) in self.headers() {
            // The body is the error's own: its length and framing are the server's. One given
            // with the error would be sent as it is beside a body hyper frames by its own
            // length (a client that trusts it would read the next response as this one's rest).
            if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
                continue;
            }
            // A content type of its own (an axum rejection's text) replaces JSON's.
            if name == CONTENT_TYPE {
                response.headers_mut().insert(name, value.clone());
            } else {
                response.headers_mut().append(name, value.clone());
            }
        }
        response.extensions_mut().insert(ErrorMark(Some(self)));
        response
    }
}

/// Serializes `value` as a JSON response; a value that cannot be serialized becomes a logged
/// generic 500 rather than a panic.
pub(crate) fn json_response<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match to_json(value) {
        Ok(bytes) => {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(error) => {
            // Logged by whoever has the request's context (the request's id): the runtime
            // logs every handler response that carries this mark.
            let mut response = internal_error_response();
            response
                .extensions_mut()
                .insert(Unserializable(error.to_string()));
            response
        }
    }
}

/// A JSON body up to this size is copied out of the thread's buffer at its exact size; a
/// larger one takes the buffer with it.
const COPIED_UP_TO: usize = 4096;

thread_local! {
    /// Where a thread serializes its JSON responses (see [`to_json`]).
    static JSON_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `value` as JSON, in one allocation of its exact size for a small body. Serialized into a
/// new `Vec` instead, the body would cost two: the `Vec`, which grows past the length, and the
/// shared header `Bytes` adds to a `Vec` with spare room. A body over [`COPIED_UP_TO`] is not
/// copied: it takes the buffer, and the thread starts a new one. A thread without its buffer
/// (being destroyed, or serializing inside a `Serialize` impl) uses a new `Vec`.
fn to_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Bytes> {
    let pooled = JSON_BUFFER.try_with(|buffer| {
        let mut buffer = buffer.try_borrow_mut().ok()?;
        // What a failed or panicking serialization left is not kept past the next one.
        if buffer.capacity() > 2 * COPIED_UP_TO {
            *buffer = Vec::new();
        }
        buffer.clear();
        Some(match serde_json::to_writer(&mut *buffer, value) {
            Ok(()) if buffer.len() <= COPIED_UP_TO => Ok(Bytes::copy_from_slice(&buffer)),
            Ok(()) => Ok(Bytes::from(std::mem::take(&mut *buffer))),
            Err(error) => Err(error),
        })
    });
    match pooled {
        Ok(Some(json)) => json,
        _ => serde_json::to_vec(value).map(Bytes::from),
    }
}

/// Marks the generic 500 of a value that could not be serialized, with serde's error, for
/// the log line.
#[derive(Clone, Debug)]
pub(crate) struct Unserializable(pub(crate) String);

impl std::fmt::Display for Unserializable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the response could not be serialized as JSON: {}",
            self.0
        )
    }
}

impl std::error::Error for Unserializable {}

/// The generic 500 sent for panics and internal failures: no message, no `Debug` output.
pub(crate) fn internal_error_response() -> Response {
    let mut response = Response::new(Body::from(&br#"{"detail":"Internal Server Error"}"#[..]));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

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

    /// Serializes, as part of its own serialization, another value as a JSON response: the
    /// thread's buffer is in use then.
    struct Nested(&'static str);

    impl Serialize for Nested {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let inner = to_json(&[self.0]).map_err(serde::ser::Error::custom)?;
            serializer.serialize_str(std::str::from_utf8(&inner).unwrap_or("not UTF-8"))
        }
    }

    /// Fails once `at` bytes have been written, as a value whose `Serialize` fails half-way.
    struct FailsAfter(usize);

    impl Serialize for FailsAfter {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            let mut seq = serializer.serialize_seq(None)?;
            for _ in 0..self.0 / 2 {
                seq.serialize_element(&0u8)?;
            }
            Err(serde::ser::Error::custom("no more"))
        }
    }

    #[tokio::test]
    async fn json_bodies_of_every_size_are_what_serde_json_writes_one_after_the_other() {
        let small = serde_json::json!({"items": [1, 2, 3], "user": 21});
        let large: Vec<u32> = (0..3000).collect();
        let exactly: String = "x".repeat(COPIED_UP_TO - 2);
        for _ in 0..2 {
            for (value, expected) in [
                (
                    json_response(StatusCode::OK, &small),
                    serde_json::to_string(&small),
                ),
                (
                    json_response(StatusCode::OK, &large),
                    serde_json::to_string(&large),
                ),
                (
                    json_response(StatusCode::OK, &small),
                    serde_json::to_string(&small),
                ),
                (
                    json_response(StatusCode::OK, &exactly),
                    serde_json::to_string(&exactly),
                ),
                (
                    json_response(StatusCode::CREATED, &Nested("in")),
                    Ok(r#""[\"in\"]""#.into()),
                ),
            ] {
                assert_eq!(text(value).await, expected.unwrap());
            }
        }
        assert!(serde_json::to_string(&large).unwrap().len() > COPIED_UP_TO);
        assert_eq!(serde_json::to_string(&exactly).unwrap().len(), COPIED_UP_TO);
    }

    #[tokio::test]
    async fn a_value_whose_serialization_fails_is_a_500_and_leaves_no_trace_in_the_next_body() {
        for at in [10, 3 * COPIED_UP_TO] {
            let failed = json_response(StatusCode::OK, &FailsAfter(at));
            assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert!(failed.extensions().get::<Unserializable>().is_some());
            let next = json_response(StatusCode::OK, &[1, 2]);
            assert_eq!(text(next).await, "[1,2]");
        }
        // What the failed serialization grew is not kept past the next one.
        let kept = JSON_BUFFER.with(|buffer| buffer.borrow().capacity());
        assert!(kept <= 2 * COPIED_UP_TO, "{kept}");
    }
}
