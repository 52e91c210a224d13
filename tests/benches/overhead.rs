//! Run with: cargo bench -p di-tests --bench overhead
//!
//! DI overhead per request, in process, on DESIGN.md's reference handler: an `app` singleton,
//! a `handler`-scoped and a `request`-scoped generator, a cached dependency used twice and a
//! query extractor, through the same service the server uses; against a hand-written
//! `async fn` doing the same work. Prints nanoseconds per request for both and their ratio.
//! A benchmark reports numbers; it asserts nothing.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use di_runtime::prelude::*;
use http_body_util::BodyExt;
use serde::Deserialize;

struct Config {
    factor: u64,
}

#[depends(scope = "app")]
async fn config() -> Config {
    Config { factor: 3 }
}

#[depends(scope = "handler")]
async fn tx(y: Yield<Vec<u64>>) {
    let (writes, outcome) = y.provide(Vec::new()).await;
    black_box((writes, outcome.is_success()));
}

#[depends]
async fn session(y: Yield<u64>) {
    let (id, outcome) = y.provide(42).await;
    black_box((id, outcome.is_success()));
}

#[depends]
async fn user(#[dep(config)] config: &Config) -> u64 {
    7 * config.factor
}

#[derive(Deserialize)]
struct Page {
    n: u64,
}

#[allow(
    clippy::too_many_arguments,
    reason = "the reference handler of DESIGN.md"
)]
#[depends]
async fn reference(
    #[dep(config)] config: &Config,
    #[dep(tx)] tx: &mut Vec<u64>,
    #[dep(session)] session: &u64,
    #[dep(user)] first: &u64,
    #[dep(user)] second: &u64,
    Query(page): Query<Page>,
) -> String {
    tx.push(page.n);
    format!("{}", config.factor + session + first + second + page.n)
}

/// The same work without the framework: parse the query, set up, run, tear down, respond.
async fn hand_written(
    request: http::Request<http_body_util::Empty<Bytes>>,
) -> http::Response<String> {
    let config = Config { factor: 3 };
    let n: u64 = request
        .uri()
        .query()
        .and_then(|q| q.strip_prefix("n="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut tx: Vec<u64> = Vec::new();
    let session = 42u64;
    let user = 7 * config.factor;
    tx.push(n);
    let body = format!("{}", config.factor + session + user + user + n);
    black_box((tx, true));
    black_box((session, true));
    http::Response::new(body)
}

fn request() -> http::Request<http_body_util::Empty<Bytes>> {
    http::Request::get("/r?n=5")
        .body(http_body_util::Empty::new())
        .expect("a valid request")
}

/// Requests per round; `DI_BENCH_REQUESTS` overrides it (fewer for a profiler run).
fn requests() -> u32 {
    std::env::var("DI_BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let running = App::new()
        .get("/r", reference)
        .start()
        .await
        .expect("the app starts");
    let service = running.service();

    let requests = requests();
    let mut times = Vec::new();
    for round in 0..3 {
        let started = Instant::now();
        for _ in 0..requests {
            let response = service.call_request(request()).await;
            let body = response
                .into_body()
                .collect()
                .await
                .expect("a body")
                .to_bytes();
            black_box(body);
            // Let the `request`-scope teardown (a background task) run, as a server would.
            tokio::task::yield_now().await;
        }
        running.settle().await;
        let di = started.elapsed();

        let started = Instant::now();
        for _ in 0..requests {
            let response = hand_written(request()).await;
            black_box(response.into_body());
            tokio::task::yield_now().await;
        }
        let hand = started.elapsed();
        if round > 0 {
            times.push((di, hand));
        }
    }
    let per = |d: Duration| d.as_nanos() as f64 / f64::from(requests);
    for (di, hand) in &times {
        println!(
            "di {:>8.0} ns/request   hand-written {:>6.0} ns/request   overhead {:>6.0} ns ({:.1}x)",
            per(*di),
            per(*hand),
            per(*di) - per(*hand),
            per(*di) / per(*hand)
        );
    }
    running.shutdown().await;
}
