//! Interrupting the start of an app: a shutdown signal while `app` scope is being set up, a
//! start whose future is dropped (`tokio::time::timeout` around `App::bind`), and a start that
//! fails. In each, every `app`-scope dependency whose setup completed is torn down exactly
//! once, in reverse order; the one cut in its setup never is. The real signals (SIGTERM,
//! SIGINT) are sent to a child process running `App::serve`, never to the test binary.

mod common;

use std::time::{Duration, Instant};

use common::{events, log, serial, wait_for};
use di_runtime::prelude::*;

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::SetupFailed { dependency, .. } => format!("setup-failed {dependency}"),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        other => other.to_string(),
    }
}

// `first` <- `second` <- `slow_third`: set up in that order.

#[depends(scope = "app")]
async fn first(y: Yield<u8>) {
    log("first:open");
    let (_, outcome) = y.provide(1).await;
    log(format!("first:close {}", describe(&outcome)));
}

#[depends(scope = "app")]
async fn second(#[dep(first)] _f: &u8, y: Yield<u8>) {
    log("second:open");
    let (_, outcome) = y.provide(2).await;
    log(format!("second:close {}", describe(&outcome)));
}

/// A pool that takes a minute to connect.
#[depends(scope = "app")]
async fn slow_third(#[dep(second)] _s: &u8, y: Yield<u8>) {
    log("third:open");
    tokio::time::sleep(Duration::from_secs(60)).await;
    log("third:connected");
    let (_, outcome) = y.provide(3).await;
    log(format!("third:close {}", describe(&outcome)));
}

#[depends]
async fn uses_slow(#[dep(slow_third)] t: &u8) -> String {
    t.to_string()
}

const TORN_DOWN: [&str; 5] = [
    "first:open",
    "second:open",
    "third:open",
    "second:close cancelled shutdown",
    "first:close cancelled shutdown",
];

#[tokio::test]
async fn a_shutdown_signal_during_app_setup_tears_down_what_was_set_up_and_serve_returns() {
    let _serial = serial().await;
    let app = App::new().get("/", uses_slow);
    let started = Instant::now();
    let served = tokio::time::timeout(
        Duration::from_secs(10),
        app.serve_with_shutdown("127.0.0.1:0", wait_for("third:open")),
    )
    .await
    .expect("serve returns once the signal came, without waiting for the setup to end");
    assert!(served.is_ok(), "{served:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Torn down before `serve` returned, not later in the background.
    assert_eq!(events(), TORN_DOWN);
}

#[tokio::test]
async fn a_shutdown_signal_before_the_start_tears_down_nothing_and_serve_returns() {
    let _serial = serial().await;
    let app = App::new().get("/", uses_slow);
    let served = tokio::time::timeout(
        Duration::from_secs(10),
        app.serve_with_shutdown("127.0.0.1:0", async {}),
    )
    .await
    .expect("serve returns");
    assert!(served.is_ok(), "{served:?}");
    let events = events();
    // Set up (the start may get that far before it looks at the signal) and torn down alike.
    for name in ["first", "second"] {
        let opened = events.iter().any(|e| *e == format!("{name}:open"));
        let closed = events
            .iter()
            .any(|e| *e == format!("{name}:close cancelled shutdown"));
        assert_eq!(opened, closed, "{events:?}");
    }
    assert!(
        !events.iter().any(|e| e.starts_with("third:close")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_start_dropped_during_app_setup_hands_its_teardowns_over() {
    let _serial = serial().await;
    let app = App::new().get("/", uses_slow);
    let bound = tokio::time::timeout(Duration::from_millis(300), app.bind("127.0.0.1:0")).await;
    assert!(bound.is_err(), "the start cannot end within the timeout");
    wait_for("first:close cancelled shutdown").await;
    assert_eq!(events(), TORN_DOWN);
}

#[tokio::test]
async fn a_start_dropped_by_app_start_hands_its_teardowns_over() {
    let _serial = serial().await;
    let app = App::new().get("/", uses_slow);
    let started = tokio::time::timeout(Duration::from_millis(300), app.start()).await;
    assert!(started.is_err(), "the start cannot end within the timeout");
    wait_for("first:close cancelled shutdown").await;
    assert_eq!(events(), TORN_DOWN);
}

/// A start dropped by a runtime that ends at once (the end of `main`): the teardowns it hands
/// over are finished where the runtime drops their task.
#[test]
fn a_start_dropped_by_a_runtime_that_ends_still_tears_down() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let _serial = runtime().block_on(serial());
    let app = runtime();
    let bound = app.block_on(async {
        let app = App::new().get("/", uses_slow);
        tokio::time::timeout(Duration::from_millis(300), app.bind("127.0.0.1:0")).await
    });
    assert!(bound.is_err(), "the start cannot end within the timeout");
    drop(app);
    assert_eq!(events(), TORN_DOWN);
}

// ---------------------------------------------------------------- real signals, in a child

/// Set in the child process of the signal tests: which signal it is sent.
#[cfg(unix)]
const SIGNAL_CHILD: &str = "DI_STARTUP_SIGNAL_CHILD";

/// The child of `a_sigterm_during_app_setup_..` and `a_ctrl_c_during_app_setup_..`: serves
/// with `App::serve`, whose `app` scope never finishes its setup, and prints what happened
/// once `serve` returned. Does nothing in a normal run.
#[cfg(unix)]
#[tokio::test]
async fn signal_child_serve() {
    if std::env::var_os(SIGNAL_CHILD).is_none() {
        return;
    }
    let app = App::new().get("/", uses_slow);
    let serving = tokio::spawn(app.serve("127.0.0.1:0"));
    wait_for("third:open").await;
    println!("SETTING UP");
    let served = tokio::time::timeout(Duration::from_secs(20), serving)
        .await
        .expect("serve returns once signalled")
        .unwrap();
    for event in events() {
        println!("EVENT {event}");
    }
    println!("SERVED {served:?}");
}

/// Runs `signal_child_serve` in a child process, sends it `signal` (`kill -SIGNAL`) while its
/// `app` scope is being set up, and returns its output once it has ended (successfully).
#[cfg(unix)]
async fn signal_during_setup(signal: &str) -> Vec<String> {
    let (mut child, mut stdout) = child("signal_child_serve", SIGNAL_CHILD);
    assert_eq!(line_starting(&mut stdout, "SETTING UP").await, "SETTING UP");
    kill(&child, signal).await;
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the child ends promptly")
        .unwrap();
    let mut lines = Vec::new();
    while let Ok(Some(line)) = stdout.next_line().await {
        // Not the test harness's lines.
        if line.starts_with("EVENT ") || line.starts_with("SERVED ") {
            lines.push(line);
        }
    }
    assert!(status.success(), "{status}: {lines:#?}");
    lines
}

/// The lines a child test writes to its standard output.
#[cfg(unix)]
type ChildLines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>;

/// Runs this binary's test `name` alone in a child process, with the variable `marker` set
/// (which makes it do its work), its standard output read by lines.
#[cfg(unix)]
fn child(name: &str, marker: &str) -> (tokio::process::Child, ChildLines) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture"])
        .env(marker, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    (child, stdout)
}

/// The child's first line that starts with `prefix` (within 60 s, before it ends).
#[cfg(unix)]
async fn line_starting(stdout: &mut ChildLines, prefix: &str) -> String {
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if line.starts_with(prefix) {
                return line;
            }
        }
        panic!("the child ended before it wrote `{prefix}`");
    })
    .await
    .unwrap_or_else(|_| panic!("the child wrote no `{prefix}` in time"))
}

/// Sends `signal` (`TERM`, `INT`) to the child.
#[cfg(unix)]
async fn kill(child: &tokio::process::Child, signal: &str) {
    let killed = tokio::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().unwrap().to_string()])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
}

#[cfg(unix)]
fn expected_child_output() -> Vec<String> {
    TORN_DOWN
        .iter()
        .map(|event| format!("EVENT {event}"))
        .chain(["SERVED Ok(())".to_owned()])
        .collect()
}

#[cfg(unix)]
#[tokio::test]
async fn a_sigterm_during_app_setup_tears_down_what_was_set_up_and_serve_returns() {
    if std::env::var_os(SIGNAL_CHILD).is_some() {
        return;
    }
    assert_eq!(signal_during_setup("TERM").await, expected_child_output());
}

#[cfg(unix)]
#[tokio::test]
async fn a_ctrl_c_during_app_setup_tears_down_what_was_set_up_and_serve_returns() {
    if std::env::var_os(SIGNAL_CHILD).is_some() {
        return;
    }
    assert_eq!(signal_during_setup("INT").await, expected_child_output());
}

/// Set in the child process of `a_serve_that_cannot_bind_leaves_the_signals_alone`.
#[cfg(unix)]
const BIND_CHILD: &str = "DI_STARTUP_BIND_CHILD";

/// The child of `a_serve_that_cannot_bind_leaves_the_signals_alone`: `App::serve` on an
/// address already taken, then a wait, as a program that retries would. Does nothing in a
/// normal run.
#[cfg(unix)]
#[tokio::test]
async fn bind_child_serve() {
    if std::env::var_os(BIND_CHILD).is_none() {
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let served = App::new()
        .get("/", uses_slow)
        .serve(taken.local_addr().unwrap())
        .await;
    println!("SERVED {}", if served.is_err() { "error" } else { "ok" });
    tokio::time::sleep(Duration::from_secs(30)).await;
    println!("STILL HERE");
}

/// `serve` listens for Ctrl-C and SIGTERM only once its socket is bound: one that cannot bind
/// (the address in use) leaves the process's signals as they were, so SIGTERM still ends a
/// program that goes on (to retry, say). tokio never gives a signal back once it listens for it.
#[cfg(unix)]
#[tokio::test]
async fn a_serve_that_cannot_bind_leaves_the_signals_alone() {
    use std::os::unix::process::ExitStatusExt as _;
    if std::env::var_os(SIGNAL_CHILD).is_some() || std::env::var_os(BIND_CHILD).is_some() {
        return;
    }
    let (mut child, mut stdout) = child("bind_child_serve", BIND_CHILD);
    assert_eq!(line_starting(&mut stdout, "SERVED ").await, "SERVED error");
    kill(&child, "TERM").await;
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("SIGTERM ends the child: nothing listens for it any more")
        .unwrap();
    assert_eq!(status.signal(), Some(15), "{status}");
}

// ---------------------------------------------------------------- a start that fails

#[depends(scope = "app")]
async fn broken(#[dep(second)] _s: &u8) -> Result<u8, std::io::Error> {
    log("broken:open");
    Err(std::io::Error::other("database unreachable"))
}

#[depends]
async fn uses_broken(#[dep(broken)] b: &u8) -> String {
    b.to_string()
}

#[tokio::test]
async fn an_app_setup_failure_tears_down_those_before_it_in_reverse_and_bind_fails() {
    let _serial = serial().await;
    let error = App::new()
        .get("/", uses_broken)
        .bind("127.0.0.1:0")
        .await
        .unwrap_err();
    assert!(matches!(error, di_runtime::ServeError::Build(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("`broken` (app scope) failed to set up"),
        "{message}"
    );
    assert_eq!(
        events(),
        [
            "first:open",
            "second:open",
            "broken:open",
            "second:close setup-failed broken",
            "first:close setup-failed broken",
        ]
    );
}

#[depends(scope = "app")]
async fn refused_store() -> Result<u8, HttpError> {
    Err(HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no database configured",
    ))
}

#[depends]
async fn uses_refused_store(#[dep(refused_store)] a: &u8) -> String {
    a.to_string()
}

/// A start error says why each `app`-scope setup failed as a person starting the app reads
/// it: the error's text, without the HTTP status the error would have had as a response
/// ("500 Internal Server Error (caused by: database unreachable)" was the message of a `?` on
/// an `io::Error`).
#[tokio::test]
async fn a_start_error_says_why_without_an_http_status() {
    let _serial = serial().await;
    let error = App::new()
        .get("/", uses_broken)
        .start()
        .await
        .expect_err("the start fails");
    assert_eq!(
        error.problems(),
        ["`broken` (app scope) failed to set up: database unreachable"]
    );
    common::clear();
    let error = App::new()
        .get("/", uses_refused_store)
        .start()
        .await
        .expect_err("the start fails");
    assert_eq!(
        error.problems(),
        ["`refused_store` (app scope) failed to set up: no database configured"]
    );
    common::clear();
}

/// Its teardown takes a while (closing a pool).
#[depends(scope = "app")]
async fn slow_close(#[dep(first)] _f: &u8, y: Yield<u8>) {
    log("slow-close:open");
    let (_, outcome) = y.provide(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    log(format!("slow-close:close {}", describe(&outcome)));
}

#[depends(scope = "app")]
async fn broken_after_slow_close(#[dep(slow_close)] _s: &u8) -> Result<u8, std::io::Error> {
    log("broken:open");
    Err(std::io::Error::other("database unreachable"))
}

#[depends]
async fn uses_broken_after_slow_close(#[dep(broken_after_slow_close)] b: &u8) -> String {
    b.to_string()
}

#[tokio::test]
async fn a_start_dropped_while_it_tears_down_a_failed_start_finishes_the_teardowns() {
    let _serial = serial().await;
    let app = App::new().get("/", uses_broken_after_slow_close);
    let bound = tokio::time::timeout(Duration::from_millis(200), app.bind("127.0.0.1:0")).await;
    assert!(bound.is_err(), "the teardown cannot end within the timeout");
    wait_for("first:close setup-failed broken_after_slow_close").await;
    assert_eq!(
        events(),
        [
            "first:open",
            "slow-close:open",
            "broken:open",
            "slow-close:close setup-failed broken_after_slow_close",
            "first:close setup-failed broken_after_slow_close",
        ]
    );
}

#[depends]
async fn answers_ok() -> &'static str {
    "ok"
}

/// A server that cannot listen says on which address: "could not listen: 127.0.0.1:PORT:
/// Address already in use (os error 98)". It said "could not listen: Address already in use
/// (os error 98)", which left a user whose app listens on an address from its configuration
/// to guess which one. The error keeps its kind (`AddrInUse`).
#[tokio::test]
async fn a_server_that_cannot_listen_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let error = App::new()
        .get("/", answers_ok)
        .bind(addr)
        .await
        .expect_err("the address is taken");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("could not listen: {addr}: ")),
        "{message}"
    );
    match error {
        di_runtime::ServeError::Io(io) => {
            assert_eq!(io.kind(), std::io::ErrorKind::AddrInUse, "{io}");
        }
        other => panic!("not an I/O error: {other}"),
    }
}
