//! The notes example's routes on a real PostgreSQL server.
//!
//! Set `DI_TEST_POSTGRES_URL` (for example `postgres://di:di@127.0.0.1:5432/di_test`; `.ci/run`
//! starts PostgreSQL and sets it) to a database this test may empty: it migrates it, empties
//! the `notes` table, and drives the streaming export, a client disconnecting mid-stream, a
//! streamed import (committed, and rolled back on a bad line), a handler error, a handler panic
//! and a timeout. After each it checks through `pg_stat_activity` that no connection is left
//! `idle in transaction`, and that the rows in the table are exactly those of the requests
//! answered 201. The export must run one SQL statement per request, however many rows it
//! streams: sqlx logs each statement it runs as a `tracing` event of target `sqlx::query`, and
//! a global subscriber counts those logged on this test's thread (the test runs on a
//! current-thread runtime, so every task of the app and of sqlx runs, and logs, on that
//! thread; the other tests of this binary, the notes example's own on SQLite, log theirs from
//! sqlx's SQLite worker threads).
//!
//! Without the variable the test prints why it skipped and passes, except under `CI=true`,
//! where a missing server is a failure.

#[allow(
    dead_code,
    reason = "the notes example's `main` and command line are not used here"
)]
#[path = "../notes.rs"]
mod notes;
mod postgres;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use di_runtime::prelude::*;
use postgres::{URL_VAR, database_url, eventually};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Notes in the big import, enough for the export to stream many chunks.
const BIG_IMPORT: usize = 2_000;

/// The message of the injected panic, which the panic hook keeps quiet.
const INJECTED_PANIC: &str = "injected handler panic (notes_postgres)";

// ---------------------------------------------------------------------------------------------
// Test-only routes: they write in notes' `tx`, then fail in one way or another
// ---------------------------------------------------------------------------------------------

/// Inserts a note that must never be committed.
async fn insert_doomed(tx: &mut notes::Tx) -> Result<(), sqlx::Error> {
    let doomed = notes::NewNote {
        title: "doomed".to_owned(),
        body: "rolled back".to_owned(),
    };
    tx.insert(&doomed).await.map(drop)
}

/// `POST /faults/error`: writes, then returns 409.
#[depends]
async fn fault_error(#[dep(notes::tx)] tx: &mut notes::Tx) -> Result<StatusCode, HttpError> {
    insert_doomed(tx).await?;
    Err(HttpError::new(
        StatusCode::CONFLICT,
        "injected handler error",
    ))
}

/// `POST /faults/panic`: writes, then panics.
#[depends]
async fn fault_panic(#[dep(notes::tx)] tx: &mut notes::Tx) -> Result<StatusCode, HttpError> {
    insert_doomed(tx).await?;
    panic!("{INJECTED_PANIC}");
}

/// `POST /faults/slow`: writes, then waits far past the app's request timeout.
#[depends]
async fn fault_slow(#[dep(notes::tx)] tx: &mut notes::Tx) -> Result<StatusCode, HttpError> {
    insert_doomed(tx).await?;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    Ok(StatusCode::CREATED)
}

/// The notes app on PostgreSQL, with the fault routes.
fn app(url: &str) -> App {
    notes::configured(notes::Db::Postgres(url.to_owned()))
        .post("/faults/error", fault_error)
        .post("/faults/panic", fault_panic)
        .post("/faults/slow", fault_slow)
}

// ---------------------------------------------------------------------------------------------
// Counting sqlx's statements
// ---------------------------------------------------------------------------------------------

/// One statement sqlx ran: its text and how many rows it returned.
#[derive(Debug, Default, Clone)]
struct Statement {
    /// sqlx's summary of the text.
    summary: String,
    /// The whole text, when it is longer than the summary.
    text: String,
    rows_returned: u64,
}

impl Statement {
    fn sql(&self) -> &str {
        if self.text.trim().is_empty() {
            &self.summary
        } else {
            self.text.trim()
        }
    }
}

impl Visit for Statement {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => value.clone_into(&mut self.summary),
            "db.statement" => value.clone_into(&mut self.text),
            _ => {}
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "rows_returned" {
            self.rows_returned = value;
        }
    }
    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

/// Records every `sqlx::query` event logged on one thread: the test's.
///
/// It is installed as the *global* subscriber: `tracing` caches whether a callsite is enabled
/// once for the whole process, computed on whichever thread reaches it first, so a subscriber
/// set for this thread only (`set_default`) misses the statements if another test's thread,
/// which has none, reaches sqlx's logging first.
#[derive(Clone)]
struct Statements {
    thread: std::thread::ThreadId,
    seen: Arc<Mutex<Vec<Statement>>>,
}

impl Statements {
    fn for_this_thread() -> Statements {
        Statements {
            thread: std::thread::current().id(),
            seen: Arc::default(),
        }
    }

    fn take(&self) -> Vec<Statement> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// sqlx's statements only: every other callsite stays disabled, as with no subscriber.
fn is_statement(metadata: &Metadata<'_>) -> bool {
    metadata.target() == "sqlx::query"
}

impl<S: Subscriber> Layer<S> for Statements {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if is_statement(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        is_statement(metadata)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if is_statement(event.metadata()) && std::thread::current().id() == self.thread {
            let mut statement = Statement::default();
            event.record(&mut statement);
            self.seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(statement);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks through a connection of the test's own
// ---------------------------------------------------------------------------------------------

/// The test's view of the server, beside the app's pool.
struct Server {
    pool: PgPool,
}

impl Server {
    /// Connections to the test database that sit in an open transaction, doing nothing.
    async fn idle_in_transaction(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(&self.pool)
        .await
        .expect("pg_stat_activity")
    }

    /// Polls until no connection is `idle in transaction` (a teardown may still be finishing),
    /// failing past a generous deadline.
    async fn assert_no_idle_in_transaction(&self, after: &str) {
        eventually(async || match self.idle_in_transaction().await {
            0 => Ok(()),
            stuck => Err(format!(
                "after {after}: {stuck} connection(s) still `idle in transaction`"
            )),
        })
        .await;
    }

    async fn rows(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM notes")
            .fetch_one(&self.pool)
            .await
            .expect("count the notes")
    }

    async fn doomed_rows(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM notes WHERE title = 'doomed'")
            .fetch_one(&self.pool)
            .await
            .expect("count the doomed notes")
    }

    /// After `what`: nothing left in a transaction, and the table holds exactly the notes of
    /// the requests answered 201, none of those written by failed requests.
    async fn check(&self, what: &str, committed: usize) {
        self.assert_no_idle_in_transaction(what).await;
        assert_eq!(
            self.rows().await,
            i64::try_from(committed).expect("small"),
            "after {what}: the rows are those of the successful requests"
        );
        assert_eq!(
            self.doomed_rows().await,
            0,
            "after {what}: a failed write was committed"
        );
    }
}

/// Keeps the injected panic's message out of stderr; every other panic is reported as usual.
fn quiet_injected_panic() {
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
}

/// An NDJSON import of `n` good notes, titled `{prefix}-{i}`.
fn import_body(prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"title\":\"{prefix}-{i}\",\"body\":\"{i}\"}}\n"))
        .collect()
}

#[tokio::test]
async fn notes_on_postgres() {
    let Some(url) = database_url("notes_on_postgres", "a database this test may empty") else {
        return;
    };
    quiet_injected_panic();
    // A current-thread runtime: the app's and sqlx's tasks all run on this thread, so the
    // statements logged on it are every statement the app runs, and none of the other tests'.
    let statements = Statements::for_this_thread();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(statements.clone()),
    )
    .expect("the only subscriber of this test binary");

    let server = Server {
        pool: PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{URL_VAR} is set but PostgreSQL cannot be reached: {e}")),
    };
    // The check itself sees a connection left in a transaction (else it proves nothing).
    {
        let mut open = server.pool.begin().await.expect("BEGIN");
        sqlx::query("SELECT 1")
            .execute(&mut *open)
            .await
            .expect("SELECT 1");
        assert!(
            server.idle_in_transaction().await >= 1,
            "pg_stat_activity shows an open transaction"
        );
        open.rollback().await.expect("ROLLBACK");
    }

    // The app starts: its pool opens and the migrations run; the table starts empty.
    let client = TestClient::start(app(&url))
        .await
        .expect("the app starts on PostgreSQL");
    sqlx::query("TRUNCATE notes RESTART IDENTITY")
        .execute(&server.pool)
        .await
        .expect("empty the notes");
    let mut committed = 0_usize;

    // Writes: one note, a streamed import committed in one transaction, and an import with a
    // bad line, rolled back whole.
    let response = client
        .post("/notes")
        .header("x-api-key", notes::API_KEY)
        .json(&json!({"title": "first", "body": "on PostgreSQL"}))
        .send()
        .await;
    assert_eq!(response.status(), 201);
    let first: Value = response.json().await.expect("json");
    assert_eq!(
        first,
        json!({"id": 1, "title": "first", "body": "on PostgreSQL"})
    );
    committed += 1;
    let response = client
        .post("/notes/import")
        .header("x-api-key", notes::API_KEY)
        .body(import_body("big", BIG_IMPORT))
        .send()
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"imported": BIG_IMPORT})
    );
    committed += BIG_IMPORT;
    let bad = format!("{}not json\n", import_body("rolled-back", 3));
    let response = client
        .post("/notes/import")
        .header("x-api-key", notes::API_KEY)
        .body(bad)
        .send()
        .await;
    assert_eq!(response.status(), 422);
    let problems: Value = response.json().await.expect("json");
    assert_eq!(problems["detail"][0]["loc"], json!(["body", 4]));
    client.settle().await;
    server.check("the writes", committed).await;
    assert!(
        statements.take().len() > BIG_IMPORT,
        "sqlx's statements are seen (else the count below proves nothing)"
    );

    // The export: every note, in id order, from ONE statement.
    let response = client.get("/notes/export").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/x-ndjson")
    );
    let body = response.text().await.expect("the export");
    client.settle().await;
    let ids: Vec<i64> = body
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).expect("one note per line")["id"]
                .as_i64()
                .expect("an id")
        })
        .collect();
    assert_eq!(ids.len(), committed, "every note, one per line");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in id order");
    let ran = statements.take();
    assert_eq!(
        ran.len(),
        1,
        "one statement per export, not one per note: {:?}",
        &ran[..ran.len().min(3)]
    );
    assert_eq!(
        ran[0].sql(),
        "SELECT id, title, body FROM notes ORDER BY id"
    );
    assert_eq!(ran[0].rows_returned, committed as u64);
    server.check("the export", committed).await;

    // A client that goes away mid-stream: the first chunk, then the response is dropped.
    for _ in 0..3 {
        let mut response = client.get("/notes/export").send().await;
        assert_eq!(response.status(), 200);
        let chunk = response
            .chunk()
            .await
            .expect("a first chunk")
            .expect("data");
        assert!(
            chunk.starts_with(b"{\"id\":1,"),
            "the first note comes first"
        );
        drop(response);
        client.settle().await;
        server.check("a client gone mid-export", committed).await;
    }
    // The connections the cut exports used are back in the pool and usable: a whole export.
    let body = client
        .get("/notes/export")
        .send()
        .await
        .text()
        .await
        .expect("the export");
    assert_eq!(body.lines().count(), committed);

    // A handler error and a handler panic, each after a write in `tx`: rolled back.
    let response = client.post("/faults/error").send().await;
    assert_eq!(response.status(), 409);
    client.settle().await;
    server.check("a handler error", committed).await;
    let response = client.post("/faults/panic").send().await;
    assert_eq!(response.status(), 500);
    client.settle().await;
    server.check("a handler panic", committed).await;

    // A timeout, on an app with a short request timeout: 503, and `tx` rolls back.
    let impatient = TestClient::start(app(&url).request_timeout(Duration::from_millis(300)))
        .await
        .expect("the app starts");
    let response = impatient.post("/faults/slow").send().await;
    assert_eq!(response.status(), 503);
    impatient.settle().await;
    server.check("a timeout", committed).await;
    impatient.shutdown().await;

    // After all that, the app still writes.
    let response = client
        .post("/notes")
        .header("x-api-key", notes::API_KEY)
        .json(&json!({"title": "last", "body": "still fine"}))
        .send()
        .await;
    assert_eq!(response.status(), 201);
    committed += 1;
    client.settle().await;
    server.check("the last write", committed).await;
    client.shutdown().await;
    server.pool.close().await;
}
