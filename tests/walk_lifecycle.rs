//! A service run for a day under production load and faults, as an SRE checks it (a pool with
//! `max_concurrency`, `request`-scoped sessions, `handler`-scoped transactions, streamed
//! exports, background places, shutdown): what each finding of that walk broke, over real TCP
//! with the app's own server.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{count, events, log, read_head, read_to_close, serial, wait_for};
use di_runtime::prelude::*;
use futures_util::stream;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn short(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        other => other.to_string(),
    }
}

/// Sends `GET path` with `Connection: close` over a new connection.
async fn send_get(addr: SocketAddr, path: &str) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: walk\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    socket
}

/// The status line of a whole response read to the connection's close.
async fn status_of(mut socket: TcpStream) -> String {
    let all = read_to_close(&mut socket).await;
    all.lines().next().unwrap_or_default().to_owned()
}

// ------------------------------------------------ a saturated pool and the background places

/// Stands in for a pooled database connection: one at a time.
struct DbConn;

#[depends(max_concurrency = 1)]
async fn db_conn(y: Yield<DbConn>) {
    log("conn:open");
    let (_conn, outcome) = y.provide(DbConn).await;
    log(format!("conn:close {}", short(&outcome)));
}

/// A `request`-scoped audit record that needs no connection.
struct AuditRecord;

#[depends]
async fn audit_record(y: Yield<AuditRecord>) {
    log("audit:open");
    let (_record, outcome) = y.provide(AuditRecord).await;
    log(format!("audit:close {}", short(&outcome)));
}

static RELEASE_EXPORT: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Streams from the connection until the test releases it: the pool stays full meanwhile.
#[depends]
async fn long_export(
    #[dep(db_conn)] conn: Held<DbConn>,
) -> StreamBody<impl futures_util::Stream<Item = Result<&'static str, std::io::Error>> + Send> {
    StreamBody::new(stream::unfold((Some(conn), 0), |(conn, step)| async move {
        match step {
            0 => Some((Ok("first row\n"), (conn, 1))),
            1 => {
                RELEASE_EXPORT.notified().await;
                Some((Ok("last row\n"), (conn, 2)))
            }
            _ => {
                drop(conn);
                None
            }
        }
    }))
}

#[depends]
async fn report(#[dep(db_conn)] _conn: &DbConn) -> &'static str {
    "report"
}

#[depends]
async fn audited(#[dep(audit_record)] _record: &AuditRecord) -> &'static str {
    "audited"
}

/// `max_background_teardowns` bounds the requests that owe `request`-scope teardowns. A
/// request waiting for a place of a full pool owes none yet (it has set nothing up), but it
/// took its background place first and held it while it waited: with the pool saturated, the
/// waiters took every background place, and a route that does not use the pool at all
/// waited behind them, then got 503 "The server is busy finishing earlier requests" although
/// no teardown was running. Here: the only connection streams an export, a report waits for
/// it, and an audited request, which needs no connection, must be served meanwhile.
#[tokio::test]
async fn a_request_waiting_for_a_full_pool_holds_no_background_place_while_it_waits() {
    let _serial = serial().await;
    let server = App::new()
        .get("/export", long_export)
        .get("/report", report)
        .get("/audit", audited)
        // The export owes one, the waiting report would take the other.
        .max_background_teardowns(2)
        .max_concurrency_wait(Duration::from_secs(3))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();

    // The export takes the only connection and keeps it while its body streams.
    let mut export = send_get(addr, "/export").await;
    let head = read_head(&mut export).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    wait_for("conn:open").await;

    // A report waits for the connection.
    let report = tokio::spawn(status_of(send_get(addr, "/report").await));
    // Until it is waiting (it has sent its request; the server has it in a few ms).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !report.is_finished(),
        "the report did not wait for the connection"
    );

    // An audited request needs no connection: it is served while the report waits.
    let audit = tokio::time::timeout(
        Duration::from_secs(10),
        status_of(send_get(addr, "/audit").await),
    )
    .await
    .expect("the audited request hung");
    assert!(audit.starts_with("HTTP/1.1 200"), "{audit}");
    wait_for("audit:close success 200").await;

    // The export ends: the report gets the connection.
    RELEASE_EXPORT.notify_one();
    let rest = read_to_close(&mut export).await;
    assert!(rest.contains("last row"), "{rest}");
    let report = tokio::time::timeout(Duration::from_secs(10), report)
        .await
        .expect("the report hung")
        .unwrap();
    // Had the waiting report held the last background place, the audited request would have
    // been answered only once the report gave up (503) and let its place go.
    assert!(
        report.starts_with("HTTP/1.1 200"),
        "the report gave up waiting for the connection before the export ended: {report}"
    );

    server.settle().await;
    let events = events();
    assert_eq!(count(&events, "conn:open"), 2, "{events:?}");
    assert_eq!(count(&events, "conn:close success 200"), 2, "{events:?}");
    assert_eq!(count(&events, "audit:open"), 1, "{events:?}");
    let metrics = server.metrics();
    assert_eq!(metrics.setups, metrics.teardowns.total(), "{metrics:?}");
    server.shutdown().await;
}

// ------------------------------------------------ a commit under way when the request times out

static COMMIT_GO: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// A transaction whose commit takes as long as the test wants.
#[depends(scope = "handler")]
async fn slow_commit_tx(y: Yield<u8>) {
    let (_tx, outcome) = y.provide(1).await;
    if outcome.is_success() {
        log("commit:start");
        COMMIT_GO.notified().await;
        log("commit:done");
    } else {
        log(format!("rollback {}", short(&outcome)));
    }
}

#[depends]
async fn writes_then_commits_slowly(#[dep(slow_commit_tx)] _tx: &mut u8) -> &'static str {
    "written"
}

/// `request_timeout` bounds reading the body, setup and the handler, not a `handler`-scope
/// teardown under way after the handler: a commit that outlasts it is neither cut nor
/// answered 503 (which would tell the client to retry a write that was committed); the
/// response waits for the commit and stands. The README said the limit ran "from arrival to
/// the response head", which a slow commit outlasts.
#[tokio::test]
async fn a_commit_under_way_when_the_request_timeout_falls_is_finished_and_answered() {
    let _serial = serial().await;
    let server = App::new()
        .get("/write", writes_then_commits_slowly)
        .request_timeout(Duration::from_millis(100))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let response = tokio::spawn(status_of(send_get(server.local_addr(), "/write").await));
    wait_for("commit:start").await;
    // Past the request timeout, the commit still under way.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!response.is_finished(), "answered before the commit ended");
    COMMIT_GO.notify_one();
    let status = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("the write hung")
        .unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    server.settle().await;
    assert_eq!(events(), ["commit:start", "commit:done"]);
    server.shutdown().await;
}
