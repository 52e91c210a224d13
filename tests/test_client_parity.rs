//! The `TestClient` against a server on a socket: what a handler sees of a request, and what a
//! client gets of a response, are the same whichever sends the request (docs/testing.md).
//! Each scenario runs both ways; the server is sent what `curl` sends.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::{dechunk, read_bytes_to_close};
use di_runtime::prelude::*;
use di_runtime::{BodyStream, ClientAddr, StreamBody, TestRequest};
use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// What the app's generator saw: set up, then torn down with which outcome.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[depends(scope = "app")]
async fn seen() -> Seen {
    Seen::default()
}

#[depends(scope = "handler")]
async fn tx(#[dep(seen)] seen: &Seen, y: Yield<()>) {
    seen.0.lock().unwrap().push("tx:setup".to_owned());
    let ((), outcome) = y.provide(()).await;
    seen.0.lock().unwrap().push(format!("tx:{outcome}"));
}

/// The framing headers the handler was given.
#[depends]
async fn framing(head: &HeaderMap, body: Bytes) -> String {
    let field = |name: &str| {
        head.get(name)
            .map_or("-", |value| value.to_str().unwrap_or("?"))
            .to_owned()
    };
    format!(
        "host={} content-length={} transfer-encoding={} body={}",
        field("host"),
        field("content-length"),
        field("transfer-encoding"),
        body.len()
    )
}

/// Reads an upload as a stream, behind a transaction.
#[depends]
async fn upload(#[dep(tx)] _tx: &(), mut body: BodyStream) -> Result<String, HttpError> {
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        bytes += chunk?.len();
    }
    Ok(bytes.to_string())
}

#[depends]
async fn hello() -> &'static str {
    "hello"
}

#[depends]
async fn nothing() -> &'static str {
    ""
}

#[depends]
async fn lines() -> impl IntoResponse {
    StreamBody::new(futures_util::stream::iter(
        ["a\n", "b\n"].map(Ok::<_, std::io::Error>),
    ))
}

#[depends]
async fn reset() -> (StatusCode, &'static str) {
    (StatusCode::RESET_CONTENT, "")
}

#[depends]
async fn not_modified() -> (StatusCode, &'static str) {
    (StatusCode::NOT_MODIFIED, "")
}

#[depends]
async fn created() -> (StatusCode, &'static str) {
    (StatusCode::CREATED, "")
}

#[depends]
async fn client(addr: ClientAddr) -> String {
    addr.0.to_string()
}

fn app() -> App {
    App::new()
        .post("/framing", framing)
        .get("/framing", framing)
        .post("/upload", upload)
        .get("/hello", hello)
        .get("/nothing", nothing)
        .get("/lines", lines)
        .get("/client", client)
        .get("/205", reset)
        .get("/304", not_modified)
        .get("/201", created)
        .body_limit(64)
}

/// The app twice: in a test client whose generators log to `in_process`, and on a socket
/// (127.0.0.1, any port) whose generators log to `on_a_socket`.
async fn both(in_process: Seen, on_a_socket: Seen) -> (TestClient, di_runtime::Server) {
    let client = TestClient::start(app().provide(seen, in_process))
        .await
        .expect("starts");
    let server = app()
        .provide(seen, on_a_socket)
        .bind("127.0.0.1:0")
        .await
        .expect("binds");
    (client, server)
}

/// One response as the test compares it: status, the named header fields, the body.
#[derive(Debug, PartialEq)]
struct Seen1 {
    status: u16,
    fields: Vec<(String, String)>,
    body: String,
}

/// The header fields compared: the framing ones, which only hyper writes on a socket.
const FIELDS: [&str; 2] = ["content-length", "transfer-encoding"];

async fn through_the_test_client(request: TestRequest<'_>) -> Seen1 {
    let response = request.send().await;
    let status = response.status().as_u16();
    let fields = FIELDS
        .iter()
        .filter_map(|name| Some((name.to_string(), response.header(name)?.to_owned())))
        .collect();
    let body = response.text().await.expect("a body");
    Seen1 {
        status,
        fields,
        body,
    }
}

/// `raw` sent to `addr` (it should ask to close the connection), the answer read to the end.
async fn through_a_socket(addr: SocketAddr, raw: &[u8]) -> Seen1 {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    stream.write_all(raw).await.expect("writes");
    let answer = read_bytes_to_close(&mut stream).await;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().expect("a status line")[9..12]
        .parse()
        .expect("a status");
    let fields: Vec<(String, String)> = lines
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            let name = name.trim().to_ascii_lowercase();
            FIELDS
                .contains(&name.as_str())
                .then(|| (name, value.trim().to_owned()))
        })
        .collect();
    let mut body = answer[split + 4..].to_vec();
    if fields.iter().any(|(name, _)| name == "transfer-encoding") {
        body = dechunk(&body);
    }
    Seen1 {
        status,
        fields,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Each request sent both ways; `server` is `raw` as curl sends it.
#[tokio::test]
async fn a_handler_sees_the_same_host_and_body_length_from_the_test_client_as_from_curl() {
    let (client, server) = both(Seen::default(), Seen::default()).await;
    let addr = server.local_addr();
    let cases: [(TestRequest<'_>, &[u8]); 4] = [
        (
            client.get("/framing"),
            b"GET /framing HTTP/1.1\r\nhost: testserver\r\nconnection: close\r\n\r\n",
        ),
        (
            client.post("/framing").body("abc"),
            b"POST /framing HTTP/1.1\r\nhost: testserver\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc",
        ),
        // curl -X POST with no data sends no length; httpx, as the test client, sends 0.
        (
            client.post("/framing"),
            b"POST /framing HTTP/1.1\r\nhost: testserver\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        ),
        (
            client.post("/framing").chunked(["ab", "c"]),
            b"POST /framing HTTP/1.1\r\nhost: testserver\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n",
        ),
    ];
    for (request, raw) in cases {
        let in_process = through_the_test_client(request).await;
        let on_a_socket = through_a_socket(addr, raw).await;
        assert_eq!(in_process, on_a_socket, "{}", String::from_utf8_lossy(raw));
    }
    // An absolute URI's authority is the host, as an HTTP/1.1 client sends it.
    let absolute = client
        .get("http://example.com:8080/framing")
        .send()
        .await
        .text()
        .await
        .expect("text");
    assert!(absolute.starts_with("host=example.com:8080 "), "{absolute}");
    // Without credentials, and without the scheme's own port, as httpx sends it.
    let bare = client
        .get("http://user:secret@api.test:80/framing")
        .send()
        .await
        .text()
        .await
        .expect("text");
    assert!(bare.starts_with("host=api.test "), "{bare}");
    // A host the test sets is kept.
    let set = client
        .get("/framing")
        .header("host", "api.test")
        .send()
        .await
        .text()
        .await
        .expect("text");
    assert!(set.starts_with("host=api.test "), "{set}");
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_response_has_the_same_length_and_framing_from_the_test_client_as_from_a_socket() {
    let (client, server) = both(Seen::default(), Seen::default()).await;
    let addr = server.local_addr();
    for (method, path) in [
        ("GET", "/hello"),
        ("HEAD", "/hello"),
        ("GET", "/nothing"),
        ("HEAD", "/nothing"),
        ("GET", "/no/such/path"),
        ("POST", "/hello"),
        ("GET", "/201"),
        ("HEAD", "/201"),
        // A 205 has a length of 0 (hyper writes it), a 304 none.
        ("GET", "/205"),
        ("HEAD", "/205"),
        ("GET", "/304"),
    ] {
        let raw =
            format!("{method} {path} HTTP/1.1\r\nhost: testserver\r\nconnection: close\r\n\r\n");
        let on_a_socket = through_a_socket(addr, raw.as_bytes()).await;
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let in_process = through_the_test_client(client.request(method.clone(), path)).await;
        assert_eq!(in_process, on_a_socket, "{method} {path}");
        assert_eq!(
            in_process
                .fields
                .iter()
                .any(|(name, _)| name == "content-length"),
            path != "/304",
            "{method} {path}: {in_process:?}"
        );
    }
    // A streamed body: its length unknown, chunked on the socket, and no length in either.
    let raw = b"GET /lines HTTP/1.1\r\nhost: testserver\r\nconnection: close\r\n\r\n";
    let on_a_socket = through_a_socket(addr, raw).await;
    let in_process = through_the_test_client(client.get("/lines")).await;
    assert_eq!(
        (in_process.status, in_process.body.as_str()),
        (200, "a\nb\n")
    );
    assert_eq!(
        (on_a_socket.status, on_a_socket.body.as_str()),
        (200, "a\nb\n")
    );
    assert!(in_process.fields.is_empty(), "{in_process:?}");
    assert_eq!(
        on_a_socket.fields,
        [("transfer-encoding".to_owned(), "chunked".to_owned())]
    );
    client.shutdown().await;
    server.shutdown().await;
}

/// An upload longer than the limit: with its length given, refused before anything is set
/// up; sent in chunks, found as it is read, with the transaction rolled back. The same both
/// ways.
#[tokio::test]
async fn an_upload_past_the_limit_sets_up_the_same_from_the_test_client_as_from_a_socket() {
    let body = "x".repeat(100);
    let (in_process, on_a_socket) = (Seen::default(), Seen::default());
    let (client, server) = both(in_process.clone(), on_a_socket.clone()).await;
    let addr = server.local_addr();

    let whole = through_the_test_client(client.post("/upload").body(body.clone())).await;
    client.settle().await;
    let raw = format!(
        "POST /upload HTTP/1.1\r\nhost: testserver\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{body}"
    );
    let whole_on_a_socket = through_a_socket(addr, raw.as_bytes()).await;
    server.settle().await;
    assert_eq!(whole.status, 413);
    assert_eq!(whole, whole_on_a_socket);
    assert_eq!(in_process.take(), Vec::<String>::new(), "nothing set up");
    assert_eq!(on_a_socket.take(), Vec::<String>::new(), "nothing set up");

    let chunked = through_the_test_client(
        client
            .post("/upload")
            .chunked([body[..50].to_owned(), body[50..].to_owned()]),
    )
    .await;
    client.settle().await;
    let raw = format!(
        "POST /upload HTTP/1.1\r\nhost: testserver\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n32\r\n{}\r\n32\r\n{}\r\n0\r\n\r\n",
        &body[..50],
        &body[50..]
    );
    let chunked_on_a_socket = through_a_socket(addr, raw.as_bytes()).await;
    server.settle().await;
    assert_eq!(chunked.status, 413);
    assert_eq!(chunked, chunked_on_a_socket);
    let rolled_back = ["tx:setup", "tx:handler error (413)"].map(str::to_owned);
    assert_eq!(in_process.take(), rolled_back);
    assert_eq!(on_a_socket.take(), rolled_back);
    client.shutdown().await;
    server.shutdown().await;
}

/// `ClientAddr`: none from the test client unless the test gives one (a 500, as under any
/// server that gives none), the connection's from a server.
#[tokio::test]
async fn the_test_client_gives_the_client_address_it_is_told() {
    let client = TestClient::start(app().provide(seen, Seen::default()))
        .await
        .expect("starts");
    let addr: SocketAddr = "192.0.2.7:50000".parse().expect("an address");
    let response = client.get("/client").client_addr(addr).send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("text"), "192.0.2.7:50000");
    assert_eq!(client.get("/client").send().await.status(), 500);
    client.shutdown().await;
}
