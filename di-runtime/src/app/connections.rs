//! The server's open connections: each one's task, whether it is idle (no request in
//! progress), the connection limit, closing the connection idle the longest to make room
//! for a new one, and closing a connection idle for the keep-alive timeout.
//!
//! A connection is in use from the moment hyper hands it a request until the response body
//! has been sent or dropped ([`InUse`]); otherwise it is idle: a kept-alive HTTP/1 connection
//! between requests (or one that has not sent its first head yet), an HTTP/2 connection with
//! no stream open. Closing one is hyper's graceful shutdown: an idle connection closes at once,
//! one that a request raced into finishes that request first.
//!
//! The keep-alive timeout costs nothing per request: each connection has one timer, armed
//! when it is accepted and moved only when it fires. Then the connection is closed if it has
//! been idle for the whole timeout (from [`Shared::idle_since`], which each request already
//! updates when it ends); otherwise the timer is moved to when that would be.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use hyper_util::server::graceful::GracefulConnection;
use tokio::sync::Notify;
use tokio::task::{Id, JoinSet};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// What the accept loop and a connection's requests share about that connection.
struct Shared {
    /// Requests in progress on it.
    in_use: AtomicUsize,
    /// When it last became idle, in milliseconds since the server started.
    idle_since: AtomicU64,
    /// Cancelled to close it gracefully (it is idle, and a new connection waits).
    close: CancellationToken,
    server: Arc<ServerShared>,
}

/// What every connection shares with the accept loop.
struct ServerShared {
    epoch: Instant,
    /// Set while a new connection waits for room: then a connection that becomes idle says so.
    waiting: AtomicBool,
    became_idle: Notify,
    /// How long a connection may stay idle before it is closed.
    keep_alive: Duration,
}

impl ServerShared {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

impl Shared {
    /// When the connection may next be closed for being idle: `None` if it is due now.
    fn idle_deadline(&self) -> Option<Instant> {
        let server = &self.server;
        let now = Instant::now();
        if self.in_use.load(Ordering::SeqCst) > 0 {
            // Not before it has become idle, at the earliest now, and then been idle for
            // the whole timeout.
            return Some(now + server.keep_alive);
        }
        let since = server.epoch + Duration::from_millis(self.idle_since.load(Ordering::SeqCst));
        let deadline = since + server.keep_alive;
        (deadline > now).then_some(deadline)
    }
}

/// The open connections of a server, each in a task of its own.
pub(crate) struct Connections {
    limit: usize,
    open: HashMap<Id, Arc<Shared>>,
    tasks: JoinSet<()>,
    /// Cancelled at shutdown: every connection closes gracefully.
    shutdown: CancellationToken,
    server: Arc<ServerShared>,
}

impl Connections {
    /// Connections served at once at most `limit`, each closed once idle for `keep_alive`.
    pub(crate) fn new(limit: usize, keep_alive: Duration) -> Self {
        Self {
            limit: limit.max(1),
            open: HashMap::new(),
            tasks: JoinSet::new(),
            shutdown: CancellationToken::new(),
            server: Arc::new(ServerShared {
                epoch: Instant::now(),
                waiting: AtomicBool::new(false),
                became_idle: Notify::new(),
                keep_alive,
            }),
        }
    }

    /// Whether the limit is reached.
    pub(crate) fn full(&self) -> bool {
        self.tasks.len() >= self.limit
    }

    /// A new connection's handle: wrap its service with [`Slot::service`] and its hyper
    /// connection with [`Slot::closable`], then [`spawn`](Connections::spawn) it.
    pub(crate) fn slot(&self) -> Slot {
        Slot(Arc::new(Shared {
            in_use: AtomicUsize::new(0),
            idle_since: AtomicU64::new(self.server.now()),
            close: self.shutdown.child_token(),
            server: self.server.clone(),
        }))
    }

    /// Runs a connection (made from `slot`) in its own task.
    pub(crate) fn spawn(&mut self, slot: Slot, task: impl Future<Output = ()> + Send + 'static) {
        let id = self.tasks.spawn(task).id();
        self.open.insert(id, slot.0);
    }

    /// Waits until a connection's task has ended; pending forever when none is open.
    pub(crate) async fn ended(&mut self) {
        match self.tasks.join_next_with_id().await {
            Some(Ok((id, ()))) => {
                self.open.remove(&id);
            }
            Some(Err(error)) => {
                if error.is_panic() {
                    tracing::error!(target: "di", "a connection task panicked");
                }
                self.open.remove(&error.id());
            }
            None => std::future::pending().await,
        }
    }

    /// A connection waits for room (`true`) or no longer does. While one waits, the idle
    /// connection idle the longest is closed, now or as soon as one becomes idle.
    pub(crate) fn set_waiting(&self, waiting: bool) {
        self.server.waiting.store(waiting, Ordering::SeqCst);
        if waiting {
            self.close_longest_idle();
        }
    }

    /// What says that a connection has become idle while one waits for room.
    pub(crate) fn idle_signal(&self) -> IdleSignal {
        IdleSignal(self.server.clone())
    }

    /// Closes the connection idle the longest, unless one is closing already (its room goes to
    /// the one waiting).
    pub(crate) fn close_longest_idle(&self) {
        if self.open.values().any(|shared| shared.close.is_cancelled()) {
            return;
        }
        let longest = self
            .open
            .values()
            .filter(|shared| shared.in_use.load(Ordering::SeqCst) == 0)
            .min_by_key(|shared| shared.idle_since.load(Ordering::SeqCst));
        if let Some(shared) = longest {
            tracing::debug!(target: "di", "connection limit reached: closing an idle connection");
            shared.close.cancel();
        }
    }

    /// Closes every connection gracefully, then waits until each has ended.
    pub(crate) async fn drain(&mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
        self.open.clear();
    }

    /// Ends every connection's task where it stands.
    pub(crate) async fn abort(&mut self) {
        self.tasks.shutdown().await;
        self.open.clear();
    }
}

/// See [`Connections::idle_signal`].
pub(crate) struct IdleSignal(Arc<ServerShared>);

impl IdleSignal {
    /// Completes when a connection has become idle while one waits for room (or did so since
    /// the last call).
    pub(crate) async fn wait(&self) {
        self.0.became_idle.notified().await;
    }
}

/// One connection's share of [`Connections`].
pub(crate) struct Slot(Arc<Shared>);

impl Slot {
    /// `service`, counting the requests in progress on this connection.
    pub(crate) fn service<S>(&self, service: S) -> Counted<S> {
        Counted {
            inner: service,
            shared: self.0.clone(),
        }
    }

    /// `connection`, closed gracefully when the server shuts down, when the connection is
    /// chosen to make room, or when it has been idle for the keep-alive timeout.
    pub(crate) fn closable<C: GracefulConnection>(&self, connection: C) -> Closable<C> {
        Closable {
            connection,
            close: self.0.close.clone().cancelled_owned(),
            closing: false,
            idle: tokio::time::sleep(self.0.server.keep_alive),
            idle_armed: false,
            shared: self.0.clone(),
        }
    }
}

/// A request in progress on a connection, until dropped.
struct InUse(Arc<Shared>);

impl InUse {
    fn new(shared: &Arc<Shared>) -> Self {
        shared.in_use.fetch_add(1, Ordering::SeqCst);
        Self(shared.clone())
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        let shared = &self.0;
        shared
            .idle_since
            .store(shared.server.now(), Ordering::SeqCst);
        if shared.in_use.fetch_sub(1, Ordering::SeqCst) == 1
            && shared.server.waiting.load(Ordering::SeqCst)
        {
            shared.server.became_idle.notify_one();
        }
    }
}

/// A connection's service that counts its requests in progress.
#[derive(Clone)]
pub(crate) struct Counted<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, B> hyper::service::Service<http::Request<hyper::body::Incoming>> for Counted<S>
where
    S: hyper::service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<B>,
            Error = Infallible,
        >,
{
    type Response = http::Response<CountedBody<B>>;
    type Error = Infallible;
    type Future = CountedFuture<S::Future>;

    fn call(&self, request: http::Request<hyper::body::Incoming>) -> Self::Future {
        CountedFuture {
            inner: self.inner.call(request),
            in_use: Some(InUse::new(&self.shared)),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of a [`Counted`] service: the request is in use until its body
    /// is done.
    pub(crate) struct CountedFuture<F> {
        #[pin]
        inner: F,
        in_use: Option<InUse>,
    }
}

impl<F, B> Future for CountedFuture<F>
where
    F: Future<Output = Result<http::Response<B>, Infallible>>,
{
    type Output = Result<http::Response<CountedBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx))?;
        let in_use = this.in_use.take();
        Poll::Ready(Ok(response.map(|body| CountedBody {
            inner: body,
            _in_use: in_use,
        })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its connection in use until it is dropped.
    pub(crate) struct CountedBody<B> {
        #[pin]
        inner: B,
        _in_use: Option<InUse>,
    }
}

impl<B: Body> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project_lite::pin_project! {
    /// A hyper connection that shuts down gracefully when its token is cancelled: by the
    /// server's shutdown, to make room for a new connection, or by its own keep-alive timer.
    pub(crate) struct Closable<C> {
        #[pin]
        connection: C,
        #[pin]
        close: WaitForCancellationFutureOwned,
        closing: bool,
        // The keep-alive timer: when it fires, the connection is closed if it has been idle
        // since, or the timer moved to when it could be.
        #[pin]
        idle: Sleep,
        // Whether `idle` has been polled since it was made or moved, and so will wake the task.
        idle_armed: bool,
        shared: Arc<Shared>,
    }
}

impl<C: GracefulConnection> Future for Closable<C> {
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // The timer is polled only when it was not yet, or has fired (an atomic load): the
        // connection's other polls, one or more per request, do not touch it.
        if !*this.closing && (!*this.idle_armed || this.idle.is_elapsed()) {
            *this.idle_armed = true;
            while this.idle.as_mut().poll(cx).is_ready() {
                match this.shared.idle_deadline() {
                    Some(deadline) => this.idle.as_mut().reset(deadline),
                    None => {
                        tracing::debug!(target: "di", "keep-alive timeout: closing an idle connection");
                        this.shared.close.cancel();
                        break;
                    }
                }
            }
        }
        if !*this.closing && this.close.as_mut().poll(cx).is_ready() {
            *this.closing = true;
            this.connection.as_mut().graceful_shutdown();
        }
        this.connection.poll(cx)
    }
}
