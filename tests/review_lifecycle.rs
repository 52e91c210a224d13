//! A review of the lifecycle guarantees under faults (DESIGN.md's contract, items 5 to 8):
//! a streamed request body read after a slow setup, teardowns that hang in each scope beside
//! others, and a commit that fails with an error type answering a success.

mod common;

use std::time::Duration;

use common::{events, log, serial};
use di_runtime::TestClient;
use di_runtime::prelude::*;

fn describe(outcome: &Outcome) -> String {
    common::describe(outcome)
}

// ---------------------------------------------------------------- a body read after a slow setup

/// A setup that takes longer than the app's body timeout (a pool wait, a slow connect).
#[depends]
async fn slow_setup(y: Yield<u8>) {
    log("slow_setup:open");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, outcome) = y.provide(1).await;
    log(format!("slow_setup:close {}", describe(&outcome)));
}

#[depends]
async fn upload_after_slow_setup(
    #[dep(slow_setup)] _s: &u8,
    body: di_runtime::BodyStream,
) -> Result<String, HttpError> {
    Ok(format!("{} bytes", body.to_bytes().await?.len()))
}

/// An HTTP/1 upload that waits for `100 Continue`, on a route whose setup outlasts the body
/// timeout: it is told to go on once the handler asks for its body, and then read. It was
/// told to go on and answered 408 in the same write (the body's deadline counted from the
/// routing), with no chance to send a byte, its teardowns told a handler error.
#[tokio::test]
async fn an_upload_told_to_go_on_after_a_setup_longer_than_the_body_timeout_is_read() {
    use tokio::io::AsyncWriteExt;
    let _serial = serial().await;
    let server = App::new()
        .post("/up", upload_after_slow_setup)
        .body_timeout(Duration::from_millis(200))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut socket = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    socket
        .write_all(
            b"POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\
              expect: 100-continue\r\nconnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let head = common::within(common::read_head(&mut socket)).await;
    assert!(head.starts_with("HTTP/1.1 100 Continue"), "{head}");
    socket.write_all(b"hello").await.unwrap();
    let answer = common::within(common::read_to_close(&mut socket)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("5 bytes"), "{answer}");
    server.settle().await;
    assert_eq!(
        events(),
        ["slow_setup:open", "slow_setup:close success 200"]
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- teardowns that hang

#[depends(scope = "handler")]
async fn h_first(y: Yield<u8>) {
    log("h_first:open");
    let (_, outcome) = y.provide(1).await;
    log(format!("h_first:close {}", describe(&outcome)));
}

#[depends]
async fn r_first(y: Yield<u8>) {
    log("r_first:open");
    let (_, outcome) = y.provide(3).await;
    log(format!("r_first:close {}", describe(&outcome)));
}

#[depends(scope = "handler")]
async fn h_hangs(y: Yield<u8>) {
    log("h_hangs:open");
    let (_, _outcome) = y.provide(5).await;
    log("h_hangs:close");
    std::future::pending::<()>().await;
}

#[depends]
async fn r_hangs(y: Yield<u8>) {
    log("r_hangs:open");
    let (_, _outcome) = y.provide(6).await;
    log("r_hangs:close");
    std::future::pending::<()>().await;
}

#[depends]
async fn hanging_teardowns(
    #[dep(r_first)] _a: &u8,
    #[dep(r_hangs)] _b: &u8,
    #[dep(h_first)] _c: &u8,
    #[dep(h_hangs)] _d: &u8,
) -> &'static str {
    "made"
}

/// A teardown that hangs past `teardown_timeout`, in each scope, beside one that ends: the
/// `handler`-scope one is cut at its deadline and the response is the generic 500, the
/// `request`-scope one is cut too, every other teardown runs once, told the
/// first failure, and both cuts are counted. (A pinning test: the suite's other hanging
/// teardowns are `request`- or `app`-scoped.)
#[tokio::test]
async fn a_teardown_that_hangs_in_each_scope_is_cut_at_its_deadline_and_the_others_run() {
    let _serial = serial().await;
    let client = TestClient::start(
        App::new()
            .get("/h", hanging_teardowns)
            .teardown_timeout(Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let response = common::guard("the response", client.get("/h").send()).await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Internal Server Error"}"#
    );
    common::guard("the teardowns", client.settle()).await;
    assert_eq!(
        events(),
        [
            "r_first:open",
            "r_hangs:open",
            "h_first:open",
            "h_hangs:open",
            "h_hangs:close",
            "h_first:close teardown_failed h_hangs",
            "r_hangs:close",
            "r_first:close teardown_failed h_hangs",
        ]
    );
    assert_eq!(client.running().metrics().teardown_timeouts, 2);
    client.shutdown().await;
}

// ---------------------------------------------------------------- a commit that fails as text

/// A commit whose error type is `String`, which answers 200 as a response.
#[depends(scope = "handler")]
async fn commit_fails_as_text(y: Yield<u8>) -> Result<(), String> {
    log("tx:open");
    let (_, outcome) = y.provide(1).await;
    log(format!("tx:close {}", describe(&outcome)));
    Err("commit failed: serialization failure".to_owned())
}

#[depends]
async fn after_text(y: Yield<u8>) {
    log("after:open");
    let (_, outcome) = y.provide(2).await;
    let status = outcome.status().map(|status| status.as_u16());
    log(format!("after:close {} {status:?}", describe(&outcome)));
}

#[depends]
async fn writes_note(
    #[dep(after_text)] _a: &u8,
    #[dep(commit_fails_as_text)] _t: &u8,
) -> (StatusCode, &'static str) {
    (StatusCode::CREATED, "created")
}

/// A `handler`-scope teardown that fails with an error type answering a success (`String`:
/// 200) turns the response into a generic 500, as any failed commit does, and the later
/// teardowns are told that 500. The client got `200 OK` with the error's text in place of the
/// handler's 201: a write that was rolled back, answered as a success.
#[tokio::test]
async fn a_commit_that_fails_with_an_error_answering_a_success_is_a_500() {
    let _serial = serial().await;
    let (captured, _guard) = common::Captured::at(tracing_subscriber::filter::LevelFilter::WARN);
    let client = TestClient::start(App::new().post("/notes", writes_note))
        .await
        .unwrap();
    let response = client.post("/notes").send().await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Internal Server Error"}"#
    );
    client.settle().await;
    assert_eq!(
        events(),
        [
            "after:open",
            "tx:open",
            "tx:close success 201",
            "after:close teardown_failed commit_fails_as_text Some(500)",
        ]
    );
    let warned = captured.at_level("WARN");
    assert!(
        warned
            .iter()
            .any(|line| line.contains("commit_fails_as_text") && line.contains("counts as a 500")),
        "{:#?}",
        captured.lines()
    );
    client.shutdown().await;
}
