//! A code review of the server layer (`di-runtime/src/app/connections.rs`, `server.rs`,
//! `gather.rs`, `run/host.rs`, `run/deadline.rs`, `run/body.rs`), read line by line for the
//! input, timing or interleaving that breaks each place: each test is a defect found that
//! way, shown failing over real sockets before its fix.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{keep_alive_get, read_head, within};
use di_runtime::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[depends]
async fn health() -> &'static str {
    "ok"
}

/// A whole body in one frame (4 MiB): hyper takes it at once, and the request has ended.
#[depends]
async fn big() -> Vec<u8> {
    vec![b'z'; 4 << 20]
}

/// A client connected with a small receive buffer: the kernel takes little of a big response
/// for it, and the rest stays in the server's buffers.
async fn connect_small_window(addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(addr).await.unwrap()
}

// ------------------------------------ 1. the connection limit, with one closing that lingers

/// At the connection limit a new client waits while the connection idle the longest closes
/// to make room. That one, chosen first, had handed its whole last response to hyper but its
/// client reads nothing of it: its graceful close waits to flush it, up to `send_timeout`.
/// Another connection sat idle all along; the accept loop took the lingering close for room
/// about to come ("one with nothing in progress is closing already") and asked no other, so
/// the new client waited for `send_timeout` (60 s by default) with an idle connection there
/// to close.
#[tokio::test]
async fn at_the_limit_a_close_that_waits_to_flush_leaves_the_room_to_another_idle_connection() {
    let server = App::new()
        .get("/big", big)
        .get("/health", health)
        .max_connections(2)
        .send_timeout(Duration::from_secs(120))
        .idle_timeout(Duration::from_secs(120))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    // Idle the longest: its request has ended, its response sits unread in hyper's buffer.
    let mut stalled = connect_small_window(addr).await;
    stalled
        .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let head = within(read_head(&mut stalled)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Idle since after it (the idle times are counted in milliseconds).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert!(
        within(keep_alive_get(&mut idle, "/health"))
            .await
            .ends_with("ok")
    );
    // A third client: `stalled` is asked to close and cannot, `idle` is there to close.
    let mut third = TcpStream::connect(addr).await.unwrap();
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        keep_alive_get(&mut third, "/health"),
    )
    .await;
    let answer = answer.expect("the third client waited while an idle connection stayed open");
    assert!(answer.ends_with("ok"), "{answer}");
    // `idle` made the room.
    let mut buffer = [0u8; 16];
    let closed = within(idle.read(&mut buffer)).await;
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    drop(stalled);
    within(server.shutdown()).await;
}
