//! The listener `App::bind` and `App::serve` make asks the kernel to hold 1024 connections not
//! yet accepted (at most `net.core.somaxconn`), where `TcpListener::bind` asks for 128: a burst
//! of more new connections than that at once overflowed the queue, and their clients waited a
//! second or more to send their SYN again; under a 2,000-connection burst, sockets whose
//! clients had given up stayed counted as open until `header_read_timeout`
//! (bench/memwalk, BENCHMARKS.md "Memory under floods").
//!
//! Read with `ss` (iproute2), whose `Send-Q` of a listening socket is its backlog; skipped,
//! saying so, where `ss` is not installed.

use di_runtime::prelude::*;

#[depends]
async fn hello() -> &'static str {
    "hello"
}

#[tokio::test]
async fn the_apps_own_listener_asks_for_a_backlog_of_1024() {
    let server = App::new()
        .get("/", hello)
        .bind("127.0.0.1:0")
        .await
        .expect("binds");
    let port = server.local_addr().port();
    let listed = match std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
    {
        Ok(listed) if listed.status.success() => listed,
        Ok(listed) => {
            eprintln!(
                "skipped: `ss` failed: {}",
                String::from_utf8_lossy(&listed.stderr)
            );
            server.shutdown().await;
            return;
        }
        Err(error) => {
            eprintln!("skipped: no `ss` to read the backlog with ({error})");
            server.shutdown().await;
            return;
        }
    };
    let line = String::from_utf8_lossy(&listed.stdout).into_owned();
    // State, Recv-Q, Send-Q (the backlog), local address, peer address.
    let backlog: u32 = line
        .split_whitespace()
        .nth(2)
        .and_then(|field| field.parse().ok())
        .unwrap_or_else(|| panic!("a listening socket in {line:?}"));
    let cap: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|cap| cap.trim().parse().ok())
        .unwrap_or(u32::MAX);
    assert_eq!(backlog, 1024.min(cap), "{line}");
    server.shutdown().await;
}
