//! A deployment walk: an SRE rolling a `di` service out on Kubernetes or systemd. A rolling
//! restart (SIGTERM to `App::serve`, or `Server::shutdown`) with requests of every kind in
//! flight: a plain request mid-handler, a commit, a streamed NDJSON export, a server-sent
//! events feed, a long poll, an upload mid-body, idle keep-alive connections; new connections
//! during the drain; the grace period ending, and what each client sees then; a second
//! SIGTERM; the process's exit status and last log lines; a restart on the same port at once.
//! Over real TCP with the app's own server; the signals are sent to a child process running
//! `App::serve` (this binary, run for one test), never to the test binary.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{describe, events, log, serial, wait_for};
use di_runtime::prelude::*;
use futures_util::{StreamExt, stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ------------------------------------------------------------------ the service

#[depends(scope = "app")]
async fn pool(y: Yield<u8>) {
    log("pool:open");
    let (_, outcome) = y.provide(0).await;
    log(format!("pool:close {}", describe(&outcome)));
}

/// Which client a request is, for the event log (`?who=`).
#[derive(Clone)]
struct Who(String);

#[depends]
async fn who(Query(query): Query<std::collections::HashMap<String, String>>) -> Who {
    Who(query.get("who").cloned().unwrap_or_default())
}

/// A pooled session, held until the response's last byte.
#[depends]
async fn session(#[dep(who)] who: &Who, #[dep(pool)] _pool: &u8, y: Yield<u8>) {
    let who = who.0.clone();
    log(format!("{who} session:open"));
    let (_, outcome) = y.provide(0).await;
    log(format!("{who} session:close {}", describe(&outcome)));
}

/// An NDJSON export that always has its next row ready: how fast it goes is up to its client.
#[depends]
async fn export(
    #[dep(session)] session: Held<u8>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + use<>> {
    StreamBody::new(stream::iter(0..).map(move |row| {
        let _session = &session;
        Ok(format!(
            "{{\"row\":{row},\"body\":\"{}\"}}\n",
            "x".repeat(1000)
        ))
    }))
    .content_type("application/x-ndjson")
}

// ------------------------------------------------------------------ helpers

/// Opens a connection to `addr` and writes `raw` on it.
async fn send(addr: SocketAddr, raw: &[u8]) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(raw).await.unwrap();
    socket
}

/// Reads `socket` to its end: `Ok` with every byte if the server closed it cleanly, the
/// error (a reset) otherwise. Fails the test if it stays open 10 s.
async fn read_to_end_or_reset(socket: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) => return Ok(received),
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(error) => return Err(error),
            }
        }
    })
    .await
    .expect("the server ends the connection")
}

// ------------------------------------------ 1. an HTTP/1.0 export cut is never a clean end

/// nginx's `proxy_pass` speaks HTTP/1.0 to its upstream unless told otherwise: a streamed
/// export goes to it close-delimited, its end the connection's close. One still streaming when
/// the shutdown grace ended, to a client that took it more slowly than the export made it (so
/// that hyper was not asking the body for more when the connection was cut), was closed with a
/// FIN, as after a complete body: the client (nginx, then its own client) took the truncated
/// export for the whole one, while its teardowns were told `Cancelled(Shutdown)`. The
/// connection is now reset.
#[tokio::test]
async fn an_http10_export_cut_at_the_end_of_the_shutdown_grace_is_reset_not_ended_cleanly() {
    let _serial = serial().await;
    let server = App::new()
        .get("/export", export)
        .shutdown_grace(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut client = send(
        server.local_addr(),
        b"GET /export?who=proxy HTTP/1.0\r\nhost: x\r\n\r\n",
    )
    .await;
    let mut head = [0u8; 12];
    client.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.0 200");
    // The client reads nothing more until the server has shut down: the export fills the
    // socket's buffers and waits for it.
    common::guard("shutdown", server.shutdown()).await;
    let error = read_to_end_or_reset(&mut client)
        .await
        .expect_err("the cut export is not a clean end of the body");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    assert_eq!(
        events(),
        [
            "pool:open",
            "proxy session:open",
            "proxy session:close cancelled shutdown",
            "pool:close app stopped",
        ]
    );
}

/// The same export cut by the send timeout (its client took nothing for that long: a proxy
/// whose own client paused) was closed cleanly too, and a client that went on reading took
/// what it had for the whole export. Reset now.
#[tokio::test]
async fn an_http10_export_cut_by_the_send_timeout_is_reset_not_ended_cleanly() {
    let _serial = serial().await;
    let server = App::new()
        .get("/export", export)
        .send_timeout(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut client = send(
        server.local_addr(),
        b"GET /export?who=paused HTTP/1.0\r\nhost: x\r\n\r\n",
    )
    .await;
    let mut head = [0u8; 12];
    client.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.0 200");
    wait_for("paused session:close cancelled client gone").await;
    let error = read_to_end_or_reset(&mut client)
        .await
        .expect_err("the cut export is not a clean end of the body");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    common::guard("shutdown", server.shutdown()).await;
}
