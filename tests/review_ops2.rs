//! A review of the server and app lifecycle as an operator runs it: an `app`-scoped worker told
//! that the shutdown began, errors of tower layers around the app, what HTTP/2 answers by
//! itself in the metrics, and clients gone mid-body and mid-stream over both protocols.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use di_runtime::Shutdown;
use di_runtime::prelude::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// What happened, in order.
type Log = Arc<Mutex<Vec<String>>>;

fn logged(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// Waits (up to a minute) until `log` holds `event`.
async fn wait_logged(log: &Log, event: &str) {
    let wait = async {
        while !logged(log).iter().any(|e| e == event) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .is_err()
    {
        panic!("no {event:?} within a minute: {:?}", logged(log));
    }
}

// ------------------------------------------------------- `Shutdown` in an `app`-scoped worker

#[depends(scope = "app")]
async fn log() -> Log {
    Log::default()
}

/// Released by the test: the slow request waits for it.
#[depends(scope = "app")]
async fn release() -> Arc<tokio::sync::Notify> {
    Arc::default()
}

/// A pool's reaper: a background task that works until the app shuts down. It must stop
/// as the shutdown begins (the listener closed), not only at its teardown, which comes after
/// every request in flight has ended.
#[depends(scope = "app")]
async fn reaper(#[dep(log)] log: &Log, shutdown: Shutdown, y: Yield<&'static str>) {
    let worker_log = log.clone();
    let worker = tokio::spawn(async move {
        while !shutdown.is_requested() {
            tokio::select! {
                () = shutdown.requested() => {}
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
        worker_log.lock().unwrap().push("reaper stopped".into());
    });
    let (_, outcome) = y.provide("reaping").await;
    let _ = worker.await;
    log.lock()
        .unwrap()
        .push(format!("reaper torn down: {outcome}"));
}

#[depends]
async fn slow(
    #[dep(reaper)] reaper: &&'static str,
    #[dep(release)] release: &Arc<tokio::sync::Notify>,
    #[dep(log)] log: &Log,
) -> String {
    log.lock().unwrap().push("slow entered".into());
    release.notified().await;
    format!("{reaper}: done")
}

/// A request-scoped function that takes `Shutdown`, used in `app` scope by a `scope = "app"`
/// at the use: allowed, as `Shutdown` is the app's.
#[depends]
async fn shutdown_flag(shutdown: Shutdown) -> Shutdown {
    shutdown
}

#[depends]
async fn flag(#[dep(shutdown_flag, scope = "app")] flag: &Shutdown) -> String {
    format!("requested: {}", flag.is_requested())
}

fn worker_app(log_: &Log, release_: &Arc<tokio::sync::Notify>) -> App {
    App::new()
        .provide(log, log_.clone())
        .provide(release, release_.clone())
        .get("/slow", slow)
        .get("/flag", flag)
        .shutdown_grace(Duration::from_secs(120))
}

/// `Shutdown` was refused in `app` scope ("cannot take the request input `Shutdown`; take it
/// in a `request`-scoped dependency instead"), so a worker of `app` scope could not learn that
/// the shutdown began: it went on until its teardown, after the last request of the grace
/// period. It is now told as the listener closes, while requests are still in flight.
#[tokio::test]
async fn an_app_scoped_worker_is_told_when_the_shutdown_begins() {
    let log_ = Log::default();
    let release_ = Arc::<tokio::sync::Notify>::default();
    let server = worker_app(&log_, &release_)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut client = TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    wait_logged(&log_, "slow entered").await;

    let shutdown = tokio::spawn(server.shutdown());
    // Told while the request is still in flight, before any teardown.
    wait_logged(&log_, "reaper stopped").await;
    assert_eq!(logged(&log_), ["slow entered", "reaper stopped"]);
    release_.notify_one();
    let answer = common::within(common::read_to_close(&mut client)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("reaping: done"), "{answer}");
    common::within(shutdown).await.unwrap();
    assert_eq!(
        logged(&log_),
        [
            "slow entered",
            "reaper stopped",
            "reaper torn down: app stopped"
        ]
    );
}

/// The same through `App::start` and `Running::shutdown`, and with the function made `app`
/// scope at its use.
#[tokio::test]
async fn an_app_scoped_shutdown_is_told_by_running_shutdown_and_at_a_forced_use() {
    let log_ = Log::default();
    let app = worker_app(&log_, &Arc::default());
    app.check()
        .expect("`Shutdown` is the app's: `app` scope may take it");
    let client = TestClient::start(app).await.unwrap();
    let answer = client.get("/flag").send().await;
    assert_eq!(answer.text().await.unwrap(), "requested: false");
    client.shutdown().await;
    assert_eq!(
        logged(&log_),
        ["reaper stopped", "reaper torn down: app stopped"]
    );
}
