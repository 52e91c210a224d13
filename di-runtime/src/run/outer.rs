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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::contract::outcome::Outcome;
use crate::run::body::AfterBody;

/// The entry point's side: how a request the layers answered in the app's place was
/// cancelled. Dropped unsent, the teardowns owed see the usual reason (client gone, shutdown).
pub(crate) type Verdict = oneshot::Sender<Outcome>;

/// What the app's part of a layered request shares with the entry point.
pub(crate) struct Outer {
    /// Set once the app's part has produced its response (a 404 and a 422 included).
    answered: AtomicBool,
    /// Taken by the request's owed teardowns: how it was cancelled, if it is dropped.
    verdict: Mutex<Option<oneshot::Receiver<Outcome>>>,
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

    /// A layered request's shared state, and the entry point's verdict.
    pub(crate) fn new() -> (Verdict, Arc<Self>) {
        let (verdict, decided) = oneshot::channel();
        let outer = Self {
            answered: AtomicBool::new(false),
            verdict: Mutex::new(Some(decided)),
            after: Mutex::new(None),
        };
        (verdict, Arc::new(outer))
    }

    /// The app's part produced its response.
    pub(crate) fn mark_answered(&self) {
        self.answered.store(true, Ordering::Release);
    }

    /// Whether the app's part produced its response; if not, a layer answered in its place.
    pub(crate) fn answered(&self) -> bool {
        self.answered.load(Ordering::Acquire)
    }

    /// The entry point's verdict, for the request's owed teardowns (once).
    pub(crate) fn take_verdict(&self) -> Option<oneshot::Receiver<Outcome>> {
        self.verdict.lock().take()
    }

    /// Hands the response's `request`-scope work to the entry point.
    pub(crate) fn defer(&self, after: AfterBody) {
        if let Some(earlier) = self.after.lock().replace(after) {
            earlier.abandon();
        }
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
