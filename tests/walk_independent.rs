//! An independent checker's walk: faults over real sockets, in combinations the other suites do
//! not make, each checked against the teardown guarantees (exactly once, the true outcome,
//! `handler` scope before the head, `request` scope after the last byte, places given back, the
//! server still serving): clients that reset their TCP connection (`SO_LINGER` 0) at random byte
//! offsets of streamed responses over HTTP/1 and HTTP/2, a storm of clients gone while they
//! wait for a place, a pipeline cut mid-way, a client gone during a slow commit, a shutdown
//! with every kind of work in flight, a stream that panics beside a sibling stream, a setup
//! that outlasts the request timeout, framing a server in front could read otherwise, and a
//! kept-alive connection reset while it hosts an earlier response's teardown.
//!
//! Random choices come from a fixed seed (`WALK_SEED=n` replays another): what a client does is
//! deterministic, what the server's buffers hold when it does it is not, so each assertion is
//! one that holds whatever the timing (a client that got the whole body implies a success, a
//! success implies the background task ran, and so on). Deadlines are hang guards only.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{book, describe, note, within};
use di_runtime::BodyStream;
use di_runtime::prelude::*;
use futures_util::{StreamExt, stream};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

// ------------------------------------------------------------------ a book of what happened (`common::note`: by the id a request's query carries)

/// The ids of the requests in `book` (0 is the app's `app`-scope value).
fn requests(book: &BTreeMap<u64, Vec<String>>) -> Vec<u64> {
    book.keys().copied().filter(|id| *id != 0).collect()
}

/// Takes the suite for this test (the book and the gates are shared) and clears the book.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    let guard = common::serial().await;
    common::clear_book();
    // Permits a previous test left behind.
    let _ = GATE.forget_permits(usize::MAX);
    let _ = COMMIT.forget_permits(usize::MAX);
    guard
}

fn seed() -> u64 {
    std::env::var("WALK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0fd1)
}

/// xorshift64*: enough to pick offsets.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Waits (hang guard: 10 s) until the app has settled: every setup has its teardown, no
/// request is in progress and no background work is running; then returns the metrics.
async fn settled(server: &di_runtime::Server) -> di_runtime::Metrics {
    for _ in 0..2000 {
        let m = server.metrics();
        if m.setups == m.teardowns.total()
            && m.requests_in_flight == 0
            && m.teardowns_in_flight == 0
        {
            server.settle().await;
            return server.metrics();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the app never settled: {:?}", server.metrics());
}

/// Released by the tests: what a gated body or commit waits for.
static GATE: Semaphore = Semaphore::const_new(0);
static COMMIT: Semaphore = Semaphore::const_new(0);

async fn pass(gate: &Semaphore) {
    gate.acquire().await.expect("never closed").forget();
}

// ------------------------------------------------------------------ the app of the storms

#[derive(Deserialize, Clone, Copy)]
struct Ask {
    id: u64,
    #[serde(default)]
    n: u32,
}

#[depends]
async fn ask(Query(a): Query<Ask>) -> Ask {
    a
}

/// A pooled connection: four at a time unless the test sets another limit.
struct Conn;

#[depends(max_concurrency = 4)]
async fn conn(#[dep(ask)] a: &Ask, y: Yield<Conn>) {
    let id = a.id;
    note(id, "conn:open");
    let (_conn, outcome) = y.provide(Conn).await;
    note(id, format!("conn:close {}", describe(&outcome)));
}

/// A transaction, committed before the head.
#[depends(scope = "handler")]
async fn tx(#[dep(ask)] a: &Ask, y: Yield<u8>) {
    let id = a.id;
    note(id, "tx:open");
    let (_tx, outcome) = y.provide(0).await;
    note(id, format!("tx:close {}", describe(&outcome)));
}

const CHUNK: usize = 1024;

/// `n` chunks of 1 KiB, each made after a yield (every 16th after a millisecond), read from the pooled connection, which the
/// body keeps until its end; a background task for after the body.
#[depends]
async fn export(
    #[dep(ask)] a: &Ask,
    #[dep(tx)] _tx: &mut u8,
    #[dep(conn)] c: Held<Conn>,
    tasks: &BackgroundTasks,
) -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static> {
    let (id, n) = (a.id, a.n);
    tasks.add(async move { note(id, "task") });
    StreamBody::new(stream::unfold((Some(c), 0u32), move |(c, i)| async move {
        if i == n {
            drop(c);
            return None;
        }
        // A body made at the pace of its source, not at once.
        if i % 16 == 15 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        } else {
            tokio::task::yield_now().await;
        }
        let byte = b'a' + (i % 26) as u8;
        Some((Ok(Bytes::from(vec![byte; CHUNK])), (c, i + 1)))
    }))
}

/// A first line, then a line once the test opens the gate, from the pooled connection.
#[depends]
async fn hold(
    #[dep(ask)] a: &Ask,
    #[dep(conn)] c: Held<Conn>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    let id = a.id;
    StreamBody::new(stream::unfold((Some(c), 0u32), move |(c, i)| async move {
        match i {
            0 => Some((Ok(format!("held {id};")), (c, 1))),
            1 => {
                pass(&GATE).await;
                Some((Ok("released;".to_owned()), (c, 2)))
            }
            _ => {
                drop(c);
                None
            }
        }
    }))
}

fn storm_app(limit: usize) -> App {
    App::new()
        .get("/export", export)
        .get("/hold", hold)
        .get("/busy", busy_after)
        .max_concurrency(conn, limit)
        .max_background_teardowns(2 * limit)
        .max_concurrency_wait(Duration::from_secs(1))
}

/// The end of a storm of `storm_app(4)`: once the server has settled, every guarantee of
/// [`check_storm`], some client read a whole body, every setup torn down without an error,
/// and its places whole.
async fn storm_ended_whole(
    server: &di_runtime::Server,
    addr: SocketAddr,
    complete: &BTreeMap<u64, bool>,
) {
    let m = settled(server).await;
    check_storm(&book(), complete);
    assert!(complete.values().any(|c| *c), "no client read a whole body");
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    assert_eq!(
        m.teardown_errors + m.teardown_panics + m.teardown_timeouts,
        0,
        "{m:?}"
    );
    places_are_whole(addr, 4, 1000).await;
}

/// The guarantees every request of a storm keeps, whatever its client did: its generators
/// torn down once each, `tx` (handler scope) before `conn` (request scope), `conn` told a
/// success or that the client went away and nothing else, the background task run exactly
/// when `conn` saw a success and before its teardown, and a client that got the whole body
/// seeing a success.
fn check_storm(book: &BTreeMap<u64, Vec<String>>, complete: &BTreeMap<u64, bool>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for events in book.values() {
        for e in events.iter().filter(|e| e.contains(":close")) {
            *seen.entry(e.as_str()).or_default() += 1;
        }
    }
    let whole = complete.values().filter(|c| **c).count();
    eprintln!(
        "storm: {} requests, {whole} read whole, closes {seen:?}",
        complete.len()
    );
    for (id, events) in book {
        let n = |e: &str| events.iter().filter(|x| *x == e).count();
        let starting = |p: &str| events.iter().filter(|x| x.starts_with(p)).count();
        assert!(n("tx:open") <= 1 && n("conn:open") <= 1, "{id}: {events:?}");
        assert_eq!(
            n("tx:open"),
            starting("tx:close"),
            "{id}: tx exactly once: {events:?}"
        );
        assert_eq!(
            n("conn:open"),
            starting("conn:close"),
            "{id}: conn exactly once: {events:?}"
        );
        let conn_close = events.iter().find(|e| e.starts_with("conn:close"));
        if let Some(close) = conn_close {
            assert!(
                close == "conn:close success 200" || close == "conn:close cancelled client gone",
                "{id}: {events:?}"
            );
            let tx_close = events.iter().position(|e| e.starts_with("tx:close"));
            let conn_at = events.iter().position(|e| e == close).unwrap();
            if let Some(tx_at) = tx_close {
                assert!(tx_at < conn_at, "{id}: handler scope first: {events:?}");
            }
        }
        if let Some(close) = events.iter().find(|e| e.starts_with("tx:close")) {
            assert!(
                close == "tx:close success 200" || close == "tx:close cancelled client gone",
                "{id}: {events:?}"
            );
        }
        let success = conn_close.is_some_and(|c| c == "conn:close success 200");
        assert_eq!(
            n("task"),
            usize::from(success),
            "{id}: the task runs iff success: {events:?}"
        );
        if success {
            let task = events.iter().position(|e| e == "task").unwrap();
            let close = events
                .iter()
                .position(|e| e == "conn:close success 200")
                .unwrap();
            assert!(
                task < close,
                "{id}: the task before request teardown: {events:?}"
            );
        }
    }
    for (id, whole) in complete {
        if *whole {
            let events = book.get(id).cloned().unwrap_or_default();
            assert!(
                events.iter().any(|e| e == "conn:close success 200"),
                "{id}: the client got the whole body, so it was sent: {events:?}"
            );
        }
    }
}

/// `limit` gated streams at once all get their place (none leaked by the storm), and one
/// more gets 503 after the wait (none given back twice); meanwhile `limit` requests owing
/// `request`-scope work all get the background places the streams leave (the app's bound is
/// twice the pool's: none leaked either); then the streams end with a success.
async fn places_are_whole(addr: SocketAddr, limit: usize, first_id: u64) {
    let mut holders = Vec::new();
    for k in 0..limit as u64 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let id = first_id + k;
        s.write_all(
            format!("GET /hold?id={id} HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let head = within(common::read_head(&mut s)).await;
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "holder {id} got no place: {head}"
        );
        holders.push(s);
    }
    let mut extra = TcpStream::connect(addr).await.unwrap();
    extra
        .write_all(b"GET /hold?id=999999 HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = common::read_to_close(&mut extra).await;
    assert!(
        answer.starts_with("HTTP/1.1 503"),
        "one more than the limit got a place: {answer}"
    );
    let busy: Vec<_> = (0..limit as u64)
        .map(|k| {
            let id = first_id + 500 + k;
            tokio::spawn(async move {
                exchange(
                    addr,
                    format!("GET /busy?id={id} HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await
            })
        })
        .collect();
    for answer in busy {
        let answer = within(answer).await.unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "a background place was left taken: {answer}"
        );
    }
    GATE.add_permits(limit);
    for mut s in holders {
        let rest = common::read_to_close(&mut s).await;
        assert!(rest.contains("released;"), "{rest}");
    }
    for k in 0..limit as u64 {
        noted(first_id + 500 + k, "slow:close success 200").await;
    }
    let book = book();
    for k in 0..limit as u64 {
        let events = &book[&(first_id + k)];
        assert_eq!(
            events,
            &["conn:open", "conn:close success 200"],
            "{events:?}"
        );
    }
}

/// One HTTP/1 client of `/export`: reads `cut` bytes of the response (all of it if `None`),
/// then resets the connection. Whether it got the whole response.
async fn h1_export_then_reset(addr: SocketAddr, id: u64, n: u32, cut: Option<usize>) -> bool {
    // `Connection: close`: a 503 (no place in time) ends with the connection too.
    let request =
        format!("GET /export?id={id}&n={n} HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n");
    let (got, _) =
        read_then_reset(addr, &request, cut, |got| got.ends_with(b"\r\n0\r\n\r\n")).await;
    got.starts_with(b"HTTP/1.1 200") && got.ends_with(b"\r\n0\r\n\r\n")
}

/// Sends `request` on a new connection with a small receive buffer (so that the server's
/// writes wait for the client's reads and a reset finds most of the body not yet sent), reads
/// `cut` bytes of the answer (all of it if `None`, or up to where `ended` says it is whole),
/// then resets the connection. What it read, and whether the server closed the connection
/// cleanly before that.
async fn read_then_reset(
    addr: SocketAddr,
    request: &str,
    cut: Option<usize>,
    ended: impl Fn(&[u8]) -> bool,
) -> (Vec<u8>, bool) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    let mut clean_end = false;
    loop {
        let want = match cut {
            Some(cut) if got.len() >= cut => break,
            Some(cut) => (cut - got.len()).min(buf.len()),
            None => buf.len(),
        };
        match within(s.read(&mut buf[..want])).await {
            Ok(0) => {
                clean_end = true;
                break;
            }
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(_) => break,
        }
        if ended(&got) {
            break;
        }
    }
    s.set_zero_linger().unwrap();
    drop(s);
    (got, clean_end)
}

// ------------------------------------------------ 1. HTTP/1 clients reset at random offsets

/// Over HTTP/1, 48 clients, eight at a time against a pool of four, each reads its streamed
/// export up to a random byte (some none: reset while waiting for a place or during setup;
/// some all of it) and then resets the connection. Every request keeps the guarantees of
/// `check_storm`, the counters balance, and afterwards the pool's four places are all free,
/// and still four.
#[tokio::test]
async fn http1_clients_reset_at_random_offsets_of_streams_leave_every_teardown_and_place_whole() {
    let _serial = serial().await;
    let server = storm_app(4).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let mut rng = Rng::new(seed());
    let mut complete = BTreeMap::new();
    for wave in 0..6u64 {
        let mut clients = Vec::new();
        for k in 0..8u64 {
            let id = wave * 8 + k + 1;
            let n = 4 + rng.below(400) as u32;
            let total = n as usize * (CHUNK + 8) + 200;
            let cut = match rng.below(6) {
                0 => None,
                1 => Some(0),
                _ => Some(rng.below(total as u64) as usize),
            };
            clients.push((id, tokio::spawn(h1_export_then_reset(addr, id, n, cut))));
        }
        for (id, client) in clients {
            complete.insert(id, within(client).await.unwrap());
        }
    }
    storm_ended_whole(&server, addr, &complete).await;
    let m = settled(&server).await;
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    within(server.shutdown()).await;
}

// ------------------------------------------------ 2. HTTP/2 streams reset, connections killed

/// One HTTP/2 connection with `streams` exports: each stream reads up to a random byte and
/// is reset (`RST_STREAM`, by dropping its body), or reads all; if `kill` is set the TCP
/// connection is reset (`SO_LINGER` 0) once that many bytes arrived in all, whatever the
/// streams are doing. Which ids got their whole body.
async fn h2_exports(
    addr: SocketAddr,
    ids: Vec<(u64, u32, Option<usize>)>,
    kill: Option<usize>,
) -> Vec<(u64, bool)> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_zero_linger().unwrap();
    let (client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let killed = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut streams = Vec::new();
    for (id, n, cut) in ids {
        let mut client = client.clone();
        let received = received.clone();
        let killed = killed.clone();
        streams.push(tokio::spawn(async move {
            let request = http::Request::get(format!("http://{addr}/export?id={id}&n={n}"))
                .body(())
                .unwrap();
            let ready = std::future::poll_fn(|cx| client.poll_ready(cx)).await;
            if ready.is_err() {
                return (id, false);
            }
            let Ok((response, _)) = client.send_request(request, true) else {
                return (id, false);
            };
            let Ok(response) = response.await else {
                return (id, false);
            };
            if response.status() != 200 {
                return (id, false);
            }
            let mut body = response.into_body();
            let mut got = 0usize;
            loop {
                if cut.is_some_and(|cut| got >= cut) {
                    // Dropping the body resets the stream.
                    return (id, false);
                }
                match body.data().await {
                    None => return (id, true),
                    Some(Err(_)) => return (id, false),
                    Some(Ok(data)) => {
                        got += data.len();
                        let _ = body.flow_control().release_capacity(data.len());
                        let total =
                            received.fetch_add(data.len(), std::sync::atomic::Ordering::SeqCst);
                        if kill.is_some_and(|k| total + data.len() >= k) {
                            killed.notify_one();
                        }
                    }
                }
            }
        }));
    }
    drop(client);
    let mut outcome = Vec::new();
    if kill.is_some() {
        let all = futures_util::future::join_all(streams);
        tokio::pin!(all);
        tokio::select! {
            results = &mut all => {
                outcome = results.into_iter().map(|r| r.unwrap()).collect();
                driver.abort();
            }
            () = killed.notified() => {
                // The TCP connection reset under the streams (the socket dropped with it).
                driver.abort();
                let _ = driver.await;
                for r in within(all).await {
                    let (id, whole) = r.unwrap();
                    outcome.push((id, whole));
                }
            }
        }
    } else {
        for s in streams {
            outcome.push(within(s).await.unwrap());
        }
        driver.abort();
    }
    outcome
}

/// Over HTTP/2, 8 connections of 6 exports each against a pool of four: streams reset at
/// random offsets, some connections reset (TCP `RST`) mid-flight under their streams. The same
/// guarantees as over HTTP/1; the places are whole afterwards.
#[tokio::test]
async fn http2_streams_reset_and_connections_killed_mid_flight_leave_every_teardown_and_place_whole()
 {
    let _serial = serial().await;
    let server = storm_app(4).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let mut rng = Rng::new(seed() ^ 0x2);
    let mut complete = BTreeMap::new();
    for round in 0..2u64 {
        let mut connections = Vec::new();
        for c in 0..4u64 {
            let mut ids = Vec::new();
            for k in 0..6u64 {
                let id = round * 100 + c * 10 + k + 1;
                let n = 4 + rng.below(60) as u32;
                let cut = match rng.below(5) {
                    0 | 1 => None,
                    2 => Some(0),
                    _ => Some(rng.below(n as u64 * CHUNK as u64) as usize),
                };
                ids.push((id, n, cut));
            }
            let kill = (rng.below(3) == 0).then(|| rng.below(40 * CHUNK as u64) as usize);
            connections.push(tokio::spawn(h2_exports(addr, ids, kill)));
        }
        for connection in connections {
            for (id, whole) in within(connection).await.unwrap() {
                complete.insert(id, whole);
            }
        }
    }
    storm_ended_whole(&server, addr, &complete).await;
    within(server.shutdown()).await;
}

// ------------------------------------------------ 3. a storm of clients gone while they wait

/// A pool of one, held by a gated stream; 24 clients (HTTP/1 and HTTP/2) queue for its place
/// and go away while they wait (TCP reset, or `RST_STREAM`). None of them is ever set up,
/// even once the place is free, and the place then goes at once to the next live client:
/// nothing the dead waiters left in the queue holds it back.
#[tokio::test]
async fn clients_gone_while_waiting_for_a_place_are_never_set_up_and_leave_the_queue_clean() {
    let _serial = serial().await;
    let server = storm_app(1)
        .max_concurrency_wait(Duration::from_secs(8))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();

    let mut holder = TcpStream::connect(addr).await.unwrap();
    holder
        .write_all(b"GET /hold?id=1 HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let head = within(common::read_head(&mut holder)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // Queue the waiters: 12 over HTTP/1, 12 streams over one HTTP/2 connection.
    let mut h1 = Vec::new();
    for id in 100..112u64 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET /hold?id={id} HTTP/1.1\r\nhost: w\r\n\r\n").as_bytes())
            .await
            .unwrap();
        h1.push(s);
    }
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;
    let mut h2_waiting = Vec::new();
    for id in 200..212u64 {
        h2_waiting.push(common::h2_send_get(&mut client, addr, &format!("/hold?id={id}")).await);
    }
    // Until all 24 are in the server, waiting for the place.
    for _ in 0..2000 {
        if server.metrics().requests_in_flight == 24 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        server.metrics().requests_in_flight,
        24,
        "{:?}",
        server.metrics()
    );

    // They all go away, each its own way.
    for s in h1 {
        s.set_zero_linger().unwrap();
        drop(s);
    }
    drop(h2_waiting); // RST_STREAM(CANCEL) each
    for _ in 0..2000 {
        if server.metrics().requests_in_flight == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        server.metrics().requests_in_flight,
        0,
        "the waiters of clients gone are still waiting: {:?}",
        server.metrics()
    );

    // The place comes free; a live client now gets it at once.
    GATE.add_permits(1);
    let rest = common::read_to_close(&mut holder).await;
    assert!(rest.contains("released;"), "{rest}");
    let mut next = TcpStream::connect(addr).await.unwrap();
    next.write_all(b"GET /hold?id=2 HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let head = within(common::read_head(&mut next)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    GATE.add_permits(1);
    let rest = common::read_to_close(&mut next).await;
    assert!(rest.contains("released;"), "{rest}");

    // The HTTP/2 connection is still usable for a new stream.
    let mut body = within(common::h2_get(&mut client, addr, "/export?id=3&n=2")).await;
    let mut got = 0;
    while let Some(data) = within(body.data()).await {
        got += data.unwrap().len();
    }
    assert_eq!(got, 2 * CHUNK);
    driver.abort();

    let m = settled(&server).await;
    let book = book();
    assert_eq!(
        requests(&book),
        [1, 2, 3],
        "a waiter gone was set up: {book:?}"
    );
    assert_eq!(book[&1], ["conn:open", "conn:close success 200"]);
    assert_eq!(book[&2], ["conn:open", "conn:close success 200"]);
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    within(server.shutdown()).await;
}

// ------------------------------------------------ 4. a pipeline cut mid-way

/// A small answer from the pooled connection, through a transaction.
#[depends]
async fn small(#[dep(ask)] a: &Ask, #[dep(tx)] _tx: &mut u8, #[dep(conn)] _c: &Conn) -> String {
    format!("small {};", a.id)
}

/// Waits (hang guard: 10 s) until request `id` has noted `event`.
async fn noted(id: u64, event: &str) {
    for _ in 0..2000 {
        if book()
            .get(&id)
            .is_some_and(|e| e.iter().any(|x| x == event))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{id} never noted `{event}`: {:?}", book());
}

/// Three requests pipelined in one write: a small answer, a stream that waits for its next
/// item (a quiet feed), another small answer. The client reads the first response and the
/// stream's first item, then resets the connection (or, second round, half-closes it).
/// The first request saw a success; the stream's client is gone, so its teardown sees it
/// (and gives its place back) although the stream produces nothing more; the third request
/// was never answered, so it is never set up (hyper starts a request once the one before it
/// has been answered). The pipelined third request already sits in the server's read buffer
/// while the stream waits, which is what makes this case differ from a lone quiet stream.
#[tokio::test]
async fn a_pipeline_cut_during_a_quiet_stream_tears_the_stream_down_as_client_gone() {
    let _serial = serial().await;
    let server = storm_app(1)
        .get("/small", small)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    for (round, reset) in [(0u64, true), (1, false)] {
        let (a, b, c) = (round * 10 + 1, round * 10 + 2, round * 10 + 3);
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!(
                "GET /small?id={a} HTTP/1.1\r\nhost: w\r\n\r\n\
                 GET /hold?id={b} HTTP/1.1\r\nhost: w\r\n\r\n\
                 GET /small?id={c} HTTP/1.1\r\nhost: w\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        // The first answer and the stream's first item.
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains(&format!("held {b};")) {
            let k = within(s.read(&mut buf)).await.unwrap();
            assert!(k > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..k]);
        }
        let text = String::from_utf8_lossy(&got).into_owned();
        assert!(text.contains(&format!("small {a};")), "{text}");
        noted(b, "conn:open").await;
        if reset {
            s.set_zero_linger().unwrap();
            drop(s);
        } else {
            s.shutdown().await.unwrap();
            // Keep the socket open for reading, as a client waiting for the rest would.
            tokio::spawn(async move {
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink).await;
            });
        }
        // The stream's teardown sees the client gone, though the stream waits on.
        noted(b, "conn:close cancelled client gone").await;
        let m = settled(&server).await;
        let book = book();
        assert_eq!(
            book[&a],
            [
                "tx:open",
                "conn:open",
                "tx:close success 200",
                "conn:close success 200"
            ]
        );
        assert_eq!(book[&b], ["conn:open", "conn:close cancelled client gone"]);
        assert!(
            !book.contains_key(&c),
            "the unanswered request was set up: {book:?}"
        );
        assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    }
    // The one place is free: a new client gets it.
    places_are_whole(addr, 1, 1000).await;
    within(server.shutdown()).await;
}

// ------------------------------------------------ 5. a long poll behind a pipelined request

/// A long poll: the handler waits for an event (the gate), holding the pooled connection
/// and a transaction.
#[depends]
async fn long_poll(#[dep(ask)] a: &Ask, #[dep(tx)] _tx: &mut u8, #[dep(conn)] _c: &Conn) -> String {
    note(a.id, "poll:waiting");
    pass(&GATE).await;
    note(a.id, "poll:answered");
    format!("event for {};", a.id)
}

/// A handler that waits (a long poll) with a request pipelined behind it: the client resets
/// the connection. The handler is dropped where it waits, its teardowns see the client
/// gone, the pool's place comes back; the pipelined request is never set up. As with the
/// quiet stream above, the pipelined request in the server's read buffer is what stopped
/// the server from seeing the reset.
#[tokio::test]
async fn a_long_poll_with_a_pipelined_request_behind_it_sees_its_client_reset() {
    let _serial = serial().await;
    let server = storm_app(1)
        .get("/poll", long_poll)
        .get("/small", small)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"GET /poll?id=1 HTTP/1.1\r\nhost: w\r\n\r\nGET /small?id=2 HTTP/1.1\r\nhost: w\r\n\r\n",
    )
    .await
    .unwrap();
    noted(1, "poll:waiting").await;
    s.set_zero_linger().unwrap();
    drop(s);
    noted(1, "conn:close cancelled client gone").await;
    let m = settled(&server).await;
    let book = book();
    assert_eq!(
        book[&1],
        [
            "tx:open",
            "conn:open",
            "poll:waiting",
            "tx:close cancelled client gone",
            "conn:close cancelled client gone"
        ]
    );
    assert!(!book.contains_key(&2), "{book:?}");
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    places_are_whole(addr, 1, 1000).await;
    within(server.shutdown()).await;
}

// ------------------------------------------------ 6. a client gone during a slow commit

/// A transaction whose commit waits for the test.
#[depends(scope = "handler")]
async fn slow_tx(#[dep(ask)] a: &Ask, y: Yield<u8>) {
    let id = a.id;
    note(id, "tx:open");
    let (_tx, outcome) = y.provide(0).await;
    if outcome.is_success() {
        note(id, "commit:start");
        pass(&COMMIT).await;
        note(id, "commit:done");
    } else {
        note(id, format!("rollback {}", describe(&outcome)));
    }
}

#[depends]
async fn write(
    #[dep(ask)] a: &Ask,
    #[dep(conn)] _c: &Conn,
    #[dep(slow_tx)] _tx: &mut u8,
) -> String {
    format!("written {};", a.id)
}

/// Over HTTP/1, pipelined behind nothing, the client resets its connection while the
/// `handler`-scope commit is under way: the commit is never cut (it finishes, once, after
/// the client left), the `request`-scope connection is then torn down as the client gone
/// (the response was never sent), and its place comes back. A second client, over HTTP/2,
/// resets its stream during its commit: the same, and its connection serves the next stream.
#[tokio::test]
async fn a_client_gone_during_a_slow_commit_lets_it_finish_once_and_gives_the_place_back() {
    let _serial = serial().await;
    let server = storm_app(1)
        .get("/write", write)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();

    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /write?id=1 HTTP/1.1\r\nhost: w\r\n\r\n")
        .await
        .unwrap();
    noted(1, "commit:start").await;
    s.set_zero_linger().unwrap();
    drop(s);
    // Until the server has seen the client go (its connection closed).
    for _ in 0..2000 {
        if server.metrics().open_connections == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.metrics().open_connections, 0);
    assert_eq!(
        book()[&1].last().unwrap(),
        "commit:start",
        "the commit was cut"
    );
    COMMIT.add_permits(1);
    noted(1, "conn:close cancelled client gone").await;

    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;
    let pending = common::h2_send_get(&mut client, addr, "/write?id=2").await;
    noted(2, "commit:start").await;
    drop(pending); // RST_STREAM(CANCEL)
    for _ in 0..2000 {
        if server.metrics().requests_in_flight == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    COMMIT.add_permits(1);
    noted(2, "conn:close cancelled client gone").await;
    let mut body = within(common::h2_get(&mut client, addr, "/export?id=3&n=1")).await;
    while let Some(data) = within(body.data()).await {
        data.unwrap();
    }
    driver.abort();

    let m = settled(&server).await;
    let book = book();
    for id in [1, 2] {
        assert_eq!(
            book[&id],
            [
                "conn:open",
                "tx:open",
                "commit:start",
                "commit:done",
                "conn:close cancelled client gone"
            ],
            "{id}"
        );
    }
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    places_are_whole(addr, 1, 1000).await;
    within(server.shutdown()).await;
}

// ------------------------------------------------ 7. shutdown with everything in flight

#[depends(scope = "app")]
async fn app_pool(y: Yield<u8>) {
    note(0, "app:open");
    let (_pool, outcome) = y.provide(0).await;
    note(0, format!("app:close {}", describe(&outcome)));
}

/// A `request`-scoped value whose teardown takes a while.
#[depends]
async fn slow_close(#[dep(ask)] a: &Ask, #[dep(app_pool)] _p: &u8, y: Yield<u8>) {
    let id = a.id;
    note(id, "slow:open");
    let (_v, outcome) = y.provide(0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    note(id, format!("slow:close {}", describe(&outcome)));
}

/// Answers at once; a slow background task and a slow `request`-scope teardown follow.
#[depends]
async fn busy_after(
    #[dep(ask)] a: &Ask,
    #[dep(slow_close)] _s: &u8,
    tasks: &BackgroundTasks,
) -> String {
    let id = a.id;
    tasks.add(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        note(id, "task");
    });
    format!("busy {id};")
}

/// Shutdown while, at once: an HTTP/1 and an HTTP/2 stream wait for an item that never
/// comes (each holding a pooled connection), a commit is under way, and a finished response
/// still owes a slow background task and a slow `request`-scope teardown. Shutdown ends
/// (within a hang guard far above its grace), every teardown has run exactly once, none of
/// the cut streams was told a success, the commit finished and its response was sent, the
/// task and the slow teardown ran to their end, and `app` scope was torn down last.
#[tokio::test]
async fn shutdown_with_streams_commits_tasks_and_slow_teardowns_in_flight_runs_each_once_then_app_scope()
 {
    let _serial = serial().await;
    let server = storm_app(4)
        .get("/write", write)
        .shutdown_grace(Duration::from_millis(500))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();

    let mut h1_stream = TcpStream::connect(addr).await.unwrap();
    h1_stream
        .write_all(b"GET /hold?id=1 HTTP/1.1\r\nhost: w\r\n\r\n")
        .await
        .unwrap();
    let head = within(common::read_head(&mut h1_stream)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;
    let mut h2_stream = within(common::h2_get(&mut client, addr, "/hold?id=2")).await;
    assert!(within(h2_stream.data()).await.unwrap().is_ok());

    let mut writer = TcpStream::connect(addr).await.unwrap();
    writer
        .write_all(b"GET /write?id=3 HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    noted(3, "commit:start").await;

    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /busy?id=4 HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = common::read_to_close(&mut busy).await;
    assert!(answer.ends_with("busy 4;"), "{answer}");

    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(50)).await;
    COMMIT.add_permits(1);
    let written = common::read_to_close(&mut writer).await;
    assert!(
        written.starts_with("HTTP/1.1 200") && written.ends_with("written 3;"),
        "{written}"
    );
    tokio::time::timeout(Duration::from_secs(20), shutdown)
        .await
        .expect("shutdown hung")
        .unwrap();
    let _ = common::read_to_close(&mut h1_stream).await;
    while let Some(Ok(_)) = within(h2_stream.data()).await {}
    driver.abort();

    let book = book();
    for (id, events) in &book {
        let opens = events.iter().filter(|e| e.ends_with(":open")).count();
        let closes = events
            .iter()
            .filter(|e| e.contains(":close") || *e == "commit:done" || e.starts_with("rollback"))
            .count();
        assert_eq!(opens, closes, "{id}: each once: {events:?}");
    }
    for id in [1, 2] {
        let close = &book[&id][1];
        assert!(
            close.starts_with("conn:close cancelled"),
            "{id}: {:?}",
            book[&id]
        );
    }
    assert_eq!(
        book[&3],
        [
            "conn:open",
            "tx:open",
            "commit:start",
            "commit:done",
            "conn:close success 200"
        ]
    );
    assert_eq!(book[&4], ["slow:open", "task", "slow:close success 200"]);
    assert_eq!(book[&0], ["app:open", "app:close app stopped"]);
    // `app` scope last, after every other teardown, task included.
    let order = common::events();
    assert_eq!(
        order.last().map(String::as_str),
        Some("0 app:close app stopped"),
        "{order:?}"
    );
}

// ------------------------------------------------ 8. a stream that panics beside a sibling

/// Two items, then a panic, from the pooled connection.
#[depends]
async fn boom(
    #[dep(ask)] a: &Ask,
    #[dep(conn)] c: Held<Conn>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    let id = a.id;
    StreamBody::new(stream::unfold((Some(c), 0u32), move |(c, i)| async move {
        tokio::task::yield_now().await;
        assert!(i < 2, "secret panic of stream {id}");
        Some((Ok(format!("item {i};")), (c, i + 1)))
    }))
}

/// Over one HTTP/2 connection, a stream that panics after two items while a sibling stream
/// waits for its next item: the panicking stream is reset, its teardown told `Panicked` once,
/// its place given back; the sibling goes on to its end (a success), and the connection then
/// serves a new stream. No panic text reaches the client.
#[tokio::test]
async fn an_http2_stream_that_panics_mid_way_leaves_its_sibling_and_connection_serving() {
    let _serial = serial().await;
    let server = storm_app(2)
        .get("/boom", boom)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;
    let mut sibling = within(common::h2_get(&mut client, addr, "/hold?id=1")).await;
    let first = within(sibling.data()).await.unwrap().unwrap();
    assert_eq!(first, "held 1;");

    let mut failing = within(common::h2_get(&mut client, addr, "/boom?id=2")).await;
    let mut got = Vec::new();
    let end = loop {
        match within(failing.data()).await {
            Some(Ok(data)) => got.extend_from_slice(&data),
            Some(Err(error)) => break Some(error),
            None => break None,
        }
    };
    let error = end.expect("a failed stream must not end cleanly");
    assert_eq!(error.reason(), Some(h2::Reason::INTERNAL_ERROR), "{error}");
    assert!(!String::from_utf8_lossy(&got).contains("secret"));
    noted(2, "conn:close panicked").await;

    GATE.add_permits(1);
    let mut rest = Vec::new();
    while let Some(data) = within(sibling.data()).await {
        rest.extend_from_slice(&data.unwrap());
    }
    assert_eq!(rest, b"released;");
    let mut fresh = within(common::h2_get(&mut client, addr, "/export?id=3&n=3")).await;
    let mut n = 0;
    while let Some(data) = within(fresh.data()).await {
        n += data.unwrap().len();
    }
    assert_eq!(n, 3 * CHUNK);
    driver.abort();

    let m = settled(&server).await;
    let book = book();
    assert_eq!(book[&1], ["conn:open", "conn:close success 200"]);
    assert_eq!(book[&2], ["conn:open", "conn:close panicked"]);
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    places_are_whole(addr, 2, 1000).await;
    within(server.shutdown()).await;
}

// ------------------------------------------------ 9. a setup that outlasts the request timeout

/// A generator whose setup waits for the gate before it provides: past the request timeout
/// it never completes.
#[depends]
async fn stuck(#[dep(ask)] a: &Ask, y: Yield<u8>) {
    let id = a.id;
    note(id, "stuck:starting");
    pass(&GATE).await;
    note(id, "stuck:open");
    let (_v, outcome) = y.provide(0).await;
    note(id, format!("stuck:close {}", describe(&outcome)));
}

#[depends]
async fn stuck_route(
    #[dep(ask)] a: &Ask,
    #[dep(conn)] _c: &Conn,
    #[dep(tx)] _tx: &mut u8,
    #[dep(stuck)] _s: &u8,
) -> String {
    format!("never {};", a.id)
}

/// A setup that blocks past `request_timeout`, after a `request`-scope (pooled, the pool's
/// only place) and a `handler`-scope generator were set up: 503 with `Retry-After`; the two
/// set up are torn down once each with `Cancelled(Timeout)`, `handler` scope first; the one
/// whose setup never completed is never torn down (nor resumed); the place is back and the
/// kept-alive HTTP/1 connection serves the next request. Then the same over HTTP/2.
#[tokio::test]
async fn a_setup_past_the_request_timeout_tears_down_what_was_set_up_and_nothing_else() {
    let _serial = serial().await;
    let server = storm_app(1)
        .get("/stuck", stuck_route)
        .get("/small", small)
        .request_timeout(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /stuck?id=1 HTTP/1.1\r\nhost: w\r\n\r\n")
        .await
        .unwrap();
    let head = within(common::read_head(&mut s)).await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("a sized error body");
    let mut body = vec![0u8; length];
    within(s.read_exact(&mut body)).await.unwrap();
    // The same connection goes on, and the pool's place is free.
    s.write_all(b"GET /small?id=2 HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let next = common::read_to_close(&mut s).await;
    assert!(
        next.starts_with("HTTP/1.1 200") && next.ends_with("small 2;"),
        "{next}"
    );

    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;
    let response = within(common::h2_send_get(&mut client, addr, "/stuck?id=3").await)
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let mut body = within(common::h2_get(&mut client, addr, "/small?id=4")).await;
    let mut text = Vec::new();
    while let Some(data) = within(body.data()).await {
        text.extend_from_slice(&data.unwrap());
    }
    assert_eq!(text, b"small 4;");
    driver.abort();

    // Opening the gate now must not resume the abandoned setups.
    GATE.add_permits(2);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let m = settled(&server).await;
    let book = book();
    for id in [1, 3] {
        assert_eq!(
            book[&id],
            [
                "conn:open",
                "tx:open",
                "stuck:starting",
                "tx:close cancelled timeout",
                "conn:close cancelled timeout"
            ],
            "{id}"
        );
    }
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    assert_eq!(m.teardowns.cancelled_timeout, 4, "{m:?}");
    within(server.shutdown()).await;
}

// ------------------------------------------------ 10. framing a server in front could misread

/// A body read whole, through the pooled connection.
#[depends]
async fn upload(#[dep(ask)] a: &Ask, #[dep(conn)] _c: &Conn, body: Bytes) -> String {
    format!("got {} bytes for {};", body.len(), a.id)
}

/// Sends `raw` on a new connection, then reads until the server closes it (the last request
/// of each case says `Connection: close`, or the server closes after an ambiguous one).
async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    common::read_to_close(&mut s).await
}

/// Requests whose framing a server in front could read otherwise, each with a request
/// pipelined (or hidden in the body) behind it that sets up the pooled connection if it is
/// ever taken for a request: a request is served, and set up, only where the server reads one.
/// `Content-Length` beside `Transfer-Encoding: chunked` is read as chunked and the connection
/// closed after it (what follows is never served); a body that holds what looks like a request
/// is a body; a `GET` with a body has its body skipped, not parsed; lengths that disagree are
/// refused with nothing set up. In every case each setup has its teardown once, with a
/// success, and the server serves a new connection afterwards.
#[tokio::test]
async fn framing_a_front_server_could_misread_never_serves_a_hidden_request() {
    let _serial = serial().await;
    let server = storm_app(2)
        .post("/upload", upload)
        .get("/small", small)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let hidden = |id: u64| format!("GET /small?id={id} HTTP/1.1\r\nhost: w\r\n\r\n");

    // Content-Length and chunked: chunked wins, the connection closes after the answer.
    let smuggled = hidden(11);
    let raw = format!(
        "POST /upload?id=10 HTTP/1.1\r\nhost: w\r\ncontent-length: {}\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}",
        5 + smuggled.len()
    );
    let answer = exchange(addr, raw.as_bytes()).await;
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    assert!(answer.ends_with("got 0 bytes for 10;"), "{answer}");

    // A body that holds a request is a body; the request after it is served.
    let inner = hidden(21);
    let raw = format!(
        "POST /upload?id=20 HTTP/1.1\r\nhost: w\r\ncontent-length: {}\r\n\r\n{inner}GET /small?id=22 HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n",
        inner.len()
    );
    let answer = exchange(addr, raw.as_bytes()).await;
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 2, "{answer}");
    assert!(
        answer.contains(&format!("got {} bytes for 20;", inner.len())),
        "{answer}"
    );
    assert!(answer.ends_with("small 22;"), "{answer}");

    // A GET with a body: the body is skipped, the next request served.
    let inner = hidden(31);
    let raw = format!(
        "GET /small?id=30 HTTP/1.1\r\nhost: w\r\ncontent-length: {}\r\n\r\n{inner}GET /small?id=32 HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n",
        inner.len()
    );
    let answer = exchange(addr, raw.as_bytes()).await;
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 2, "{answer}");
    assert!(
        answer.contains("small 30;") && answer.ends_with("small 32;"),
        "{answer}"
    );

    // Two lengths that disagree, one chunked inside a length: refused, nothing set up.
    for raw in [
        format!(
            "POST /upload?id=40 HTTP/1.1\r\nhost: w\r\ncontent-length: 3\r\ncontent-length: 40\r\n\r\nabc{}",
            hidden(41)
        ),
        format!(
            "POST /upload?id=50 HTTP/1.1\r\nhost: w\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n{}",
            hidden(51)
        ),
    ] {
        let answer = exchange(addr, raw.as_bytes()).await;
        assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }

    let m = settled(&server).await;
    let book = book();
    assert_eq!(requests(&book), [10, 20, 22, 30, 32], "{book:?}");
    for (id, events) in book.iter().filter(|(id, _)| **id != 0) {
        let expected: &[&str] = if [22, 30, 32].contains(id) {
            &[
                "tx:open",
                "conn:open",
                "tx:close success 200",
                "conn:close success 200",
            ]
        } else {
            &["conn:open", "conn:close success 200"]
        };
        assert_eq!(events, expected, "{id}");
    }
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    let answer = exchange(
        addr,
        b"GET /small?id=60 HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.ends_with("small 60;"), "{answer}");
    within(server.shutdown()).await;
}

// ------------------------------------------------ 11. a kept-alive connection reset while it hosts

static TEARDOWN: Semaphore = Semaphore::const_new(0);

/// A `request`-scoped value whose teardown waits for the test.
#[depends]
async fn lingering(#[dep(ask)] a: &Ask, y: Yield<u8>) {
    let id = a.id;
    note(id, "linger:open");
    let (_v, outcome) = y.provide(0).await;
    note(id, format!("linger:start {}", describe(&outcome)));
    pass(&TEARDOWN).await;
    note(id, "linger:close");
}

#[depends]
async fn lingers(#[dep(ask)] a: &Ask, #[dep(lingering)] _l: &u8) -> String {
    format!("lingers {};", a.id)
}

/// The app of the two tests of a connection reset while it hosts a teardown: `/lingers`,
/// whose `request`-scope teardown waits for `TEARDOWN`, and the long poll, one place.
fn lingering_app() -> App {
    storm_app(1)
        .get("/lingers", lingers)
        .get("/poll", long_poll)
}

/// A kept-alive HTTP/1 connection runs the slow `request`-scope teardown of its first
/// response (told a success) while its second request, a long poll, waits; the client resets
/// the connection. The second request is cancelled (client gone) at once, although the
/// connection's task is busy with the first one's teardown; the first teardown goes on to
/// its end, once, with its success; and shutdown waits for it.
#[tokio::test]
async fn a_connection_reset_while_it_hosts_a_teardown_cancels_the_next_request_and_finishes_the_teardown()
 {
    let _serial = serial().await;
    let _ = TEARDOWN.forget_permits(usize::MAX);
    let server = lingering_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /lingers?id=1 HTTP/1.1\r\nhost: w\r\n\r\n")
        .await
        .unwrap();
    let head = within(common::read_head(&mut s)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut body = [0u8; 10];
    within(s.read_exact(&mut body)).await.unwrap();
    assert_eq!(&body, b"lingers 1;");
    noted(1, "linger:start success 200").await;

    s.write_all(b"GET /poll?id=2 HTTP/1.1\r\nhost: w\r\n\r\n")
        .await
        .unwrap();
    noted(2, "poll:waiting").await;
    s.set_zero_linger().unwrap();
    drop(s);
    noted(2, "conn:close cancelled client gone").await;
    assert_eq!(book()[&1].last().unwrap(), "linger:start success 200");

    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !shutdown.is_finished(),
        "shutdown did not wait for the teardown"
    );
    TEARDOWN.add_permits(1);
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown hung")
        .unwrap();
    let book = book();
    assert_eq!(
        book[&1],
        ["linger:open", "linger:start success 200", "linger:close"]
    );
    assert_eq!(
        book[&2],
        [
            "tx:open",
            "conn:open",
            "poll:waiting",
            "tx:close cancelled client gone",
            "conn:close cancelled client gone"
        ]
    );
}

// ------------------------------------------------ 12. timed out while waiting for a place

/// A pool of one, held by a gated stream; ten requests wait for its place past the request
/// timeout (shorter than the place wait): each gets 503, none is set up; when the place comes
/// free it goes to the next live request, and the pool is still one place.
#[tokio::test]
async fn requests_timed_out_while_waiting_for_a_place_leave_it_whole() {
    let _serial = serial().await;
    let server = storm_app(1)
        .request_timeout(Duration::from_millis(200))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut holder = TcpStream::connect(addr).await.unwrap();
    holder
        .write_all(b"GET /hold?id=1 HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let head = within(common::read_head(&mut holder)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let waiting: Vec<_> = (100..110u64)
        .map(|id| {
            tokio::spawn(async move {
                exchange(
                    addr,
                    format!("GET /hold?id={id} HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await
            })
        })
        .collect();
    for answer in waiting {
        let answer = within(answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    }
    GATE.add_permits(1);
    let rest = common::read_to_close(&mut holder).await;
    assert!(rest.contains("released;"), "{rest}");
    let m = settled(&server).await;
    assert_eq!(requests(&book()), [1]);
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    places_are_whole(addr, 1, 1000).await;
    within(server.shutdown()).await;
}

// ------------------------------------------------ 13. reset with unread bytes still queued

/// An upload read as a stream, but only once the gate opens (it first waits for, say, a
/// lock): till then nobody reads the rest of its body.
#[depends]
async fn lazy_upload(
    #[dep(ask)] a: &Ask,
    #[dep(conn)] _c: &Conn,
    mut body: BodyStream,
) -> Result<String, HttpError> {
    note(a.id, "upload:waiting");
    pass(&GATE).await;
    let mut n = 0;
    while let Some(chunk) = body.next().await {
        n += chunk?.len();
    }
    Ok(format!("read {n};"))
}

/// A client sends an upload's head and part of its body; the handler waits before it reads
/// the body, so the server reads no more of the socket; the client sends more of the body,
/// which stays queued in the server's socket, unread, and then resets the connection. A
/// socket reset with bytes still queued reads as those bytes, not as an error: the reset is
/// only in the socket's pending error, and nothing wakes the connection for it. The request
/// is still seen as cancelled, its client gone, while the handler waits (at the latest when
/// the connection's timer next looks at it: `send_timeout` here is short so that it looks
/// soon; no time is asserted); its teardown runs and its place comes back.
#[tokio::test]
async fn a_reset_behind_unread_body_bytes_is_still_seen_as_the_client_gone() {
    let _serial = serial().await;
    let server = storm_app(1)
        .post("/lazy", lazy_upload)
        .send_timeout(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /lazy?id=1 HTTP/1.1\r\nhost: w\r\ncontent-length: 100000\r\n\r\nfirst part")
        .await
        .unwrap();
    noted(1, "upload:waiting").await;
    // Read by nobody: it stays in the server's socket.
    s.write_all(&[b'x'; 2000]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.set_zero_linger().unwrap();
    drop(s);
    noted(1, "conn:close cancelled client gone").await;
    let m = settled(&server).await;
    assert_eq!(
        book()[&1],
        [
            "conn:open",
            "upload:waiting",
            "conn:close cancelled client gone"
        ]
    );
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    places_are_whole(addr, 1, 1000).await;
    within(server.shutdown()).await;
}

// ------------------------------------------------ the soak (not run by CI: bench/walk-soak.sh)

/// The resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Mixed faults for `WALK_SOAK_SECS` (60 by default): waves of HTTP/1.1 and HTTP/1.0 clients
/// reset at random offsets, HTTP/2 streams reset and connections killed, requests owing slow background work,
/// pipelines cut during quiet streams; each wave checked as the tests above check theirs, the
/// book cleared after it. Resident memory (server and clients share the process) is sampled
/// after each wave: after the first quarter (warm-up), the last quarter's median must be within
/// 8 MiB of the second quarter's. Run by `bench/walk-soak.sh`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a soak of about a minute; bench/walk-soak.sh runs it"]
async fn soak_mixed_faults_keep_every_guarantee_and_memory_flat() {
    let _serial = serial().await;
    let secs: u64 = std::env::var("WALK_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let server = storm_app(4)
        .get("/small", small)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut rng = Rng::new(seed() ^ 0x50a4);
    let started = std::time::Instant::now();
    let mut samples = Vec::new();
    let mut next_id = 1u64;
    let mut waves = 0u64;
    let mut requests = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        let mut complete = BTreeMap::new();
        let mut h1 = Vec::new();
        for _ in 0..8 {
            let id = next_id;
            next_id += 1;
            let n = 4 + rng.below(200) as u32;
            let total = n as usize * (CHUNK + 8) + 200;
            let cut = match rng.below(4) {
                0 => None,
                _ => Some(rng.below(total as u64) as usize),
            };
            h1.push((id, tokio::spawn(h1_export_then_reset(addr, id, n, cut))));
        }
        for _ in 0..2 {
            let id = next_id;
            next_id += 1;
            let n = 4 + rng.below(200) as u32;
            let cut = (rng.below(2) == 0).then(|| rng.below(n as u64 * CHUNK as u64) as usize);
            h1.push((id, tokio::spawn(h10_export_then_reset(addr, id, n, cut))));
        }
        let mut ids = Vec::new();
        for _ in 0..6 {
            let id = next_id;
            next_id += 1;
            let n = 4 + rng.below(60) as u32;
            let cut = (rng.below(2) == 0).then(|| rng.below(n as u64 * CHUNK as u64) as usize);
            ids.push((id, n, cut));
        }
        let kill = (rng.below(3) == 0).then(|| rng.below(40 * CHUNK as u64) as usize);
        let h2 = tokio::spawn(h2_exports(addr, ids, kill));
        let busy_id = next_id;
        next_id += 1;
        let busy = tokio::spawn(async move {
            exchange(
                addr,
                format!("GET /busy?id={busy_id} HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
        });
        for (id, client) in h1 {
            complete.insert(id, within(client).await.unwrap());
        }
        for (id, whole) in within(h2).await.unwrap() {
            complete.insert(id, whole);
        }
        assert!(
            within(busy)
                .await
                .unwrap()
                .ends_with(&format!("busy {busy_id};"))
        );
        // A pipeline cut during a quiet stream.
        let (a, b) = (next_id, next_id + 1);
        next_id += 2;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!(
                "GET /hold?id={a} HTTP/1.1\r\nhost: w\r\n\r\nGET /small?id={b} HTTP/1.1\r\nhost: w\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let _ = within(common::read_head(&mut s)).await;
        s.set_zero_linger().unwrap();
        drop(s);
        noted(a, "conn:close cancelled client gone").await;
        noted(busy_id, "slow:close success 200").await;

        let m = settled(&server).await;
        let mut book = book();
        assert_eq!(
            book.remove(&busy_id).unwrap(),
            ["slow:open", "task", "slow:close success 200"]
        );
        check_storm(&book, &complete);
        assert!(!book.contains_key(&b), "{book:?}");
        assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
        assert_eq!(
            m.teardown_errors + m.teardown_panics + m.teardown_timeouts,
            0,
            "{m:?}"
        );
        requests += complete.len() as u64 + 3;
        common::clear_book();
        common::clear();
        waves += 1;
        samples.push(rss_kib());
    }
    places_are_whole(addr, 4, 1_000_000_000).await;
    within(server.shutdown()).await;
    let quarter = samples.len() / 4;
    assert!(quarter >= 2, "too short a soak: {} waves", samples.len());
    let median = |part: &[u64]| {
        let mut part = part.to_vec();
        part.sort_unstable();
        part[part.len() / 2]
    };
    let early = median(&samples[quarter..2 * quarter]);
    let late = median(&samples[samples.len() - quarter..]);
    eprintln!(
        "soak: {secs} s, {waves} waves, {requests} requests; RSS KiB first {} second-quarter median {early} last-quarter median {late} max {}",
        samples[0],
        samples.iter().max().unwrap()
    );
    assert!(
        late <= early + 8 * 1024,
        "resident memory grew after warm-up: {early} KiB -> {late} KiB ({samples:?})"
    );
}

// ------------------------------------------------ 14. hosted teardowns that hang or panic

/// A `request`-scoped value whose teardown never ends (it waits for a gate nobody opens).
#[depends]
async fn hangs_at_close(#[dep(ask)] a: &Ask, y: Yield<u8>) {
    let id = a.id;
    note(id, "hang:open");
    let (_v, outcome) = y.provide(0).await;
    note(id, format!("hang:start {}", describe(&outcome)));
    std::future::pending::<()>().await;
}

/// A `request`-scoped value whose teardown panics.
#[depends]
async fn panics_at_close(#[dep(ask)] a: &Ask, y: Yield<u8>) {
    let id = a.id;
    note(id, "panic:open");
    let (_v, outcome) = y.provide(0).await;
    note(id, format!("panic:start {}", describe(&outcome)));
    panic!("secret teardown panic {id}");
}

#[depends]
async fn hanging(#[dep(ask)] a: &Ask, #[dep(hangs_at_close)] _h: &u8) -> String {
    format!("hanging {};", a.id)
}

#[depends]
async fn panicking(#[dep(ask)] a: &Ask, #[dep(panics_at_close)] _p: &u8) -> String {
    format!("panicking {};", a.id)
}

/// The connection that sent a response runs its `request`-scope teardowns. Here they hang
/// (until `teardown_timeout`) or panic, on an HTTP/1 connection with requests pipelined in
/// one write and on an HTTP/2 connection with streams at once: every request is answered, in
/// order, while the teardowns hang; each hung teardown is given up at its deadline and
/// counted, each panic counted; every setup has its end; and the connections serve on.
#[tokio::test]
async fn hosted_teardowns_that_hang_or_panic_delay_no_answer_and_each_ends_once() {
    let _serial = serial().await;
    let server = storm_app(1)
        .get("/hanging", hanging)
        .get("/panicking", panicking)
        .teardown_timeout(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut raw = String::new();
    for id in 1..=6u64 {
        let path = if id % 2 == 0 { "panicking" } else { "hanging" };
        raw.push_str(&format!("GET /{path}?id={id} HTTP/1.1\r\nhost: w\r\n\r\n"));
    }
    raw.push_str("GET /export?id=7&n=1 HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n");
    let answer = exchange(addr, raw.as_bytes()).await;
    let order: Vec<&str> = answer
        .match_indices("ing ")
        .map(|(at, _)| &answer[at + 4..at + 6])
        .collect();
    assert_eq!(order, ["1;", "2;", "3;", "4;", "5;", "6;"], "{answer}");
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 7, "{answer}");
    assert!(!answer.contains("secret"), "{answer}");

    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(tcp, &h2::client::Builder::new()).await;
    let mut streams = Vec::new();
    for id in 11..=16u64 {
        let path = if id % 2 == 0 { "panicking" } else { "hanging" };
        streams.push(common::h2_send_get(&mut client, addr, &format!("/{path}?id={id}")).await);
    }
    for (k, response) in streams.into_iter().enumerate() {
        let mut body = within(response).await.unwrap().into_body();
        let mut text = Vec::new();
        while let Some(data) = within(body.data()).await {
            text.extend_from_slice(&data.unwrap());
        }
        assert!(
            String::from_utf8_lossy(&text).ends_with(&format!(" {};", 11 + k)),
            "{text:?}"
        );
    }
    let mut body = within(common::h2_get(&mut client, addr, "/export?id=17&n=1")).await;
    while let Some(data) = within(body.data()).await {
        data.unwrap();
    }
    driver.abort();

    let m = settled(&server).await;
    let book = book();
    for id in (1..=6).chain(11..=16) {
        let expected: [&str; 2] = if id % 2 == 0 {
            ["panic:open", "panic:start success 200"]
        } else {
            ["hang:open", "hang:start success 200"]
        };
        assert_eq!(book[&id], expected, "{id}");
    }
    assert_eq!(m.teardown_timeouts, 6, "{m:?}");
    assert_eq!(m.teardown_panics, 6, "{m:?}");
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    within(server.shutdown()).await;
}

// ------------------------------------------------ 15. HTTP/1.0 close-delimited bodies, reset

/// One HTTP/1.0 client of `/export` (its body close-delimited: no chunked coding, its end is
/// the server's close): reads `cut` bytes (all if `None`), then resets the connection.
/// Whether it got the whole body, ended by the server's clean close.
async fn h10_export_then_reset(addr: SocketAddr, id: u64, n: u32, cut: Option<usize>) -> bool {
    let request = format!("GET /export?id={id}&n={n} HTTP/1.0\r\nhost: w\r\n\r\n");
    let (got, clean_end) = read_then_reset(addr, &request, cut, |_| false).await;
    let body = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |at| got.len() - at - 4);
    clean_end && body == n as usize * CHUNK
}

/// HTTP/1.0 clients (nginx's `proxy_pass` speaks it unless told otherwise) of streamed
/// exports, whose bodies end at the server's close, reset at random offsets: the same
/// guarantees as over HTTP/1.1, a client that saw the whole body and the clean close saw a
/// success, and the places are whole afterwards.
#[tokio::test]
async fn http10_clients_of_close_delimited_streams_reset_at_random_offsets_keep_every_guarantee() {
    let _serial = serial().await;
    let server = storm_app(4).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let mut rng = Rng::new(seed() ^ 0x10);
    let mut complete = BTreeMap::new();
    for wave in 0..3u64 {
        let mut clients = Vec::new();
        for k in 0..8u64 {
            let id = wave * 8 + k + 1;
            let n = 4 + rng.below(300) as u32;
            let total = n as usize * CHUNK + 150;
            let cut = match rng.below(4) {
                0 => None,
                _ => Some(rng.below(total as u64) as usize),
            };
            clients.push((id, tokio::spawn(h10_export_then_reset(addr, id, n, cut))));
        }
        for (id, client) in clients {
            complete.insert(id, within(client).await.unwrap());
        }
    }
    storm_ended_whole(&server, addr, &complete).await;
    within(server.shutdown()).await;
}

/// As above, with the long poll pipelined behind the first request in one write: the reset
/// is seen by the server's peek (hyper holds the pipelined bytes), while the connection's task
/// runs the first response's slow teardown; the connection ends, the teardown goes on to its
/// end, once, with its success, and the long poll is cancelled, its client gone.
#[tokio::test]
async fn a_pipelining_connection_reset_while_it_hosts_a_teardown_cancels_the_next_request_and_finishes_the_teardown()
 {
    let _serial = serial().await;
    let _ = TEARDOWN.forget_permits(usize::MAX);
    let server = lingering_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"GET /lingers?id=1 HTTP/1.1\r\nhost: w\r\n\r\nGET /poll?id=2 HTTP/1.1\r\nhost: w\r\n\r\nGET /lingers?id=3 HTTP/1.1\r\nhost: w\r\n\r\n",
    )
    .await
    .unwrap();
    noted(1, "linger:start success 200").await;
    noted(2, "poll:waiting").await;
    s.set_zero_linger().unwrap();
    drop(s);
    noted(2, "conn:close cancelled client gone").await;
    assert_eq!(book()[&1].last().unwrap(), "linger:start success 200");
    TEARDOWN.add_permits(1);
    noted(1, "linger:close").await;
    let m = settled(&server).await;
    let book = book();
    assert_eq!(
        book[&1],
        ["linger:open", "linger:start success 200", "linger:close"]
    );
    assert!(!book.contains_key(&3), "{book:?}");
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    places_are_whole(addr, 1, 1000).await;
    within(server.shutdown()).await;
}

/// At the connection limit, connections are freed only when idle or closed: two clients that
/// each pipelined a request behind a long poll, then went away (one reset, one closed), held
/// both connections of a limit of two for as long as the polls stayed quiet, and every new
/// client waited. They are seen as gone, so a new client is served.
#[tokio::test]
async fn dead_pipelining_clients_at_the_connection_limit_do_not_lock_new_clients_out() {
    let _serial = serial().await;
    let server = storm_app(2)
        .get("/poll", long_poll)
        .get("/small", small)
        .max_connections(2)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    for (id, reset) in [(1u64, true), (2, false)] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!(
                "GET /poll?id={id} HTTP/1.1\r\nhost: w\r\n\r\nGET /small?id={} HTTP/1.1\r\nhost: w\r\n\r\n",
                id + 10
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        noted(id, "poll:waiting").await;
        if reset {
            s.set_zero_linger().unwrap();
        }
        drop(s);
    }
    let answer = exchange(
        addr,
        b"GET /small?id=3 HTTP/1.1\r\nhost: w\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.ends_with("small 3;"), "{answer}");
    let m = settled(&server).await;
    let book = book();
    for id in [1, 2] {
        assert_eq!(
            book[&id].last().map(String::as_str),
            Some("conn:close cancelled client gone"),
            "{id}: {:?}",
            book[&id]
        );
    }
    assert_eq!(requests(&book), [1, 2, 3], "{book:?}");
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    within(server.shutdown()).await;
}

// ------------------------------------------------ 16. shutdown while requests wait for a place

/// Shutdown while the pool's only place is held by a stream that never ends and three live
/// clients wait for it (their wait, 30 s, far past the grace): shutdown ends (within a hang
/// guard), the stream is cut and its teardown told it was cancelled, a waiter either was never
/// set up or was set up and torn down once, never told a success, and `app` scope is torn
/// down after every one of them.
#[tokio::test]
async fn shutdown_while_requests_wait_for_a_place_ends_and_tears_down_app_scope_last() {
    let _serial = serial().await;
    let server = storm_app(1)
        .max_concurrency_wait(Duration::from_secs(30))
        .shutdown_grace(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut holder = TcpStream::connect(addr).await.unwrap();
    holder
        .write_all(b"GET /hold?id=1 HTTP/1.1\r\nhost: w\r\n\r\n")
        .await
        .unwrap();
    let head = within(common::read_head(&mut holder)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut waiters = Vec::new();
    for id in 2..=4u64 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET /hold?id={id} HTTP/1.1\r\nhost: w\r\n\r\n").as_bytes())
            .await
            .unwrap();
        waiters.push(s);
    }
    for _ in 0..2000 {
        if server.metrics().requests_in_flight == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.metrics().requests_in_flight, 3);
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown hung");
    let _ = common::read_to_close(&mut holder).await;
    for mut s in waiters {
        let _ = common::read_to_close(&mut s).await;
    }
    let book = book();
    assert_eq!(book[&1][0], "conn:open");
    assert!(book[&1][1].starts_with("conn:close cancelled"), "{book:?}");
    for id in 2..=4u64 {
        if let Some(events) = book.get(&id) {
            assert_eq!(events.len(), 2, "{id}: {events:?}");
            assert!(
                events[1].starts_with("conn:close cancelled"),
                "{id}: {events:?}"
            );
        }
    }
    let order = common::events();
    assert_eq!(
        order.last().map(String::as_str),
        Some("0 app:close app stopped"),
        "{order:?}"
    );
}

// ------------------------------------------------ 17. HTTP/2: resets and GOAWAY mid-flight

/// A GET's HEADERS block (HPACK, no Huffman): `:method GET`, `:scheme http`, `:path`,
/// `:authority w`.
fn get_block(path: &str) -> Vec<u8> {
    let mut b = vec![0x82, 0x86, 0x44, path.len() as u8];
    b.extend_from_slice(path.as_bytes());
    b.extend_from_slice(&[0x41, 1, b'w']);
    b
}

/// Reads HTTP/2 frames from `s` until `done` says the frames so far are enough (hang guard:
/// 10 s); (type, flags, stream, payload) of each.
async fn h2_frames_until(
    s: &mut TcpStream,
    raw: &mut Vec<u8>,
    done: impl Fn(&[(u8, u8, u32, Vec<u8>)]) -> bool,
) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let mut buf = [0u8; 16384];
    loop {
        let mut frames = Vec::new();
        let mut at = 0;
        while raw.len() >= at + 9 {
            let len = (usize::from(raw[at]) << 16)
                | (usize::from(raw[at + 1]) << 8)
                | usize::from(raw[at + 2]);
            if raw.len() < at + 9 + len {
                break;
            }
            let stream = u32::from_be_bytes([raw[at + 5], raw[at + 6], raw[at + 7], raw[at + 8]])
                & 0x7fff_ffff;
            frames.push((
                raw[at + 3],
                raw[at + 4],
                stream,
                raw[at + 9..at + 9 + len].to_vec(),
            ));
            at += 9 + len;
        }
        if done(&frames) {
            return frames;
        }
        let n = within(s.read(&mut buf)).await.unwrap();
        assert!(n > 0, "closed early: {frames:?}");
        raw.extend_from_slice(&buf[..n]);
    }
}

/// Whether `frames` hold a DATA frame that ends stream `stream`.
fn ended(frames: &[(u8, u8, u32, Vec<u8>)], stream: u32) -> bool {
    frames
        .iter()
        .any(|f| f.0 == 0 && f.2 == stream && f.1 & 0x1 != 0)
}

/// One HTTP/2 connection, four streams at once (three streams that wait for the gate after
/// their first item, one short export); the client resets one of the waiting streams, then
/// sends GOAWAY, then the gate opens. The reset stream is torn down once as the client gone;
/// the others, which the GOAWAY does not concern (it names the streams the client would take
/// from the server), are served to their end and torn down with a success, the export's
/// background task run; nothing is left behind.
#[tokio::test]
async fn http2_resets_and_a_client_goaway_mid_flight_end_each_stream_as_it_ended() {
    let _serial = serial().await;
    let server = storm_app(4).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(common::h2_frame(4, 0, 0, &[]));
    for (stream, path) in [
        (1u32, "/hold?id=1"),
        (3, "/hold?id=2"),
        (5, "/hold?id=3"),
        (7, "/export?id=4&n=2"),
    ] {
        out.extend(common::h2_frame(1, 0x1 | 0x4, stream, &get_block(path)));
    }
    s.write_all(&out).await.unwrap();
    let mut raw = Vec::new();
    // Each held stream's first item, and the export's end.
    h2_frames_until(&mut s, &mut raw, |f| {
        [1, 3, 5]
            .iter()
            .all(|id| f.iter().any(|x| x.0 == 0 && x.2 == *id))
            && ended(f, 7)
    })
    .await;
    // RST_STREAM(CANCEL) on stream 3, then GOAWAY (no stream of the server's, no error).
    let mut goaway = 0u32.to_be_bytes().to_vec();
    goaway.extend_from_slice(&0u32.to_be_bytes());
    let mut out = common::h2_frame(3, 0, 3, &8u32.to_be_bytes());
    out.extend(common::h2_frame(7, 0, 0, &goaway));
    s.write_all(&out).await.unwrap();
    noted(2, "conn:close cancelled client gone").await;
    GATE.add_permits(2);
    let frames = h2_frames_until(&mut s, &mut raw, |f| ended(f, 1) && ended(f, 5)).await;
    assert!(!ended(&frames, 3), "{frames:?}");
    drop(s);

    let m = settled(&server).await;
    let book = book();
    assert_eq!(book[&1], ["conn:open", "conn:close success 200"]);
    assert_eq!(book[&2], ["conn:open", "conn:close cancelled client gone"]);
    assert_eq!(book[&3], ["conn:open", "conn:close success 200"]);
    assert_eq!(
        book[&4],
        [
            "tx:open",
            "conn:open",
            "tx:close success 200",
            "task",
            "conn:close success 200"
        ]
    );
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    within(server.shutdown()).await;
}

// ------------------------------------------------ 14. the end of an upload read by hyper itself

/// An upload read as a stream; when the body fails, a moment of cleanup (an async rollback,
/// say) before the handler answers with the error.
#[depends]
async fn careful_upload(
    #[dep(ask)] a: &Ask,
    #[dep(conn)] _c: &Conn,
    mut body: BodyStream,
) -> Result<String, HttpError> {
    let mut n = 0;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => {
                n += chunk.len();
                note(a.id, format!("read {n}"));
            }
            Err(error) => {
                note(a.id, "upload:failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                return Err(error.into());
            }
        }
    }
    Ok(format!("read {n};"))
}

/// A client that shuts down its write half in the middle of a chunked upload, then reads: hyper
/// reads the end of the input itself (the body fails, the request is the client gone) and still
/// writes the handler's answer, as tests/adversarial.rs pins for a handler that answers at
/// once. A handler that takes a moment before it answers (a rollback) must not change that: the
/// peek for a client gone behind a pipelined request is for what hyper does not read, not a
/// second verdict on an end of input hyper has already read and acted on (whether the answer
/// went out depended on whether the handler answered in the poll that read the end).
#[tokio::test]
async fn a_half_close_mid_upload_read_by_hyper_still_gets_the_answer_after_a_slow_rollback() {
    let _serial = serial().await;
    let server = storm_app(1)
        .post("/careful", careful_upload)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /careful?id=1 HTTP/1.1\r\nhost: w\r\ntransfer-encoding: chunked\r\n\r\n5\r\nabcde\r\n",
    )
    .await
    .unwrap();
    noted(1, "read 5").await;
    s.shutdown().await.unwrap();
    let text = common::read_to_close(&mut s).await;
    assert!(text.starts_with("HTTP/1.1 400"), "no answer: {text:?}");
    noted(1, "conn:close cancelled client gone").await;
    let m = settled(&server).await;
    assert_eq!(
        book()[&1],
        [
            "conn:open",
            "read 5",
            "upload:failed",
            "conn:close cancelled client gone"
        ]
    );
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    within(server.shutdown()).await;
}
