//! A code review of the server's configuration and operations, as an operator running it in
//! production sees them: settings that would make the server unusable, what the `metrics`
//! export counts, and what the log lines of the server say.

mod common;

use std::time::Duration;

use di_runtime::prelude::*;

#[depends]
async fn hello() -> &'static str {
    "hello"
}

/// The problems `App::check` finds in `app`, one per line.
fn problems(app: &App) -> Vec<String> {
    app.check()
        .expect_err("the app must be refused")
        .problems()
        .to_vec()
}

// ------------------------------------------------------------------ settings that stop it all

/// `max_in_flight(0)` was accepted: the server started, and every request was shed with 503,
/// none ever handled. `check` refuses it, naming the setting and what to write.
#[tokio::test]
async fn a_zero_max_in_flight_is_refused_with_what_to_write() {
    let app = App::new().get("/", hello).max_in_flight(0);
    assert_eq!(
        problems(&app),
        [
            "`App::max_in_flight(0)`: every request would be shed with 503, none ever handled; give the number of requests handled at once (1 or more), or leave it unset for no limit"
        ]
    );
    assert!(
        TestClient::start(app).await.is_err(),
        "start refuses it too"
    );

    // One is a limit like any other.
    let client = TestClient::start(App::new().get("/", hello).max_in_flight(1))
        .await
        .expect("starts");
    assert_eq!(client.get("/").send().await.status(), 200);
    client.shutdown().await;
}

/// `send_timeout(Duration::ZERO)` was accepted: every response whose client had not taken a
/// frame by the connection's next look was cut. `check` refuses it, as it refuses a zero
/// idle or header-read timeout.
#[tokio::test]
async fn a_zero_send_timeout_is_refused_with_what_to_write() {
    let app = App::new().get("/", hello).send_timeout(Duration::ZERO);
    assert_eq!(
        problems(&app),
        [
            "`App::send_timeout(Duration::ZERO)`: every response the client does not take at once would be cut, its connection closed; give the time a client may take nothing of a response (default 60 s)"
        ]
    );
    let refused = App::new()
        .get("/", hello)
        .send_timeout(Duration::ZERO)
        .bind("127.0.0.1:0")
        .await;
    assert!(refused.is_err(), "bind refuses it too");
    App::new()
        .get("/", hello)
        .send_timeout(Duration::from_millis(1))
        .check()
        .expect("a short one is a time like any other");
}
