//! The notes example on a real PostgreSQL server, under database faults.
//!
//! Set `DI_TEST_POSTGRES_URL` as for `notes_postgres.rs` (`.ci/run` sets it). This test never
//! touches that test's table: it works in a schema of its own, `notes_pg_faults` (dropped and
//! made again at each run), through the app's `search_path`, and names the app's connections
//! (`application_name`) so that it looks only at them in `pg_stat_activity`; the two tests may
//! run at once on the same database.
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
#[path = "postgres/schema.rs"]
mod schema;

use std::collections::HashSet;

use di_runtime::prelude::*;
use postgres::{database_url, eventually};
use schema::{app_url, schema_pool};
use serde_json::json;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{AssertSqlSafe, Connection};

/// The schema of the export test, and the `application_name` of its app's connections.
const SCHEMA: &str = "notes_pg_faults";

/// The same for the lock test: each test has a schema of its own, so they may run at once.
const LOCK_SCHEMA: &str = "notes_pg_locks";

/// The advisory lock that the gate below waits for while the test holds it.
const GATE_KEY: i64 = 0x0064_695f_6761_7465; // "di_gate" in ASCII

/// The export's one statement (as `pg_stat_activity` shows it).
const EXPORT_SQL: &str = "SELECT id, title, body FROM notes ORDER BY id";

/// The test's view of the server, beside the app's pool: its own connections, in its schema.
struct Server {
    pool: PgPool,
}

impl Server {
    /// Connects, and makes `schema` afresh (one of this file's constants).
    async fn connect(url: &str, schema: &'static str) -> Server {
        let pool = schema_pool(url, schema, 2).await;
        Server { pool }
    }

    /// Puts a gate in front of the notes once the app's migrations made the table: `notes`
    /// becomes a view of the rows (inserts go through it to the table, as before) whose every
    /// read of a row waits for the advisory lock [`GATE_KEY`]. While the test holds that lock,
    /// a query that reads the notes stays in the middle of its run, as a slow query does.
    async fn gate_the_notes(&self) {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "ALTER TABLE {SCHEMA}.notes RENAME TO note_rows;
             CREATE FUNCTION {SCHEMA}.gate() RETURNS boolean LANGUAGE sql VOLATILE AS
                 $$ SELECT pg_advisory_lock_shared({GATE_KEY}) IS NOT NULL
                           AND pg_advisory_unlock_shared({GATE_KEY}) $$;
             CREATE VIEW {SCHEMA}.notes AS
                 SELECT id, title, body FROM {SCHEMA}.note_rows WHERE {SCHEMA}.gate();
             INSERT INTO {SCHEMA}.note_rows (title, body) VALUES ('behind', 'the gate');"
        )))
        .execute(&self.pool)
        .await
        .expect("gate the notes");
    }

    /// The app's backends running the export's statement and waiting at the gate.
    async fn exports_at_the_gate(&self) -> Vec<i32> {
        sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity
             WHERE application_name = $1 AND state = 'active' AND wait_event = 'advisory'
               AND btrim(query, E' \\n') = $2",
        )
        .bind(SCHEMA)
        .bind(EXPORT_SQL)
        .fetch_all(&self.pool)
        .await
        .expect("pg_stat_activity")
    }

    /// Waits until a backend not in `seen` runs the export at the gate, and adds it to `seen`.
    async fn new_export_at_the_gate(&self, seen: &mut HashSet<i32>) {
        let pid = eventually(async || {
            self.exports_at_the_gate()
                .await
                .into_iter()
                .find(|pid| !seen.contains(pid))
                .ok_or_else(|| "the export's statement never reached the gate".to_owned())
        })
        .await;
        seen.insert(pid);
    }

    /// Polls until none of the connections named `application` is `idle in transaction`.
    async fn assert_no_idle_in_transaction(&self, application: &str, after: &str) {
        eventually(async || {
            let stuck: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE application_name = $1 AND state LIKE 'idle in transaction%'",
            )
            .bind(application)
            .fetch_one(&self.pool)
            .await
            .expect("pg_stat_activity");
            match stuck {
                0 => Ok(()),
                _ => Err(format!(
                    "after {after}: {stuck} connection(s) still `idle in transaction`"
                )),
            }
        })
        .await;
    }
}

/// A client that leaves an export while its statement is still running frees the export's
/// `max_concurrency` place at once (its `reader` teardown has ended), so its connection must
/// be free at once too. It was not: `reader` dropped the connection back into the pool, whose
/// check on release reads the rest of the abandoned result to its end before the connection
/// can serve again: the connection stayed busy for as long as the statement ran, beyond the
/// 8 places that are to leave the other routes their connections. A run of clients leaving
/// long exports (a big table, a slow disk, a lock) took every connection of the pool, and
/// `POST /notes` waited for one until its 503.
///
/// Here the statement stays at a gate (an advisory lock the test holds), and as many clients
/// as the pool has connections leave an export one after the other: each cut export is torn
/// down before the next starts, so at most one `reader` is ever in use. A write must still
/// get a connection.
#[tokio::test]
async fn a_client_leaving_an_export_gives_its_connection_back_at_once() {
    let Some(url) = database_url("notes_pg_faults", "a database it may add a schema to") else {
        return;
    };
    let server = Server::connect(&url, SCHEMA).await;
    // No `lock_timeout` (the app's 5 s would end the statements waiting at the gate by
    // itself, hiding whether the server stops a statement whose client left).
    let app_url = format!("{}&options[lock_timeout]=0", app_url(&url, SCHEMA));
    let client = TestClient::start(notes::configured(notes::Db::Postgres(app_url)))
        .await
        .expect("the app starts on PostgreSQL");
    server.gate_the_notes().await;

    let mut gatekeeper = PgConnection::connect(&url).await.expect("connect");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(GATE_KEY)
        .execute(&mut gatekeeper)
        .await
        .expect("close the gate");

    let mut seen = HashSet::new();
    for _ in 0..notes::POOL_SIZE {
        let mut response = client.get("/notes/export").send().await;
        assert_eq!(response.status(), 200);
        // The body sends the statement when first polled; it reaches the gate, and the
        // client leaves.
        tokio::select! {
            chunk = response.chunk() => panic!("the export went past the gate: {chunk:?}"),
            () = server.new_export_at_the_gate(&mut seen) => {}
        }
        drop(response);
        client.settle().await;
    }
    // Nor may the server go on running the statements the clients left: closing a connection
    // stops its query only once the server next writes to it, and a statement that has no row
    // to send yet (at the gate, or sorting, or waiting for a lock) would run on, each one
    // holding a server connection that the app's pool no longer counts.
    eventually(async || match server.exports_at_the_gate().await.len() {
        0 => Ok(()),
        n => Err(format!(
            "{n} abandoned export statement(s) still run on the server"
        )),
    })
    .await;

    // No export is in progress: the other routes have every connection they need.
    let response = client
        .post("/notes")
        .header("x-api-key", notes::API_KEY)
        .json(&json!({"title": "after", "body": "the exports left"}))
        .send()
        .await;
    let status = response.status();
    assert_eq!(
        status,
        201,
        "a write found no free connection after {} clients left their exports one by one: {}",
        notes::POOL_SIZE,
        response.text().await.unwrap_or_default()
    );

    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(GATE_KEY)
        .execute(&mut gatekeeper)
        .await
        .expect("open the gate");
    client.settle().await;
    server
        .assert_no_idle_in_transaction(SCHEMA, "the cut exports")
        .await;
    // With the gate open, a whole export still works.
    let body = client
        .get("/notes/export")
        .send()
        .await
        .text()
        .await
        .expect("the export");
    assert_eq!(
        body.lines().count(),
        2,
        "the note behind the gate and the write"
    );
    client.shutdown().await;
    gatekeeper.close().await.expect("close");
    server.pool.close().await;
}

/// A write blocked by a lock another session holds on the notes (a `LOCK TABLE`, a
/// migration's `ALTER TABLE`) gives up after the app's `lock_timeout` with a 503 and
/// `Retry-After`, its transaction rolled back, and the next write once the lock is gone
/// succeeds. It was a 500 after 90 s: the `INSERT` waited out the request's 60 s deadline,
/// then the transaction's ROLLBACK queued behind it until its teardown's 30 s deadline.
#[tokio::test]
async fn a_write_blocked_by_a_lock_gets_503_after_the_lock_timeout() {
    let Some(url) = database_url("notes_pg_faults", "a database it may add a schema to") else {
        return;
    };
    let server = Server::connect(&url, LOCK_SCHEMA).await;
    let client = TestClient::start(notes::configured(notes::Db::Postgres(app_url(
        &url,
        LOCK_SCHEMA,
    ))))
    .await
    .expect("the app starts on PostgreSQL");
    let write = async |title: &str| {
        client
            .post("/notes")
            .header("x-api-key", notes::API_KEY)
            .json(&json!({"title": title, "body": "b"}))
            .send()
            .await
    };

    let mut locker = server.pool.begin().await.expect("begin");
    sqlx::query(AssertSqlSafe(format!(
        "LOCK TABLE {LOCK_SCHEMA}.notes IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *locker)
    .await
    .expect("lock the notes");
    let response = write("blocked").await;
    let status = response.status();
    let retry_after = response.header("retry-after").map(str::to_owned);
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(body, r#"{"detail":"The database is busy"}"#);
    locker.rollback().await.expect("unlock the notes");

    server
        .assert_no_idle_in_transaction(LOCK_SCHEMA, "the blocked write")
        .await;
    let response = write("after").await;
    assert_eq!(response.status(), 201);
    let titles: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT title FROM {LOCK_SCHEMA}.notes ORDER BY id"
    )))
    .fetch_all(&server.pool)
    .await
    .expect("the notes");
    assert_eq!(titles, ["after"], "the blocked write was rolled back");
    client.shutdown().await;
    server.pool.close().await;
}
