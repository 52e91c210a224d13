//! A deployment walk: an SRE rolling a `di` service out on Kubernetes or systemd. A rolling
//! restart (SIGTERM to `App::serve`, or `Server::shutdown`) with requests of every kind in
//! flight: a plain request mid-handler, a commit, a streamed NDJSON export, a server-sent
//! events feed, a long poll, an upload mid-body, idle keep-alive connections; new connections
//! during the drain; the grace period ending, and what each client sees then; a second
//! SIGTERM; the process's exit status and last log lines; a restart on the same port at once;
//! an HTTP/1.0 export (nginx's `proxy_pass`) cut at the grace's end; an address from the
//! configuration that cannot be listened on; a listener the program bound itself
//! (`App::bind_listener`). Over real TCP with the app's own server; the
//! signals are sent to a child process running `App::serve` (this binary, run for one test),
//! never to the test binary.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{describe, events, serial, wait_for};
use di_runtime::prelude::*;
use di_runtime::{BodyStream, SseEvent};
use futures_util::{StreamExt, stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ------------------------------------------------------------------ the service

/// Records an event, and prints it (a child process's parent reads them as they happen).
fn log(event: impl Into<String>) {
    let event = event.into();
    println!("EVENT {event}");
    common::log(event);
}

/// What a handler, a commit or a background task of the child waits for: a line `release` on
/// the child's standard input lets one of them go on.
static RELEASE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(0);

async fn released() {
    RELEASE.acquire().await.unwrap().forget();
}

#[depends(scope = "app")]
async fn pool(y: Yield<u8>) {
    log("pool:open");
    let (_, outcome) = y.provide(0).await;
    log(format!("pool:close {}", describe(&outcome)));
}

/// Which client a request is, for the event log (`?who=`).
#[derive(Clone)]
struct Who(String);

#[depends]
async fn who(Query(query): Query<std::collections::HashMap<String, String>>) -> Who {
    Who(query.get("who").cloned().unwrap_or_default())
}

/// A pooled session, held until the response's last byte.
#[depends]
async fn session(#[dep(who)] who: &Who, #[dep(pool)] _pool: &u8, y: Yield<u8>) {
    let who = who.0.clone();
    log(format!("{who} session:open"));
    let (_, outcome) = y.provide(0).await;
    log(format!("{who} session:close {}", describe(&outcome)));
}

/// An NDJSON export that always has its next row ready: how fast it goes is up to its client.
#[depends]
async fn export(
    #[dep(session)] session: Held<u8>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + use<>> {
    StreamBody::new(stream::iter(0..).map(move |row| {
        let _session = &session;
        Ok(format!(
            "{{\"row\":{row},\"body\":\"{}\"}}\n",
            "x".repeat(1000)
        ))
    }))
    .content_type("application/x-ndjson")
}

/// A cache set up on the pool: torn down before it.
#[depends(scope = "app")]
async fn cache(#[dep(pool)] _pool: &u8, y: Yield<u8>) {
    log("cache:open");
    let (_, outcome) = y.provide(0).await;
    log(format!("cache:close {}", describe(&outcome)));
}

/// A transaction, committed before the response; the commit waits to be released.
#[depends(scope = "handler")]
async fn tx(#[dep(who)] who: &Who, #[dep(session)] _session: &u8, y: Yield<u8>) {
    let who = who.0.clone();
    let (_, outcome) = y.provide(0).await;
    log(format!("{who} tx:commit {}", describe(&outcome)));
    released().await;
    log(format!("{who} tx:close {}", describe(&outcome)));
}

#[depends]
async fn ok() -> &'static str {
    "ok"
}

/// A request mid-handler: it goes on once released.
#[depends]
async fn slow(
    #[dep(who)] who: &Who,
    #[dep(session)] _session: &u8,
    #[dep(cache)] _c: &u8,
) -> &'static str {
    log(format!("{} slow:in", who.0));
    released().await;
    "slow done"
}

#[depends]
async fn commit(#[dep(tx)] _tx: &mut u8) -> &'static str {
    "committed"
}

/// An NDJSON export that makes a row now and then.
#[depends]
async fn paced_export(
    #[dep(session)] session: Held<u8>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + use<>> {
    StreamBody::new(stream::iter(0..).then(move |row| {
        let _session = &session;
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(format!("{{\"row\":{row}}}\n"))
        }
    }))
    .content_type("application/x-ndjson")
}

/// A server-sent events feed.
#[depends]
async fn feed(
    #[dep(session)] session: Held<u8>,
) -> StreamBody<impl futures_util::Stream<Item = Result<SseEvent, std::io::Error>> + Send + use<>> {
    StreamBody::new(stream::iter(0..).then(move |event| {
        let _session = &session;
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(SseEvent::data(format!("event {event}")))
        }
    }))
    .content_type("text/event-stream")
}

/// A long poll: nothing to say, ever.
#[depends]
async fn long_poll(#[dep(who)] who: &Who, #[dep(session)] _session: &u8) -> &'static str {
    log(format!("{} poll:in", who.0));
    std::future::pending::<()>().await;
    "never"
}

/// An upload read as it comes.
#[depends]
async fn upload(
    #[dep(who)] who: &Who,
    #[dep(session)] _session: &u8,
    mut body: BodyStream,
) -> Result<String, HttpError> {
    log(format!("{} upload:in", who.0));
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        bytes += chunk?.len();
    }
    Ok(format!("{bytes} bytes"))
}

/// Answers at once; its background task (after the body, before the session's teardown) goes
/// on once released.
#[depends]
async fn with_task(
    #[dep(who)] who: &Who,
    #[dep(session)] _session: &u8,
    tasks: &BackgroundTasks,
) -> &'static str {
    let who = who.0.clone();
    tasks.add(async move {
        log(format!("{who} task:start"));
        released().await;
        log(format!("{who} task:end"));
    });
    "tasked"
}

/// The service of the rolling restart (no minimum upload rate: the upload stalls mid-body for
/// as long as the walk needs).
fn deploy_app() -> App {
    App::new()
        .body_min_rate(0, Duration::ZERO)
        .get("/ok", ok)
        .get("/slow", slow)
        .post("/commit", commit)
        .get("/export", paced_export)
        .get("/feed", feed)
        .get("/poll", long_poll)
        .post("/upload", upload)
        .get("/task", with_task)
}

// ------------------------------------------------------------------ helpers

/// Opens a connection to `addr` and writes `raw` on it.
async fn send(addr: SocketAddr, raw: &[u8]) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(raw).await.unwrap();
    socket
}

/// Whether new connections to `addr` are refused (within 5 s): the server no longer listens.
/// A connection the kernel took while the listener closed is reset, and tried again.
async fn refused(addr: SocketAddr) -> bool {
    for _ in 0..500 {
        match TcpStream::connect(addr).await {
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => return true,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(error) => panic!("{error}"),
            Ok(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Reads `socket` to its end: `Ok` with every byte if the server closed it cleanly, the
/// error (a reset) otherwise. Fails the test if it stays open 10 s.
async fn read_to_end_or_reset(socket: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) => return Ok(received),
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(error) => return Err(error),
            }
        }
    })
    .await
    .expect("the server ends the connection")
}

// ------------------------------------------ 1. an HTTP/1.0 export cut is never a clean end

/// nginx's `proxy_pass` speaks HTTP/1.0 to its upstream unless told otherwise: a streamed
/// export goes to it close-delimited, its end the connection's close. One still streaming when
/// the shutdown grace ended, to a client that took it more slowly than the export made it (so
/// that hyper was not asking the body for more when the connection was cut), was closed with a
/// FIN, as after a complete body: the client (nginx, then its own client) took the truncated
/// export for the whole one, while its teardowns were told `Cancelled(Shutdown)`. The
/// connection is now reset.
#[tokio::test]
async fn an_http10_export_cut_at_the_end_of_the_shutdown_grace_is_reset_not_ended_cleanly() {
    let _serial = serial().await;
    let server = App::new()
        .get("/export", export)
        .shutdown_grace(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut client = send(
        server.local_addr(),
        b"GET /export?who=proxy HTTP/1.0\r\nhost: x\r\n\r\n",
    )
    .await;
    let mut head = [0u8; 12];
    client.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.0 200");
    // The client reads nothing more until the server has shut down: the export fills the
    // socket's buffers and waits for it.
    common::guard("shutdown", server.shutdown()).await;
    let error = read_to_end_or_reset(&mut client)
        .await
        .expect_err("the cut export is not a clean end of the body");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    assert_eq!(
        events(),
        [
            "pool:open",
            "proxy session:open",
            "proxy session:close cancelled shutdown",
            "pool:close app stopped",
        ]
    );
}

/// The same export cut by the send timeout (its client took nothing for that long: a proxy
/// whose own client paused) was closed cleanly too, and a client that went on reading took
/// what it had for the whole export. Reset now.
#[tokio::test]
async fn an_http10_export_cut_by_the_send_timeout_is_reset_not_ended_cleanly() {
    let _serial = serial().await;
    let server = App::new()
        .get("/export", export)
        .send_timeout(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut client = send(
        server.local_addr(),
        b"GET /export?who=paused HTTP/1.0\r\nhost: x\r\n\r\n",
    )
    .await;
    let mut head = [0u8; 12];
    client.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.0 200");
    wait_for("paused session:close cancelled client gone").await;
    let error = read_to_end_or_reset(&mut client)
        .await
        .expect_err("the cut export is not a clean end of the body");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    common::guard("shutdown", server.shutdown()).await;
}

// ------------------------------------------ 2. an address that cannot be listened on is named

/// An address read from a deployment's configuration that does not parse or resolve (its port
/// left out, a port past 65535, a typo in the host) stopped the start with "could not listen:
/// invalid socket address" or "could not listen: failed to lookup address information: Name
/// or service not known", naming no address: the operator had to guess which setting was
/// wrong (the notes example resolved `--addr` itself for that). The error now names the
/// address as it was given, as it names one that could not be bound; it keeps its kind.
#[tokio::test]
async fn an_address_that_does_not_parse_or_resolve_is_named_in_the_error() {
    // Neither needs a name server: both are refused before any lookup.
    for (addr, why) in [
        ("127.0.0.1", "invalid socket address"),
        ("127.0.0.1:99999", "invalid port value"),
    ] {
        let error = App::new()
            .get("/ok", ok)
            .bind(addr)
            .await
            .expect_err("no address to listen on");
        assert_eq!(
            error.to_string(),
            format!("could not listen: \"{addr}\": {why}"),
            "{addr}"
        );
        match error {
            di_runtime::ServeError::Io(io) => {
                assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput, "{io}");
            }
            other => panic!("not an I/O error: {other}"),
        }
    }
    // An address of another form is taken as before.
    let server = App::new()
        .get("/ok", ok)
        .bind(("127.0.0.1", 0))
        .await
        .unwrap();
    server.shutdown().await;
}

// ------------------------------------------------------------------ a child running `serve`

/// Set in the child process of the signal tests: the shutdown grace, in milliseconds.
#[cfg(unix)]
const SERVE_CHILD: &str = "DI_DEPLOY_SERVE_CHILD";

/// The child of the signal tests: `App::serve` on any free port (its log line `listening`
/// says which), its log at INFO on standard error, its events on standard output as they
/// happen; a line `release` on its standard input lets a waiting handler, commit or task go
/// on. Prints what `serve` returned. Does nothing in a normal run.
#[cfg(unix)]
#[tokio::test]
async fn serve_child() {
    let Some(grace) = std::env::var_os(SERVE_CHILD) else {
        return;
    };
    let grace = Duration::from_millis(grace.to_str().unwrap().parse().unwrap());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .init();
    std::thread::spawn(|| {
        for line in std::io::stdin().lines() {
            if line.is_ok_and(|line| line == "release") {
                RELEASE.add_permits(1);
            }
        }
    });
    let served = deploy_app()
        .shutdown_grace(grace)
        .serve("127.0.0.1:0")
        .await;
    println!("SERVED {served:?}");
}

/// `serve_child` running in a child process, and what it has written so far.
#[cfg(unix)]
struct Child {
    process: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    /// Its standard output's `EVENT ` and `SERVED ` lines.
    events: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Its log lines (standard error).
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

#[cfg(unix)]
impl Child {
    /// Runs `serve_child` with a shutdown grace of `grace`.
    fn serve(grace: Duration) -> Self {
        use std::process::Stdio;
        use tokio::io::AsyncBufReadExt;
        let mut process = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "serve_child", "--nocapture"])
            .env(SERVE_CHILD, grace.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = process.stdin.take().unwrap();
        let events: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
        let log: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
        let mut stdout = tokio::io::BufReader::new(process.stdout.take().unwrap()).lines();
        let kept = std::sync::Arc::clone(&events);
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                if let Some(event) = line.strip_prefix("EVENT ") {
                    kept.lock().unwrap().push(event.to_owned());
                } else if line.starts_with("SERVED ") {
                    kept.lock().unwrap().push(line);
                }
            }
        });
        let mut stderr = tokio::io::BufReader::new(process.stderr.take().unwrap()).lines();
        let kept = std::sync::Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                kept.lock().unwrap().push(line);
            }
        });
        Self {
            process,
            stdin,
            events,
            log,
        }
    }

    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (60 s at most) until `found` returns something for one of `lines`.
    async fn wait<T>(
        &self,
        what: &str,
        lines: impl Fn(&Self) -> Vec<String>,
        found: impl Fn(&[String]) -> Option<T>,
    ) -> T {
        for _ in 0..6000 {
            if let Some(value) = found(&lines(self)) {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "the child never wrote {what}: {:#?} {:#?}",
            self.events(),
            self.log()
        );
    }

    /// Waits until the child has logged `event`.
    async fn event(&self, event: &str) {
        self.wait(event, Self::events, |events| {
            events.iter().any(|e| e == event).then_some(())
        })
        .await;
    }

    /// Waits until the child has written a log line containing `text`.
    async fn logged(&self, text: &str) {
        self.wait(text, Self::log, |log| {
            log.iter().any(|line| line.contains(text)).then_some(())
        })
        .await;
    }

    /// The address it serves on, once it listens.
    async fn addr(&self) -> SocketAddr {
        self.wait("listening", Self::log, |log| {
            log.iter().find_map(|line| {
                let at = line.find("listening addr=")? + "listening addr=".len();
                line[at..].split_whitespace().next()?.parse().ok()
            })
        })
        .await
    }

    /// Sends it `signal` (`TERM`, `INT`).
    fn signal(&self, signal: &str) {
        let killed = std::process::Command::new("kill")
            .args([
                &format!("-{signal}"),
                &self.process.id().unwrap().to_string(),
            ])
            .status()
            .unwrap();
        assert!(killed.success());
    }

    /// Lets `count` of its waiting handlers, commits or tasks go on.
    async fn release(&mut self, count: usize) {
        for _ in 0..count {
            self.stdin.write_all(b"release\n").await.unwrap();
        }
        self.stdin.flush().await.unwrap();
    }

    /// Waits (60 s at most) until it has ended, and until its output has been read.
    async fn exit_status(&mut self) -> std::process::ExitStatus {
        let status = tokio::time::timeout(Duration::from_secs(60), self.process.wait())
            .await
            .unwrap_or_else(|_| panic!("the child never ended: {:#?}", self.events()))
            .unwrap();
        self.wait("SERVED", Self::events, |events| {
            events
                .iter()
                .any(|event| event.starts_with("SERVED "))
                .then_some(())
        })
        .await;
        status
    }

    /// Its log lines written by `di`, each its level and message.
    fn di_lines(&self) -> Vec<String> {
        self.log()
            .iter()
            .filter_map(|line| {
                let (before, message) = line.split_once(" di: ")?;
                let level = before.split_whitespace().last()?;
                Some(format!("{level} {message}"))
            })
            .collect()
    }
}

/// How `describe`d closes of each client's session, in order.
#[cfg(unix)]
fn session_closes(events: &[String], who: &str) -> Vec<String> {
    let prefix = format!("{who} session:close ");
    events
        .iter()
        .filter_map(|event| event.strip_prefix(&prefix).map(str::to_owned))
        .collect()
}

// ------------------------------------------ 3. a rolling restart: everything in flight

/// What a Kubernetes rolling restart does to a pod: SIGTERM to `App::serve` while requests of
/// every kind are in flight. New connections are refused from then on (a readiness probe
/// fails); an idle keep-alive connection and one whose head is half sent are closed
/// unanswered; a request mid-handler and a commit under way are finished and answered,
/// `Connection: close`; at the end of the grace the streams (NDJSON over HTTP/1.1 and
/// HTTP/2, server-sent events) are cut, never ended as if complete, and the long polls and
/// the upload dropped unanswered, every session told `Cancelled(Shutdown)` once; a background
/// task still running is waited for past the grace; `app` scope is torn down last, in
/// reverse order; `serve` returns `Ok(())`, the process exits 0, and what `di` logged says
/// what happened, nothing at ERROR. Its last line says the shutdown ended: it was "grace
/// period over; cutting remaining responses" (after a drain that ended within the grace,
/// "shutting down; a second Ctrl-C or SIGTERM cuts in-flight responses now"), the same last
/// line as a process killed in the middle of its shutdown (Kubernetes' grace run out).
#[cfg(unix)]
#[tokio::test]
async fn a_sigterm_to_serve_drains_every_kind_of_request_then_tears_down_app_scope_and_exits_0() {
    if std::env::var_os(SERVE_CHILD).is_some() {
        return;
    }
    let mut child = Child::serve(Duration::from_secs(5));
    let addr = child.addr().await;

    let mut idle = send(addr, b"GET /ok HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let head = common::read_head(&mut idle).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut ok = [0u8; 2];
    idle.read_exact(&mut ok).await.unwrap();
    let mut half = send(addr, b"GET /ok HTTP/1.1\r\nhost: x\r\nx-half: ").await;
    let mut slow = send(addr, b"GET /slow?who=slow HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let mut commit = send(
        addr,
        b"POST /commit?who=commit HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n",
    )
    .await;
    let mut export = send(addr, b"GET /export?who=export HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let mut feed = send(addr, b"GET /feed?who=feed HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let mut poll = send(addr, b"GET /poll?who=poll HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let mut upload = send(
        addr,
        b"POST /upload?who=upload HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\nfirst bytes",
    )
    .await;
    let mut task = send(
        addr,
        b"GET /task?who=task HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut h2, h2_driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;
    let h2_export = common::h2_send_get(&mut h2, addr, "/export?who=h2-export").await;
    let h2_poll = common::h2_send_get(&mut h2, addr, "/poll?who=h2-poll").await;
    for event in [
        "slow slow:in",
        "commit tx:commit success 200",
        "export session:open",
        "feed session:open",
        "poll poll:in",
        "upload upload:in",
        "task task:start",
        "h2-export session:open",
        "h2-poll poll:in",
    ] {
        child.event(event).await;
    }
    let tasked = common::read_to_close(&mut task).await;
    assert!(tasked.ends_with("tasked"), "{tasked}");
    for stream in [&mut export, &mut feed] {
        let head = common::read_head(stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    let h2_export = common::within(h2_export).await.unwrap();
    assert_eq!(h2_export.status(), 200);

    child.signal("TERM");
    child.logged("shutting down").await;
    // The request mid-handler and the commit under way are finished and answered.
    child.release(2).await;
    for (client, body) in [(&mut slow, "slow done"), (&mut commit, "committed")] {
        let answer = common::read_to_close(client).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
        assert!(answer.ends_with(body), "{answer}");
    }
    // New connections are refused while the drain goes on.
    assert!(
        refused(addr).await,
        "a new connection is refused during the drain"
    );
    assert!(
        child.process.try_wait().unwrap().is_none(),
        "still draining"
    );
    // Connections with nothing in progress are closed unanswered.
    assert_eq!(common::read_to_close(&mut idle).await, "");
    assert_eq!(common::read_to_close(&mut half).await, "");

    // The grace ends: the streams are cut, never ended as if complete.
    child.logged("grace period over").await;
    for (client, item) in [(&mut export, "{\"row\":0}\n"), (&mut feed, "data: event 0")] {
        let chunked = common::read_bytes_to_close(client).await;
        let text = String::from_utf8_lossy(&chunked);
        assert!(text.contains(item), "{text}");
        assert!(
            !chunked.ends_with(b"\r\n0\r\n\r\n"),
            "a cut stream never ends: {text}"
        );
    }
    let mut h2_body = h2_export.into_body();
    let h2_end = common::within(async {
        loop {
            match h2_body.data().await {
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            }
        }
    })
    .await;
    assert!(h2_end.is_err(), "a cut HTTP/2 stream never ends cleanly");
    // The long polls and the upload are dropped unanswered.
    assert_eq!(common::read_to_close(&mut poll).await, "");
    assert_eq!(common::read_to_close(&mut upload).await, "");
    assert!(common::within(h2_poll).await.is_err());
    h2_driver.abort();
    // The background task, still running, is waited for past the grace.
    child.event("task task:start").await;
    assert!(
        child.process.try_wait().unwrap().is_none(),
        "waits for the task"
    );
    child.release(1).await;

    let status = child.exit_status().await;
    assert!(status.success(), "{status}");
    let events = child.events();
    for who in ["slow", "task"] {
        assert_eq!(session_closes(&events, who), ["success 200"], "{events:#?}");
    }
    assert_eq!(session_closes(&events, "commit"), ["success 200"]);
    assert!(events.contains(&"commit tx:close success 200".to_owned()));
    for who in ["export", "feed", "poll", "upload", "h2-export", "h2-poll"] {
        assert_eq!(
            session_closes(&events, who),
            ["cancelled shutdown"],
            "{who}: {events:#?}"
        );
    }
    assert!(
        common::position(&events, "task task:end")
            < common::position(&events, "task session:close success 200")
    );
    assert_eq!(
        events[events.len() - 3..],
        [
            "cache:close app stopped",
            "pool:close app stopped",
            "SERVED Ok(())"
        ],
        "{events:#?}"
    );
    assert_eq!(
        child.di_lines()[1..],
        [
            "INFO shutting down; a second Ctrl-C or SIGTERM cuts in-flight responses now",
            "WARN grace period over; cutting remaining responses grace_ms=5000",
            "INFO shut down: every connection closed, `app` scope torn down",
        ],
        "{:#?}",
        child.log()
    );
}

// ------------------------------------------ 4. a second SIGTERM

/// A second SIGTERM (or Ctrl-C) while `serve` drains ends the grace at once: a stream and a
/// long poll still in flight are cut (their sessions told `Cancelled(Shutdown)`), `app` scope
/// is torn down, and the process exits 0, long before its ten-minute grace; the log says so,
/// and that the shutdown ended.
#[cfg(unix)]
#[tokio::test]
async fn a_second_sigterm_cuts_what_is_in_flight_at_once_then_tears_down_app_scope_and_exits_0() {
    if std::env::var_os(SERVE_CHILD).is_some() {
        return;
    }
    let mut child = Child::serve(Duration::from_secs(600));
    let addr = child.addr().await;
    let mut export = send(addr, b"GET /export?who=export HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let mut poll = send(addr, b"GET /poll?who=poll HTTP/1.1\r\nhost: x\r\n\r\n").await;
    child.event("poll poll:in").await;
    let head = common::read_head(&mut export).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    child.signal("TERM");
    child.logged("shutting down").await;
    child.signal("TERM");
    let status = child.exit_status().await;
    assert!(status.success(), "{status}");
    let chunked = common::read_bytes_to_close(&mut export).await;
    assert!(
        !chunked.ends_with(b"\r\n0\r\n\r\n"),
        "a cut stream never ends"
    );
    assert_eq!(common::read_to_close(&mut poll).await, "");
    let events = child.events();
    for who in ["export", "poll"] {
        assert_eq!(
            session_closes(&events, who),
            ["cancelled shutdown"],
            "{events:#?}"
        );
    }
    assert_eq!(
        events[events.len() - 3..],
        [
            "cache:close app stopped",
            "pool:close app stopped",
            "SERVED Ok(())"
        ],
        "{events:#?}"
    );
    assert_eq!(
        child.di_lines()[1..],
        [
            "INFO shutting down; a second Ctrl-C or SIGTERM cuts in-flight responses now",
            "WARN second signal: cutting in-flight responses now",
            "WARN cutting remaining responses before the grace period is over",
            "INFO shut down: every connection closed, `app` scope torn down",
        ],
        "{:#?}",
        child.log()
    );
}

// ------------------------------------------ 5. a restart on the same port at once

/// A new server binds the port at once, while the old one still drains a stream on it and the
/// connections it closed first wait in `TIME_WAIT` (`SO_REUSEADDR`, which tokio's listener
/// sets): a restart on the same port (systemd's, or a process that restarts itself) never
/// fails with "address in use".
#[tokio::test]
async fn a_new_server_binds_the_port_at_once_while_the_old_one_drains_it() {
    let _serial = serial().await;
    let old = deploy_app()
        .shutdown_grace(Duration::from_secs(600))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = old.local_addr();
    // Closed by the server first (`Connection: close`): `TIME_WAIT` on its side of the port.
    for _ in 0..3 {
        let mut client = send(
            addr,
            b"GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        let answer = common::read_to_close(&mut client).await;
        assert!(answer.ends_with("\r\n\r\nok"), "{answer}");
    }
    let mut export = send(addr, b"GET /export?who=old HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let head = common::read_head(&mut export).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let draining = tokio::spawn(old.shutdown());
    assert!(
        refused(addr).await,
        "the old server stops listening at once"
    );

    let new = deploy_app()
        .bind(addr)
        .await
        .expect("the port is free at once");
    let mut client = send(
        addr,
        b"GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    let answer = common::read_to_close(&mut client).await;
    assert!(answer.ends_with("\r\n\r\nok"), "{answer}");
    // The old export still streams.
    let mut more = [0u8; 64];
    let n = common::within(export.read(&mut more)).await.unwrap();
    assert!(n > 0);
    drop(export);
    common::guard("the old server's shutdown", draining)
        .await
        .unwrap();
    wait_for("old session:close cancelled client gone").await;
    common::guard("shutdown", new.shutdown()).await;
}

// ------------------------- 8. a listener the program bound itself (SO_REUSEPORT, systemd's)

/// A program that binds its own listener (here with `SO_REUSEPORT`, as a zero-downtime restart
/// does to let the new process listen beside the old; systemd's socket activation hands one
/// over the same way) serves the app on it with `App::bind_listener`: requests are served on
/// its address, and shutdown closes it. There was no way to: `bind` and `serve` took only an
/// address to bind themselves.
#[tokio::test]
async fn an_app_serves_on_a_listener_the_program_bound_itself() {
    let _serial = serial().await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.set_reuseport(true).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(128).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = deploy_app()
        .bind_listener(listener)
        .await
        .expect("the app starts on the listener");
    assert_eq!(server.local_addr(), addr);
    for _ in 0..2 {
        let mut client = send(
            addr,
            b"GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        let answer = common::read_to_close(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nok"), "{answer}");
    }
    common::guard("shutdown", server.shutdown()).await;
    assert!(refused(addr).await, "shutdown closes the listener");
}
