//! Panics (and hangs) in user code that is not a setup, handler or teardown body: `Drop` of
//! values the runtime holds, `Clone` of values taken by value, `Display` of logged errors,
//! `Serialize` of a `Json` response, background tasks' futures, streamed bodies, a tower
//! layer's body. Found by a walk (each failed 3 runs of 3 before the runtime caught them): a
//! panic there unwound through the connection's task, and the request lost its response, a
//! teardown, or a truthful outcome. Each scenario checks over a real server (and HTTP/2 or the
//! test client where it differs) that the client gets its answer, the connection serves the
//! next request, every completed setup is torn down exactly once with a truthful outcome, the
//! counters return to zero, `settle` and `shutdown` end, and no connection task panicked.

mod common;

use std::sync::{Mutex, Once};
use std::time::Duration;

use common::{describe, events, log, serial, within};
use di_runtime::Body;
use di_runtime::prelude::*;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ------------------------------------------------------------------ helpers

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct W;
impl std::io::Write for W {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        tracing_subscriber::fmt()
            .with_writer(|| W)
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .init();
    });
}

fn take_logs() -> String {
    String::from_utf8_lossy(&std::mem::take(
        &mut *LOGS.lock().unwrap_or_else(|e| e.into_inner()),
    ))
    .into_owned()
}

/// Two requests on one keep-alive HTTP/1 connection: `first`, then `GET /ok` with
/// `connection: close`; all the server sent until it closed (8 s bound).
async fn two_on_one(addr: std::net::SocketAddr, first: &str) -> String {
    let mut socket = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
    socket
        .write_all(format!("GET {first} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // Let the first be answered before the second is sent (no pipelining subtleties).
    let mut buf = vec![0u8; 65536];
    let mut all = Vec::new();
    let _ = tokio::time::timeout(Duration::from_millis(700), async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let _ = socket
        .write_all(b"GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&all).into_owned()
}

async fn fresh_ok(addr: std::net::SocketAddr) -> String {
    let mut socket = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
    socket
        .write_all(b"GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut all = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut all)).await;
    String::from_utf8_lossy(&all).into_owned()
}

#[depends]
async fn ok() -> &'static str {
    "ok"
}

/// A request-scope generator that logs how it was torn down.
struct Conn;
#[depends]
async fn conn(y: Yield<Conn>) {
    log("conn:up");
    let (_c, outcome) = y.provide(Conn).await;
    log(format!("conn:down {}", describe(&outcome)));
}

/// A handler-scope generator that logs how it was torn down.
struct Tx;
#[depends(scope = "handler")]
async fn tx(y: Yield<Tx>) {
    log("tx:up");
    let (_t, outcome) = y.provide(Tx).await;
    log(format!("tx:down {}", describe(&outcome)));
}

/// Prints a summary of the state after a scenario, and checks the invariants; `problems`
/// collects what broke (the test fails at its end, after everything was printed).
async fn check_server(
    name: &str,
    server: di_runtime::Server,
    expect_conn_down: usize,
    problems: &mut Vec<String>,
) {
    let settled = tokio::time::timeout(Duration::from_secs(5), server.settle())
        .await
        .is_ok();
    let m = server.metrics();
    eprintln!(
        "[{name}] settled {settled} setups {} teardowns {:?} in_flight {} teardowns_in_flight {} tpanics {} bgpanics {}",
        m.setups,
        m.teardowns,
        m.requests_in_flight,
        m.teardowns_in_flight,
        m.teardown_panics,
        m.background_task_panics
    );
    let shut = tokio::spawn(async move {
        tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await
    })
    .await;
    let shut_ok = matches!(shut, Ok(Ok(())));
    eprintln!("[{name}] shutdown: {:?}", shut.as_ref().map(|r| r.is_ok()));
    let ev = events();
    eprintln!("[{name}] events {ev:?}");
    let logs = take_logs();
    eprintln!("[{name}] logs:\n{logs}");
    let downs = ev.iter().filter(|e| e.starts_with("conn:down")).count();
    if logs.contains("a connection task panicked") {
        problems.push(format!("[{name}] a task panicked: {logs}"));
    }
    if !settled {
        problems.push(format!("[{name}] settle hung"));
    }
    if m.requests_in_flight != 0 {
        problems.push(format!(
            "[{name}] requests in flight {}",
            m.requests_in_flight
        ));
    }
    if m.teardowns_in_flight != 0 {
        problems.push(format!(
            "[{name}] teardowns in flight {}",
            m.teardowns_in_flight
        ));
    }
    if m.setups != m.teardowns.total() {
        problems.push(format!(
            "[{name}] setups {} != teardowns {}",
            m.setups,
            m.teardowns.total()
        ));
    }
    if downs != expect_conn_down {
        problems.push(format!(
            "[{name}] conn teardowns {downs} (want {expect_conn_down}): {ev:?}"
        ));
    }
    if !shut_ok {
        problems.push(format!("[{name}] shutdown failed: {shut:?}"));
    }
    if ev.iter().any(|e| e.starts_with("conn:down success"))
        && ev
            .iter()
            .any(|e| e.starts_with("bomb") || e.starts_with("stream:drop"))
    {
        // informational only
    }
}

fn soft(problems: &mut Vec<String>, ok: bool, what: String) {
    if !ok {
        eprintln!("PROBLEM {what}");
        problems.push(what);
    }
}

fn done(problems: Vec<String>) {
    assert!(problems.is_empty(), "{problems:#?}");
}

fn assert_generic_500_then_ok(p: &mut Vec<String>, name: &str, answer: &str) {
    eprintln!("[{name}] answer {answer:?}");
    soft(
        p,
        !answer.contains("secret"),
        format!("[{name}] leaked: {answer}"),
    );
    soft(
        p,
        answer.ends_with("\r\n\r\nok"),
        format!("[{name}] the connection did not serve the next request: {answer:?}"),
    );
}

/// `app` with `/ok` beside its `/x`, bound: `GET /x` then `GET /ok` on one connection, then
/// `/ok` on a new one. `/x` is answered with `status` and leaks nothing, the connection serves
/// the next request, and `conn` is torn down once, with `conn_down` (as `describe` writes it);
/// then [`check_server`]'s checks. Gives back the events the scenario logged.
async fn x_then_ok(name: &str, app: App, status: &str, conn_down: &str) -> Vec<String> {
    init();
    let _s = serial().await;
    take_logs();
    let mut p: Vec<String> = Vec::new();
    let server = within(app.get("/ok", ok).bind("127.0.0.1:0"))
        .await
        .unwrap();
    let addr = server.local_addr();
    let answer = two_on_one(addr, "/x").await;
    eprintln!("[{name}] answer {answer:?}");
    soft(
        &mut p,
        answer.starts_with(&format!("HTTP/1.1 {status}")),
        format!("[{name}] not a {status}: {answer:?}"),
    );
    soft(
        &mut p,
        !answer.contains("secret"),
        format!("[{name}] leaked: {answer:?}"),
    );
    soft(
        &mut p,
        answer.ends_with("\r\n\r\nok"),
        format!("[{name}] keep-alive: {answer:?}"),
    );
    let again = fresh_ok(addr).await;
    soft(
        &mut p,
        again.ends_with("ok"),
        format!("[{name}] new connection: {again:?}"),
    );
    check_server(name, server, 1, &mut p).await;
    let ev = events();
    soft(
        &mut p,
        ev.contains(&format!("conn:down {conn_down}")),
        format!("[{name}] not `conn:down {conn_down}`: {ev:?}"),
    );
    done(p);
    ev
}

// ------------------------------------------------ 1. a plain value whose Drop panics

struct Bomb(&'static str);
impl Drop for Bomb {
    fn drop(&mut self) {
        log(format!("bomb:drop {}", self.0));
        if !std::thread::panicking() {
            panic!("secret drop panic {}", self.0);
        }
    }
}

#[depends]
async fn request_bomb() -> Bomb {
    Bomb("request")
}

#[depends(scope = "handler")]
async fn handler_bomb() -> Bomb {
    Bomb("handler")
}

#[depends]
async fn uses_request_bomb(#[dep(conn)] _c: &Conn, #[dep(request_bomb)] _b: &Bomb) -> &'static str {
    "fine"
}

#[depends]
async fn uses_handler_bomb(
    #[dep(conn)] _c: &Conn,
    #[dep(tx)] _t: &Tx,
    #[dep(handler_bomb)] _b: &Bomb,
) -> &'static str {
    "fine"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_request_value_whose_drop_panics() {
    let app = App::new().get("/x", uses_request_bomb);
    x_then_ok("plain request drop", app, "200", "success 200").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_handler_value_whose_drop_panics() {
    let app = App::new().get("/x", uses_handler_bomb);
    x_then_ok("plain handler drop", app, "200", "success 200").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_request_value_whose_drop_panics_test_client() {
    init();
    let _s = serial().await;
    take_logs();
    let mut p: Vec<String> = Vec::new();
    let client = TestClient::start(
        App::new()
            .get("/x", uses_request_bomb)
            .get("/h", uses_handler_bomb)
            .get("/ok", ok),
    )
    .await
    .unwrap();
    let client = std::sync::Arc::new(client);
    for path in ["/x", "/h"] {
        common::clear();
        let c = std::sync::Arc::clone(&client);
        let sent = tokio::spawn(async move {
            let r = within(c.get(path).send()).await;
            let status = r.status();
            (status, within(r.text()).await.ok())
        })
        .await;
        eprintln!("[tc {path}] {sent:?}");
        soft(
            &mut p,
            sent.is_ok(),
            format!("[tc {path}] the panic escaped into the caller of send()"),
        );
        let settled = tokio::time::timeout(Duration::from_secs(5), client.settle())
            .await
            .is_ok();
        eprintln!("[tc {path}] settled {settled} events {:?}", events());
        soft(
            &mut p,
            events().iter().any(|e| e.starts_with("conn:down")),
            format!("[tc {path}] conn never torn down: {:?}", events()),
        );
        let r = within(client.get("/ok").send()).await;
        soft(&mut p, r.status() == 200, "[tc] /ok".to_owned());
    }
    let m = client.running().metrics();
    eprintln!("[tc] {m:?}");
    soft(
        &mut p,
        m.requests_in_flight == 0,
        "[tc] in flight".to_owned(),
    );
    soft(
        &mut p,
        m.setups == m.teardowns.total(),
        format!("[tc] setups {} teardowns {}", m.setups, m.teardowns.total()),
    );
    within(std::sync::Arc::into_inner(client).unwrap().shutdown()).await;
    eprintln!("[tc] logs:\n{}", take_logs());
    done(p);
}

// ------------------------------------------------ 2. a value taken by value whose Clone panics

struct BadClone;
impl Clone for BadClone {
    fn clone(&self) -> Self {
        panic!("secret clone panic")
    }
}

#[depends]
async fn bad_clone() -> BadClone {
    BadClone
}

#[depends]
async fn takes_clone(#[dep(conn)] _c: &Conn, #[dep(bad_clone)] _b: BadClone) -> &'static str {
    "fine"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_that_panics() {
    x_then_ok(
        "clone",
        App::new().get("/x", takes_clone),
        "500",
        "panicked",
    )
    .await;
}

// ------------------------------------- 3. an error whose Display panics (logged by the runtime)

#[derive(Debug)]
struct BadDisplay;
impl std::fmt::Display for BadDisplay {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("secret display panic")
    }
}
impl std::error::Error for BadDisplay {}

#[depends]
async fn setup_bad_display(#[dep(conn)] _c: &Conn) -> Result<u8, BadDisplay> {
    Err(BadDisplay)
}

#[depends]
async fn h_setup_bad_display(#[dep(setup_bad_display)] _x: &u8) -> &'static str {
    "never"
}

#[depends]
async fn h_handler_bad_display(#[dep(conn)] _c: &Conn) -> Result<&'static str, BadDisplay> {
    Err(BadDisplay)
}

#[depends(scope = "handler")]
async fn td_bad_display_h(y: Yield<u16>) -> Result<(), BadDisplay> {
    let _ = y.provide(1).await;
    Err(BadDisplay)
}

#[depends]
async fn td_bad_display_r(y: Yield<u32>) -> Result<(), BadDisplay> {
    let _ = y.provide(1).await;
    Err(BadDisplay)
}

#[depends]
async fn h_td_bad_display_h(
    #[dep(conn)] _c: &Conn,
    #[dep(td_bad_display_h)] _x: &u16,
) -> &'static str {
    "fine"
}

#[depends]
async fn h_td_bad_display_r(
    #[dep(conn)] _c: &Conn,
    #[dep(td_bad_display_r)] _x: &u32,
) -> &'static str {
    "fine"
}

#[depends]
async fn h_body_error_bad_display(
    #[dep(conn)] _c: Held<Conn>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, BadDisplay>> + Send + 'static> {
    let _keep = _c;
    StreamBody::new(
        futures_util::stream::iter([Ok("part".to_owned()), Err(BadDisplay)]).map(move |x| {
            let _ = &_keep;
            x
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_whose_display_panics() {
    init();
    let _s = serial().await;
    take_logs();
    let mut p: Vec<String> = Vec::new();
    for path in ["/setup", "/handler", "/td_h", "/td_r", "/body"] {
        common::clear();
        let server = within(
            App::new()
                .get("/setup", h_setup_bad_display)
                .get("/handler", h_handler_bad_display)
                .get("/td_h", h_td_bad_display_h)
                .get("/td_r", h_td_bad_display_r)
                .get("/body", h_body_error_bad_display)
                .get("/ok", ok)
                .bind("127.0.0.1:0"),
        )
        .await
        .unwrap();
        let answer = two_on_one(server.local_addr(), path).await;
        eprintln!("[display {path}] answer {answer:?}");
        soft(
            &mut p,
            !answer.contains("secret"),
            format!("{path}: {answer}"),
        );
        soft(
            &mut p,
            answer.starts_with("HTTP/1.1 "),
            format!("{path}: no response at all: {answer:?}"),
        );
        if path == "/body" {
            // A body that fails half-way cannot be ended as HTTP/1 frames it: the connection
            // is closed after what was sent, as for any error of a stream.
            soft(
                &mut p,
                answer.ends_with("\r\n4\r\npart\r\n"),
                format!("{path}: not cut after its first part: {answer:?}"),
            );
            // The teardown runs after the body's end, in the after-body work, not before the
            // client has read the close: waited for (bounded), not looked for at once.
            let mut torn_down = false;
            for _ in 0..2000 {
                torn_down = events().iter().any(|e| e == "conn:down body_error");
                if torn_down {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            soft(&mut p, torn_down, format!("{path}: {:?}", events()));
        } else {
            soft(
                &mut p,
                answer.ends_with("\r\n\r\nok"),
                format!("{path}: keep-alive connection died: {answer:?}"),
            );
        }
        let bad = events().iter().any(|e| e.contains("client gone"));
        soft(
            &mut p,
            !bad,
            format!("{path}: teardown told client gone: {:?}", events()),
        );
        let again = fresh_ok(server.local_addr()).await;
        soft(
            &mut p,
            again.ends_with("ok"),
            format!("{path} new connection: {again:?}"),
        );
        check_server(&format!("display {path}"), server, 1, &mut p).await;
    }
    done(p);
}

// ------------------------------------------------ 4. a Json response whose Serialize panics

struct BadSer;
impl serde::Serialize for BadSer {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("secret serialize panic")
    }
}

#[depends]
async fn bad_json(#[dep(conn)] _c: &Conn, #[dep(tx)] _t: &Tx) -> Json<BadSer> {
    Json(BadSer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_response_whose_serialize_panics() {
    init();
    let _s = serial().await;
    take_logs();
    let mut p: Vec<String> = Vec::new();
    let server = within(
        App::new()
            .get("/x", bad_json)
            .get("/ok", ok)
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let answer = two_on_one(server.local_addr(), "/x").await;
    soft(
        &mut p,
        answer.starts_with("HTTP/1.1 500"),
        answer.to_string(),
    );
    assert_generic_500_then_ok(&mut p, "serialize", &answer);
    check_server("serialize", server, 1, &mut p).await;
    let ev = events();
    soft(
        &mut p,
        ev.contains(&"tx:down panicked".to_owned()),
        format!("{ev:?}"),
    );
    soft(
        &mut p,
        ev.contains(&"conn:down panicked".to_owned()),
        format!("{ev:?}"),
    );
    done(p);
}

// ------------------------------------------------ 5. a streamed body whose stream's Drop panics

struct BombStream {
    left: u8,
    pend: bool,
    _keep: Option<Held<Conn>>,
}
impl futures_util::Stream for BombStream {
    type Item = Result<String, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.left == 0 {
            if self.pend {
                return std::task::Poll::Pending;
            }
            return std::task::Poll::Ready(None);
        }
        self.left -= 1;
        std::task::Poll::Ready(Some(Ok("chunk;".to_owned())))
    }
}
impl Drop for BombStream {
    fn drop(&mut self) {
        log("stream:drop");
        if !std::thread::panicking() {
            panic!("secret stream drop panic");
        }
    }
}

#[depends]
async fn bomb_stream(#[dep(conn)] c: Held<Conn>, #[dep(tx)] _t: &Tx) -> StreamBody<BombStream> {
    StreamBody::new(BombStream {
        left: 2,
        pend: false,
        _keep: Some(c),
    })
}

#[depends]
async fn bomb_stream_pending(#[dep(conn)] c: Held<Conn>) -> StreamBody<BombStream> {
    StreamBody::new(BombStream {
        left: 1,
        pend: true,
        _keep: Some(c),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_drop_panics_after_its_end() {
    init();
    let _s = serial().await;
    take_logs();
    let mut p: Vec<String> = Vec::new();
    let server = within(
        App::new()
            .get("/x", bomb_stream)
            .get("/ok", ok)
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let answer = two_on_one(addr, "/x").await;
    eprintln!("[stream drop end] answer {answer:?}");
    let again = fresh_ok(addr).await;
    soft(
        &mut p,
        again.ends_with("ok"),
        format!("new connection: {again:?}"),
    );
    let (settled, _) = (
        tokio::time::timeout(Duration::from_secs(3), server.settle()).await,
        (),
    );
    eprintln!("[stream drop end] settled {}", settled.is_ok());
    check_server("stream drop end", server, 1, &mut p).await;
    soft(
        &mut p,
        answer.ends_with("\r\n\r\nok"),
        format!("keep-alive: {answer:?}"),
    );
    done(p);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_drop_panics_when_the_client_goes() {
    init();
    let _s = serial().await;
    take_logs();
    let mut p: Vec<String> = Vec::new();
    let server = within(
        App::new()
            .get("/x", bomb_stream_pending)
            .get("/ok", ok)
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    {
        let mut socket = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
        socket
            .write_all(b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let head = common::read_head(&mut socket).await;
        eprintln!("[stream drop gone] head {head:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = fresh_ok(addr).await;
    soft(
        &mut p,
        again.ends_with("ok"),
        format!("new connection: {again:?}"),
    );
    check_server("stream drop gone", server, 1, &mut p).await;
    soft(
        &mut p,
        events().contains(&"conn:down cancelled client gone".to_owned()),
        "assert".to_owned(),
    );
    done(p);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_drop_panics_http2() {
    init();
    let _s = serial().await;
    take_logs();
    let mut p: Vec<String> = Vec::new();
    let server = within(
        App::new()
            .get("/x", bomb_stream)
            .get("/ok", ok)
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let io = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    let response = within(common::h2_send_get(&mut client, addr, "/x").await).await;
    eprintln!("[h2 stream drop] {response:?}");
    let mut h2_body: Option<Vec<u8>> = None;
    if let Ok(response) = response {
        let mut body = response.into_body();
        let mut got = Vec::new();
        while let Some(chunk) = within(body.data()).await {
            match chunk {
                Ok(c) => got.extend_from_slice(&c),
                Err(e) => {
                    eprintln!("[h2 stream drop] body error {e}");
                    break;
                }
            }
        }
        eprintln!("[h2 stream drop] body {:?}", String::from_utf8_lossy(&got));
        h2_body = Some(got);
    }
    // The same connection still serves.
    let second = within(common::h2_send_get(&mut client, addr, "/ok").await).await;
    eprintln!(
        "[h2 stream drop] second {:?}",
        second.as_ref().map(|r| r.status())
    );
    soft(
        &mut p,
        second.is_ok(),
        "the HTTP/2 connection died".to_string(),
    );
    driver.abort();
    check_server("h2 stream drop", server, 1, &mut p).await;
    let whole = h2_body.as_deref() == Some(b"chunk;chunk;".as_slice());
    let told_success = events().iter().any(|e| e == "conn:down success 200");
    soft(
        &mut p,
        whole || !told_success,
        format!("[h2 stream drop] teardown told success, client got {h2_body:?} and a reset"),
    );
    done(p);
}

// ------------------------------------------------ 6. a background task whose future's Drop panics

/// A task that is ready at once and holds a [`Bomb`], dropped (with the task) after it ran.
struct BombTask {
    _bomb: Option<Bomb>,
}
impl std::future::Future for BombTask {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        log("task:ran");
        std::task::Poll::Ready(())
    }
}
impl Unpin for BombTask {}

#[depends]
async fn adds_bomb_task(
    #[dep(conn)] _c: &Conn,
    #[dep(tx)] _t: &Tx,
    tasks: &BackgroundTasks,
) -> &'static str {
    tasks.add(BombTask {
        _bomb: Some(Bomb("task")),
    });
    tasks.add(async { log("task2:ran") });
    "fine"
}

#[depends]
async fn adds_bomb_task_then_fails(
    #[dep(conn)] _c: &Conn,
    #[dep(tx)] _t: &Tx,
    tasks: &BackgroundTasks,
) -> Result<&'static str, HttpError> {
    tasks.add(BombTask {
        _bomb: Some(Bomb("skipped-task")),
    });
    Err(HttpError::new(StatusCode::CONFLICT, "no"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_task_whose_drop_panics() {
    let app = App::new().get("/x", adds_bomb_task);
    let events = x_then_ok("task drop", app, "200", "success 200").await;
    // The task after it still runs.
    assert!(events.contains(&"task2:ran".to_owned()), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_background_task_whose_drop_panics() {
    let app = App::new().get("/x", adds_bomb_task_then_fails);
    x_then_ok("skipped task drop", app, "409", "handler_error 409").await;
}

// ------------------------------------------------ 7. app scope: a Drop that panics at shutdown

struct AppBomb;
impl Drop for AppBomb {
    fn drop(&mut self) {
        log("appbomb:drop");
        if !std::thread::panicking() {
            panic!("secret app drop panic");
        }
    }
}
struct Pool;

#[depends(scope = "app")]
async fn app_pool(y: Yield<Pool>) {
    log("pool:up");
    let (_p, outcome) = y.provide(Pool).await;
    log(format!("pool:down {}", describe(&outcome)));
}

#[depends(scope = "app")]
async fn app_bomb(#[dep(app_pool)] _p: &Pool) -> AppBomb {
    log("appbomb:up");
    AppBomb
}

#[depends(scope = "app")]
async fn app_after(#[dep(app_bomb)] _b: &AppBomb, y: Yield<u64>) {
    let (_x, outcome) = y.provide(7).await;
    log(format!("after:down {}", describe(&outcome)));
}

#[depends]
async fn uses_app(#[dep(app_after)] _a: &u64, #[dep(app_bomb)] _b: &AppBomb) -> &'static str {
    "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_value_whose_drop_panics_at_shutdown() {
    init();
    let _s = serial().await;
    take_logs();
    let mut p: Vec<String> = Vec::new();
    let server = within(App::new().get("/ok", uses_app).bind("127.0.0.1:0"))
        .await
        .unwrap();
    let again = fresh_ok(server.local_addr()).await;
    soft(&mut p, again.ends_with("ok"), format!("{again:?}"));
    let shut = tokio::spawn(async move {
        tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await
    })
    .await;
    eprintln!(
        "[app drop] shutdown joined: {:?}",
        shut.as_ref().map(|r| r.is_ok())
    );
    eprintln!("[app drop] events {:?}", events());
    eprintln!("[app drop] logs:\n{}", take_logs());
    soft(&mut p, shut.is_ok(), "shutdown panicked".to_string());
    let ev = events();
    soft(
        &mut p,
        ev.contains(&"pool:down success 200".to_owned())
            || ev.iter().any(|e| e.starts_with("pool:down")),
        format!("{ev:?}"),
    );
    soft(
        &mut p,
        ev.iter().any(|e| e.starts_with("after:down")),
        format!("{ev:?}"),
    );
    done(p);
}

// -------------------------------- 8. hangs at shutdown: a background task, an app teardown

#[depends]
async fn adds_endless_task(#[dep(conn)] _c: &Conn, tasks: &BackgroundTasks) -> &'static str {
    tasks.add(async {
        log("endless:start");
        std::future::pending::<()>().await;
    });
    "fine"
}

#[depends(scope = "app")]
async fn endless_app(y: Yield<i8>) {
    let _ = y.provide(1).await;
    log("endless_app:down");
    std::future::pending::<()>().await;
}

#[depends(scope = "app")]
async fn before_endless(y: Yield<i16>) {
    let _ = y.provide(1).await;
    log("before_endless:down");
}

#[depends]
async fn uses_endless(
    #[dep(before_endless)] _b: &i16,
    #[dep(endless_app)] _a: &i8,
) -> &'static str {
    "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangs_at_shutdown_are_bounded() {
    init();
    let _s = serial().await;
    take_logs();
    let mut p: Vec<String> = Vec::new();
    let server = within(
        App::new()
            .get("/x", adds_endless_task)
            .get("/ok", uses_endless)
            .teardown_timeout(Duration::from_secs(1))
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let answer = two_on_one(server.local_addr(), "/x").await;
    soft(
        &mut p,
        answer.ends_with("\r\n\r\nok"),
        format!("{answer:?}"),
    );
    common::wait_for("endless:start").await;
    let started = std::time::Instant::now();
    let shut = tokio::time::timeout(Duration::from_secs(20), server.shutdown()).await;
    eprintln!(
        "[hang] shutdown ok {} after {:?}; events {:?}\nlogs:\n{}",
        shut.is_ok(),
        started.elapsed(),
        events(),
        take_logs()
    );
    soft(&mut p, shut.is_ok(), "assert".to_owned());
    let ev = events();
    soft(
        &mut p,
        ev.iter().any(|e| e.starts_with("conn:down")),
        format!("{ev:?}"),
    );
    soft(
        &mut p,
        ev.contains(&"before_endless:down".to_owned()),
        format!("{ev:?}"),
    );
    done(p);
}

// ------------------------------------------------ 9. a panic payload whose own Drop panics

struct EvilPayload;
impl Drop for EvilPayload {
    fn drop(&mut self) {
        log("payload:drop");
        if !std::thread::panicking() {
            panic!("secret payload drop panic");
        }
    }
}

#[depends]
async fn panics_with_evil_payload(#[dep(conn)] _c: &Conn) -> &'static str {
    std::panic::panic_any(EvilPayload)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_payload_whose_drop_panics() {
    init();
    let _s = serial().await;
    take_logs();
    let mut p: Vec<String> = Vec::new();
    let server = within(
        App::new()
            .get("/x", panics_with_evil_payload)
            .get("/ok", ok)
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let answer = two_on_one(server.local_addr(), "/x").await;
    eprintln!("[payload] answer {answer:?}");
    let again = fresh_ok(server.local_addr()).await;
    soft(
        &mut p,
        again.ends_with("ok"),
        format!("new connection: {again:?}"),
    );
    check_server("payload", server, 1, &mut p).await;
    soft(
        &mut p,
        answer.starts_with("HTTP/1.1 500"),
        answer.to_string(),
    );
    soft(
        &mut p,
        answer.ends_with("\r\n\r\nok"),
        format!("keep-alive: {answer:?}"),
    );
    done(p);
}

#[allow(dead_code)]
// ------------------- 10. a generator abandoned past its deadline, holding a value whose Drop panics
#[depends(scope = "handler")]
async fn slow_h(y: Yield<u16>) {
    let (_v, _o) = y.provide(1).await;
    let _held = Bomb("abandoned-handler");
    log("slow_h:down");
    tokio::time::sleep(Duration::from_secs(30)).await;
}

#[depends]
async fn slow_r(y: Yield<u32>) {
    let (_v, _o) = y.provide(1).await;
    let _held = Bomb("abandoned-request");
    log("slow_r:down");
    tokio::time::sleep(Duration::from_secs(30)).await;
}

#[depends]
async fn uses_slow_h(#[dep(conn)] _c: &Conn, #[dep(slow_h)] _s: &u16) -> &'static str {
    "fine"
}

#[depends]
async fn uses_slow_r(#[dep(conn)] _c: &Conn, #[dep(slow_r)] _s: &u32) -> &'static str {
    "fine"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_teardown_whose_locals_drop_panics() {
    init();
    let _s = serial().await;
    take_logs();
    let mut p: Vec<String> = Vec::new();
    for path in ["/h", "/r"] {
        common::clear();
        let server = within(
            App::new()
                .get("/h", uses_slow_h)
                .get("/r", uses_slow_r)
                .get("/ok", ok)
                .teardown_timeout(Duration::from_millis(300))
                .bind("127.0.0.1:0"),
        )
        .await
        .unwrap();
        let answer = two_on_one(server.local_addr(), path).await;
        eprintln!("[abandon {path}] answer {answer:?}");
        tokio::time::sleep(Duration::from_millis(600)).await;
        soft(
            &mut p,
            answer.starts_with("HTTP/1.1 "),
            format!("[abandon {path}] no response: {answer:?}"),
        );
        soft(
            &mut p,
            answer.ends_with("\r\n\r\nok"),
            format!("[abandon {path}] keep-alive died: {answer:?}"),
        );
        let again = fresh_ok(server.local_addr()).await;
        soft(
            &mut p,
            again.ends_with("ok"),
            format!("[abandon {path}] new connection: {again:?}"),
        );
        check_server(&format!("abandon {path}"), server, 1, &mut p).await;
    }
    done(p);
}

// ------------------------------------------------ 11. tower layers

fn bomb_body_layer()
-> tower::util::MapResponseLayer<fn(http::Response<Body>) -> http::Response<Body>> {
    fn map(response: http::Response<Body>) -> http::Response<Body> {
        let (parts, inner) = response.into_parts();
        let _ = inner;
        http::Response::from_parts(
            parts,
            Body::from_stream(BombStream {
                left: 2,
                pend: false,
                _keep: None,
            }),
        )
    }
    tower::util::MapResponseLayer::new(map as fn(_) -> _)
}

fn panicking_request_layer()
-> tower::util::MapRequestLayer<fn(http::Request<Body>) -> http::Request<Body>> {
    fn map(request: http::Request<Body>) -> http::Request<Body> {
        if request.uri().path() == "/x" {
            panic!("secret request layer panic");
        }
        request
    }
    tower::util::MapRequestLayer::new(map as fn(_) -> _)
}

#[depends]
async fn conn_fine(#[dep(conn)] _c: &Conn) -> &'static str {
    "fine"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tower_layers_that_panic_outside_the_obvious_places() {
    init();
    let _s = serial().await;
    take_logs();
    let mut p: Vec<String> = Vec::new();
    // A layer whose body's Drop panics, around a route with a request-scope generator.
    {
        common::clear();
        let server = within(
            App::new()
                .get("/x", conn_fine)
                .route_layer(bomb_body_layer())
                .get("/ok", ok)
                .bind("127.0.0.1:0"),
        )
        .await
        .unwrap();
        // The layer puts its body in place of every route's (`/ok`'s too): each answer is
        // its body, sent whole, and the connection serves the next request.
        let answer = two_on_one(server.local_addr(), "/x").await;
        eprintln!("[layer body drop] answer {answer:?}");
        let whole = "\r\n\r\nC\r\nchunk;chunk;\r\n0\r\n\r\n";
        soft(
            &mut p,
            answer.matches(whole).count() == 2,
            format!("[layer body drop] keep-alive died: {answer:?}"),
        );
        let again = fresh_ok(server.local_addr()).await;
        soft(
            &mut p,
            again.ends_with(whole),
            format!("[layer body drop] new connection: {again:?}"),
        );
        check_server("layer body drop", server, 1, &mut p).await;
    }
    // A request layer that panics.
    {
        common::clear();
        let server = within(
            App::new()
                .get("/x", conn_fine)
                .get("/ok", ok)
                .layer(panicking_request_layer())
                .bind("127.0.0.1:0"),
        )
        .await
        .unwrap();
        let answer = two_on_one(server.local_addr(), "/x").await;
        eprintln!("[request layer] answer {answer:?}");
        soft(
            &mut p,
            answer.starts_with("HTTP/1.1 500"),
            format!("[request layer] {answer:?}"),
        );
        soft(
            &mut p,
            !answer.contains("secret"),
            format!("[request layer] leak {answer:?}"),
        );
        soft(
            &mut p,
            answer.ends_with("\r\n\r\nok"),
            format!("[request layer] keep-alive died: {answer:?}"),
        );
        check_server("request layer", server, 0, &mut p).await;
    }
    done(p);
}

// ------------------------------------------------ 12. HTTP/2: a plain value whose Drop panics

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_request_value_whose_drop_panics_http2() {
    init();
    let _s = serial().await;
    take_logs();
    let mut p: Vec<String> = Vec::new();
    let server = within(
        App::new()
            .get("/x", uses_request_bomb)
            .get("/ok", ok)
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let io = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    let response = within(common::h2_send_get(&mut client, addr, "/x").await).await;
    eprintln!(
        "[h2 plain drop] {:?}",
        response.as_ref().map(|r| r.status())
    );
    soft(
        &mut p,
        response.is_ok(),
        format!("[h2 plain drop] no response: {response:?}"),
    );
    let second = within(common::h2_send_get(&mut client, addr, "/ok").await).await;
    eprintln!(
        "[h2 plain drop] second {:?}",
        second.as_ref().map(|r| r.status())
    );
    soft(
        &mut p,
        second.is_ok(),
        "[h2 plain drop] the HTTP/2 connection died".to_owned(),
    );
    driver.abort();
    check_server("h2 plain drop", server, 1, &mut p).await;
    done(p);
}

// ------------- 13. (no panic) when a plain value is dropped, next to its generator's teardown

struct Noisy(&'static str);
impl Drop for Noisy {
    fn drop(&mut self) {
        log(format!("noisy:drop {}", self.0));
    }
}

#[depends]
async fn noisy_on_conn(#[dep(conn)] _c: &Conn) -> Noisy {
    Noisy("request")
}

#[depends(scope = "app")]
async fn noisy_on_pool(#[dep(app_pool)] _p: &Pool) -> Noisy {
    Noisy("app")
}

#[depends]
async fn uses_noisy(
    #[dep(noisy_on_conn)] _n: &Noisy,
    #[dep(noisy_on_pool)] _a: &Noisy,
) -> &'static str {
    "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_value_is_dropped_before_the_teardown_of_what_it_depends_on() {
    init();
    let _s = serial().await;
    take_logs();
    let server = within(App::new().get("/ok", uses_noisy).bind("127.0.0.1:0"))
        .await
        .unwrap();
    let again = fresh_ok(server.local_addr()).await;
    assert!(again.ends_with("ok"), "{again:?}");
    within(server.settle()).await;
    within(server.shutdown()).await;
    let ev = events();
    eprintln!("[order] {ev:?}");
    let p = |e: &str| common::position(&ev, e);
    assert!(
        p("noisy:drop request") < p("conn:down success 200"),
        "{ev:?}"
    );
    assert!(p("noisy:drop app") < p("pool:down app stopped"), "{ev:?}");
}

// ------------- 14. a handler or setup cut by `request_timeout` or the client, whose locals' Drop panics

struct Local(&'static str);
impl Drop for Local {
    fn drop(&mut self) {
        log(format!("local:drop {}", self.0));
        if !std::thread::panicking() {
            panic!("secret local drop {}", self.0);
        }
    }
}

#[depends]
async fn slow_handler(#[dep(conn)] _c: &Conn, #[dep(tx)] _t: &Tx) -> &'static str {
    let _l = Local("handler");
    tokio::time::sleep(Duration::from_secs(3)).await;
    "late"
}

#[depends]
async fn slow_setup(y: Yield<u8>) {
    let _l = Local("setup");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = y.provide(1).await;
}

#[depends]
async fn uses_slow_setup(#[dep(conn)] _c: &Conn, #[dep(slow_setup)] _s: &u8) -> &'static str {
    "late"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_cut_at_request_timeout_whose_locals_drop_panics() {
    let app = App::new()
        .get("/x", slow_handler)
        .request_timeout(Duration::from_millis(200));
    x_then_ok("handler timeout", app, "503", "cancelled timeout").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setup_cut_at_request_timeout_whose_locals_drop_panics() {
    let app = App::new()
        .get("/x", uses_slow_setup)
        .request_timeout(Duration::from_millis(200));
    x_then_ok("setup timeout", app, "503", "cancelled timeout").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_cut_when_the_client_goes_whose_locals_drop_panics() {
    init();
    let _s = serial().await;
    take_logs();
    let mut p: Vec<String> = Vec::new();
    let server = within(
        App::new()
            .get("/x", slow_handler)
            .get("/ok", ok)
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = fresh_ok(addr).await;
    soft(
        &mut p,
        again.ends_with("ok"),
        format!("new connection: {again:?}"),
    );
    let ev = events();
    soft(
        &mut p,
        ev.iter().any(|e| e.starts_with("conn:down cancelled")),
        format!("conn cancelled: {ev:?}"),
    );
    check_server("handler client gone", server, 1, &mut p).await;
    done(p);
}
