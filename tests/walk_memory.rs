//! Bounded memory and backpressure under load, over real sockets with the app's own server:
//! what a flood of clients can make the server hold, counted by values the test owns (a
//! `Drop` counter) and by the server's own gauges, never by time.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::guard;
use di_runtime::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ------------------------------------------------------------------ live values

/// Background tasks alive now (added and not yet ended or dropped).
static LIVE_TASKS: AtomicUsize = AtomicUsize::new(0);

/// Counted in [`LIVE_TASKS`] while it lives.
struct Live;

impl Live {
    fn new() -> Self {
        LIVE_TASKS.fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE_TASKS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Closed until the test lets the tasks go: each task takes a permit of it.
static GATE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(0);

/// Lets every task that waits at [`GATE`] go, now and later.
fn open_gate() {
    GATE.add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
}

/// Answers received whole.
static ANSWERED: AtomicUsize = AtomicUsize::new(0);

/// Sends `GET path` on a new connection (`Connection: close`), counts its answer in
/// [`ANSWERED`] once its head has come, and returns the whole answer.
async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let head = common::read_head(&mut stream).await;
    ANSWERED.fetch_add(1, Ordering::SeqCst);
    let mut body = Vec::new();
    let _ = stream.read_to_end(&mut body).await;
    head + &String::from_utf8_lossy(&body)
}

/// Waits (hang guard) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    guard(what, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

// ------------------------------------------------------------------ a flood of background tasks

/// Adds a task that waits until the test opens the gate.
#[depends]
async fn add_waiting_task(tasks: &BackgroundTasks) -> &'static str {
    let live = Live::new();
    tasks.add(async move {
        let _ = GATE.acquire().await;
        drop(live);
    });
    "queued"
}

const BOUND: usize = 4;
const FLOOD: usize = 50;

/// Every request adds a background task that waits: each answered request leaves its task
/// behind, so the server may answer only as many as its background bound lets run; the rest
/// wait for their answer (the client is held back), each holding its one task. Before,
/// every request was answered at once and its task waited for a place after the response,
/// so a flood piled up tasks without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_requests_adding_background_tasks_that_wait_is_answered_only_as_far_as_the_background_bound()
 {
    let _serial = common::serial().await;
    LIVE_TASKS.store(0, Ordering::SeqCst);
    ANSWERED.store(0, Ordering::SeqCst);
    let app = App::new()
        .get("/task", add_waiting_task)
        .max_background_teardowns(BOUND)
        .teardown_timeout(Duration::from_secs(600));
    let server = app.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let clients: Vec<_> = (0..FLOOD)
        .map(|_| tokio::spawn(get(addr, "/task")))
        .collect();
    // Every handler has run, and each request is either answered or still in flight.
    until("every handler run", || {
        LIVE_TASKS.load(Ordering::SeqCst) == FLOOD
            && ANSWERED.load(Ordering::SeqCst) + server.metrics().requests_in_flight == FLOOD
    })
    .await;
    let answered = ANSWERED.load(Ordering::SeqCst);
    let metrics = server.metrics();
    assert_eq!(
        answered, BOUND,
        "answered requests whose tasks wait after their response, with a background bound of {BOUND}"
    );
    assert_eq!(metrics.requests_in_flight, FLOOD - BOUND);
    assert_eq!(metrics.teardowns_in_flight, BOUND);
    open_gate();
    for client in clients {
        let answer = guard("an answer", client).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        assert!(answer.ends_with("queued"), "{answer}");
    }
    server.settle().await;
    until("every task run", || LIVE_TASKS.load(Ordering::SeqCst) == 0).await;
    let metrics = server.metrics();
    assert_eq!(metrics.responses_with(StatusCode::OK), FLOOD as u64);
    assert_eq!(
        (
            metrics.requests_in_flight,
            metrics.teardowns_in_flight,
            metrics.background_task_timeouts
        ),
        (0, 0, 0)
    );
    server.shutdown().await;
}
