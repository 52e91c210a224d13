//! The request body read as a stream (`BodyStream`, `Lines`): chunks reach the handler as the
//! client sends them, the body limit (413), deadline and minimum rate (408) hold while
//! streaming and reach the teardowns as the request's outcome, a client that goes away
//! mid-upload commits nothing, and a route cannot read its body twice (`App::check`).
//! In process (`TestClient`) and over real TCP (chunked uploads written by hand).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{events, log, serial};
use di_runtime::prelude::*;
use di_runtime::{BodyError, BodyStream, Multipart};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Stands in for a transaction: commits on success, rolls back otherwise, and logs which.
#[depends(scope = "handler")]
async fn tx(y: Yield<Vec<usize>>) {
    let (rows, outcome) = y.provide(Vec::new()).await;
    if outcome.is_success() {
        log(format!("tx:commit {rows:?}"));
    } else {
        log(format!("tx:rollback {outcome}"));
    }
}

/// Reads the body chunk by chunk, logging each chunk as it arrives.
#[depends]
async fn upload(
    #[dep(tx)] rows: &mut Vec<usize>,
    mut body: BodyStream,
) -> Result<String, HttpError> {
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        rows.push(chunk.len());
        log(format!("chunk {}: {}", rows.len(), chunk.len()));
        bytes += chunk.len();
    }
    Ok(format!("{bytes} bytes in {} chunks", rows.len()))
}

/// The body's lines, as JSON strings.
#[depends]
async fn lines(body: BodyStream) -> Result<Json<Vec<String>>, HttpError> {
    let mut lines = body.lines();
    let mut all = Vec::new();
    while let Some(line) = lines.next_line().await {
        all.push(String::from_utf8_lossy(&line?).into_owned());
    }
    Ok(Json(all))
}

/// A dependency that reads the body: the handler gets the total.
#[depends]
async fn body_size(body: BodyStream) -> Result<usize, HttpError> {
    Ok(body.to_bytes().await?.len())
}

#[depends]
async fn size(#[dep(body_size)] size: &usize) -> String {
    size.to_string()
}

fn app() -> App {
    App::new()
        .post("/upload", upload)
        .post("/lines", lines)
        .post("/size", size)
}

// ------------------------------------------------------------------------------ in process

#[tokio::test]
async fn a_body_stream_reads_the_whole_body_in_process() {
    let _serial = serial().await;
    let client = TestClient::start(app()).await.expect("starts");
    let response = client.post("/upload").body("hello world").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("text"), "11 bytes in 1 chunks");
    assert_eq!(events(), ["chunk 1: 11", "tx:commit [11]"]);

    // No body at all: an empty stream.
    let response = client.post("/upload").send().await;
    assert_eq!(response.text().await.expect("text"), "0 bytes in 0 chunks");
    client.shutdown().await;
}

#[tokio::test]
async fn lines_are_split_on_newlines_keeping_empty_ones_and_the_last_unterminated_one() {
    let client = TestClient::start(app()).await.expect("starts");
    let response = client.post("/lines").body("a\r\n\nb\nlast").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!(["a", "", "b", "last"])
    );
    let response = client.post("/lines").body("one\n").send().await;
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!(["one"])
    );
    client.shutdown().await;
}

#[tokio::test]
async fn a_dependency_can_read_the_body_stream() {
    let client = TestClient::start(app()).await.expect("starts");
    let response = client.post("/size").body(vec![b'x'; 5000]).send().await;
    assert_eq!(response.text().await.expect("text"), "5000");
    client.shutdown().await;
}

#[tokio::test]
async fn a_streamed_body_past_the_limit_is_413_and_the_transaction_rolls_back() {
    let _serial = serial().await;
    let client = TestClient::start(app().body_limit(100))
        .await
        .expect("starts");
    // Sent in chunks, with no `Content-Length`: the limit is found as the body is read.
    let response = client
        .post("/upload")
        .chunked([vec![b'x'; 1000]])
        .send()
        .await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"detail": "Request body too large"})
    );
    let events = events();
    assert_eq!(
        events.last().map(String::as_str),
        Some("tx:rollback handler error (413)"),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e.starts_with("tx:commit")));
    client.shutdown().await;
}

#[test]
fn body_errors_convert_to_the_status_the_runtime_answers() {
    for (error, status) in [
        (BodyError::TooLarge, 413),
        (BodyError::TimedOut, 408),
        (BodyError::Incomplete, 400),
    ] {
        let http = HttpError::from(error.clone());
        assert_eq!(http.status(), status);
        assert_eq!(http.detail(), &json!(error.to_string()));
    }
    let timed_out = HttpError::from(BodyError::TimedOut);
    assert_eq!(
        timed_out.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
}

// ---------------------------------------------------------------------- one reader per body

#[depends]
async fn stream_and_json(_body: BodyStream, Json(_v): Json<Value>) -> &'static str {
    "never"
}

#[depends]
async fn two_streams(_body: BodyStream, #[dep(body_size)] _n: &usize) -> &'static str {
    "never"
}

#[depends]
async fn stream_and_bytes(#[dep(body_size)] _n: &usize, _whole: Bytes) -> &'static str {
    "never"
}

#[depends]
async fn json_and_form(Json(_v): Json<Value>, Form(_f): Form<Login>) -> &'static str {
    "never"
}

#[derive(serde::Deserialize)]
#[allow(dead_code, reason = "read by a route refused before it serves")]
struct Login {
    user: Option<String>,
}

#[depends]
async fn login_form(Form(f): Form<Login>) -> String {
    f.user.unwrap_or_default()
}

#[depends]
async fn json_beside_a_form(
    #[dep(login_form)] _user: &String,
    _note: Option<Json<Value>>,
) -> &'static str {
    "never"
}

#[depends]
async fn json_twice_and_bytes(
    Json(_a): Json<Value>,
    Json(_b): Json<Value>,
    _raw: Bytes,
) -> &'static str {
    "ok"
}

#[test]
fn a_route_that_reads_its_body_as_json_and_as_a_form_is_refused_at_start() {
    let error = App::new()
        .post("/a", json_and_form)
        .post("/b", json_beside_a_form)
        .check()
        .expect_err("two routes read their body as JSON and as a form");
    let problems = error.problems().join("\n");
    assert!(
        problems.contains("`json_and_form` reads the request body as JSON (`Json<Value>`) and `json_and_form` reads it as a form (`Form<Login>`), but a request has one body in one content type"),
        "{problems}"
    );
    assert!(
        problems.contains("`login_form` reads the request body as a form (`Form<Login>`) and `json_beside_a_form` reads it as JSON (`Option<Json<Value>>`)"),
        "{problems}"
    );
    assert_eq!(error.problems().len(), 2, "{problems}");
    // Two reads in one content type, or a content type and the raw bytes, are fine.
    App::new()
        .post("/c", json_twice_and_bytes)
        .post("/d", login_form)
        .check()
        .expect("one content type per route");
}

#[test]
fn a_route_that_streams_its_body_and_reads_it_otherwise_is_refused_at_start() {
    let error = App::new()
        .post("/a", stream_and_json)
        .post("/b", two_streams)
        .post("/c", stream_and_bytes)
        .check()
        .expect_err("three routes read their body twice");
    let problems = error.problems().join("\n");
    assert!(
        problems.contains("`stream_and_json` reads the request body as a stream (`BodyStream`) and `stream_and_json` reads it whole (`Json<Value>`)"),
        "{problems}"
    );
    assert!(
        problems.contains("also reads it as a stream (`BodyStream`)"),
        "{problems}"
    );
    assert!(
        problems.contains("`body_size` reads the request body as a stream (`BodyStream`) and `stream_and_bytes` reads it whole (`Bytes`)"),
        "{problems}"
    );
    assert_eq!(error.problems().len(), 3, "{problems}");
    // Each alone is fine.
    App::new()
        .post("/upload", upload)
        .post("/size", size)
        .check()
        .expect("one reader each");
}

// ------------------------------------------------------------------------------ over TCP

/// Sends a request head announcing a chunked body.
async fn chunked_head(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("writes");
    stream
}

async fn send_chunk(stream: &mut TcpStream, data: &[u8]) {
    let mut frame = format!("{:x}\r\n", data.len()).into_bytes();
    frame.extend_from_slice(data);
    frame.extend_from_slice(b"\r\n");
    stream.write_all(&frame).await.expect("writes a chunk");
}

/// Reads the whole response (the server closes the connection after it): status, body.
async fn response(mut stream: TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a response: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Waits (bounded, so a broken build fails instead of hanging) until an event starting with
/// `prefix` was logged; returns it.
async fn wait_for(prefix: &str) -> String {
    for _ in 0..1000 {
        if let Some(event) = events().into_iter().find(|e| e.starts_with(prefix)) {
            return event;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("`{prefix}` never happened: {:?}", events());
}

#[tokio::test]
async fn a_chunked_upload_reaches_the_handler_chunk_by_chunk_before_it_ends() {
    let _serial = serial().await;
    let server = app().bind("127.0.0.1:0").await.expect("binds");
    let mut stream = chunked_head(server.local_addr(), "/upload").await;
    send_chunk(&mut stream, b"hello").await;
    // The handler has the first chunk while the client has not sent the second: the body
    // was not buffered first.
    wait_for("chunk 1: 5").await;
    send_chunk(&mut stream, b"world!").await;
    wait_for("chunk 2: 6").await;
    stream.write_all(b"0\r\n\r\n").await.expect("ends the body");
    let (status, body) = response(stream).await;
    assert_eq!((status, body.as_str()), (200, "11 bytes in 2 chunks"));
    assert_eq!(wait_for("tx:").await, "tx:commit [5, 6]");
    server.shutdown().await;
}

#[tokio::test]
async fn an_oversized_chunked_upload_is_413_after_the_handler_streamed_part_of_it() {
    let _serial = serial().await;
    let server = app()
        .body_limit(1000)
        .bind("127.0.0.1:0")
        .await
        .expect("binds");
    let mut stream = chunked_head(server.local_addr(), "/upload").await;
    send_chunk(&mut stream, &[b'x'; 600]).await;
    wait_for("chunk 1: 600").await;
    send_chunk(&mut stream, &[b'x'; 600]).await;
    let (status, body) = response(stream).await;
    assert_eq!(status, 413);
    assert!(body.contains("Request body too large"), "{body}");
    assert_eq!(wait_for("tx:").await, "tx:rollback handler error (413)");
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_upload_is_408_and_the_transaction_rolls_back() {
    let _serial = serial().await;
    let server = app()
        .body_timeout(Duration::from_millis(200))
        .bind("127.0.0.1:0")
        .await
        .expect("binds");
    let mut stream = chunked_head(server.local_addr(), "/upload").await;
    send_chunk(&mut stream, b"first").await;
    wait_for("chunk 1: 5").await;
    // ... and nothing more: the deadline passes while the handler waits for the next chunk.
    let (status, body) = response(stream).await;
    assert_eq!(status, 408);
    assert!(body.contains("Request body timed out"), "{body}");
    assert_eq!(wait_for("tx:").await, "tx:rollback handler error (408)");
    server.shutdown().await;
}

#[tokio::test]
async fn an_upload_under_the_minimum_rate_is_408_while_streaming() {
    let _serial = serial().await;
    // The whole-body deadline stays at its 30 s default: only the rate can end this one.
    let server = app()
        .body_min_rate(1_000_000, Duration::from_millis(100))
        .bind("127.0.0.1:0")
        .await
        .expect("binds");
    let mut stream = chunked_head(server.local_addr(), "/upload").await;
    send_chunk(&mut stream, b"trickle").await;
    wait_for("chunk 1: 7").await;
    let (status, body) = response(stream).await;
    assert_eq!(status, 408);
    assert!(body.contains("Request body timed out"), "{body}");
    assert_eq!(wait_for("tx:").await, "tx:rollback handler error (408)");
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_gone_mid_upload_commits_nothing() {
    let _serial = serial().await;
    let server = app().bind("127.0.0.1:0").await.expect("binds");
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connects");
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\nhalf")
        .await
        .expect("writes");
    wait_for("chunk 1: 4").await;
    drop(stream);
    let closed = wait_for("tx:").await;
    assert!(closed.starts_with("tx:rollback"), "{closed}");
    assert!(!events().iter().any(|e| e.starts_with("tx:commit")));
    server.shutdown().await;
}

// ------------------------------------------------------------------------------ multipart

const BOUNDARY: &str = "XyZ-boundary";

/// A multipart body: `note` (text) and `file` (`a.txt`), by hand.
fn form_body(file: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello there\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
         Content-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn form_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// Each field in order: a text field's value, a file's name, type, size and chunk count
/// (each chunk logged as it arrives).
#[depends]
async fn fields(
    #[dep(tx)] rows: &mut Vec<usize>,
    mut form: Multipart,
) -> Result<Json<Value>, HttpError> {
    let mut out = Vec::new();
    while let Some(mut field) = form.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        match field.file_name().map(str::to_owned) {
            Some(file_name) => {
                let content_type = field.content_type().map(str::to_owned);
                let (mut size, mut chunks) = (0, 0);
                while let Some(chunk) = field.chunk().await? {
                    chunks += 1;
                    size += chunk.len();
                    rows.push(chunk.len());
                    log(format!("part chunk {chunks}"));
                }
                out.push(json!({"name": name, "file_name": file_name, "content_type": content_type, "size": size, "chunks": chunks}));
            }
            None => out.push(json!({"name": name, "text": field.text().await?})),
        }
    }
    Ok(Json(Value::Array(out)))
}

fn form_app() -> App {
    App::new().post("/form", fields)
}

/// A text field's bytes are decoded by its own `charset`, UTF-8 without one, and taken as they
/// are: bytes that merely begin like a byte order mark do not switch the charset, and a UTF-8
/// mark stays in the text, as in FastAPI's.
#[tokio::test]
async fn a_multipart_text_field_is_decoded_by_its_charset_and_never_by_a_byte_order_mark() {
    let _serial = serial().await;
    let client = TestClient::start(form_app()).await.expect("starts");
    let part = |headers: &str, value: &[u8]| {
        let mut part =
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"t\"\r\n{headers}\r\n")
                .into_bytes();
        part.extend_from_slice(value);
        part.extend_from_slice(b"\r\n");
        part
    };
    let mut body = part("", b"\xFF\xFEA\x00B\x00");
    body.extend(part("", b"\xEF\xBB\xBFabc"));
    body.extend(part(
        "Content-Type: text/plain; charset=latin1\r\n",
        b"caf\xE9",
    ));
    body.extend(part(
        "Content-Type: text/plain; charset=utf-16le\r\n",
        b"\xFF\xFEh\x00i\x00",
    ));
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let response = client
        .post("/form")
        .header("content-type", form_type())
        .body(body)
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let fields: Value = response.json().await.expect("json");
    let texts: Vec<&str> = fields
        .as_array()
        .expect("an array")
        .iter()
        .map(|field| field["text"].as_str().expect("a text field"))
        .collect();
    assert_eq!(
        texts,
        [
            "\u{FFFD}\u{FFFD}A\u{0}B\u{0}",
            "\u{FEFF}abc",
            "caf\u{e9}",
            "\u{FEFF}hi",
        ]
    );
    client.shutdown().await;
}

#[tokio::test]
async fn multipart_yields_text_fields_and_file_parts_in_order() {
    let _serial = serial().await;
    let client = TestClient::start(form_app()).await.expect("starts");
    let response = client
        .post("/form")
        .header("content-type", form_type())
        .body(form_body(b"file contents"))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let fields: Value = response.json().await.expect("json");
    assert_eq!(fields[0], json!({"name": "note", "text": "hello there"}));
    assert_eq!(fields[1]["name"], "file");
    assert_eq!(fields[1]["file_name"], "a.txt");
    assert_eq!(fields[1]["content_type"], "text/plain");
    assert_eq!(fields[1]["size"], 13);
    assert_eq!(fields.as_array().map(Vec::len), Some(2));
    client.shutdown().await;
}

#[tokio::test]
async fn a_body_that_is_not_multipart_is_422_and_sets_nothing_up() {
    let _serial = serial().await;
    let client = TestClient::start(form_app()).await.expect("starts");
    let response = client.post("/form").json(&json!({"a": 1})).send().await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"detail": [{"type": "value_error", "loc": ["body"], "msg": "Input should be a multipart/form-data body", "input": "application/json"}]})
    );
    let response = client.post("/form").body("x").send().await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.json::<Value>().await.expect("json")["detail"][0]["input"],
        Value::Null
    );
    assert_eq!(events(), Vec::<String>::new(), "no transaction was opened");
    client.shutdown().await;
}

#[tokio::test]
async fn a_multipart_body_without_a_boundary_is_400_as_in_fastapi() {
    let client = TestClient::start(form_app()).await.expect("starts");
    let response = client
        .post("/form")
        .header("content-type", "multipart/form-data")
        .body("x")
        .send()
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"detail": "Missing boundary in multipart."})
    );
    client.shutdown().await;
}

#[tokio::test]
async fn a_malformed_multipart_body_is_400_with_a_clear_message_and_rolls_back() {
    let _serial = serial().await;
    let client = TestClient::start(form_app()).await.expect("starts");
    for body in [
        "garbage".to_owned(),
        // Cut off in the middle of a part.
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi"),
        // A part whose headers never end.
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\""),
    ] {
        common::clear();
        let response = client
            .post("/form")
            .header("content-type", form_type())
            .body(body.clone())
            .send()
            .await;
        assert_eq!(response.status(), 400, "{body:?}");
        let detail = response.json::<Value>().await.expect("json")["detail"].clone();
        let detail = detail.as_str().unwrap_or_default().to_owned();
        assert!(detail.starts_with("Invalid multipart data: "), "{detail}");
        assert_eq!(events(), ["tx:rollback handler error (400)"], "{body:?}");
    }
    client.shutdown().await;
}

#[tokio::test]
async fn a_file_part_past_the_body_limit_is_413_and_rolls_back() {
    let _serial = serial().await;
    let client = TestClient::start(form_app().body_limit(4096))
        .await
        .expect("starts");
    let response = client
        .post("/form")
        .header("content-type", form_type())
        .chunked([form_body(&[b'x'; 10_000])])
        .send()
        .await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"detail": "Request body too large"})
    );
    assert_eq!(
        events().last().map(String::as_str),
        Some("tx:rollback handler error (413)")
    );
    client.shutdown().await;
}

#[tokio::test]
async fn a_large_file_part_is_streamed_chunk_by_chunk_over_tcp() {
    let _serial = serial().await;
    let server = form_app().bind("127.0.0.1:0").await.expect("binds");
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connects");
    let head = format!(
        "POST /form HTTP/1.1\r\nhost: test\r\ncontent-type: {}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        form_type()
    );
    stream.write_all(head.as_bytes()).await.expect("writes");
    // 1 MiB of file in 64 pieces of 16 KiB; the first reaches the handler before the second
    // is sent, so the part is not buffered whole.
    let body = form_body(&vec![b'y'; 1 << 20]);
    let file_at = body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .and_then(|first| {
            body[first + 4..]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|second| first + 4 + second + 4)
        })
        .expect("the file part's head");
    send_chunk(&mut stream, &body[..file_at + 16 * 1024]).await;
    wait_for("part chunk 1").await;
    for piece in body[file_at + 16 * 1024..].chunks(16 * 1024) {
        send_chunk(&mut stream, piece).await;
    }
    stream.write_all(b"0\r\n\r\n").await.expect("ends the body");
    let (status, body) = response(stream).await;
    assert_eq!(status, 200, "{body}");
    let fields: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(fields[1]["size"], 1 << 20);
    let chunks = fields[1]["chunks"].as_u64().expect("a count");
    assert!(chunks > 1, "the file came in {chunks} chunk(s)");
    assert!(wait_for("tx:").await.starts_with("tx:commit ["));
    server.shutdown().await;
}

#[derive(serde::Deserialize)]
struct Meta {
    note: String,
    tags: Vec<String>,
    count: u32,
}

/// A small form read whole: text fields into `Meta`, files in memory.
#[depends]
async fn small_form(
    #[dep(tx)] _rows: &mut Vec<usize>,
    form: Multipart,
) -> Result<Json<Value>, HttpError> {
    let (meta, files) = form.into_form::<Meta>().await?;
    let files: Vec<Value> = files
        .iter()
        .map(|f| json!([f.field, f.file_name, f.content_type, f.bytes.len()]))
        .collect();
    Ok(Json(
        json!({"note": meta.note, "tags": meta.tags, "count": meta.count, "files": files}),
    ))
}

fn text_part(name: &str, value: &str) -> String {
    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
}

#[tokio::test]
async fn into_form_reads_text_fields_into_a_struct_and_files_in_memory() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().post("/small", small_form))
        .await
        .expect("starts");
    let mut body = text_part("tags", "a") + &text_part("tags", "b") + &text_part("count", "3");
    body.push_str(&String::from_utf8(form_body(b"12345")).expect("utf-8"));
    let response = client
        .post("/small")
        .header("content-type", form_type())
        .body(body)
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"note": "hello there", "tags": ["a", "b"], "count": 3, "files": [["file", "a.txt", "text/plain", 5]]})
    );

    // Every problem with the text fields in one 422 at ["body", field], as `Form<T>`; the
    // transaction that was set up sees it.
    common::clear();
    let body = text_part("count", "x") + &format!("--{BOUNDARY}--\r\n");
    let response = client
        .post("/small")
        .header("content-type", form_type())
        .body(body)
        .send()
        .await;
    assert_eq!(response.status(), 422);
    let problems: Value = response.json().await.expect("json");
    let locs: Vec<&Value> = problems["detail"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| &p["loc"])
        .collect();
    assert_eq!(
        locs,
        [
            &json!(["body", "note"]),
            &json!(["body", "tags"]),
            &json!(["body", "count"])
        ],
        "{problems}"
    );
    assert_eq!(events(), ["tx:rollback handler error (422)"]);
    client.shutdown().await;
}

#[depends]
async fn json_size(Json(value): Json<serde_json::Value>) -> String {
    value.to_string().len().to_string()
}

/// A body whose size is known before it is read (`Body::size_hint`), from a server or a
/// client that gives it without a `Content-Length` header (the test client before it sent one,
/// a server embedding the app as a `tower::Service`), is refused as one declared past the
/// limit: 413 before anything is set up.
#[tokio::test]
async fn a_body_known_past_the_limit_without_a_content_length_is_413_and_nothing_is_set_up() {
    let _serial = serial().await;
    let running = app()
        .post("/json", json_size)
        .body_limit(1000)
        .start()
        .await
        .expect("starts");
    let service = running.service();
    for path in ["/upload", "/json"] {
        let request = http::Request::post(path)
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(vec![
                b' ';
                1001
            ])))
            .expect("a request");
        let response = service.call_request(request).await;
        assert_eq!(response.status(), 413, "{path}");
    }
    running.settle().await;
    assert_eq!(
        running.metrics().setups,
        0,
        "nothing was set up: {:?}",
        events()
    );
    assert!(events().is_empty(), "{:?}", events());
    running.shutdown().await;
}

#[tokio::test]
async fn a_body_declared_past_the_limit_is_413_before_it_is_read_and_nothing_is_set_up() {
    let _serial = serial().await;
    let server = app()
        .post("/json", json_size)
        .body_limit(1000)
        .bind("127.0.0.1:0")
        .await
        .expect("binds");
    // A streamed body (`/upload`, whose `tx` would be set up first) and one read whole.
    for path in ["/upload", "/json"] {
        let mut stream = TcpStream::connect(server.local_addr())
            .await
            .expect("connects");
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
             content-length: 1001\r\nexpect: 100-continue\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("writes");
        // No byte of the body is sent: the head alone is answered, with no `100 Continue`
        // first, and the connection is closed after it.
        let (status, body) = tokio::time::timeout(Duration::from_secs(10), response(stream))
            .await
            .expect("answered without the body");
        assert_eq!(status, 413, "{path}: {body}");
        assert!(body.contains("Request body too large"), "{path}: {body}");
    }
    // A body within the limit is still read.
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connects");
    let request = "POST /json HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
                   content-length: 6\r\nconnection: close\r\n\r\n[1, 2]";
    stream.write_all(request.as_bytes()).await.expect("writes");
    assert_eq!(response(stream).await, (200, "5".to_owned()));
    assert!(
        !events().iter().any(|e| e.starts_with("tx:")),
        "nothing was set up: {:?}",
        events()
    );
    server.shutdown().await;
}
