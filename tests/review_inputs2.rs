//! A second review of request input decoding (`di-runtime/src/input/`): self-recursive input
//! types deep in a body, on the server's worker threads; JSON numbers; multipart forms. Each
//! test is a defect found so, shown failing before its fix.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;

use di_runtime::prelude::*;
use di_runtime::{Multipart, TestClient};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

// ------------------------------------------------ 1. self-recursive types, deep in a body

/// A linked list of any length.
#[derive(Deserialize, Debug)]
#[allow(dead_code, reason = "deserialized only")]
struct List {
    value: u8,
    next: Option<Box<List>>,
}

/// A tree of any depth.
#[derive(Deserialize, Debug)]
#[allow(dead_code, reason = "deserialized only")]
struct Node {
    value: i32,
    children: Vec<Node>,
}

/// A chain of records of forty fields: each level of it costs a deserializer's visitor a
/// large stack frame in a debug build.
#[derive(Deserialize, Debug)]
#[allow(dead_code, reason = "deserialized only")]
struct Record {
    f0: String,
    f1: String,
    f2: String,
    f3: String,
    f4: String,
    f5: String,
    f6: String,
    f7: String,
    f8: String,
    f9: String,
    f10: String,
    f11: String,
    f12: String,
    f13: String,
    f14: String,
    f15: String,
    f16: String,
    f17: String,
    f18: String,
    f19: String,
    f20: String,
    f21: String,
    f22: String,
    f23: String,
    f24: String,
    f25: String,
    f26: String,
    f27: String,
    f28: String,
    f29: String,
    f30: String,
    f31: String,
    f32: String,
    f33: String,
    f34: String,
    f35: String,
    f36: String,
    f37: String,
    f38: String,
    f39: String,
    score: i64,
    previous: Option<Box<Record>>,
}

#[depends]
async fn list(Json(_l): Json<List>) -> &'static str {
    "ok"
}

#[depends]
async fn tree(Json(_t): Json<Node>) -> &'static str {
    "ok"
}

#[depends]
async fn record(Json(_r): Json<Record>) -> &'static str {
    "ok"
}

fn deep_app() -> App {
    App::new()
        .post("/list", list)
        .post("/tree", tree)
        .post("/record", record)
}

/// `depth` objects, each but the last holding the next at `link` (`"next":` or
/// `"children":[`, closed by `close`); every object has `fields`, the last one `last`.
fn chain(depth: usize, fields: &str, link: &str, close: &str, last: &str) -> String {
    let mut body = String::new();
    for _ in 1..depth {
        body.push_str(&format!("{{{fields},{link}"));
    }
    body.push_str(&format!("{{{last}}}"));
    for _ in 1..depth {
        body.push_str(close);
    }
    body
}

/// A list of `depth` links, the innermost one's value `value`.
fn list_body(depth: usize, value: &str) -> String {
    chain(
        depth,
        r#""value":1"#,
        r#""next":"#,
        "}",
        &format!(r#""value":{value},"next":null"#),
    )
}

/// A tree `depth` nodes deep, the innermost one's value `value`.
fn tree_body(depth: usize, value: &str) -> String {
    chain(
        depth,
        r#""value":1"#,
        r#""children":["#,
        "]}",
        &format!(r#""value":{value},"children":[]"#),
    )
}

/// A chain of `depth` records, the innermost one's score `score`.
fn record_body(depth: usize, score: &str) -> String {
    let fields: Vec<String> = (0..40).map(|i| format!(r#""f{i}":"""#)).collect();
    let fields = fields.join(",");
    chain(
        depth,
        &format!(r#"{fields},"score":1"#),
        r#""previous":"#,
        "}",
        &format!(r#"{fields},"score":{score},"previous":null"#),
    )
}

/// The status and JSON body of a request sent over its own connection.
async fn post_tcp(addr: SocketAddr, path: &str, body: &str) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("sends");
    let answer = common::read_to_close(&mut stream).await;
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn post_json(client: &TestClient, path: &str, body: String) -> (u16, Value) {
    let response = client
        .post(path)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The one problem of a 422 body.
fn only_problem(status: u16, body: &Value) -> &Value {
    assert_eq!(status, 422, "{body}");
    let detail = body["detail"].as_array().expect("a list of problems");
    assert_eq!(detail.len(), 1, "{body}");
    &detail[0]
}

/// Whether `problem` says that the body is nested too deeply, or is `kind` at the end of
/// the chain (where it is: the whole chain was searched).
fn deep_problem_is(problem: &Value, kind: &str) -> bool {
    problem["msg"] == "Value error, value is nested too deeply" || problem["type"] == kind
}

/// A chain of wide records forty deep, with a bad score at its end (a 15 KB body), is a
/// 422. The every-problem search used about 50 KB of stack a level in a debug build (at most
/// 160 levels of nesting, not of stack): it overflowed the worker thread's 2 MiB and aborted
/// the whole server. A valid chain a hundred deep (within serde_json's 128 levels) did the
/// same to the fast path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_body_of_a_wide_recursive_type_does_not_overflow_a_worker_stack() {
    let server = deep_app().bind("127.0.0.1:0").await.expect("binds");
    let addr = server.local_addr();
    for depth in [40, 80, 127] {
        let (status, body) = post_tcp(addr, "/record", &record_body(depth, r#""x""#)).await;
        let problem = only_problem(status, &body);
        assert!(deep_problem_is(problem, "int_parsing"), "{body}");
        let (status, body) = post_tcp(addr, "/record", &record_body(depth, "1")).await;
        if status != 200 {
            let problem = only_problem(status, &body);
            assert!(deep_problem_is(problem, "none"), "{body}");
        }
    }
    // Past serde_json's nesting limit: its error, as before.
    let (status, body) = post_tcp(addr, "/record", &record_body(200, "1")).await;
    assert_eq!(
        only_problem(status, &body)["type"],
        "json_invalid",
        "{body}"
    );
    // The server still serves.
    let (status, _) = post_tcp(addr, "/record", &record_body(2, "1")).await;
    assert_eq!(status, 200);
    server.shutdown().await;
}

/// The same through the test client, on the test's own thread.
#[tokio::test]
async fn a_deep_body_of_a_wide_recursive_type_is_a_422_through_the_test_client() {
    let client = TestClient::start(deep_app()).await.expect("starts");
    for depth in [40, 127] {
        let (status, body) = post_json(&client, "/record", record_body(depth, r#""x""#)).await;
        assert!(
            deep_problem_is(only_problem(status, &body), "int_parsing"),
            "{body}"
        );
        let (status, body) = post_json(&client, "/record", record_body(depth, "1")).await;
        if status != 200 {
            assert!(
                deep_problem_is(only_problem(status, &body), "none"),
                "{body}"
            );
        }
    }
    client.shutdown().await;
}

/// A list a hundred links deep (within serde_json's 128 levels, which the fast path takes)
/// with a bad value at its end: its problem is reported where it is. The search counted an
/// `Option` as a level of its own, stopped at 80 links, and reported two problems "nested
/// too deeply" instead, one of them at a valid value (`"input": 1`).
#[tokio::test]
async fn a_problem_deep_in_a_list_is_reported_where_it_is() {
    let client = TestClient::start(deep_app()).await.expect("starts");
    let mut at = vec![json!("body")];
    at.extend(std::iter::repeat_n(json!("next"), 99));
    at.push(json!("value"));
    let (status, body) = post_json(&client, "/list", list_body(100, r#""x""#)).await;
    let problem = only_problem(status, &body);
    assert_eq!(problem["type"], "int_parsing", "{body}");
    assert_eq!(problem["loc"], Value::Array(at.clone()), "{body}");
    let (status, body) = post_json(&client, "/list", list_body(100, "300")).await;
    assert_eq!(
        only_problem(status, &body)["type"],
        "less_than_equal",
        "{body}"
    );
    let missing = list_body(100, "1").replacen(r#""value":1,"next":null"#, r#""next":null"#, 1);
    let (status, body) = post_json(&client, "/list", missing).await;
    let problem = only_problem(status, &body);
    assert_eq!(problem["type"], "missing", "{body}");
    assert_eq!(problem["loc"], Value::Array(at), "{body}");
    // Valid, and a tree as deep as the parser takes.
    assert_eq!(
        post_json(&client, "/list", list_body(127, "1")).await.0,
        200
    );
    assert_eq!(post_json(&client, "/tree", tree_body(63, "1")).await.0, 200);
    let (status, body) = post_json(&client, "/tree", tree_body(63, r#""x""#)).await;
    assert_eq!(only_problem(status, &body)["type"], "int_parsing", "{body}");
    client.shutdown().await;
}

// ------------------------------------------------------------------ 2. multipart forms

#[derive(Deserialize, Debug)]
#[allow(dead_code, reason = "deserialized only")]
struct Meta {
    title: String,
    n: u32,
}

#[depends]
async fn upload(form: Multipart) -> Result<String, HttpError> {
    let (meta, files): (Meta, _) = form.into_form().await?;
    Ok(format!("{} {} {}", meta.title, meta.n, files.len()))
}

/// Any fields, each name's values.
#[depends]
async fn upload_any(form: Multipart) -> Result<String, HttpError> {
    let (fields, files): (HashMap<String, Vec<String>>, _) = form.into_form().await?;
    Ok(format!("{} {}", fields.len(), files.len()))
}

/// A part of a form whose boundary is `B`: a file part when `file` names one.
fn part(name: &str, file: Option<&str>, value: &[u8]) -> Vec<u8> {
    let mut part = b"--B\r\n".to_vec();
    let disposition = match file {
        Some(file) => format!("form-data; name=\"{name}\"; filename=\"{file}\""),
        None => format!("form-data; name=\"{name}\""),
    };
    part.extend(format!("Content-Disposition: {disposition}\r\n\r\n").as_bytes());
    part.extend(value);
    part.extend(b"\r\n");
    part
}

/// A form of the parts `parts` makes, closed.
fn form(parts: impl IntoIterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut body: Vec<u8> = parts.into_iter().flatten().collect();
    body.extend(b"--B--\r\n");
    body
}

async fn post_form(client: &TestClient, path: &str, body: Vec<u8>) -> (u16, Value) {
    let response = client
        .post(path)
        .header("content-type", "multipart/form-data; boundary=B")
        .body(body)
        .send()
        .await;
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A form read whole with `into_form` took any number of fields: a body limit raised for
/// uploads (64 MiB here) let a form of 100,000 tiny fields (5 MB) or files be held whole, each
/// at some hundred bytes beside its own, where Starlette's `request.form()` (FastAPI's) stops
/// at 1000 of each with a 400. It stops there too now, before reading the part past them.
#[tokio::test]
async fn a_form_read_whole_takes_at_most_a_thousand_fields_and_a_thousand_files() {
    let client = TestClient::start(
        App::new()
            .body_limit(64 << 20)
            .post("/any", upload_any)
            .post("/upload", upload),
    )
    .await
    .expect("starts");
    let fields = |n: usize| form((0..n).map(|i| part(&format!("f{}", i % 7), None, b"x")));
    let files = |n: usize| form((0..n).map(|i| part(&format!("f{i}"), Some("a.txt"), b"x")));
    assert_eq!(
        post_form(&client, "/any", fields(1000)).await,
        (200, Value::String("7 0".to_owned()))
    );
    for n in [1001, 100_000] {
        assert_eq!(
            post_form(&client, "/any", fields(n)).await,
            (
                400,
                json!({"detail": "Too many fields. Maximum number of fields is 1000."})
            )
        );
    }
    assert_eq!(
        post_form(&client, "/any", files(1000)).await,
        (200, Value::String("0 1000".to_owned()))
    );
    assert_eq!(
        post_form(&client, "/any", files(100_000)).await,
        (
            400,
            json!({"detail": "Too many files. Maximum number of files is 1000."})
        )
    );
    // Each counted apart: a thousand of each is a form.
    let both = form(
        (0..1000)
            .map(|i| part(&format!("f{i}"), Some("a.txt"), b"x"))
            .chain((0..1000).map(|i| part(&format!("t{i}"), None, b"x"))),
    );
    assert_eq!(
        post_form(&client, "/any", both).await,
        (200, Value::String("1000 1000".to_owned()))
    );
    client.shutdown().await;
}

/// The other bad forms are each a clear 4xx (pinned: they were already).
#[tokio::test]
async fn bad_multipart_forms_are_each_a_clear_4xx() {
    let client = TestClient::start(App::new().post("/upload", upload))
        .await
        .expect("starts");
    // Bytes that are not UTF-8 in a text field: U+FFFD, as documented.
    let body = form([part("title", None, b"ab\xff"), part("n", None, b"1")]);
    assert_eq!(
        post_form(&client, "/upload", body).await,
        (200, Value::String("ab\u{fffd} 1 0".to_owned()))
    );
    // A file where a text field is asked: that field is missing.
    let body = form([part("title", Some("t.txt"), b"abc"), part("n", None, b"1")]);
    let (status, body) = post_form(&client, "/upload", body).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "title"]), "{body}");
    // No closing boundary.
    let mut body = part("title", None, b"abc");
    body.extend(part("n", None, b"1"));
    let (status, body) = post_form(&client, "/upload", body).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("Invalid multipart data: ")),
        "{body}"
    );
    // A part's headers longer than 16 KiB.
    let mut body = b"--B\r\nContent-Disposition: form-data; name=\"title\"\r\nX-Long: ".to_vec();
    body.extend(vec![b'a'; 20_000]);
    body.extend(b"\r\n\r\nabc\r\n--B--\r\n");
    assert_eq!(
        post_form(&client, "/upload", body).await,
        (
            400,
            json!({"detail": "Invalid multipart data: a part's headers are longer than 16384 bytes"})
        )
    );
    client.shutdown().await;
}
