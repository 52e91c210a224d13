//! Serving over TCP with hyper (HTTP/1 and HTTP/2): [`App::serve`], [`App::bind`], the accept
//! loop and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::builder::App;
use crate::app::connections::{Connections, take_new_stream};
use crate::app::error::{BuildError, ServeError};
use crate::app::routed::ResponseFuture;
use crate::app::running::Running;
use crate::app::service::{AppService, HyperService};
use crate::input::client::ClientAddr;
use crate::run::config::Config;
use crate::run::engine::Engine;
use crate::run::host::Hosted;
use crate::run::stats::Metrics;

impl App {
    /// Serves on `addr` until Ctrl-C (SIGINT) or, on Unix, SIGTERM, then shuts down
    /// gracefully: stops accepting, lets in-flight requests and bodies finish (up to the
    /// shutdown grace), drains background teardowns, then tears down `app` scope.
    ///
    /// It listens for the signals once its socket is bound, before it starts the app (one that
    /// cannot bind leaves the process's signals alone). One that comes while `app` scope
    /// is being set up (a pool connecting, migrations) stops the start: the setup under way is
    /// dropped, the `app`-scoped dependencies already set up are torn down in reverse order,
    /// each told [`Outcome::Cancelled`](crate::Outcome::Cancelled)`(`[`CancelReason::Shutdown`](crate::CancelReason::Shutdown)`)`
    /// (the app never served: not the [`Outcome::Stopped`](crate::Outcome::Stopped) of a
    /// shutdown after serving), and it returns `Ok(())`, as after any shutdown that was asked
    /// for. Nothing is accepted: the socket is closed unserved.
    ///
    /// A start that fails (an `app`-scope setup that returns an error or panics) returns its
    /// error with Ctrl-C and SIGTERM still listened for: tokio never gives a signal back, so
    /// from then on they no longer end the process by themselves. A program that goes on
    /// after such an error (to wait and try the start again) listens for them itself
    /// (`tokio::signal::ctrl_c`), or it is stopped only by SIGKILL; one that returns the error
    /// from `main` ends as before.
    ///
    /// A second Ctrl-C or SIGTERM while it shuts down ends the grace at once: in-flight
    /// responses are cut (their teardowns see `Cancelled(Shutdown)`), and the teardowns and
    /// `app` scope are then torn down as usual, each within `teardown_timeout`.
    ///
    /// It logs (target `di`, INFO) `listening` with the address once it serves, `shutting
    /// down` at the signal, and `shut down` last, once every connection has closed and `app`
    /// scope is torn down: a log that ends without it is of a process stopped before its
    /// shutdown ended (killed when Kubernetes' grace period ran out, say).
    pub async fn serve(self, addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<(), ServeError> {
        let listener = listen(addr).await?;
        self.serve_listener(listener).await
    }

    /// Like [`serve`](App::serve), on a listener the program made: one bound with options of
    /// its own (`SO_REUSEPORT`, a socket from `socket2`), one handed over by systemd's socket
    /// activation or by a parent process, or one bound before privileges were dropped. A
    /// `std::net::TcpListener` becomes one with `set_nonblocking(true)` and
    /// `tokio::net::TcpListener::from_std`.
    ///
    /// The app sets on it what it sets on a listener of its own (on Linux: TCP keep-alive and
    /// its user timeout, `App::tcp_keepalive`, and `TCP_NOTSENT_LOWAT`), so that the sockets
    /// it accepts take them; it closes the listener when it shuts down. Its backlog stays the
    /// one it was made with (a listener the app binds asks for 1024, where
    /// `TcpListener::bind` asks for 128: give one made for bursts a backlog of its own, with
    /// `tokio::net::TcpSocket::listen`).
    pub async fn serve_listener(self, listener: TcpListener) -> Result<(), ServeError> {
        // Listened for now, once bound (tokio never gives a signal back: a `serve` that cannot
        // bind leaves them alone): a signal during the start stops it instead of killing the
        // process with `app` scope half set up.
        let mut signals = Signals::listen();
        let Some(server) = self.bind_until(listener, signals.recv()).await? else {
            return Ok(());
        };
        tracing::info!(target: "di", addr = %server.local_addr(), "listening");
        signals.recv().await;
        tracing::info!(target: "di", "shutting down; a second Ctrl-C or SIGTERM cuts in-flight responses now");
        let hurry = server.hurry.clone();
        let shutdown = server.shutdown();
        tokio::pin!(shutdown);
        tokio::select! {
            () = &mut shutdown => {}
            () = signals.recv() => {
                tracing::warn!(target: "di", "second signal: cutting in-flight responses now");
                hurry.cancel();
                shutdown.await;
            }
        }
        log_shut_down();
        Ok(())
    }

    /// Like [`serve`](App::serve), shutting down when `signal` completes.
    ///
    /// `signal` is polled from the start: if it completes while `app` scope is being set up,
    /// the start is stopped as [`serve`](App::serve)'s is by Ctrl-C or SIGTERM (what was set
    /// up is torn down in reverse order with `Cancelled(Shutdown)` before it returns), and it
    /// returns `Ok(())`.
    pub async fn serve_with_shutdown(
        self,
        addr: impl ToSocketAddrs + std::fmt::Debug,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let listener = listen(addr).await?;
        let mut signal = std::pin::pin!(signal);
        let Some(server) = self.bind_until(listener, signal.as_mut()).await? else {
            return Ok(());
        };
        tracing::info!(target: "di", addr = %server.local_addr(), "listening");
        signal.await;
        tracing::info!(target: "di", "shutting down");
        server.shutdown().await;
        log_shut_down();
        Ok(())
    }

    /// Starts the app and serves it on `addr` in a background task; use port 0 for any free
    /// port. Returns once the socket is listening.
    ///
    /// Cancel-safe: if this future is dropped while `app` scope is being set up (a
    /// `tokio::time::timeout` around it), those already set up are torn down in reverse order
    /// in a tracked background task, each told `Cancelled(Shutdown)`; see [`App::start`].
    /// It listens for no signal itself: [`serve`](App::serve) does.
    pub async fn bind(
        self,
        addr: impl ToSocketAddrs + std::fmt::Debug,
    ) -> Result<Server, ServeError> {
        let listener = listen(addr).await?;
        self.bind_listener(listener).await
    }

    /// Like [`bind`](App::bind), on a listener the program made (see
    /// [`serve_listener`](App::serve_listener)). [`Server::local_addr`] is the listener's
    /// address.
    pub async fn bind_listener(self, listener: TcpListener) -> Result<Server, ServeError> {
        match self
            .bind_or_stop(listener, &CancellationToken::new())
            .await?
        {
            Some(server) => Ok(server),
            None => Err(ServeError::Build(BuildError {
                problems: vec!["the start was stopped".to_owned()],
            })),
        }
    }

    /// [`bind`](App::bind), stopped when `stop` completes first: then what was set up is torn
    /// down (see [`App::start_until`]) before it returns `None`.
    async fn bind_until(
        self,
        listener: TcpListener,
        stop: impl Future<Output = ()>,
    ) -> Result<Option<Server>, ServeError> {
        let stopping = CancellationToken::new();
        let bind = self.bind_or_stop(listener, &stopping);
        tokio::pin!(bind);
        tokio::pin!(stop);
        tokio::select! {
            // The signal first: one already there starts nothing.
            biased;
            () = &mut stop => {}
            bound = &mut bind => return bound,
        }
        tracing::info!(target: "di", "shutdown signal during startup: stopping the start");
        stopping.cancel();
        match bind.await? {
            // Started before it saw the stop: shut down at once, serving nothing.
            Some(server) => server.shutdown().await,
            None => tracing::info!(target: "di", "start stopped; `app` scope torn down"),
        }
        Ok(None)
    }

    /// Starts the app on `listener` (stopped when `stop` is cancelled: then `None`), and
    /// serves it in a background task.
    async fn bind_or_stop(
        self,
        listener: TcpListener,
        stop: &CancellationToken,
    ) -> Result<Option<Server>, ServeError> {
        let local_addr = listener.local_addr()?;
        // On Linux an accepted socket takes its listener's TCP keep-alive settings and its
        // user timeout (the tests `an_accepted_socket_takes_its_listeners_tcp_keepalive` and
        // `…_tcp_user_timeout`): set once here, before the app starts and before anything is
        // accepted, they cost no system call per connection.
        let liveness_inherited = cfg!(target_os = "linux")
            && self
                .tcp_keepalive_setting()
                .is_some_and(|idle| match TcpLiveness::new(idle).set(&listener) {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::debug!(target: "di", %error, "could not set TCP keep-alive or its user timeout on the listener; setting them on each accepted connection");
                        false
                    }
                });
        // Inherited by accepted sockets as the settings above: no system call per connection.
        #[cfg(target_os = "linux")]
        if let Err(error) = socket2::SockRef::from(&listener).set_tcp_notsent_lowat(NOTSENT_LOWAT) {
            tracing::debug!(target: "di", %error, "could not set TCP_NOTSENT_LOWAT on the listener");
        }
        let Some(running) = self.start_until(stop).await? else {
            return Ok(None);
        };
        let service = running.service();
        let (stop, stopped) = oneshot::channel();
        let hurry = CancellationToken::new();
        let task = tokio::spawn(accept_loop(
            running,
            listener,
            liveness_inherited,
            stopped,
            hurry.clone(),
        ));
        Ok(Some(Server {
            local_addr,
            service,
            stop: Some(stop),
            hurry,
            task,
        }))
    }
}

/// The last line `serve` logs, once every connection has ended and `app` scope is torn down:
/// without it a drain that ended and one cut short (the process killed when Kubernetes' grace
/// ran out, or still waiting for a teardown) left the same last line, "shutting down".
fn log_shut_down() {
    tracing::info!(target: "di", "shut down: every connection closed, `app` scope torn down");
}

/// Ctrl-C and, on Unix, SIGTERM (what container runtimes send), listened for from when it is
/// made: a signal that comes before [`Signals::recv`] is waited for is kept for it.
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind, what: &str| match signal(kind) {
                Ok(signal) => Some(signal),
                Err(error) => {
                    tracing::warn!(target: "di", %error, "cannot listen for {what}");
                    None
                }
            };
            Self {
                interrupt: listen(SignalKind::interrupt(), "Ctrl-C"),
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Completes at the next signal; never, if none can be listened for (rather than at once).
    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            let Self {
                interrupt,
                terminate,
            } = self;
            tokio::select! {
                () = next(interrupt) => {}
                () = next(terminate) => {}
            }
        }
        // Tokio listens for Ctrl-C from the first poll of this future, and `bind_until` polls
        // it before it starts the app.
        #[cfg(not(unix))]
        ctrl_c().await;
    }
}

/// A listener on the first of `addr`'s addresses that can be bound, as `TcpListener::bind`
/// does; its error names the address that could not be bound ("127.0.0.1:3000: Address
/// already in use"), or, if none could be had from `addr`, `addr` as it was given (its
/// `Debug`: `"127.0.0.1": invalid socket address`, `"db.internl:5432": failed to lookup
/// address information: ...`), which `TcpListener::bind`'s does not. The error keeps its
/// kind, and the system's error as its source.
///
/// (Every type tokio's sealed `ToSocketAddrs` takes is `Debug`.)
async fn listen(addr: impl ToSocketAddrs + std::fmt::Debug) -> std::io::Result<TcpListener> {
    let unresolved = |error: std::io::Error| {
        let addr = format!("{addr:?}");
        std::io::Error::new(error.kind(), Unbound { addr, error })
    };
    let mut last = None;
    for resolved in tokio::net::lookup_host(&addr).await.map_err(unresolved)? {
        match bind_with_backlog(resolved) {
            Ok(listener) => return Ok(listener),
            Err(error) => {
                let addr = resolved.to_string();
                last = Some(std::io::Error::new(error.kind(), Unbound { addr, error }));
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        unresolved(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolved to no address",
        ))
    }))
}

/// How many connections the kernel may hold for the app before it accepts them (the system
/// caps it at `net.core.somaxconn`, 4096 on Linux since 5.4). `TcpListener::bind` asks for 128,
/// as the standard library does: a burst of more new connections than that at once (a load
/// balancer's reconnect after a deploy, a thousand clients) overflowed the queue, and clients
/// waited for their SYN to be sent again, a second or more. nginx asks for 511, Go for
/// `somaxconn`.
const BACKLOG: u32 = 1024;

/// A listener bound to `addr`, as `TcpListener::bind` makes one (`SO_REUSEADDR` on Unix), with
/// a [`BACKLOG`] of its own.
fn bind_with_backlog(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Why an address could not be bound, or resolved.
#[derive(Debug)]
struct Unbound {
    addr: String,
    error: std::io::Error,
}

impl std::fmt::Display for Unbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.addr, self.error)
    }
}

impl std::error::Error for Unbound {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Completes at the next `signal`; never, if it cannot be listened for.
#[cfg(unix)]
async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
    if let Some(signal) = signal
        && signal.recv().await.is_some()
    {
        return;
    }
    std::future::pending().await
}

/// Completes on Ctrl-C; never, if Ctrl-C cannot be listened for (rather than at once).
#[cfg(not(unix))]
async fn ctrl_c() {
    if let Err(error) = tokio::signal::ctrl_c().await {
        tracing::warn!(target: "di", %error, "cannot listen for Ctrl-C");
        std::future::pending::<()>().await;
    }
}

/// An app serving in the background; see [`App::bind`].
///
/// Stop it with [`shutdown`](Server::shutdown), which waits until `app` scope has been torn
/// down. Dropped instead, it shuts down in the background as long as the runtime runs; a
/// runtime that ends first (the end of a `#[tokio::test]`) drops the `app`-scope teardowns
/// unrun.
#[derive(Debug)]
#[must_use = "a `Server` shuts down when dropped; keep it, and call `shutdown().await` to stop it"]
pub struct Server {
    local_addr: SocketAddr,
    service: AppService,
    stop: Option<oneshot::Sender<()>>,
    /// Cancelled to end the shutdown grace at once (a second signal, see [`App::serve`]).
    hurry: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits until no background (`request`-scope) teardown is running.
    pub async fn settle(&self) {
        self.service.settle().await;
    }

    /// How many teardowns have failed, timed out or panicked so far.
    pub fn teardown_failures(&self) -> u64 {
        self.service.teardown_failures()
    }

    /// The app's counters now (open connections included); see
    /// [`Running::metrics`](crate::Running::metrics).
    pub fn metrics(&self) -> Metrics {
        self.service.metrics()
    }

    /// Shuts down gracefully and waits until `app`-scope teardown is done.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Err(error) = (&mut self.task).await {
            tracing::error!(target: "di", %error, "the server task failed");
        }
    }
}

/// The executor of hyper's HTTP/2 streams: each stream (its handler and its response body) is
/// a task of its own, tracked, so that shutdown waits for the streams of the connections it
/// ended to drop what they hold (and so hand their teardowns over) before it tears down `app`
/// scope. Untracked, a stream cut at shutdown could hand its teardowns over after `app` scope
/// was gone.
///
/// Each stream's task is linked to the stream its connection registered (see
/// `connections::take_new_stream`), which aborts it, alone, if its client takes nothing of its
/// response for `send_timeout`.
///
/// Each stream's task hosts the `request`-scope teardowns of its response (see
/// [`Hosted`]): they run in it once the body has been handed to the connection, instead of in
/// a task spawned for them. Aborted while it hosts them, it hands them to tracked tasks.
#[derive(Clone)]
struct StreamTasks {
    tracker: tokio_util::task::TaskTracker,
}

impl<F> hyper::rt::Executor<F> for StreamTasks
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        // The stream hyper has just made this future for (none for the task of an upgraded
        // CONNECT stream).
        let stream = take_new_stream();
        let hosted = Hosted::new(future);
        let task = tokio::spawn(self.tracker.track_future(hosted));
        if let Some(stream) = stream {
            stream.run_in(task.abort_handle());
        }
    }
}

/// hyper's connection settings, from the app's.
fn connection_builder(config: &Config, streams: StreamTasks) -> auto::Builder<StreamTasks> {
    let mut builder = auto::Builder::new(streams);
    // The same for both protocols, HTTP/1's floor included: below it HTTP/2 refused the
    // heads HTTP/1 served (a plain `GET` at 100 bytes; every request at 0).
    let head_size = config.max_head_size.max(MIN_HEAD_SIZE);
    // hyper applies its header read timeout only when it has a timer: each connection is given
    // its own (`Slot::head_timer`), which registers nothing per request.
    builder
        .http1()
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(head_size);
    let http2 = &config.http2;
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(http2.max_concurrent_streams)
        .max_header_list_size(u32::try_from(head_size).unwrap_or(u32::MAX))
        .keep_alive_interval(http2.keep_alive_interval)
        .keep_alive_timeout(http2.keep_alive_timeout)
        .max_pending_accept_reset_streams(http2.max_pending_accept_reset_streams)
        .max_local_error_reset_streams(http2.max_local_error_reset_streams)
        .max_send_buf_size(http2.max_send_buf_size);
    builder
}

/// The smallest read buffer hyper's HTTP/1 accepts, and so the smallest head size
/// (`App::max_head_size`) of both protocols.
const MIN_HEAD_SIZE: usize = 8192;

/// The longest time between TCP keep-alive probes (`App::tcp_keepalive`).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// How many unanswered TCP keep-alive probes give a connection up (`App::tcp_keepalive`).
const KEEPALIVE_RETRIES: u32 = 3;

/// The longest idle time TCP keep-alive takes, in seconds: Linux's largest (`MAX_TCP_KEEPIDLE`).
const LONGEST_KEEPALIVE_SECS: u64 = 32_767;

/// The longest `TCP_USER_TIMEOUT` set (`App::tcp_keepalive`): 15 minutes, about when Linux
/// gives unacknowledged data up by itself (`tcp_retries2` = 15: 924.6 s at the shortest
/// retransmission timeout). A longer one would only find a vanished client later (it also
/// decides when keep-alive gives up), so none is set instead.
#[cfg(target_os = "linux")]
const LONGEST_USER_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The most of a response a connection's socket holds unsent (`TCP_NOTSENT_LOWAT`, tcp(7)),
/// set on Linux on the listener, whose accepted sockets take it.
///
/// `send_timeout` sees a client take data when the server writes to its socket again. Linux
/// grows a socket's send buffer to megabytes, and without this the server was woken to write
/// only once about a third of it had left: a client reading steadily but slowly (400 KiB a
/// second against a one-second `send_timeout`) took less than that in `send_timeout` and was
/// cut as if it had stopped reading, near the end of a large body (what remained was in the
/// socket's buffer). With it, the server is woken as soon as what waits unsent falls below
/// this: each time the client's reads open its window. What is in flight is not counted, so a
/// fast client on a long path is not held back; the cost is more, smaller writes to a client
/// that reads slower than the server writes. 512 KiB, measured on loopback (BENCHMARKS.md,
/// "twenty-fourth round"): 128 KiB cost 1 MiB bodies 8 % of their requests a second, and
/// 1 MiB let the slow reader above be cut again.
#[cfg(target_os = "linux")]
const NOTSENT_LOWAT: u32 = 512 * 1024;

/// What `App::tcp_keepalive` sets on a connection's socket (or, on Linux, once on the
/// listener, whose accepted sockets take it): TCP keep-alive and, on Linux, a user timeout.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpLiveness {
    /// Keep-alive's idle time (see [`set_tcp_keepalive`]).
    idle: Duration,
    /// `TCP_USER_TIMEOUT` (see [`tcp_user_timeout`]); `None`: left as the kernel has it.
    #[cfg(target_os = "linux")]
    user_timeout: Option<Duration>,
}

impl TcpLiveness {
    /// For keep-alive's `idle` (`App::tcp_keepalive`; `None` there turns both off).
    pub(crate) fn new(idle: Duration) -> Self {
        Self {
            idle,
            #[cfg(target_os = "linux")]
            user_timeout: tcp_user_timeout(idle),
        }
    }

    /// Sets keep-alive, then the user timeout, on `socket` (an accepted connection or the
    /// listener).
    pub(crate) fn set<S>(&self, socket: &S) -> std::io::Result<()>
    where
        for<'s> socket2::SockRef<'s>: From<&'s S>,
    {
        set_tcp_keepalive(socket, self.idle)?;
        #[cfg(target_os = "linux")]
        if let Some(timeout) = self.user_timeout {
            socket2::SockRef::from(socket).set_tcp_user_timeout(Some(timeout))?;
        }
        Ok(())
    }
}

/// `TCP_USER_TIMEOUT` for keep-alive's `idle` (`App::tcp_keepalive`): how long data the
/// server sent may stay unacknowledged before the kernel gives the connection up
/// (`ETIMEDOUT`, tcp(7)). Keep-alive probes go out only while nothing sent waits for an
/// acknowledgment, so without it a client that vanished with part of a response in flight
/// was found only when retransmissions gave up (Linux: about 15 minutes).
///
/// It is the time keep-alive takes to give a silent connection up (idle, then
/// [`KEEPALIVE_RETRIES`] probes: 90 s by default), so that a vanished client is found in that
/// time whatever it was sent, and a shorter keep-alive finds it sooner. The kernel uses it
/// for two more things, seen on Linux 6.18 (a network namespace whose loopback drops
/// everything, and a reader that reads slowly or not at all):
/// - a silent connection is given up once this time has passed since it last heard from the
///   client with a probe unanswered, in place of after [`KEEPALIVE_RETRIES`] probes: the same
///   time, here;
/// - a client that keeps its receive window shut (it reads nothing) while data waits to be
///   sent to it is given up once the window has stayed shut this long, though it answers
///   every zero-window probe, whether or not the socket's send buffer is full (which
///   `send_timeout` waits for); each reopening, which a slow reader's reads bring (a
///   receiver reopens its window once it has read half its buffer or so), starts the count
///   again. Older kernels, which counted unanswered probes there, did not. Such a client is
///   taken as gone, as one that vanished is.
///
/// `None` when it is longer than [`LONGEST_USER_TIMEOUT`].
#[cfg(target_os = "linux")]
fn tcp_user_timeout(idle: Duration) -> Option<Duration> {
    let (idle, interval) = keepalive_times(idle);
    Some(idle.saturating_add(interval.saturating_mul(KEEPALIVE_RETRIES)))
        .filter(|&timeout| timeout <= LONGEST_USER_TIMEOUT)
}

/// Keep-alive's idle time and the time between its probes, for `idle`: whole seconds, as the
/// kernel counts them (rounded up, at least 1 s and at most [`LONGEST_KEEPALIVE_SECS`]), and
/// [`KEEPALIVE_INTERVAL`] or the idle time, if shorter.
fn keepalive_times(idle: Duration) -> (Duration, Duration) {
    let secs = idle
        .as_secs()
        .saturating_add(u64::from(idle.subsec_nanos() > 0))
        .clamp(1, LONGEST_KEEPALIVE_SECS);
    let idle = Duration::from_secs(secs);
    (idle, idle.min(KEEPALIVE_INTERVAL))
}

/// Turns TCP keep-alive on for `socket` (an accepted connection): its first probe after `idle`
/// of silence, then one every [`KEEPALIVE_INTERVAL`] (or `idle`, if shorter), given up after
/// [`KEEPALIVE_RETRIES`] unanswered, where the platform lets these be set. Times in whole
/// seconds, as the kernel counts them: rounded up, and at most [`LONGEST_KEEPALIVE_SECS`].
pub(crate) fn set_tcp_keepalive<S>(socket: &S, idle: Duration) -> std::io::Result<()>
where
    for<'s> socket2::SockRef<'s>: From<&'s S>,
{
    // (Its interval is read only where it can be set.)
    let times = keepalive_times(idle);
    let keepalive = socket2::TcpKeepalive::new().with_time(times.0);
    // Where socket2 sets the probe interval and count (its `with_interval`, `with_retries`).
    #[cfg(any(
        target_os = "android",
        target_os = "dragonfly",
        target_os = "emscripten",
        target_os = "freebsd",
        target_os = "fuchsia",
        target_os = "illumos",
        target_os = "ios",
        target_os = "visionos",
        target_os = "linux",
        target_os = "macos",
        target_os = "netbsd",
        target_os = "tvos",
        target_os = "watchos",
        target_os = "windows",
        target_os = "cygwin",
        target_os = "nuttx",
        all(target_os = "wasi", not(target_env = "p1")),
    ))]
    let keepalive = keepalive
        .with_interval(times.1)
        .with_retries(KEEPALIVE_RETRIES);
    socket2::SockRef::from(socket).set_tcp_keepalive(&keepalive)
}

/// Accepts connections on `listener` and serves each in a task of its own, until `stop`;
/// `liveness_inherited`: the listener's accepted sockets take the app's TCP keep-alive and
/// user timeout ([`TcpLiveness`]).
async fn accept_loop(
    running: Running,
    listener: TcpListener,
    liveness_inherited: bool,
    mut stop: oneshot::Receiver<()>,
    hurry: CancellationToken,
) {
    let streams = StreamTasks {
        tracker: tokio_util::task::TaskTracker::new(),
    };
    let builder = connection_builder(&running.engine.config, streams.clone());
    let service = HyperService(running.service());
    // Every connection task, so that none outlives the shutdown (and with it `app` scope).
    let config = &running.engine.config;
    let mut connections = Connections::new(
        config.max_connections,
        config.idle_timeout,
        config.send_timeout,
        config.header_read_timeout,
        config.request_id_header.clone(),
    );
    let became_idle = connections.idle_signal();
    let freed = connections.freed_signal();
    // A connection accepted at the limit, served once there is room (counted open already).
    let mut waiting: Option<(TcpStream, SocketAddr, Open)> = None;
    // Whether the limit was said to be reached since a connection was last served at once: said
    // once a time the server reaches it, not for every connection that then waits.
    let mut at_limit_said = false;
    let mut backoff = Backoff::default();
    let liveness = config
        .tcp_keepalive
        .filter(|_| !liveness_inherited)
        .map(TcpLiveness::new);
    loop {
        tokio::select! {
            accepted = listener.accept(), if waiting.is_none() && !backoff.active() => match accepted {
                Ok((stream, peer)) => {
                    backoff.succeeded();
                    let _ = stream.set_nodelay(true);
                    if let Some(liveness) = &liveness
                        && let Err(error) = liveness.set(&stream)
                    {
                        tracing::debug!(target: "di", %error, "could not set TCP keep-alive or its user timeout on an accepted connection");
                    }
                    // Counted open from here: one held at the limit is open too.
                    let open = Open::new(running.engine.clone());
                    if connections.full() {
                        if !at_limit_said {
                            at_limit_said = true;
                            at_the_limit(config.max_connections);
                        }
                        waiting = Some((stream, peer, open));
                        connections.set_waiting(true);
                        continue;
                    }
                    at_limit_said = false;
                    serve_connection(&builder, &service, &running, &mut connections, (stream, peer, open));
                }
                // The peer left (or vanished) before it was accepted: nothing to back off from.
                Err(error) if is_connection_error(&error) => {
                    tracing::debug!(target: "di", %error, "accept failed");
                }
                // Out of file descriptors (EMFILE, ENFILE) and the like: back off instead of
                // spinning, and go on.
                Err(error) => backoff.failed(&error),
            },
            () = backoff.wait(), if backoff.active() => {}
            // A connection's task ended: reaped. Its socket had closed already, which is what
            // makes room (below).
            () = connections.ended() => {}
            // A socket closed (its task may go on with teardowns): room, and a descriptor freed,
            // so accept at once.
            () = freed.wait(), if waiting.is_some() || backoff.active() => {
                backoff.retry_now();
                if !connections.full() && let Some(accepted) = waiting.take() {
                    connections.set_waiting(false);
                    serve_connection(&builder, &service, &running, &mut connections, accepted);
                }
            }
            () = became_idle.wait(), if waiting.is_some() => connections.close_longest_idle(),
            _ = &mut stop => break,
        }
    }
    drop(listener);
    // Shutdown has begun: what waits for it (`Shutdown`) ends its streams now.
    running.engine.draining.cancel();
    drop(waiting);
    let grace = running.engine.config.shutdown_grace;
    let grace_ends = tokio::time::Instant::now() + grace;
    let drained = tokio::select! {
        drained = tokio::time::timeout(grace, connections.drain()) => drained.is_ok(),
        () = hurry.cancelled() => false,
    };
    if !drained {
        if hurry.is_cancelled() {
            tracing::warn!(target: "di", "cutting remaining responses before the grace period is over");
        } else {
            tracing::warn!(target: "di", grace_ms = grace.as_millis() as u64, "grace period over; cutting remaining responses");
        }
        running.engine.stop_hard();
        // Streaming bodies see the stop at their next poll; give them a moment to end.
        let _ = tokio::time::timeout(Duration::from_secs(1), connections.drain()).await;
    }
    // What is still running (a handler that never returns) is dropped now: its teardowns are
    // handed off with `Cancelled(Shutdown)` and drained below, before `app` teardown.
    connections.abort().await;
    // The HTTP/2 streams of the connections just ended see them gone and end too, dropping
    // their handlers and bodies: their teardowns are handed over before `app` scope goes.
    // A stream may still host its response's `request` teardowns, as an HTTP/1 connection's
    // task does, which the drain above waited for within the grace period: these get what is
    // left of it (at least a second), and only past that is it worth a warning. Either way
    // `shutdown` below waits for every teardown (each bounded by `teardown_timeout`).
    streams.tracker.close();
    let streams_wait = if hurry.is_cancelled() {
        Duration::from_secs(1)
    } else {
        grace_ends
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_secs(1))
    };
    if tokio::time::timeout(streams_wait, streams.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(target: "di", wait_ms = streams_wait.as_millis() as u64, "HTTP/2 streams, or the teardowns they host, still running after the grace period; waiting for their teardowns");
    }
    running.shutdown().await;
}

/// Says that the server has reached `App::max_connections` (`limit`): new connections now wait
/// in the listen backlog, unserved, until one closes. Without it an operator whose clients
/// timed out at the limit found nothing in the log above DEBUG.
#[cold]
#[inline(never)]
fn at_the_limit(limit: usize) {
    tracing::warn!(target: "di", max_connections = limit, "connection limit reached: new connections wait in the listen backlog until an open one closes (an idle one is closed to make room); if the load is legitimate, raise `App::max_connections`");
}

/// The app's service for one connection: hands each request the client's address, for
/// [`ClientAddr`] (a field of the request's head: nothing allocated for it).
#[derive(Clone)]
struct WithClient {
    inner: HyperService,
    client: ClientAddr,
}

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for WithClient {
    type Response =
        <HyperService as hyper::service::Service<http::Request<hyper::body::Incoming>>>::Response;
    type Error = std::convert::Infallible;
    type Future = ResponseFuture;

    fn call(&self, mut request: http::Request<hyper::body::Incoming>) -> Self::Future {
        // HTTP/1.1 and HTTP/1.0 (hyper's HTTP/1 takes no other).
        let refused = if request.version() != http::Version::HTTP_2 {
            if host_is_acceptable(request.headers()) && host_from_target(&mut request) {
                body_coding_refused(&request)
            } else {
                Some(Refused::Host)
            }
        } else {
            join_split_cookies(request.headers_mut());
            let named = if request.headers().contains_key(http::header::HOST) {
                host_is_authority(&request)
            } else {
                host_from_target(&mut request)
            };
            (!named).then_some(Refused::HostNotAuthority)
        };
        if let Some(refused) = refused {
            return ResponseFuture(Box::pin(std::future::ready(refuse(
                &self.inner.0.engine,
                request.headers(),
                request.version(),
                refused,
            ))));
        }
        ResponseFuture(self.inner.0.serve_request(request, Some(self.client.0)))
    }
}

/// RFC 9112 section 3.2: an HTTP/1 request carries at most one `Host`, empty or a valid
/// `host[:port]` (no user info). Two (host confusion behind a proxy) or an invalid one are
/// refused, whatever the version: the RFC asks a 400 for "any request message" with either.
/// One left out of an HTTP/1.1 request, which the RFC also refuses, is tolerated, as hyper,
/// axum and most servers tolerate it: nothing here routes by it, and quick clients (a health
/// check written by hand) leave it out. HTTP/1.0 needs none; HTTP/2 has `:authority` (see
/// [`host_is_authority`] for a `host` beside it).
fn host_is_acceptable(headers: &http::HeaderMap) -> bool {
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (None, _) => return true,
        (Some(host), None) => host.as_bytes(),
        (Some(_), Some(_)) => return false,
    };
    is_host(host)
}

/// Makes the host that `request`'s target names, if it names one, the request's `Host`, the
/// field the app reads: false (refused as an invalid `Host`) if that host is not a valid one
/// (it has user info). An HTTP/1 request in absolute form (`GET http://a.example/ HTTP/1.1`)
/// names its host in its target, and RFC 9112 section 3.2.2 asks a server to use it and ignore
/// the `Host` beside it (which a client that takes the server for a proxy may fill in
/// otherwise); an HTTP/2 request names it in `:authority` (RFC 9113 section 8.3.1) and seldom
/// sends a `host` (one that does is checked by [`host_is_authority`] instead). Without this,
/// the app read the `Host` a request in absolute form sent beside its target, and found none
/// at all in an HTTP/2 request, where the same request over HTTP/1.1 had one.
fn host_from_target(request: &mut http::Request<hyper::body::Incoming>) -> bool {
    let Some(authority) = request.uri().authority() else {
        return true;
    };
    if !is_host(authority.as_str().as_bytes()) {
        return false;
    }
    let Ok(host) = http::HeaderValue::from_str(authority.as_str()) else {
        return false;
    };
    request.headers_mut().insert(http::header::HOST, host);
    true
}

/// Joins the `cookie` fields of an HTTP/2 request into one when it sent two or more (see
/// [`join_cookies`]); a request of one or none is left as it is, without a copy.
fn join_split_cookies(headers: &mut http::HeaderMap) {
    let mut cookies = headers.get_all(http::header::COOKIE).iter();
    if cookies.next().is_some() && cookies.next().is_some() {
        join_cookies(headers);
    }
}

/// Joins the `cookie` fields of an HTTP/2 request into one, with `"; "` between them: an
/// HTTP/2 client may send each cookie in a field of its own (the browsers do, so that header
/// compression indexes each), and RFC 9113 section 8.2.3 says they MUST be joined so before a
/// generic HTTP server application reads them. Without this, the app read the first cookie
/// alone where it reads one field (`HeaderMap::get`, a `Header` input, a mounted service),
/// where the same request over HTTP/1.1 (one `Cookie`, RFC 6265 section 5.4) gave every one.
#[cold]
#[inline(never)]
fn join_cookies(headers: &mut http::HeaderMap) {
    let mut joined = Vec::new();
    for field in &headers.get_all(http::header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(field.as_bytes());
    }
    // Each field was a valid value, and so is `; `: this cannot fail.
    if let Ok(joined) = http::HeaderValue::from_bytes(&joined) {
        headers.insert(http::header::COOKIE, joined);
    }
}

/// Whether the `host` of an HTTP/2 request that has one names the host its `:authority`
/// names, if it has one (RFC 9113 section 8.3.1: a request whose two differ is malformed; a
/// proxy in front may route by one and the app read the other). Compared as HTTP compares
/// authorities (RFC 9110 section 4.2.3): the host case-insensitively, an empty or absent port
/// the scheme's default. One `host`, valid, as over HTTP/1 ([`host_is_acceptable`]). Looked
/// at only for a request with a `host` field, which HTTP/2 clients seldom send.
#[cold]
#[inline(never)]
fn host_is_authority(request: &http::Request<hyper::body::Incoming>) -> bool {
    let headers = request.headers();
    if !host_is_acceptable(headers) {
        return false;
    }
    let (Some(host), Some(authority)) =
        (headers.get(http::header::HOST), request.uri().authority())
    else {
        return true;
    };
    let default_port: &[u8] = if request.uri().scheme() == Some(&http::uri::Scheme::HTTPS) {
        b"443"
    } else {
        b"80"
    };
    let (host, host_port) = split_port(host.as_bytes());
    let (named, named_port) = split_port(authority.as_str().as_bytes());
    host.eq_ignore_ascii_case(named)
        && port_or(host_port, default_port) == port_or(named_port, default_port)
}

/// An authority's host and its port (what follows the `:` after the host; an IP literal's
/// colons are inside its brackets).
fn split_port(authority: &[u8]) -> (&[u8], Option<&[u8]>) {
    let host_end = authority
        .iter()
        .rposition(|&byte| byte == b']')
        .map_or(0, |at| at + 1);
    match authority[host_end..].iter().position(|&byte| byte == b':') {
        Some(at) => (
            &authority[..host_end + at],
            Some(&authority[host_end + at + 1..]),
        ),
        None => (authority, None),
    }
}

/// `port`, or `default` when it is absent or empty; without leading zeros.
fn port_or<'a>(port: Option<&'a [u8]>, default: &'a [u8]) -> &'a [u8] {
    let port = port.filter(|port| !port.is_empty()).unwrap_or(default);
    let zeros = port.iter().take_while(|&&byte| byte == b'0').count();
    &port[zeros.min(port.len() - 1)..]
}

/// Why a request is refused before it is served (see [`refuse`]).
#[derive(Clone, Copy)]
enum Refused {
    /// Two `Host`s, or an invalid one: 400.
    Host,
    /// An HTTP/2 `host` that names another host than the `:authority`: 400.
    HostNotAuthority,
    /// A body chunked twice: 400.
    ChunkedTwice,
    /// A body in a transfer coding other than `chunked`: 501.
    Coding,
}

/// Whether the transfer codings of `request`'s body are refused (RFC 9112 section 6.1). Looked
/// at only for a body of no declared length, which is all a chunked one is (hyper refuses one
/// whose last coding is not `chunked`, and any in an HTTP/1.0 request).
///
/// The chunked coding is applied once, last. hyper reads a body whose `Transfer-Encoding`
/// names it twice (`chunked, chunked`, or in two fields) as chunked once, where another server
/// in front of this one may read it otherwise (or not as chunked at all): two views of where
/// the request ends, the stuff of request smuggling. Refused, as nginx refuses it.
///
/// Only `chunked` is implemented: hyper reads `gzip, chunked` as chunked and hands on the
/// bytes still gzipped, as if they were the content. Refused with 501, as RFC 9112 asks of a
/// coding the server does not understand and as nginx answers it.
fn body_coding_refused(request: &http::Request<hyper::body::Incoming>) -> Option<Refused> {
    use http_body::Body as _;
    let body = request.body();
    if body.is_end_stream() || body.size_hint().exact().is_some() {
        return None;
    }
    body_codings_refused(request.headers())
}

/// What [`body_coding_refused`] finds in the `Transfer-Encoding` fields of a chunked body.
#[cold]
fn body_codings_refused(headers: &http::HeaderMap) -> Option<Refused> {
    let mut chunked = 0;
    for coding in headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&byte| byte == b','))
        .map(<[u8]>::trim_ascii)
        // RFC 9110 section 5.6.1: empty list elements are allowed, and ignored.
        .filter(|coding| !coding.is_empty())
    {
        if !coding.eq_ignore_ascii_case(b"chunked") {
            return Some(Refused::Coding);
        }
        chunked += 1;
    }
    (chunked > 1).then_some(Refused::ChunkedTwice)
}

/// RFC 3986's `host [ ":" port ]` (an authority without user info), empty included: a
/// reg-name or IPv4 address, or an IP literal in brackets, then an optional port of digits.
/// Checked byte by byte against a table, nothing allocated (`http::uri::Authority` copies the
/// value: it cost about 840 instructions a request).
fn is_host(host: &[u8]) -> bool {
    let port = match host.strip_prefix(b"[") {
        Some(literal) => {
            let Some(end) = literal.iter().position(|&byte| byte == b']') else {
                return false;
            };
            let (address, rest) = (&literal[..end], &literal[end + 1..]);
            if address.is_empty()
                || !address
                    .iter()
                    .all(|&byte| NAME_BYTE[usize::from(byte)] || byte == b':')
            {
                return false;
            }
            rest
        }
        None => {
            let mut rest: &[u8] = &[];
            for (at, &byte) in host.iter().enumerate() {
                if !NAME_BYTE[usize::from(byte)] {
                    if byte != b':' {
                        return false;
                    }
                    rest = &host[at..];
                    break;
                }
            }
            rest
        }
    };
    match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

/// What a reg-name is made of: unreserved, pct-encoded (its `%`) and sub-delims.
const NAME_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = matches!(byte as u8,
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
            | b'-' | b'.' | b'_' | b'~' | b'%'
            | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=');
        byte += 1;
    }
    table
};

/// The answer to an HTTP/1 request whose `Host` is repeated or invalid, or whose body is
/// chunked twice (400), or in a transfer coding other than `chunked` (501), and to an HTTP/2
/// request whose `host` is not its `:authority` (400): nothing set up, and the HTTP/1
/// connection closed (its body, if any, is never read).
#[cold]
fn refuse(
    engine: &Engine,
    headers: &http::HeaderMap,
    version: http::Version,
    refused: Refused,
) -> crate::response::body::Response {
    use crate::response::into::IntoResponse as _;
    let (status, detail) = match refused {
        Refused::Host => {
            tracing::debug!(target: "di", "HTTP/1 request with two Hosts or an invalid one (or user info in its target): 400");
            (http::StatusCode::BAD_REQUEST, "Bad Request")
        }
        Refused::HostNotAuthority => {
            tracing::debug!(target: "di", "HTTP/2 request whose host is not its :authority, or with two hosts or an invalid one (or user info in its :authority): 400");
            (http::StatusCode::BAD_REQUEST, "Bad Request")
        }
        Refused::ChunkedTwice => {
            tracing::debug!(target: "di", "HTTP/1 request body chunked twice: 400");
            (http::StatusCode::BAD_REQUEST, "Bad Request")
        }
        Refused::Coding => {
            tracing::debug!(target: "di", "HTTP/1 request body in a transfer coding other than chunked: 501");
            (
                http::StatusCode::NOT_IMPLEMENTED,
                "Transfer-Encoding other than chunked is not supported",
            )
        }
    };
    let id = crate::contract::request_id::RequestId::of(
        headers,
        engine.config.request_id_header.as_ref(),
    );
    let response = crate::response::error::HttpError::new(status, detail).into_response();
    // Counted here whether or not the app has tower layers: `finish` leaves the count of a
    // layered app's answers to where they leave its layers, which this one never enters (it
    // was counted nowhere then). Never a mounted app's: di's own server refused it.
    crate::run::request::finish_layered(
        engine,
        crate::run::request::close_unread(response, version),
        &id,
        false,
    )
}

/// A connection counted open (`Metrics::open_connections`) until it ends (its socket is
/// closed) or is dropped; its task may go on with teardowns.
struct Open(Arc<Engine>);

impl Open {
    fn new(engine: Arc<Engine>) -> Self {
        engine.stats.connections.up();
        Self(engine)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.stats.connections.down();
    }
}

/// Serves `stream`, from `peer`, in a task of its own, one of `connections`; `open` counts it
/// open from when it was accepted.
fn serve_connection(
    builder: &auto::Builder<StreamTasks>,
    service: &HyperService,
    running: &Running,
    connections: &mut Connections,
    (stream, peer, open): (TcpStream, SocketAddr, Open),
) {
    let slot = connections.slot();
    let service = WithClient {
        inner: service.clone(),
        client: ClientAddr(peer),
    };
    let mut builder = builder.clone();
    builder.http1().timer(slot.head_timer());
    let connection =
        builder.serve_connection(TokioIo::new(slot.watch(stream)), slot.service(service));
    let connection = slot.closable(connection.into_owned());
    // Counted against `max_connections` while its socket is open: until the connection ends
    // (the socket is dropped with it), not until the task does. Counted open (`metrics()`)
    // until its HTTP/2 streams' responses have ended too: hyper's tasks of its streams may
    // still hold them, and their teardowns, when the connection ends.
    let live = slot.live();
    let engine = running.engine.clone();
    // Not an async block: one would hold the connection twice (as captured, and as awaited),
    // doubling each open connection's task.
    let connection = connection.map(move |ended| {
        drop(live);
        ended
    });
    let connection = slot.and_its_streams(connection, open);
    // The connection's task also runs its responses' `request`-scope teardowns, after they
    // were written, and goes on with them once the connection has closed.
    let connection = Hosted::new(connection);
    connections.spawn(
        slot,
        connection.map(move |ended| {
            if let Err(error) = ended {
                tracing::debug!(target: "di", %error, "connection ended with an error");
                if let Some(status) = answered_by_hyper(&*error) {
                    engine.stats.record_response(status, || true);
                }
            }
        }),
    );
}

/// The status hyper's HTTP/1 answered by itself before it ended its connection with `error`,
/// a request head it could not parse (its `Role::on_error`): 400 for a bad method, target,
/// version or header, 431 for a head past `max_head_size`, 414 for a request line too long.
/// Counted in `Metrics::responses` as every other answer is: the app never saw the request.
/// (A `hyper::Error` tells a too-large head from a too-long target, an HTTP/2 preface and its
/// own fault from the rest, only by its text: `is_parse_version_h2` is not in the oldest hyper
/// this crate accepts.)
#[cold]
#[inline(never)]
fn answered_by_hyper(error: &(dyn std::error::Error + 'static)) -> Option<http::StatusCode> {
    let error = error.downcast_ref::<hyper::Error>()?;
    if !error.is_parse() || error.is_parse_status() {
        return None;
    }
    let text = error.to_string();
    if error.is_parse_too_large() {
        return Some(if text == "URI too long" {
            http::StatusCode::URI_TOO_LONG
        } else {
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        });
    }
    // An HTTP/2 preface where HTTP/1 was expected, or hyper's own fault (`Parse::Internal`):
    // answered with nothing.
    if text.contains("HTTP2 preface") || text.starts_with("internal error") {
        return None;
    }
    Some(http::StatusCode::BAD_REQUEST)
}

/// An accept error that concerns one connection only, not the listener: the peer reset it,
/// or it timed out (`ETIMEDOUT`: its peer vanished while it waited to be accepted), before it
/// was accepted. The next connection is accepted at once, where an error of the listener or
/// of the process (out of descriptors) pauses the loop.
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::TimedOut
    )
}

/// The accept loop's pause after an accept error (out of descriptors): 50 ms, doubling with
/// each failure in a row up to 1 s; ended early when a connection closes.
#[derive(Default)]
struct Backoff {
    failures: u32,
    until: Option<tokio::time::Instant>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);
    const MOST: Duration = Duration::from_secs(1);

    fn active(&self) -> bool {
        self.until.is_some()
    }

    fn failed(&mut self, error: &std::io::Error) {
        let pause = Self::FIRST
            .saturating_mul(1 << self.failures.min(5))
            .min(Self::MOST);
        self.failures = self.failures.saturating_add(1);
        // Once per pause at most: a log line a second while it lasts.
        tracing::warn!(target: "di", %error, failures = self.failures, pause_ms = pause.as_millis() as u64, "accept failed; pausing");
        self.until = Some(tokio::time::Instant::now() + pause);
    }

    fn retry_now(&mut self) {
        self.until = None;
    }

    fn succeeded(&mut self) {
        self.failures = 0;
        self.until = None;
    }

    async fn wait(&mut self) {
        if let Some(until) = self.until {
            tokio::time::sleep_until(until).await;
        }
        self.until = None;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{
        TcpLiveness, is_connection_error, is_host, port_or, set_tcp_keepalive, split_port,
    };
    use crate::app::builder::App;

    /// A connected pair of sockets on the loopback: the client's end and the accepted one.
    fn socket_pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        (client, accepted)
    }

    #[test]
    fn tcp_keepalive_is_set_on_an_accepted_socket() {
        let (_client, accepted) = socket_pair();
        assert!(
            !socket2::SockRef::from(&accepted)
                .keepalive()
                .expect("SO_KEEPALIVE")
        );
        set_tcp_keepalive(&accepted, Duration::from_secs(60)).expect("set");
        let socket = socket2::SockRef::from(&accepted);
        assert!(socket.keepalive().expect("SO_KEEPALIVE"));
        #[cfg(target_os = "linux")]
        assert_eq!(keepalive_of(&accepted), (60, 10, 3));
    }

    /// A socket's keep-alive, which must be on (Linux): idle seconds, seconds between probes, probes.
    #[cfg(target_os = "linux")]
    fn keepalive_of(socket: &std::net::TcpStream) -> (u64, u64, u32) {
        let socket = socket2::SockRef::from(socket);
        assert!(socket.keepalive().expect("SO_KEEPALIVE"));
        (
            socket.tcp_keepalive_time().expect("TCP_KEEPIDLE").as_secs(),
            socket
                .tcp_keepalive_interval()
                .expect("TCP_KEEPINTVL")
                .as_secs(),
            socket.tcp_keepalive_retries().expect("TCP_KEEPCNT"),
        )
    }

    /// On Linux an accepted socket takes its listener's keep-alive settings: set once on the
    /// listener, they cost no system call per connection.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_accepted_socket_takes_its_listeners_tcp_keepalive() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        set_tcp_keepalive(&listener, Duration::from_secs(42)).expect("set");
        let _client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        assert_eq!(keepalive_of(&accepted), (42, 10, 3));
    }

    /// What the server sets on a socket for `app` (`None`: nothing, keep-alive off).
    fn liveness_of(app: App) -> Option<TcpLiveness> {
        app.tcp_keepalive_setting().map(TcpLiveness::new)
    }

    /// A socket's `TCP_USER_TIMEOUT` (`None`: unset, the kernel's own retransmission limits).
    #[cfg(target_os = "linux")]
    fn user_timeout_of<S>(socket: &S) -> Option<Duration>
    where
        for<'s> socket2::SockRef<'s>: From<&'s S>,
    {
        socket2::SockRef::from(socket)
            .tcp_user_timeout()
            .expect("TCP_USER_TIMEOUT")
    }

    /// The app's TCP settings on an accepted socket: keep-alive and, on Linux, a user timeout
    /// as long as keep-alive takes to give up (60 s, then 3 probes 10 s apart).
    #[test]
    fn tcp_keepalive_and_user_timeout_are_set_on_an_accepted_socket() {
        let (_client, accepted) = socket_pair();
        #[cfg(target_os = "linux")]
        assert_eq!(user_timeout_of(&accepted), None);
        let liveness = liveness_of(App::new()).expect("on by default");
        liveness.set(&accepted).expect("set");
        assert!(
            socket2::SockRef::from(&accepted)
                .keepalive()
                .expect("SO_KEEPALIVE")
        );
        #[cfg(target_os = "linux")]
        {
            assert_eq!(keepalive_of(&accepted), (60, 10, 3));
            assert_eq!(user_timeout_of(&accepted), Some(Duration::from_secs(90)));
        }
    }

    /// On Linux an accepted socket takes its listener's `TCP_USER_TIMEOUT` too (tcp(7)), as
    /// it takes its keep-alive: both are set once on the listener.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_accepted_socket_takes_its_listeners_tcp_user_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let liveness =
            liveness_of(App::new().tcp_keepalive(Some(Duration::from_secs(1)))).expect("on");
        liveness.set(&listener).expect("set");
        assert_eq!(user_timeout_of(&listener), Some(Duration::from_secs(4)));
        let _client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        assert_eq!(keepalive_of(&accepted), (1, 1, 3));
        assert_eq!(user_timeout_of(&accepted), Some(Duration::from_secs(4)));
    }

    /// `App::tcp_keepalive(None)` turns the user timeout off with keep-alive: nothing is set,
    /// and a socket keeps the kernel's own (no keep-alive, no user timeout).
    #[test]
    fn tcp_keepalive_none_sets_no_user_timeout_either() {
        assert!(liveness_of(App::new().tcp_keepalive(None)).is_none());
        let (_client, accepted) = socket_pair();
        assert!(
            !socket2::SockRef::from(&accepted)
                .keepalive()
                .expect("SO_KEEPALIVE")
        );
        #[cfg(target_os = "linux")]
        assert_eq!(user_timeout_of(&accepted), None);
    }

    /// The user timeout is the time keep-alive takes to give a silent connection up (idle in
    /// whole seconds, then 3 probes), whatever `send_timeout` and `idle_timeout` are: a
    /// shorter keep-alive finds a vanished client sooner, and a longer `send_timeout` or
    /// `idle_timeout` does not make it later. None past 15 minutes, where the kernel's own
    /// limit on retransmissions comes first.
    #[cfg(target_os = "linux")]
    #[test]
    fn tcp_user_timeout_is_the_time_keepalive_takes_to_give_up() {
        let secs = Duration::from_secs;
        for (idle, user_timeout) in [
            // The default: 60 + 3 x 10.
            (secs(60), Some(secs(90))),
            (secs(15), Some(secs(45))),
            (secs(1), Some(secs(4))),
            (Duration::from_millis(1500), Some(secs(8))),
            (secs(840), Some(secs(870))),
            (secs(871), None),
            (Duration::MAX, None),
        ] {
            for (send_timeout, idle_timeout) in [
                (secs(60), secs(30)),
                (secs(1), secs(30)),
                (secs(300), secs(120)),
                (Duration::MAX, Duration::MAX),
            ] {
                let liveness = liveness_of(
                    App::new()
                        .tcp_keepalive(Some(idle))
                        .send_timeout(send_timeout)
                        .idle_timeout(idle_timeout),
                )
                .expect("on");
                assert_eq!(
                    liveness.user_timeout, user_timeout,
                    "{idle:?} {send_timeout:?} {idle_timeout:?}"
                );
            }
            let liveness = liveness_of(App::new().tcp_keepalive(Some(idle))).expect("on");
            let (_client, accepted) = socket_pair();
            liveness.set(&accepted).expect("set");
            assert_eq!(user_timeout_of(&accepted), user_timeout, "{idle:?}");
        }
    }

    /// A short time probes as often as it waits; a fractional one is rounded up to whole
    /// seconds, and a very long one taken as the longest Linux accepts (not refused).
    #[cfg(target_os = "linux")]
    #[test]
    fn tcp_keepalive_times_are_whole_seconds_the_kernel_takes() {
        for (idle, time, interval) in [
            (Duration::from_secs(2), 2, 2),
            (Duration::from_millis(1), 1, 1),
            (Duration::from_millis(2500), 3, 3),
            (Duration::from_secs(30), 30, 10),
            (Duration::MAX, 32_767, 10),
        ] {
            let (_client, accepted) = socket_pair();
            set_tcp_keepalive(&accepted, idle).expect("set");
            assert_eq!(keepalive_of(&accepted), (time, interval, 3), "{idle:?}");
        }
    }

    /// An accept that failed for one connection (reset, refused, aborted, or timed out before
    /// it was accepted: its peer vanished while it waited in the backlog) is that connection's
    /// error, after which the accept loop goes straight on; one of the listener or of the
    /// process (out of descriptors, or of memory) is not: the loop backs off.
    #[test]
    fn an_accept_that_failed_for_its_connection_alone_is_not_the_listeners_error() {
        use std::io::{Error, ErrorKind};
        for kind in [
            ErrorKind::ConnectionReset,
            ErrorKind::ConnectionRefused,
            ErrorKind::ConnectionAborted,
            ErrorKind::TimedOut,
        ] {
            assert!(is_connection_error(&Error::from(kind)), "{kind:?}");
        }
        #[cfg(target_os = "linux")]
        {
            // ETIMEDOUT, ECONNABORTED as the kernel gives them.
            assert!(is_connection_error(&Error::from_raw_os_error(110)));
            assert!(is_connection_error(&Error::from_raw_os_error(103)));
            // EMFILE, ENFILE, ENOBUFS, ENOMEM.
            for code in [24, 23, 105, 12] {
                assert!(
                    !is_connection_error(&Error::from_raw_os_error(code)),
                    "{code}"
                );
            }
        }
        assert!(!is_connection_error(&Error::from(ErrorKind::OutOfMemory)));
    }

    #[test]
    fn an_authority_is_its_host_and_its_port() {
        for (authority, host, port) in [
            ("t", "t", None),
            ("t:80", "t", Some("80")),
            ("t:", "t", Some("")),
            ("[::1]", "[::1]", None),
            ("[::1]:8080", "[::1]", Some("8080")),
            ("127.0.0.1:1", "127.0.0.1", Some("1")),
        ] {
            let (got_host, got_port) = split_port(authority.as_bytes());
            assert_eq!(got_host, host.as_bytes(), "{authority}");
            assert_eq!(got_port, port.map(str::as_bytes), "{authority}");
        }
        assert_eq!(port_or(None, b"80"), b"80");
        assert_eq!(port_or(Some(b""), b"80"), b"80");
        assert_eq!(port_or(Some(b"0080"), b"443"), b"80");
        assert_eq!(port_or(Some(b"0"), b"80"), b"0");
    }

    #[test]
    fn a_host_is_a_name_or_an_address_with_an_optional_port() {
        for host in [
            "",
            "t",
            "example.com",
            "example.com:8080",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:80",
            "[v1.fe]",
            "xn--bcher-kva.example",
            "a_b~c",
            "%41",
            "host:",
        ] {
            assert!(is_host(host.as_bytes()), "{host:?} is a host");
        }
        for host in [
            "a b", "user@a", "a/b", "a?b", "a#b", "[::1", "[]", "[::1]x", "[::1]:8x", "a:8x",
            "a:80:80", "a\tb", "\"a\"", "a\\b", "<a>",
        ] {
            assert!(!is_host(host.as_bytes()), "{host:?} is not a host");
        }
    }
}
