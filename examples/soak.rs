//! Run with: cargo run --release --example soak
//!
//! A fault-injection soak of the notes example (`notes.rs`, served unchanged but for two
//! counting overrides and two fault routes) over loopback HTTP/1.1, against a real SQLite file.
//! Options: `--requests N` (default 100,000), `--workers N` (concurrent keep-alive
//! connections, default 16), `--seed N` (the fault mix is a deterministic function of the seed
//! and the request's number), `--db PATH` (default: a fresh file in the temporary directory,
//! removed afterwards; a file given here is kept, and the notes already in it are not
//! counted).
//!
//! A quarter of the requests carry a fault, in six kinds of equal share:
//!
//! - **handler panic**: `POST /soak/panic` inserts a note in the `tx` transaction, then panics
//!   (500; `tx` rolls back);
//! - **handler error**: `POST /soak/error` inserts a note, then returns 409 (`tx` rolls back);
//! - **setup failure**: `POST /notes` with `x-soak-fault: setup`, which the counting `tx` fails
//!   before `BEGIN` (503; nothing to tear down);
//! - **client disconnect mid-stream**: `GET /notes/export`, reading the head and at most one
//!   chunk, then closing the connection (`reader` sees `Cancelled(ClientGone)` once the
//!   server notices, or success if the body had already ended);
//! - **slow teardown**: `POST /notes` with `x-soak-fault: slow-teardown`: `tx` waits 3 ms
//!   before its COMMIT, which runs before the response is sent;
//! - **slow client**: `POST /notes` whose body arrives in three pieces, 3 ms apart, and whose
//!   response is read 3 ms late.
//!
//! The rest is ordinary traffic: notes created (40 %), imports of 1 to 5 lines (5 %), invalid
//! notes (422, 5 %), notes read by id (20 %), `/health` and, rarely (each reads every stored
//! note), a whole export.
//!
//! At the end it prints a summary and checks, exiting non-zero if any check fails:
//!
//! - every setup of `tx` and `reader` was torn down exactly once (setups == teardowns);
//! - the rows in the SQLite file are exactly the rows of the writes answered with 2xx, and
//!   `tx` committed exactly once per such write;
//! - no connection is left in a transaction: while the server still runs (its pool open), a
//!   fresh connection takes the write lock (`BEGIN IMMEDIATE`) without waiting; the file
//!   passes `PRAGMA integrity_check`;
//! - no request got an answer other than the one expected for its kind (shed requests and
//!   timeouts, 503 and 408, are counted and printed apart), no teardown failed;
//! - the process's resident memory (`VmRSS`) after warm-up (the first 20 % of the requests)
//!   is flat: the highest sample of the last quarter is at most [`RSS_SLACK_BYTES`] (4 MiB)
//!   above the highest of the first quarter. The client reads streamed exports chunk by
//!   chunk without keeping them, so that its own memory does not grow with the database.
//!
//! `cargo test --workspace` runs the same soak with 10,000 requests (the `reduced_soak` test
//! below), in debug mode.

#[allow(
    dead_code,
    reason = "the notes example's `main` and command line are not used here"
)]
#[path = "notes.rs"]
mod notes;

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use di_runtime::prelude::*;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How much the resident memory of the last quarter may exceed the first quarter's. Measured:
/// flat to 0.1 MiB over 300,000 requests in release (15.1 to 15.2 MiB with the one-query
/// export; 0.7 MiB over 900,000), 1 MiB in the debug 10,000-request run; 4 MiB is room for the allocator's own variations (and SQLite's page
/// cache, which notes limits to 128 KiB per pooled connection: with SQLite's default, 2 MB,
/// each connection that ran an export kept about that much more) while a leak of 100 bytes a
/// request, 4 MB between the two quarters of a 100,000-request run, still fails.
const RSS_SLACK_BYTES: u64 = 4 * 1024 * 1024;

/// The header through which the client asks the counting `tx` for a fault.
const FAULT_HEADER: &str = "x-soak-fault";

/// How long an injected delay lasts (slow teardown, slow client).
const DELAY: Duration = Duration::from_millis(3);

/// The first share of the requests, after which memory should no longer grow.
const WARM_UP_PERCENT: usize = 20;

// ---------------------------------------------------------------------------------------------
// The server side: counting replacements of `tx` and `reader`, and two fault routes
// ---------------------------------------------------------------------------------------------

/// What the counting dependencies saw, for the checks at the end.
#[derive(Default)]
struct Counters {
    tx_setups: AtomicU64,
    tx_teardowns: AtomicU64,
    tx_commits: AtomicU64,
    tx_rollbacks: AtomicU64,
    tx_setup_failures: AtomicU64,
    reader_setups: AtomicU64,
    reader_teardowns: AtomicU64,
    /// Teardown outcomes, by dependency and outcome.
    outcomes: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    fn outcome(&self, dependency: &str, outcome: &Outcome) {
        let kind = match outcome {
            Outcome::Success { .. } => "success".to_owned(),
            Outcome::HandlerError { status, .. } => format!("handler error {}", status.as_u16()),
            Outcome::Panicked => "panicked".to_owned(),
            Outcome::Cancelled(reason) => format!("cancelled ({reason})"),
            other => other.to_string(),
        };
        let mut outcomes = self.outcomes.lock().unwrap_or_else(|e| e.into_inner());
        *outcomes.entry(format!("{dependency}: {kind}")).or_default() += 1;
    }
}

/// The counters of the soak running in this process (one at a time: see [`SOAK_LOCK`]).
static COUNTERS: std::sync::LazyLock<Counters> = std::sync::LazyLock::new(Counters::default);

/// One soak at a time per process: the counters are global.
static SOAK_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The fault a request asks `tx` for.
fn fault_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(FAULT_HEADER).and_then(|v| v.to_str().ok())
}

/// Replaces notes' `tx`: the same transaction, counted, failing its setup or slowing its
/// teardown when the request asks.
#[depends(scope = "handler")]
async fn soak_tx(
    #[dep(notes::pool)] pool: &notes::Pool,
    headers: &HeaderMap,
    y: Yield<notes::Tx>,
) -> Result<(), HttpError> {
    let fault = fault_of(headers);
    if fault == Some("setup") {
        COUNTERS.tx_setup_failures.fetch_add(1, Ordering::SeqCst);
        return Err(HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "injected setup failure",
        ));
    }
    let slow = fault == Some("slow-teardown");
    let tx = pool.begin().await?;
    COUNTERS.tx_setups.fetch_add(1, Ordering::SeqCst);
    let (tx, outcome) = y.provide(tx).await;
    COUNTERS.outcome("tx", &outcome);
    if slow {
        tokio::time::sleep(DELAY).await;
    }
    let result = if outcome.is_success() {
        tx.commit().await.map(|()| &COUNTERS.tx_commits)
    } else {
        tx.rollback().await.map(|()| &COUNTERS.tx_rollbacks)
    };
    COUNTERS.tx_teardowns.fetch_add(1, Ordering::SeqCst);
    result?.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// Replaces notes' `reader`: the same pooled connection, counted.
#[depends]
async fn soak_reader(
    #[dep(notes::pool)] pool: &notes::Pool,
    y: Yield<notes::Conn>,
) -> Result<(), HttpError> {
    let conn = pool.acquire().await?;
    COUNTERS.reader_setups.fetch_add(1, Ordering::SeqCst);
    let (conn, outcome) = y.provide(conn).await;
    drop(conn);
    COUNTERS.outcome("reader", &outcome);
    COUNTERS.reader_teardowns.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// The message of the injected panic, which the soak's panic hook keeps quiet.
const INJECTED_PANIC: &str = "injected handler panic";

/// Inserts a note that must never be committed.
async fn insert_doomed(tx: &mut notes::Tx) -> Result<(), sqlx::Error> {
    let doomed = notes::NewNote {
        title: "doomed".to_owned(),
        body: "rolled back".to_owned(),
    };
    tx.insert(&doomed).await.map(drop)
}

/// `POST /soak/panic`: writes, then panics.
#[depends]
async fn fault_panic(#[dep(notes::tx)] tx: &mut notes::Tx) -> Result<StatusCode, HttpError> {
    insert_doomed(tx).await?;
    panic!("{INJECTED_PANIC}");
}

/// `POST /soak/error`: writes, then fails.
#[depends]
async fn fault_error(#[dep(notes::tx)] tx: &mut notes::Tx) -> Result<StatusCode, HttpError> {
    insert_doomed(tx).await?;
    Err(HttpError::new(
        StatusCode::CONFLICT,
        "injected handler error",
    ))
}

/// The notes app on the SQLite file `db`, with the counting dependencies and the fault routes.
fn soak_app(db: &FsPath) -> App {
    notes::configured(notes::Db::Sqlite(db.to_owned()))
        .post("/soak/panic", fault_panic)
        .post("/soak/error", fault_error)
        .override_dep(notes::tx, soak_tx)
        .override_dep(notes::reader, soak_reader)
}

// ---------------------------------------------------------------------------------------------
// The client side: keep-alive HTTP/1.1 over a TCP stream
// ---------------------------------------------------------------------------------------------

/// What one request does, chosen from its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Create,
    Import,
    Invalid,
    Read,
    Health,
    Export,
    FaultPanic,
    FaultError,
    FaultSetup,
    FaultDisconnect,
    FaultSlowTeardown,
    FaultSlowClient,
}

impl Kind {
    /// Out of 10,000: 75 % ordinary traffic, 25 % faults (six kinds of about 4.2 % each).
    const TABLE: [(Kind, u64); 12] = [
        (Kind::Create, 4000),
        (Kind::Import, 500),
        (Kind::Invalid, 500),
        (Kind::Read, 2000),
        (Kind::Health, 498),
        (Kind::Export, 2),
        (Kind::FaultPanic, 417),
        (Kind::FaultError, 417),
        (Kind::FaultSetup, 417),
        (Kind::FaultDisconnect, 417),
        (Kind::FaultSlowTeardown, 416),
        (Kind::FaultSlowClient, 416),
    ];

    fn pick(mut roll: u64) -> Kind {
        roll %= 10_000;
        for (kind, share) in Self::TABLE {
            if roll < share {
                return kind;
            }
            roll -= share;
        }
        Kind::Health // not reached: the shares add up to 10,000
    }

    fn is_fault(self) -> bool {
        self >= Kind::FaultPanic
    }
}

/// splitmix64: a well-mixed number from a seed and a request number (no `rand` needed).
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A response as the soak's client reads it.
struct Reply {
    status: u16,
    /// A `Content-Length` body; empty for a chunked (streamed) one, which is not kept.
    body: Vec<u8>,
    /// The lines of a chunked body, each checked to be a JSON object.
    lines: u64,
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream: BufReader::new(stream),
        })
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.get_mut().write_all(bytes).await
    }

    /// Reads a response head: its status and whether its body is chunked, and its length.
    async fn read_head(&mut self) -> std::io::Result<(u16, bool, usize)> {
        let mut line = String::new();
        let mut status = None;
        let (mut chunked, mut length) = (false, 0);
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let text = line.trim_end();
            if text.is_empty() {
                break;
            }
            match status {
                None => status = text.split(' ').nth(1).and_then(|s| s.parse().ok()),
                Some(_) => {
                    let lower = text.to_ascii_lowercase();
                    if let Some(n) = lower.strip_prefix("content-length:") {
                        length = n.trim().parse().map_err(std::io::Error::other)?;
                    } else if lower == "transfer-encoding: chunked" {
                        chunked = true;
                    }
                }
            }
        }
        let status = status.ok_or_else(|| std::io::Error::other("no status line"))?;
        Ok((status, chunked, length))
    }

    /// Reads one chunk of a chunked body: `None` at its end.
    async fn read_chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let size = usize::from_str_radix(line.trim_end(), 16).map_err(std::io::Error::other)?;
        let mut chunk = vec![0; size + 2];
        self.stream.read_exact(&mut chunk).await?;
        chunk.truncate(size);
        Ok((size > 0).then_some(chunk))
    }

    async fn read_reply(&mut self) -> std::io::Result<Reply> {
        let (status, chunked, length) = self.read_head().await?;
        let mut body = Vec::new();
        let mut lines = 0;
        if chunked {
            // An export grows with the database: read it chunk by chunk (one note per chunk),
            // without keeping it, so that the client's own memory stays flat.
            while let Some(chunk) = self.read_chunk().await? {
                for line in chunk.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    if !(line.starts_with(b"{") && line.ends_with(b"}")) {
                        return Err(std::io::Error::other(
                            "an export line that is not an object",
                        ));
                    }
                    lines += 1;
                }
            }
        } else {
            body.resize(length, 0);
            self.stream.read_exact(&mut body).await?;
        }
        Ok(Reply {
            status,
            body,
            lines,
        })
    }
}

/// A request's head, with `extra` header lines (each ending in `\r\n`).
fn head(method: &str, path: &str, extra: &str, body_len: usize) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nhost: soak\r\nx-api-key: {key}\r\ncontent-type: application/json\r\ncontent-length: {body_len}\r\n{extra}\r\n",
        key = notes::API_KEY
    )
}

/// What the client saw, summed over every worker.
#[derive(Default)]
struct Tally {
    by_kind: BTreeMap<(Kind, u16), u64>,
    /// Writes answered 2xx.
    successful_writes: u64,
    /// Rows those writes stored.
    rows_written: u64,
    /// Answers other than the one expected for the request's kind (first few, for the report).
    unexpected: Vec<String>,
    unexpected_count: u64,
    /// 503s other than the injected setup failure (shed, request timeout, concurrency wait).
    shed_or_timed_out: u64,
    /// 408s (request body too slow).
    body_timeouts: u64,
    /// Transport errors where none was expected.
    io_errors: u64,
    /// Mid-stream disconnects made.
    disconnects: u64,
    /// Notes read by whole exports.
    exported_lines: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (key, n) in other.by_kind {
            *self.by_kind.entry(key).or_default() += n;
        }
        self.successful_writes += other.successful_writes;
        self.rows_written += other.rows_written;
        self.unexpected_count += other.unexpected_count;
        for line in other.unexpected {
            if self.unexpected.len() < 10 {
                self.unexpected.push(line);
            }
        }
        self.shed_or_timed_out += other.shed_or_timed_out;
        self.body_timeouts += other.body_timeouts;
        self.io_errors += other.io_errors;
        self.disconnects += other.disconnects;
        self.exported_lines += other.exported_lines;
    }

    fn unexpected(&mut self, kind: Kind, what: String) {
        self.unexpected_count += 1;
        if self.unexpected.len() < 10 {
            self.unexpected.push(format!("{kind:?}: {what}"));
        }
    }
}

/// What the workers share.
struct Plan {
    addr: std::net::SocketAddr,
    seed: u64,
    requests: usize,
    next: AtomicUsize,
    /// `(requests started, VmRSS bytes)`, one sample per 1 % of the requests.
    rss: Mutex<Vec<(usize, u64)>>,
}

/// One worker: takes request numbers until there are none left, on one keep-alive connection
/// (opened again after a disconnect or an error).
async fn worker(plan: Arc<Plan>) -> Tally {
    let mut tally = Tally::default();
    let mut conn: Option<Conn> = None;
    let sample_every = (plan.requests / 100).max(1);
    loop {
        let n = plan.next.fetch_add(1, Ordering::SeqCst);
        if n >= plan.requests {
            break;
        }
        if n.is_multiple_of(sample_every)
            && let Some(rss) = rss_bytes()
        {
            plan.rss
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((n, rss));
        }
        let roll = mix(plan.seed, n as u64);
        let kind = Kind::pick(roll);
        let mut current = match conn.take() {
            Some(current) => current,
            None => match Conn::open(plan.addr).await {
                Ok(current) => current,
                Err(error) => {
                    tally.io_errors += 1;
                    tally.unexpected(kind, format!("connect: {error}"));
                    continue;
                }
            },
        };
        match one_request(&mut current, kind, n, roll, &mut tally).await {
            Ok(true) => conn = Some(current),
            Ok(false) => {}
            Err(error) => {
                tally.io_errors += 1;
                tally.unexpected(kind, format!("request {n}: {error}"));
            }
        }
    }
    tally
}

/// Sends request `n` of `kind` and checks its answer; `Ok(false)` when the connection is not
/// to be used again.
async fn one_request(
    conn: &mut Conn,
    kind: Kind,
    n: usize,
    roll: u64,
    tally: &mut Tally,
) -> std::io::Result<bool> {
    let note = |tag: &str| format!("{{\"title\":\"{tag} {n}\",\"body\":\"soak request {n}\"}}");
    let (expected, rows): (&[u16], u64) = match kind {
        Kind::Create => {
            let body = note("create");
            conn.write(format!("{}{body}", head("POST", "/notes", "", body.len())).as_bytes())
                .await?;
            (&[201], 1)
        }
        Kind::Import => {
            let lines = 1 + (roll >> 32) % 5;
            let body: String = (0..lines)
                .map(|i| format!("{}\n", note(&format!("import {i} of"))))
                .collect();
            conn.write(
                format!("{}{body}", head("POST", "/notes/import", "", body.len())).as_bytes(),
            )
            .await?;
            (&[201], lines)
        }
        Kind::Invalid => {
            let body = "{\"title\":\"\",\"body\":\"no title\"}";
            conn.write(format!("{}{body}", head("POST", "/notes", "", body.len())).as_bytes())
                .await?;
            (&[422], 0)
        }
        Kind::Read => {
            let id = 1 + (roll >> 32) % (n as u64 / 2 + 1);
            conn.write(head("GET", &format!("/notes/{id}"), "", 0).as_bytes())
                .await?;
            (&[200, 404], 0)
        }
        Kind::Health => {
            conn.write(head("GET", "/health", "", 0).as_bytes()).await?;
            (&[200], 0)
        }
        Kind::Export => {
            conn.write(head("GET", "/notes/export", "", 0).as_bytes())
                .await?;
            (&[200], 0)
        }
        Kind::FaultPanic | Kind::FaultError => {
            let path = if kind == Kind::FaultPanic {
                "/soak/panic"
            } else {
                "/soak/error"
            };
            conn.write(head("POST", path, "", 0).as_bytes()).await?;
            (
                if kind == Kind::FaultPanic {
                    &[500]
                } else {
                    &[409]
                },
                0,
            )
        }
        Kind::FaultSetup => {
            let body = note("setup failure");
            let extra = format!("{FAULT_HEADER}: setup\r\n");
            conn.write(format!("{}{body}", head("POST", "/notes", &extra, body.len())).as_bytes())
                .await?;
            (&[503], 0)
        }
        Kind::FaultSlowTeardown => {
            let body = note("slow teardown");
            let extra = format!("{FAULT_HEADER}: slow-teardown\r\n");
            conn.write(format!("{}{body}", head("POST", "/notes", &extra, body.len())).as_bytes())
                .await?;
            (&[201], 1)
        }
        Kind::FaultSlowClient => {
            let body = note("slow client");
            conn.write(head("POST", "/notes", "", body.len()).as_bytes())
                .await?;
            let (first, rest) = body.as_bytes().split_at(body.len() / 2);
            for piece in [first, rest] {
                tokio::time::sleep(DELAY).await;
                conn.write(piece).await?;
            }
            tokio::time::sleep(DELAY).await;
            (&[201], 1)
        }
        Kind::FaultDisconnect => {
            conn.write(head("GET", "/notes/export", "", 0).as_bytes())
                .await?;
            let (status, chunked, _) = conn.read_head().await?;
            *tally.by_kind.entry((kind, status)).or_default() += 1;
            if status != 200 || !chunked {
                tally.unexpected(kind, format!("status {status}, chunked {chunked}"));
            } else {
                // At most one line, then gone, with the rest of the body unread.
                let _ = conn.read_chunk().await?;
                tally.disconnects += 1;
            }
            return Ok(false);
        }
    };
    let reply = conn.read_reply().await?;
    *tally.by_kind.entry((kind, reply.status)).or_default() += 1;
    if !expected.contains(&reply.status) {
        match reply.status {
            503 => tally.shed_or_timed_out += 1,
            408 => tally.body_timeouts += 1,
            _ => {}
        }
        if !matches!(reply.status, 503 | 408) {
            let body = String::from_utf8_lossy(&reply.body);
            tally.unexpected(kind, format!("status {}: {body}", reply.status));
        }
        // A 408 closes the connection.
        return Ok(reply.status != 408);
    }
    if (200..300).contains(&reply.status) && rows > 0 {
        tally.successful_writes += 1;
        tally.rows_written += match kind {
            Kind::Import => {
                let answer: serde_json::Value =
                    serde_json::from_slice(&reply.body).map_err(std::io::Error::other)?;
                answer["imported"].as_u64().unwrap_or(0)
            }
            _ => rows,
        };
    }
    if kind == Kind::Export {
        tally.exported_lines += reply.lines;
    }
    Ok(true)
}

/// The process's resident memory, from `/proc/self/status` (Linux only).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

// ---------------------------------------------------------------------------------------------
// The soak
// ---------------------------------------------------------------------------------------------

/// How to run a soak.
#[derive(Clone, Debug)]
struct Options {
    requests: usize,
    workers: usize,
    seed: u64,
    /// The SQLite file; `None`: a fresh one in the temporary directory, removed afterwards.
    db: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            requests: 100_000,
            workers: 16,
            seed: 0x5EED,
            db: None,
        }
    }
}

/// One check of the report.
struct Check {
    name: &'static str,
    detail: String,
    ok: bool,
}

/// The soak's outcome: a summary and its checks.
struct Report {
    summary: Vec<(String, String)>,
    checks: Vec<Check>,
}

impl Report {
    fn ok(&self) -> bool {
        self.checks.iter().all(|check| check.ok)
    }

    fn print(&self) {
        let width = self.summary.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (key, value) in &self.summary {
            println!("{key:width$}  {value}");
        }
        println!();
        for check in &self.checks {
            let mark = if check.ok { "ok  " } else { "FAIL" };
            println!("{mark} {}: {}", check.name, check.detail);
        }
    }
}

/// Keeps the injected panic's message out of stderr; every other panic is reported as usual.
fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied());
            if message != Some(INJECTED_PANIC) {
                previous(info);
            }
        }));
    });
}

/// Removes a SQLite file and its WAL companions.
fn remove_db(path: &FsPath) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

/// The notes in the SQLite file `db`: 0 if it or its table does not exist yet.
async fn count_rows(db: &FsPath) -> Result<u64, sqlx::Error> {
    if !db.exists() {
        return Ok(0);
    }
    let options = SqliteConnectOptions::new().filename(db);
    let mut fresh = SqliteConnection::connect_with(&options).await?;
    let table: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'notes'",
    )
    .fetch_one(&mut fresh)
    .await?;
    let rows: i64 = if table == 0 {
        0
    } else {
        sqlx::query_scalar("SELECT COUNT(*) FROM notes")
            .fetch_one(&mut fresh)
            .await?
    };
    fresh.close().await?;
    Ok(u64::try_from(rows).unwrap_or(0))
}

/// Runs a soak and returns its report; `Err` if it could not run at all.
async fn soak(options: Options) -> Result<Report, Box<dyn std::error::Error>> {
    let _one_at_a_time = SOAK_LOCK.lock().await;
    quiet_injected_panics();
    let counters = &*COUNTERS;
    let (db, temporary) = match &options.db {
        Some(path) => (path.clone(), false),
        None => (
            std::env::temp_dir().join(format!("di-soak-{}.db", std::process::id())),
            true,
        ),
    };
    if temporary {
        remove_db(&db);
    }
    // A file given with `--db` may hold notes already: only the soak's own are compared.
    let rows_before = count_rows(&db).await?;
    let before = Snapshot::take(counters);

    let server = soak_app(&db).bind("127.0.0.1:0").await?;
    let plan = Arc::new(Plan {
        addr: server.local_addr(),
        seed: options.seed,
        requests: options.requests,
        next: AtomicUsize::new(0),
        rss: Mutex::new(Vec::new()),
    });
    let started = Instant::now();
    let workers: Vec<_> = (0..options.workers.max(1))
        .map(|_| tokio::spawn(worker(plan.clone())))
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        tally.merge(worker.await?);
    }
    let elapsed = started.elapsed();

    // Every request-scope teardown has run; no pooled connection may hold a transaction.
    server.settle().await;
    let lock_free = {
        let options = SqliteConnectOptions::new()
            .filename(&db)
            .busy_timeout(Duration::ZERO);
        let mut fresh = SqliteConnection::connect_with(&options).await?;
        let taken = sqlx::query("BEGIN IMMEDIATE").execute(&mut fresh).await;
        let result = match taken {
            Ok(_) => {
                sqlx::query("ROLLBACK").execute(&mut fresh).await?;
                Ok(())
            }
            Err(error) => Err(error.to_string()),
        };
        fresh.close().await?;
        result
    };
    let teardown_failures = server.teardown_failures();
    // The runtime's own counters, beside the soak's: every generator set up was torn down.
    let metrics = server.metrics();
    server.shutdown().await;

    let rows = count_rows(&db).await? - rows_before;
    let integrity = {
        let options = SqliteConnectOptions::new().filename(&db);
        let mut fresh = SqliteConnection::connect_with(&options).await?;
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut fresh)
            .await?;
        fresh.close().await?;
        integrity
    };
    if temporary {
        remove_db(&db);
    }
    let seen = Snapshot::take(counters).since(&before);

    Ok(report(
        &options,
        &plan,
        &tally,
        &seen,
        elapsed,
        lock_free,
        teardown_failures,
        &metrics,
        rows,
        &integrity,
    ))
}

/// The counters at one moment, so that a soak reads only its own.
#[derive(Clone, Default)]
struct Snapshot {
    /// Teardown outcomes, by dependency and outcome.
    outcomes: BTreeMap<String, u64>,
    tx_setups: u64,
    tx_teardowns: u64,
    tx_commits: u64,
    tx_rollbacks: u64,
    tx_setup_failures: u64,
    reader_setups: u64,
    reader_teardowns: u64,
}

impl Snapshot {
    fn take(c: &Counters) -> Snapshot {
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        Snapshot {
            outcomes: c.outcomes.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            tx_setups: get(&c.tx_setups),
            tx_teardowns: get(&c.tx_teardowns),
            tx_commits: get(&c.tx_commits),
            tx_rollbacks: get(&c.tx_rollbacks),
            tx_setup_failures: get(&c.tx_setup_failures),
            reader_setups: get(&c.reader_setups),
            reader_teardowns: get(&c.reader_teardowns),
        }
    }

    fn since(self, before: &Snapshot) -> Snapshot {
        let mut outcomes = self.outcomes;
        for (outcome, n) in &mut outcomes {
            *n -= before.outcomes.get(outcome).copied().unwrap_or(0);
        }
        Snapshot {
            outcomes,
            tx_setups: self.tx_setups - before.tx_setups,
            tx_teardowns: self.tx_teardowns - before.tx_teardowns,
            tx_commits: self.tx_commits - before.tx_commits,
            tx_rollbacks: self.tx_rollbacks - before.tx_rollbacks,
            tx_setup_failures: self.tx_setup_failures - before.tx_setup_failures,
            reader_setups: self.reader_setups - before.reader_setups,
            reader_teardowns: self.reader_teardowns - before.reader_teardowns,
        }
    }
}

/// The highest RSS sample among requests `from..to`.
fn highest_rss(samples: &[(usize, u64)], from: usize, to: usize) -> Option<u64> {
    samples
        .iter()
        .filter(|(n, _)| (from..to).contains(n))
        .map(|&(_, rss)| rss)
        .max()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[allow(clippy::too_many_arguments, reason = "one call, from `soak`")]
fn report(
    options: &Options,
    plan: &Plan,
    tally: &Tally,
    seen: &Snapshot,
    elapsed: Duration,
    lock_free: Result<(), String>,
    teardown_failures: u64,
    metrics: &di_runtime::Metrics,
    rows: u64,
    integrity: &str,
) -> Report {
    let requests = options.requests;
    let faults: u64 = tally
        .by_kind
        .iter()
        .filter(|((kind, _), _)| kind.is_fault())
        .map(|(_, n)| n)
        .sum();
    let answered: u64 = tally.by_kind.values().sum();
    let mut summary = vec![
        (
            "requests".to_owned(),
            format!(
                "{requests} over {} keep-alive connections, seed {:#x}",
                options.workers, options.seed
            ),
        ),
        (
            "elapsed".to_owned(),
            format!(
                "{:.1} s ({:.0} requests/s)",
                elapsed.as_secs_f64(),
                requests as f64 / elapsed.as_secs_f64()
            ),
        ),
        (
            "answered".to_owned(),
            format!(
                "{answered} ({faults} with an injected fault, {:.1} %)",
                100.0 * faults as f64 / answered.max(1) as f64
            ),
        ),
    ];
    for ((kind, status), n) in &tally.by_kind {
        summary.push((format!("  {kind:?} {status}"), n.to_string()));
    }
    summary.extend([
        (
            "mid-stream disconnects".to_owned(),
            tally.disconnects.to_string(),
        ),
        (
            "notes read by whole exports".to_owned(),
            tally.exported_lines.to_string(),
        ),
        (
            "successful writes (2xx)".to_owned(),
            format!(
                "{} requests, {} rows",
                tally.successful_writes, tally.rows_written
            ),
        ),
        ("rows in the file".to_owned(), rows.to_string()),
        (
            "tx".to_owned(),
            format!(
                "{} setups, {} teardowns ({} commits, {} rollbacks), {} injected setup failures",
                seen.tx_setups,
                seen.tx_teardowns,
                seen.tx_commits,
                seen.tx_rollbacks,
                seen.tx_setup_failures
            ),
        ),
        (
            "reader".to_owned(),
            format!(
                "{} setups, {} teardowns",
                seen.reader_setups, seen.reader_teardowns
            ),
        ),
        (
            "shed or timed out (503)".to_owned(),
            tally.shed_or_timed_out.to_string(),
        ),
        (
            "body timeouts (408)".to_owned(),
            tally.body_timeouts.to_string(),
        ),
        (
            "teardown failures".to_owned(),
            teardown_failures.to_string(),
        ),
    ]);
    for (outcome, n) in &seen.outcomes {
        summary.push((format!("  teardown outcome {outcome}"), n.to_string()));
    }
    let outcome = |name: &str| seen.outcomes.get(name).copied().unwrap_or(0);
    let answers =
        |kind: Kind, status: u16| tally.by_kind.get(&(kind, status)).copied().unwrap_or(0);

    let samples = plan.rss.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let warm = requests * WARM_UP_PERCENT / 100;
    let quarter = (requests - warm) / 4;
    let first = highest_rss(&samples, warm, warm + quarter);
    let last = highest_rss(&samples, requests - quarter, requests);
    let rss_check = match (first, last) {
        (Some(first), Some(last)) => {
            let at = |from: usize, to: usize| {
                highest_rss(&samples, from, to).map_or_else(|| "-".to_owned(), mib)
            };
            let quarters: Vec<String> = (0..4)
                .map(|q| at(warm + q * quarter, warm + (q + 1) * quarter))
                .collect();
            summary.push((
                "RSS, highest: warm-up, then each quarter".to_owned(),
                format!("{}; {}", at(0, warm), quarters.join(", ")),
            ));
            Check {
                name: "memory flat after warm-up",
                detail: format!(
                    "last quarter {} vs first {} (slack {})",
                    mib(last),
                    mib(first),
                    mib(RSS_SLACK_BYTES)
                ),
                ok: last <= first + RSS_SLACK_BYTES,
            }
        }
        _ => Check {
            name: "memory flat after warm-up",
            detail: "not measured (no /proc/self/status)".to_owned(),
            ok: true,
        },
    };

    let checks = vec![
        Check {
            name: "every request answered as expected",
            detail: format!(
                "{} unexpected, {} transport errors{}",
                tally.unexpected_count,
                tally.io_errors,
                if tally.unexpected.is_empty() {
                    String::new()
                } else {
                    format!(": {}", tally.unexpected.join("; "))
                }
            ),
            ok: tally.unexpected_count == 0 && tally.io_errors == 0 && answered == requests as u64,
        },
        Check {
            name: "setups == teardowns",
            detail: format!(
                "tx {} == {}, reader {} == {}",
                seen.tx_setups, seen.tx_teardowns, seen.reader_setups, seen.reader_teardowns
            ),
            ok: seen.tx_setups == seen.tx_teardowns && seen.reader_setups == seen.reader_teardowns,
        },
        Check {
            name: "the runtime's counters agree",
            detail: format!(
                "{} setups == {} teardowns, {} shed, nothing in flight ({} requests, {} teardowns)",
                metrics.setups,
                metrics.teardowns.total(),
                metrics.requests_shed,
                metrics.requests_in_flight,
                metrics.teardowns_in_flight
            ),
            ok: metrics.setups == metrics.teardowns.total()
                && metrics.setups >= seen.tx_setups + seen.reader_setups
                && metrics.requests_in_flight == 0
                && metrics.teardowns_in_flight == 0,
        },
        Check {
            name: "committed rows == successful writes",
            detail: format!(
                "{rows} rows == {} written; {} commits == {} 2xx writes",
                tally.rows_written, seen.tx_commits, tally.successful_writes
            ),
            ok: rows == tally.rows_written && seen.tx_commits == tally.successful_writes,
        },
        Check {
            name: "teardowns saw the true outcome",
            detail: format!(
                "tx: panicked {} == {} panics answered 500, handler error 409 {} == {} errors answered, success {} == {} commits",
                outcome("tx: panicked"),
                answers(Kind::FaultPanic, 500),
                outcome("tx: handler error 409"),
                answers(Kind::FaultError, 409),
                outcome("tx: success"),
                seen.tx_commits,
            ),
            ok: outcome("tx: panicked") == answers(Kind::FaultPanic, 500)
                && outcome("tx: handler error 409") == answers(Kind::FaultError, 409)
                && outcome("tx: success") == seen.tx_commits,
        },
        Check {
            name: "no connection left in a transaction",
            detail: match &lock_free {
                Ok(()) => format!("BEGIN IMMEDIATE at once; integrity_check {integrity}"),
                Err(error) => format!("BEGIN IMMEDIATE failed: {error}"),
            },
            ok: lock_free.is_ok() && integrity == "ok",
        },
        Check {
            name: "no teardown failed",
            detail: teardown_failures.to_string(),
            ok: teardown_failures == 0,
        },
        rss_check,
    ];
    Report { summary, checks }
}

/// Command-line usage.
const USAGE: &str = "usage: cargo run --release --example soak -- [--requests N] [--workers N] [--seed N] [--db PATH]";

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options::default();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let number = |name: &str, text: String| {
            text.replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("{name} needs a number, got `{text}`"))
        };
        match arg.as_str() {
            "--requests" => options.requests = number("--requests", value("--requests")?)? as usize,
            "--workers" => options.workers = number("--workers", value("--workers")?)? as usize,
            "--seed" => options.seed = number("--seed", value("--seed")?)?,
            "--db" => options.db = Some(PathBuf::from(value("--db")?)),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if options.requests == 0 || options.workers == 0 {
        return Err("--requests and --workers must be at least 1".to_owned());
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("{problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match soak(options).await {
        Ok(report) => {
            report.print();
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("soak: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod soak_tests {
    use super::*;

    /// The reduced soak `cargo test --workspace` runs: 10,000 requests, the same checks.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reduced_soak() {
        let report = soak(Options {
            requests: 10_000,
            ..Options::default()
        })
        .await
        .expect("the soak runs");
        report.print();
        assert!(report.ok(), "a check failed; see above");
    }

    #[test]
    fn the_fault_mix_is_a_quarter_in_six_kinds() {
        let total: u64 = Kind::TABLE.iter().map(|(_, share)| share).sum();
        assert_eq!(total, 10_000);
        let faults: u64 = Kind::TABLE
            .iter()
            .filter(|(kind, _)| kind.is_fault())
            .map(|(_, share)| share)
            .sum();
        assert_eq!(faults, 2_500);
        let mut seen = BTreeMap::new();
        for n in 0..100_000 {
            *seen.entry(Kind::pick(mix(0x5EED, n))).or_insert(0u64) += 1;
        }
        let drawn: u64 = seen
            .iter()
            .filter(|(k, _)| k.is_fault())
            .map(|(_, n)| n)
            .sum();
        assert!(
            (24_000..26_000).contains(&drawn),
            "{drawn} faults in 100,000"
        );
        assert_eq!(seen.len(), Kind::TABLE.len(), "every kind is drawn");
    }

    #[test]
    fn arguments() {
        let args = |list: &[&str]| parse_args(list.iter().map(|s| (*s).to_owned()));
        let options = args(&["--requests", "1_000", "--workers", "4"]).expect("valid");
        assert_eq!((options.requests, options.workers), (1_000, 4));
        assert!(args(&["--requests"]).is_err());
        assert!(args(&["--requests", "many"]).is_err());
        assert!(args(&["--workers", "0"]).is_err());
        assert!(args(&["--fast"]).is_err());
    }
}
