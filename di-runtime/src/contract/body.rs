//! A request body read as a stream: the frames the runtime hands to a streaming input
//! ([`BodyFrames`]), and the error a read can end with ([`BodyError`]).
//!
//! The runtime (`run/request.rs`) wraps the connection's body in the app's limit, deadline and
//! minimum rate and maps their errors to [`BodyError`] before it boxes the body here, so the
//! inputs above (`input/stream.rs`, `input/multipart.rs`) never see a transport type.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderValue, StatusCode};

use crate::response::error::HttpError;

/// The request body's chunks as the runtime hands them to a streaming input.
pub(crate) type BodyFrames = Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send>>;

/// The unread body of a request whose route streams it, in the request's extensions until a
/// streaming input takes it (shared, as extensions must be `Clone`; only one taker gets it).
#[derive(Clone)]
pub(crate) struct Unread(Arc<parking_lot::Mutex<Option<BodyFrames>>>);

impl Unread {
    pub(crate) fn new(frames: BodyFrames) -> Self {
        Self(Arc::new(parking_lot::Mutex::new(Some(frames))))
    }

    /// Takes the body, if no one took it yet.
    pub(crate) fn take(&self) -> Option<BodyFrames> {
        self.0.lock().take()
    }
}

impl fmt::Debug for Unread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unread = self.0.try_lock().is_some_and(|frames| frames.is_some());
        f.debug_struct("Unread").field("unread", &unread).finish()
    }
}

/// Why a request body read as a stream ([`BodyStream`](crate::BodyStream),
/// [`Multipart`](crate::Multipart)) could not be read to its end.
///
/// It converts into the [`HttpError`] the runtime answers when it reads a whole body itself,
/// so a handler returns it with `?` and the client gets the same status: 413 past the app's
/// body limit, 408 when the body arrives too slowly, 400 when it breaks off. The teardowns of
/// the request then see that error as the outcome.
///
/// It is deliberately not a `std::error::Error`: every such error converts into a 500
/// `HttpError` with `?`, and this one must keep its own status.
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::BodyStream;
/// use futures_util::StreamExt;
///
/// #[depends]
/// async fn count(mut body: BodyStream) -> Result<String, HttpError> {
///     let mut bytes = 0;
///     while let Some(chunk) = body.next().await {
///         bytes += chunk?.len(); // a `BodyError` becomes its 413, 408 or 400
///     }
///     Ok(bytes.to_string())
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// The body is larger than the app's body limit ([`App::body_limit`](crate::App::body_limit)): 413.
    TooLarge,
    /// The body did not arrive within the app's body deadline, or arrived slower than its
    /// minimum rate: 408 (the connection is closed).
    TimedOut,
    /// The body broke off before its end (the client went away, or sent a malformed chunked
    /// encoding): 400. When the client went away, the request's teardowns are told
    /// [`Cancelled`](crate::Outcome::Cancelled)`(`[`ClientGone`](crate::CancelReason::ClientGone)`)`,
    /// whatever the handler answered.
    Incomplete,
}

impl BodyError {
    /// The status the client is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TimedOut => StatusCode::REQUEST_TIMEOUT,
            BodyError::Incomplete => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BodyError::TooLarge => "Request body too large",
            BodyError::TimedOut => "Request body timed out",
            BodyError::Incomplete => "Could not read the request body",
        })
    }
}

impl From<BodyError> for HttpError {
    /// The response the runtime gives when it reads a whole body and meets the same problem.
    fn from(error: BodyError) -> Self {
        let http = HttpError::new(error.status(), error.to_string());
        match error {
            // The rest of the body is not read: an HTTP/1 connection cannot be reused.
            BodyError::TimedOut => {
                http.with_header(http::header::CONNECTION, HeaderValue::from_static("close"))
            }
            _ => http,
        }
    }
}
