//! A request body read as a stream: the frames the runtime hands to a streaming input
//! ([`BodyFrames`]), each a chunk or the [`BodyError`] a read can end with (defined with the
//! errors that become responses, `response/error.rs`).
//!
//! The runtime (`run/request.rs`) wraps the connection's body in the app's limit, deadline and
//! minimum rate and maps their errors to [`BodyError`] before it boxes the body here, so the
//! inputs above (`input/stream.rs`, `input/multipart.rs`) never see a transport type.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;

use crate::response::error::BodyError;

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
