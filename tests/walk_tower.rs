//! A walk of the tower ecosystem around a `di` app: the tower-http layers a production
//! service stacks around its routes beyond those `tests/layers_tower.rs` covers (request
//! bodies decompressed and limited, on the app, a group or every route; a stalled response
//! body cut; paths normalized; files served beside the routes), each checked against the
//! contract: what the client gets, and what the teardowns are told, exactly once.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{describe, events, log, serial};
use di_runtime::prelude::*;
use di_runtime::{BodyStream, Held};
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

/// On one group only (`Group::layer`) and on every route (`App::route_layer`): the route
/// behind the layer reads the decompressed or limited body, the others are untouched.
#[tokio::test]
async fn request_body_layers_on_a_group_and_on_every_route() {
    let _serial = serial().await;
    let app = App::new()
        .post("/echo", echo)
        .nest(
            Group::new("/gz")
                .layer(RequestDecompressionLayer::new())
                .post("/echo", echo),
        )
        .route_layer(RequestBodyLimitLayer::new(64));
    let client = TestClient::start(app).await.unwrap();
    let post = |path: &'static str, gzipped: bool, body: Vec<u8>| {
        let request = client.post(path).header("content-type", "application/json");
        let request = if gzipped {
            request.header("content-encoding", "gzip")
        } else {
            request
        };
        async move {
            let response = request.body(body).send().await;
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(
        post("/gz/echo", true, gzip(b"[1,2]")).await,
        (200, "[1,2]".to_owned())
    );
    assert_eq!(
        post("/echo", false, b"[3]".to_vec()).await,
        (200, "[3]".to_owned())
    );
    // Not decompressed outside the group: gzip bytes are not JSON.
    assert_eq!(post("/echo", true, gzip(b"[1,2]")).await.0, 422);
    // The route layer's limit holds on both.
    let long = format!("[{}1]", "1,".repeat(40)).into_bytes();
    assert_eq!(post("/echo", false, long.clone()).await.0, 413);
    assert_eq!(post("/gz/echo", false, long).await.0, 413);
    client.settle().await;
    assert_eq!(
        events()
            .iter()
            .filter(|e| *e == "session:close success 200")
            .count(),
        2,
        "{:?}",
        events()
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

// ------------------------------------------------------------------ files beside the routes

/// A directory of files for `ServeDir`, made once per test.
fn public_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("di-walk-tower-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::write(dir.join("app.js"), "console.log('di');\n".repeat(100)).unwrap();
    std::fs::write(dir.join("docs/index.html"), "<h1>docs</h1>").unwrap();
    dir
}

#[depends]
async fn hello(#[dep(session)] _s: &u32) -> &'static str {
    "hello"
}

/// tower-http's `ServeDir` mounted beside the routes (`nest_service`) and as the fallback:
/// a file, its `HEAD` (the length, no body), a range, a conditional `GET`, a missing file;
/// the answers keep their `Content-Length` (checked against the body as they leave the app)
/// and carry the request id; nothing of the app is set up for them.
#[tokio::test]
async fn serve_dir_beside_the_routes_answers_files_heads_ranges_and_304s() {
    let _serial = serial().await;
    let dir = public_dir();
    let app = App::new()
        .get("/hello", hello)
        .nest_service("/static", tower_http::services::ServeDir::new(&dir))
        .fallback_service(tower_http::services::ServeDir::new(&dir));
    let server = app.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let js = "console.log('di');\n".repeat(100);
    for prefix in ["/static", ""] {
        let case = format!("prefix {prefix:?}");
        let get = raw(
            addr,
            &format!("GET {prefix}/app.js HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"),
        )
        .await;
        assert!(get.starts_with("HTTP/1.1 200 OK\r\n"), "{case}: {get}");
        assert!(
            get.contains(&format!("content-length: {}\r\n", js.len())),
            "{case}: {get}"
        );
        assert!(get.contains("x-request-id: "), "{case}: {get}");
        assert!(get.ends_with(&js), "{case}: {get}");
        let head = raw(
            addr,
            &format!("HEAD {prefix}/app.js HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"),
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{case}: {head}");
        assert!(
            head.contains(&format!("content-length: {}\r\n", js.len())),
            "{case}: {head}"
        );
        assert!(
            head.ends_with("\r\n\r\n"),
            "{case}: a HEAD has no body: {head}"
        );
        let range = raw(addr, &format!("GET {prefix}/app.js HTTP/1.1\r\nhost: t\r\nrange: bytes=0-9\r\nconnection: close\r\n\r\n")).await;
        assert!(
            range.starts_with("HTTP/1.1 206 Partial Content\r\n"),
            "{case}: {range}"
        );
        assert!(range.contains("content-length: 10\r\n"), "{case}: {range}");
        assert!(range.ends_with("\r\n\r\nconsole.lo"), "{case}: {range}");
        let modified = get
            .lines()
            .find_map(|line| line.strip_prefix("last-modified: "))
            .expect("last-modified")
            .to_owned();
        let not_modified = raw(addr, &format!("GET {prefix}/app.js HTTP/1.1\r\nhost: t\r\nif-modified-since: {modified}\r\nconnection: close\r\n\r\n")).await;
        assert!(
            not_modified.starts_with("HTTP/1.1 304 Not Modified\r\n"),
            "{case}: {not_modified}"
        );
        assert!(not_modified.ends_with("\r\n\r\n"), "{case}: {not_modified}");
        let missing = raw(
            addr,
            &format!("GET {prefix}/nothing.js HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"),
        )
        .await;
        assert!(
            missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{case}: {missing}"
        );
        let index = raw(
            addr,
            &format!("GET {prefix}/docs/ HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"),
        )
        .await;
        assert!(index.ends_with("<h1>docs</h1>"), "{case}: {index}");
    }
    // And kept alive: every answer above on one connection, in order.
    let mut pipelined = String::new();
    for path in ["/static/app.js", "/app.js", "/hello"] {
        pipelined.push_str(&format!("HEAD {path} HTTP/1.1\r\nhost: t\r\n\r\n"));
        pipelined.push_str(&format!(
            "GET {path} HTTP/1.1\r\nhost: t\r\nrange: bytes=0-2\r\n\r\n"
        ));
    }
    pipelined.push_str("GET /hello HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
    let answers = raw(addr, &pipelined).await;
    assert_eq!(answers.matches("HTTP/1.1 ").count(), 7, "{answers}");
    assert!(answers.ends_with("\r\n\r\nhello"), "{answers}");
    common::settled_whole(&server).await;
    assert_eq!(
        events().iter().filter(|e| *e == "session:open").count(),
        3,
        "{:?}",
        events()
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Sends `request` on a new connection and reads until the server closes it.
async fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    common::guard(request, common::read_to_close(&mut stream)).await
}

// ------------------------------------------------------------------ paths, load, timeouts

#[depends]
async fn item(#[dep(session)] _s: &u32, Path(id): Path<u32>) -> String {
    format!("item {id}")
}

/// `NormalizePathLayer` on `App::layer` runs before the routing (unlike axum's
/// `Router::layer`, where it must wrap the router from outside): `/items/7/` reaches
/// `/items/{id}`, `/hello/` reaches `/hello`.
#[tokio::test]
async fn normalize_path_on_app_layer_routes_trailing_slashes() {
    let _serial = serial().await;
    let app = App::new()
        .get("/hello", hello)
        .get("/items/{id}", item)
        .layer(tower_http::normalize_path::NormalizePathLayer::trim_trailing_slash());
    let client = TestClient::start(app).await.unwrap();
    for (path, answer) in [
        ("/hello/", "hello"),
        ("/items/7/", "item 7"),
        ("/items/8//", "item 8"),
    ] {
        let response = client.get(path).send().await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await.unwrap(), answer, "{path}");
    }
    client.settle().await;
    assert_eq!(
        events()
            .iter()
            .filter(|e| *e == "session:close success 200")
            .count(),
        3
    );
    client.shutdown().await;
}

/// The app's body limit counts the decompressed bytes: a small gzip body that inflates past
/// it is a 413, whether read whole or as a stream (a decompression bomb is refused).
#[tokio::test]
async fn the_body_limit_counts_decompressed_bytes() {
    let _serial = serial().await;
    let app = App::new()
        .post("/echo", echo)
        .post("/count", count)
        .body_limit(10_000)
        .layer(RequestDecompressionLayer::new());
    let client = TestClient::start(app).await.unwrap();
    let mut bomb = b"[".to_vec();
    bomb.extend(std::iter::repeat_n(b"0,".as_slice(), 100_000).flatten());
    bomb.extend(b"0]");
    let compressed = gzip(&bomb);
    assert!(compressed.len() < 10_000);
    for path in ["/echo", "/count"] {
        let response = client
            .post(path)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(compressed.clone())
            .send()
            .await;
        assert_eq!(response.status(), 413, "{path}");
        let _ = response.text().await;
    }
    client.settle().await;
    assert_eq!(
        events(),
        ["session:open", "session:close handler_error 413"]
    );
    client.shutdown().await;
}

/// A stream that sends one line, then stalls for ever.
#[depends]
async fn stalled(
    #[dep(session)] held: Held<u32>,
) -> StreamBody<
    impl futures_util::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Send + 'static,
> {
    let first =
        futures_util::stream::once(async { Ok(bytes::Bytes::from_static(b"first line\n")) });
    let rest = futures_util::stream::once(async move {
        let _held = held;
        std::future::pending::<()>().await;
        Ok(bytes::Bytes::new())
    });
    StreamBody::new(first.chain(rest))
}

/// tower-http's `ResponseBodyTimeoutLayer` cuts a streamed body that stalls: the client
/// gets the first line and a chunked body without its end, the `request`-scope teardown of
/// the value the stream held is told `BodyError` once (never a success), and nothing is
/// left in flight.
#[tokio::test]
async fn a_response_body_timeout_cuts_a_stalled_stream_and_tells_its_teardown_once() {
    let _serial = serial().await;
    let app = App::new().get("/stalled", stalled).layer(
        tower_http::timeout::ResponseBodyTimeoutLayer::new(Duration::from_millis(200)),
    );
    let server = app.bind("127.0.0.1:0").await.unwrap();
    let answer = raw(
        server.local_addr(),
        "GET /stalled HTTP/1.1\r\nhost: t\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.ends_with("\r\nfirst line\n\r\n"),
        "cut after the first chunk: {answer}"
    );
    common::guard("the teardown", closed()).await;
    let metrics = common::settled_whole(&server).await;
    assert_eq!(events(), ["session:open", "session:close body_error"]);
    assert_eq!(metrics.teardowns.body_error, 1, "{metrics:?}");
    server.shutdown().await;
}
