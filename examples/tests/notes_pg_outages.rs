//! The notes example on a real PostgreSQL server when the server fails it: its backend
//! terminated in the middle of a write, an import, a COMMIT or an export
//! (`pg_terminate_backend`); a statement cancelled or timed out; a session ended for idling;
//! the server unreachable, or refusing the app's logins (a TCP proxy in front of it, cut,
//! answering logins with the server's error, opening read-only sessions as a hot standby's,
//! and restored); a server that stops sending an export's rows; a burst past the pool; a server
//! the app cannot open at startup; and a note PostgreSQL cannot store (a NUL character). Each
//! must get a 503 with `Retry-After` (or a 422 for the note) and a fixed body, never a 500
//! with SQL, a driver's message or the URL; no connection may stay `idle in transaction`, and
//! the app must recover by itself.
//!
//! Set `DI_TEST_POSTGRES_URL` as for `notes_postgres.rs` (`.ci/run` sets it). Each test works
//! in a schema of its own, `notes_pg_outages_*` (dropped and made again at each run), through
//! the app's `search_path`, and names the app's connections after it (`application_name`), so
//! that it looks only at them in `pg_stat_activity`, and terminates or cancels only them;
//! these tests, `notes_postgres.rs` and `notes_pg_faults.rs` may run at once on one database.
//!
//! Without the variable the tests that need the server print why they skipped and pass,
//! except under `CI=true`, where a missing server is a failure; the startup checks on a
//! closed port and on a listener that never answers need no server, and always run.

#[allow(
    dead_code,
    reason = "the notes example's `main` and command line are not used here"
)]
#[path = "../notes.rs"]
mod notes;
mod postgres;
#[path = "postgres/schema.rs"]
mod schema;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use di_runtime::TestResponse;
use di_runtime::prelude::*;
use postgres::{database_url, eventually};
use schema::{app_url, schema_pool};
use serde_json::json;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the skip message says the tests need.
const NEEDS: &str = "a database it may add a schema to";

/// The body of the 503 for a connection lost or refused.
const UNAVAILABLE: &str = r#"{"detail":"The database is unavailable"}"#;

/// The test's view of the server, beside the app's pool: its own connections, in its schema.
struct Server {
    pool: PgPool,
    schema: &'static str,
}

impl Server {
    /// Connects, and makes `schema` afresh (a constant of a test below).
    async fn connect(url: &str, schema: &'static str) -> Server {
        let pool = schema_pool(url, schema, 3).await;
        Server { pool, schema }
    }

    /// Waits until one of the app's backends is in `state` (a `LIKE` pattern) waiting for
    /// `wait_event` (any, if `None`), and gives its pid.
    async fn app_backend(&self, state: &str, wait_event: Option<&str>) -> i32 {
        eventually(async || {
            let pid: Option<i32> = sqlx::query_scalar(
                "SELECT pid FROM pg_stat_activity
                 WHERE application_name = $1 AND state LIKE $2
                   AND ($3::text IS NULL OR wait_event = $3)
                 LIMIT 1",
            )
            .bind(self.schema)
            .bind(state)
            .bind(wait_event)
            .fetch_optional(&self.pool)
            .await
            .expect("pg_stat_activity");
            pid.ok_or_else(|| format!("no app backend {state} waiting for {wait_event:?}"))
        })
        .await
    }

    /// Ends the backend `pid` (one of the app's), as an operator or a failover does.
    async fn terminate(&self, pid: i32) {
        let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&self.pool)
            .await
            .expect("pg_terminate_backend");
        assert!(ended, "backend {pid} was not terminated");
    }

    /// Polls until none of the app's connections is `idle in transaction`.
    async fn assert_no_idle_in_transaction(&self, after: &str) {
        eventually(async || {
            let stuck: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE application_name = $1 AND state LIKE 'idle in transaction%'",
            )
            .bind(self.schema)
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

    /// The titles of the stored notes, oldest first.
    async fn titles(&self) -> Vec<String> {
        sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT title FROM {}.notes ORDER BY id",
            self.schema
        )))
        .fetch_all(&self.pool)
        .await
        .expect("the notes")
    }
}

/// `POST /notes` of a note titled `title`, with the key.
async fn write(client: &TestClient, title: &str) -> TestResponse {
    client
        .post("/notes")
        .header("x-api-key", notes::API_KEY)
        .json(&json!({"title": title, "body": "b"}))
        .send()
        .await
}

/// A response's status, `Retry-After` and body, to compare at once.
async fn answer(response: TestResponse) -> (u16, Option<String>, String) {
    let status = response.status().as_u16();
    let retry_after = response.header("retry-after").map(str::to_owned);
    (
        status,
        retry_after,
        response.text().await.unwrap_or_default(),
    )
}

/// An HTTP/1.1 client on a socket, for a request whose body is sent in two parts: `head`,
/// then `first` as a chunk; the test does what it needs while the server holds the request;
/// then [`RawRequest::finish`] sends `rest` and reads the answer.
struct RawRequest {
    stream: TcpStream,
}

impl RawRequest {
    async fn start(addr: SocketAddr, head: &str, first: &str) -> RawRequest {
        let mut stream = TcpStream::connect(addr).await.expect("connect to the app");
        stream
            .write_all(head.as_bytes())
            .await
            .expect("send the head");
        let mut request = RawRequest { stream };
        request.chunk(first).await;
        request
    }

    async fn chunk(&mut self, data: &str) {
        let framed = format!("{:x}\r\n{data}\r\n", data.len());
        self.stream
            .write_all(framed.as_bytes())
            .await
            .expect("send a chunk");
    }

    /// Sends `rest` and the body's end, and reads the response until the server closes
    /// (`Connection: close`): status, `Retry-After` and body.
    async fn finish(mut self, rest: &str) -> (u16, Option<String>, String) {
        self.chunk(rest).await;
        self.stream
            .write_all(b"0\r\n\r\n")
            .await
            .expect("end the body");
        let mut raw = Vec::new();
        self.stream
            .read_to_end(&mut raw)
            .await
            .expect("read the answer");
        let text = String::from_utf8(raw).expect("a text answer");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {head:?}"));
        let retry_after = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("retry-after")
                .then(|| value.trim().to_owned())
        });
        (status, retry_after, body.to_owned())
    }
}

/// A write whose backend is terminated in the middle of its transaction (by an operator, a
/// failover, a crash) gets 503 with `Retry-After`: the database went away, and the request
/// may succeed once it is back. It was a 500, as for a bug in the app. The pool heals: the
/// next write, on a new connection, succeeds, and the cut transaction left nothing behind.
///
/// Twice: a `POST /notes` whose `INSERT` waits for a lock when its backend is terminated,
/// and a streamed import whose backend is terminated between two lines, while its
/// transaction is open and idle (the next `INSERT` finds the connection gone).
#[tokio::test]
async fn a_write_whose_backend_is_terminated_gets_503_and_the_pool_heals() {
    const SCHEMA: &str = "notes_pg_outages_kill";
    let Some(url) = database_url("notes_pg_outages", NEEDS) else {
        return;
    };
    let server = Server::connect(&url, SCHEMA).await;
    let app_url = app_url(&url, SCHEMA);
    let client = TestClient::start(notes::configured(notes::Db::Postgres(app_url.clone())))
        .await
        .expect("the app starts on PostgreSQL");

    // The INSERT waits for a lock the test holds; its backend is terminated meanwhile.
    let mut locker = server.pool.begin().await.expect("begin");
    sqlx::query(AssertSqlSafe(format!(
        "LOCK TABLE {SCHEMA}.notes IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *locker)
    .await
    .expect("lock the notes");
    let terminate = async {
        let pid = server.app_backend("active", Some("relation")).await;
        server.terminate(pid).await;
    };
    let (response, ()) = tokio::join!(write(&client, "cut"), terminate);
    assert_eq!(
        answer(response).await,
        (503, Some("1".to_owned()), UNAVAILABLE.to_owned()),
        "a write whose backend was terminated"
    );
    locker.rollback().await.expect("unlock the notes");
    server
        .assert_no_idle_in_transaction("the terminated write")
        .await;
    assert_eq!(write(&client, "after the cut").await.status(), 201);

    // A streamed import, its backend terminated between its two lines.
    let http = notes::configured(notes::Db::Postgres(app_url))
        .bind("127.0.0.1:0")
        .await
        .expect("the app serves on PostgreSQL");
    let head = "POST /notes/import HTTP/1.1\r\nhost: notes\r\nx-api-key: let-me-in\r\n\
                content-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\
                connection: close\r\n\r\n";
    let import = RawRequest::start(
        http.local_addr(),
        head,
        "{\"title\":\"line 1\",\"body\":\"1\"}\n",
    )
    .await;
    let pid = server.app_backend("idle in transaction%", None).await;
    server.terminate(pid).await;
    assert_eq!(
        import
            .finish("{\"title\":\"line 2\",\"body\":\"2\"}\n")
            .await,
        (503, Some("1".to_owned()), UNAVAILABLE.to_owned()),
        "an import whose backend was terminated between two lines"
    );
    server
        .assert_no_idle_in_transaction("the terminated import")
        .await;
    assert_eq!(write(&client, "after the import").await.status(), 201);
    assert_eq!(
        server.titles().await,
        ["after the cut", "after the import"],
        "the cut write and import left nothing behind"
    );
    http.shutdown().await;
    client.shutdown().await;
    server.pool.close().await;
}

/// The body of the 503 for a lock timeout, a cancelled statement, no free connection.
const BUSY: &str = r#"{"detail":"The database is busy"}"#;

/// A statement the server cancels (`pg_cancel_backend`, or the `statement_timeout` an
/// operator sets in the URL) gets 503 with `Retry-After`, as a lock timeout does: the server
/// gave up on it, and the request may pass later. It was a 500. A cancelled write's
/// transaction is rolled back, and the connection serves the next request.
#[tokio::test]
async fn a_cancelled_or_timed_out_statement_gets_503() {
    const SCHEMA: &str = "notes_pg_outages_cancel";
    let Some(url) = database_url("notes_pg_outages", NEEDS) else {
        return;
    };
    let server = Server::connect(&url, SCHEMA).await;
    // A statement_timeout far beyond what this test's statements take, but for the one that
    // waits for the test's lock; a lock_timeout beyond it, so that the read below fails by the
    // statement_timeout.
    let app_url = format!(
        "{}&options[statement_timeout]=2s&options[lock_timeout]=60s",
        app_url(&url, SCHEMA)
    );
    let client = TestClient::start(notes::configured(notes::Db::Postgres(app_url)))
        .await
        .expect("the app starts on PostgreSQL");
    assert_eq!(write(&client, "kept").await.status(), 201);

    let mut locker = server.pool.begin().await.expect("begin");
    sqlx::query(AssertSqlSafe(format!(
        "LOCK TABLE {SCHEMA}.notes IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *locker)
    .await
    .expect("lock the notes");
    // A write waiting for the lock, cancelled.
    let cancel = async {
        let pid = server.app_backend("active", Some("relation")).await;
        let cancelled: bool = sqlx::query_scalar("SELECT pg_cancel_backend($1)")
            .bind(pid)
            .fetch_one(&server.pool)
            .await
            .expect("pg_cancel_backend");
        assert!(cancelled, "backend {pid} was not cancelled");
    };
    let (response, ()) = tokio::join!(write(&client, "cancelled"), cancel);
    assert_eq!(
        answer(response).await,
        (503, Some("1".to_owned()), BUSY.to_owned()),
        "a write cancelled by the server"
    );
    // A read waiting for the lock past the URL's statement_timeout.
    assert_eq!(
        answer(client.get("/notes").send().await).await,
        (503, Some("1".to_owned()), BUSY.to_owned()),
        "a read past the statement_timeout"
    );
    locker.rollback().await.expect("unlock the notes");

    server
        .assert_no_idle_in_transaction("the cancelled write")
        .await;
    assert_eq!(write(&client, "after").await.status(), 201);
    assert_eq!(server.titles().await, ["kept", "after"]);
    client.shutdown().await;
    server.pool.close().await;
}

/// Why the app did not start on `url` (it must not), as `main` prints it.
async fn start_error(url: &str) -> String {
    match TestClient::start(notes::configured(notes::Db::Postgres(url.to_owned()))).await {
        Ok(client) => {
            client.shutdown().await;
            panic!("the app started on {url}");
        }
        Err(error) => error.to_string(),
    }
}

/// Checks that `message` names the server and database, says what to fix (`hint`), and
/// does not show the password `secret`.
fn assert_says(message: &str, server: &str, hint: &str, secret: &str) {
    assert!(
        message.contains(server),
        "the message does not name the server, {server}: {message}"
    );
    assert!(
        message.contains(hint),
        "the message does not say what to fix ({hint:?}): {message}"
    );
    assert!(
        !message.contains(secret),
        "the message shows the password: {message}"
    );
}

/// An app that cannot open its database does not start, and says which server and what to
/// fix. On a port where no server listens it said, after 30 s, only `pool timed out while
/// waiting for an open connection`; now at once, with the server and database (never the
/// password) and a hint: is PostgreSQL running there? So for a wrong password, and for a
/// missing database (these need the server).
#[tokio::test]
async fn an_app_that_cannot_open_its_database_says_what_to_fix() {
    // A port nobody listens on: one the system just gave, closed again.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let message = start_error(&format!(
        "postgres://di:s3cret-pw@127.0.0.1:{closed}/notes_db"
    ))
    .await;
    assert_says(
        &message,
        &format!("postgres://di@127.0.0.1:{closed}/notes_db"),
        "is PostgreSQL running there",
        "s3cret-pw",
    );

    // A server that takes the connection and never answers (a frozen host, a port some
    // other service holds): the start gives up too, and says the same.
    let silent = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a listener that never answers");
    let silent_port = silent.local_addr().expect("its address").port();
    let message = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        start_error(&format!(
            "postgres://di:s3cret-pw@127.0.0.1:{silent_port}/notes_db"
        )),
    )
    .await
    .expect("the start on a server that never answers hung");
    assert_says(
        &message,
        &format!("postgres://di@127.0.0.1:{silent_port}/notes_db"),
        "is PostgreSQL running there",
        "s3cret-pw",
    );
    drop(silent);

    let Some(url) = database_url("notes_pg_outages", NEEDS) else {
        return;
    };
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("the test's URL");
    let server = format!(
        "postgres://{}@{}:{}",
        options.get_username(),
        options.get_host(),
        options.get_port()
    );
    let database = options.get_database().unwrap_or_default();
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user_info, location) = rest.split_once('@').expect("a URL with a user");
    let user = user_info.split(':').next().unwrap_or_default();
    let message = start_error(&format!("{scheme}://{user}:not-the-s3cret@{location}")).await;
    assert_says(
        &message,
        &format!("{server}/{database}"),
        "check the user and password",
        "not-the-s3cret",
    );
    // A server that refuses the migrations' statements (here a read-only session, as on a
    // standby): the server's message, without sqlx's `at line N` (a line of PostgreSQL's
    // source, read as a line of a migration file).
    let message = start_error(&format!(
        "{}&options[default_transaction_read_only]=on",
        app_url(&url, "notes_pg_outages_read_only")
    ))
    .await;
    assert_says(
        &message,
        "while executing migrations: cannot execute CREATE TABLE in a read-only transaction",
        &format!("{server}/{database}"),
        &format!("{user_info}@"),
    );
    assert!(!message.contains(" at line "), "{message}");
    let (address, _) = location.split_once('/').expect("a URL with a database");
    let message = start_error(&format!(
        "{scheme}://{user_info}@{address}/notes_pg_outages_missing"
    ))
    .await;
    assert_says(
        &message,
        &format!("{server}/notes_pg_outages_missing"),
        "CREATE DATABASE",
        // The URL's user and password as they were given.
        &format!("{user_info}@"),
    );
}

/// A TCP proxy between the app and the server, to take the server away from the app as a
/// network failure or a server restart does, and to bring it back.
struct Proxy {
    /// Where the app connects.
    addr: SocketAddr,
    /// The server.
    target: SocketAddr,
    /// The task accepting connections, while the proxy is up.
    accept: Option<JoinHandle<()>>,
    /// The tasks carrying the connections' bytes.
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// What the proxy does with a connection.
#[derive(Clone, Copy)]
enum Mode {
    /// Carries its bytes to and from the server.
    Forward,
    /// Answers its login as a server refusing it does, with this SQLSTATE.
    RefuseLogin(&'static str),
    /// Carries its bytes, having opened it as a read-only session, as a hot standby's.
    ReadOnly,
}

/// Reads a client's startup message (without its length), having declined TLS and GSS
/// encryption if it asked for them first: the client then goes on without.
async fn read_startup(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    loop {
        let len = usize::try_from(client.read_u32().await?).unwrap_or(0);
        let mut message = vec![0; len.saturating_sub(4)];
        client.read_exact(&mut message).await?;
        // SSLRequest and GSSENCRequest: "no".
        if message.get(..4) == Some(&[0x04, 0xd2, 0x16, 0x2f])
            || message.get(..4) == Some(&[0x04, 0xd2, 0x16, 0x30])
        {
            client.write_all(b"N").await?;
            continue;
        }
        return Ok(message);
    }
}

/// Answers a client's login with a PostgreSQL `FATAL` error of SQLSTATE `code`, as a server
/// does for a role that may not log in (`28000`), a wrong password (`28P01`), a dropped
/// database (`3D000`): declines TLS, reads the startup message, sends the error, closes.
async fn refuse_login(mut client: TcpStream, code: &str) -> std::io::Result<()> {
    read_startup(&mut client).await?;
    let mut fields = Vec::new();
    for (kind, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', "refused by the test"),
    ] {
        fields.push(kind);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut error = vec![b'E'];
    error.extend_from_slice(&u32::try_from(fields.len() + 4).unwrap_or(0).to_be_bytes());
    error.extend_from_slice(&fields);
    client.write_all(&error).await?;
    client.shutdown().await
}

/// Carries a client's connection to the server at `target`, having added
/// `-c default_transaction_read_only=on` to the `options` of its startup message: every
/// transaction of the session is read-only, and each write fails with `25006`, as on a hot
/// standby. Declines TLS, to read the startup message.
async fn forward_read_only(mut client: TcpStream, target: SocketAddr) -> std::io::Result<()> {
    const READ_ONLY: &str = "-c default_transaction_read_only=on";
    let startup = read_startup(&mut client).await?;
    // The protocol version, then `name\0value\0` pairs, then `\0`.
    let (version, pairs) = startup.split_at(4.min(startup.len()));
    let mut fields: Vec<&[u8]> = pairs.split(|&byte| byte == 0).collect();
    // What follows the last pair's `\0`, and the closing `\0`: two empty pieces.
    fields.truncate(fields.len().saturating_sub(2));
    let mut rewritten = version.to_vec();
    let mut had_options = false;
    for pair in fields.chunks(2) {
        let [name, value] = pair else { break };
        rewritten.extend_from_slice(name);
        rewritten.push(0);
        rewritten.extend_from_slice(value);
        if *name == b"options" {
            had_options = true;
            rewritten.push(b' ');
            rewritten.extend_from_slice(READ_ONLY.as_bytes());
        }
        rewritten.push(0);
    }
    if !had_options {
        rewritten.extend_from_slice(b"options\0");
        rewritten.extend_from_slice(READ_ONLY.as_bytes());
        rewritten.push(0);
    }
    rewritten.push(0);
    let mut server = TcpStream::connect(target).await?;
    let len = u32::try_from(rewritten.len() + 4).unwrap_or(0);
    server.write_all(&len.to_be_bytes()).await?;
    server.write_all(&rewritten).await?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

impl Proxy {
    /// A proxy to the server of `url`, up.
    async fn start(url: &str) -> Proxy {
        let options: sqlx::postgres::PgConnectOptions = url.parse().expect("the test's URL");
        let target = tokio::net::lookup_host((options.get_host(), options.get_port()))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .expect("the server's address");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let mut proxy = Proxy {
            addr: listener.local_addr().expect("the proxy's address"),
            target,
            accept: None,
            links: Arc::default(),
        };
        proxy.serve(listener, Mode::Forward);
        proxy
    }

    fn serve(&mut self, listener: TcpListener, mode: Mode) {
        let target = self.target;
        let links = self.links.clone();
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut app_side, _)) = listener.accept().await {
                let link = tokio::spawn(async move {
                    match mode {
                        Mode::Forward => {
                            if let Ok(mut server_side) = TcpStream::connect(target).await {
                                let _ =
                                    tokio::io::copy_bidirectional(&mut app_side, &mut server_side)
                                        .await;
                            }
                        }
                        Mode::RefuseLogin(code) => {
                            let _ = refuse_login(app_side, code).await;
                        }
                        Mode::ReadOnly => {
                            let _ = forward_read_only(app_side, target).await;
                        }
                    }
                });
                links.lock().expect("links").push(link);
            }
        }));
    }

    /// Takes the server away: the app's connections are closed, and new ones refused (the
    /// proxy's tasks are aborted and waited for, so that its socket is closed on return).
    async fn cut(&mut self) {
        let links: Vec<_> = self.links.lock().expect("links").drain(..).collect();
        for task in self.accept.take().into_iter().chain(links) {
            task.abort();
            let _ = task.await;
        }
    }

    /// Brings the server back, at the same address.
    async fn restore(&mut self) {
        self.restore_as(Mode::Forward).await;
    }

    /// Listens again at the same address, doing `mode` with each connection.
    async fn restore_as(&mut self, mode: Mode) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("bind the proxy again");
        self.serve(listener, mode);
    }

    /// `url` through the proxy.
    fn url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL");
        let (user_info, location) = rest.rsplit_once('@').map_or(("", rest), |(u, l)| (u, l));
        let path = location.find('/').map_or("", |slash| &location[slash..]);
        let at = if user_info.is_empty() { "" } else { "@" };
        format!("{scheme}://{user_info}{at}{}{path}", self.addr)
    }
}

/// While the server is unreachable (its connections cut, new ones refused), every route
/// that needs it answers 503 with `Retry-After` once the pool gives up (no hang until the
/// request timeout, no 500), `/health` says so, and the app recovers by itself once the
/// server is back: no restart, no request lost to a dead connection.
#[tokio::test]
async fn an_unreachable_server_is_503_and_the_app_recovers() {
    const SCHEMA: &str = "notes_pg_outages_down";
    let Some(url) = database_url("notes_pg_outages", NEEDS) else {
        return;
    };
    let server = Server::connect(&url, SCHEMA).await;
    let mut proxy = Proxy::start(&url).await;
    let client = TestClient::start(notes::configured(notes::Db::Postgres(app_url(
        &proxy.url(&url),
        SCHEMA,
    ))))
    .await
    .expect("the app starts on PostgreSQL, through the proxy");
    assert_eq!(write(&client, "before").await.status(), 201);
    assert_eq!(client.get("/health").send().await.status(), 200);

    proxy.cut().await;
    let unavailable = (503, Some("1".to_owned()), UNAVAILABLE.to_owned());
    assert_eq!(
        answer(write(&client, "lost").await).await,
        unavailable,
        "a write"
    );
    assert_eq!(
        answer(client.get("/notes").send().await).await,
        unavailable,
        "the list"
    );
    assert_eq!(
        answer(client.get("/notes/1").send().await).await,
        unavailable,
        "a note"
    );
    assert_eq!(
        answer(client.get("/notes/export").send().await).await,
        unavailable,
        "the export"
    );
    assert_eq!(
        answer(client.get("/health").send().await).await,
        unavailable,
        "the health check"
    );

    proxy.restore().await;
    assert_eq!(client.get("/health").send().await.status(), 200);
    assert_eq!(write(&client, "after").await.status(), 201);
    let response = client.get("/notes/export").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.expect("the export").lines().count(),
        2
    );
    assert_eq!(server.titles().await, ["before", "after"]);
    // Shut down with the server gone again: the pool closes its dead connections.
    proxy.cut().await;
    client.shutdown().await;
    server.pool.close().await;
}

/// The advisory locks of the tests' gates (see [`Server::gate_the_notes`]): one each, since
/// the tests may run at once on one database.
const EXPORT_GATE: i64 = 0x0064_695f_6f75_7467; // "di_outg" in ASCII
const BURST_GATE: i64 = 0x0064_695f_6275_7273; // "di_burs" in ASCII
const FROZEN_GATE: i64 = 0x0064_695f_6672_6f7a; // "di_froz" in ASCII

impl Server {
    /// Makes every read of a note wait for the advisory lock `key` while the test holds it
    /// (as `notes_pg_faults.rs` does): `notes` becomes a view of the rows.
    async fn gate_the_notes(&self, key: i64) {
        let schema = self.schema;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "ALTER TABLE {schema}.notes RENAME TO note_rows;
             CREATE FUNCTION {schema}.gate() RETURNS boolean LANGUAGE sql VOLATILE AS
                 $$ SELECT pg_advisory_lock_shared({key}) IS NOT NULL
                           AND pg_advisory_unlock_shared({key}) $$;
             CREATE VIEW {schema}.notes AS
                 SELECT id, title, body FROM {schema}.note_rows WHERE {schema}.gate();"
        )))
        .execute(&self.pool)
        .await
        .expect("gate the notes");
    }
}

/// An export whose backend is terminated while it streams ends in a way the client can tell
/// from a whole export: the response's chunked body stops without its last, empty chunk, and
/// the connection closes. No connection is left in a transaction, and the next export, on a
/// new connection, is whole.
#[tokio::test]
async fn an_export_whose_backend_is_terminated_is_cut_visibly() {
    const SCHEMA: &str = "notes_pg_outages_export";
    let Some(url) = database_url("notes_pg_outages", NEEDS) else {
        return;
    };
    let server = Server::connect(&url, SCHEMA).await;
    let http = notes::configured(notes::Db::Postgres(app_url(&url, SCHEMA)))
        .bind("127.0.0.1:0")
        .await
        .expect("the app serves on PostgreSQL");
    let client = TestClient::start(notes::configured(notes::Db::Postgres(app_url(
        &url, SCHEMA,
    ))))
    .await
    .expect("the app starts on PostgreSQL");
    assert_eq!(write(&client, "one").await.status(), 201);
    server.gate_the_notes(EXPORT_GATE).await;
    let mut gatekeeper = server.pool.acquire().await.expect("a connection");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(EXPORT_GATE)
        .execute(&mut *gatekeeper)
        .await
        .expect("close the gate");

    let mut export = TcpStream::connect(http.local_addr())
        .await
        .expect("connect to the app");
    export
        .write_all(b"GET /notes/export HTTP/1.1\r\nhost: notes\r\n\r\n")
        .await
        .expect("send the request");
    let pid = server.app_backend("active", Some("advisory")).await;
    server.terminate(pid).await;
    let mut raw = Vec::new();
    export
        .read_to_end(&mut raw)
        .await
        .expect("read the export until the connection closes");
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\n"),
        "the export's head: {text}"
    );
    assert!(
        text.to_ascii_lowercase()
            .contains("transfer-encoding: chunked\r\n"),
        "a streamed export: {text}"
    );
    assert!(
        !text.ends_with("\r\n0\r\n\r\n"),
        "the cut export ended as a whole one: {text}"
    );

    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(EXPORT_GATE)
        .execute(&mut *gatekeeper)
        .await
        .expect("open the gate");
    drop(gatekeeper);
    http.settle().await;
    server
        .assert_no_idle_in_transaction("the terminated export")
        .await;
    let response = client.get("/notes/export").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .text()
            .await
            .expect("a whole export")
            .lines()
            .count(),
        1
    );
    http.shutdown().await;
    client.shutdown().await;
    server.pool.close().await;
}

/// More clients at once than the pool has connections: while the notes are locked, every
/// write of a burst three times the pool gets 503 with `Retry-After` (the lock timeout for
/// those holding a connection, the pool's acquire timeout for those waiting for one), none
/// hangs, and none is written; unlocked, a burst as big is all 201, the writes waiting their
/// turn. Exports past `reader`'s `max_concurrency` (8) get 503 with `Retry-After`, while a
/// write still has a connection of its own.
#[tokio::test]
async fn a_burst_past_the_pool_gets_503_not_a_hang() {
    const SCHEMA: &str = "notes_pg_outages_burst";
    let Some(url) = database_url("notes_pg_outages", NEEDS) else {
        return;
    };
    let server = Server::connect(&url, SCHEMA).await;
    let client = TestClient::start(
        notes::configured(notes::Db::Postgres(app_url(&url, SCHEMA)))
            .max_concurrency_wait(std::time::Duration::from_millis(500)),
    )
    .await
    .expect("the app starts on PostgreSQL");
    let burst = (notes::POOL_SIZE * 3) as usize;
    let titles: Vec<String> = (0..burst).map(|i| format!("burst {i}")).collect();

    let mut locker = server.pool.begin().await.expect("begin");
    sqlx::query(AssertSqlSafe(format!(
        "LOCK TABLE {SCHEMA}.notes IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *locker)
    .await
    .expect("lock the notes");
    let answers = futures_util::future::join_all(
        titles
            .iter()
            .map(async |title| answer(write(&client, title).await).await),
    )
    .await;
    for answer in &answers {
        assert_eq!(
            answer,
            &(503, Some("1".to_owned()), BUSY.to_owned()),
            "a write of the burst, the notes locked"
        );
    }
    locker.rollback().await.expect("unlock the notes");
    server
        .assert_no_idle_in_transaction("the locked burst")
        .await;
    assert!(server.titles().await.is_empty(), "nothing was written");

    let statuses = futures_util::future::join_all(
        titles
            .iter()
            .map(async |title| write(&client, title).await.status().as_u16()),
    )
    .await;
    assert_eq!(statuses, vec![201; burst], "the burst, the notes unlocked");

    // Eight exports held at the gate take their places; a ninth waits, then gets 503.
    server.gate_the_notes(BURST_GATE).await;
    let mut gatekeeper = server.pool.acquire().await.expect("a connection");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(BURST_GATE)
        .execute(&mut *gatekeeper)
        .await
        .expect("close the gate");
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut response = client.get("/notes/export").send().await;
        assert_eq!(response.status(), 200);
        held.push(tokio::spawn(async move {
            let mut lines = 0;
            while let Some(chunk) = response.chunk().await {
                let chunk = chunk.expect("the held export streams once the gate opens");
                lines += chunk.iter().filter(|&&byte| byte == b'\n').count();
            }
            lines
        }));
    }
    eventually(async || {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE application_name = $1 AND wait_event = 'advisory'",
        )
        .bind(SCHEMA)
        .fetch_one(&server.pool)
        .await
        .expect("pg_stat_activity");
        match waiting {
            8 => Ok(()),
            _ => Err(format!("{waiting} of the 8 exports reached the gate")),
        }
    })
    .await;
    let (status, retry_after, _) = answer(client.get("/notes/export").send().await).await;
    assert_eq!(
        (status, retry_after.as_deref()),
        (503, Some("1")),
        "a ninth export"
    );
    assert_eq!(write(&client, "beside the exports").await.status(), 201);

    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(BURST_GATE)
        .execute(&mut *gatekeeper)
        .await
        .expect("open the gate");
    // Each export's statement took its snapshot before the write beside them.
    for export in held {
        assert_eq!(export.await.expect("the export's task"), burst);
    }
    client.settle().await;
    server.assert_no_idle_in_transaction("the exports").await;
    client.shutdown().await;
    drop(gatekeeper);
    server.pool.close().await;
}

/// A write whose backend is terminated during its COMMIT (here held at a deferred trigger
/// that waits at a gate, as a slow commit or a failover at that moment) gets 503 with
/// `Retry-After`, as when it is terminated before: the server answered the COMMIT with its
/// `57P01` error instead of committing, so the note was not written and the request may be
/// made again. It was a 500.
#[tokio::test]
async fn a_write_whose_backend_is_terminated_at_commit_gets_503() {
    const SCHEMA: &str = "notes_pg_outages_commit";
    const COMMIT_GATE: i64 = 0x0064_695f_636f_6d6d; // "di_comm" in ASCII
    let Some(url) = database_url("notes_pg_outages", NEEDS) else {
        return;
    };
    let server = Server::connect(&url, SCHEMA).await;
    let client = TestClient::start(notes::configured(notes::Db::Postgres(app_url(
        &url, SCHEMA,
    ))))
    .await
    .expect("the app starts on PostgreSQL");
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE FUNCTION {SCHEMA}.wait_at_commit() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN
                    PERFORM pg_advisory_lock_shared({COMMIT_GATE});
                    PERFORM pg_advisory_unlock_shared({COMMIT_GATE});
                    RETURN NULL;
                END $$;
         CREATE CONSTRAINT TRIGGER wait_at_commit AFTER INSERT ON {SCHEMA}.notes
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
             EXECUTE FUNCTION {SCHEMA}.wait_at_commit();"
    )))
    .execute(&server.pool)
    .await
    .expect("make the commit wait at a gate");
    let mut gatekeeper = server.pool.acquire().await.expect("a connection");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(COMMIT_GATE)
        .execute(&mut *gatekeeper)
        .await
        .expect("close the gate");

    let terminate = async {
        let pid = server.app_backend("active", Some("advisory")).await;
        server.terminate(pid).await;
    };
    let (response, ()) = tokio::join!(write(&client, "cut at commit"), terminate);
    assert_eq!(
        answer(response).await,
        (503, Some("1".to_owned()), UNAVAILABLE.to_owned()),
        "a write whose backend was terminated during its COMMIT"
    );
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(COMMIT_GATE)
        .execute(&mut *gatekeeper)
        .await
        .expect("open the gate");
    drop(gatekeeper);
    server
        .assert_no_idle_in_transaction("the write cut at commit")
        .await;
    assert_eq!(write(&client, "after").await.status(), 201);
    assert_eq!(
        server.titles().await,
        ["after"],
        "the cut write was not committed"
    );
    client.shutdown().await;
    server.pool.close().await;
}

/// A server that refuses the app's logins while it runs (its role disabled or its password
/// changed by an operator, its database dropped or renamed: SQLSTATE class 28, `3D000`) is as
/// unavailable to the app as one that is down: 503 with `Retry-After`, and `/health` says so,
/// until the logins pass again. It was a 500, as for a bug in the app. (Here a proxy takes
/// the app's connections away, then answers each new login with the server's error.)
#[tokio::test]
async fn a_server_refusing_the_apps_logins_is_503() {
    const SCHEMA: &str = "notes_pg_outages_login";
    let Some(url) = database_url("notes_pg_outages", NEEDS) else {
        return;
    };
    let server = Server::connect(&url, SCHEMA).await;
    let mut proxy = Proxy::start(&url).await;
    let client = TestClient::start(notes::configured(notes::Db::Postgres(app_url(
        &proxy.url(&url),
        SCHEMA,
    ))))
    .await
    .expect("the app starts on PostgreSQL, through the proxy");
    assert_eq!(write(&client, "before").await.status(), 201);

    let unavailable = (503, Some("1".to_owned()), UNAVAILABLE.to_owned());
    for code in ["28000", "28P01", "3D000"] {
        proxy.cut().await;
        proxy.restore_as(Mode::RefuseLogin(code)).await;
        assert_eq!(
            answer(write(&client, "refused").await).await,
            unavailable,
            "a write, logins refused with {code}"
        );
        assert_eq!(
            answer(client.get("/health").send().await).await,
            unavailable,
            "the health check, logins refused with {code}"
        );
    }
    proxy.cut().await;
    proxy.restore().await;
    assert_eq!(client.get("/health").send().await.status(), 200);
    assert_eq!(write(&client, "after").await.status(), 201);
    assert_eq!(server.titles().await, ["before", "after"]);
    client.shutdown().await;
    proxy.cut().await;
    server.pool.close().await;
}

/// An import whose client pauses longer than the server's
/// `idle_in_transaction_session_timeout` (an operator's guard against transactions left open)
/// finds its session ended by the server (`25P03`): 503 with `Retry-After`, as for any session
/// the server ends, its transaction rolled back. It was a 500, as for a bug in the app.
#[tokio::test]
async fn an_import_past_the_idle_in_transaction_timeout_gets_503() {
    const SCHEMA: &str = "notes_pg_outages_idle";
    let Some(url) = database_url("notes_pg_outages", NEEDS) else {
        return;
    };
    let server = Server::connect(&url, SCHEMA).await;
    let app_url = format!(
        "{}&options[idle_in_transaction_session_timeout]=300ms",
        app_url(&url, SCHEMA)
    );
    let http = notes::configured(notes::Db::Postgres(app_url))
        .bind("127.0.0.1:0")
        .await
        .expect("the app serves on PostgreSQL");
    let head = "POST /notes/import HTTP/1.1\r\nhost: notes\r\nx-api-key: let-me-in\r\n\
                content-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\
                connection: close\r\n\r\n";
    let import = RawRequest::start(
        http.local_addr(),
        head,
        "{\"title\":\"line 1\",\"body\":\"1\"}\n",
    )
    .await;
    let pid = server.app_backend("idle in transaction%", None).await;
    // The client pauses until the server has ended the session.
    eventually(async || {
        let alive: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)")
                .bind(pid)
                .fetch_one(&server.pool)
                .await
                .expect("pg_stat_activity");
        if alive {
            Err(format!("the server has not ended session {pid}"))
        } else {
            Ok(())
        }
    })
    .await;
    assert_eq!(
        import
            .finish("{\"title\":\"line 2\",\"body\":\"2\"}\n")
            .await,
        (503, Some("1".to_owned()), UNAVAILABLE.to_owned()),
        "an import whose session the server ended"
    );
    assert!(server.titles().await.is_empty(), "nothing was written");
    http.shutdown().await;
    server.pool.close().await;
}

/// A note whose title or body holds the NUL character (`\u0000`, valid JSON) is refused with
/// a 422 that names the field, on either database. PostgreSQL's `text` cannot store it: its
/// error (`22021`) was a 500, as for a bug in the app, which any client could raise at will;
/// SQLite stored it. An import with such a line is refused whole.
#[tokio::test]
async fn a_note_with_a_nul_character_is_422_not_500() {
    const SCHEMA: &str = "notes_pg_outages_nul";
    let mut apps = vec![(
        "SQLite",
        TestClient::start(notes::configured(notes::Db::Memory))
            .await
            .expect("the app starts on SQLite"),
    )];
    let server = match database_url("notes_pg_outages", NEEDS) {
        Some(url) => {
            let server = Server::connect(&url, SCHEMA).await;
            apps.push((
                "PostgreSQL",
                TestClient::start(notes::configured(notes::Db::Postgres(app_url(
                    &url, SCHEMA,
                ))))
                .await
                .expect("the app starts on PostgreSQL"),
            ));
            Some(server)
        }
        None => None,
    };
    for (db, client) in &apps {
        for (field, note) in [
            ("title", json!({"title": "a\u{0}b", "body": "x"})),
            ("body", json!({"title": "t", "body": "nul \u{0}"})),
        ] {
            let response = client
                .post("/notes")
                .header("x-api-key", notes::API_KEY)
                .json(&note)
                .send()
                .await;
            assert_eq!(response.status(), 422, "{db}: a NUL in the {field}");
            let problems: serde_json::Value = response.json().await.expect("a 422's JSON");
            assert_eq!(
                problems["detail"][0]["loc"],
                json!(["body", field]),
                "{db}: {problems}"
            );
            assert_eq!(
                problems["detail"][0]["msg"],
                json!(format!(
                    "{field} must not contain the NUL character (\\u0000)"
                )),
                "{db}: {problems}"
            );
        }
        let response = client
            .post("/notes/import")
            .header("x-api-key", notes::API_KEY)
            .body("{\"title\":\"fine\",\"body\":\"1\"}\n{\"title\":\"x\",\"body\":\"\\u0000\"}\n")
            .send()
            .await;
        assert_eq!(response.status(), 422, "{db}: an import with a NUL");
        let problems: serde_json::Value = response.json().await.expect("a 422's JSON");
        assert_eq!(problems["detail"][0]["loc"], json!(["body", 2]), "{db}");
        assert_eq!(
            problems["detail"][0]["msg"],
            json!("line 2: body must not contain the NUL character (\\u0000)"),
            "{db}"
        );
        let notes: serde_json::Value = client
            .get("/notes")
            .send()
            .await
            .json()
            .await
            .expect("the notes");
        assert_eq!(notes, json!([]), "{db}: nothing was written");
    }
    for (_, client) in apps {
        client.shutdown().await;
    }
    if let Some(server) = server {
        server.pool.close().await;
    }
}

/// A server that takes no writes answers each one with `read_only_sql_transaction`
/// (`25006`): the app reached a hot standby after a failover, or an operator set the primary
/// read-only for maintenance. A write then gets 503 with `Retry-After`, as when the server is
/// down: the database cannot take it now, and the request may pass once it can. It was a 500,
/// as for a bug in the app. Reads are still served, no connection stays `idle in transaction`,
/// and writes pass again once the server takes them, without a restart of the app.
///
/// The proxy makes the server read-only for the app: it cuts the app's connections, then
/// opens each new one as a read-only session (`default_transaction_read_only`).
#[tokio::test]
async fn a_write_to_a_read_only_server_gets_503_and_the_app_recovers() {
    const SCHEMA: &str = "notes_pg_outages_read_only";
    let Some(url) = database_url("notes_pg_outages", NEEDS) else {
        return;
    };
    let server = Server::connect(&url, SCHEMA).await;
    let mut proxy = Proxy::start(&url).await;
    let client = TestClient::start(notes::configured(notes::Db::Postgres(app_url(
        &proxy.url(&url),
        SCHEMA,
    ))))
    .await
    .expect("the app starts on PostgreSQL, through the proxy");
    assert_eq!(write(&client, "kept").await.status(), 201);

    proxy.cut().await;
    proxy.restore_as(Mode::ReadOnly).await;
    // The pool drops the connections the failover cut: once a read passes, the next write
    // has a connection to the read-only server.
    eventually(
        async || match client.get("/notes").send().await.status().as_u16() {
            200 => Ok(()),
            status => Err(format!("the list after the failover: {status}")),
        },
    )
    .await;
    let unavailable = (503, Some("1".to_owned()), UNAVAILABLE.to_owned());
    assert_eq!(
        answer(write(&client, "refused").await).await,
        unavailable,
        "a write to a read-only server"
    );
    let response = client
        .post("/notes/import")
        .header("x-api-key", notes::API_KEY)
        .body("{\"title\":\"imported\",\"body\":\"1\"}\n")
        .send()
        .await;
    assert_eq!(
        answer(response).await,
        unavailable,
        "an import to a read-only server"
    );
    let notes: serde_json::Value = client
        .get("/notes")
        .send()
        .await
        .json()
        .await
        .expect("the notes, read from the read-only server");
    assert_eq!(notes[0]["title"], json!("kept"), "{notes}");
    assert_eq!(client.get("/health").send().await.status(), 200);
    server
        .assert_no_idle_in_transaction("the refused writes")
        .await;

    // The server takes writes again (the failover is over).
    proxy.cut().await;
    proxy.restore().await;
    eventually(
        async || match write(&client, "after").await.status().as_u16() {
            201 => Ok(()),
            status => Err(format!("a write once the server takes them: {status}")),
        },
    )
    .await;
    assert_eq!(server.titles().await, ["kept", "after"]);
    proxy.cut().await;
    client.shutdown().await;
    server.pool.close().await;
}

/// An export whose server stops sending rows (it hangs, or the network between them drops
/// every packet: nothing fails, nothing arrives) is cut once no row has come for the export's
/// stall limit (30 s; 500 ms here), visibly: the body ends in an error, not with a whole
/// export. Its connection is closed, not given back to the pool with the query unfinished, and
/// its `max_concurrency` place is free again. It waited for as long as the client did: eight
/// such clients took every place of the export, and each a pooled connection.
///
/// The server is held with a lock its query waits for, past `lock_timeout` (60 s in this
/// test's URL), as a server that hangs would be.
#[tokio::test]
async fn an_export_from_a_server_that_stops_sending_rows_is_cut_after_the_stall_limit() {
    const SCHEMA: &str = "notes_pg_outages_frozen";
    let Some(url) = database_url("notes_pg_outages", NEEDS) else {
        return;
    };
    let server = Server::connect(&url, SCHEMA).await;
    let app_url = format!("{}&options[lock_timeout]=60s", app_url(&url, SCHEMA));
    let client = TestClient::start(notes::configured(notes::Db::Postgres(app_url)).provide(
        notes::export_stall,
        notes::ExportStall(std::time::Duration::from_millis(500)),
    ))
    .await
    .expect("the app starts on PostgreSQL");
    assert_eq!(write(&client, "one").await.status(), 201);
    server.gate_the_notes(FROZEN_GATE).await;
    let mut gatekeeper = server.pool.acquire().await.expect("a connection");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(FROZEN_GATE)
        .execute(&mut *gatekeeper)
        .await
        .expect("close the gate");

    let response = client.get("/notes/export").send().await;
    assert_eq!(response.status(), 200);
    // The query starts as the body is read; its backend waits for the gate.
    let (body, backend) = tokio::join!(
        tokio::time::timeout(std::time::Duration::from_secs(20), response.text()),
        server.app_backend("active", Some("advisory")),
    );
    let body = body.expect("the export was not cut: it waits for rows that never come");
    assert!(
        body.is_err(),
        "a stalled export must end in an error: {body:?}"
    );
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(FROZEN_GATE)
        .execute(&mut *gatekeeper)
        .await
        .expect("open the gate");
    drop(gatekeeper);
    // Its connection was closed, not given back to the pool: once the server is back, its
    // backend ends (PostgreSQL sees the closed socket when it next writes to it).
    eventually(async || {
        let alive: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)")
                .bind(backend)
                .fetch_one(&server.pool)
                .await
                .expect("pg_stat_activity");
        match alive {
            false => Ok(()),
            true => Err(format!(
                "the stalled export's backend {backend} is still open"
            )),
        }
    })
    .await;
    server
        .assert_no_idle_in_transaction("the stalled export")
        .await;
    let response = client.get("/notes/export").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.expect("the export").lines().count(),
        1,
        "the next export is whole"
    );
    client.shutdown().await;
    server.pool.close().await;
}
