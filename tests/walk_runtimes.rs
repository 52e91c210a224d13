//! A walk through the tokio runtimes and test harnesses an app meets where its users run it:
//! `#[tokio::test]` (one thread) and one worker of a multi-threaded runtime, a `LocalSet`,
//! paused time (`tokio::time::pause`) against the request and teardown deadlines, blocking work
//! in dependencies (`block_in_place` on one thread), a teardown that spawns, an app used from
//! another thread or runtime, a test whose runtime ends with work still running, and one app
//! shared by the tests of a binary. Each test gives its own recorder, so they run in parallel.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::describe;
use di_runtime::prelude::*;

/// What the teardowns of one test saw, in order.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, event: impl Into<String>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.into());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Each test gives its own with `App::provide`.
#[depends(scope = "app")]
async fn seen() -> Seen {
    Seen::default()
}

/// A `request`-scope connection that records the outcome its teardown was handed.
#[depends]
async fn conn(#[dep(seen)] seen: &Seen, y: Yield<u32>) {
    let (_conn, outcome) = y.provide(1).await;
    seen.push(format!("conn:{}", describe(&outcome)));
}

/// Queues a background task that waits for the runtime's timer far longer than a test runs.
#[depends]
async fn long_task(#[dep(conn)] _conn: &u32, tasks: BackgroundTasks) -> &'static str {
    tasks.add(async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
    "queued"
}

fn app(seen_here: &Seen) -> App {
    App::new()
        .provide(seen, seen_here.clone())
        .get("/long-task", long_task)
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A test ends (its runtime is dropped) while a response's background task waits for the
/// runtime's timer: the task is finished where the runtime drops it, stalls, and is given up.
/// The `request`-scope teardown after it was given up with it, uncounted (no teardown at all
/// for a setup): it now runs, once, with the outcome of the response (sent whole), and the
/// task is counted as timed out.
#[test]
fn a_background_task_stalled_as_the_runtime_ends_does_not_take_the_teardowns_with_it() {
    let seen_here = Seen::default();
    let runtime = current_thread();
    let service = runtime.block_on(async {
        let client = TestClient::start(app(&seen_here)).await.unwrap();
        let body = client.get("/long-task").send().await.text().await.unwrap();
        assert_eq!(body, "queued");
        // The task has started and waits; the test ends without `settle` or `shutdown`.
        tokio::task::yield_now().await;
        client.running().service()
    });
    drop(runtime);
    assert_eq!(seen_here.take(), ["conn:success 200"]);
    let metrics = service.metrics();
    assert_eq!(metrics.setups, 1);
    assert_eq!(metrics.teardowns.total(), 1, "{metrics:?}");
    assert_eq!(metrics.background_task_timeouts, 1, "{metrics:?}");
    assert_eq!(metrics.teardowns_in_flight, 0, "{metrics:?}");
}
