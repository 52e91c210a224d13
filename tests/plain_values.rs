//! How long a plain dependency's value lives (DESIGN.md, "Scopes"): one of `request` scope
//! until the response body has ended (or was dropped), one of `handler` scope until the
//! handler's response is made, before its body starts. A value with a `Drop` that matters (a
//! permit, a guard, a connection given back to its pool when dropped) is let go of when its
//! scope says, not when the handler returns.

use std::convert::Infallible;
use std::sync::Mutex;
use std::time::Duration;

use di_runtime::prelude::*;
use di_runtime::{HeldMut, StreamBody};
use futures_util::stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn event(text: impl Into<String>) {
    EVENTS.lock().unwrap().push(text.into());
}

fn clear() {
    EVENTS.lock().unwrap().clear();
}

/// The events, once `last` has been said (bounded).
async fn events_until(last: &str) -> Vec<String> {
    for _ in 0..500 {
        {
            let events = EVENTS.lock().unwrap();
            if events.iter().any(|e| e == last) {
                return events.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("`{last}` never came: {:?}", EVENTS.lock().unwrap());
}

/// Says when it is dropped.
struct Noisy(&'static str);

impl Drop for Noisy {
    fn drop(&mut self) {
        event(format!("{} dropped", self.0));
    }
}

#[depends]
async fn permit() -> Noisy {
    Noisy("request value")
}

#[depends(scope = "handler")]
async fn guard() -> Noisy {
    Noisy("handler value")
}

#[depends]
async fn session(y: Yield<u8>) {
    let (_, outcome) = y.provide(1).await;
    event(format!(
        "session teardown, success: {}",
        outcome.is_success()
    ));
}

/// Three lines, each said as the body gives it.
fn lines() -> StreamBody<impl futures_util::Stream<Item = Result<String, Infallible>>> {
    StreamBody::new(stream::iter(0..3).map(|i| {
        event(format!("line {i}"));
        Ok(format!("{i}\n"))
    }))
}

use futures_util::StreamExt;

#[depends]
async fn export(
    #[dep(permit)] _p: &Noisy,
    #[dep(guard)] _g: &Noisy,
    #[dep(session)] _s: &u8,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, Infallible>> + use<>> {
    lines()
}

/// No generator: the plain value is all the route keeps.
#[depends]
async fn plain_only(
    #[dep(permit)] _p: &Noisy,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, Infallible>> + use<>> {
    lines()
}

fn app() -> App {
    App::new().get("/export", export).get("/plain", plain_only)
}

const EXPORT_ORDER: [&str; 6] = [
    "handler value dropped",
    "line 0",
    "line 1",
    "line 2",
    "request value dropped",
    "session teardown, success: true",
];

#[tokio::test]
async fn a_request_value_lives_until_the_body_ends_and_a_handler_value_until_it_starts() {
    let _serial = SERIAL.lock().await;
    clear();
    let client = TestClient::start(app()).await.unwrap();
    let response = client.get("/export").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "0\n1\n2\n");
    let events = events_until("session teardown, success: true").await;
    assert_eq!(events, EXPORT_ORDER);

    clear();
    let response = client.get("/plain").send().await;
    assert_eq!(response.text().await.unwrap(), "0\n1\n2\n");
    let events = events_until("request value dropped").await;
    assert_eq!(
        events,
        ["line 0", "line 1", "line 2", "request value dropped"]
    );
}

#[tokio::test]
async fn the_same_over_http1() {
    let _serial = SERIAL.lock().await;
    clear();
    let server = app().bind("127.0.0.1:0").await.unwrap();
    for (path, last, expected) in [
        (
            "/export",
            "session teardown, success: true",
            &EXPORT_ORDER[..],
        ),
        (
            "/plain",
            "request value dropped",
            &["line 0", "line 1", "line 2", "request value dropped"][..],
        ),
    ] {
        clear();
        let mut stream = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut received = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut received))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&received);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        let events = events_until(last).await;
        assert_eq!(events, expected, "{path}");
    }
    server.shutdown().await;
}

/// A plain value that keeps a borrow of a generator's value (a repository over a
/// transaction) is let go of before that generator's teardown, which gets its value back at
/// once and sees the request succeed.
struct Repo(#[allow(dead_code, reason = "holds the borrow")] HeldMut<u8>);

impl Drop for Repo {
    fn drop(&mut self) {
        event("repo dropped");
    }
}

#[depends]
async fn repo(#[dep(session)] s: HeldMut<u8>) -> Repo {
    Repo(s)
}

#[depends]
async fn through_repo(#[dep(repo)] _r: &Repo) -> &'static str {
    "ok"
}

#[tokio::test]
async fn a_plain_value_holding_a_generators_value_is_let_go_of_before_its_teardown() {
    let _serial = SERIAL.lock().await;
    clear();
    let client = TestClient::start(App::new().get("/repo", through_repo))
        .await
        .unwrap();
    let response = client.get("/repo").send().await;
    assert_eq!(response.text().await.unwrap(), "ok");
    let events = events_until("session teardown, success: true").await;
    assert_eq!(events, ["repo dropped", "session teardown, success: true"]);
}
