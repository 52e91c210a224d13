//! A walk of held values (`Held`, `HeldMut`) and background tasks (`BackgroundTasks`), as a
//! user misuses them: handles kept past the body (in a spawned task, a global), two handles
//! on one value, handles in tasks, tasks that add tasks, panic or never end, tasks added by
//! teardowns and by bodies, on every outcome, over the test client, HTTP/1.1, HTTP/2 and the
//! app as a `tower::Service` inside axum. Each checks exactly-once teardown with its truthful
//! outcome, no hang past the documented deadlines, and nothing left owed (`settle`, metrics).

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{describe, events, guard, log, serial, wait_for};
use di_runtime::prelude::*;
use di_runtime::{HeldStream, Running};
use futures_util::{StreamExt, stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A value whose `Drop` panics (once: never while already unwinding).
struct Bomb(&'static str);

impl Drop for Bomb {
    fn drop(&mut self) {
        log(format!("{}:drop", self.0));
        if !std::thread::panicking() {
            panic!("a bomb went off");
        }
    }
}

/// A task, ready at once, whose own `Drop` panics (it holds a [`Bomb`]).
struct BombTask {
    _bomb: Bomb,
}

impl std::future::Future for BombTask {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        log("bomb task:ran");
        std::task::Poll::Ready(())
    }
}

/// Checks the test client's app has settled with every setup torn down, nothing in flight.
async fn settled(client: &TestClient) -> di_runtime::Metrics {
    guard("settle", client.settle()).await;
    let metrics = client.running().metrics();
    assert_eq!(metrics.setups, metrics.teardowns.total(), "{metrics:?}");
    assert_eq!(metrics.requests_in_flight, 0, "{metrics:?}");
    assert_eq!(metrics.teardowns_in_flight, 0, "{metrics:?}");
    metrics
}

// ------------------------------- 1. a task a teardown adds, skipped, whose Drop panics

#[depends]
async fn outer(y: Yield<u8>) {
    let (_, outcome) = y.provide(1).await;
    log(format!("outer:close {}", describe(&outcome)));
}

#[depends]
async fn adds_bomb_in_teardown(#[dep(outer)] _o: &u8, tasks: BackgroundTasks, y: Yield<u16>) {
    let (_, outcome) = y.provide(2).await;
    log(format!("adder:close {}", describe(&outcome)));
    tasks.add(BombTask {
        _bomb: Bomb("late task"),
    });
}

#[depends]
async fn refuses_after_adder(
    #[dep(adds_bomb_in_teardown)] _a: &u16,
) -> Result<&'static str, HttpError> {
    Err(HttpError::new(StatusCode::CONFLICT, "no"))
}

#[depends]
async fn fine() -> &'static str {
    "ok"
}

/// A task a `request`-scope teardown adds after a failed request is dropped unrun; its
/// `Drop` panics. The teardowns after it still run, exactly once, with the request's outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_a_teardown_adds_after_a_failure_whose_drop_panics_loses_no_teardown() {
    let _serial = serial().await;
    let app = App::new().get("/x", refuses_after_adder).get("/ok", fine);
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/x").send().await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let _ = response.bytes().await;
    settled(&client).await;
    assert_eq!(
        events(),
        [
            "adder:close handler_error 409",
            "late task:drop",
            "outer:close handler_error 409"
        ]
    );
    assert_eq!(client.get("/ok").send().await.text().await.unwrap(), "ok");
}

/// The same over a real HTTP/1.1 connection: the connection that hosts the teardowns goes on
/// serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_a_teardown_adds_after_a_failure_whose_drop_panics_over_http1() {
    let _serial = serial().await;
    let server = App::new()
        .get("/x", refuses_after_adder)
        .get("/ok", fine)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let answer = two_on_one(server.local_addr(), "/x").await;
    assert!(answer.starts_with("HTTP/1.1 409"), "{answer:?}");
    assert!(
        answer.ends_with("\r\n\r\nok"),
        "the next request is served: {answer:?}"
    );
    common::settled_whole(&server).await;
    assert_eq!(
        events(),
        [
            "adder:close handler_error 409",
            "late task:drop",
            "outer:close handler_error 409"
        ]
    );
    guard("shutdown", server.shutdown()).await;
}

/// `first`, then `/ok`, on one HTTP/1.1 connection: all it sent until it closed.
async fn two_on_one(addr: std::net::SocketAddr, first: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {first} HTTP/1.1\r\nhost: x\r\n\r\nGET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    guard("two requests", common::read_to_close(&mut stream)).await
}

// ------------- 2. an export over a held connection, with tasks from the handler, the body and a
// teardown, across the test client, HTTP/1.1, HTTP/2 and axum, on every ending

/// Stands in for a database connection.
struct Conn {
    rows: u32,
}

#[depends]
async fn conn(y: Yield<Conn>) {
    log("conn:open");
    let (conn, outcome) = y.provide(Conn { rows: 0 }).await;
    log(format!(
        "conn:close {} after {} rows",
        describe(&outcome),
        conn.rows
    ));
}

/// Set up after `conn`: torn down before it. Its teardown adds a task.
#[depends]
async fn audit(tasks: BackgroundTasks, y: Yield<u8>) {
    log("audit:open");
    let (_, outcome) = y.provide(7).await;
    log(format!("audit:close {}", describe(&outcome)));
    tasks.add(async { log("audit task ran") });
}

#[derive(serde::Deserialize)]
struct Mode {
    mode: String,
}

type Rows = HeldStream<Result<Bytes, std::io::Error>>;

/// Three rows read over the held connection; the body adds a task at the second row, holding
/// `audit`'s value. `mode=stall`: the third row never comes; `mode=fail`: it is an error.
#[depends]
async fn export(
    #[dep(conn)] conn: HeldMut<Conn>,
    #[dep(audit)] audit: Held<u8>,
    tasks: BackgroundTasks,
    di_runtime::Query(mode): di_runtime::Query<Mode>,
) -> StreamBody<Rows> {
    tasks.add(async { log("handler task ran") });
    let mode = mode.mode;
    let mut audit = Some(audit);
    let rows = HeldMut::stream(conn, move |conn: &mut Conn| {
        stream::unfold(conn, move |conn| {
            let row = conn.rows;
            let mode = mode.clone();
            let task = (row == 1).then(|| audit.take()).flatten();
            let tasks = tasks.clone();
            async move {
                if let Some(audit) = task {
                    tasks.add(async move { log(format!("body task ran with audit {}", *audit)) });
                }
                match (row, mode.as_str()) {
                    (3.., _) => None,
                    (2, "stall") => std::future::pending().await,
                    (2, "fail") => Some((Err(std::io::Error::other("row 2 is broken")), conn)),
                    _ => {
                        conn.rows += 1;
                        Some((Ok(Bytes::from(format!("row {row}\n"))), conn))
                    }
                }
            }
        })
        .boxed()
    });
    StreamBody::new(rows)
}

fn export_app() -> App {
    App::new()
        .get("/export", export)
        .get("/ok", fine)
        .teardown_timeout(Duration::from_secs(2))
}

/// What a request that reached its end logs, in order.
const SENT: [&str; 8] = [
    "conn:open",
    "audit:open",
    "handler task ran",
    "body task ran with audit 7",
    "audit:close success 200",
    "audit task ran",
    "conn:close success 200 after 3 rows",
    "",
];

fn sent() -> Vec<String> {
    SENT.iter()
        .filter(|e| !e.is_empty())
        .map(|e| (*e).to_owned())
        .collect()
}

/// What a request cut after its first row with `outcome` logs: no task runs.
fn cut(outcome: &str) -> Vec<String> {
    vec![
        "conn:open".to_owned(),
        "audit:open".to_owned(),
        format!("audit:close {outcome}"),
        format!("conn:close {outcome} after 2 rows"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_over_the_test_client_on_every_ending() {
    let _serial = serial().await;
    let client = TestClient::start(export_app()).await.unwrap();

    let body = client
        .get("/export?mode=all")
        .send()
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(body, "row 0\nrow 1\nrow 2\n");
    settled(&client).await;
    assert_eq!(events(), sent());

    common::clear();
    let mut response = client.get("/export?mode=stall").send().await;
    let first = guard("first row", response.chunk()).await.unwrap().unwrap();
    assert_eq!(first, "row 0\n");
    let second = guard("second row", response.chunk())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second, "row 1\n");
    drop(response);
    settled(&client).await;
    assert_eq!(events(), cut("cancelled client gone"));

    common::clear();
    let response = client.get("/export?mode=fail").send().await;
    assert!(response.bytes().await.is_err());
    settled(&client).await;
    assert_eq!(events(), cut("body_error"));
    guard("shutdown", client.shutdown()).await;
}

/// Reads from `stream` until what it sent contains `needle`.
async fn read_until(stream: &mut tokio::net::TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = guard("a read", stream.read(&mut buf)).await.unwrap();
        assert!(
            n > 0,
            "closed before {needle:?}: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

async fn export_http1(addr: SocketAddr) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /export?mode=all HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let all = guard("the export", common::read_to_close(&mut stream)).await;
    assert!(all.starts_with("HTTP/1.1 200"), "{all:?}");
    assert!(all.contains("row 2\n"), "{all:?}");
    assert!(
        all.ends_with("0\r\n\r\n"),
        "a complete chunked body: {all:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_over_http1_on_every_ending() {
    let _serial = serial().await;
    let server = export_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();

    export_http1(addr).await;
    common::settled_whole(&server).await;
    assert_eq!(events(), sent());

    common::clear();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /export?mode=stall HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut stream, "row 1\n").await;
    drop(stream);
    wait_for("conn:close cancelled client gone after 2 rows").await;
    common::settled_whole(&server).await;
    assert_eq!(events(), cut("cancelled client gone"));

    common::clear();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /export?mode=fail HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let all = guard("the failed export", common::read_to_close(&mut stream)).await;
    assert!(
        !all.ends_with("0\r\n\r\n"),
        "never a complete body: {all:?}"
    );
    common::settled_whole(&server).await;
    assert_eq!(events(), cut("body_error"));
    guard("shutdown", server.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_over_http2_on_every_ending() {
    let _serial = serial().await;
    let server = export_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let io = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;

    let mut body = common::h2_get(&mut client, addr, "/export?mode=all").await;
    let mut all = Vec::new();
    while let Some(data) = guard("a frame", body.data()).await {
        let data = data.unwrap();
        let _ = body.flow_control().release_capacity(data.len());
        all.extend_from_slice(&data);
    }
    assert_eq!(all, b"row 0\nrow 1\nrow 2\n");
    common::settled_whole(&server).await;
    assert_eq!(events(), sent());

    common::clear();
    let mut body = common::h2_get(&mut client, addr, "/export?mode=stall").await;
    let mut all = Vec::new();
    while !String::from_utf8_lossy(&all).contains("row 1\n") {
        let data = guard("a frame", body.data()).await.unwrap().unwrap();
        let _ = body.flow_control().release_capacity(data.len());
        all.extend_from_slice(&data);
    }
    drop(body); // resets the stream
    wait_for("conn:close cancelled client gone after 2 rows").await;
    common::settled_whole(&server).await;
    assert_eq!(events(), cut("cancelled client gone"));

    common::clear();
    let response = common::h2_send_get(&mut client, addr, "/export?mode=fail").await;
    // The reset may come before the head itself was sent (README: what came before reaches
    // the client only if the connection's task sends it before the reset).
    let failed = match guard("the head", response).await {
        Err(_) => true,
        Ok(response) => {
            let mut body = response.into_body();
            let mut failed = false;
            while let Some(data) = guard("a frame", body.data()).await {
                if data.is_err() {
                    failed = true;
                    break;
                }
            }
            failed
        }
    };
    assert!(failed, "the stream is reset, never ended cleanly");
    common::settled_whole(&server).await;
    assert_eq!(events(), cut("body_error"));
    driver.abort();
    guard("shutdown", server.shutdown()).await;
}

/// The app started and nested in an axum router, served over TCP.
async fn in_axum() -> (SocketAddr, Running) {
    let running = export_app().start().await.expect("the app starts");
    let router = axum::Router::new().nest_service("/di", running.service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, running)
}

async fn settled_running(running: &Running) {
    guard("settle", running.settle()).await;
    let metrics = running.metrics();
    assert_eq!(metrics.setups, metrics.teardowns.total(), "{metrics:?}");
    assert_eq!(metrics.requests_in_flight, 0, "{metrics:?}");
    assert_eq!(metrics.teardowns_in_flight, 0, "{metrics:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_inside_axum_on_every_ending() {
    let _serial = serial().await;
    let (addr, running) = in_axum().await;

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /di/export?mode=all HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let all = guard("the export", common::read_to_close(&mut stream)).await;
    assert!(
        all.contains("row 2\n") && all.ends_with("0\r\n\r\n"),
        "{all:?}"
    );
    settled_running(&running).await;
    assert_eq!(events(), sent());

    common::clear();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /di/export?mode=stall HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut stream, "row 1\n").await;
    drop(stream);
    wait_for("conn:close cancelled client gone after 2 rows").await;
    settled_running(&running).await;
    assert_eq!(events(), cut("cancelled client gone"));

    common::clear();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /di/export?mode=fail HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let all = guard("the failed export", common::read_to_close(&mut stream)).await;
    assert!(
        !all.ends_with("0\r\n\r\n"),
        "never a complete body: {all:?}"
    );
    settled_running(&running).await;
    assert_eq!(events(), cut("body_error"));
    guard("shutdown", running.shutdown()).await;
}

// ------------------------------- 3. a held value kept past the body: in a task, in a global

/// Released by the test: what a spawned task that keeps a `Held` waits for.
static RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();
/// A `Held` kept for ever.
static LEAKED: std::sync::Mutex<Vec<Held<Conn>>> = std::sync::Mutex::new(Vec::new());

#[derive(serde::Deserialize)]
struct Keep {
    keep: String,
}

/// Answers at once; its `Held` is moved into a spawned task (`keep=task`, let go when the test
/// says) or into a global (`keep=global`, never let go).
#[depends]
async fn keeps_conn(
    #[dep(conn)] conn: Held<Conn>,
    di_runtime::Query(keep): di_runtime::Query<Keep>,
) -> StreamBody<stream::Iter<std::vec::IntoIter<Result<Bytes, Infallible>>>> {
    match keep.keep.as_str() {
        "task" => {
            tokio::spawn(async move {
                RELEASE.notified().await;
                log(format!("task lets go of a conn of {} rows", conn.rows));
            });
        }
        _ => LEAKED.lock().unwrap().push(conn),
    }
    StreamBody::new(stream::iter(vec![Ok(Bytes::from("sent"))]))
}

/// A `Held` a spawned task keeps past the body's end: the teardown waits for it (within its
/// deadline), then sees a success, once; nothing timed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_value_kept_by_a_spawned_task_is_torn_down_once_it_lets_go() {
    let _serial = serial().await;
    let app = App::new()
        .get("/keep", keeps_conn)
        .teardown_timeout(Duration::from_secs(10));
    let client = TestClient::start(app).await.unwrap();
    let body = client
        .get("/keep?keep=task")
        .send()
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(body, "sent");
    // The task still holds it: no teardown can have run.
    assert_eq!(events(), ["conn:open"]);
    RELEASE.notify_one();
    let metrics = settled(&client).await;
    assert_eq!(
        events(),
        [
            "conn:open",
            "task lets go of a conn of 0 rows",
            "conn:close success 200 after 0 rows"
        ]
    );
    assert_eq!(metrics.teardown_timeouts, 0);
    guard("shutdown", client.shutdown()).await;
}

/// A `Held` kept for ever (in a global): its teardown is given up at `teardown_timeout`,
/// counted, and the app settles and serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_value_kept_for_ever_is_given_up_at_the_teardown_deadline() {
    let _serial = serial().await;
    let app = App::new()
        .get("/keep", keeps_conn)
        .get("/ok", fine)
        .teardown_timeout(Duration::from_millis(300));
    let client = TestClient::start(app).await.unwrap();
    let body = client
        .get("/keep?keep=global")
        .send()
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(body, "sent");
    let metrics = settled(&client).await;
    assert_eq!(metrics.teardown_timeouts, 1, "{metrics:?}");
    assert_eq!(events(), ["conn:open"], "the generator never got it back");
    assert_eq!(client.get("/ok").send().await.text().await.unwrap(), "ok");
    guard("shutdown", client.shutdown()).await;
    LEAKED.lock().unwrap().clear();
}

// ------------------------------------------------ 4. tasks that add tasks, panic, never end

#[depends]
async fn busy_tasks(#[dep(conn)] conn: Held<Conn>, tasks: BackgroundTasks) -> &'static str {
    let more = tasks.clone();
    tasks.add(async move {
        log("task 1");
        let again = more.clone();
        more.add(async move {
            log("task 1.1");
            again.add(async { log("task 1.1.1") });
        });
        panic!("task 1 fails after adding one");
    });
    tasks.add(async {
        log("task 2 starts and never ends");
        std::future::pending::<()>().await;
    });
    tasks.add(async move { log(format!("task 3 reads {} rows", conn.rows)) });
    "ok"
}

/// Tasks run in order, each added one after those before it, all before `request`-scope
/// teardown; one that panics or runs past its deadline is counted and the next runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_that_add_tasks_panic_or_never_end_run_in_order_before_teardown() {
    let _serial = serial().await;
    let app = App::new()
        .get("/busy", busy_tasks)
        .teardown_timeout(Duration::from_millis(300));
    let client = TestClient::start(app).await.unwrap();
    assert_eq!(client.get("/busy").send().await.text().await.unwrap(), "ok");
    let metrics = settled(&client).await;
    assert_eq!(
        events(),
        [
            "conn:open",
            "task 1",
            "task 2 starts and never ends",
            "task 3 reads 0 rows",
            "task 1.1",
            "task 1.1.1",
            "conn:close success 200 after 0 rows"
        ]
    );
    assert_eq!(metrics.background_task_panics, 1, "{metrics:?}");
    assert_eq!(metrics.background_task_timeouts, 1, "{metrics:?}");
    assert_eq!(metrics.teardown_timeouts, 0, "{metrics:?}");
    guard("shutdown", client.shutdown()).await;
}

// ------------------------------------------- 5. a task a `handler`-scope teardown adds

#[depends(scope = "handler")]
async fn tx(tasks: BackgroundTasks, y: Yield<u8>) {
    let (_, outcome) = y.provide(0).await;
    log(format!("tx:close {}", describe(&outcome)));
    tasks.add(async { log("tx task ran") });
}

#[depends]
async fn writes(#[dep(conn)] _c: &Conn, #[dep(tx)] _tx: &mut u8) -> &'static str {
    "written"
}

#[depends]
async fn write_fails(
    #[dep(conn)] _c: &Conn,
    #[dep(tx)] _tx: &mut u8,
) -> Result<&'static str, HttpError> {
    Err(HttpError::bad_request("bad"))
}

/// A task a `handler`-scope teardown adds runs after the body, before `request` teardown; after
/// a failed request it is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_a_handler_teardown_adds_runs_after_the_body_only_on_success() {
    let _serial = serial().await;
    let app = App::new().get("/w", writes).get("/f", write_fails);
    let client = TestClient::start(app).await.unwrap();
    assert_eq!(
        client.get("/w").send().await.text().await.unwrap(),
        "written"
    );
    settled(&client).await;
    assert_eq!(
        events(),
        [
            "conn:open",
            "tx:close success 200",
            "tx task ran",
            "conn:close success 200 after 0 rows"
        ]
    );
    common::clear();
    let response = client.get("/f").send().await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let _ = response.bytes().await;
    settled(&client).await;
    assert_eq!(
        events(),
        [
            "conn:open",
            "tx:close handler_error 400",
            "conn:close handler_error 400 after 0 rows"
        ]
    );
    guard("shutdown", client.shutdown()).await;
}

// --------------------------------------- 6. shutdown while a background task is running

static TASK_GO: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[depends]
async fn slow_task(#[dep(conn)] conn: Held<Conn>, tasks: &BackgroundTasks) -> &'static str {
    tasks.add(async move {
        log("slow task:start");
        TASK_GO.notified().await;
        log(format!("slow task:end with {} rows", conn.rows));
    });
    "ok"
}

/// Shutdown that starts while a task runs waits for it, then tears down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_a_running_background_task_then_tears_down() {
    let _serial = serial().await;
    let server = App::new()
        .get("/slow", slow_task)
        .shutdown_grace(Duration::from_millis(200))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let all = guard("the answer", common::read_to_close(&mut stream)).await;
    assert!(all.ends_with("\r\n\r\nok"), "{all:?}");
    wait_for("slow task:start").await;
    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(400)).await; // past the grace: still waits
    assert!(!shutdown.is_finished(), "shutdown waits for the task");
    TASK_GO.notify_one();
    guard("shutdown", shutdown).await.unwrap();
    assert_eq!(
        events(),
        [
            "conn:open",
            "slow task:start",
            "slow task:end with 0 rows",
            "conn:close success 200 after 0 rows"
        ]
    );
}

// ----------------- 7. a response a failing `handler` teardown replaces, whose stream's Drop panics

#[depends(scope = "handler")]
async fn failing_tx(y: Yield<u8>) -> Result<(), HttpError> {
    let (_, outcome) = y.provide(0).await;
    log(format!("failing_tx:close {}", describe(&outcome)));
    Err(HttpError::new(StatusCode::CONFLICT, "commit failed"))
}

/// A stream that holds a `Held` and a [`Bomb`]: its `Drop` panics.
struct BombStream {
    _conn: Held<Conn>,
    _bomb: Bomb,
}

impl futures_util::Stream for BombStream {
    type Item = Result<Bytes, Infallible>;
    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(None)
    }
}

#[depends]
async fn streams_then_commit_fails(
    #[dep(conn)] conn: Held<Conn>,
    #[dep(failing_tx)] _tx: &mut u8,
) -> StreamBody<BombStream> {
    StreamBody::new(BombStream {
        _conn: conn,
        _bomb: Bomb("stream"),
    })
}

/// The handler's streamed response is thrown away for the failed commit's error; its `Drop`
/// panics. The client gets the error, the held value is torn down once, and the connection
/// serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_streamed_response_whose_drop_panics_loses_nothing() {
    let _serial = serial().await;
    let server = App::new()
        .get("/x", streams_then_commit_fails)
        .get("/ok", fine)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let answer = two_on_one(server.local_addr(), "/x").await;
    assert!(answer.starts_with("HTTP/1.1 409"), "{answer:?}");
    assert!(
        answer.ends_with("\r\n\r\nok"),
        "the next request is served: {answer:?}"
    );
    common::settled_whole(&server).await;
    let events = events();
    assert_eq!(
        common::count(
            &events,
            "conn:close teardown_failed failing_tx after 0 rows"
        ),
        1,
        "{events:?}"
    );
    guard("shutdown", server.shutdown()).await;
}

// ---------------------- 8. a limited value kept for ever: its place after the teardown gave up

static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static LEAKED_POOLED: std::sync::Mutex<Vec<Held<Pooled>>> = std::sync::Mutex::new(Vec::new());

struct Pooled;

impl Drop for Pooled {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[depends(max_concurrency = 1)]
async fn pooled(y: Yield<Pooled>) {
    LIVE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let _ = y.provide(Pooled).await;
}

#[depends]
async fn leaks_pooled(#[dep(pooled)] p: Held<Pooled>) -> String {
    let live = LIVE.load(std::sync::atomic::Ordering::SeqCst);
    LEAKED_POOLED.lock().unwrap().push(p);
    format!("{live} live")
}

/// Pins what happens: once the teardown of a value kept for ever has been given up, its
/// `max_concurrency` place goes back, and the next request sets up a second instance while
/// the first still lives (a judgment call: the place is held "until the teardown has
/// finished", and a teardown given up has finished).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_value_kept_for_ever_gives_its_place_back_at_the_teardown_deadline() {
    let _serial = serial().await;
    let app = App::new()
        .get("/leak", leaks_pooled)
        .teardown_timeout(Duration::from_millis(300));
    let client = TestClient::start(app).await.unwrap();
    assert_eq!(
        client.get("/leak").send().await.text().await.unwrap(),
        "1 live"
    );
    settled(&client).await;
    assert_eq!(
        client.get("/leak").send().await.text().await.unwrap(),
        "2 live"
    );
    let metrics = settled(&client).await;
    assert_eq!(metrics.teardown_timeouts, 2, "{metrics:?}");
    LEAKED_POOLED.lock().unwrap().clear();
    assert_eq!(LIVE.load(std::sync::atomic::Ordering::SeqCst), 0);
    guard("shutdown", client.shutdown()).await;
}

// --------------------- 9. an `app` value held past shutdown; a task list kept past its request

static LEAKED_APP: std::sync::Mutex<Vec<Held<String>>> = std::sync::Mutex::new(Vec::new());

#[depends(scope = "app")]
async fn settings(y: Yield<String>) {
    let (_, outcome) = y.provide("settings".to_owned()).await;
    log(format!("settings:close {}", describe(&outcome)));
}

#[depends]
async fn leaks_settings(#[dep(settings)] s: Held<String>) -> &'static str {
    LEAKED_APP.lock().unwrap().push(s);
    "ok"
}

/// An `app` value a handler kept for ever: shutdown gives its teardown up at the deadline,
/// and ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_value_held_past_shutdown_is_given_up_at_the_deadline() {
    let _serial = serial().await;
    let app = App::new()
        .get("/leak", leaks_settings)
        .teardown_timeout(Duration::from_millis(300));
    let client = TestClient::start(app).await.unwrap();
    assert_eq!(client.get("/leak").send().await.text().await.unwrap(), "ok");
    settled(&client).await;
    guard("shutdown", client.shutdown()).await;
    assert_eq!(
        events(),
        Vec::<String>::new(),
        "the generator never got it back"
    );
    LEAKED_APP.lock().unwrap().clear();
}

static LIST_GO: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[depends]
async fn list_to_a_task(#[dep(conn)] _c: &Conn, tasks: BackgroundTasks) -> &'static str {
    tokio::spawn(async move {
        LIST_GO.notified().await;
        tasks.add(async { log("too late task ran") });
        log("added too late");
    });
    "ok"
}

/// Pins what happens: a task added, through a handle kept in a spawned task, after its
/// request ended, is never run (a WARN line says so when the last handle goes:
/// `a_task_added_after_its_request_ended_is_logged_when_its_list_goes`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_added_after_its_request_ended_is_never_run() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/x", list_to_a_task))
        .await
        .unwrap();
    assert_eq!(client.get("/x").send().await.text().await.unwrap(), "ok");
    settled(&client).await;
    LIST_GO.notify_one();
    wait_for("added too late").await;
    settled(&client).await;
    guard("shutdown", client.shutdown()).await;
    assert_eq!(
        events(),
        [
            "conn:open",
            "conn:close success 200 after 0 rows",
            "added too late"
        ]
    );
}

static KEPT_LIST: std::sync::Mutex<Option<BackgroundTasks>> = std::sync::Mutex::new(None);

#[depends]
async fn list_to_a_global(tasks: BackgroundTasks) -> &'static str {
    *KEPT_LIST.lock().unwrap() = Some(tasks);
    "ok"
}

/// A task added after its request ended is not run, and not lost without a word: when the
/// last handle on the list goes, a WARN line says how many tasks were never run and what to
/// do instead. Before, they were dropped silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_added_after_its_request_ended_is_logged_when_its_list_goes() {
    let _serial = serial().await;
    let (captured, _logs) = common::Captured::at(tracing::level_filters::LevelFilter::WARN);
    let client = TestClient::start(App::new().get("/x", list_to_a_global))
        .await
        .unwrap();
    assert_eq!(client.get("/x").send().await.text().await.unwrap(), "ok");
    settled(&client).await;
    let list = KEPT_LIST
        .lock()
        .unwrap()
        .take()
        .expect("the handler kept its list");
    list.add(async { log("too late task ran") });
    list.add(async { log("too late task ran") });
    assert_eq!(
        captured.at_level("WARN"),
        Vec::<String>::new(),
        "not before the list goes"
    );
    drop(list);
    let warned = captured.at_level("WARN");
    assert_eq!(warned.len(), 1, "{warned:#?}");
    assert!(
        warned[0].contains("tasks=2") && warned[0].contains("are not run"),
        "{warned:#?}"
    );
    guard("shutdown", client.shutdown()).await;
    assert_eq!(events(), Vec::<String>::new(), "no task ran");
}
