//! A second review of the request lifecycle core (DESIGN.md's contract, items 5 to 8), line by
//! line: each place the runtime itself lets go of a user's future or value, each cancellation
//! point, checked for a teardown lost, run twice or told an outcome that is not what happened,
//! and for a panic of user code unwinding into whoever dropped the request.

mod common;

use std::time::Duration;

use common::{describe, events, log, serial};
use di_runtime::TestClient;
use di_runtime::prelude::*;

// ---------------------------------------------------------------- shared

/// A `request`-scope generator that logs how it was torn down.
struct Conn;

#[depends]
async fn conn(y: Yield<Conn>) {
    log("conn:up");
    let (_c, outcome) = y.provide(Conn).await;
    log(format!("conn:down {}", describe(&outcome)));
}

/// Sends `GET path` to `service` and drops the request once a setup waits: the client gone
/// (or a tower layer's timeout) where the setup waited. Fails the test if the request did not
/// wait, or if its drop panicked.
async fn drop_while_a_setup_waits(service: &di_runtime::AppService, path: &str) {
    use std::future::Future;
    let request = http::Request::get(path)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let mut pending = service.call_request(request);
    let waiting = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::pin::Pin::new(&mut pending).poll(cx).is_pending())
    })
    .await;
    assert!(waiting, "{path}: the setup waits");
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(pending)));
    assert!(dropped.is_ok(), "{path}: the drop of the request panicked");
}

// ---------------------------------------------------------------- tasks added after the last teardown

/// A `request`-scope generator whose teardown (the request's last) adds a task (a mail to
/// send once the session is closed), which adds one more (its retry).
#[depends]
async fn session_with_follow_up(tasks: BackgroundTasks, y: Yield<u8>) {
    let (_, outcome) = y.provide(1).await;
    log(format!("session:down {}", describe(&outcome)));
    let more = tasks.clone();
    tasks.add(async move {
        log("mail");
        more.add(async { log("mail retry") });
    });
}

#[depends]
async fn follow_up(#[dep(session_with_follow_up)] _s: &u8) -> &'static str {
    "ok"
}

/// A task added by a task runs after it, wherever in the request the first was added: after
/// the last `request`-scope teardown too (the run pauses after each teardown that added
/// tasks, the last one included, and looks at the list again after each round of them).
#[tokio::test]
async fn a_task_added_by_a_task_of_the_last_teardown_runs() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/x", follow_up))
        .await
        .unwrap();
    let text = client.get("/x").send().await.text().await.unwrap();
    assert_eq!(text, "ok");
    common::guard("settle", client.settle()).await;
    assert_eq!(events(), ["session:down success 200", "mail", "mail retry"]);
    client.shutdown().await;
}

// ---------------------------------------------------------------- a setup cut mid-way

/// A local whose `Drop` panics (a blocking client dropped inside the runtime does).
struct PanicsOnDrop(&'static str);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        log(format!("{}:drop", self.0));
        if !std::thread::panicking() {
            panic!("secret setup local drop panic");
        }
    }
}

/// A generator whose setup waits (for a pool's connection) holding such a local.
#[depends]
async fn stuck_generator(#[dep(conn)] _c: &Conn, y: Yield<u8>) {
    let _client = PanicsOnDrop("generator");
    log("generator:waiting");
    std::future::pending::<()>().await;
    let _ = y.provide(1).await;
}

#[depends]
async fn after_stuck_generator(#[dep(stuck_generator)] _s: &u8) -> &'static str {
    "never"
}

/// A plain dependency whose setup waits holding such a local.
#[depends]
async fn stuck_plain(#[dep(conn)] _c: &Conn) -> u16 {
    let _client = PanicsOnDrop("plain");
    log("plain:waiting");
    std::future::pending::<()>().await;
    1
}

#[depends]
async fn after_stuck_plain(#[dep(stuck_plain)] _s: &u16) -> &'static str {
    "never"
}

/// A request dropped (its client gone, a tower layer's timeout) while a setup waits: the
/// setup's future, cut there, is dropped inside a catch, as a handler's or a setup cut by the
/// request timeout is. Its local's `Drop` panicked out of the request's drop, into whoever
/// dropped it (hyper's connection task, a tower layer, which then answered a generic 500 and
/// told the teardowns a panic instead of its timeout); what was set up before is still torn
/// down once, told the client went away.
#[tokio::test]
async fn a_setup_cut_while_it_waits_is_dropped_inside_a_catch() {
    let _serial = serial().await;
    let client = TestClient::start(
        App::new()
            .get("/generator", after_stuck_generator)
            .get("/plain", after_stuck_plain),
    )
    .await
    .unwrap();
    let service = client.running().service();
    for (path, which) in [("/generator", "generator"), ("/plain", "plain")] {
        common::clear();
        drop_while_a_setup_waits(&service, path).await;
        common::guard("settle", client.settle()).await;
        assert_eq!(
            events(),
            [
                "conn:up".to_owned(),
                format!("{which}:waiting"),
                format!("{which}:drop"),
                "conn:down cancelled client gone".to_owned(),
            ],
            "{path}"
        );
    }
    assert_eq!(client.running().metrics().requests_in_flight, 0);
    client.shutdown().await;
}

/// The same setup behind a tower layer's timeout, which drops the app's future where it
/// waits and answers in its place: the client gets the layer's 408 and what was set up is told
/// the timeout. The setup's local panicked out of that drop, into the layer: the client got a
/// generic 500 and the teardowns were told a panic.
#[tokio::test]
async fn a_setup_cut_by_a_layers_timeout_whose_local_panics_in_drop_is_the_layers_answer() {
    let _serial = serial().await;
    let app = App::new().get("/generator", after_stuck_generator).layer(
        tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(50),
        ),
    );
    let client = TestClient::start(app).await.unwrap();
    let response = common::guard("the answer", client.get("/generator").send()).await;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    common::guard("settle", client.settle()).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{text}");
    assert!(!text.contains("secret"), "{text}");
    assert_eq!(
        events(),
        [
            "conn:up",
            "generator:waiting",
            "generator:drop",
            "conn:down cancelled timeout"
        ]
    );
    client.shutdown().await;
}

// ---------------------------------------------------------------- inputs never taken

/// A request input of the user's (an extractor holding a client) whose `Drop` panics.
struct Ticket;

impl di_runtime::FromRequest for Ticket {
    fn from_request(_: &di_runtime::RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(Ticket)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        log("ticket:drop");
        if !std::thread::panicking() {
            panic!("secret input drop panic");
        }
    }
}

/// A setup that refuses the request (a missing key): the handler never takes its input. Of
/// `handler` scope: a plain value of `request` scope would keep the request's values until
/// the body's end, and let them go there (inside a catch already).
#[depends(scope = "handler")]
async fn refuses(#[dep(conn)] _c: &Conn) -> Result<u8, HttpError> {
    Err(HttpError::new(StatusCode::UNAUTHORIZED, "no key"))
}

#[depends]
async fn takes_ticket_after_refusal(#[dep(refuses)] _r: &u8, ticket: Ticket) -> &'static str {
    drop(ticket);
    "never"
}

#[depends]
async fn takes_ticket_after_stuck(#[dep(stuck_generator)] _s: &u8, ticket: Ticket) -> &'static str {
    drop(ticket);
    "never"
}

/// An input the handler never took (a setup refused the request first) is let go of inside a
/// catch: its `Drop` panicked in the request's own future as it ended, which lost the 401 (the
/// test client's call panicked; over a socket, the connection's task, with the answer).
#[tokio::test]
async fn an_input_never_taken_whose_drop_panics_loses_neither_the_answer_nor_a_teardown() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/x", takes_ticket_after_refusal))
        .await
        .unwrap();
    let answer = common::guard("the answer", async {
        let service = client.running().service();
        tokio::spawn(async move {
            let request = http::Request::get("/x")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap();
            service.call_request(request).await.status()
        })
        .await
    })
    .await;
    assert_eq!(
        answer.expect("the request did not panic"),
        StatusCode::UNAUTHORIZED
    );
    common::guard("settle", client.settle()).await;
    assert_eq!(
        events(),
        ["conn:up", "ticket:drop", "conn:down setup_failed refuses"]
    );
    client.shutdown().await;
}

/// The same input, on a request dropped while a setup waits: let go of inside a catch, and
/// what was set up torn down once, told the client went away.
#[tokio::test]
async fn an_input_never_taken_by_a_request_dropped_mid_setup_is_dropped_inside_a_catch() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/x", takes_ticket_after_stuck))
        .await
        .unwrap();
    let service = client.running().service();
    drop_while_a_setup_waits(&service, "/x").await;
    common::guard("settle", client.settle()).await;
    let events = events();
    assert_eq!(common::count(&events, "ticket:drop"), 1, "{events:?}");
    assert_eq!(
        common::count(&events, "conn:down cancelled client gone"),
        1,
        "{events:?}"
    );
    client.shutdown().await;
}

#[derive(serde::Deserialize)]
struct Page {
    #[allow(dead_code, reason = "read only to be required")]
    page: u32,
}

#[depends]
async fn takes_ticket_and_page(ticket: Ticket, Query(_page): Query<Page>) -> &'static str {
    drop(ticket);
    "never"
}

/// An input extracted beside another that is bad: the request's answer is the 422 listing
/// the bad one. The good input, let go of with the answer's making, was dropped inside the
/// extraction's own catch: its `Drop`'s panic was taken for the extraction's, and the client
/// got a generic 500 for its bad query.
#[tokio::test]
async fn an_input_beside_a_bad_one_whose_drop_panics_leaves_the_422() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/x", takes_ticket_and_page))
        .await
        .unwrap();
    let response = client.get("/x?page=many").send().await;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("page"), "{text}");
    assert_eq!(events(), ["ticket:drop"]);
    client.shutdown().await;
}
