//! A walk of held values (`Held`, `HeldMut`) and background tasks (`BackgroundTasks`), as a
//! user misuses them: handles kept past the body (in a spawned task, a global), two handles
//! on one value, handles in tasks, tasks that add tasks, panic or never end, tasks added by
//! teardowns and by bodies, on every outcome, over the test client, HTTP/1.1, HTTP/2 and the
//! app as a `tower::Service` inside axum. Each checks exactly-once teardown with its truthful
//! outcome, no hang past the documented deadlines, and nothing left owed (`settle`, metrics).

mod common;

use common::{describe, events, guard, log, serial};
use di_runtime::prelude::*;

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
