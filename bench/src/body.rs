//! A body wrapper that runs a `request`-scope cleanup once the body has been sent: what the
//! hand-written hyper service and the axum app use for the session that di tears down after
//! the response.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};

use crate::Session;

/// Something to do once a response body is over.
pub trait AfterBody: Send + Unpin + 'static {
    /// Runs the cleanup; `completed` says whether the body reached its end.
    fn after_body(self, completed: bool);
}

/// Closes a session once the body is over: cleanly only if the response was a success and its
/// body reached its end (what di's `request`-scope teardown reports as `is_success()`).
#[derive(Clone, Copy, Debug)]
pub struct SessionEnd {
    /// The session to close.
    pub session: Session,
    /// Whether the response was a success (2xx).
    pub success: bool,
}

impl AfterBody for SessionEnd {
    fn after_body(self, completed: bool) {
        self.session.close(self.success && completed);
    }
}

/// Wraps `B` and runs `C` when `B` ends: right after its last frame (detected with
/// `is_end_stream` after each frame, as hyper stops polling a body with an exact length), at
/// an error, or when the server drops the body early.
#[derive(Debug)]
pub struct OnEnd<B: Body, C: AfterBody> {
    inner: B,
    cleanup: Option<C>,
}

impl<B: Body, C: AfterBody> OnEnd<B, C> {
    /// `body`, then `cleanup`.
    pub fn new(body: B, cleanup: C) -> Self {
        Self {
            inner: body,
            cleanup: Some(cleanup),
        }
    }

    /// `body` with nothing to run after it.
    pub fn plain(body: B) -> Self {
        Self {
            inner: body,
            cleanup: None,
        }
    }

    fn finish(&mut self, completed: bool) {
        if let Some(cleanup) = self.cleanup.take() {
            cleanup.after_body(completed);
        }
    }
}

impl<B: Body + Unpin, C: AfterBody> Body for OnEnd<B, C> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.get_mut();
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if this.inner.is_end_stream() {
                    this.finish(true);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(error)) => {
                this.finish(false);
                Poll::Ready(Some(Err(error)))
            }
            None => {
                this.finish(true);
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Body, C: AfterBody> Drop for OnEnd<B, C> {
    fn drop(&mut self) {
        // Dropped before its end: cut (an empty body that was never polled is complete).
        let completed = self.inner.is_end_stream();
        self.finish(completed);
    }
}
