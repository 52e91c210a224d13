//! Benchmarks of `di` against the servers a user would pick instead, on one reference
//! workload (issue 12; see `bench/README.md` for the commands).
//!
//! The workload, `GET /items?limit=5`, uses five dependencies:
//!
//! | dependency | kind | scope | this crate's work |
//! |---|---|---|---|
//! | settings | singleton | app | [`Settings::load`] |
//! | user | plain, used by `tx` and `session`, cached per request | request | [`current_user`] |
//! | tx | generator: commits on success, else rolls back | handler (before the response head) | [`Tx`] |
//! | session | generator, closed after the body was sent | request | [`Session`] |
//! | page | `Query<Page>` input | — | [`Page`], [`check_limit`] |
//!
//! and answers `{"items":[1,2,3,4,5],"user":21,"session":42}` with
//! `content-type: application/json`. `GET /stream` streams [`LINES`] NDJSON lines, each
//! reading the `request`-scoped [`Session`]; `GET /hello` has no dependency at all.
//!
//! Every Rust implementation ([`di_impl`], [`hyper_impl`], [`axum_impl`]) calls the functions
//! of this module in the same order; only the plumbing differs. `bench/fastapi_ref.py` is the
//! same app in FastAPI.

use std::convert::Infallible;
use std::fmt;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub mod axum_impl;
pub mod body;
pub mod di_impl;
pub mod graphs;
pub mod harness;
pub mod hyper_impl;
pub mod serve;
pub mod workloads;

/// The `content-type` of `/items`.
pub const JSON: &str = "application/json";
/// The `content-type` of `/stream`.
pub const NDJSON: &str = "application/x-ndjson";
/// The body of `/hello` (`text/plain; charset=utf-8`).
pub const HELLO: &str = "hello";
/// How many lines `/stream` sends.
pub const LINES: u32 = 100;
/// The `limit` of `/items` when the query has none.
pub const DEFAULT_LIMIT: u32 = 5;

static COMMITS: AtomicU64 = AtomicU64::new(0);
static ROLLBACKS: AtomicU64 = AtomicU64::new(0);
static WRITES: AtomicU64 = AtomicU64::new(0);
static SESSIONS_CLOSED: AtomicU64 = AtomicU64::new(0);
static SESSIONS_ABORTED: AtomicU64 = AtomicU64::new(0);

/// The app's settings: the `app`-scoped singleton, loaded once.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Base of the user id.
    pub user_base: u64,
    /// The session id every session gets.
    pub session_id: u64,
    /// The largest `limit` accepted.
    pub max_limit: u32,
}

impl Settings {
    /// Loads the settings (constants: the work is the same in every implementation).
    pub fn load() -> Self {
        Self {
            user_base: 7,
            session_id: 42,
            max_limit: 100,
        }
    }
}

/// The current user: a plain dependency of `tx` and `session`, computed once per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: u64,
}

/// Computes the current user from the settings.
pub fn current_user(settings: &Settings) -> User {
    User {
        id: settings.user_base * 3,
    }
}

/// A stand-in for a database transaction, `handler`-scoped: it commits on success and rolls
/// back otherwise, before the response head is sent.
#[derive(Debug)]
pub struct Tx {
    user: u64,
    writes: u64,
}

impl Tx {
    /// Opens a transaction for `user`.
    pub fn begin(settings: &Settings, user: &User) -> Self {
        let _ = settings;
        Self {
            user: user.id,
            writes: 0,
        }
    }

    /// Records the items written.
    pub fn record(&mut self, items: &[u32]) {
        self.writes += items.len() as u64;
    }

    /// Ends the transaction: commits if `success`, else rolls back.
    pub fn finish(self, success: bool) {
        if success {
            COMMITS.fetch_add(1, Ordering::Relaxed);
            WRITES.fetch_add(self.writes, Ordering::Relaxed);
        } else {
            ROLLBACKS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A stand-in for a session (or a pooled connection), `request`-scoped: closed after the
/// response body has been sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    /// Its id.
    pub id: u64,
    /// The user it belongs to.
    pub user: u64,
}

impl Session {
    /// Opens a session for `user`.
    pub fn open(settings: &Settings, user: &User) -> Self {
        Self {
            id: settings.session_id,
            user: user.id,
        }
    }

    /// Closes the session; `completed` says whether the body was sent to its end.
    pub fn close(self, completed: bool) {
        if completed {
            SESSIONS_CLOSED.fetch_add(1, Ordering::Relaxed);
        } else {
            SESSIONS_ABORTED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The query of `/items`.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct Page {
    /// How many items, 1 to [`Settings::max_limit`]; [`DEFAULT_LIMIT`] when absent.
    pub limit: Option<u32>,
}

/// A `limit` out of range.
#[derive(Clone, Copy, Debug)]
pub struct LimitError {
    /// The limit asked for.
    pub limit: u32,
    /// The largest allowed.
    pub max: u32,
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "limit must be between 1 and {}, got {}",
            self.max, self.limit
        )
    }
}

impl std::error::Error for LimitError {}

/// Checks the page's limit against the settings.
pub fn check_limit(settings: &Settings, page: &Page) -> Result<u32, LimitError> {
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    if (1..=settings.max_limit).contains(&limit) {
        Ok(limit)
    } else {
        Err(LimitError {
            limit,
            max: settings.max_limit,
        })
    }
}

/// The items of a page: `1..=limit`.
pub fn make_items(limit: u32) -> Vec<u32> {
    (1..=limit).collect()
}

/// The JSON body of `/items`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reply {
    /// The items.
    pub items: Vec<u32>,
    /// The user, read from the transaction.
    pub user: u64,
    /// The session id.
    pub session: u64,
}

/// Builds the reply from the items, the transaction and the session.
pub fn make_reply(items: Vec<u32>, tx: &Tx, session: &Session) -> Reply {
    Reply {
        items,
        user: tx.user,
        session: session.id,
    }
}

/// Line `i` of `/stream`: `{"line":i,"session":42}` and a newline.
pub fn line(i: u32, session: &Session) -> Bytes {
    Bytes::from(format!("{{\"line\":{i},\"session\":{}}}\n", session.id))
}

/// The stream of `/stream`: [`LINES`] lines, each reading the session through `H` (a
/// `Held<Session>` in di, an owned [`Session`] elsewhere).
#[derive(Debug)]
pub struct Lines<H> {
    session: H,
    next: u32,
}

impl<H: Deref<Target = Session>> Lines<H> {
    /// The lines, reading `session`.
    pub fn new(session: H) -> Self {
        Self { session, next: 0 }
    }
}

impl<H: Deref<Target = Session> + Unpin> futures_util::Stream for Lines<H> {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.next == LINES {
            return Poll::Ready(None);
        }
        let line = line(this.next, &this.session);
        this.next += 1;
        Poll::Ready(Some(Ok(line)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (LINES - self.next) as usize;
        (left, Some(left))
    }
}

/// An owned value behind [`Deref`], for [`Lines`] outside di.
#[derive(Clone, Copy, Debug)]
pub struct Owned<T>(pub T);

impl<T> Deref for Owned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// How many transactions and sessions ended, and how, since the process started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Transactions committed.
    pub commits: u64,
    /// Transactions rolled back.
    pub rollbacks: u64,
    /// Items recorded by committed transactions.
    pub writes: u64,
    /// Sessions closed after a complete body.
    pub sessions_closed: u64,
    /// Sessions closed after a body that did not complete.
    pub sessions_aborted: u64,
}

/// The counts so far.
pub fn counts() -> Counts {
    Counts {
        commits: COMMITS.load(Ordering::Relaxed),
        rollbacks: ROLLBACKS.load(Ordering::Relaxed),
        writes: WRITES.load(Ordering::Relaxed),
        sessions_closed: SESSIONS_CLOSED.load(Ordering::Relaxed),
        sessions_aborted: SESSIONS_ABORTED.load(Ordering::Relaxed),
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "commits={} rollbacks={} writes={} sessions_closed={} sessions_aborted={}",
            self.commits, self.rollbacks, self.writes, self.sessions_closed, self.sessions_aborted
        )
    }
}

/// Reads a response body to its end without keeping it; returns how many bytes it had.
pub async fn drain<B>(body: B) -> Result<usize, B::Error>
where
    B: http_body::Body,
{
    use http_body_util::BodyExt;
    let mut body = std::pin::pin!(body);
    let mut bytes = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            bytes += bytes::Buf::remaining(&data);
        }
    }
    Ok(bytes)
}

/// A `GET` request for `uri` with an empty body, as the in-process benchmarks send.
pub fn get(uri: &'static str) -> http::Request<http_body_util::Empty<Bytes>> {
    let mut request = http::Request::new(http_body_util::Empty::new());
    *request.uri_mut() = http::Uri::from_static(uri);
    request
}
