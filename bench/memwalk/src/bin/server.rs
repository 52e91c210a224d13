//! A small app measured under floods (BENCHMARKS.md, "Memory under floods"): prints, every
//! second, its live heap (counted by the allocator below), RSS and peak RSS
//! (/proc/self/status), open descriptors and the server's own gauges.
//!
//! Not a member of the workspace: a measuring tool, whose counting allocator is the one
//! `unsafe` it needs (di-runtime forbids its own).
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use di_runtime::prelude::*;
use di_runtime::BodyStream;
use futures_util::{StreamExt, stream};
use serde::Deserialize;

/// The system's allocator, counting the bytes live.
struct Counting;
static LIVE: AtomicU64 = AtomicU64::new(0);
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as u64, Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        LIVE.fetch_sub(l.size() as u64, Ordering::Relaxed);
        unsafe { std::alloc::System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as u64, Ordering::Relaxed);
        LIVE.fetch_sub(l.size() as u64, Ordering::Relaxed);
        unsafe { std::alloc::System.realloc(p, l, n) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

static PRODUCED: AtomicU64 = AtomicU64::new(0);
static UPLOADED: AtomicU64 = AtomicU64::new(0);
static TASKS_RUN: AtomicU64 = AtomicU64::new(0);
const CHUNK: usize = 16 * 1024;

#[derive(Deserialize)]
struct Size {
    mb: u64,
}

#[depends]
async fn stream_body(
    Query(size): Query<Size>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static> {
    let chunks = size.mb * 64;
    StreamBody::new(stream::iter(0..chunks).map(|_| {
        PRODUCED.fetch_add(CHUNK as u64, Ordering::Relaxed);
        Ok(Bytes::from(vec![b'x'; CHUNK]))
    }))
}

#[depends]
async fn big(Query(size): Query<Size>) -> Vec<u8> {
    vec![b'y'; (size.mb as usize) << 20]
}

#[depends]
async fn upload(mut body: BodyStream) -> Result<String, HttpError> {
    let mut n = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        n += chunk.len() as u64;
    }
    UPLOADED.fetch_add(n, Ordering::Relaxed);
    Ok(n.to_string())
}

#[depends]
async fn json(Json(v): Json<serde_json::Value>) -> String {
    v.as_array().map_or(0, Vec::len).to_string()
}

#[depends]
async fn task(tasks: &BackgroundTasks) -> &'static str {
    let payload = vec![0u8; 1024];
    tasks.add(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        TASKS_RUN.fetch_add(payload.len() as u64 / 1024, Ordering::Relaxed);
    });
    "queued"
}

#[depends]
async fn fail() -> Result<String, HttpError> {
    Err(HttpError::conflict("nope"))
}

#[depends]
async fn ok() -> &'static str {
    "ok"
}

fn status() -> (u64, u64, usize) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
    (kb("VmRSS:"), kb("VmHWM:"), fds)
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args().nth(1).map_or(3999, |p| p.parse().unwrap());
    let app = App::new()
        .get("/stream", stream_body)
        .get("/big", big)
        .post("/upload", upload)
        .post("/json", json)
        .get("/task", task)
        .get("/fail", fail)
        .get("/ok", ok)
        .max_connections(20_000)
        .body_min_rate(0, Duration::from_secs(5));
    let server = app.bind(("127.0.0.1", port)).await.unwrap();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let started = std::time::Instant::now();
    loop {
        tick.tick().await;
        let (rss, hwm, fds) = status();
        let m = server.metrics();
        println!(
            "t={:>4} heap_kb={} rss_kb={rss} hwm_kb={hwm} fds={fds} conns={} in_flight={} bg={} responses={} produced_mb={} uploaded_mb={} tasks_run={}",
            started.elapsed().as_secs(),
            LIVE.load(Ordering::Relaxed) >> 10,
            m.open_connections,
            m.requests_in_flight,
            m.teardowns_in_flight,
            m.responses_total(),
            PRODUCED.load(Ordering::Relaxed) >> 20,
            UPLOADED.load(Ordering::Relaxed) >> 20,
            TASKS_RUN.load(Ordering::Relaxed),
        );
    }
}
