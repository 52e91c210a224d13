//! Shared helpers for the integration suites: an event log, a raw HTTP/1 client and an
//! HTTP/2 one.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each suite uses a part of the helpers"
)]

use std::sync::Mutex;
use std::time::Duration;

/// The events of the current test, in order.
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Tests share the log, so they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether `answer`, what a connection sent after its first response, is a `200` whose body is
/// `ok`: the next request on that connection was served (by a route that answers `ok`).
pub fn served_ok(answer: &str) -> bool {
    answer.starts_with("HTTP/1.1 200 ") && answer.ends_with("\r\n\r\nok")
}

/// Records an event.
pub fn log(event: impl Into<String>) {
    LOG.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(event.into());
}

/// The events so far.
pub fn events() -> Vec<String> {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Takes the log for this test and clears it.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().await;
    LOG.lock().unwrap_or_else(|e| e.into_inner()).clear();
    guard
}

/// Clears the log (between the rounds of one test).
pub fn clear() {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Index of `event` in the log; fails the test if it is missing.
pub fn position(events: &[String], event: &str) -> usize {
    events
        .iter()
        .position(|e| e == event)
        .unwrap_or_else(|| panic!("`{event}` not in {events:?}"))
}

/// Counts the events equal to `event`.
pub fn count(events: &[String], event: &str) -> usize {
    events.iter().filter(|e| *e == event).count()
}

/// Waits (bounded: 10 s, so a broken build fails instead of hanging) until `event` was logged.
pub async fn wait_for(event: &str) {
    for _ in 0..2000 {
        if events().iter().any(|e| e == event) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("`{event}` never happened: {:?}", events());
}

/// Reads `stream` until the server closes it (or resets it): all it sent, as text. Fails the
/// test if the connection stays open 8 s.
pub async fn read_to_close<R: tokio::io::AsyncRead + Unpin>(stream: &mut R) -> String {
    String::from_utf8_lossy(&read_bytes_to_close(stream).await).into_owned()
}

/// Reads `stream` until the server closes it (or resets it): every byte it sent. Fails the
/// test if the connection stays open 8 s.
pub async fn read_bytes_to_close<R: tokio::io::AsyncRead + Unpin>(stream: &mut R) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(8), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    });
    let timed_out = read.await.is_err();
    assert!(
        !timed_out,
        "the server kept the connection open: {:?}",
        String::from_utf8_lossy(&received)
    );
    received
}

/// An HTTP/2 frame: its 9-byte header (`payload`'s length, `kind`, `flags`, `stream`) and
/// `payload`.
pub fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Reads one response head from `stream`, byte by byte so that nothing after it is taken: the
/// head as text, its blank line included. Fails the test if the connection closes first.
pub async fn read_head<R: tokio::io::AsyncRead + Unpin>(stream: &mut R) -> String {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed in a head");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Sends a keep-alive `GET path` on `stream` and reads its response (head and
/// `Content-Length` body).
pub async fn keep_alive_get(stream: &mut tokio::net::TcpStream, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let head = read_head(stream).await;
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .map_or(0, |n| n.trim().parse::<usize>().unwrap());
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.unwrap();
    head + &String::from_utf8_lossy(&body)
}

/// A header value written in the test (`HeaderValue::from_static`).
pub fn header_value(text: &'static str) -> http::HeaderValue {
    http::HeaderValue::from_static(text)
}

/// A header name written in the test, in lowercase (`HeaderName::from_static`).
pub fn header_name(text: &'static str) -> http::HeaderName {
    http::HeaderName::from_static(text)
}

/// Every value of the header `name` of a test client's answer, as text, in order.
pub fn header_values(answer: &di_runtime::TestResponse, name: &str) -> Vec<String> {
    answer
        .headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The data of a chunked body (`Transfer-Encoding: chunked`), up to where it was cut if it
/// was.
pub fn dechunk(mut chunked: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    while let Some(line) = chunked.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&chunked[..line]).unwrap(), 16)
            .expect("a hexadecimal chunk size");
        chunked = &chunked[line + 2..];
        if size == 0 {
            break;
        }
        let taken = size.min(chunked.len());
        data.extend_from_slice(&chunked[..taken]);
        chunked = &chunked[(size + 2).min(chunked.len())..];
    }
    data
}

/// An HTTP/2 client (prior knowledge) over `io`, made by `builder`, ready to send; its
/// connection is driven in the task returned (abort it to drop the connection).
pub async fn h2_client(
    io: tokio::net::TcpStream,
    builder: &h2::client::Builder,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    tokio::task::JoinHandle<()>,
) {
    h2_client_over(io, builder).await
}

/// [`h2_client`] over any socket (one wrapped to misbehave).
pub async fn h2_client_over<T>(
    io: T,
    builder: &h2::client::Builder,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    tokio::task::JoinHandle<()>,
)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (client, connection) = builder.handshake::<_, bytes::Bytes>(io).await.unwrap();
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client.ready().await.unwrap(), driver)
}

/// One hyper HTTP/2 connection to `addr` (prior knowledge): its sender, and the task that
/// drives it (abort it to drop the connection).
pub async fn hyper_h2_client(
    addr: std::net::SocketAddr,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    tokio::task::JoinHandle<()>,
) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    (sender, task)
}

/// Sends a GET of `path` to `addr` on `client`'s HTTP/2 connection, once it has room for a
/// stream: the response to come.
pub async fn h2_send_get(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    addr: std::net::SocketAddr,
    path: &str,
) -> h2::client::ResponseFuture {
    let request = http::Request::get(format!("http://{addr}{path}"))
        .body(())
        .unwrap();
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .unwrap();
    client.send_request(request, true).unwrap().0
}

/// GETs `path` from `addr` on `client`'s HTTP/2 connection, once it has room for a stream:
/// the body of the answer, whose status must be 200.
pub async fn h2_get(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    addr: std::net::SocketAddr,
    path: &str,
) -> h2::RecvStream {
    let response = h2_send_get(client, addr, path).await.await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body()
}

/// Bounds a wait (a broken build fails the test instead of hanging).
pub async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out")
}
/// One exported metric: its name, its labels, its value.
pub type Exported = (
    String,
    Vec<(String, String)>,
    metrics_util::debugging::DebugValue,
);

/// The exported metrics, from one snapshot of the debugging recorder (a snapshot takes what
/// it reports): each one's name, labels and value.
pub fn exported(snapshotter: &metrics_util::debugging::Snapshotter) -> Vec<Exported> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key
                .labels()
                .map(|label| (label.key().to_owned(), label.value().to_owned()))
                .collect();
            (key.name().to_owned(), labels, value)
        })
        .collect()
}

/// The exported `di_requests_total` of each status counted, sorted by status, from one
/// snapshot (a snapshot of the debugging recorder takes what it reports).
pub fn exported_requests(snapshotter: &metrics_util::debugging::Snapshotter) -> Vec<(String, u64)> {
    requests_by_status(&exported(snapshotter))
}

/// [`exported_requests`] of metrics already taken (see [`exported`]).
pub fn requests_by_status(exported: &[Exported]) -> Vec<(String, u64)> {
    let mut counts: Vec<(String, u64)> = exported
        .iter()
        .filter(|(name, ..)| name == "di_requests_total")
        .map(|(_, labels, value)| {
            let status = labels
                .iter()
                .find(|(key, _)| key == "status")
                .map(|(_, value)| value.clone())
                .unwrap_or_default();
            match value {
                metrics_util::debugging::DebugValue::Counter(count) => (status, *count),
                other => panic!("not a counter: {other:?}"),
            }
        })
        .filter(|(_, count)| *count > 0)
        .collect();
    counts.sort();
    counts
}

/// An outcome as the walks' event logs write it: `success 200`, `handler_error 409`,
/// `cancelled client gone`, `teardown_failed tx`, ...
pub fn describe(outcome: &di_runtime::Outcome) -> String {
    use di_runtime::Outcome;
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        Outcome::TeardownFailed { dependency, .. } => format!("teardown_failed {dependency}"),
        Outcome::HandlerError { status, .. } => format!("handler_error {}", status.as_u16()),
        Outcome::SetupFailed { dependency, .. } => format!("setup_failed {dependency}"),
        Outcome::Panicked => "panicked".into(),
        Outcome::BodyError { .. } => "body_error".into(),
        other => other.to_string(),
    }
}

/// Bounds a wait generously: a hang fails the test, naming `what` and the events so far,
/// instead of holding the suite.
pub async fn guard<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .unwrap_or_else(|_| panic!("{what} hung: {:?}", events()))
}

/// Settles `server` and checks that nothing is left owed or in flight: every setup torn down,
/// no request or teardown running.
pub async fn settled_whole(server: &di_runtime::Server) -> di_runtime::Metrics {
    guard("settle", server.settle()).await;
    let metrics = server.metrics();
    assert_eq!(metrics.setups, metrics.teardowns.total(), "{metrics:?}");
    assert_eq!(metrics.requests_in_flight, 0, "{metrics:?}");
    assert_eq!(metrics.teardowns_in_flight, 0, "{metrics:?}");
    metrics
}

/// Log lines written by a `tracing_subscriber::fmt` subscriber, kept for the test to read.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    /// Captures the lines at `level` and above written on this thread (a test's runtime on
    /// one thread: other tests are not seen), until the guard is dropped.
    pub fn at(
        level: tracing_subscriber::filter::LevelFilter,
    ) -> (Captured, tracing::subscriber::DefaultGuard) {
        use tracing_subscriber::util::SubscriberInitExt as _;
        let captured = Captured::default();
        let guard = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .with_max_level(level)
            .finish()
            .set_default();
        // `tracing` caches whether a callsite is enabled for every thread at once; another
        // test's thread, with no subscriber, may have had one of the app's log lines cached as
        // off while this one was being set (see tests/tracing.rs, `record`). Computed again
        // now, with this subscriber alive.
        tracing::callsite::rebuild_interest_cache();
        (captured, guard)
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The lines at `level` ("ERROR", "WARN", ...).
    pub fn at_level(&self, level: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|line| line.split_whitespace().nth(1) == Some(level))
            .collect()
    }

    /// The one line that says `message` for the request `id`; fails the test if there is
    /// none.
    pub fn line(&self, message: &str, id: &str) -> String {
        let lines = self.lines();
        let field = format!("request_id={id}");
        lines
            .iter()
            .find(|line| line.contains(message) && line.contains(&field))
            .unwrap_or_else(|| panic!("no `{message}` line with {field} in {lines:#?}"))
            .clone()
    }
}

/// FastAPI's answers, recorded by a suite's `gen.py` into its `expected.json`.
#[derive(serde::Deserialize)]
struct FastApiAnswers {
    #[serde(rename = "_versions")]
    versions: std::collections::BTreeMap<String, String>,
    scenarios: std::collections::BTreeMap<String, FastApiRow>,
}

/// One request and FastAPI's answer to it.
#[derive(serde::Deserialize)]
struct FastApiRow {
    method: String,
    path: String,
    body: Option<String>,
    content_type: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    status: u16,
    response: String,
    www_authenticate: Option<String>,
}

/// Sends `client` every request of `expected_json` (FastAPI's answers, see [`FastApiAnswers`])
/// and fails the test unless each is answered as FastAPI answered it (its status and body, and
/// its `WWW-Authenticate` with `with_www_authenticate`), but for the rows of `exceptions`
/// (name, reason), which must still differ: a row that starts to match must leave the list.
pub async fn answers_as_fastapi(
    client: &di_runtime::TestClient,
    expected_json: &str,
    exceptions: &[(&str, &str)],
    with_www_authenticate: bool,
) {
    let expected: FastApiAnswers =
        serde_json::from_str(expected_json).expect("expected.json parses");
    assert!(expected.versions.contains_key("fastapi"));
    let mut mismatches = Vec::new();
    let mut still_differ = Vec::new();
    for (name, scenario) in &expected.scenarios {
        let method = http::Method::from_bytes(scenario.method.as_bytes()).expect("a method");
        let mut request = client.request(method, &scenario.path);
        if let Some(content_type) = &scenario.content_type {
            request = request.header("content-type", content_type);
        }
        for (header, value) in &scenario.headers {
            request = request.header(header, value);
        }
        if let Some(body) = &scenario.body {
            request = request.body(body.clone());
        }
        let response = request.send().await;
        let status = response.status().as_u16();
        let www_authenticate = response
            .header("www-authenticate")
            .map(str::to_owned)
            .filter(|_| with_www_authenticate);
        let text = response.text().await.expect("a body");
        let same = status == scenario.status
            && text == scenario.response
            && (!with_www_authenticate || www_authenticate == scenario.www_authenticate);
        match (exceptions.iter().find(|(n, _)| n == name), same) {
            (None, true) => {}
            (None, false) if with_www_authenticate => mismatches.push(format!(
                "{name}:\n  fastapi {} {:?} {}\n  di      {status} {www_authenticate:?} {text}",
                scenario.status, scenario.www_authenticate, scenario.response
            )),
            (None, false) => mismatches.push(format!(
                "{name}:\n  fastapi {} {}\n  di      {status} {text}",
                scenario.status, scenario.response
            )),
            (Some(_), true) => still_differ.push(name.clone()),
            (Some(_), false) => {}
        }
    }
    for (name, _) in exceptions {
        assert!(
            expected.scenarios.contains_key(*name),
            "exception {name} has no scenario"
        );
    }
    assert!(
        still_differ.is_empty(),
        "these rows now match FastAPI: take them off EXCEPTIONS: {still_differ:?}"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} rows differ from FastAPI:\n{}",
        mismatches.len(),
        expected.scenarios.len(),
        mismatches.join("\n")
    );
}

/// Events by request (the id a test gives each of its requests), beside [`log`]'s order: the
/// book of the walks that run many requests at once.
static BOOK: Mutex<std::collections::BTreeMap<u64, Vec<String>>> =
    Mutex::new(std::collections::BTreeMap::new());

/// Notes `what` for request `id`, in the book and in the log (which keeps the order across
/// requests).
pub fn note(id: u64, what: impl Into<String>) {
    let what = what.into();
    log(format!("{id} {what}"));
    BOOK.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(id)
        .or_default()
        .push(what);
}

/// The book so far.
pub fn book() -> std::collections::BTreeMap<u64, Vec<String>> {
    BOOK.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Whether request `id` has noted `what`.
pub fn noted(id: u64, what: &str) -> bool {
    BOOK.lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .is_some_and(|events| events.iter().any(|e| e == what))
}

/// Empties the book (a test's start).
pub fn clear_book() {
    BOOK.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// A response body whose size hint is wrong: it says `hint` bytes and holds `data`.
pub struct Misjudged {
    pub data: Option<bytes::Bytes>,
    pub hint: u64,
}

impl hyper::body::Body for Misjudged {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>> {
        std::task::Poll::Ready(self.data.take().map(|d| Ok(hyper::body::Frame::data(d))))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.hint)
    }
}

/// The media type of a `Content-Type` value, without its parameters (`text/plain` of
/// `text/plain; charset=utf-8`).
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The problems `App::check` finds in `app`, one per line; fails the test if it accepts it.
pub fn problems(app: &di_runtime::App) -> Vec<String> {
    app.check()
        .expect_err("the app must be refused before it serves")
        .problems()
        .to_vec()
}

/// Has [`openapi_validator`] judge the OpenAPI document `json`, when one is found: fails the
/// test, with what the validator said and the document, if it rejects it.
pub fn assert_valid_openapi(json: &str) {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let Some(validator) = openapi_validator() else {
        return;
    };
    let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file =
        std::env::temp_dir().join(format!("di-openapi-{}-{number}.json", std::process::id()));
    std::fs::write(&file, json).expect("written");
    let output = std::process::Command::new(&validator)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", validator.display()));
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "openapi-spec-validator rejects the document: {}{}\n{json}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `openapi-spec-validator`, which judges an OpenAPI document: `DI_OPENAPI_VALIDATOR`, else on
/// `PATH`; `None` (after saying so) without it, a failure with `CI=true`.
pub fn openapi_validator() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("DI_OPENAPI_VALIDATOR").filter(|p| !p.is_empty()) {
        // A relative path is the workspace's (tests run in their package's folder).
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path);
        assert!(
            path.is_file(),
            "DI_OPENAPI_VALIDATOR={} is not a file",
            path.display()
        );
        return Some(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("openapi-spec-validator"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        let message = "openapi-spec-validator not found: set DI_OPENAPI_VALIDATOR or put it on \
                       PATH (pip install openapi-spec-validator; .ci/run installs it)";
        let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        assert!(!ci, "{message}; CI=true, so this is a failure");
        eprintln!("SKIPPED: {message}");
    }
    found
}
