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
//!
//! The same timer wakes hyper's HTTP/1 header-read deadline ([`HeadTimer`]): hyper starts one
//! for every request head, and with tokio's timer each would be a timer entry registered,
//! under the time driver's lock that every worker shares, while the connection waits for its
//! next request, and removed again when the head arrives. Here a head's deadline is only
//! noted; the connection's timer is moved to it only when it is earlier than when the timer
//! fires anyway, and hyper's sleep reads the clock when it is polled.
//! Before hyper's HTTP/1 has started (hyper first reads enough of a new connection to tell
//! HTTP/1 from HTTP/2) the same timer stands in for its deadline: a new connection that has
//! not sent that much by the header-read timeout is dropped.
//!
//! It also enforces the send timeout (`App::send_timeout`). An HTTP/1 response is timed on the
//! connection ([`Shared::stalled_since`]): it is the only one in progress. An HTTP/2 stream is
//! timed on its own ([`StreamStall`]), since the connection's other streams go on while its
//! window stays shut: each is registered with its connection when hyper hands it over, linked to
//! the task hyper runs it in (`StreamTasks` in the server, through [`take_new_stream`]), and
//! cut alone, its task aborted: h2 resets the stream, and dropping its response hands its
//! teardowns over, the client gone.
//!
//! And it bounds a graceful close: a response is over once hyper has taken its last frame, but
//! hyper (or h2) may still hold part of it for a client that does not read, and its graceful
//! shutdown waits for that to be sent. A connection closing after it was served is cut when
//! nothing is in progress on it and, over HTTP/1, its socket ([`Watched`]) has taken nothing for
//! `send_timeout`; over HTTP/2, where pings and their answers go on while the client takes no
//! data (and a peer that never answers the `GOAWAY` ping would hold the close for the whole
//! shutdown grace), a second after its last stream ended, as a connection never handed a
//! request is, unless its socket took more than control frames in that second: then h2 is
//! still getting a response's rest to the client, and it is timed as an HTTP/1 connection is,
//! each `send_timeout` needing more than control frames.

use std::cell::Cell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use hyper::rt::Sleep as HyperSleep;

use http_body::{Body, Frame, SizeHint};
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::{AbortHandle, Id, JoinSet};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::app::gather::{self, Gathered};
use crate::response::body::BoxError;
use crate::response::body::sends_no_body;
use crate::run::body::HeadWatch;

/// What the accept loop and a connection's requests share about that connection.
struct Shared {
    /// Requests in progress on it.
    in_use: AtomicUsize,
    /// Its HTTP/2 streams whose response is still alive (held by the task hyper runs the
    /// stream in, which may go on after the connection has ended; see [`AndItsStreams`]).
    streams_alive: AtomicUsize,
    /// Woken when the last of them ends.
    streams_ended: AtomicWaker,
    /// Whether hyper has handed it a request yet: a connection that never did (it has sent
    /// nothing, or part of its first head) is dropped when it is closed, not waited for.
    served: AtomicBool,
    /// When it last became idle, in milliseconds since the server started.
    idle_since: AtomicU64,
    /// The deadline of the header-read sleep hyper made last (see [`HeadTimer`]), in
    /// milliseconds since the server started, rounded up; [`NO_DEADLINE`] once [`Closable`]
    /// has taken it.
    head_deadline: AtomicU64,
    /// When a request that has just started on an idle connection is first looked at for a
    /// response its client stopped taking (`send_timeout` after it started), set only when
    /// `send_timeout` is shorter than the idle timeout: the connection's timer, due at the end
    /// of the idle timeout, fires by then. [`NO_DEADLINE`] once [`Closable`] has taken it.
    check_by: AtomicU64,
    /// Since when a frame of an HTTP/1 response body, handed to the connection, waits for hyper
    /// to ask for the next (the client reads nothing), in milliseconds since the server
    /// started; [`NO_DEADLINE`] when none waits. See [`Closable`] and `App::send_timeout`.
    stalled_since: AtomicU64,
    /// Its HTTP/2 streams with a response in progress, each timed on its own; those whose
    /// response has ended are dropped from it when the timer looks, or when it is full.
    streams: Mutex<Vec<Arc<StreamStall>>>,
    /// How many bytes its socket has taken so far ([`Watched`]; written by the connection's own
    /// task only): while it closes, whether hyper (or h2) is still getting what it holds to the
    /// client.
    written: AtomicU64,
    /// How many bytes its socket has given so far, counted up to [`PREFACE_BYTES`] only
    /// ([`Watched`]; written by the connection's own task only): whether the server could yet
    /// tell which protocol it speaks (see [`Closable`]'s `first_by`).
    received: AtomicU64,
    /// Whether it speaks HTTP/2 (set with its first stream).
    http2: AtomicBool,
    /// Whether its socket is to be reset when it closes, not closed cleanly: a close-delimited
    /// (HTTP/1.0) response body is in progress (from its head until it has reached its end) or
    /// failed, and a clean close would pass for its end. Set for the whole body, not only when
    /// it fails: a connection dropped with the body unfinished (cut at the end of the shutdown
    /// grace, or by the send timeout, while hyper is not polling the body) fails nothing
    /// first.
    reset_on_close: AtomicBool,
    /// Cancelled to close it gracefully (it is idle, and a new connection waits); see
    /// [`Shared::ask_close`].
    close: CancellationToken,
    /// Set before `close` is cancelled by this connection's own asking (not by the server's
    /// shutdown, see [`ServerShared::shutting_down`]): [`Closable`] loads it before it polls
    /// `close`, which takes a lock.
    close_asked: AtomicBool,
    /// Set before it is asked to close to make room for a new connection (see
    /// [`Connections::close_longest_idle`]): one never served is then given its first moment
    /// (see [`Closable`]'s `shutdown_deferred`).
    for_room: AtomicBool,
    /// Whether its socket is still open: its task may go on after it closed, running the
    /// `request`-scope teardowns of its last responses (see [`Live`]).
    socket_open: AtomicBool,
    /// Whether it is closing with nothing in progress yet did not end: hyper still holds part
    /// of a response its client has not taken, and waits (up to `send_timeout`) to flush it.
    /// Such a close makes no room soon (see [`Connections::close_longest_idle`]).
    lingering: AtomicBool,
    /// Its socket, while hyper's connection holds it ([`Watched`], which takes it out when
    /// hyper drops it): hyper reads and writes it through this lock, and [`Closable`] peeks at
    /// it for a client gone that hyper does not look for (see [`client_gone`]). Locked by the
    /// connection's own task only, one lock at a time: never contended.
    socket: parking_lot::Mutex<Option<TcpStream>>,
    /// Whether hyper has read the end of the client's input (or an error) itself ([`Watched`];
    /// written by the connection's own task only): from then on hyper acts on it by its own
    /// rules (a body cut short fails, and the handler's answer is still written), and
    /// [`client_gone`] does not look.
    read_closed: AtomicBool,
    /// Whether [`client_gone`]'s last peek found bytes queued in the socket and hyper has read
    /// nothing since ([`Watched`]; the connection's own task only): a peek would find the same
    /// bytes again (a syscall for nothing on every poll while hyper reads nothing, as while a
    /// streamed response goes on with a pipelined request queued). Set or not, the socket's
    /// pending error behind queued bytes is asked only at the timer's looks: asked at every
    /// poll that found bytes, it was a `getsockopt` per read of an upload hyper reads on demand.
    queued: AtomicBool,
    /// Whether the send timeout has cut its HTTP/1 response in progress: the response's
    /// [`InUse`], dropped with the connection, says so with its request id.
    send_cut: AtomicBool,
    /// The id of its HTTP/1 response in progress, when the send timeout may cut that response
    /// (see [`InUse::note_id`]). Here rather than in the [`InUse`], which every response's
    /// body carries and hyper moves a few times: a larger one cost every request.
    cut_id: parking_lot::Mutex<Option<http::HeaderValue>>,
    server: Arc<ServerShared>,
}

/// What every connection shares with the accept loop.
struct ServerShared {
    epoch: Instant,
    /// Set before the server's shutdown token, the parent of every connection's `close`, is
    /// cancelled (see [`Shared::close_asked`]).
    shutting_down: AtomicBool,
    /// Set while a new connection waits for room: then a connection that becomes idle says so.
    waiting: AtomicBool,
    became_idle: Notify,
    /// Connections whose socket is open: what `max_connections` counts (see [`Live`]).
    live: AtomicUsize,
    /// Says that a connection's socket has closed (see [`Live`]).
    freed: Notify,
    /// Sockets closing in stages (see [`close_in_stages`]), counted no more in `live`: at
    /// most `max_connections` at once, a socket past them closed at once as before.
    lingering: AtomicUsize,
    /// `max_connections`: the most sockets [`close_in_stages`] keeps at once.
    linger_limit: usize,
    /// How long a connection may stay idle before it is closed, in milliseconds.
    keep_alive: u64,
    /// How long a response frame may wait for the client to take it, in milliseconds.
    send_timeout: u64,
    /// How long a new connection may take to send enough for the server to tell its protocol
    /// (`App::header_read_timeout`), in milliseconds.
    header_read_timeout: u64,
    /// The header a response carries its request's id in (`App::request_id_header`): read off
    /// a response the send timeout may cut, for the line that says it was cut.
    request_id_header: Option<http::HeaderName>,
}

/// No deadline (see [`Shared::head_deadline`], [`Closable`]).
const NO_DEADLINE: u64 = u64::MAX;

/// How long a connection asked to close with nothing in progress may take to end (a head half
/// sent, an HTTP/2 peer that does not answer its `GOAWAY` ping), in milliseconds; and how long
/// after its last response ended it is left to flush that response's last frame.
const UNSERVED_CLOSE_MS: u64 = 1_000;

/// How many bytes a closing HTTP/2 connection's socket must take for it to count as still
/// sending a response: more than its control frames (a `PING` answer is 17 bytes, a `GOAWAY`
/// 17 and more), which go on while the client takes no data.
const DATA_PROGRESS: u64 = 1024;

/// How many bytes a new connection must send before the server knows its protocol: the length
/// of the HTTP/2 preface, which hyper reads (or the bytes before one that differs from it)
/// before it hands the connection to HTTP/1 or HTTP/2.
const PREFACE_BYTES: u64 = 24;

impl ServerShared {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// `at` in milliseconds since the server started, rounded up: a timer set to it fires
    /// no earlier than `at`.
    fn millis_after(&self, at: std::time::Instant) -> u64 {
        let since = Instant::from_std(at).saturating_duration_since(self.epoch);
        let rounded_up =
            since.as_millis() + u128::from(!since.subsec_nanos().is_multiple_of(1_000_000));
        u64::try_from(rounded_up).unwrap_or(NO_DEADLINE - 1)
    }

    /// The instant `millis` milliseconds after the server started (never `NO_DEADLINE`: the
    /// app's time limits are capped where they are set, so no deadline here overflows).
    fn instant(&self, millis: u64) -> Instant {
        self.epoch + Duration::from_millis(millis)
    }
}

/// One HTTP/2 stream's send timeout: what [`Shared::stalled_since`] is to an HTTP/1 connection.
struct StreamStall {
    /// Since when its response waits for the client (its head sent with a body to come, or a
    /// frame of its body, the last included, handed over); [`NO_DEADLINE`] when none waits.
    stalled_since: AtomicU64,
    /// The task hyper runs the stream in, to cut it.
    task: OnceLock<AbortHandle>,
    /// Whether the send timeout has cut it: its response's [`InUse`], dropped as its task is
    /// aborted, says so with its request id.
    cut: AtomicBool,
    /// The id its response carries, when it has a body (see [`InUse::note_id`]).
    request_id: OnceLock<http::HeaderValue>,
}

/// What [`take_new_stream`] takes.
pub(crate) struct NewStream(Arc<StreamStall>);

impl NewStream {
    /// Links the stream to `task`, where hyper runs it: it is aborted if the stream's client
    /// takes nothing of its response for `send_timeout`.
    pub(crate) fn run_in(self, task: AbortHandle) {
        let _ = self.0.task.set(task);
    }
}

thread_local! {
    /// The HTTP/2 stream whose request the connection has just handed to the service, until
    /// hyper hands it to its executor: hyper makes a stream's task from `service.call(request)`
    /// and spawns it right away, on the same thread.
    static NEW_STREAM: Cell<Option<Arc<StreamStall>>> = const { Cell::new(None) };
}

/// The HTTP/2 stream a connection has just made the service's future for, on this thread: for
/// hyper's executor, which is about to spawn its task (see [`NewStream::run_in`]).
pub(crate) fn take_new_stream() -> Option<NewStream> {
    NEW_STREAM.take().map(NewStream)
}

impl Shared {
    /// Asks the connection to close gracefully (see [`Shared::close_asked`]).
    fn ask_close(&self) {
        // Sequentially consistent, as its load in `InUse::new`: see `close_longest_idle`.
        self.close_asked.store(true, Ordering::SeqCst);
        self.close.cancel();
    }

    /// Registers a new HTTP/2 stream, and leaves it for [`take_new_stream`] (out of line: the
    /// HTTP/1 request path does not carry it).
    #[cold]
    fn new_stream(&self) -> Arc<StreamStall> {
        self.http2.store(true, Ordering::Relaxed);
        let stream = Arc::new(StreamStall {
            stalled_since: AtomicU64::new(NO_DEADLINE),
            task: OnceLock::new(),
            cut: AtomicBool::new(false),
            request_id: OnceLock::new(),
        });
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        // Those whose response has ended are held by nothing else (amortized: pruned only
        // once the vector is full).
        if streams.len() == streams.capacity() {
            streams.retain(|stream| Arc::strong_count(stream) > 1);
        }
        streams.push(stream.clone());
        drop(streams);
        NEW_STREAM.set(Some(stream.clone()));
        stream
    }

    /// Cuts each HTTP/2 stream whose client has taken nothing of its response for the send
    /// timeout (aborts its task), and forgets those whose response has ended.
    fn cut_stalled_streams(&self, now: u64) {
        let send_timeout = self.server.send_timeout;
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        streams.retain(|stream| {
            if Arc::strong_count(stream) == 1 {
                return false;
            }
            let stalled = stream.stalled_since.load(Ordering::Relaxed);
            if stalled == NO_DEADLINE || now.saturating_sub(stalled) < send_timeout {
                return true;
            }
            // Said by its response's `InUse`, with the request's id, as the task is aborted.
            stream.cut.store(true, Ordering::Relaxed);
            if let Some(task) = stream.task.get() {
                task.abort();
            }
            false
        });
    }

    /// When the connection may next be closed for being idle, in milliseconds since the
    /// server started: `None` if it is due now.
    fn idle_deadline(&self) -> Option<u64> {
        let server = &self.server;
        let now = server.now();
        if self.in_use.load(Ordering::SeqCst) > 0 {
            // Not before it has become idle, at the earliest now, and then been idle for
            // the whole timeout (a millisecond at least: the timer is not moved to now); and
            // looked at again by then for a response its client stopped taking.
            let next = server.keep_alive.min(server.send_timeout).max(1);
            return Some(now.saturating_add(next));
        }
        let deadline = self
            .idle_since
            .load(Ordering::SeqCst)
            .saturating_add(server.keep_alive);
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
    /// Connections served at once at most `limit`, each closed once idle for `keep_alive`, or
    /// cut once its client has taken nothing of a response for `send_timeout`, or has not
    /// sent enough to tell its protocol within `header_read_timeout`.
    pub(crate) fn new(
        limit: usize,
        keep_alive: Duration,
        send_timeout: Duration,
        header_read_timeout: Duration,
        request_id_header: Option<http::HeaderName>,
    ) -> Self {
        Self {
            limit: limit.max(1),
            open: HashMap::new(),
            tasks: JoinSet::new(),
            shutdown: CancellationToken::new(),
            server: Arc::new(ServerShared {
                epoch: Instant::now(),
                shutting_down: AtomicBool::new(false),
                waiting: AtomicBool::new(false),
                became_idle: Notify::new(),
                live: AtomicUsize::new(0),
                freed: Notify::new(),
                lingering: AtomicUsize::new(0),
                linger_limit: limit.max(1),
                keep_alive: u64::try_from(keep_alive.as_millis()).unwrap_or(NO_DEADLINE),
                send_timeout: u64::try_from(send_timeout.as_millis()).unwrap_or(NO_DEADLINE),
                header_read_timeout: u64::try_from(header_read_timeout.as_millis())
                    .unwrap_or(NO_DEADLINE),
                request_id_header,
            }),
        }
    }

    /// Whether the limit is reached: connections whose socket is open, not the tasks of those
    /// that have closed and still run their last responses' teardowns.
    pub(crate) fn full(&self) -> bool {
        self.server.live.load(Ordering::SeqCst) >= self.limit
    }

    /// A new connection's handle: wrap its service with [`Slot::service`] and its hyper
    /// connection with [`Slot::closable`], then [`spawn`](Connections::spawn) it.
    pub(crate) fn slot(&self) -> Slot {
        Slot(Arc::new(Shared {
            in_use: AtomicUsize::new(0),
            streams_alive: AtomicUsize::new(0),
            streams_ended: AtomicWaker::new(),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(self.server.now()),
            head_deadline: AtomicU64::new(NO_DEADLINE),
            check_by: AtomicU64::new(NO_DEADLINE),
            stalled_since: AtomicU64::new(NO_DEADLINE),
            written: AtomicU64::new(0),
            received: AtomicU64::new(0),
            http2: AtomicBool::new(false),
            reset_on_close: AtomicBool::new(false),
            streams: Mutex::new(Vec::new()),
            close: self.shutdown.child_token(),
            close_asked: AtomicBool::new(false),
            for_room: AtomicBool::new(false),
            socket_open: AtomicBool::new(true),
            lingering: AtomicBool::new(false),
            socket: parking_lot::Mutex::new(None),
            read_closed: AtomicBool::new(false),
            queued: AtomicBool::new(false),
            send_cut: AtomicBool::new(false),
            cut_id: parking_lot::Mutex::new(None),
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

    /// What says that a connection's socket has closed (its task may go on, see [`Live`]).
    pub(crate) fn freed_signal(&self) -> FreedSignal {
        FreedSignal(self.server.clone())
    }

    /// Closes the connection idle the longest, unless one with nothing in progress is closing
    /// already (its room goes to the one waiting). One closing with a request in progress (a
    /// request raced the close: it is served first, however long it takes) makes no room
    /// soon: another is closed. Nor does one that lingers, waiting to flush what its client
    /// has not taken of its last response (up to `send_timeout`): taken for room about to
    /// come, it kept the new client waiting that long while another connection sat idle.
    pub(crate) fn close_longest_idle(&self) {
        let live = || {
            self.open
                .values()
                .filter(|shared| shared.socket_open.load(Ordering::SeqCst))
        };
        if live().any(|shared| {
            shared.close.is_cancelled()
                && shared.in_use.load(Ordering::SeqCst) == 0
                && !shared.lingering.load(Ordering::SeqCst)
        }) {
            return;
        }
        // Each asked once at most: a request may start on the one chosen after it was seen
        // idle and before it was asked. Either the ask sees that request (here, after it), or
        // the request's start sees the ask (`InUse::new`, in the same order) and wakes the
        // accept loop, which calls this again.
        while let Some(shared) = live()
            .filter(|shared| {
                !shared.close_asked.load(Ordering::SeqCst)
                    && shared.in_use.load(Ordering::SeqCst) == 0
            })
            .min_by_key(|shared| shared.idle_since.load(Ordering::SeqCst))
        {
            #[cfg(test)]
            tests::before_ask(shared);
            tracing::debug!(target: "di", "connection limit reached: closing an idle connection");
            shared.for_room.store(true, Ordering::SeqCst);
            shared.ask_close();
            if shared.in_use.load(Ordering::SeqCst) == 0 {
                return;
            }
        }
    }

    /// Closes every connection gracefully, then waits until each has ended.
    pub(crate) async fn drain(&mut self) {
        self.server.shutting_down.store(true, Ordering::Release);
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

/// See [`Connections::freed_signal`].
pub(crate) struct FreedSignal(Arc<ServerShared>);

impl FreedSignal {
    /// Completes when a connection's socket has closed (or one did since the last call).
    pub(crate) async fn wait(&self) {
        self.0.freed.notified().await;
    }
}

/// A connection counted against `max_connections` while its socket is open: dropped with the
/// connection (hyper's, which owns the socket), when it ends or its task is aborted. The
/// connection's task may go on after that, running the `request`-scope teardowns of its last
/// responses ([`Hosted`](crate::run::host::Hosted)); counted until the task ended, a closed
/// connection whose teardown was slow kept the next client waiting for its place.
pub(crate) struct Live(Arc<Shared>);

impl Drop for Live {
    fn drop(&mut self) {
        let shared = &self.0;
        shared.socket_open.store(false, Ordering::SeqCst);
        shared.server.live.fetch_sub(1, Ordering::SeqCst);
        shared.server.freed.notify_one();
    }
}

/// One connection's share of [`Connections`].
pub(crate) struct Slot(Arc<Shared>);

impl Slot {
    /// Counts the connection against `max_connections` until the guard is dropped, which must
    /// be when its socket closes (see [`Live`]).
    pub(crate) fn live(&self) -> Live {
        self.0.server.live.fetch_add(1, Ordering::SeqCst);
        Live(self.0.clone())
    }

    /// `service`, counting the requests in progress on this connection.
    pub(crate) fn service<S>(&self, service: S) -> Counted<S> {
        Counted {
            inner: service,
            shared: self.0.clone(),
        }
    }

    /// The timer of this connection's HTTP/1 header-read deadlines, for hyper: see
    /// [`HeadTimer`]. The connection must be wrapped with [`Slot::closable`], whose timer wakes
    /// them.
    pub(crate) fn head_timer(&self) -> HeadTimer {
        HeadTimer(self.0.clone())
    }

    /// The connection's socket, its writes noted for [`Closable`]: a connection closing that
    /// writes nothing for `send_timeout` is cut.
    pub(crate) fn watch(&self, io: TcpStream) -> Watched {
        *self.0.socket.lock() = Some(io);
        Watched {
            shared: self.0.clone(),
        }
    }

    /// `connection`, closed gracefully when the server shuts down, when the connection is
    /// chosen to make room, or when it has been idle for the keep-alive timeout.
    pub(crate) fn closable<C: GracefulConnection>(&self, connection: C) -> Closable<C> {
        let server = &self.0.server;
        let now = server.now();
        let first_by = now.saturating_add(server.header_read_timeout);
        let first = now.saturating_add(server.keep_alive).min(first_by);
        Closable {
            connection,
            close: self.0.close.clone().cancelled_owned(),
            close_polled_with: None,
            closing: false,
            shutdown_deferred: false,
            timer: tokio::time::sleep_until(server.instant(first)),
            timer_armed: false,
            timer_at: first,
            head_at: NO_DEADLINE,
            first_by,
            cut_at: NO_DEADLINE,
            flush_by: NO_DEADLINE,
            flushed: 0,
            shared: self.0.clone(),
        }
    }

    /// `connection`, ended only once its HTTP/2 streams' responses have ended too, `guard`
    /// dropped then: hyper runs each stream in a task of its own, which may still hold its
    /// response (and with it the response's `request`-scope teardowns, not yet handed over)
    /// after the connection has ended. A connection counted open until then, a test that
    /// waits for no connection open and then settles the app waits for those teardowns too.
    pub(crate) fn and_its_streams<C: Future, G>(
        &self,
        connection: C,
        guard: G,
    ) -> AndItsStreams<C, G> {
        AndItsStreams {
            connection,
            ended: None,
            guard: Some(guard),
            shared: self.0.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// See [`Slot::and_its_streams`].
    pub(crate) struct AndItsStreams<C: Future, G> {
        #[pin]
        connection: C,
        ended: Option<C::Output>,
        guard: Option<G>,
        shared: Arc<Shared>,
    }
}

impl<C: Future, G> Future for AndItsStreams<C, G> {
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let mut this = self.project();
        if this.ended.is_none() {
            let ended = std::task::ready!(this.connection.as_mut().poll(cx));
            *this.ended = Some(ended);
        }
        let shared = &**this.shared;
        if shared.streams_alive.load(Ordering::SeqCst) > 0 {
            shared.streams_ended.register(cx.waker());
            // Registered before looking again: the last stream to end wakes it, or it sees
            // none left.
            if shared.streams_alive.load(Ordering::SeqCst) > 0 {
                return Poll::Pending;
            }
        }
        drop(this.guard.take());
        Poll::Ready(this.ended.take().expect("polled after it ended"))
    }
}

/// hyper's timer for one connection's HTTP/1 header-read deadlines (see the module docs). Its
/// sleeps register nothing: each notes its deadline for the connection's [`Closable`], whose
/// one timer wakes the connection's task by then, and is ready once the clock has reached it.
/// hyper asks for nothing else of its HTTP/1 timer.
pub(crate) struct HeadTimer(Arc<Shared>);

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn HyperSleep>> {
        self.sleep_until(self.now() + duration)
    }

    /// tokio's clock, as tokio's timers read it (paused in tests that pause it).
    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn HyperSleep>> {
        let shared = &self.0;
        shared
            .head_deadline
            .store(shared.server.millis_after(deadline), Ordering::Relaxed);
        Box::pin(HeadSleep(deadline))
    }
}

/// A sleep of [`HeadTimer`]: ready once `.0` has passed.
struct HeadSleep(std::time::Instant);

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        // Woken by the connection's timer (`Closable`), not by a waker of its own.
        if Instant::now().into_std() >= self.0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl HyperSleep for HeadSleep {}

/// A request in progress on a connection, until dropped.
struct InUse {
    shared: Arc<Shared>,
    /// On HTTP/2, its stream, timed on its own.
    stream: Option<Arc<StreamStall>>,
    /// Whether its response's id was noted (see [`InUse::note_id`]).
    noted: bool,
}

impl InUse {
    fn new(shared: &Arc<Shared>, stream: Option<Arc<StreamStall>>) -> Self {
        let server = &shared.server;
        if shared.in_use.fetch_add(1, Ordering::SeqCst) == 0 {
            if server.send_timeout < server.keep_alive {
                // The connection was idle: its timer is due at the end of the idle timeout,
                // later than this request's response may stall for.
                let by = server.now().saturating_add(server.send_timeout.max(1));
                shared.check_by.store(by, Ordering::Relaxed);
            }
            // Asked to close to make room, it took a request that raced the close (an HTTP/2
            // stream opened before its client saw the `GOAWAY`), which it serves first, for
            // as long as that takes: the room must come from another idle connection.
            if shared.close_asked.load(Ordering::SeqCst) && server.waiting.load(Ordering::SeqCst) {
                server.became_idle.notify_one();
            }
        }
        if stream.is_some() {
            shared.streams_alive.fetch_add(1, Ordering::SeqCst);
        }
        Self {
            shared: shared.clone(),
            stream,
            noted: false,
        }
    }

    /// Notes the id `response` carries, when the send timeout may cut that response (one whose
    /// body may wait on its client: over HTTP/2 any body, over HTTP/1 one of more than a
    /// frame), for the line that says it was cut; read off the response head only for those,
    /// out of line.
    #[cold]
    #[inline(never)]
    fn note_id<B>(&mut self, response: &http::Response<B>) {
        let Some(name) = &self.shared.server.request_id_header else {
            return;
        };
        let Some(id) = response.headers().get(name) else {
            return;
        };
        self.noted = true;
        match &self.stream {
            None => *self.shared.cut_id.lock() = Some(id.clone()),
            Some(stream) => {
                let _ = stream.request_id.set(id.clone());
            }
        }
    }

    /// The id noted for its response, if any (see [`InUse::note_id`]).
    fn noted_id(&self) -> Option<http::HeaderValue> {
        if !self.noted {
            return None;
        }
        match &self.stream {
            None => self.shared.cut_id.lock().clone(),
            Some(stream) => stream.request_id.get().cloned(),
        }
    }

    /// Whether the send timeout cut its response (see [`send_cut`]).
    fn was_cut(&self) -> bool {
        match &self.stream {
            None => self.shared.send_cut.load(Ordering::Relaxed),
            Some(stream) => stream.cut.load(Ordering::Relaxed),
        }
    }

    /// Where its response's stall is noted.
    fn stalled_since(&self) -> &AtomicU64 {
        match &self.stream {
            None => &self.shared.stalled_since,
            Some(stream) => &stream.stalled_since,
        }
    }
}

/// Says that the send timeout cut a response, its client having taken nothing of it for
/// `send_timeout`: over HTTP/1 its connection is closed, over HTTP/2 its stream reset. With the
/// id the response carries (none if `App::request_id_header` is `None`).
#[cold]
#[inline(never)]
fn send_cut(in_use: &InUse) {
    let send_timeout_ms = in_use.shared.server.send_timeout;
    let id = in_use.noted_id();
    let request_id = id
        .as_ref()
        .and_then(|id| id.to_str().ok())
        .map(tracing::field::display);
    if in_use.stream.is_some() {
        tracing::warn!(target: "di", request_id, send_timeout_ms, "send timeout: the client took nothing of an HTTP/2 stream's response; resetting the stream");
    } else {
        tracing::warn!(target: "di", request_id, send_timeout_ms, "send timeout: the client took nothing of a response; closing the connection");
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        if self.was_cut() {
            send_cut(self);
        }
        let shared = &self.shared;
        // The id noted for an HTTP/1 response is its alone: the next may not note one.
        if self.noted && self.stream.is_none() {
            *shared.cut_id.lock() = None;
        }
        // Its response no longer waits on the client.
        shared.stalled_since.store(NO_DEADLINE, Ordering::Relaxed);
        // Released by the count's decrement below: whoever reads the count as 0, and only then
        // this stamp (every reader does, in that order), reads this stamp or a later one. A
        // sequentially consistent store would be an atomic exchange, one per request.
        shared
            .idle_since
            .store(shared.server.now(), Ordering::Relaxed);
        if shared.in_use.fetch_sub(1, Ordering::SeqCst) == 1
            && shared.server.waiting.load(Ordering::SeqCst)
        {
            shared.server.became_idle.notify_one();
        }
        if self.stream.is_some() && shared.streams_alive.fetch_sub(1, Ordering::SeqCst) == 1 {
            shared.streams_ended.wake();
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
    B: Body,
{
    type Response = http::Response<CountedBody<B>>;
    type Error = Infallible;
    type Future = CountedFuture<S::Future, B>;

    fn call(&self, request: http::Request<hyper::body::Incoming>) -> Self::Future {
        self.shared.served.store(true, Ordering::Relaxed);
        let stream = (request.version() == http::Version::HTTP_2).then(|| self.shared.new_stream());
        CountedFuture {
            head_only: request.method() == http::Method::HEAD,
            http10: request.version() == http::Version::HTTP_10,
            inner: self.inner.call(request),
            in_use: Some(InUse::new(&self.shared, stream)),
            held: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of a [`Counted`] service: the request is in use until its body
    /// is done.
    pub(crate) struct CountedFuture<F, B> {
        #[pin]
        inner: F,
        in_use: Option<InUse>,
        // The request is a HEAD: its response is sent without its body.
        head_only: bool,
        // The request is HTTP/1.0: a body of unknown length is sent close-delimited.
        http10: bool,
        // An HTTP/2 response whose head is watched (see `HeadWatch`: bodiless, empty, or of
        // declared length zero), held back for one poll.
        held: Option<Box<Held<B>>>,
    }
}

impl<F, B> Future for CountedFuture<F, B>
where
    F: Future<Output = Result<http::Response<B>, Infallible>>,
    B: Body,
{
    type Output = Result<http::Response<CountedBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(held) = this.held.take() {
            return Poll::Ready(Ok(hand_over(*held)));
        }
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        let mut in_use = this.in_use.take();
        let head_only = *this.head_only;
        // A body sent close-delimited (HTTP/1.0): its end is the connection's close.
        let close_delimited = if head_only {
            declare_length(&mut response);
            false
        } else {
            *this.http10 && close_if_unframed(&mut response)
        };
        // A 204 or 304 has no content whatever its body holds (RFC 9110 15.3.5, 15.4.5):
        // hyper's HTTP/1 drops such a body unsent, but its HTTP/2 would send every frame of
        // it (and a 204's `Content-Length`, which RFC 9110 8.6 forbids). Sent as a HEAD's is.
        // Nor has a 205 (15.3.6), which hyper sends as any other: it goes with `Content-Length:
        // 0`, as the RFC asks, and its body unsent too.
        let status = response.status();
        let unsent = head_only || sends_no_body(status);
        if status == http::StatusCode::NO_CONTENT || status.is_informational() {
            response.headers_mut().remove(http::header::CONTENT_LENGTH);
        } else if status == http::StatusCode::RESET_CONTENT {
            response.headers_mut().insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from_static("0"),
            );
        }
        // An HTTP/2 stream's head goes out with a body to come: its clock starts now, and the
        // body's first poll takes it over. hyper may wait for the stream's window before it
        // asks the body for a frame (releases without its fix for hyperium/hyper#4003 do), and
        // a client that never opens it would hold the stream, untimed, for as long as it liked.
        // A response the send timeout may cut (see `InUse::note_id`) notes its id.
        if let Some(in_use) = &mut in_use
            && !unsent
        {
            match &in_use.stream {
                Some(stream) if !response.body().is_end_stream() => {
                    stream
                        .stalled_since
                        .store(in_use.shared.server.now(), Ordering::Relaxed);
                    in_use.note_id(&response);
                }
                None if more_than_a_frame(response.body()) => in_use.note_id(&response),
                _ => {}
            }
        }
        let http2 = matches!(
            &in_use,
            Some(InUse {
                stream: Some(_),
                ..
            })
        );
        if close_delimited && !unsent {
            // Until the body has reached its end, a close of its connection is a cut.
            reset_on_close(in_use.as_ref());
        }
        let mut response = response.map(|body| CountedBody {
            inner: if unsent {
                Gathered::unsent(body)
            } else {
                Gathered::new(body)
            },
            rest: Bytes::new(),
            reset_on_error: close_delimited && !unsent,
            _in_use: in_use,
        });
        // Watched by its tracked body (over HTTP/2, one that can end without a frame asked of
        // it: bodiless, empty, or of declared length zero).
        if http2 && let Some(watch) = response.extensions_mut().remove::<HeadWatch>() {
            return hold_back(response, watch, this.held, cx);
        }
        Poll::Ready(Ok(response))
    }
}

/// Whether an HTTP/1 response `body` may hand the connection a frame with more to come, which
/// then waits on its client (see [`CountedBody`]): one not known to be a single frame of at
/// most [`SEND_SLICE`] bytes (a streamed body, or a larger one).
fn more_than_a_frame<B: Body>(body: &B) -> bool {
    !body.is_end_stream()
        && body
            .size_hint()
            .exact()
            .is_none_or(|length| length > SEND_SLICE as u64)
}

/// Holds back an HTTP/2 response whose head is watched (see [`HeadWatch`]: bodiless, empty, or
/// of declared length zero) for one poll, waking the task at once: hyper sends such a head,
/// ending the stream on it when the body is at its end, and drops the body unasked when it
/// could not send the head (the client had reset the stream while the answer was made).
/// Given `Pending`, hyper looks whether the stream was reset, and if it was, drops this future,
/// the response with it: its head was not sent, and its teardowns see the client gone.
/// Otherwise the next poll hands it over.
#[cold]
#[inline(never)]
fn hold_back<B>(
    response: http::Response<CountedBody<B>>,
    watch: HeadWatch,
    held: &mut Option<Box<Held<B>>>,
    cx: &mut Context<'_>,
) -> Poll<Result<http::Response<CountedBody<B>>, Infallible>> {
    watch.watch();
    *held = Some(Box::new((response, watch)));
    cx.waker().wake_by_ref();
    Poll::Pending
}

/// An HTTP/2 response held back by [`hold_back`], and the watch on its head.
pub(crate) type Held<B> = (http::Response<CountedBody<B>>, HeadWatch);

/// A response held back by [`hold_back`], handed to hyper: its head is sent (as far as the
/// server can tell, see [`HeadWatch`]).
#[cold]
#[inline(never)]
fn hand_over<B>((response, watch): Held<B>) -> http::Response<CountedBody<B>> {
    watch.sent();
    response
}

/// Gives the response to a HEAD the `Content-Length` of the body it will not send, when that
/// is known: hyper would otherwise take the length of what it sends, nothing.
fn declare_length<B: Body>(response: &mut http::Response<B>) {
    if sends_no_body(response.status())
        || response
            .headers()
            .contains_key(http::header::CONTENT_LENGTH)
    {
        return;
    }
    if let Some(length) = response.body().size_hint().exact() {
        response
            .headers_mut()
            .insert(http::header::CONTENT_LENGTH, length.into());
    }
}

/// Marks a response to an HTTP/1.0 request whose body has no known length as HTTP/1.0, so that
/// hyper announces no keep-alive for it. HTTP/1.0 has no chunked encoding: hyper sends such a
/// body close-delimited and closes the connection after it, but to a client that asked for
/// keep-alive it still said `Connection: keep-alive` (it adds that to an HTTP/1.1 response,
/// even to one that says `Connection: close`), and a client that trusts it (`ab -k`) takes the
/// response for bodiless and sends its next request on a connection about to close. An
/// HTTP/1.0 response without `keep-alive` is one after which the connection closes.
///
/// Whether the response is such a one (its body sent close-delimited).
fn close_if_unframed<B: Body>(response: &mut http::Response<B>) -> bool {
    if sends_no_body(response.status())
        || response.body().is_end_stream()
        || response.body().size_hint().exact().is_some()
        || response
            .headers()
            .contains_key(http::header::CONTENT_LENGTH)
    {
        return false;
    }
    *response.version_mut() = http::Version::HTTP_10;
    response.headers_mut().remove(http::header::CONNECTION);
    true
}

pin_project_lite::pin_project! {
    /// A response body that keeps its connection in use until it is dropped; its frames
    /// ready together leave as one ([`Gathered`]).
    ///
    /// The response to a HEAD, and a 204 or 304, has ended before its first frame
    /// ([`Gathered::unsent`]): hyper's HTTP/1 sends no body for those, but its HTTP/2 would
    /// send every frame. The length it reports is still the body's, for `Content-Length`; the
    /// body is dropped unread with the response (a bodiless response: its `request`-scope
    /// teardowns see a success).
    ///
    /// A data frame larger than [`SEND_SLICE`] with more to come is handed over a slice at a
    /// time (no copy): hyper asks for the next frame only once most of the last has left, and
    /// `send_timeout` counts from each frame handed over, so a client reading a large chunk
    /// steadily but for longer than `send_timeout` would be cut although it takes data.
    pub(crate) struct CountedBody<B> {
        #[pin]
        inner: Gathered<B>,
        // What remains of a large frame handed over in slices; empty when none.
        rest: Bytes,
        // The body is sent close-delimited (HTTP/1.0): unless it reaches its end, the
        // connection is reset when it closes, or its client would take the cut for the end.
        reset_on_error: bool,
        _in_use: Option<InUse>,
    }
}

/// Notes that the connection of a close-delimited response body, in progress or failed, is to
/// be reset when it closes (see [`Watched`]).
#[cold]
#[inline(never)]
fn reset_on_close(in_use: Option<&InUse>) {
    if let Some(in_use) = in_use {
        in_use.shared.reset_on_close.store(true, Ordering::Relaxed);
    }
}

/// Notes that a close-delimited response body has reached its end: its connection's close is
/// that end, a clean one.
#[cold]
#[inline(never)]
fn close_cleanly(in_use: Option<&InUse>) {
    if let Some(in_use) = in_use {
        in_use.shared.reset_on_close.store(false, Ordering::Relaxed);
    }
}

/// The largest data frame a response hands to the connection at once when more is to come
/// (see [`CountedBody`]): the least a client must take within `send_timeout` (about 4 KiB a
/// second at the default 60 s). Slicing changes nothing on the wire but the chunk sizes of a
/// chunked HTTP/1 body (an HTTP/2 frame is at most 16 KiB anyway; hyper writes several slices
/// to an HTTP/1 socket at once). Larger than HTTP/2's default stream window (64 KiB): h2 gives
/// hyper room for the next slice only once less than the window is left of the last, and
/// slices the size of the window made a client with a small window wait for each.
const SEND_SLICE: usize = 256 * 1024;

impl<B> Body for CountedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let polled = if this.rest.is_empty() {
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Ready(Some(Ok(frame)))
                    if frame.data_ref().is_some_and(|data| data.len() > SEND_SLICE)
                        && !this.inner.is_end_stream() =>
                {
                    match frame.into_data() {
                        Ok(mut data) => {
                            *this.rest = data.split_off(SEND_SLICE);
                            Poll::Ready(Some(Ok(Frame::data(data))))
                        }
                        Err(frame) => Poll::Ready(Some(Ok(frame))),
                    }
                }
                polled => polled,
            }
        } else {
            let slice = if this.rest.len() > SEND_SLICE {
                this.rest.split_to(SEND_SLICE)
            } else {
                std::mem::take(this.rest)
            };
            Poll::Ready(Some(Ok(Frame::data(slice))))
        };
        // A frame handed over with more to come waits for hyper to ask for the next, which it
        // does once the client has taken enough: from now, `send_timeout` counts. On HTTP/2
        // the last frame too: hyper holds it (and the body) until the stream's window takes
        // it, and a client that never opens it would hold the stream for as long as it liked
        // (on HTTP/1 the body is dropped with its last frame, which goes to the connection's
        // buffer).
        if *this.reset_on_error {
            match &polled {
                Poll::Ready(Some(Err(_))) => reset_on_close(this._in_use.as_ref()),
                Poll::Ready(None) => close_cleanly(this._in_use.as_ref()),
                Poll::Ready(Some(Ok(_))) if this.rest.is_empty() && this.inner.is_end_stream() => {
                    close_cleanly(this._in_use.as_ref());
                }
                _ => {}
            }
        }
        if let Some(in_use) = this._in_use.as_ref() {
            let waiting = matches!(polled, Poll::Ready(Some(Ok(_))))
                && (!this.rest.is_empty()
                    || !this.inner.is_end_stream()
                    || in_use.stream.is_some());
            let since = if waiting {
                in_use.shared.server.now()
            } else {
                NO_DEADLINE
            };
            in_use.stalled_since().store(since, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        gather::plus(self.inner.size_hint(), self.rest.len() as u64)
    }
}

pin_project_lite::pin_project! {
    /// A hyper connection that shuts down gracefully when its token is cancelled: by the
    /// server's shutdown, to make room for a new connection, or by its own keep-alive timer;
    /// and whose timer also wakes it for hyper's header-read deadlines ([`HeadTimer`]).
    pub(crate) struct Closable<C> {
        #[pin]
        connection: C,
        #[pin]
        close: WaitForCancellationFutureOwned,
        // The waker `close` was last polled with (and will wake when the connection is asked
        // to close), until it is ready.
        close_polled_with: Option<Waker>,
        closing: bool,
        // Asked to close to make room before it was ever served, in its first moment (the
        // server may have just taken it from the backlog, its request already sent and not yet
        // read): hyper's graceful shutdown is put off, since before hyper has told its
        // protocol it drops the connection at once, request and all. It is asked once a
        // request starts (hyper serves that one, then closes), and a connection that sends
        // none is cut at `cut_at`.
        shutdown_deferred: bool,
        // The connection's one timer: when it fires, the connection is closed if it has been
        // idle for the keep-alive timeout, and the timer moved to the next of that and the
        // header-read deadline.
        #[pin]
        timer: Sleep,
        // Whether `timer` has been polled since it was made or moved, and so will wake the task.
        timer_armed: bool,
        // When `timer` fires, in milliseconds since the server started; `NO_DEADLINE` when it
        // is not set (the connection is closing and hyper has no header-read deadline).
        timer_at: u64,
        // The header-read deadline hyper set last, until the timer has fired for it.
        head_at: u64,
        // When a new connection must have sent enough for its protocol to be told (the
        // header-read timeout after it was accepted), until the timer has fired for it. Till
        // then hyper reads its first bytes itself, under no header-read deadline of its
        // HTTP/1 (nor any of HTTP/2): a client that sent nothing, or part of the HTTP/2
        // preface, was held for the idle timeout, however much longer.
        first_by: u64,
        // When a closing connection never handed a request, or an HTTP/2 one, is next looked
        // at: it is dropped then if nothing is in progress and its last response ended at
        // least `UNSERVED_CLOSE_MS` ago; `NO_DEADLINE` until it closes.
        cut_at: u64,
        // When an HTTP/1 connection closing after it was served (or an HTTP/2 one still
        // sending, see `cut_at`) is next looked at (`send_timeout` after the close at first):
        // it is cut then if it has nothing in progress and its socket has taken nothing (over
        // HTTP/2: no more than control frames) since it was last looked at; `NO_DEADLINE` until
        // it closes.
        flush_by: u64,
        // `Shared::written` when the timer last looked at a closing connection.
        flushed: u64,
        shared: Arc<Shared>,
    }
}

/// Whether a connection's `close` is ready: it is polled (which takes the token's lock) only
/// when it may be, that is when it was never polled with this waker, or when the connection or
/// the server was asked to close since; the connection's other polls, one or more per request,
/// load two flags. The token wakes the waker `close` was last polled with once it is cancelled:
/// that poll finds the flag set.
fn close_is_ready(
    close: &mut Pin<&mut WaitForCancellationFutureOwned>,
    polled_with: &mut Option<Waker>,
    shared: &Shared,
    cx: &mut Context<'_>,
) -> bool {
    let asked = shared.close_asked.load(Ordering::Acquire)
        || shared.server.shutting_down.load(Ordering::Acquire);
    let registered = polled_with
        .as_ref()
        .is_some_and(|waker| waker.will_wake(cx.waker()));
    if registered && !asked {
        return false;
    }
    if close.as_mut().poll(cx).is_ready() {
        return true;
    }
    if !registered {
        *polled_with = Some(cx.waker().clone());
    }
    false
}

impl<C> Future for Closable<C>
where
    C: GracefulConnection,
    C::Error: From<&'static str>,
{
    type Output = Result<(), C::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let shared = &**this.shared;
        // Whether the timer fired in this poll (see `client_gone`).
        let mut looked = false;
        // The timer is polled only when it was not yet, or has fired (an atomic load): the
        // connection's other polls, one or more per request, do not touch it.
        if *this.timer_at != NO_DEADLINE && (!*this.timer_armed || this.timer.is_elapsed()) {
            *this.timer_armed = true;
            while this.timer.as_mut().poll(cx).is_ready() {
                looked = true;
                let now = shared.server.now();
                if now >= *this.cut_at {
                    // Nothing in progress, and a moment since the last response ended (its
                    // last frame may still be leaving hyper's buffer).
                    let quiet_at = shared
                        .idle_since
                        .load(Ordering::SeqCst)
                        .saturating_add(UNSERVED_CLOSE_MS);
                    let in_progress = shared.in_use.load(Ordering::SeqCst) > 0;
                    let written = shared.written.load(Ordering::Relaxed);
                    if !in_progress && now >= quiet_at {
                        if written.saturating_sub(*this.flushed) < DATA_PROGRESS {
                            tracing::debug!(target: "di", "closing a connection with nothing in progress that did not end when asked");
                            return Poll::Ready(Ok(()));
                        }
                        // HTTP/2 data still leaving (h2 holds the rest of a response hyper
                        // has handed over, for a client that takes it): timed as an HTTP/1
                        // connection's flush is, from now (see `flush_by`).
                        *this.cut_at = NO_DEADLINE;
                        *this.flushed = written;
                        *this.flush_by = now.saturating_add(shared.server.send_timeout.max(1));
                    } else {
                        if in_progress {
                            *this.flushed = written;
                        }
                        // A request in progress is finished first: looked at again a moment
                        // later.
                        *this.cut_at = if in_progress {
                            now.saturating_add(UNSERVED_CLOSE_MS)
                        } else {
                            quiet_at
                        };
                    }
                }
                let stalled = shared.stalled_since.load(Ordering::Relaxed);
                if stalled != NO_DEADLINE
                    && now.saturating_sub(stalled) >= shared.server.send_timeout
                    && shared.in_use.load(Ordering::SeqCst) > 0
                {
                    // Its client has taken nothing of a response for `send_timeout`: cut
                    // (dropping the connection drops the response; its teardowns run, and its
                    // `InUse` says so with its request id).
                    shared.send_cut.store(true, Ordering::Relaxed);
                    return Poll::Ready(Err(C::Error::from(
                        "send timeout: the client took nothing of a response",
                    )));
                }
                if now >= *this.flush_by {
                    let send_timeout = shared.server.send_timeout;
                    let written = shared.written.load(Ordering::Relaxed);
                    // Over HTTP/2 a client's pings and their answers go on while it takes no
                    // data: a few bytes prove nothing.
                    let least = if shared.http2.load(Ordering::Relaxed) {
                        DATA_PROGRESS
                    } else {
                        1
                    };
                    let moved = written.saturating_sub(std::mem::replace(this.flushed, written));
                    if shared.in_use.load(Ordering::SeqCst) > 0 || moved >= least {
                        // A response in progress (timed on its own), or hyper still getting
                        // what it holds to the client: looked at again in `send_timeout`.
                        *this.flush_by = now.saturating_add(send_timeout.max(1));
                    } else {
                        // Closing, and what hyper still holds for the client has not moved: it
                        // would wait for it for as long as the client liked.
                        tracing::warn!(target: "di", send_timeout_ms = send_timeout, "send timeout: the client took nothing of what remains to send while the connection closes; closing it now");
                        return Poll::Ready(Err(C::Error::from(
                            "send timeout: the client took nothing while the connection closed",
                        )));
                    }
                }
                // An HTTP/2 stream is cut alone (an HTTP/1 connection has none to look at).
                if shared.http2.load(Ordering::Relaxed) {
                    shared.cut_stalled_streams(now);
                }
                // A header-read deadline past now has just been woken for.
                if *this.head_at <= now {
                    *this.head_at = NO_DEADLINE;
                }
                if *this.first_by <= now {
                    *this.first_by = NO_DEADLINE;
                    if !shared.served.load(Ordering::Relaxed)
                        && shared.received.load(Ordering::Relaxed) < PREFACE_BYTES
                    {
                        // Not even enough sent to tell HTTP/1 from HTTP/2: dropped, as hyper
                        // drops an HTTP/1 connection whose head is late.
                        tracing::debug!(target: "di", "header-read timeout: closing a new connection that sent too little to tell its protocol");
                        return Poll::Ready(Ok(()));
                    }
                }
                let idle = match shared.idle_deadline() {
                    Some(deadline) => deadline,
                    None => {
                        if !*this.closing {
                            tracing::debug!(target: "di", "keep-alive timeout: closing an idle connection");
                            shared.ask_close();
                        }
                        NO_DEADLINE
                    }
                };
                *this.timer_at = idle
                    .min(*this.head_at)
                    .min(*this.first_by)
                    .min(*this.cut_at)
                    .min(*this.flush_by);
                if *this.timer_at == NO_DEADLINE {
                    break;
                }
                this.timer
                    .as_mut()
                    .reset(shared.server.instant(*this.timer_at));
            }
        }
        if !*this.closing && close_is_ready(&mut this.close, this.close_polled_with, shared, cx) {
            *this.closing = true;
            if shared.for_room.load(Ordering::SeqCst)
                && !shared.served.load(Ordering::Relaxed)
                && !shared.server.shutting_down.load(Ordering::Acquire)
                && shared.server.now()
                    < shared
                        .idle_since
                        .load(Ordering::SeqCst)
                        .saturating_add(UNSERVED_CLOSE_MS)
            {
                *this.shutdown_deferred = true;
            } else {
                this.connection.as_mut().graceful_shutdown();
            }
            *this.flushed = shared.written.load(Ordering::Relaxed);
            // Served over HTTP/1: hyper finishes what is in progress, then flushes what it
            // holds for the client, for as long as that takes; the timer cuts it if the client
            // stops taking it (see `flush_by`). Otherwise (never handed a request, or HTTP/2),
            // once nothing is in progress there is nothing to finish: hyper would wait for a
            // first head begun (up to `header_read_timeout`) and serve it, and an HTTP/2 peer
            // that does not answer its `GOAWAY` ping (a dead or hostile one) for the whole
            // grace period, holding up `app`-scope teardown: a moment after the last response
            // ended only (see `cut_at`).
            let now = shared.server.now();
            let deadline =
                if shared.served.load(Ordering::Relaxed) && !shared.http2.load(Ordering::Relaxed) {
                    *this.flush_by = now.saturating_add(shared.server.send_timeout.max(1));
                    *this.flush_by
                } else {
                    // A connection never handed a request is given a moment from when it was
                    // accepted (a client's first head on its way), not from now: one open longer
                    // (a head begun and never finished, or nothing sent) is cut at once. Closed
                    // to make room, it held the room a moment more, and a flood of such
                    // connections at the limit kept a client that connected after them out for
                    // a moment each, up to the header-read timeout.
                    let from = if shared.served.load(Ordering::Relaxed) {
                        now
                    } else {
                        shared.idle_since.load(Ordering::SeqCst)
                    };
                    *this.cut_at = from.saturating_add(UNSERVED_CLOSE_MS).max(now);
                    *this.cut_at
                };
            fire_by(
                deadline,
                this.timer.as_mut(),
                this.timer_at,
                this.timer_armed,
                &shared.server,
                cx,
            );
        }
        let polled = this.connection.as_mut().poll(cx);
        if *this.shutdown_deferred
            && polled.is_pending()
            && (shared.served.load(Ordering::Relaxed)
                || shared.server.shutting_down.load(Ordering::Acquire))
        {
            // Its first request has started (or the server is shutting down): hyper serves that
            // one, then closes.
            *this.shutdown_deferred = false;
            this.connection.as_mut().graceful_shutdown();
            cx.waker().wake_by_ref();
        }
        if *this.closing && polled.is_pending() && *this.flush_by != NO_DEADLINE {
            linger(shared);
        }
        if polled.is_pending()
            && shared.in_use.load(Ordering::SeqCst) > 0
            && !shared.http2.load(Ordering::Relaxed)
            && !shared.read_closed.load(Ordering::Relaxed)
            && client_gone(shared, looked, cx)
        {
            // Dropping the connection drops the request or its response: its teardowns see
            // the client gone, and give back what they hold.
            tracing::debug!(target: "di", "the client closed or reset its connection while a request was in progress; closing it");
            return Poll::Ready(Err(C::Error::from(
                "the client went away while a request was in progress",
            )));
        }
        if polled.is_pending() {
            // In that poll hyper may have started a header-read deadline, and a request may
            // have started on the idle connection (see `Shared::check_by`): the timer fires by
            // the earlier.
            let head = take_deadline(&shared.head_deadline);
            if head != NO_DEADLINE {
                *this.head_at = head;
            }
            fire_by(
                head.min(take_deadline(&shared.check_by)),
                this.timer.as_mut(),
                this.timer_at,
                this.timer_armed,
                &shared.server,
                cx,
            );
        }
        polled
    }
}

/// Notes that a connection closing, and still open, waits to flush a response with nothing in
/// progress (see [`Shared::lingering`]); the first time, a new connection waiting for room is
/// told, and another idle connection is closed for it.
#[cold]
fn linger(shared: &Shared) {
    if shared.in_use.load(Ordering::SeqCst) == 0
        && !shared.lingering.swap(true, Ordering::SeqCst)
        && shared.server.waiting.load(Ordering::SeqCst)
    {
        shared.server.became_idle.notify_one();
    }
}

/// The deadline noted in `slot` for a [`Closable`]'s timer, taken ([`NO_DEADLINE`] if none).
fn take_deadline(slot: &AtomicU64) -> u64 {
    let deadline = slot.load(Ordering::Relaxed);
    if deadline != NO_DEADLINE {
        slot.store(NO_DEADLINE, Ordering::Relaxed);
    }
    deadline
}

/// Moves a [`Closable`]'s timer to `deadline` when that comes before the timer fires now, and
/// polls it there so that it wakes the task.
fn fire_by(
    deadline: u64,
    mut timer: Pin<&mut Sleep>,
    timer_at: &mut u64,
    timer_armed: &mut bool,
    server: &ServerShared,
    cx: &mut Context<'_>,
) {
    if deadline < *timer_at {
        *timer_at = deadline;
        timer.as_mut().reset(server.instant(deadline));
        *timer_armed = true;
        if timer.poll(cx).is_ready() {
            cx.waker().wake_by_ref();
        }
    }
}

/// Whether the client of an HTTP/1 connection with a request in progress has closed or reset
/// its connection, when hyper, having taken its next request already (pipelined behind this
/// one), does not look: hyper reads a connection whose request is in progress only to see
/// whether the client went away, and only while it holds none of the client's bytes unread.
/// Behind a pipelined request, a handler that waits (a long poll) or a streamed body waiting
/// for its next item (a quiet feed) then held its teardowns and `max_concurrency` places after
/// the client had gone, until it had something to write; the client's reset or close is
/// taken as gone as hyper takes it when it looks (its `half_close` is off). Peeks at the
/// socket only once it has become readable, waking the task when it does: nothing is read.
/// Not asked once hyper has read the end of the input itself ([`Shared::read_closed`]): it
/// has acted on it then (mid-body, it fails the body and still writes the handler's answer,
/// which a peek finding the same end would have cut whenever the handler took a poll more).
fn client_gone(shared: &Shared, looked: bool, cx: &mut Context<'_>) -> bool {
    let queued = shared.queued.load(Ordering::Relaxed);
    if queued && !looked {
        // The bytes the last peek found are still there, unread: so would this one be.
        return false;
    }
    let socket = shared.socket.lock();
    let Some(io) = socket.as_ref() else {
        return false;
    };
    if queued {
        return matches!(io.take_error(), Ok(Some(_)));
    }
    let mut byte = [0u8; 1];
    let mut peeked = tokio::io::ReadBuf::new(&mut byte);
    match io.poll_peek(cx, &mut peeked) {
        // The end of what the client sends (a close or a half close), or a reset.
        Poll::Ready(Ok(0) | Err(_)) => true,
        // More of the client's bytes, for hyper to read when it is ready for them. A reset
        // behind bytes still queued reads as those bytes: it is only in the socket's pending
        // error. Nothing wakes the task for it (the socket is readable already), so it is seen
        // when the connection's timer next looks at it (`send_timeout` or `idle_timeout`,
        // whichever is shorter, while a request is in progress); till hyper reads, the next
        // polls neither peek nor ask (see `Shared::queued`).
        Poll::Ready(Ok(_)) => {
            shared.queued.store(true, Ordering::Relaxed);
            looked && matches!(io.take_error(), Ok(Some(_)))
        }
        // Nothing: the task is woken when that changes.
        Poll::Pending => false,
    }
}

/// A connection's socket (in [`Shared::socket`], where [`Closable`] can peek at it), the bytes
/// of each write counted in [`Shared::written`] (a relaxed load and store, no clock read): what
/// tells [`Closable`] that a closing connection still gets what hyper holds to its client. Reset
/// when it closes while a close-delimited response body is unfinished or failed
/// ([`Shared::reset_on_close`]).
pub(crate) struct Watched {
    shared: Arc<Shared>,
}

impl Watched {
    fn note(shared: &Shared, written: &Poll<std::io::Result<usize>>) {
        if let Poll::Ready(Ok(n)) = written {
            // Only the connection's own task writes: no read-modify-write needed.
            let total = shared.written.load(Ordering::Relaxed);
            shared
                .written
                .store(total.saturating_add(*n as u64), Ordering::Relaxed);
        }
    }

    /// `op` on the socket; an error once hyper has dropped it (never asked then).
    #[inline]
    fn with_io<T>(
        &self,
        op: impl FnOnce(Pin<&mut TcpStream>) -> Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        match self.shared.socket.lock().as_mut() {
            Some(io) => op(Pin::new(io)),
            None => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        // Closed now, as hyper drops it, not when the connection's shared state goes.
        let io = self.shared.socket.lock().take();
        if let Some(io) = io {
            if self.shared.reset_on_close.load(Ordering::Relaxed) {
                reset(&io);
            } else if unread(&io) {
                close_in_stages(io, &self.shared.server);
            }
        }
    }
}

/// How long a connection closed with its client's bytes unread reads and drops what the
/// client still sends before it closes (see [`close_in_stages`]); nginx's `lingering_timeout`
/// is 5 s.
const LINGER: Duration = Duration::from_secs(2);

/// Whether bytes of the client wait unread in `io`'s receive buffer (a peek: nothing taken).
fn unread(io: &TcpStream) -> bool {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
    matches!(socket2::SockRef::from(io).peek(&mut byte), Ok(1))
}

/// Closes `io`, whose client's bytes wait unread (a body the app did not read, refused before
/// it was), in stages, as RFC 9112 section 9.6 asks and nginx's `lingering_close` does: its
/// own side at once (the client reads the answer, then the end), then, once the client has
/// stopped sending (it closes, or [`LINGER`] passes; what it sends meanwhile is read and
/// dropped), the rest. Closed at once, with bytes unread, the socket answered the client's
/// next bytes with a reset: curl, still sending its upload, failed with `Send failure: Broken
/// pipe` and never showed the answer, one time in two. Outside a runtime, or past
/// `max_connections` sockets closing so at once, closed at once.
#[cold]
#[inline(never)]
fn close_in_stages(io: TcpStream, server: &Arc<ServerShared>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if server.lingering.fetch_add(1, Ordering::SeqCst) >= server.linger_limit {
        server.lingering.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let server = server.clone();
    // hyper has shut its side already, unless it gave up on the connection.
    let _ = socket2::SockRef::from(&io).shutdown(std::net::Shutdown::Write);
    runtime.spawn(async move {
        use tokio::io::AsyncReadExt as _;
        let mut io = io;
        let mut dropped = vec![0u8; 64 * 1024];
        let _ = tokio::time::timeout(LINGER, async {
            while let Ok(1..) = io.read(&mut dropped).await {}
        })
        .await;
        drop(io);
        server.lingering.fetch_sub(1, Ordering::SeqCst);
    });
}

/// Makes `io`'s close a reset (`SO_LINGER` of zero: `RST`, not `FIN`), so that its client sees
/// an error, not the end of a close-delimited body.
#[cold]
#[inline(never)]
fn reset(io: &TcpStream) {
    if let Err(error) = io.set_zero_linger() {
        tracing::debug!(target: "di", %error, "could not make the connection's close a reset");
    }
}

impl tokio::io::AsyncRead for Watched {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = self.with_io(|io| io.poll_read(cx, buf));
        if let Poll::Ready(result) = &read
            && (result.is_err() || (buf.filled().len() == before && buf.remaining() > 0))
        {
            // The end of the client's input, or an error: hyper has seen it (see
            // `client_gone`).
            self.shared.read_closed.store(true, Ordering::Relaxed);
        } else if buf.filled().len() > before && self.shared.queued.load(Ordering::Relaxed) {
            // Hyper has read some of what the last peek found: worth a peek again.
            self.shared.queued.store(false, Ordering::Relaxed);
        }
        // Counted only until the protocol can be told (a relaxed load afterwards).
        let received = self.shared.received.load(Ordering::Relaxed);
        if received < PREFACE_BYTES {
            let more = buf.filled().len().saturating_sub(before) as u64;
            self.shared
                .received
                .store(received.saturating_add(more), Ordering::Relaxed);
        }
        read
    }
}

impl tokio::io::AsyncWrite for Watched {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = self.with_io(|io| io.poll_write(cx, buf));
        Self::note(&self.shared, &written);
        written
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = self.with_io(|io| io.poll_write_vectored(cx, bufs));
        Self::note(&self.shared, &written);
        written
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        // As a `TcpStream` is.
        true
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.with_io(|io| io.poll_flush(cx))
    }

    #[inline]
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.with_io(|io| io.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;
    use http_body_util::{BodyExt, Full, StreamBody};

    /// A counted body of a stream of `frames` (its end known only once it has ended), on no
    /// connection.
    fn counted(frames: Vec<Bytes>) -> CountedBody<impl Body<Data = Bytes, Error = BoxError>> {
        let frames = frames.into_iter().map(|data| Ok(Frame::data(data)));
        CountedBody {
            inner: Gathered::new(StreamBody::new(stream::iter(frames))),
            rest: Bytes::new(),
            reset_on_error: false,
            _in_use: None,
        }
    }

    /// The data of each frame of `body`.
    async fn frames<B: Body<Data = Bytes>>(mut body: Pin<&mut CountedBody<B>>) -> Vec<Bytes>
    where
        B::Error: Into<BoxError>,
    {
        let mut frames = Vec::new();
        while let Some(frame) = body.frame().await {
            frames.push(frame.unwrap().into_data().unwrap());
        }
        frames
    }

    #[tokio::test]
    async fn a_large_frame_with_more_to_come_is_handed_over_in_slices() {
        let large = Bytes::from(
            (0..2 * SEND_SLICE + 10)
                .map(|i| i as u8)
                .collect::<Vec<_>>(),
        );
        let body = std::pin::pin!(counted(vec![large.clone(), Bytes::from_static(b"end")]));
        let frames = frames(body).await;
        let sizes: Vec<usize> = frames.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [SEND_SLICE, SEND_SLICE, 10, 3]);
        assert_eq!(frames.concat(), [&large[..], b"end"].concat());
    }

    #[tokio::test]
    async fn a_body_holding_slices_has_not_ended_and_counts_them_in_its_size() {
        let mut body = std::pin::pin!(counted(vec![
            Bytes::from(vec![1; SEND_SLICE + 100]),
            Bytes::from_static(b"x"),
        ]));
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), SEND_SLICE);
        assert!(!body.is_end_stream());
        assert!(body.size_hint().lower() >= 100);
        assert_eq!(
            body.frame()
                .await
                .unwrap()
                .unwrap()
                .into_data()
                .unwrap()
                .len(),
            100
        );
    }

    /// What runs on a connection as it is asked to close (see [`BEFORE_ASK`]).
    type Hook = Box<dyn FnOnce(&Arc<Shared>)>;

    thread_local! {
        /// Run by `close_longest_idle` on the connection it chose, just before it asks it to
        /// close: a request starting on it at that moment.
        static BEFORE_ASK: Cell<Option<Hook>> = const { Cell::new(None) };
    }

    pub(super) fn before_ask(shared: &Arc<Shared>) {
        if let Some(hook) = BEFORE_ASK.take() {
            hook(shared);
        }
    }

    /// At the limit, with a client waiting, the connection idle the longest is chosen to close,
    /// and a request starts on it (an HTTP/2 stream, a kept-alive HTTP/1 request) after it was
    /// seen idle and before it was asked: it serves that request first, however long it takes,
    /// so the room must come from the other idle connection. Either the request's start sees
    /// the ask and says so (the accept loop then asks again), or the ask sees the request.
    #[tokio::test]
    async fn a_request_that_starts_as_its_connection_is_asked_to_close_leaves_the_room_to_another()
    {
        let mut connections = Connections::new(
            2,
            Duration::from_secs(60),
            Duration::from_secs(60),
            Duration::from_secs(60),
            None,
        );
        let (a, b) = (connections.slot(), connections.slot());
        let (a_shared, b_shared) = (a.0.clone(), b.0.clone());
        // `a` idle the longest.
        a_shared.idle_since.store(0, Ordering::SeqCst);
        b_shared.idle_since.store(10, Ordering::SeqCst);
        let _live = (a.live(), b.live());
        connections.spawn(a, std::future::pending());
        connections.spawn(b, std::future::pending());
        let request = Arc::new(Mutex::new(None));
        let started = request.clone();
        BEFORE_ASK.set(Some(Box::new(move |shared: &Arc<Shared>| {
            *started.lock().unwrap() = Some(InUse::new(shared, None));
        })));
        connections.set_waiting(true);
        assert!(a_shared.close.is_cancelled(), "`a` was chosen");
        assert_eq!(a_shared.in_use.load(Ordering::SeqCst), 1);
        // What the accept loop does when told a connection changed while it waits.
        let told = tokio::time::timeout(Duration::ZERO, connections.idle_signal().wait())
            .await
            .is_ok();
        if told {
            connections.close_longest_idle();
        }
        assert!(
            b_shared.close.is_cancelled(),
            "`b`, idle, is asked to close while `a` serves its request"
        );
        drop(request);
        connections.abort().await;
    }

    #[tokio::test]
    async fn a_large_last_frame_is_handed_over_whole() {
        let large = Bytes::from(vec![2; 3 * SEND_SLICE]);
        let body = std::pin::pin!(CountedBody {
            inner: Gathered::new(Full::new(large.clone())),
            rest: Bytes::new(),
            reset_on_error: false,
            _in_use: None,
        });
        assert_eq!(frames(body).await, [large]);
    }
}
