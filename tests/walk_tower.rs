//! A walk of the tower ecosystem around a `di` app: the tower-http and tower layers a
//! production service stacks around its routes beyond those `tests/layers_tower.rs` covers
//! (request bodies decompressed, limited; paths normalized; files served beside the routes;
//! load shedding and tower's own timeout), each checked against the contract: what the
//! client gets, and what the teardowns are told, exactly once.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{describe, events, log, serial};
use di_runtime::BodyStream;
use di_runtime::prelude::*;
use futures_util::StreamExt;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;

#[depends]
async fn session(y: Yield<u32>) {
    log("session:open");
    let (_, outcome) = y.provide(7).await;
    log(format!("session:close {}", describe(&outcome)));
}

#[depends]
async fn echo(
    #[dep(session)] _s: &u32,
    Json(v): Json<serde_json::Value>,
) -> Json<serde_json::Value> {
    Json(v)
}

/// Counts a streamed upload's bytes; a read error is the handler's answer.
#[depends]
async fn count(#[dep(session)] _s: &u32, mut body: BodyStream) -> Result<String, HttpError> {
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        bytes += chunk?.len();
    }
    Ok(bytes.to_string())
}

/// Waits until the session was torn down (however it ended).
async fn closed() {
    while !events().iter().any(|e| e.starts_with("session:close")) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

// ------------------------------------------------------------------ request bodies

/// tower-http's `RequestDecompressionLayer` gives the request a body of its own type; the
/// app takes it (it did not compile: `InnerService` took only `Request<di_runtime::Body>`),
/// and `Json` reads the decompressed body.
#[tokio::test]
async fn a_gzip_request_body_through_request_decompression_is_read_as_json() {
    let _serial = serial().await;
    let app = App::new()
        .post("/echo", echo)
        .post("/count", count)
        .layer(RequestDecompressionLayer::new());
    let client = TestClient::start(app).await.unwrap();
    let json = br#"{"title":"compressed","n":[1,2,3]}"#;
    let response = client
        .post("/echo")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(json))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"title": "compressed", "n": [1, 2, 3]})
    );
    client.settle().await;
    let big = vec![b'x'; 100_000];
    let response = client
        .post("/count")
        .header("content-encoding", "gzip")
        .body(gzip(&big))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "100000");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "session:open",
            "session:close success 200",
            "session:open",
            "session:close success 200"
        ]
    );
    client.shutdown().await;
}

/// A body that is not gzip behind `Content-Encoding: gzip` is the client's mistake: a 400,
/// found before any dependency is set up.
#[tokio::test]
async fn a_corrupt_gzip_body_is_a_400_and_sets_nothing_up() {
    let _serial = serial().await;
    let app = App::new()
        .post("/echo", echo)
        .layer(RequestDecompressionLayer::new());
    let client = TestClient::start(app).await.unwrap();
    let response = client
        .post("/echo")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body("{\"not\":\"gzip\"}")
        .send()
        .await;
    assert_eq!(response.status(), 400);
    client.settle().await;
    assert!(events().is_empty(), "{:?}", events());
    client.shutdown().await;
}

/// tower-http's `RequestBodyLimitLayer`: a declared length past it is the layer's 413; a
/// chunked body that passes it is the app's 413, read whole (nothing set up) or as a stream
/// (the handler's error, its teardown told so).
#[tokio::test]
async fn request_body_limit_layer_answers_413_whoever_finds_the_body_too_large() {
    let _serial = serial().await;
    let app = App::new()
        .post("/echo", echo)
        .post("/count", count)
        .layer(RequestBodyLimitLayer::new(16));
    let client = TestClient::start(app).await.unwrap();
    let declared = client
        .post("/echo")
        .header("content-type", "application/json")
        .body(r#"{"far":"too long for the limit"}"#)
        .send()
        .await;
    assert_eq!(declared.status(), 413);
    let chunked = client
        .post("/echo")
        .header("content-type", "application/json")
        .chunked([r#"{"far":"#, r#""too long "#, r#"for it"}"#])
        .send()
        .await;
    assert_eq!(chunked.status(), 413);
    assert_eq!(
        chunked.text().await.unwrap(),
        r#"{"detail":"Request body too large"}"#
    );
    client.settle().await;
    assert!(events().is_empty(), "{:?}", events());
    let streamed = client
        .post("/count")
        .chunked(["0123456789", "0123456789"])
        .send()
        .await;
    assert_eq!(streamed.status(), 413);
    assert_eq!(
        streamed.text().await.unwrap(),
        r#"{"detail":"Request body too large"}"#
    );
    client.settle().await;
    assert_eq!(
        events(),
        ["session:open", "session:close handler_error 413"]
    );
    client.shutdown().await;
}

/// A streamed upload that logs once it has read something.
#[depends]
async fn upload(#[dep(session)] _s: &u32, mut body: BodyStream) -> Result<String, HttpError> {
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        if bytes == 0 {
            log("upload:reading");
        }
        bytes += chunk?.len();
    }
    Ok(bytes.to_string())
}

/// Text that compresses, but not to nothing: every line differs.
fn text(lines: usize) -> Vec<u8> {
    (0..lines)
        .map(|i| format!("line {i}: {}\n", i.wrapping_mul(2_654_435_761) % 1_000_003))
        .collect::<String>()
        .into_bytes()
}

/// A client that goes away in the middle of a gzip upload that a route reads as a stream
/// behind `RequestDecompressionLayer`: its teardown is told `Cancelled(ClientGone)`, as
/// without the layer (README Guarantees 3), not that the handler answered 400 to no one.
#[tokio::test]
async fn a_client_gone_mid_gzip_upload_is_client_gone_behind_decompression() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _serial = serial().await;
    let app = App::new()
        .post("/upload", upload)
        .layer(RequestDecompressionLayer::new());
    let server = app.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let compressed = gzip(&text(20_000));
    let half = &compressed[..compressed.len() / 2];
    for chunked in [false, true] {
        for reset in [false, true] {
            common::clear();
            let case = format!("chunked {chunked} reset {reset}");
            let mut raw = format!(
                "POST /upload HTTP/1.1\r\nhost: t\r\ncontent-encoding: gzip\r\n{}\r\n",
                if chunked {
                    "transfer-encoding: chunked\r\n".to_owned()
                } else {
                    format!("content-length: {}\r\n", compressed.len())
                }
            )
            .into_bytes();
            if chunked {
                raw.extend_from_slice(format!("{:x}\r\n", half.len()).as_bytes());
                raw.extend_from_slice(half);
                raw.extend_from_slice(b"\r\n");
            } else {
                raw.extend_from_slice(half);
            }
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.write_all(&raw).await.unwrap();
            common::guard(&case, common::wait_for("upload:reading")).await;
            if reset {
                stream.set_zero_linger().unwrap();
                drop(stream);
            } else {
                stream.shutdown().await.unwrap();
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer).await;
            }
            common::guard(&case, closed()).await;
            common::settled_whole(&server).await;
            assert_eq!(
                events(),
                [
                    "session:open",
                    "upload:reading",
                    "session:close cancelled client gone"
                ],
                "{case}"
            );
        }
    }
    server.shutdown().await;
}
