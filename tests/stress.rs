//! Exactly once under load: hundreds of concurrent requests on a multi-threaded runtime, ending
//! every way a request can end (success, handler error, panic, body streamed to the end, body
//! dropped half-way, client gone before the response, timeout), over the in-process client and
//! over TCP. Every dependency whose setup completed is torn down exactly once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use di_runtime::prelude::*;
use futures_util::stream;
use serde::Deserialize;

/// Counts for one dependency: setups completed, teardowns run, teardowns that saw success.
struct Counts {
    setups: AtomicUsize,
    teardowns: AtomicUsize,
    successes: AtomicUsize,
}

impl Counts {
    const fn new() -> Self {
        Self {
            setups: AtomicUsize::new(0),
            teardowns: AtomicUsize::new(0),
            successes: AtomicUsize::new(0),
        }
    }

    fn get(&self) -> (usize, usize, usize) {
        (
            self.setups.load(Ordering::SeqCst),
            self.teardowns.load(Ordering::SeqCst),
            self.successes.load(Ordering::SeqCst),
        )
    }
}

async fn generator(counts: &Counts, y: Yield<u64>) {
    tokio::task::yield_now().await;
    counts.setups.fetch_add(1, Ordering::SeqCst);
    let (_, outcome) = y.provide(7).await;
    tokio::task::yield_now().await;
    if outcome.is_success() {
        counts.successes.fetch_add(1, Ordering::SeqCst);
    }
    counts.teardowns.fetch_add(1, Ordering::SeqCst);
}

static REQUEST: Counts = Counts::new();
static HANDLER: Counts = Counts::new();

#[depends]
async fn request_scoped(y: Yield<u64>) {
    generator(&REQUEST, y).await;
}

#[depends(scope = "handler")]
async fn handler_scoped(y: Yield<u64>) {
    generator(&HANDLER, y).await;
}

#[derive(Deserialize)]
struct Mode {
    mode: String,
}

#[depends]
async fn work(
    #[dep(request_scoped)] held: Held<u64>,
    #[dep(handler_scoped)] value: &u64,
    Query(Mode { mode }): Query<Mode>,
) -> Result<
    StreamBody<impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static>,
    HttpError,
> {
    let n = *value + *held;
    match mode.as_str() {
        "error" => return Err(HttpError::conflict("no")),
        "panic" => panic!("boom"),
        "slow" => tokio::time::sleep(Duration::from_millis(200)).await,
        _ => tokio::task::yield_now().await,
    }
    let chunks = stream::unfold((held, 0u32), move |(held, i)| async move {
        if i == 5 {
            return None;
        }
        tokio::task::yield_now().await;
        Some((Ok(Bytes::from(format!("{n}:{i};"))), (held, i + 1)))
    });
    Ok(StreamBody::new(chunks))
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

const MODES: [&str; 4] = ["ok", "error", "panic", "slow"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_setup_is_torn_down_exactly_once_in_process() {
    let app = App::new()
        .get("/work", work)
        .request_timeout(Duration::from_millis(100));
    let client = std::sync::Arc::new(TestClient::start(app).await.unwrap());
    let mut rng = Lcg(42);
    let mut tasks = Vec::new();
    for _ in 0..400 {
        let mode = MODES[rng.next(4) as usize];
        let ending = rng.next(3);
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let uri = format!("/work?mode={mode}");
            match ending {
                // The client gives up before the response (sometimes mid-setup).
                0 => {
                    let _ = tokio::time::timeout(Duration::from_millis(1), client.get(&uri).send())
                        .await;
                }
                // Reads one chunk, then goes away.
                1 => {
                    let mut response = client.get(&uri).send().await;
                    let _ = response.chunk().await;
                }
                // Reads everything.
                _ => {
                    let _ = client.get(&uri).send().await.bytes().await;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    client.settle().await;
    assert_exactly_once("in process");

    // The same over TCP, with clients that hang up before or during the response.
    let server = App::new()
        .get("/work", work)
        .request_timeout(Duration::from_millis(100))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let mode = MODES[rng.next(4) as usize];
        let ending = rng.next(3);
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let io = hyper_util::rt::TokioIo::new(stream);
            let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
            let driver = tokio::spawn(connection);
            let request = http::Request::get(format!("/work?mode={mode}"))
                .header("host", "stress")
                .body(http_body_util::Empty::<Bytes>::new())
                .unwrap();
            match ending {
                0 => {
                    let _ = tokio::time::timeout(
                        Duration::from_millis(1),
                        sender.send_request(request),
                    )
                    .await;
                }
                1 => {
                    if let Ok(mut response) = sender.send_request(request).await {
                        let _ = http_body_util::BodyExt::frame(response.body_mut()).await;
                    }
                }
                _ => {
                    if let Ok(response) = sender.send_request(request).await {
                        let _ = http_body_util::BodyExt::collect(response.into_body()).await;
                    }
                }
            }
            driver.abort();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // Teardowns of abandoned requests start when hyper notices the closed sockets; a graceful
    // shutdown waits for every connection and drains them all.
    server.shutdown().await;
    assert_exactly_once("over TCP");
}

fn assert_exactly_once(phase: &str) {
    for (name, counts) in [("request", &REQUEST), ("handler", &HANDLER)] {
        let (setups, teardowns, successes) = counts.get();
        assert!(setups > 0, "{phase}, {name}: nothing was set up");
        assert_eq!(
            setups, teardowns,
            "{phase}, {name}: every setup is torn down exactly once"
        );
        assert!(
            successes < setups,
            "{phase}, {name}: failures and cancellations are never a success"
        );
    }
}
