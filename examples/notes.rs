//! Run with: cargo run --example notes
//!
//! A notes service on embedded SQLite or on PostgreSQL (through sqlx), listening on
//! `127.0.0.1:3000`. Options (`--help` lists them): `--addr HOST:PORT` to listen elsewhere,
//! `--db PATH` to keep the notes in a SQLite file (created if missing) instead of a temporary
//! one removed when the server stops, or
//! `--db postgres://USER:PASSWORD@HOST/DATABASE` to keep them on a PostgreSQL server. The
//! schema is created by the migrations in `examples/migrations/` (`sqlite/` or `postgres/`),
//! run at startup. A query that finds the notes locked by another session for 5 s (PostgreSQL's
//! `lock_timeout`, unless the URL sets `options[lock_timeout]`; SQLite's busy timeout) gets
//! 503 with `Retry-After` ("The database is busy"), as does one that finds no free connection
//! (in 5 s on PostgreSQL), or that the server cancels (a `statement_timeout` the URL sets with
//! `options[statement_timeout]`, `pg_cancel_backend`). One whose connection to PostgreSQL is
//! lost or refused (the server is down or restarts, terminates the session, or refuses the
//! app's login), or a write the server takes none of (a hot standby after a failover), gets
//! 503 with `Retry-After` too ("The database is unavailable"), its
//! transaction rolled back, and the pool opens new connections once the server is back;
//! `GET /health` answers that 503 while no connection is at hand. A database that cannot be
//! opened at startup stops the app with a message naming it and what to check.
//! `--pool-size N` sizes the connection pool (default 10): streamed exports hold at most all
//! but 2 of its connections, a limit the app sets with `App::max_concurrency`. `--graph`
//! prints each route's dependency graph as a Mermaid flowchart (`--graph=dot`: as Graphviz
//! DOT) and exits without serving. `--trace` also logs each request's trace tree as its spans
//! close.
//!
//! Then, in another terminal:
//!
//! ```text
//! curl -i localhost:3000/health
//! curl -i localhost:3000/notes -H 'x-api-key: let-me-in' -H 'content-type: application/json' -d '{"title":"first","body":"hello"}'
//! curl -i localhost:3000/notes -H 'x-api-key: let-me-in' -H 'content-type: application/json' -d '{"title":"","body":"no title"}'
//! curl -i localhost:3000/notes -H 'x-api-key: let-me-in' -H 'content-type: application/json' -d '{"title":1}'
//! curl -i localhost:3000/notes -H 'content-type: application/json' -d '{"title":"no key","body":""}'
//! curl -i localhost:3000/notes/1
//! curl -i localhost:3000/notes/99
//! curl -i localhost:3000/notes/abc
//! printf '{"title":"a","body":"1"}\n{"title":"b","body":"2"}\n' | curl -i localhost:3000/notes/import -H 'x-api-key: let-me-in' --data-binary @-
//! printf '{"title":"c","body":"3"}\nnot json\n{"title":"","body":"5"}\n' | curl -i localhost:3000/notes/import -H 'x-api-key: let-me-in' --data-binary @-
//! curl -i localhost:3000/notes
//! curl -i -N localhost:3000/notes/export
//! ```
//!
//! The write routes (`POST /notes`, `POST /notes/import`) are a group whose dependency
//! `require_api_key` checks the `X-API-Key` header: without it the answer is 401, with a wrong
//! key 403, and the handler does not run.
//!
//! The second import is all or nothing: line 1 is inserted, lines 2 and 3 are bad, so the
//! response is a 422 naming both lines and the transaction rolls line 1 back (`GET /notes`
//! has no note "c").
//!
//! Every dependency's setup and teardown is logged to stderr with its scope, the request's
//! outcome and how long it took (tracing target `di`), next to what the dependencies themselves
//! do: `tx` commits or rolls back in its teardown, before the response is sent (`handler`
//! scope); `reader` holds one pooled connection for `GET /notes/export`, which streams one
//! `SELECT ... ORDER BY id` over it, until the last line of the streamed body has been sent
//! (`request` scope). `RUST_LOG` sets what is logged instead (`RUST_LOG=warn,notes=info`:
//! `tracing_subscriber`'s `Targets` syntax). Ctrl-C shuts down gracefully: in-flight
//! responses finish, then the `app`-scoped pool is closed.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::{Parser, ValueEnum};
use di_runtime::http::HeaderValue;
use di_runtime::http::header::RETRY_AFTER;
use di_runtime::prelude::*;
use di_runtime::{ApiKeyHeader, BodyStream, BoxError, KeyName, OpenApiConfig};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection, FromRow, Postgres, Sqlite, Transaction};
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The longest title accepted, in characters.
const MAX_TITLE: usize = 200;

/// Where the notes are kept (`--db`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Db {
    /// A SQLite file of its own in the system's temporary directory, removed when the server
    /// stops (no `--db`): a scratch database, as one in memory would be, but one in which an
    /// export under way holds up no write (see [`Scratch`]).
    #[default]
    Memory,
    /// A SQLite file, created if missing.
    Sqlite(PathBuf),
    /// A PostgreSQL server, by its `postgres://` (or `postgresql://`) URL.
    Postgres(String),
}

impl Db {
    /// Reads `--db`: a `postgres://` or `postgresql://` URL, anything else a SQLite file path.
    pub(crate) fn parse(value: &str) -> Result<Db, String> {
        if value.is_empty() {
            return Err("give a SQLite file path or a postgres:// URL".to_owned());
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            // A URL that cannot be read is a usage error now rather than a failure at startup.
            PgConnectOptions::from_str(value).map_err(|e| e.to_string())?;
            Ok(Db::Postgres(value.to_owned()))
        } else {
            Ok(Db::Sqlite(PathBuf::from(value)))
        }
    }

    /// What the log says: `memory`, the file, or the server and database (never the password).
    fn describe(&self) -> String {
        match self {
            Db::Memory => "a temporary SQLite file".to_owned(),
            Db::Sqlite(path) => path.display().to_string(),
            Db::Postgres(url) => match PgConnectOptions::from_str(url) {
                // A Unix socket (`?host=/path`), if the URL names one, is where sqlx connects.
                Ok(pg) => format!(
                    "postgres://{}@{}:{}/{}",
                    pg.get_username(),
                    pg.get_socket().map_or_else(
                        || pg.get_host().to_owned(),
                        |socket| socket.display().to_string()
                    ),
                    pg.get_port(),
                    pg.get_database().unwrap_or_default()
                ),
                Err(_) => "postgres".to_owned(),
            },
        }
    }
}

/// A stored note.
#[derive(Debug, Serialize, FromRow, JsonSchema)]
pub(crate) struct Note {
    /// Assigned by the database.
    id: i64,
    /// 1 to 200 characters.
    title: String,
    /// Any text.
    body: String,
}

/// The body of `POST /notes`, and one line of `POST /notes/import`.
#[derive(Debug, Deserialize, JsonSchema)]
// Swagger UI's "Example Value" of the body (`/docs`).
#[schemars(example = json!({ "title": "Groceries", "body": "milk, eggs" }))]
pub(crate) struct NewNote {
    /// 1 to 200 characters.
    pub(crate) title: String,
    /// Any text.
    pub(crate) body: String,
}

impl NewNote {
    /// Checks the title's length, and that neither field holds the NUL character (valid in
    /// JSON as `\u0000`, but PostgreSQL's `text` cannot store it: its error would be a 500).
    /// The error names the field and says what is wrong, for an [`InputError`].
    fn validate(&self) -> Result<(), (&'static str, String)> {
        let len = self.title.chars().count();
        if !(1..=MAX_TITLE).contains(&len) {
            return Err((
                "title",
                format!("title must be 1 to {MAX_TITLE} characters long, got {len}"),
            ));
        }
        for (field, text) in [("title", &self.title), ("body", &self.body)] {
            if text.contains('\0') {
                return Err((
                    field,
                    format!("{field} must not contain the NUL character (\\u0000)"),
                ));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Storage: the same SQL on SQLite and PostgreSQL
// ---------------------------------------------------------------------------------------------

/// The schema of a SQLite database (`examples/migrations/sqlite/`), embedded at build time.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

/// The schema of a PostgreSQL database (`examples/migrations/postgres/`).
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// `either!(value, Kind, |x| body)`: runs `body` with `x` bound to what `value` (a [`Pool`],
/// [`Tx`] or [`Conn`], named by `Kind`) holds, a SQLite or a PostgreSQL one. The body is
/// written once and type-checked for each database. Its SQL is the same on both: `$1`, `$2`
/// are PostgreSQL's placeholders, and sqlx's SQLite driver reads them too.
///
/// (sqlx's `Any` driver would need no such match, but its connections are not `Sync`, and a
/// generator's value must be: `Yield<T>` takes `T: Send + Sync`, since the runtime may hand
/// `&T` to dependencies running at once.)
macro_rules! either {
    ($value:expr, $kind:ident, |$x:ident| $body:expr) => {
        match $value {
            $kind::Sqlite($x) => $body,
            $kind::Postgres($x) => $body,
        }
    };
}

/// The connection pool, on the database `--db` names.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    /// A SQLite file (the default database's a [`Scratch`] file).
    Sqlite(SqlitePool),
    /// A PostgreSQL server.
    Postgres(PgPool),
}

/// A pool of at most `size` connections on the SQLite file at `path`, created if missing.
async fn open_sqlite(path: &std::path::Path, size: u32) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        // Readers never block the writer, nor the writer readers.
        .journal_mode(SqliteJournalMode::Wal)
        // A connection's page cache (SQLite's default: up to 2 MB) fills during a long read
        // in one snapshot, such as the export's one `SELECT` over the whole table, and is
        // freed at its next read after a write. Each pooled connection allocates it on a
        // worker thread of its own, whose malloc arena keeps the memory: over a soak RSS rose
        // by about 2 MB per connection that ran an export. 128 KiB a connection keeps it flat
        // (the OS's file cache still serves repeated reads). BENCHMARKS.md, "The notes
        // export", has the numbers.
        .pragma("cache_size", "-128");
    SqlitePoolOptions::new()
        .max_connections(size)
        .connect_with(options)
        .await
}

/// The default database's file (`Db::Memory`): `di-notes-PID-N.sqlite` in the system's
/// temporary directory, removed with its WAL files when dropped: by `pool`'s teardown once the
/// pool is closed, or with `pool`'s generator when an app is dropped unstopped, as in a test.
/// A file of that name left by an earlier process that was killed is removed first.
#[derive(Debug)]
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("di-notes-{}-{n}.sqlite", std::process::id());
        let scratch = Scratch(std::env::temp_dir().join(name));
        scratch.remove();
        scratch
    }

    /// Removes the file and SQLite's files beside it, those that are there.
    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            if let Err(error) = std::fs::remove_file(&path)
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %PathBuf::from(path).display(), %error, "could not remove the temporary database");
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A transaction (the `tx` dependency).
#[derive(Debug)]
pub(crate) enum Tx {
    /// On SQLite.
    Sqlite(Transaction<'static, Sqlite>),
    /// On PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
}

/// One pooled connection (the `reader` dependency).
#[derive(Debug)]
pub(crate) enum Conn {
    /// On SQLite.
    Sqlite(PoolConnection<Sqlite>),
    /// On PostgreSQL.
    Postgres(PoolConnection<Postgres>),
}

impl Pool {
    /// Opens the pool, of at most `size` connections, and brings the schema up to date; for
    /// the default database, with the [`Scratch`] file it is on, to drop once it is closed.
    async fn open(db: &Db, size: u32) -> Result<(Pool, Option<Scratch>), sqlx::Error> {
        let (pool, scratch) = match db {
            // Not SQLite's memory: sqlx opens `sqlite::memory:` as a shared-cache database,
            // where a statement under way (an export's `SELECT`, read as slowly as its client
            // reads) holds its table's lock, and a write waits for it without a deadline (no
            // busy timeout applies), and every read after that write. A file of its own in WAL
            // mode, as `--db PATH` opens, lets readers and the writer go on together.
            Db::Memory => {
                let scratch = Scratch::new();
                let pool = open_sqlite(&scratch.0, size).await?;
                (Pool::Sqlite(pool), Some(scratch))
            }
            Db::Sqlite(path) => (Pool::Sqlite(open_sqlite(path, size).await?), None),
            Db::Postgres(url) => {
                let mut options = PgConnectOptions::from_str(url)?;
                // A statement waiting for a lock another session holds (a `LOCK TABLE`, a
                // migration's `ALTER TABLE`) fails after `LOCK_TIMEOUT` and the client gets a
                // 503 (see `db_error`), instead of the request waiting out its 60 s deadline
                // and its transaction's ROLLBACK then queuing behind the blocked statement. A
                // URL that sets `options[lock_timeout]` keeps its own.
                if !options
                    .get_options()
                    .is_some_and(|set| set.contains("lock_timeout="))
                {
                    options = options.options([("lock_timeout", LOCK_TIMEOUT)]);
                }
                // A connection closed with its query unfinished (see `Conn::give_back`) stops
                // that query on the server only once the server next writes to it: one that
                // has no row to send yet (a sort, a lock wait, a slow plan) runs on, holding a
                // server connection the pool no longer counts, and clients that leave such
                // exports one after another take the server's `max_connections`. With
                // `client_connection_check_interval` (PostgreSQL 14 and later; an older server
                // refuses the setting, so it is set after the login, by version) the server
                // looks for the closed socket while the query runs. A URL that sets it keeps
                // its own.
                let check_set = options
                    .get_options()
                    .is_some_and(|set| set.contains("client_connection_check_interval="));
                let opened = PgPoolOptions::new()
                    .max_connections(size)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            if !check_set && conn.server_version_num().is_some_and(|v| v >= 140_000)
                            {
                                sqlx::Executor::execute(&mut *conn, CLIENT_CONNECTION_CHECK)
                                    .await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(options.clone())
                    .await;
                match opened {
                    Ok(pool) => (Pool::Postgres(pool), None),
                    // The pool tries a refused connection again until its acquire timeout (a
                    // server starting up), then says only that it timed out: one connection
                    // of its own says why (refused, no such host) for the startup's message,
                    // within the same time (sqlx's connect has no deadline of its own: a
                    // server that never answers would hold the start for good).
                    Err(sqlx::Error::PoolTimedOut) => {
                        let attempt = tokio::time::timeout(
                            ACQUIRE_TIMEOUT,
                            PgConnection::connect_with(&options),
                        )
                        .await;
                        return Err(match attempt {
                            Ok(Err(error)) => error,
                            _ => sqlx::Error::PoolTimedOut,
                        });
                    }
                    Err(error) => return Err(error),
                }
            }
        };
        match &pool {
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok((pool, scratch))
    }

    /// Closes every connection, waiting for those in use to come back.
    async fn close(&self) {
        either!(self, Pool, |pool| pool.close().await);
    }

    /// Starts a transaction.
    pub(crate) async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let tx = match self {
            Pool::Sqlite(pool) => pool.begin().await.map(Tx::Sqlite),
            Pool::Postgres(pool) => pool.begin().await.map(Tx::Postgres),
        };
        tx.map_err(|error| self.why(error))
    }

    /// Takes a connection out of the pool, until the [`Conn`] is dropped.
    pub(crate) async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        let conn = match self {
            Pool::Sqlite(pool) => pool.acquire().await.map(Conn::Sqlite),
            Pool::Postgres(pool) => pool.acquire().await.map(Conn::Postgres),
        };
        conn.map_err(|error| self.why(error))
    }

    /// Whether the database answers: a connection from the pool, checked (sqlx pings an
    /// idle connection before it hands it out) or new.
    async fn check(&self) -> Result<(), sqlx::Error> {
        self.acquire().await.map(drop)
    }

    /// Every note, oldest first.
    async fn notes(&self) -> Result<Vec<Note>, sqlx::Error> {
        either!(self, Pool, |pool| {
            sqlx::query_as("SELECT id, title, body FROM notes ORDER BY id")
                .fetch_all(pool)
                .await
        })
        .map_err(|error| self.why(error))
    }

    /// The note `id`, if there is one.
    async fn note(&self, id: i64) -> Result<Option<Note>, sqlx::Error> {
        either!(self, Pool, |pool| {
            sqlx::query_as("SELECT id, title, body FROM notes WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
        })
        .map_err(|error| self.why(error))
    }

    /// `error`, told apart when it is sqlx's `PoolTimedOut`: with every connection in use
    /// that is a busy pool, but with room for a new one it means that no connection could be
    /// opened in time (the server is down, restarting, or out of reach), which sqlx does not
    /// say (it tries a refused connection again until the timeout): an I/O error saying so,
    /// for [`db_error`] and the log.
    #[cold]
    fn why(&self, error: sqlx::Error) -> sqlx::Error {
        let room = either!(self, Pool, |pool| pool.size()
            < pool.options().get_max_connections());
        match error {
            sqlx::Error::PoolTimedOut if room => sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "no connection to the database could be opened in time",
            )),
            error => error,
        }
    }
}

impl Tx {
    /// Inserts a note and returns it as stored.
    pub(crate) async fn insert(&mut self, new: &NewNote) -> Result<Note, sqlx::Error> {
        either!(self, Tx, |tx| {
            sqlx::query_as(
                "INSERT INTO notes (title, body) VALUES ($1, $2) RETURNING id, title, body",
            )
            .bind(&new.title)
            .bind(&new.body)
            .fetch_one(&mut **tx)
            .await
        })
    }

    /// `COMMIT`.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        either!(self, Tx, |tx| tx.commit().await)
    }

    /// `ROLLBACK`.
    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        either!(self, Tx, |tx| tx.rollback().await)
    }
}

impl Conn {
    /// Every note, oldest first, row by row from ONE query, as the database sends them.
    fn notes(&mut self) -> BoxStream<'_, Result<Note, sqlx::Error>> {
        either!(self, Conn, |conn| {
            sqlx::query_as("SELECT id, title, body FROM notes ORDER BY id").fetch(&mut **conn)
        })
    }

    /// Gives the connection back: to the pool if its last query ran to its end (`finished`),
    /// otherwise, on PostgreSQL, by closing it. A query left mid-way (the client went away
    /// during an export, or the body failed) may still be sending rows; dropped into the pool,
    /// the connection would first read them all (sqlx's check on release), busy for as long
    /// as the query runs, after its `max_concurrency` place was freed. Closed, the server
    /// stops the query (within a second on PostgreSQL 14 and later, which checks for the
    /// closed socket while a query runs: see `Pool::open`; an older server only once it next
    /// writes a row) and the pool opens a new connection when one is needed. On SQLite an
    /// unfinished statement is only reset, so it goes back to the pool.
    async fn give_back(self, finished: bool) {
        match self {
            Conn::Postgres(conn) if !finished => {
                if let Err(error) = conn.close().await {
                    tracing::debug!(%error, "reader: closing the connection failed");
                }
            }
            conn => drop(conn),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dependencies
// ---------------------------------------------------------------------------------------------

/// Where to open the database. `main` gives the value from `--db` with `App::provide`, so
/// this default (a temporary SQLite file) runs only when nobody does, as in a test.
#[depends(scope = "app")]
async fn db_path() -> Db {
    Db::default()
}

/// The connection pool: opened when the app starts (the schema migrated by the migrations in
/// `examples/migrations/`), closed at graceful shutdown. A database it cannot open stops the
/// start: `main` prints why, naming the database (never the password) and what to check (see
/// [`open_error`]), and exits with status 1.
/// How many connections the pool holds. `main` gives the value from `--pool-size` with
/// `App::provide`; this default runs when nobody does.
#[depends(scope = "app")]
async fn pool_size() -> PoolSize {
    PoolSize(POOL_SIZE)
}

/// How many connections the pool holds (`--pool-size`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolSize(pub(crate) u32);

#[depends(scope = "app")]
pub(crate) async fn pool(
    #[dep(db_path)] db: &Db,
    #[dep(pool_size)] size: &PoolSize,
    y: Yield<Pool>,
) -> Result<(), HttpError> {
    // The default database's file is removed once the pool is closed (or when this future
    // is dropped with the app).
    let (pool, scratch) = Pool::open(db, size.0)
        .await
        .map_err(|error| open_error(db, &error))?;
    tracing::info!(db = %db.describe(), "pool: opened");

    let (pool, outcome) = y.provide(pool).await;
    pool.close().await;
    drop(scratch);
    tracing::info!(%outcome, "pool: closed");
    Ok(())
}

/// Why the database `db` could not be opened, as `main` prints it before it exits: the
/// database (by [`Db::describe`], never the password), sqlx's error, and what to check.
#[cold]
fn open_error(db: &Db, error: &sqlx::Error) -> HttpError {
    let hint = match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => {
            "is PostgreSQL running there, and are the host and port right?"
        }
        sqlx::Error::Database(server) => match server.code().as_deref() {
            Some("28P01" | "28000") => "check the user and password in the URL",
            Some("3D000") => "create it (CREATE DATABASE), or fix the database name in the URL",
            Some("42501") => "the user may not connect to it (GRANT CONNECT ON DATABASE)",
            Some("57P03" | "53300") => "the server is starting, or has no connection left: retry",
            _ => "",
        },
        _ => "",
    };
    // The server's message alone: sqlx's display of it ends with the line of PostgreSQL's
    // source that raised it, which reads as a line of the app's configuration or of a
    // migration.
    let cause = match error {
        sqlx::Error::Database(server) => server.message().to_owned(),
        sqlx::Error::Migrate(migrate) => match &**migrate {
            sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(server)) => {
                format!("while executing migrations: {}", server.message())
            }
            sqlx::migrate::MigrateError::ExecuteMigration(sqlx::Error::Database(server), n) => {
                format!("while executing migration {n}: {}", server.message())
            }
            other => other.to_string(),
        },
        other => other.to_string(),
    };
    let separator = if hint.is_empty() { "" } else { "; " };
    HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "cannot open the database {}: {cause}{separator}{hint}",
            db.describe()
        ),
    )
}

/// Connections in the pool unless `--pool-size` says otherwise: [`reader`]s hold 8 of them at
/// most.
pub(crate) const POOL_SIZE: u32 = 10;

/// Connections of the pool that exports never hold, so that the other routes always have one.
pub(crate) const KEPT_FROM_EXPORTS: u32 = 2;

/// The smallest pool: one connection for exports, besides those kept from them.
pub(crate) const MIN_POOL_SIZE: u32 = KEPT_FROM_EXPORTS + 1;

/// How long a request waits for a PostgreSQL connection, free in the pool or new (the server
/// refusing it, as when it restarts), before its 503; and the app at startup for the server.
pub(crate) const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How often PostgreSQL (14 and later) checks, while a query runs, that its client is still
/// connected: a query whose connection the app closed stops within that time.
const CLIENT_CONNECTION_CHECK: &str = "SET client_connection_check_interval = '1s'";

/// How long a PostgreSQL statement waits for a lock held by another session (`lock_timeout`).
pub(crate) const LOCK_TIMEOUT: &str = "5s";

/// How long an export waits for its next row before it is cut: a server that hangs, or a
/// network that drops every packet, fails nothing and sends nothing, and the export would
/// hold its connection and its `max_concurrency` place for as long as its client waited.
pub(crate) const EXPORT_STALL: std::time::Duration = std::time::Duration::from_secs(30);

/// The export's stall limit (see [`EXPORT_STALL`]); a test gives a shorter one with
/// `App::provide`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExportStall(pub(crate) std::time::Duration);

/// The export's stall limit, [`EXPORT_STALL`].
#[depends(scope = "app")]
pub(crate) async fn export_stall() -> ExportStall {
    ExportStall(EXPORT_STALL)
}

/// A database error as the client sees it. 503 with `Retry-After` when the request may
/// succeed later: "The database is busy" when no connection came free in time, the notes
/// stayed locked by another session (PostgreSQL's `lock_timeout`, SQLite's busy timeout), or
/// the server cancelled the statement (a `statement_timeout`, `pg_cancel_backend`); "The
/// database is unavailable" when the connection was lost or refused (the server went away or
/// restarts, terminated the session, or refuses the app's login), or the server takes no
/// writes (a hot standby, a read-only primary). Anything else is a 500. The
/// cause is in the log, never in the response.
pub(crate) fn db_error(error: sqlx::Error) -> HttpError {
    match trouble(&error) {
        Some(Trouble::Busy) => {
            tracing::warn!(%error, "the database is busy");
            HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "The database is busy")
                .with_header(RETRY_AFTER, HeaderValue::from_static("1"))
        }
        Some(Trouble::Unavailable) => {
            tracing::warn!(%error, "the database is unavailable");
            HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable",
            )
            .with_header(RETRY_AFTER, HeaderValue::from_static("1"))
        }
        None => HttpError::from(error),
    }
}

/// Why a database error may pass if the request is made again (see [`db_error`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trouble {
    /// The notes are locked, or every connection is in use.
    Busy,
    /// The connection to the server was lost or could not be opened.
    Unavailable,
}

/// What kind of [`Trouble`] `error` is, if any.
fn trouble(error: &sqlx::Error) -> Option<Trouble> {
    match error {
        sqlx::Error::PoolTimedOut => Some(Trouble::Busy),
        // The socket failed or closed; the pool is closing (graceful shutdown).
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Some(Trouble::Unavailable),
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                postgres_trouble(pg.code())
            } else {
                // SQLite's `SQLITE_BUSY` (5) and `SQLITE_LOCKED` (6), whose extended codes
                // keep them in their low byte.
                db.try_downcast_ref::<sqlx::sqlite::SqliteError>()
                    .and_then(|sqlite| {
                        sqlx::error::DatabaseError::code(sqlite)?
                            .parse::<i32>()
                            .ok()
                    })
                    .is_some_and(|code| matches!(code & 0xff, 5 | 6))
                    .then_some(Trouble::Busy)
            }
        }
        _ => None,
    }
}

/// The [`Trouble`] of a PostgreSQL error, by its SQLSTATE.
fn postgres_trouble(code: &str) -> Option<Trouble> {
    match code {
        // lock_not_available (`lock_timeout`); query_canceled (`statement_timeout`,
        // `pg_cancel_backend`).
        "55P03" | "57014" => Some(Trouble::Busy),
        // admin_shutdown (`pg_terminate_backend`, a fast shutdown), crash_shutdown,
        // cannot_connect_now (starting up), too_many_connections, the sessions the server
        // ends past `idle_in_transaction_session_timeout` (25P03) or `idle_session_timeout`
        // (57P05), and the connection exceptions (class 08).
        "57P01" | "57P02" | "57P03" | "57P05" | "25P03" | "53300" => Some(Trouble::Unavailable),
        // read_only_sql_transaction: a write reached a server that takes none now (a hot
        // standby after a failover, a primary set read-only for maintenance).
        "25006" => Some(Trouble::Unavailable),
        // The server refuses a new connection's login (class 28: the role disabled, its
        // password changed; invalid_catalog_name: the database dropped or renamed), errors
        // only a login gets: the server is as unavailable to the app as when it is down.
        "3D000" => Some(Trouble::Unavailable),
        _ if code.starts_with("08") || code.starts_with("28") => Some(Trouble::Unavailable),
        _ => None,
    }
}

/// A transaction for one handler call, committed or rolled back in its teardown, which runs
/// before the response is sent (`handler` scope): a client never sees `201 Created` for a note
/// that was not committed, and a failed COMMIT turns the response into a 5xx (see
/// [`commit_error`]). A ROLLBACK that finds the connection lost is not a failure: the server
/// rolled the transaction back when the session ended, and the response stays the handler's
/// (a 503, see [`db_error`]).
#[depends(scope = "handler")]
pub(crate) async fn tx(#[dep(pool)] pool: &Pool, y: Yield<Tx>) -> Result<(), HttpError> {
    let tx = pool.begin().await.map_err(db_error)?;
    let (tx, outcome) = y.provide(tx).await;
    if outcome.is_success() {
        tx.commit().await.map_err(commit_error)?;
        tracing::info!(%outcome, "tx: commit");
    } else {
        match tx.rollback().await {
            Ok(()) => tracing::info!(%outcome, "tx: rollback"),
            // The connection is gone (the handler failed for that, as a rule), and the
            // transaction with it: the server rolls back a session's open transaction when
            // the session ends. The response stays the handler's.
            Err(error) if trouble(&error) == Some(Trouble::Unavailable) => {
                tracing::info!(%outcome, %error, "tx: rolled back with its lost connection");
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// A failed COMMIT as the client sees it. The server's answer to it is an error instead of
/// the commit: the transaction was rolled back, and [`db_error`] says whether the request may
/// pass later (the session terminated, a lock timeout in a deferred trigger: 503 with
/// `Retry-After`). Anything else (the connection broke with the COMMIT sent) leaves unknown
/// whether the note was written: a 500, with no `Retry-After` to invite a second one.
#[cold]
fn commit_error(error: sqlx::Error) -> HttpError {
    match error {
        sqlx::Error::Database(_) => db_error(error),
        error => HttpError::from(error),
    }
}

// `reader`'s attribute takes a number, not a constant: it must stay the default pool's share.
const _: () = assert!(POOL_SIZE - KEPT_FROM_EXPORTS == 8);

/// One pooled connection for a streamed response (`request` scope, the default): it stays out
/// of the pool until the body's last byte has been sent, or the client has gone away (then,
/// on PostgreSQL, it is closed rather than given back with its query unfinished: see
/// [`Conn::give_back`]).
///
/// At most 8 at once, all but [`KEPT_FROM_EXPORTS`] of the default pool's [`POOL_SIZE`]
/// connections (with `--pool-size`, [`sized`] sets the limit to match with
/// `App::max_concurrency`): clients that read their exports slowly, or not at all, can hold
/// that many connections, never the ones the other routes need. One more export waits for a
/// place (503 with `Retry-After` past `max_concurrency_wait`).
#[depends(max_concurrency = 8)]
pub(crate) async fn reader(#[dep(pool)] pool: &Pool, y: Yield<Conn>) -> Result<(), HttpError> {
    let conn = pool.acquire().await.map_err(db_error)?;
    tracing::info!("reader: connection acquired");
    let (conn, outcome) = y.provide(conn).await;
    // `Success` for this scope: the body, and so the query, reached its end.
    let finished = outcome.is_success();
    conn.give_back(finished).await;
    if finished {
        tracing::info!(%outcome, "reader: connection returned to the pool");
    } else {
        tracing::info!(%outcome, "reader: connection given back (closed on PostgreSQL)");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// Health check.
///
/// `GET /health`
// 200 `{"status":"ok"}` when a connection to the database is at hand; otherwise the 503 of
// `db_error`, with `Retry-After` (a load balancer's readiness check takes the app out of
// rotation while its database is out of reach, and back once the pool connects again).
#[depends]
async fn health(#[dep(pool)] pool: &Pool) -> Result<Json<serde_json::Value>, HttpError> {
    pool.check().await.map_err(db_error)?;
    Ok(Json(json!({ "status": "ok" })))
}

/// Create a note.
///
/// `POST /notes`: stores one note in the handler's transaction. A body of the wrong shape is
/// rejected with 422 before any dependency runs; a bad title, or a NUL character in the title
/// or body, is rejected here (422), and the transaction rolls back.
#[depends(status = 201)]
async fn create_note(
    #[dep(tx)] tx: &mut Tx,
    Json(new): Json<NewNote>,
) -> Result<(StatusCode, Json<Note>), HttpError> {
    new.validate().map_err(|(field, msg)| {
        HttpError::invalid_input([InputError::new(["body", field], msg)])
    })?;
    let note = tx.insert(&new).await.map_err(db_error)?;
    Ok((StatusCode::CREATED, Json(note)))
}

/// List the notes.
///
/// `GET /notes`: every note, oldest first.
#[depends]
async fn list_notes(#[dep(pool)] pool: &Pool) -> Result<Json<Vec<Note>>, HttpError> {
    Ok(Json(pool.notes().await.map_err(db_error)?))
}

/// Read a note.
///
/// `GET /notes/{id}`: one note, or 404. A non-integer id is a 422 from `Path<i64>`.
#[depends(responses(404 = "Note not found"))]
async fn get_note(#[dep(pool)] pool: &Pool, Path(id): Path<i64>) -> Result<Json<Note>, HttpError> {
    pool.note(id)
        .await
        .map_err(db_error)?
        .map(Json)
        .ok_or_else(|| HttpError::not_found(format!("note {id} not found")))
}

/// Export the notes.
///
/// `GET /notes/export`: every note as NDJSON, one line per note, streamed row by row from one
/// query (`SELECT ... ORDER BY id`) on the `reader` connection while the body streams. The
/// body owns that connection (`HeldMut`, kept by `HeldMut::stream` together with the query's
/// rows, which borrow it), so `reader`'s teardown runs only after the last line has been sent,
/// or the client has gone away. When no row comes for [`EXPORT_STALL`] (the server hangs, or
/// the network drops every packet), the body ends in an error: the client sees the export cut,
/// and `reader` closes the connection.
#[depends(content_type = "application/x-ndjson")]
async fn export_notes(
    #[dep(reader)] conn: HeldMut<Conn>,
    #[dep(export_stall)] stall: &ExportStall,
) -> StreamBody<impl Stream<Item = Result<Bytes, BoxError>> + Send + 'static> {
    let stall = stall.0;
    let lines = HeldMut::stream(conn, move |conn: &mut Conn| {
        futures_util::stream::unfold(Some(conn.notes()), move |rows| async move {
            let mut rows = rows?;
            let line = match tokio::time::timeout(stall, rows.next()).await {
                Ok(Some(note)) => note.map_err(BoxError::from).and_then(|note| {
                    let mut line = serde_json::to_vec(&note)?;
                    line.push(b'\n');
                    Ok(Bytes::from(line))
                }),
                Ok(None) => return None,
                Err(_) => {
                    tracing::warn!(?stall, "export: no row from the database; cut");
                    // The last item: the stream ends after it.
                    return Some((
                        Err(BoxError::from("the database sent no row in time")),
                        None,
                    ));
                }
            };
            Some((line, Some(rows)))
        })
        .boxed()
    });
    StreamBody::new(lines).content_type("application/x-ndjson")
}

/// Import notes.
///
/// `POST /notes/import`: NDJSON, one `{"title", "body"}` per line (blank lines are skipped),
/// all or nothing. The body is read as a stream, line by line (`BodyStream::lines`), so a large
/// import is never held in memory whole; lines are inserted as they arrive. If any line is
/// bad, the response is a 422 naming the bad lines by their numbers (the first 64: the import
/// stops reading there), and the transaction's teardown sees the failure and rolls back the
/// lines already inserted; so it does when the body breaks off, is too slow (408) or too large
/// (413).
#[depends(status = 201, body_content_type = "application/x-ndjson")]
async fn import_notes(
    #[dep(tx)] tx: &mut Tx,
    body: BodyStream,
) -> Result<(StatusCode, Json<serde_json::Value>), HttpError> {
    let mut imported = 0_usize;
    let mut problems = Vec::new();
    let mut lines = body.lines();
    let mut line_no = 0_usize;
    while let Some(line) = lines.next_line().await {
        let line = line?; // the body broke off: 400, 408 or 413, and `tx` rolls back
        line_no += 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        // Read as JSON first, then as a note: a line's syntax is looked at before its values
        // (serde would stop at a value of a wrong type before a syntax error further on), a
        // key given twice keeps its last value, as the `POST /notes` body's does, and a note
        // is an object (serde would also read `["t", "b"]` as one, its fields in order), as
        // pydantic takes it.
        let note = match serde_json::from_slice::<serde_json::Value>(&line) {
            Err(error) => Err(not_json(line_no, &error)),
            Ok(value) if !value.is_object() => Err(not_an_object(line_no)),
            Ok(value) => NewNote::deserialize(value).map_err(|error| {
                line_error(line_no, format!("line {line_no}: {error}")).kind("parse_error")
            }),
        };
        match note {
            Ok(new) => {
                if let Err((_, msg)) = new.validate() {
                    problems.push(line_error(line_no, format!("line {line_no}: {msg}")));
                } else if problems.is_empty() {
                    tx.insert(&new).await.map_err(db_error)?;
                    imported += 1;
                }
            }
            Err(problem) => problems.push(problem),
        }
        if problems.len() == MAX_LISTED {
            // Enough to answer: the rest of a bad import is not read.
            break;
        }
    }
    if !problems.is_empty() {
        return Err(HttpError::invalid_input(problems));
    }
    Ok((StatusCode::CREATED, Json(json!({ "imported": imported }))))
}

/// Import line `line_no`, that is not a JSON object.
fn not_an_object(line_no: usize) -> InputError {
    let msg = "Input should be a valid dictionary or object to extract fields from";
    line_error(line_no, format!("line {line_no}: {msg}")).kind("model_attributes_type")
}

/// Import line `line_no`, that is not JSON (`error`).
fn not_json(line_no: usize, error: &serde_json::Error) -> InputError {
    // serde_json's message ends with " at line 1 column N": keep only the column.
    let msg = error.to_string();
    let msg = msg.rfind(" at line ").map_or(msg.as_str(), |at| &msg[..at]);
    let msg = format!("line {line_no}, column {}: {msg}", error.column());
    line_error(line_no, msg).kind("json_invalid")
}

/// The bad lines an import's 422 names at most (as many as di lists in any 422).
const MAX_LISTED: usize = 64;

/// A problem with line `line_no` (1-based) of an import, located at `["body", line_no]`.
fn line_error(line_no: usize, msg: String) -> InputError {
    InputError::new(("body", line_no), msg)
}

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

/// The name of the header that carries the key of the write routes.
struct XApiKey;

impl KeyName for XApiKey {
    const NAME: &'static str = "X-API-Key";
}

/// The key the write routes accept (a real service would read it from its configuration).
pub(crate) const API_KEY: &str = "let-me-in";

/// The write routes' check, run for each of them without a parameter taking its value (a
/// group dependency): no `X-API-Key` header is 401 (`ApiKeyHeader` answers it before anything
/// is set up), a wrong key 403. The OpenAPI document lists both on every write route.
#[depends(responses(401 = "No API key", 403 = "Wrong API key"))]
async fn require_api_key(key: ApiKeyHeader<XApiKey>) -> Result<(), HttpError> {
    if key.key() == API_KEY {
        Ok(())
    } else {
        Err(HttpError::new(StatusCode::FORBIDDEN, "wrong API key"))
    }
}

/// The routes (main adds the database path from the command line).
fn app() -> App {
    App::new()
        .get("/health", health)
        .get("/notes", list_notes)
        // A static segment wins over a parameter, so `/notes/export` is not `/notes/{id}`.
        .get("/notes/export", export_notes)
        .get("/notes/{id}", get_note)
        // The write routes, behind an API key.
        .nest(
            Group::new("/notes")
                .dependency(require_api_key)
                .post("", create_note)
                .post("/import", import_notes),
        )
        // `GET /openapi.json`, and Swagger UI at `GET /docs`.
        .with_openapi(OpenApiConfig::new("Notes", "0.1.0"))
}

/// The app `main` serves: the routes, with the database from the command line, and a pool of
/// the default size. (`soak.rs` serves this app too, with counting replacements of `tx` and
/// `reader`.)
#[allow(
    dead_code,
    reason = "`main` calls `sized`; soak.rs and the PostgreSQL tests, which include this file, call this"
)]
pub(crate) fn configured(db: Db) -> App {
    sized(db, POOL_SIZE)
}

/// [`configured`], with a pool of `size` connections (at least [`MIN_POOL_SIZE`]), all
/// but [`KEPT_FROM_EXPORTS`] of which exports may hold: `reader`'s `max_concurrency`, set to
/// match the pool.
pub(crate) fn sized(db: Db, size: u32) -> App {
    let exports = size.saturating_sub(KEPT_FROM_EXPORTS) as usize;
    app()
        .provide(db_path, db)
        .provide(pool_size, PoolSize(size))
        .max_concurrency(reader, exports)
}

/// A notes service on SQLite or PostgreSQL, built on di's Depends with yield.
#[derive(Debug, Parser)]
#[command(name = "notes", bin_name = "cargo run --example notes --")]
struct Args {
    /// Where to listen.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:3000", value_parser = host_port)]
    addr: String,
    /// Where to keep the notes (default: a temporary SQLite file, removed when the server
    /// stops).
    ///
    /// A SQLite file, created if missing, or a PostgreSQL server:
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE
    #[arg(long, value_name = "PATH|URL", value_parser = DbParser, verbatim_doc_comment)]
    db: Option<Db>,
    /// Connections in the database pool (3 or more).
    ///
    /// Streamed exports hold at most all but 2 of them, so that
    /// the other routes always have a connection.
    #[arg(
        long,
        value_name = "N",
        default_value_t = POOL_SIZE,
        value_parser = clap::value_parser!(u32).range(i64::from(MIN_POOL_SIZE)..=10_000),
        verbatim_doc_comment
    )]
    pool_size: u32,
    /// Print each route's dependency graph and exit.
    ///
    /// As a Mermaid flowchart (as in the README), or with --graph=dot
    /// as Graphviz DOT (render it with dot -Tsvg).
    #[arg(
        long,
        value_name = "FORMAT",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "mermaid",
        verbatim_doc_comment
    )]
    graph: Option<GraphFormat>,
    /// Also log each request's trace tree.
    ///
    /// A line as each span closes: the request, and each dependency's
    /// setup and teardown (its children), with their fields and
    /// time.busy/time.idle.
    #[arg(long, verbatim_doc_comment)]
    trace: bool,
}

/// Reads `--db` with [`Db::parse`]. Its own parser rather than the function, because clap's
/// message for a value it refuses quotes the value whole: a URL's password with it.
#[derive(Clone, Copy, Debug)]
struct DbParser;

impl clap::builder::TypedValueParser for DbParser {
    type Value = Db;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Db, clap::Error> {
        let Some(text) = value.to_str() else {
            return Err(clap::Error::new(clap::error::ErrorKind::InvalidUtf8).with_cmd(cmd));
        };
        Db::parse(text).map_err(|reason| {
            let arg = arg.map_or_else(|| "--db".to_owned(), ToString::to_string);
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "invalid value '{}' for '{arg}': {reason}\n\n\
                     For more information, try '--help'.\n",
                    without_password(text)
                ),
            )
            .with_cmd(cmd)
        })
    }
}

/// `url` with the password of its user, if it has one, shown as `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The user and password end at the last `@` before the path (a password may hold an
    // `@` of its own, percent-encoded or not).
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// How `--graph` prints the app's dependency graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum GraphFormat {
    /// A Mermaid flowchart, as in the README.
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

/// Parses the command line (without the program's name). `--help` and bad arguments are
/// errors that clap prints with the usage (`Error::exit`: help on stdout and status 0,
/// anything else on stderr and status 2).
fn parse_args<I: Into<std::ffi::OsString> + Clone>(
    args: impl IntoIterator<Item = I>,
) -> Result<Args, clap::Error> {
    let program = std::iter::once(std::ffi::OsString::from("notes"));
    Args::try_parse_from(program.chain(args.into_iter().map(Into::into)))
}

/// Logs to stderr with `filter` (see [`log_filter`]). With `trace`, also a line as each span
/// closes: the `request` span (method, route, status, request id) and its children, one
/// `setup` and one `teardown` span per dependency (name, scope, outcome, result, duration),
/// each line prefixed with its parents.
fn init_logging(trace: bool, filter: Targets) {
    let spans = if trace {
        tracing_subscriber::fmt::format::FmtSpan::CLOSE
    } else {
        tracing_subscriber::fmt::format::FmtSpan::NONE
    };
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_span_events(spans)
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(filter)
        .init();
}

/// What is logged: `rust_log` (the `RUST_LOG` variable) when it is set and not blank, in
/// `tracing_subscriber`'s `Targets` syntax (`warn`, `di=info,notes=debug,sqlx=warn`);
/// otherwise the runtime's `di` events (setup and teardown of every dependency, with scope,
/// outcome and duration) at DEBUG and everything else (this example, sqlx) at INFO. A value
/// that does not parse is an error that names it.
fn log_filter(rust_log: Option<&str>) -> Result<Targets, String> {
    match rust_log.map(str::trim).filter(|spec| !spec.is_empty()) {
        Some(spec) => spec
            .parse()
            .map_err(|error| format!("RUST_LOG={spec:?} is not a log filter ({error}); write it as `info` or `di=debug,sqlx=warn`")),
        None => Ok(Targets::new()
            .with_target("di", Level::DEBUG)
            .with_default(Level::INFO)),
    }
}

/// Reads `--addr`: a host (a name, an IPv4 address, or an IPv6 one in brackets) and a port
/// number, as the server resolves them. Refused here, a bad one is a usage error that names
/// the flag and the value, as clap's other errors do.
fn host_port(text: &str) -> Result<String, String> {
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err("expected HOST:PORT, e.g. 127.0.0.1:3000".to_owned());
    };
    if host.is_empty() {
        return Err("the host is missing, e.g. 127.0.0.1:3000".to_owned());
    }
    if port.parse::<u16>().is_err() {
        return Err(format!("`{port}` is not a port number (0 to 65535)"));
    }
    Ok(text.to_owned())
}

/// The addresses `addr` (`--addr`) names; an error that names the flag and the value if it
/// cannot be resolved (the server's own error names the value, not the flag).
async fn resolve(addr: &str) -> Result<Vec<SocketAddr>, String> {
    match tokio::net::lookup_host(addr).await {
        Ok(addrs) => Ok(addrs.collect()),
        Err(error) => Err(format!("cannot resolve --addr {addr}: {error}")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = parse_args(std::env::args_os().skip(1)).unwrap_or_else(|error| error.exit());
    let app = sized(args.db.unwrap_or_default(), args.pool_size);
    if let Some(format) = args.graph {
        return match app.graph() {
            Ok(graph) => {
                match format {
                    GraphFormat::Mermaid => print!("{}", graph.mermaid()),
                    GraphFormat::Dot => print!("{}", graph.dot()),
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("notes: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let rust_log = std::env::var("RUST_LOG").ok();
    match log_filter(rust_log.as_deref()) {
        Ok(filter) => init_logging(args.trace, filter),
        Err(error) => {
            eprintln!("notes: {error}");
            return ExitCode::from(2);
        }
    }
    let addrs = match resolve(&args.addr).await {
        Ok(addrs) => addrs,
        Err(error) => {
            eprintln!("notes: {error}");
            return ExitCode::FAILURE;
        }
    };

    match app.serve(addrs.as_slice()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("notes: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The example's promises, checked in process by `cargo test --workspace`.
#[cfg(test)]
mod tests {
    use super::*;
    use di_runtime::TestResponse;
    use serde_json::Value;

    async fn client() -> TestClient {
        TestClient::start(app()).await.expect("the app starts")
    }

    /// `POST /notes` of `note`, with the key.
    async fn create(client: &TestClient, note: &Value) -> TestResponse {
        client
            .post("/notes")
            .header("x-api-key", API_KEY)
            .json(note)
            .send()
            .await
    }

    /// `POST /notes/import` of `body`, with the key.
    async fn import(client: &TestClient, body: impl Into<Bytes>) -> TestResponse {
        client
            .post("/notes/import")
            .header("x-api-key", API_KEY)
            .body(body)
            .send()
            .await
    }

    /// The `type` and `loc` of each problem of an import of `body`, which must be a 422.
    async fn import_problems(client: &TestClient, body: &'static str) -> Vec<(Value, Value)> {
        let response = import(client, body).await;
        assert_eq!(response.status(), 422);
        let problems: Value = response.json().await.expect("json");
        problems["detail"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|p| (p["type"].clone(), p["loc"].clone()))
            .collect()
    }

    async fn notes(client: &TestClient) -> Value {
        client
            .get("/notes")
            .send()
            .await
            .json()
            .await
            .expect("a JSON list")
    }

    #[tokio::test]
    async fn create_read_and_validate() {
        let client = client().await;
        let response = create(&client, &json!({"title": "first", "body": "hello"})).await;
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.expect("json");
        assert_eq!(created, json!({"id": 1, "title": "first", "body": "hello"}));

        let response = create(&client, &json!({"title": "", "body": "x"})).await;
        assert_eq!(response.status(), 422);
        let long = "x".repeat(MAX_TITLE + 1);
        let response = create(&client, &json!({"title": long, "body": "x"})).await;
        assert_eq!(response.status(), 422);
        assert_eq!(
            notes(&client).await,
            json!([created]),
            "rejected notes were rolled back"
        );

        assert_eq!(client.get("/notes/1").send().await.status(), 200);
        assert_eq!(client.get("/notes/99").send().await.status(), 404);
        assert_eq!(client.get("/notes/abc").send().await.status(), 422);
        client.shutdown().await;
    }

    #[tokio::test]
    async fn writes_need_the_api_key() {
        let client = client().await;
        let note = json!({"title": "t", "body": "b"});
        let response = client.post("/notes").json(&note).send().await;
        assert_eq!(response.status(), 401);
        assert_eq!(response.header("www-authenticate"), Some("APIKey"));
        let response = client
            .post("/notes/import")
            .header("x-api-key", "wrong")
            .body("{\"title\":\"a\",\"body\":\"1\"}\n")
            .send()
            .await;
        assert_eq!(response.status(), 403);
        assert_eq!(
            response.json::<Value>().await.expect("json"),
            json!({"detail": "wrong API key"})
        );
        assert_eq!(notes(&client).await, json!([]), "nothing was written");
        client.shutdown().await;
    }

    #[tokio::test]
    async fn an_import_past_the_body_limit_is_413_and_writes_nothing() {
        let client = TestClient::start(app().body_limit(64 * 1024))
            .await
            .expect("the app starts");
        // A good line, then blank lines past the limit: the streamed body fails with
        // `BodyError::TooLarge`, the handler returns it, and `tx` rolls back.
        let mut body = b"{\"title\":\"a\",\"body\":\"1\"}\n".to_vec();
        body.resize(100 * 1024, b'\n');
        let response = import(&client, body).await;
        assert_eq!(response.status(), 413);
        assert_eq!(notes(&client).await, json!([]), "nothing was written");
        client.shutdown().await;
    }

    #[tokio::test]
    async fn an_import_line_must_be_an_object() {
        let client = client().await;
        assert_eq!(
            import_problems(&client, "[\"t\", \"b\"]\n\"text\"\n").await,
            [
                (json!("model_attributes_type"), json!(["body", 1])),
                (json!("model_attributes_type"), json!(["body", 2])),
            ]
        );
        assert_eq!(notes(&client).await, json!([]), "nothing was written");
        client.shutdown().await;
    }

    #[tokio::test]
    async fn an_import_line_that_is_not_json_is_json_invalid_whatever_it_starts_with() {
        // Before: serde stopped at the first value of the wrong type, before the syntax
        // error: `[1,2` was "Input should be a valid dictionary" (`model_attributes_type`),
        // `{"title":5,,}` a `parse_error` "invalid type: integer `5`".
        let client = client().await;
        assert_eq!(
            import_problems(&client, "[1,2\n5 6\n{\"title\":5,,}\n").await,
            [
                (json!("json_invalid"), json!(["body", 1])),
                (json!("json_invalid"), json!(["body", 2])),
                (json!("json_invalid"), json!(["body", 3])),
            ]
        );
        assert_eq!(notes(&client).await, json!([]), "nothing was written");
        client.shutdown().await;
    }

    #[tokio::test]
    async fn an_import_line_with_a_key_twice_takes_the_last_as_post_does() {
        // Before: 422 "duplicate field `title`", where `POST /notes` (as FastAPI) takes the
        // last value of a key given twice.
        let client = client().await;
        let twice = "{\"title\":\"a\",\"body\":\"x\",\"title\":\"b\"}\n";
        let response = import(&client, twice).await;
        assert_eq!(response.status(), 201);
        let created = create(&client, &json!({"title": "c", "body": "y"})).await;
        assert_eq!(created.status(), 201);
        let listed = notes(&client).await;
        assert_eq!(listed[0]["title"], "b");
        assert_eq!(listed[1]["title"], "c");
        client.shutdown().await;
    }

    #[tokio::test]
    async fn exports_hold_all_but_two_connections_of_a_pool_sized_on_the_command_line() {
        // `--pool-size 3`: one connection for exports, two kept for the other routes.
        let app = sized(Db::Memory, 3).max_concurrency_wait(std::time::Duration::from_millis(100));
        let graph = app.graph().expect("the app plans").mermaid();
        assert!(graph.contains("max_concurrency = 1"), "{graph}");
        let client = TestClient::start(app).await.expect("the app starts");
        let two = "{\"title\":\"a\",\"body\":\"1\"}\n{\"title\":\"b\",\"body\":\"2\"}\n";
        assert_eq!(import(&client, two).await.status(), 201);

        // An export read no further than its first note holds its connection and its place.
        let mut first = client.get("/notes/export").send().await;
        assert_eq!(first.status(), 200);
        let line = first.chunk().await.expect("a first note").expect("read");
        assert!(line.starts_with(b"{\"id\":1"), "{line:?}");
        let second = client.get("/notes/export").send().await;
        assert_eq!(second.status(), 503, "the only export place is held");
        assert!(second.header("retry-after").is_some());
        // The other routes still have the two connections kept from exports.
        assert_eq!(notes(&client).await.as_array().map(Vec::len), Some(2));
        let created = create(&client, &json!({"title": "c", "body": "3"})).await;
        assert_eq!(created.status(), 201);

        drop(first);
        client.settle().await;
        let again = client.get("/notes/export").send().await;
        assert_eq!(
            again.status(),
            200,
            "the place came back when the export ended"
        );
        assert_eq!(again.text().await.expect("text").lines().count(), 3);
        client.shutdown().await;
    }

    #[tokio::test]
    async fn an_export_under_way_blocks_no_write_and_no_read_on_the_default_database() {
        // Before: the default database was SQLite's shared-cache memory, where the export's
        // `SELECT`, still under way, held the table's read lock: a write waited for it with no
        // deadline (no 503), and once a write waited, so did every read.
        let client = client().await;
        let lines: String = (0..3_000)
            .map(|i| format!("{{\"title\":\"t{i}\",\"body\":\"{}\"}}\n", "x".repeat(100)))
            .collect();
        assert_eq!(import(&client, lines).await.status(), 201);
        let mut export = client.get("/notes/export").send().await;
        assert_eq!(export.status(), 200);
        let first = export.chunk().await.expect("a first note").expect("read");
        assert!(first.starts_with(b"{\"id\":1"), "{first:?}");

        // A hang would be the failure: the bound only stops the test from waiting forever.
        let within = std::time::Duration::from_secs(60);
        let note = json!({"title": "during", "body": "the export"});
        let created = tokio::time::timeout(within, create(&client, &note))
            .await
            .expect("the write is not held up by the export");
        assert_eq!(created.status(), 201);
        let read = tokio::time::timeout(within, client.get("/notes/2").send())
            .await
            .expect("the read is not held up by the export");
        assert_eq!(read.status(), 200);

        // The export reads one snapshot: the note written since is not in it.
        let mut rest = first.to_vec();
        while let Some(chunk) = export.chunk().await {
            rest.extend_from_slice(&chunk.expect("read"));
        }
        let exported = String::from_utf8(rest).expect("UTF-8");
        assert_eq!(exported.lines().count(), 3_000);
        assert!(!exported.contains("during"));
        client.shutdown().await;
    }

    #[tokio::test]
    async fn a_long_bad_import_names_its_first_64_bad_lines() {
        let client = client().await;
        let bad = "not json\n".repeat(10_000);
        let response = import(&client, bad).await;
        assert_eq!(response.status(), 422);
        let problems: Value = response.json().await.expect("json");
        let detail = problems["detail"].as_array().expect("a list");
        assert_eq!(detail.len(), MAX_LISTED);
        assert_eq!(detail[63]["loc"], json!(["body", 64]));
        assert_eq!(notes(&client).await, json!([]), "nothing was written");
        client.shutdown().await;
    }

    #[tokio::test]
    async fn import_is_all_or_nothing_and_export_streams_every_note() {
        let client = client().await;
        let good = "{\"title\":\"a\",\"body\":\"1\"}\n\n{\"title\":\"b\",\"body\":\"2\"}\n";
        let response = import(&client, good).await;
        assert_eq!(response.status(), 201);
        assert_eq!(
            response.json::<Value>().await.expect("json"),
            json!({"imported": 2})
        );

        let bad = "{\"title\":\"c\",\"body\":\"3\"}\nnot json\n{\"title\":\"\",\"body\":\"5\"}\n";
        let response = import(&client, bad).await;
        assert_eq!(response.status(), 422);
        let problems: Value = response.json().await.expect("json");
        let locs: Vec<&Value> = problems["detail"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|p| &p["loc"])
            .collect();
        assert_eq!(locs, [&json!(["body", 2]), &json!(["body", 3])]);
        assert_eq!(
            notes(&client).await.as_array().map(Vec::len),
            Some(2),
            "line 1 was rolled back"
        );

        let response = client.get("/notes/export").send().await;
        assert_eq!(
            response.header("content-type"),
            Some("application/x-ndjson")
        );
        let body = response.text().await.expect("text");
        let titles: Vec<String> = body
            .lines()
            .map(|line| {
                serde_json::from_str::<Value>(line).expect("one note per line")["title"].to_string()
            })
            .collect();
        assert_eq!(titles, ["\"a\"", "\"b\""]);
        client.shutdown().await;
    }

    #[tokio::test]
    async fn health() {
        let client = client().await;
        let response = client.get("/health").send().await;
        assert_eq!(
            response.json::<Value>().await.expect("json"),
            json!({"status": "ok"})
        );
        client.shutdown().await;
    }

    #[test]
    fn arguments() {
        use clap::error::ErrorKind;
        let args = |list: &[&str]| parse_args(list.iter().copied());
        let kind = |list: &[&str]| args(list).err().map(|e| e.kind());
        let parsed = args(&["--addr", "0.0.0.0:8080", "--db", "notes.db"]).expect("valid");
        assert_eq!(parsed.addr, "0.0.0.0:8080");
        assert_eq!(parsed.db, Some(Db::Sqlite(PathBuf::from("notes.db"))));
        let defaults = args(&[]).expect("valid");
        assert_eq!(defaults.addr, "127.0.0.1:3000");
        assert_eq!(defaults.db, None);
        assert_eq!(kind(&["--db"]), Some(ErrorKind::InvalidValue));
        assert_eq!(kind(&["--db", ""]), Some(ErrorKind::ValueValidation));
        assert_eq!(kind(&["--port", "1"]), Some(ErrorKind::UnknownArgument));
        assert_eq!(defaults.pool_size, POOL_SIZE);
        assert_eq!(args(&["--pool-size", "30"]).expect("valid").pool_size, 30);
        assert_eq!(
            args(&["--pool-size", "3"]).expect("valid").pool_size,
            MIN_POOL_SIZE
        );
        assert_eq!(
            kind(&["--pool-size", "2"]),
            Some(ErrorKind::ValueValidation)
        );
        assert_eq!(
            kind(&["--pool-size", "ten"]),
            Some(ErrorKind::ValueValidation)
        );
        assert_eq!(kind(&["--help"]), Some(ErrorKind::DisplayHelp));
        assert_eq!(parsed.graph, None);
        assert!(!parsed.trace);
        assert!(args(&["--trace"]).expect("valid").trace);
        let graph = |list: &[&str]| args(list).expect("valid").graph;
        assert_eq!(graph(&["--graph"]), Some(GraphFormat::Mermaid));
        assert_eq!(graph(&["--graph=mermaid"]), Some(GraphFormat::Mermaid));
        assert_eq!(
            graph(&["--graph=dot", "--db", "x.db"]),
            Some(GraphFormat::Dot)
        );
        assert_eq!(kind(&["--graph=svg"]), Some(ErrorKind::InvalidValue));
        // `--graph dot` is `--graph` followed by a stray argument, as before clap.
        assert_eq!(kind(&["--graph", "dot"]), Some(ErrorKind::UnknownArgument));

        // `--db` takes a PostgreSQL URL too; a URL that cannot be read is a usage error.
        let url = "postgres://di:secret@127.0.0.1:5432/notes";
        let parsed = args(&["--db", url]).expect("valid");
        assert_eq!(parsed.db, Some(Db::Postgres(url.to_owned())));
        assert_eq!(
            parsed.db.expect("given").describe(),
            "postgres://di@127.0.0.1:5432/notes",
            "the log never shows the password"
        );
        assert!(args(&["--db", "postgresql://localhost/notes"]).is_ok());
        assert_eq!(
            kind(&["--db", "postgres://host:notaport/db"]),
            Some(ErrorKind::ValueValidation)
        );

        // `--help` names every flag.
        let help = args(&["--help"]).expect_err("help").to_string();
        for flag in [
            "--addr <HOST:PORT>",
            "--db <PATH|URL>",
            "--graph[=<FORMAT>]",
            "--trace",
        ] {
            assert!(
                help.contains(flag),
                "{flag} is missing from --help:\n{help}"
            );
        }
    }

    /// `RUST_LOG` sets what is logged (`Targets` syntax) when it is set and not blank; a
    /// value that does not parse is refused, naming it; without one, `di` at DEBUG and the
    /// rest at INFO.
    #[test]
    fn rust_log_sets_the_log_filter() {
        use tracing_subscriber::filter::LevelFilter;
        let default = log_filter(None).expect("the default");
        assert_eq!(default.default_level(), Some(LevelFilter::INFO));
        assert!(default.would_enable("di", &Level::DEBUG));
        assert!(!default.would_enable("sqlx", &Level::DEBUG));
        assert_eq!(
            log_filter(Some("  ")).expect("blank").default_level(),
            Some(LevelFilter::INFO)
        );
        let quiet = log_filter(Some("warn,notes=info")).expect("a filter");
        assert!(!quiet.would_enable("di", &Level::DEBUG));
        assert!(!quiet.would_enable("di", &Level::INFO));
        assert!(quiet.would_enable("notes", &Level::INFO));
        assert!(quiet.would_enable("sqlx", &Level::WARN));
        let error = log_filter(Some("di=loud")).expect_err("not a level");
        assert!(error.contains("RUST_LOG=\"di=loud\""), "{error}");
    }

    /// A `--addr` that is not `HOST:PORT` is a usage error that names the flag and the value,
    /// as every other bad flag is (status 2); it was `notes: could not listen: invalid socket
    /// address` (or `invalid port value`), status 1, naming neither. A host that does not
    /// resolve is named too: it was `could not listen: failed to lookup address information:
    /// Name or service not known`, which left a deployment to guess which setting was wrong.
    #[tokio::test]
    async fn a_bad_addr_is_refused_naming_it() {
        for addr in [
            "nonsense",
            "127.0.0.1:99999",
            ":3000",
            "localhost:http",
            "[::1]:0x",
        ] {
            let error = parse_args(["--addr", addr]).expect_err(addr);
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{addr}"
            );
            let message = error.to_string();
            assert!(
                message.contains("--addr") && message.contains(addr),
                "{message}"
            );
        }
        for addr in ["127.0.0.1:3000", "localhost:0", "[::1]:8080", "0.0.0.0:80"] {
            assert_eq!(parse_args(["--addr", addr]).expect(addr).addr, addr);
        }
        let error = resolve("nosuch.invalid:3000")
            .await
            .expect_err("an unknown host");
        assert!(error.contains("nosuch.invalid:3000"), "{error}");
        let local = resolve("127.0.0.1:3000").await.expect("an address");
        assert_eq!(local, [SocketAddr::from(([127, 0, 0, 1], 3000))]);
    }

    /// A `--db` URL that cannot be read is refused with the reason, but never shown with its
    /// password: clap's message quoted the whole value, `postgres://di:s3cret@...`, on stderr
    /// and so in the logs of whatever started the app.
    #[test]
    fn a_bad_url_is_refused_without_its_password() {
        for url in [
            "postgres://di:s3cret@127.0.0.1:notaport/notes",
            "postgresql://di:s3cret@[::1/notes",
            "postgres://di:s3cret@127.0.0.1:5432/notes?sslmode=sometimes",
        ] {
            let error = parse_args(["--db", url]).expect_err("a bad URL");
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{url}"
            );
            let message = error.to_string();
            assert!(
                !message.contains("s3cret"),
                "the password is shown: {message}"
            );
            assert!(
                message.contains("--db"),
                "the option is not named: {message}"
            );
            assert!(
                message.contains("postgres"),
                "the value is not shown at all: {message}"
            );
        }
    }

    /// The log and the startup's messages name the Unix socket a URL connects through
    /// (`?host=/path`), not the host sqlx would have used without it: a server missing at the
    /// socket was reported at `127.0.0.1:5432`, where the app never looked.
    #[test]
    fn a_url_through_a_socket_is_described_by_its_socket() {
        let db = Db::parse("postgres://di:s3cret@127.0.0.1/notes?host=/run/postgresql")
            .expect("a valid URL");
        assert_eq!(db.describe(), "postgres://di@/run/postgresql:5432/notes");
    }

    /// A SQLite file keeps its notes across restarts; the migrations run once.
    #[tokio::test]
    async fn a_sqlite_file_keeps_the_notes() {
        let path = std::env::temp_dir().join(format!("di-notes-test-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        for round in 1..=2_i64 {
            let client = TestClient::start(configured(Db::Sqlite(path.clone())))
                .await
                .expect("the app starts");
            let response = create(&client, &json!({"title": "kept", "body": "on disk"})).await;
            assert_eq!(response.status(), 201);
            assert_eq!(
                notes(&client).await.as_array().map(Vec::len),
                Some(usize::try_from(round).expect("small")),
                "round {round}"
            );
            client.shutdown().await;
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }

    /// A write to a SQLite file another process holds locked waits out sqlx's busy timeout
    /// (5 s) and gets a 503 with `Retry-After`, not a 500; once the lock is gone it succeeds.
    #[tokio::test]
    async fn a_write_to_a_locked_sqlite_file_gets_503() {
        use sqlx::{Connection, Executor};
        let path = std::env::temp_dir().join(format!("di-notes-lock-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let client = TestClient::start(configured(Db::Sqlite(path.clone())))
            .await
            .expect("the app starts");
        let mut locker =
            sqlx::SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&path))
                .await
                .expect("a second connection to the file");
        locker
            .execute("BEGIN EXCLUSIVE")
            .await
            .expect("lock the file");
        let write =
            async |title: &str| create(&client, &json!({"title": title, "body": "b"})).await;
        let response = write("blocked").await;
        assert_eq!(response.status(), 503);
        assert_eq!(response.header("retry-after"), Some("1"));
        locker.execute("ROLLBACK").await.expect("unlock the file");
        assert_eq!(write("after").await.status(), 201);
        let titles: Vec<String> = notes(&client)
            .await
            .as_array()
            .expect("a list")
            .iter()
            .map(|note| note["title"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(titles, ["after"], "the blocked write was rolled back");
        client.shutdown().await;
        locker.close().await.expect("close");
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }

    /// The README's diagram is what `--graph` prints now, so it cannot drift from the code.
    #[test]
    fn readme_shows_the_graph() {
        let readme = include_str!("../README.md");
        let block = readme
            .split_once("```mermaid\n")
            .and_then(|(_, rest)| rest.split_once("```"))
            .map(|(block, _)| block)
            .expect("the README has a ```mermaid block");
        let graph = configured(Db::Memory).graph().expect("the app is valid");
        assert_eq!(
            block,
            graph.mermaid(),
            "the README's diagram is out of date: paste the output of `cargo run --example notes -- --graph`"
        );
        // `--db` gives a value up front either way: the graph does not depend on it.
        let with_file = configured(Db::Sqlite(PathBuf::from("notes.db")));
        assert_eq!(with_file.graph().expect("valid").mermaid(), graph.mermaid());
    }
}

#[cfg(test)]
#[path = "notes_openapi_checks.rs"]
mod openapi_checks;
