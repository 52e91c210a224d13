//! [`Shutdown`]: the app's graceful shutdown, as a request input, for work that would
//! otherwise hold the shutdown up to the end of its grace period.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use crate::contract::request::{FromRequest, RequestHead};
use crate::response::error::InputError;

/// Whether the app has begun to shut down, and a way to wait for it (Rocket's `Shutdown`).
///
/// Graceful shutdown ([`App::serve`](crate::App::serve) on Ctrl-C or SIGTERM,
/// [`Server::shutdown`](crate::Server::shutdown), [`Running::shutdown`](crate::Running::shutdown))
/// stops accepting and lets what is in flight finish, up to
/// [`App::shutdown_grace`](crate::App::shutdown_grace): a stream that never ends by itself
/// (server-sent events, a long poll) holds the shutdown for the whole grace period and is then
/// cut, its `request`-scope teardowns told `Cancelled(Shutdown)`. Take `Shutdown` to end such
/// work as soon as the shutdown begins instead: the stream ends cleanly (a last event telling
/// the client to reconnect, say), its teardowns see success, and the process exits at once.
///
/// `Shutdown` is cheap to clone and can move into a response body. It is requested once the
/// server stops accepting; [`requested`](Shutdown::requested) resolves then (at once for a
/// request that came after).
///
/// It is the one input an `app`-scoped dependency may take (it is the app's, not a
/// request's): a background task that dependency starts (a pool's reaper, a queue's
/// consumer) can stop as the shutdown begins, while the requests in flight end, instead of
/// at its teardown, which comes after them. A start that ends before the app serves (an
/// `app`-scoped dependency fails to set up, the start is stopped or dropped) requests it too,
/// before it tears down what it set up: a teardown that waits for its worker ends.
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::Shutdown;
/// use std::time::Duration;
///
/// #[depends(scope = "app")]
/// async fn reaper(shutdown: Shutdown, y: Yield<()>) {
///     let worker = tokio::spawn(async move {
///         while !shutdown.is_requested() {
///             tokio::select! {
///                 () = shutdown.requested() => {}
///                 () = tokio::time::sleep(Duration::from_secs(30)) => { /* reap idle connections */ }
///             }
///         }
///     });
///     let _ = y.provide(()).await;
///     let _ = worker.await; // long done: it stopped when the shutdown began
/// }
/// ```
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::{Shutdown, SseEvent};
/// use futures_util::{Stream, StreamExt, stream};
/// use std::convert::Infallible;
/// use std::time::Duration;
///
/// /// An event a second until the server shuts down, then one telling the client to
/// /// reconnect (to another instance) in a second.
/// #[depends]
/// async fn ticks(shutdown: Shutdown) -> StreamBody<impl Stream<Item = Result<SseEvent, Infallible>> + Send> {
///     let ticks = stream::unfold(0u64, |n| async move {
///         tokio::time::sleep(Duration::from_secs(1)).await;
///         Some((SseEvent::data(n.to_string()), n + 1))
///     });
///     let bye = SseEvent::comment("shutting down").retry(Duration::from_secs(1));
///     let events = ticks.take_until(shutdown.requested()).chain(stream::once(async { bye }));
///     StreamBody::new(events.map(Ok)).content_type("text/event-stream")
/// }
/// ```
#[derive(Clone)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    pub(crate) fn new(token: CancellationToken) -> Self {
        Self { token }
    }

    /// Whether the app has begun to shut down.
    pub fn is_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once the app has begun to shut down (at once if it has). The future owns
    /// what it needs (`'static`): it can move into a response body, as in
    /// `stream.take_until(shutdown.requested())`.
    pub fn requested(&self) -> impl Future<Output = ()> + Send + use<> {
        self.token.clone().cancelled_owned()
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("requested", &self.is_requested())
            .finish()
    }
}

impl FromRequest for Shutdown {
    const APP_INPUT: bool = true;

    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(Self::new(Registered::token(head.app)))
    }
}

/// Each running app's shutdown token, by the app's number: a request's head holds only the
/// number, so that no request but one taking [`Shutdown`] touches the token, whose clone and
/// drop lock a mutex shared by every core.
static DRAINING: Mutex<Vec<(u64, CancellationToken)>> = Mutex::new(Vec::new());

/// The last app number given.
static LAST_APP: AtomicU64 = AtomicU64::new(0);

/// An app's shutdown token in [`DRAINING`], under its number, while the app's engine lives.
pub(crate) struct Registered(u64);

impl Registered {
    pub(crate) fn new(draining: &CancellationToken) -> Self {
        let app = LAST_APP.fetch_add(1, Ordering::Relaxed) + 1;
        let mut apps = DRAINING.lock().unwrap_or_else(PoisonError::into_inner);
        apps.push((app, draining.clone()));
        Self(app)
    }

    /// The app's number, for its requests' heads.
    pub(crate) fn app(&self) -> u64 {
        self.0
    }

    /// The shutdown token of the app numbered `app`; one already cancelled if that app is
    /// gone (or `app` is 0: a head made outside an app).
    fn token(app: u64) -> CancellationToken {
        let apps = DRAINING.lock().unwrap_or_else(PoisonError::into_inner);
        match apps.iter().find(|(number, _)| *number == app) {
            Some((_, token)) => token.clone(),
            None => {
                let gone = CancellationToken::new();
                gone.cancel();
                gone
            }
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut apps = DRAINING.lock().unwrap_or_else(PoisonError::into_inner);
        apps.retain(|(app, _)| *app != self.0);
    }
}
