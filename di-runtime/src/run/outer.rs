//! A request served inside tower layers: what the app's part of it (routing, setup, the
//! handler) shares with the app's entry point, outside every layer.
//!
//! A layer may drop the app's part before it answers (a timeout) and answer itself. The
//! teardowns owed then cannot tell from the drop alone whether the client went away or the
//! layer gave up, so they wait for the entry point's [`Verdict`]: sent when the layered
//! service answered in the app's place, or dropped (the client went away) when the entry
//! point's future is dropped. And the `request`-scope work of a response runs after the body
//! the client gets, outside every layer (a compressed body, not the handler's own), so it is
//! handed to the entry point rather than wrapped around the handler's body.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};

use futures_util::FutureExt;
use futures_util::future::Shared;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::contract::outcome::{CancelReason, Outcome};
use crate::response::body::{Body, BoxError};
use crate::run::body::AfterBody;

/// The entry point's side: how a request the layers answered in the app's place was
/// cancelled. Dropped unsent, the teardowns owed see the usual reason (client gone, shutdown).
pub(crate) type Verdict = oneshot::Sender<Outcome>;

/// What the app's part of a layered request shares with the entry point.
pub(crate) struct Outer {
    /// Set once the layers have handed the request to its route, or to a mounted service:
    /// from then on the route keeps the request timeout itself.
    routed: AtomicBool,
    /// Set once the app's part has produced its response (a 404 and a 422 included).
    answered: AtomicBool,
    /// How many responses of the app's part handed their `request`-scope work over (more
    /// than one when a layer called the app again): the last is the one that counts.
    deferred: AtomicU64,
    /// The number (in `deferred`) of the last response whose body was dropped before its end
    /// (see [`AppBody`]), 0 for none: a layer threw that response away.
    discarded: AtomicU64,
    /// How the calls of the app's part dropped before their answer end (see
    /// [`Outer::abandon`]).
    dropped: Mutex<Dropped>,
    /// Set when a call of the app's part is dropped, until the app's part is called again.
    dropped_since: AtomicBool,
    /// The response's `request`-scope work, until the entry point puts it around the body
    /// the client gets.
    after: Mutex<Option<AfterBody>>,
}

/// The shared state of a layered request, in its extensions. Weak, so that the request's
/// head, which the `request`-scope work may hold, never keeps it alive: once the entry
/// point's future is dropped, it is gone, and the request ends as if it had no layers.
#[derive(Clone)]
pub(crate) struct OuterRef(pub(crate) Weak<Outer>);

impl Outer {
    /// The shared state of the request whose head is `parts`, if it is served inside tower
    /// layers and its entry point is still there (a look in an empty map otherwise).
    #[inline]
    pub(crate) fn of(parts: &http::request::Parts) -> Option<Arc<Outer>> {
        parts.extensions.get::<OuterRef>()?.0.upgrade()
    }

    /// Whether the request with `extensions` was sent here by another `di` app's routing
    /// (`App::nest_service`, `App::fallback_service`): an app mounted in another counts its
    /// responses in its own [`Metrics`](crate::Metrics), and leaves them out of the `metrics`
    /// export, where the app it is mounted in counts what leaves it (as the client gets it),
    /// so that each request is exported once. A look in an empty map for most requests.
    #[inline]
    pub(crate) fn mounted(extensions: &http::Extensions) -> bool {
        extensions.get::<OuterRef>().is_some()
    }

    /// A layered request's shared state, and the entry point's verdict.
    pub(crate) fn new() -> (Verdict, Arc<Self>) {
        let (verdict, decided) = oneshot::channel();
        let outer = Self {
            routed: AtomicBool::new(false),
            answered: AtomicBool::new(false),
            deferred: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            dropped: Mutex::new(Dropped {
                receiver: Some(decided),
                shared: None,
                again: None,
            }),
            dropped_since: AtomicBool::new(false),
            after: Mutex::new(None),
        };
        (verdict, Arc::new(outer))
    }

    /// The layers handed the request to its route or to a mounted service.
    pub(crate) fn mark_routed(&self) {
        self.routed.store(true, Ordering::Release);
    }

    /// Whether the layers handed the request on (see [`Outer::mark_routed`]).
    pub(crate) fn routed(&self) -> bool {
        self.routed.load(Ordering::Acquire)
    }

    /// The app's part produced its response.
    pub(crate) fn mark_answered(&self) {
        self.answered.store(true, Ordering::Release);
    }

    /// Whether the app's part produced its response; if not, a layer answered in its place.
    pub(crate) fn answered(&self) -> bool {
        self.answered.load(Ordering::Acquire)
    }

    /// Whether a layer dropped the body of the app's response before its end: what the
    /// client gets is not the app's response.
    pub(crate) fn discarded(&self) -> bool {
        let last = self.deferred.load(Ordering::Acquire);
        last != 0 && self.discarded.load(Ordering::Acquire) == last
    }

    /// A call of the app's part was dropped before its answer: how it was cancelled, for its
    /// owed teardowns (see [`Abandoned::outcome`]).
    pub(crate) fn abandon(&self) -> Abandoned {
        let mut guard = self.dropped.lock();
        let dropped = &mut *guard;
        // Shared from the first call dropped: each dropped call waits for it.
        if let Some(receiver) = dropped.receiver.take() {
            dropped.shared = Some(receiver.shared());
        }
        let verdict = dropped.shared.clone();
        let again = dropped
            .again
            .get_or_insert_with(CancellationToken::new)
            .clone();
        self.dropped_since.store(true, Ordering::Release);
        Abandoned { verdict, again }
    }

    /// The app's part is called: if calls of it were dropped since it was last called, a
    /// layer gave them up (a retry), and they are decided (see [`Abandoned::outcome`]). A
    /// call dropped later waits for its own verdict.
    pub(crate) fn called(&self) {
        if self.dropped_since.swap(false, Ordering::AcqRel)
            && let Some(again) = self.dropped.lock().again.take()
        {
            again.cancel();
        }
    }

    /// Hands the response's `request`-scope work to the entry point; the response's number,
    /// for its [`AppBody`].
    pub(crate) fn defer(&self, after: AfterBody) -> u64 {
        let mut slot = self.after.lock();
        let number = self.deferred.fetch_add(1, Ordering::AcqRel) + 1;
        let earlier = slot.replace(after);
        drop(slot);
        // The app was called again (a retry layer): the earlier answer is not what the
        // client gets, a layer answered in its place (the client is still there).
        if let Some(earlier) = earlier {
            earlier.end(Outcome::Cancelled(CancelReason::Timeout));
        }
        number
    }

    /// The response's `request`-scope work, for the entry point to put around the body.
    pub(crate) fn take_after(&self) -> Option<AfterBody> {
        self.after.lock().take()
    }
}

impl Drop for Outer {
    fn drop(&mut self) {
        // The entry point never took it: its future was dropped (the client went away).
        if let Some(after) = self.after.get_mut().take() {
            after.abandon();
        }
    }
}

/// What the calls of the app's part dropped before their answer wait for (see
/// [`Outer::abandon`]).
struct Dropped {
    /// The entry point's verdict, until a call is dropped...
    receiver: Option<oneshot::Receiver<Outcome>>,
    /// ...then shared by every dropped call.
    shared: Option<Shared<oneshot::Receiver<Outcome>>>,
    /// Cancelled when the app's part is called again after the calls dropped since its last
    /// call (made for the first of them).
    again: Option<CancellationToken>,
}

/// How a call of the app's part that was dropped before its answer was cancelled (see
/// [`Outer::abandon`]).
pub(crate) struct Abandoned {
    verdict: Option<Shared<oneshot::Receiver<Outcome>>>,
    again: CancellationToken,
}

impl Abandoned {
    /// What the entry point decided the request ended with (a layer's timeout, a layer's
    /// panic), or `Cancelled(Timeout)` as soon as the app's part is called again: a layer gave
    /// the dropped call up (a retry layer's per-attempt timeout), and what that call holds (a
    /// transaction's lock, a pool's connection) must not wait for the retry's answer, which
    /// may need it. `None` when the entry point's future was dropped (the client went away,
    /// or the server stopped it).
    pub(crate) async fn outcome(self) -> Option<Outcome> {
        let verdict = self.verdict?;
        tokio::select! {
            biased;
            verdict = verdict => verdict.ok(),
            () = self.again.cancelled() => Some(Outcome::Cancelled(CancelReason::Timeout)),
        }
    }
}

/// The body of the app's response inside tower layers, when `request`-scope work waits for
/// the body the client gets: tells the entry point if a layer dropped it before its end (a
/// timeout outside a layer still at work, a layer that answers its own response instead),
/// so that the teardowns are not told the app's response was sent.
pub(crate) struct AppBody {
    inner: Body,
    outer: Weak<Outer>,
    /// Its response's number (see [`Outer::defer`]).
    number: u64,
    /// Bytes still to come when the length is known exactly.
    remaining: Option<u64>,
    ended: bool,
}

impl AppBody {
    /// `body`, of a response with `parts`; `bodiless` when no body is sent for it (HEAD, 204,
    /// 304), so that dropping it unread is its end.
    pub(crate) fn new(
        body: Body,
        parts: &http::response::Parts,
        bodiless: bool,
        outer: &Arc<Outer>,
        number: u64,
    ) -> Self {
        let remaining = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .or_else(|| body.size_hint().exact());
        let ended = bodiless || remaining == Some(0) || body.is_end_stream();
        Self {
            inner: body,
            outer: Arc::downgrade(outer),
            number,
            remaining,
            ended,
        }
    }
}

impl http_body::Body for AppBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(remaining), Some(data)) = (this.remaining.as_mut(), frame.data_ref()) {
                    *remaining = remaining.saturating_sub(data.len() as u64);
                }
                if this.remaining == Some(0) || this.inner.is_end_stream() {
                    this.ended = true;
                }
            }
            // An error is an end: the body failed, and its teardowns hear of it from the body
            // the client gets.
            Poll::Ready(_) => this.ended = true,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for AppBody {
    fn drop(&mut self) {
        if !self.ended
            && let Some(outer) = self.outer.upgrade()
        {
            outer.discarded.store(self.number, Ordering::Release);
        }
    }
}
