//! Floods the server of `server.rs` in one of several ways; prints what it saw.
//! `client PORT MODE N ARG`: MODE is slow-h1 (N readers of an ARG MiB stream, 4 KiB each
//! 20 ms, 8 KiB receive buffer), h2-slow (N connections of 50 such streams, 16 KiB windows),
//! big-slow (the same of an ARG MiB `Vec<u8>`), noread-stream / noread-big (a request, then
//! nothing read for 20 s), idle (N connections that send nothing for ARG s), upload (N
//! uploads of 64 KiB at 20 KiB/s into a `BodyStream`), json-under / json-over (N `Json` bodies
//! of the body limit less or more 1 KiB, at once), tasks (N connections of ARG requests each
//! adding a 500 ms background task), mixed (N workers for ARG s of whole answers, 409s, 404s,
//! 422s, tasks, 1 MiB `Vec`s, streams reset and uploads given up).
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

static OK: AtomicU64 = AtomicU64::new(0);
static OTHER: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);
static READ: AtomicU64 = AtomicU64::new(0);

async fn connect(addr: SocketAddr, rcvbuf: Option<u32>) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size)?;
    }
    socket.connect(addr).await
}

fn tally(head: &[u8]) {
    if head.starts_with(b"HTTP/1.1 200") {
        OK.fetch_add(1, Ordering::Relaxed);
    } else {
        OTHER.fetch_add(1, Ordering::Relaxed);
    }
}

/// GET `path`, reading `step` bytes every `pause`.
async fn slow_get(addr: SocketAddr, path: String, step: usize, pause: Duration) -> std::io::Result<()> {
    let mut s = connect(addr, Some(8192)).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut buf = vec![0u8; step];
    let mut first = true;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        if first {
            tally(&buf[..n]);
            first = false;
        }
        READ.fetch_add(n as u64, Ordering::Relaxed);
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    Ok(())
}

/// Sends a request and never reads; holds the socket for `hold`.
async fn no_read(addr: SocketAddr, path: String, hold: Duration) -> std::io::Result<()> {
    let mut s = connect(addr, Some(8192)).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await?;
    tokio::time::sleep(hold).await;
    Ok(())
}

/// Opens a connection and sends nothing; holds it for `hold` or until closed.
async fn idle(addr: SocketAddr, hold: Duration) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    let mut b = [0u8; 1];
    let _ = tokio::time::timeout(hold, s.read(&mut b)).await;
    Ok(())
}

/// POSTs `total` bytes to /upload, `step` bytes every `pause`.
async fn slow_upload(addr: SocketAddr, total: usize, step: usize, pause: Duration) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(format!("POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {total}\r\n\r\n").as_bytes()).await?;
    let chunk = vec![b'u'; step];
    let mut sent = 0;
    while sent < total {
        let n = step.min(total - sent);
        s.write_all(&chunk[..n]).await?;
        sent += n;
        tokio::time::sleep(pause).await;
    }
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await?;
    tally(&answer);
    Ok(())
}

/// POSTs a JSON array of `size` bytes (roughly) to /json.
async fn json(addr: SocketAddr, size: usize) -> std::io::Result<()> {
    let mut body = String::with_capacity(size);
    body.push('[');
    while body.len() + 3 < size {
        body.push_str("1,");
    }
    body.push_str("1]");
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(format!("POST /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes()).await?;
    let _ = s.write_all(body.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    tally(&answer);
    Ok(())
}

/// One HTTP/2 connection of `streams` GET /stream?mb=.. with a small window, read slowly.
async fn h2_slow(addr: SocketAddr, streams: usize, mb: u64, window: u32, pause: Duration) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {

    let tcp = TcpStream::connect(addr).await?;
    let (client, conn) = h2::client::Builder::new()
        .initial_window_size(window)
        .initial_connection_window_size(window * streams as u32)
        .handshake::<_, Bytes>(tcp)
        .await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let mut client = client.clone().ready().await?;
        let request = http::Request::get(format!("http://x/stream?mb={mb}")).body(()).unwrap();
        let (response, _) = client.send_request(request, true)?;
        tasks.push(tokio::spawn(async move {
            let response = response.await?;
            if response.status() == 200 {
                OK.fetch_add(1, Ordering::Relaxed);
            } else {
                OTHER.fetch_add(1, Ordering::Relaxed);
            }
            let mut body = response.into_body();
            while let Some(data) = body.data().await {
                let data = data?;
                READ.fetch_add(data.len() as u64, Ordering::Relaxed);
                tokio::time::sleep(pause).await;
                let _ = body.flow_control().release_capacity(data.len());
            }
            Ok::<_, h2::Error>(())
        }));
    }
    for t in tasks {
        if let Ok(Err(_)) | Err(_) = t.await.map_err(|_| ()) {
            FAILED.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Mixed requests for `secs`: whole, errors, 404s, streams cut, uploads cut, tasks.
async fn mixed(addr: SocketAddr, secs: u64, worker: u64) {
    let end = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut i = worker;
    while tokio::time::Instant::now() < end {
        i = i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let pick = (i >> 33) % 8;
        let r: std::io::Result<()> = async {
            let mut s = TcpStream::connect(addr).await?;
            match pick {
                0 => s.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?,
                1 => s.write_all(b"GET /fail HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?,
                2 => s.write_all(b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?,
                3 => {
                    s.write_all(b"GET /stream?mb=4 HTTP/1.1\r\nHost: x\r\n\r\n").await?;
                    let mut b = vec![0u8; 65536];
                    let _ = s.read(&mut b).await?;
                    let _ = s.set_zero_linger();
                    return Ok(()); // gone mid-stream (reset)
                }
                4 => {
                    s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc").await?;
                    return Ok(()); // gone mid-upload
                }
                5 => s.write_all(b"GET /task HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?,
                6 => s.write_all(b"POST /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 4\r\n\r\n[1,2").await?,
                _ => s.write_all(b"GET /big?mb=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?,
            }
            let mut answer = Vec::new();
            s.read_to_end(&mut answer).await?;
            tally(&answer);
            Ok(())
        }
        .await;
        if r.is_err() {
            FAILED.fetch_add(1, Ordering::Relaxed);
        }
    }
}


#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = format!("127.0.0.1:{}", args[1]).parse().unwrap();
    let mode = args[2].as_str();
    let n: usize = args.get(3).map_or(1000, |a| a.parse().unwrap());
    let a4: u64 = args.get(4).map_or(1, |a| a.parse().unwrap());
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    let done = Arc::new(AtomicU64::new(0));
    for k in 0..n {
        let done = done.clone();
        let fut: std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> = match mode {
            "slow-h1" => Box::pin(async move { slow_get(addr, format!("/stream?mb={a4}"), 4096, Duration::from_millis(20)).await.is_ok() }),
            "big-slow" => Box::pin(async move { slow_get(addr, format!("/big?mb={a4}"), 4096, Duration::from_millis(20)).await.is_ok() }),
            "noread-stream" => Box::pin(async move { no_read(addr, format!("/stream?mb={a4}"), Duration::from_secs(20)).await.is_ok() }),
            "noread-big" => Box::pin(async move { no_read(addr, format!("/big?mb={a4}"), Duration::from_secs(20)).await.is_ok() }),
            "idle" => Box::pin(async move { idle(addr, Duration::from_secs(a4)).await.is_ok() }),
            "upload" => Box::pin(async move { slow_upload(addr, 64 * 1024, 1024, Duration::from_millis(50)).await.is_ok() }),
            "json-under" => Box::pin(async move { json(addr, 2 * 1024 * 1024 - 1024).await.is_ok() }),
            "json-over" => Box::pin(async move { json(addr, 2 * 1024 * 1024 + 1024).await.is_ok() }),
            "tasks" => Box::pin(async move {
                let mut s = match TcpStream::connect(addr).await { Ok(s) => s, Err(_) => return false };
                let mut ok = true;
                for _ in 0..a4 {
                    ok &= s.write_all(b"GET /task HTTP/1.1\r\nHost: x\r\n\r\n").await.is_ok();
                    let mut b = [0u8; 512];
                    match s.read(&mut b).await { Ok(n) if n > 0 => tally(&b[..n]), _ => { ok = false; break } }
                }
                ok
            }),
            "h2-slow" => Box::pin(async move { h2_slow(addr, 50, a4, 16 * 1024, Duration::from_millis(20)).await.is_ok() }),
            "mixed" => Box::pin(async move { mixed(addr, a4, k as u64).await; true }),
            _ => panic!("unknown mode"),
        };
        tasks.push(tokio::spawn(async move {
            if !fut.await {
                FAILED.fetch_add(1, Ordering::Relaxed);
            }
            done.fetch_add(1, Ordering::Relaxed);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    println!(
        "{mode} n={n} arg={a4}: ok={} other={} failed={} read_mb={} in {:.1}s",
        OK.load(Ordering::Relaxed),
        OTHER.load(Ordering::Relaxed),
        FAILED.load(Ordering::Relaxed),
        READ.load(Ordering::Relaxed) >> 20,
        started.elapsed().as_secs_f64()
    );
}
