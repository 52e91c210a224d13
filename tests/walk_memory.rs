//! Bounded memory and backpressure under load, over real sockets with the app's own server:
//! what a flood of clients can make the server hold, counted by values the test owns (a
//! `Drop` counter) and by the server's own gauges, never by time.

// Heap counts for the tests that measure what the server holds (no `unsafe` of ours); without
// a running profiler it passes every allocation to the system's.
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::guard;
use di_runtime::prelude::*;
use futures_util::stream;
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

/// Closes the gate again (a test before may have opened it).
fn close_gate() {
    GATE.forget_permits(GATE.available_permits());
}

/// Answers whose head has come.
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
    close_gate();
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

/// A request whose client goes away while it waits for a background place for its tasks
/// is dropped with them: its tasks are never run (its response was never sent), no place is
/// kept for it, and the next request is served once the place is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_while_its_request_waits_for_a_place_for_its_tasks_leaves_no_task_and_no_place()
 {
    let _serial = common::serial().await;
    LIVE_TASKS.store(0, Ordering::SeqCst);
    ANSWERED.store(0, Ordering::SeqCst);
    close_gate();
    let server = App::new()
        .get("/task", add_waiting_task)
        .max_background_teardowns(1)
        .teardown_timeout(Duration::from_secs(600))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    // The first holds the one place with its task; the second waits for it.
    let first = tokio::spawn(get(addr, "/task"));
    until("the first answered", || {
        ANSWERED.load(Ordering::SeqCst) == 1
    })
    .await;
    let mut second = TcpStream::connect(addr).await.unwrap();
    second
        .write_all(b"GET /task HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    until("the second waiting with its task", || {
        LIVE_TASKS.load(Ordering::SeqCst) == 2 && server.metrics().requests_in_flight == 1
    })
    .await;
    drop(second);
    until("the second dropped with its task", || {
        LIVE_TASKS.load(Ordering::SeqCst) == 1 && server.metrics().requests_in_flight == 0
    })
    .await;
    open_gate();
    assert!(guard("the first", first).await.unwrap().ends_with("queued"));
    until("the first task run", || {
        LIVE_TASKS.load(Ordering::SeqCst) == 0
    })
    .await;
    // The place came back: the next one is answered, and its task runs at once.
    let third = guard("the third", get(addr, "/task")).await;
    assert!(third.starts_with("HTTP/1.1 200 "), "{third}");
    until("the third task run", || {
        LIVE_TASKS.load(Ordering::SeqCst) == 0
    })
    .await;
    let metrics = common::settled_whole(&server).await;
    assert_eq!(metrics.responses_with(StatusCode::OK), 2);
    assert_eq!(metrics.background_task_timeouts, 0);
    server.shutdown().await;
}

// ------------------------------------------------------------------ HTTP/1 clients that read nothing of an endless stream

/// Bytes the endless bodies of [`endless`] have made.
static MADE: AtomicUsize = AtomicUsize::new(0);
/// Endless bodies alive now.
static LIVE_BODIES: AtomicUsize = AtomicUsize::new(0);

/// Counted in [`LIVE_BODIES`] while the body that owns it lives.
struct LiveBody;

impl LiveBody {
    fn new() -> Self {
        LIVE_BODIES.fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl Drop for LiveBody {
    fn drop(&mut self) {
        LIVE_BODIES.fetch_sub(1, Ordering::SeqCst);
    }
}

const CHUNK: usize = 16 * 1024;

/// An endless body of 16 KiB chunks, each ready at once: a producer faster than any reader.
#[depends]
async fn endless()
-> StreamBody<impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static> {
    StreamBody::new(stream::unfold(LiveBody::new(), |live| async move {
        MADE.fetch_add(CHUNK, Ordering::SeqCst);
        Some((Ok(Bytes::from(vec![b'e'; CHUNK])), live))
    }))
}

/// Waits (hang guard) until `MADE` stops growing: every producer waits for its socket.
async fn until_made_settles() -> usize {
    guard("the producers to wait", async {
        let mut made = MADE.load(Ordering::SeqCst);
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = MADE.load(Ordering::SeqCst);
            if now == made && now > 0 {
                return now;
            }
            made = now;
        }
    })
    .await
}

const READERS: usize = 64;

/// Sixty-four HTTP/1 clients ask for an endless stream and read nothing: each body is made
/// only as far as its connection takes it (the kernel's socket buffers, `TCP_NOTSENT_LOWAT`
/// and hyper's write buffer), not buffered without bound in the server, and the server's heap
/// holds at most about its head-size buffer and a chunk a connection. Once the clients have
/// gone, every body is dropped and the gauges are back to zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_clients_that_read_nothing_of_an_endless_stream_have_a_bounded_part_of_it_made_and_held()
 {
    let _serial = common::serial().await;
    MADE.store(0, Ordering::SeqCst);
    let server = App::new()
        .get("/endless", endless)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get();
    let mut clients = Vec::new();
    for _ in 0..READERS {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(addr).await.unwrap();
        stream
            .write_all(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        clients.push(stream);
    }
    until("every body started", || {
        LIVE_BODIES.load(Ordering::SeqCst) == READERS
    })
    .await;
    let made = until_made_settles().await;
    let held = dhat::HeapStats::get()
        .curr_bytes
        .saturating_sub(before.curr_bytes);
    drop(profiler);
    eprintln!("made {made} bytes, heap held {held} bytes for {READERS} readers");
    // Per connection: what the kernel takes into the two sockets (the server's send buffer
    // grows to `tcp_wmem`'s largest, 4 MiB by default, of which `TCP_NOTSENT_LOWAT` lets at
    // most 512 KiB wait unsent) and what hyper holds.
    assert!(
        made < READERS * 6 * 1024 * 1024,
        "the server made {made} bytes for {READERS} clients that read nothing"
    );
    // Per connection: hyper's write buffer (up to `max_head_size`, 128 KiB), a chunk in hand
    // and the connection's own state.
    assert!(
        held < READERS * 256 * 1024,
        "the server held {held} bytes of heap for {READERS} clients that read nothing"
    );
    drop(clients);
    until("every body dropped", || {
        LIVE_BODIES.load(Ordering::SeqCst) == 0
    })
    .await;
    until("every connection closed", || {
        server.metrics().open_connections == 0
    })
    .await;
    let metrics = common::settled_whole(&server).await;
    assert_eq!(metrics.responses_with(StatusCode::OK), READERS as u64);
    server.shutdown().await;
}

// ------------------------------------------------------------------ rounds of mixed requests: nothing kept from one to the next

/// A request-scoped resource, so that every ending reaches a teardown.
#[depends]
async fn resource(y: Yield<u8>) {
    let _ = y.provide(1).await;
}

#[depends]
async fn whole(#[dep(resource)] _r: &u8) -> String {
    "x".repeat(10_000)
}

#[depends]
async fn failing(#[dep(resource)] _r: &u8) -> Result<String, HttpError> {
    Err(HttpError::conflict("taken"))
}

#[depends]
async fn feed(
    #[dep(resource)] _r: Held<u8>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static> {
    StreamBody::new(stream::unfold(LiveBody::new(), |live| async move {
        Some((Ok(Bytes::from(vec![b'f'; CHUNK])), live))
    }))
}

#[depends]
async fn upload(
    #[dep(resource)] _r: &u8,
    body: di_runtime::BodyStream,
) -> Result<String, HttpError> {
    use futures_util::StreamExt as _;
    let mut body = body;
    let mut n = 0;
    while let Some(chunk) = body.next().await {
        n += chunk?.len();
    }
    Ok(n.to_string())
}

#[derive(serde::Deserialize)]
struct Note {
    #[allow(dead_code, reason = "read only to be checked")]
    title: String,
}

#[depends]
async fn create(Json(_note): Json<Note>, tasks: &BackgroundTasks) -> StatusCode {
    let live = Live::new();
    tasks.add(async move { drop(live) });
    StatusCode::CREATED
}

/// Sends `request` on a new connection and reads the answer to its end.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Asks for the endless feed, reads its head and a little, and resets the connection.
async fn cut_feed(addr: std::net::SocketAddr) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /feed HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut some = vec![0; 64 * 1024];
    let _ = stream.read(&mut some).await.unwrap();
    stream.set_zero_linger().unwrap();
}

/// Starts an upload of 100,000 bytes, sends 3 and goes.
async fn cut_upload(addr: std::net::SocketAddr) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
        .await
        .unwrap();
}

/// One round: each kind of request, many at once; the statuses the clients saw.
async fn round(addr: std::net::SocketAddr) -> Vec<String> {
    let mut requests = Vec::new();
    for i in 0..20 {
        let request: &'static [u8] = match i % 5 {
            0 => b"GET /whole HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            1 => b"GET /failing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            2 => b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            3 => b"POST /notes HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"title\":\"a\"}  ",
            _ => b"POST /notes HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"title\":1}",
        };
        requests.push(tokio::spawn(async move {
            let answer = exchange(addr, request).await;
            answer.split(' ').nth(1).unwrap_or("none").to_owned()
        }));
        requests.push(tokio::spawn(async move {
            cut_feed(addr).await;
            String::from("cut feed")
        }));
        requests.push(tokio::spawn(async move {
            cut_upload(addr).await;
            String::from("cut upload")
        }));
    }
    let mut seen = Vec::new();
    for request in requests {
        seen.push(guard("a request", request).await.unwrap());
    }
    seen.sort();
    seen
}

const ROUNDS: usize = 6;

/// Rounds of every kind of request, whole answers, errors, 404s, 422s, background tasks,
/// streams reset mid-way and uploads given up, each round alone: once a round has settled,
/// the server's heap is back to what it held after the first (its caches and pools filled),
/// every gauge is zero, every body, task and connection gone. A leak of a value per request
/// would grow it by some kilobytes each round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_of_mixed_requests_with_errors_and_clients_gone_leave_the_heap_where_the_first_left_it()
 {
    let _serial = common::serial().await;
    LIVE_TASKS.store(0, Ordering::SeqCst);
    let server = App::new()
        .get("/whole", whole)
        .get("/failing", failing)
        .get("/feed", feed)
        .post("/upload", upload)
        .post("/notes", create)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let profiler = dhat::Profiler::builder().testing().build();
    let mut after_each = Vec::new();
    for _ in 0..ROUNDS {
        let seen = round(addr).await;
        assert_eq!(seen.iter().filter(|s| *s == "200").count(), 4, "{seen:?}");
        assert_eq!(seen.iter().filter(|s| *s == "201").count(), 4, "{seen:?}");
        assert_eq!(seen.iter().filter(|s| *s == "409").count(), 4, "{seen:?}");
        assert_eq!(seen.iter().filter(|s| *s == "404").count(), 4, "{seen:?}");
        assert_eq!(seen.iter().filter(|s| *s == "422").count(), 4, "{seen:?}");
        until("every connection closed", || {
            server.metrics().open_connections == 0
        })
        .await;
        until("every feed dropped", || {
            LIVE_BODIES.load(Ordering::SeqCst) == 0
        })
        .await;
        until("every task run", || LIVE_TASKS.load(Ordering::SeqCst) == 0).await;
        let metrics = common::settled_whole(&server).await;
        assert_eq!(metrics.open_connections, 0);
        after_each.push(dhat::HeapStats::get().curr_bytes);
    }
    drop(profiler);
    eprintln!("heap after each round: {after_each:?}");
    let first = after_each[0];
    let last = after_each[ROUNDS - 1];
    assert!(
        last <= first + 16 * 1024,
        "the heap grew from {first} to {last} bytes over {} more rounds of 60 requests: {after_each:?}",
        ROUNDS - 1
    );
    let metrics = server.metrics();
    assert_eq!(metrics.setups, metrics.teardowns.total());
    server.shutdown().await;
}
