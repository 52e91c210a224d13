//! The seed scenario as a user builds it against a real PostgreSQL (tokio-postgres and
//! deadpool-postgres, in a scratch app outside this repository), walked with curl under
//! load, clients gone mid-stream, handler errors and panics, statements the server cancels,
//! backends terminated, the server restarted and a graceful shutdown during slow exports.
//! The database is not needed here: in-memory fakes stand in for the connection and the
//! transaction, so that the suite fails if what the walk found, or what it relied on,
//! breaks.
//!
//! The app's shape: an `app`-scope pool; a `request`-scope connection taken from it (with
//! `max_concurrency`), given back at teardown; a `handler`-scope transaction on that same
//! connection (it takes the connection as `Held<Conn>`), committed or rolled back by the
//! outcome; a streamed NDJSON export reading from the connection (`HeldMut::stream`); a
//! background task that writes an audit row holding the connection.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use common::{events, log, serial};
use di_runtime::prelude::*;
use di_runtime::{BoxError, Held, HeldMut};
use futures_util::{StreamExt, stream};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

// ------------------------------ 1. a declared content type is the one sent

/// The export as the walk first wrote it: the content type declared on the handler, as
/// docs/openapi.md shows, and none given to the `StreamBody`.
#[depends(content_type = "application/x-ndjson")]
async fn export_declared() -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, BoxError>>>
{
    StreamBody::new(stream::iter(
        ["{\"i\":1}\n", "{\"i\":2}\n"].map(|line| Ok(Bytes::from(line))),
    ))
}

#[derive(serde::Deserialize)]
struct Fail {
    fail: bool,
}

/// The same, fallible: its error is JSON, whatever the success's type.
#[depends(content_type = "application/x-ndjson")]
async fn export_fallible(
    Query(Fail { fail }): Query<Fail>,
) -> Result<StreamBody<impl futures_util::Stream<Item = Result<Bytes, BoxError>>>, HttpError> {
    if fail {
        return Err(HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database is busy",
        ));
    }
    Ok(StreamBody::new(stream::iter(
        ["{\"i\":1}\n"].map(|line| Ok(Bytes::from(line))),
    )))
}

/// A stream that names its own type keeps it.
#[depends(content_type = "application/x-ndjson")]
async fn export_own_type() -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, BoxError>>>
{
    StreamBody::new(stream::iter(["a,b\n"].map(|line| Ok(Bytes::from(line)))))
        .content_type("text/csv")
}

/// A JSON answer sent as another JSON type (RFC 9457's problem details, say).
#[depends(content_type = "application/problem+json")]
async fn problem() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "title": "out of stock" }))
}

fn typed_app() -> App {
    App::new()
        .get("/export", export_declared)
        .get("/fallible", export_fallible)
        .get("/csv", export_own_type)
        .get("/problem", problem)
}

/// `#[depends(content_type = "application/x-ndjson")]` on a handler returning a
/// `StreamBody` only documented the type: the OpenAPI document said
/// `application/x-ndjson` while the body went out as `application/octet-stream`, and a user
/// who wrote the attribute (docs/openapi.md's example) and not also
/// `StreamBody::content_type` sent the wrong type. The declared type is now the one its
/// success answers are sent with, unless the answer names another; an error keeps its own.
#[tokio::test]
async fn a_handlers_declared_content_type_is_the_one_its_answer_is_sent_with() {
    let client = TestClient::start(typed_app()).await.expect("starts");
    let export = client.get("/export").send().await;
    assert_eq!(export.status(), 200);
    assert_eq!(export.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(export.text().await.expect("text"), "{\"i\":1}\n{\"i\":2}\n");

    let ok = client.get("/fallible?fail=false").send().await;
    assert_eq!(ok.header("content-type"), Some("application/x-ndjson"));
    let failed = client.get("/fallible?fail=true").send().await;
    assert_eq!(failed.status(), 503);
    assert_eq!(failed.header("content-type"), Some("application/json"));

    let csv = client.get("/csv").send().await;
    assert_eq!(csv.header("content-type"), Some("text/csv"));

    let problem = client.get("/problem").send().await;
    assert_eq!(
        problem.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(
        problem.text().await.expect("text"),
        "{\"title\":\"out of stock\"}"
    );
}

/// A declared type that is no header value.
#[depends(content_type = "application/x-ndjson\n")]
async fn export_broken_type()
-> StreamBody<impl futures_util::Stream<Item = Result<Bytes, BoxError>>> {
    StreamBody::new(stream::iter(["{}\n"].map(|line| Ok(Bytes::from(line)))))
}

/// Now that the declared type is sent, one that cannot be a header value is refused when the
/// app is checked, naming the route and the fix, where it would otherwise be dropped at each
/// answer.
#[test]
fn a_declared_content_type_that_is_no_header_value_is_refused_by_check() {
    let problems = common::problems(&App::new().get("/export", export_broken_type));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("GET /export")
            && problems[0].contains("is not a header value")
            && problems[0].contains("content_type = \"application/x-ndjson\""),
        "{problems:?}"
    );
}

// ------------------------------ 2. the transaction on the request's connection

/// What the fake database committed, as `(connection, name)`, in order; and the audit rows.
static COMMITTED: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());
static AUDITED: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());
/// The next connection's number.
static NEXT_CONN: AtomicU32 = AtomicU32::new(1);

/// Stands in for the pool (`deadpool_postgres::Pool`).
struct Pool;

/// Stands in for a pooled connection: its number, the writes of its open transaction and
/// whether one is open (a connection given back with one open is what the walk looked for in
/// `pg_stat_activity` as `idle in transaction`).
struct Conn {
    id: u32,
    pending: Mutex<Vec<String>>,
    in_tx: AtomicBool,
}

impl Conn {
    async fn insert(&self, name: &str) {
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.pending.lock().unwrap().push(name.to_owned());
    }
}

#[depends(scope = "app")]
async fn pool(y: Yield<Pool>) {
    let (_pool, outcome) = y.provide(Pool).await;
    log(format!("pool: closed, {}", common::describe(&outcome)));
}

/// The request's connection, taken from the pool and given back after the body.
#[depends(max_concurrency = 2)]
async fn conn(#[dep(pool)] _pool: &Pool, y: Yield<Conn>) {
    let id = NEXT_CONN.fetch_add(1, Ordering::SeqCst);
    log(format!("conn {id}: acquired"));
    let conn = Conn {
        id,
        pending: Mutex::new(Vec::new()),
        in_tx: AtomicBool::new(false),
    };
    let (conn, outcome) = y.provide(conn).await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    log(format!(
        "conn {}: returned, {}, in_tx={}",
        conn.id,
        common::describe(&outcome),
        conn.in_tx.load(Ordering::SeqCst)
    ));
}

/// The transaction, on the request's connection (taken as `Held`: an owned handle a value
/// provided for the handler can keep), committed or rolled back by the outcome before the
/// response is sent.
struct Tx {
    conn: Held<Conn>,
}

#[depends(scope = "handler")]
async fn tx(#[dep(conn)] conn: Held<Conn>, y: Yield<Tx>) {
    tokio::time::sleep(Duration::from_millis(1)).await; // BEGIN
    conn.in_tx.store(true, Ordering::SeqCst);
    log(format!("tx on conn {}: begin", conn.id));
    let (tx, outcome) = y.provide(Tx { conn }).await;
    tokio::time::sleep(Duration::from_millis(1)).await; // COMMIT or ROLLBACK
    let writes = std::mem::take(&mut *tx.conn.pending.lock().unwrap());
    let what = if outcome.is_success() {
        let id = tx.conn.id;
        COMMITTED
            .lock()
            .unwrap()
            .extend(writes.into_iter().map(|name| (id, name)));
        "commit"
    } else {
        "rollback"
    };
    tx.conn.in_tx.store(false, Ordering::SeqCst);
    log(format!(
        "tx on conn {}: {what}, {}",
        tx.conn.id,
        common::describe(&outcome)
    ));
}

#[derive(serde::Deserialize)]
struct NewItem {
    name: String,
}

#[depends(status = 201)]
async fn create(#[dep(tx)] tx: &mut Tx, Json(item): Json<NewItem>) -> Json<String> {
    tx.conn.insert(&item.name).await;
    Json(item.name)
}

#[depends]
async fn create_then_fail(
    #[dep(tx)] tx: &mut Tx,
    Json(item): Json<NewItem>,
) -> Result<StatusCode, HttpError> {
    tx.conn.insert(&item.name).await;
    Err(HttpError::new(
        StatusCode::BAD_REQUEST,
        "refused after writing",
    ))
}

#[depends]
async fn create_then_panic(#[dep(tx)] tx: &mut Tx, Json(item): Json<NewItem>) -> StatusCode {
    tx.conn.insert(&item.name).await;
    panic!("boom after writing {}", item.name);
}

/// Writes in the transaction, then an audit row on the same connection after the response,
/// outside the transaction (committed by then).
#[depends(status = 201)]
async fn create_audited(
    #[dep(tx)] tx: &mut Tx,
    #[dep(conn)] conn: Held<Conn>,
    tasks: &BackgroundTasks,
    Json(item): Json<NewItem>,
) -> StatusCode {
    tx.conn.insert(&item.name).await;
    tasks.add(async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let in_tx = conn.in_tx.load(Ordering::SeqCst);
        AUDITED.lock().unwrap().push((conn.id, item.name));
        log(format!("audit on conn {}: written, in_tx={in_tx}", conn.id));
    });
    StatusCode::CREATED
}

/// Rows read from the request's connection while the body is sent.
#[depends(content_type = "application/x-ndjson")]
async fn export(
    #[dep(conn)] conn: HeldMut<Conn>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, BoxError>>> {
    let lines = HeldMut::stream(conn, |conn: &mut Conn| {
        let id = conn.id;
        stream::iter(1..=3000_u32)
            .then(move |row| async move {
                if row % 1000 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Ok::<_, BoxError>(Bytes::from(format!("{{\"conn\":{id},\"i\":{row}}}\n")))
            })
            .boxed()
    });
    StreamBody::new(lines)
}

fn pg_app() -> App {
    App::new()
        .post("/items", create)
        .post("/items/fail", create_then_fail)
        .post("/items/panic", create_then_panic)
        .post("/items/audited", create_audited)
        .get("/export", export)
}

/// The walk's app, its database faked: a `handler`-scope transaction on the `request`-scope
/// connection it takes as `Held<Conn>`. Over real PostgreSQL this held under 50 clients, a
/// restart of the server and a shutdown; here each ending is checked in order: the
/// transaction commits before the response on success (and the client's 201 means a
/// commit) and rolls back on a handler error or a panic, seeing each; the connection is given
/// back after the response with no transaction open and the same outcome; the audit task
/// writes on the same connection after the commit and before the connection goes back; the
/// export reads every row from its connection before it goes back; the pool closes last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_on_the_requests_connection_commits_by_the_outcome_and_gives_it_back_clean() {
    let _serial = serial().await;
    COMMITTED.lock().unwrap().clear();
    AUDITED.lock().unwrap().clear();
    NEXT_CONN.store(1, Ordering::SeqCst);
    let client = TestClient::start(pg_app()).await.expect("starts");
    let item = |name: &str| serde_json::json!({ "name": name });

    // A success: committed before the response; the connection back after it.
    let created = client.post("/items").json(&item("a")).send().await;
    assert_eq!(created.status(), 201);
    assert_eq!(
        COMMITTED.lock().unwrap().clone(),
        [(1, "a".to_owned())],
        "committed before the 201"
    );
    client.settle().await;
    // A handler error after writing, and a panic after writing: rolled back.
    let failed = client.post("/items/fail").json(&item("b")).send().await;
    assert_eq!(failed.status(), 400);
    client.settle().await;
    let panicked = client.post("/items/panic").json(&item("c")).send().await;
    assert_eq!(panicked.status(), 500);
    assert_eq!(
        panicked.text().await.expect("text"),
        "{\"detail\":\"Internal Server Error\"}"
    );
    client.settle().await;
    // The audit task, on the same connection, after the commit.
    let audited = client.post("/items/audited").json(&item("d")).send().await;
    assert_eq!(audited.status(), 201);
    client.settle().await;
    // The export: every row, from its own connection.
    let export = client.get("/export").send().await;
    assert_eq!(export.header("content-type"), Some("application/x-ndjson"));
    let body = export.text().await.expect("text");
    assert_eq!(body.lines().count(), 3000);
    assert!(
        body.lines().all(|line| line.starts_with("{\"conn\":5,")),
        "one connection"
    );
    client.settle().await;
    client.shutdown().await;

    assert_eq!(
        COMMITTED.lock().unwrap().clone(),
        [(1, "a".to_owned()), (4, "d".to_owned())],
        "only the 2xx answers' writes"
    );
    assert_eq!(AUDITED.lock().unwrap().clone(), [(4, "d".to_owned())]);
    assert_eq!(
        events(),
        [
            "conn 1: acquired",
            "tx on conn 1: begin",
            "tx on conn 1: commit, success 201",
            "conn 1: returned, success 201, in_tx=false",
            "conn 2: acquired",
            "tx on conn 2: begin",
            "tx on conn 2: rollback, handler_error 400",
            "conn 2: returned, handler_error 400, in_tx=false",
            "conn 3: acquired",
            "tx on conn 3: begin",
            "tx on conn 3: rollback, panicked",
            "conn 3: returned, panicked, in_tx=false",
            "conn 4: acquired",
            "tx on conn 4: begin",
            "tx on conn 4: commit, success 201",
            "audit on conn 4: written, in_tx=false",
            "conn 4: returned, success 201, in_tx=false",
            "conn 5: acquired",
            "conn 5: returned, success 200, in_tx=false",
            "pool: closed, app stopped",
        ]
    );
}

// ------------------------------ 3. a request waiting for a full pool when the grace ends

/// The connection of the shutdown walk: one at a time.
#[depends(max_concurrency = 1)]
async fn one_conn(y: Yield<u8>) {
    log("one_conn: acquired");
    let (_, outcome) = y.provide(1).await;
    log(format!(
        "one_conn: returned, {}",
        common::describe(&outcome)
    ));
}

/// An export whose client reads nothing: it holds the one connection until it is cut.
#[depends]
async fn endless_export(
    #[dep(one_conn)] conn: Held<u8>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, BoxError>>> {
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    StreamBody::new(stream::repeat_with(move || {
        let _held = &conn;
        Ok(chunk.clone())
    }))
}

#[depends(status = 201)]
async fn create_on_one(#[dep(one_conn)] _conn: &u8) -> StatusCode {
    log("create_on_one: ran");
    StatusCode::CREATED
}

/// The walk's rolling restart: six exports to slow readers held every connection of the
/// pool, a `POST` waited for one, and the app was told to stop. When the grace period ended
/// the waiting request, which had set nothing up, was dropped with the connection: the
/// client saw it closed with no answer, and could not tell whether its write was made, and
/// nothing was logged. It is now answered `503` with `Retry-After` as the grace ends (a
/// write never begun, safe to send again), logged, and still sets nothing up.
#[tokio::test]
async fn a_request_waiting_for_a_place_when_the_grace_ends_gets_503_having_set_nothing_up() {
    let _serial = serial().await;
    let server = App::new()
        .get("/export", endless_export)
        .post("/items", create_on_one)
        .shutdown_grace(Duration::from_millis(200))
        .bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = server.local_addr();
    let mut exporter = TcpStream::connect(addr).await.expect("connects");
    exporter
        .write_all(b"GET /export HTTP/1.1\r\nhost: w\r\n\r\n")
        .await
        .expect("writes");
    common::wait_for("one_conn: acquired").await;
    let mut writer = TcpStream::connect(addr).await.expect("connects");
    writer
        .write_all(b"POST /items HTTP/1.1\r\nhost: w\r\ncontent-length: 0\r\n\r\n")
        .await
        .expect("writes");
    tokio::time::sleep(Duration::from_millis(100)).await; // it waits for the connection
    let shutdown = tokio::spawn(server.shutdown());
    let answer = common::guard(
        "the waiting request's answer",
        common::read_to_close(&mut writer),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nretry-after: 1\r\n"),
        "{answer}"
    );
    assert!(answer.contains("shutting down"), "{answer}");
    drop(exporter);
    common::guard("shutdown", shutdown)
        .await
        .expect("shuts down");
    assert_eq!(
        events(),
        [
            "one_conn: acquired",
            "one_conn: returned, cancelled shutdown"
        ],
        "the waiting request set nothing up"
    );
}

// ------------------------------ 4. a setup cut where it waits

/// The connection of the cut-setup walk: it says, as it goes back, whether a transaction was
/// still marked open on it.
struct MarkedConn {
    in_tx: AtomicBool,
}

#[depends]
async fn marked_conn(y: Yield<MarkedConn>) {
    let (conn, outcome) = y
        .provide(MarkedConn {
            in_tx: AtomicBool::new(false),
        })
        .await;
    let in_tx = conn.in_tx.load(Ordering::SeqCst);
    // The walk's fix: a connection whose transaction may be open is closed, not given back.
    let what = if in_tx { "closed" } else { "returned" };
    log(format!("conn: {what}, {}", common::describe(&outcome)));
}

/// A transaction whose `BEGIN` is slow to come back. The mark is set before the `BEGIN` is
/// sent: a setup cut at its `await` runs no more code.
#[depends(scope = "handler")]
async fn slow_begin_tx(#[dep(marked_conn)] conn: Held<MarkedConn>, y: Yield<()>) {
    conn.in_tx.store(true, Ordering::SeqCst);
    log("tx: BEGIN sent");
    tokio::time::sleep(Duration::from_secs(10)).await; // the server's answer to BEGIN
    log("tx: BEGIN done");
    let ((), outcome) = y.provide(()).await;
    conn.in_tx.store(false, Ordering::SeqCst);
    log(format!("tx: ended, {}", common::describe(&outcome)));
}

#[depends(status = 201)]
async fn create_slowly(#[dep(slow_begin_tx)] _tx: &()) -> StatusCode {
    StatusCode::CREATED
}

/// Over HTTP/2 with curl, clients gone while a transaction's `BEGIN` was in flight left
/// connections `idle in transaction` in the pool: the transaction's setup was cut at its
/// `await` (its teardown never runs: its setup did not complete), the `BEGIN` had reached the
/// server, and the connection's teardown, told `Cancelled(ClientGone)`, gave it back. A setup
/// is not shielded as a `handler`-scope teardown is, and no code of it runs once cut (FastAPI
/// raises the cancellation inside the generator, where `async with` cleans up); the `Yield`
/// rustdoc and docs/fastapi.md now say so, with the pattern pinned here: the state is marked
/// before the `await` and the connection's teardown closes what is still marked.
#[tokio::test]
async fn a_setup_cut_where_it_waits_is_never_torn_down_and_leaves_its_mark_for_the_connection() {
    let _serial = serial().await;
    let server = App::new()
        .post("/items", create_slowly)
        .bind("127.0.0.1:0")
        .await
        .expect("binds");
    let mut client = TcpStream::connect(server.local_addr())
        .await
        .expect("connects");
    client
        .write_all(b"POST /items HTTP/1.1\r\nhost: w\r\ncontent-length: 0\r\n\r\n")
        .await
        .expect("writes");
    common::wait_for("tx: BEGIN sent").await;
    drop(client);
    common::wait_for("conn: closed, cancelled client gone").await;
    common::guard("shutdown", server.shutdown()).await;
    assert_eq!(
        events(),
        ["tx: BEGIN sent", "conn: closed, cancelled client gone"]
    );
}
