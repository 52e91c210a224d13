//! Run with: cargo run --example notes
//!
//! A notes service on embedded SQLite (through sqlx), listening on `127.0.0.1:3000`.
//! Options: `--addr HOST:PORT` to listen elsewhere, `--db PATH` to keep the notes in a SQLite
//! file (created if missing) instead of in memory. `--graph` prints each route's dependency
//! graph as a Mermaid flowchart (`--graph=dot`: as Graphviz DOT) and exits without serving.
//! `--trace` also logs each request's trace tree as its spans close.
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
//! scope); `reader` holds one pooled connection for `GET /notes/export` until the last line of
//! the streamed body has been sent (`request` scope). Ctrl-C shuts down gracefully: in-flight
//! responses finish, then the `app`-scoped pool is closed.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use di_runtime::prelude::*;
use di_runtime::{ApiKeyHeader, BodyStream, BoxError, KeyName, OpenApiConfig};
use futures_util::stream::{self, Stream};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{FromRow, Row, Sqlite, SqlitePool, Transaction};
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Command-line usage, printed for `--help` and for bad arguments.
const USAGE: &str =
    "usage: cargo run --example notes -- [--addr HOST:PORT] [--db PATH] [--graph[=dot]] [--trace]

  --addr HOST:PORT  where to listen (default 127.0.0.1:3000)
  --db PATH         SQLite file to keep the notes in, created if missing
                    (default: an in-memory database, gone when the server stops)
  --graph           print each route's dependency graph as a Mermaid flowchart and exit
  --graph=dot       the same as Graphviz DOT (dot -Tsvg)
  --trace           also log each request's trace tree: a line as each span closes (the
                    request; each dependency's setup and teardown, its children), with its
                    fields and time.busy/time.idle";

/// The longest title accepted, in characters.
const MAX_TITLE: usize = 200;

/// Where the database lives: a SQLite file, or `None` for an in-memory database.
#[derive(Clone, Debug, Default)]
pub(crate) struct DbPath(Option<PathBuf>);

/// A stored note.
#[derive(Debug, Serialize, JsonSchema)]
struct Note {
    /// Assigned by the database.
    id: i64,
    /// 1 to 200 characters.
    title: String,
    /// Any text.
    body: String,
}

/// `SELECT id, title, body` rows (written out instead of `#[derive(FromRow)]`, which would
/// pull sqlx's proc-macro crate, and a second SQLite build for it, into the example).
impl FromRow<'_, SqliteRow> for Note {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(Note {
            id: row.try_get("id")?,
            title: row.try_get("title")?,
            body: row.try_get("body")?,
        })
    }
}

/// The body of `POST /notes`, and one line of `POST /notes/import`.
#[derive(Debug, Deserialize, JsonSchema)]
struct NewNote {
    /// 1 to 200 characters.
    title: String,
    /// Any text.
    body: String,
}

impl NewNote {
    /// Checks the title; the error says what is wrong, for an [`InputError`].
    fn validate(&self) -> Result<(), String> {
        let len = self.title.chars().count();
        if (1..=MAX_TITLE).contains(&len) {
            Ok(())
        } else {
            Err(format!(
                "title must be 1 to {MAX_TITLE} characters long, got {len}"
            ))
        }
    }

    /// Inserts the note and returns it as stored.
    async fn insert(&self, conn: &mut sqlx::SqliteConnection) -> Result<Note, sqlx::Error> {
        sqlx::query_as("INSERT INTO notes (title, body) VALUES (?, ?) RETURNING id, title, body")
            .bind(&self.title)
            .bind(&self.body)
            .fetch_one(conn)
            .await
    }
}

// ---------------------------------------------------------------------------------------------
// Dependencies
// ---------------------------------------------------------------------------------------------

/// Where to open the database. `main` gives the value from `--db` with `App::provide`, so
/// this default (in memory) runs only when nobody does, as in a test.
#[depends(scope = "app")]
async fn db_path() -> DbPath {
    DbPath::default()
}

/// The connection pool: opened when the app starts, closed at graceful shutdown.
#[depends(scope = "app")]
pub(crate) async fn pool(
    #[dep(db_path)] path: &DbPath,
    y: Yield<SqlitePool>,
) -> Result<(), sqlx::Error> {
    let path = &path.0;
    let pool = match path {
        Some(path) => {
            let options = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                // Readers never block the writer, nor the writer readers.
                .journal_mode(SqliteJournalMode::Wal);
            SqlitePoolOptions::new().connect_with(options).await?
        }
        None => {
            // Each SQLite connection to a plain `:memory:` database has a database of its own.
            // sqlx opens `sqlite::memory:` as a *named, shared-cache* in-memory database
            // (`file:sqlx-in-memory-N?mode=memory&cache=shared`), so every connection of this
            // pool sees the same notes. That database lives only while at least one connection
            // to it is open, so the pool keeps one open for good: `min_connections(1)` and no
            // idle timeout or maximum lifetime, which would close (and so wipe) it. Writers take
            // table locks in shared-cache mode; sqlx's `sqlite` feature includes
            // `unlock-notify`, so a reader waits for a writer's commit instead of failing with
            // `SQLITE_LOCKED`.
            let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
            SqlitePoolOptions::new()
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?
        }
    };
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS notes (
             id    INTEGER PRIMARY KEY,
             title TEXT NOT NULL,
             body  TEXT NOT NULL
         )",
    )
    .execute(&pool)
    .await?;
    let db = path
        .as_ref()
        .map_or_else(|| "memory".to_owned(), |p| p.display().to_string());
    tracing::info!(%db, "pool: opened");

    let (pool, outcome) = y.provide(pool).await;
    pool.close().await;
    tracing::info!(%outcome, "pool: closed");
    Ok(())
}

/// A transaction for one handler call, committed or rolled back in its teardown, which runs
/// before the response is sent (`handler` scope): a client never sees `201 Created` for a note
/// that was not committed, and a failed COMMIT turns the response into a 500.
#[depends(scope = "handler")]
pub(crate) async fn tx(
    #[dep(pool)] pool: &SqlitePool,
    y: Yield<Transaction<'static, Sqlite>>,
) -> Result<(), sqlx::Error> {
    let tx = pool.begin().await?;
    let (tx, outcome) = y.provide(tx).await;
    if outcome.is_success() {
        tx.commit().await?;
        tracing::info!(%outcome, "tx: commit");
    } else {
        tx.rollback().await?;
        tracing::info!(%outcome, "tx: rollback");
    }
    Ok(())
}

/// One pooled connection for a streamed response (`request` scope, the default): it stays out
/// of the pool until the body's last byte has been sent, or the client has gone away.
#[depends]
pub(crate) async fn reader(
    #[dep(pool)] pool: &SqlitePool,
    y: Yield<PoolConnection<Sqlite>>,
) -> Result<(), sqlx::Error> {
    let conn = pool.acquire().await?;
    tracing::info!("reader: connection acquired");
    let (conn, outcome) = y.provide(conn).await;
    drop(conn);
    tracing::info!(%outcome, "reader: connection returned to the pool");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// Health check.
///
/// `GET /health`
#[depends]
async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Create a note.
///
/// `POST /notes`: stores one note in the handler's transaction. A body of the wrong shape is
/// rejected with 422 before any dependency runs; a bad title is rejected here, and the
/// transaction rolls back.
#[depends(status = 201)]
async fn create_note(
    #[dep(tx)] tx: &mut Transaction<'static, Sqlite>,
    Json(new): Json<NewNote>,
) -> Result<(StatusCode, Json<Note>), HttpError> {
    new.validate()
        .map_err(|msg| HttpError::invalid_input([InputError::new(["body", "title"], msg)]))?;
    let note = new.insert(tx).await?;
    Ok((StatusCode::CREATED, Json(note)))
}

/// List the notes.
///
/// `GET /notes`: every note, oldest first.
#[depends]
async fn list_notes(#[dep(pool)] pool: &SqlitePool) -> Result<Json<Vec<Note>>, HttpError> {
    let notes = sqlx::query_as("SELECT id, title, body FROM notes ORDER BY id")
        .fetch_all(pool)
        .await?;
    Ok(Json(notes))
}

/// Read a note.
///
/// `GET /notes/{id}`: one note, or 404. A non-integer id is a 422 from `Path<i64>`.
#[depends]
async fn get_note(
    #[dep(pool)] pool: &SqlitePool,
    Path(id): Path<i64>,
) -> Result<Json<Note>, HttpError> {
    sqlx::query_as("SELECT id, title, body FROM notes WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .map(Json)
        .ok_or_else(|| HttpError::not_found(format!("note {id} not found")))
}

/// Export the notes.
///
/// `GET /notes/export`: every note as NDJSON, one line per note, read row by row from the
/// `reader` connection while the body streams. The body owns that connection (`HeldMut`), so
/// `reader`'s teardown runs only after the last line has been sent.
#[depends(content_type = "application/x-ndjson")]
async fn export_notes(
    #[dep(reader)] conn: HeldMut<PoolConnection<Sqlite>>,
) -> StreamBody<impl Stream<Item = Result<Bytes, BoxError>> + Send + 'static> {
    let lines = stream::try_unfold((conn, i64::MIN), |(mut conn, last_id)| async move {
        let next: Option<Note> =
            sqlx::query_as("SELECT id, title, body FROM notes WHERE id > ? ORDER BY id LIMIT 1")
                .bind(last_id)
                .fetch_optional(&mut **conn)
                .await?;
        let Some(note) = next else {
            return Ok(None); // the end: drops `conn`, which lets `reader` tear down
        };
        let mut line = serde_json::to_vec(&note)?;
        line.push(b'\n');
        Ok::<_, BoxError>(Some((Bytes::from(line), (conn, note.id))))
    });
    StreamBody::new(lines).content_type("application/x-ndjson")
}

/// Import notes.
///
/// `POST /notes/import`: NDJSON, one `{"title", "body"}` per line (blank lines are skipped),
/// all or nothing. The body is read as a stream, line by line (`BodyStream::lines`), so a large
/// import is never held in memory whole; lines are inserted as they arrive. If any line is
/// bad, the response is a 422 naming every bad line by its number, and the transaction's
/// teardown sees the failure and rolls back the lines already inserted; so it does when the
/// body breaks off, is too slow (408) or too large (413).
#[depends(status = 201)]
async fn import_notes(
    #[dep(tx)] tx: &mut Transaction<'static, Sqlite>,
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
        let new = match serde_json::from_slice::<NewNote>(&line) {
            Ok(new) => new,
            Err(e) => {
                // serde_json's message ends with " at line 1 column N": keep only the column.
                let msg = e.to_string();
                let msg = msg.rfind(" at line ").map_or(msg.as_str(), |at| &msg[..at]);
                let kind = if e.is_syntax() || e.is_eof() {
                    "json_invalid"
                } else {
                    "parse_error"
                };
                let msg = format!("line {line_no}, column {}: {msg}", e.column());
                problems.push(line_error(line_no, msg).kind(kind));
                continue;
            }
        };
        if let Err(msg) = new.validate() {
            problems.push(line_error(line_no, format!("line {line_no}: {msg}")));
            continue;
        }
        if problems.is_empty() {
            new.insert(tx).await?;
            imported += 1;
        }
    }
    if !problems.is_empty() {
        return Err(HttpError::invalid_input(problems));
    }
    Ok((StatusCode::CREATED, Json(json!({ "imported": imported }))))
}

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
/// is set up), a wrong key 403.
#[depends]
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

/// The app `main` serves: the routes, with the database path from the command line.
/// (`soak.rs` serves this app too, with counting replacements of `tx` and `reader`.)
pub(crate) fn configured(db: Option<PathBuf>) -> App {
    app().provide(db_path, DbPath(db))
}

/// What the command line asked for.
struct Args {
    /// `--addr`
    addr: String,
    /// `--db`
    db: Option<PathBuf>,
    /// `--graph`, `--graph=dot`: print the graph in this format instead of serving.
    graph: Option<GraphFormat>,
    /// `--trace`: log every span as it closes.
    trace: bool,
}

/// How `--graph` prints the app's dependency graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GraphFormat {
    /// `--graph` (or `--graph=mermaid`): a Mermaid flowchart, as in the README.
    Mermaid,
    /// `--graph=dot`: Graphviz DOT.
    Dot,
}

/// Why the command line was not accepted.
enum ArgsError {
    /// `--help`: print the usage and exit successfully.
    Help,
    /// Anything else: print what was wrong and the usage, and exit with status 2.
    Bad(String),
}

/// Parses `--addr HOST:PORT`, `--db PATH` and `--graph[=dot]`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, ArgsError> {
    let mut parsed = Args {
        addr: "127.0.0.1:3000".to_owned(),
        db: None,
        graph: None,
        trace: false,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| ArgsError::Bad(format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--addr" => parsed.addr = value("--addr")?,
            "--db" => parsed.db = Some(PathBuf::from(value("--db")?)),
            "--graph" | "--graph=mermaid" => parsed.graph = Some(GraphFormat::Mermaid),
            "--graph=dot" => parsed.graph = Some(GraphFormat::Dot),
            "--trace" => parsed.trace = true,
            "-h" | "--help" => return Err(ArgsError::Help),
            other => return Err(ArgsError::Bad(format!("unknown argument `{other}`"))),
        }
    }
    Ok(parsed)
}

/// Logs to stderr: the runtime's `di` events (setup and teardown of every dependency, with
/// scope, outcome and duration) at DEBUG, everything else (this example, sqlx) at INFO.
/// With `trace`, also a line as each span closes: the `request` span (method, route, status,
/// request id) and its children, one `setup` and one `teardown` span per dependency (name,
/// scope, outcome, result, duration), each line prefixed with its parents.
fn init_logging(trace: bool) {
    let spans = if trace {
        tracing_subscriber::fmt::format::FmtSpan::CLOSE
    } else {
        tracing_subscriber::fmt::format::FmtSpan::NONE
    };
    let filter = Targets::new()
        .with_target("di", Level::DEBUG)
        .with_default(Level::INFO);
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

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(ArgsError::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(ArgsError::Bad(problem)) => {
            eprintln!("{problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let app = configured(args.db);
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
    init_logging(args.trace);

    match app.serve(args.addr.as_str()).await {
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
    use serde_json::Value;

    async fn client() -> TestClient {
        TestClient::start(app()).await.expect("the app starts")
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
        let response = client
            .post("/notes")
            .header("x-api-key", API_KEY)
            .json(&json!({"title": "first", "body": "hello"}))
            .send()
            .await;
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.expect("json");
        assert_eq!(created, json!({"id": 1, "title": "first", "body": "hello"}));

        let response = client
            .post("/notes")
            .header("x-api-key", API_KEY)
            .json(&json!({"title": "", "body": "x"}))
            .send()
            .await;
        assert_eq!(response.status(), 422);
        let long = "x".repeat(MAX_TITLE + 1);
        let response = client
            .post("/notes")
            .header("x-api-key", API_KEY)
            .json(&json!({"title": long, "body": "x"}))
            .send()
            .await;
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
        let response = client
            .post("/notes/import")
            .header("x-api-key", API_KEY)
            .body(body)
            .send()
            .await;
        assert_eq!(response.status(), 413);
        assert_eq!(notes(&client).await, json!([]), "nothing was written");
        client.shutdown().await;
    }

    #[tokio::test]
    async fn import_is_all_or_nothing_and_export_streams_every_note() {
        let client = client().await;
        let good = "{\"title\":\"a\",\"body\":\"1\"}\n\n{\"title\":\"b\",\"body\":\"2\"}\n";
        let response = client
            .post("/notes/import")
            .header("x-api-key", API_KEY)
            .body(good)
            .send()
            .await;
        assert_eq!(response.status(), 201);
        assert_eq!(
            response.json::<Value>().await.expect("json"),
            json!({"imported": 2})
        );

        let bad = "{\"title\":\"c\",\"body\":\"3\"}\nnot json\n{\"title\":\"\",\"body\":\"5\"}\n";
        let response = client
            .post("/notes/import")
            .header("x-api-key", API_KEY)
            .body(bad)
            .send()
            .await;
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
        let args = |list: &[&str]| parse_args(list.iter().map(|s| (*s).to_owned()));
        let parsed = args(&["--addr", "0.0.0.0:8080", "--db", "notes.db"])
            .ok()
            .expect("valid");
        assert_eq!(parsed.addr, "0.0.0.0:8080");
        assert_eq!(parsed.db, Some(PathBuf::from("notes.db")));
        assert!(matches!(args(&["--db"]), Err(ArgsError::Bad(_))));
        assert!(matches!(args(&["--port", "1"]), Err(ArgsError::Bad(_))));
        assert!(matches!(args(&["--help"]), Err(ArgsError::Help)));
        assert_eq!(parsed.graph, None);
        assert!(!parsed.trace);
        assert!(args(&["--trace"]).ok().expect("valid").trace);
        let graph = |list: &[&str]| args(list).ok().expect("valid").graph;
        assert_eq!(graph(&["--graph"]), Some(GraphFormat::Mermaid));
        assert_eq!(graph(&["--graph=mermaid"]), Some(GraphFormat::Mermaid));
        assert_eq!(
            graph(&["--graph=dot", "--db", "x.db"]),
            Some(GraphFormat::Dot)
        );
        assert!(matches!(args(&["--graph=svg"]), Err(ArgsError::Bad(_))));
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
        let graph = configured(None).graph().expect("the app is valid");
        assert_eq!(
            block,
            graph.mermaid(),
            "the README's diagram is out of date: paste the output of `cargo run --example notes -- --graph`"
        );
        // `--db` gives a value up front either way: the graph does not depend on it.
        let with_file = configured(Some(PathBuf::from("notes.db")));
        assert_eq!(with_file.graph().expect("valid").mermaid(), graph.mermaid());
    }
}

#[cfg(test)]
#[path = "notes_openapi_checks.rs"]
mod openapi_checks;
