//! The minimum body rate (`App::body_min_rate`) judges the client, not the handler: a body is
//! failed as late only when the server waits for bytes the client has not sent, so a handler
//! that is slow between its reads of a body its client sent at once does not turn it into a
//! 408 blamed on the client (whose teardowns would see a handler error), while a client that
//! trickles is still cut.

use std::time::Duration;

use di_runtime::BodyStream;
use di_runtime::prelude::*;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads the body frame by frame, working 40 ms on each (a database insert per chunk).
#[depends]
async fn slow_reader(mut body: BodyStream) -> Result<String, HttpError> {
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        bytes += chunk?.len();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    Ok(format!("{bytes} bytes"))
}

async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut received))
        .await
        .expect("the server answers")
        .expect("read");
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_slow_between_reads_of_a_body_sent_at_once_is_not_a_slow_client() {
    // 4 MB a second after 100 ms: a client on loopback sends far faster; the handler reads
    // far slower (one frame every 40 ms, frames of a few KiB to a few hundred).
    let server = App::new()
        .post("/upload", slow_reader)
        .body_timeout(Duration::from_secs(120))
        .body_min_rate(4_000_000, Duration::from_millis(100))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let body = vec![b'x'; 2 * 1024 * 1024];
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (mut read, mut write) = stream.split();
    let send = async {
        write.write_all(head.as_bytes()).await.unwrap();
        // Written as fast as the server takes it: the socket's buffers stay full.
        let _ = write.write_all(&body).await;
    };
    let mut received = Vec::new();
    let receive = async {
        tokio::time::timeout(Duration::from_secs(120), read.read_to_end(&mut received))
            .await
            .expect("the server answers")
            .expect("read");
    };
    tokio::join!(send, receive);
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.ends_with(&format!("{} bytes", body.len())), "{text}");
    drop(stream);

    // A client that does trickle is still cut: 10 bytes every 50 ms is 200 bytes/s.
    let mut slow = TcpStream::connect(server.local_addr()).await.unwrap();
    slow.write_all(
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let trickle = async {
        for _ in 0..200 {
            if slow.write_all(&[b'y'; 10]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), trickle).await;
    let text = read_to_close(&mut slow).await;
    assert!(text.starts_with("HTTP/1.1 408 Request Timeout"), "{text}");
    server.shutdown().await;
}
