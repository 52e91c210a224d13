//! A third review of request input decoding (`di-runtime/src/input/`): recursive types that
//! serde reads from a buffer of its own (untagged and internally tagged enums, flattened
//! fields), deep in a body, on the server's worker threads (tokio's default 2 MiB stacks).
//! Each test is a defect found so, shown failing before its fix.

mod common;

use std::net::SocketAddr;

use di_runtime::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

// ------------------------------ 1. recursive types read from serde's buffer, deep in a body

/// Writes a struct of forty `String` fields `f0` to `f39` (each level of a chain of them
/// costs a deserializer a large stack frame in a debug build), then `$($rest)*`.
macro_rules! wide {
    ($(#[$attr:meta])* struct $name:ident { $($rest:tt)* }) => {
        $(#[$attr])*
        #[derive(Deserialize, Debug)]
        #[allow(dead_code, reason = "deserialized only")]
        struct $name {
            f0: String, f1: String, f2: String, f3: String, f4: String, f5: String,
            f6: String, f7: String, f8: String, f9: String, f10: String, f11: String,
            f12: String, f13: String, f14: String, f15: String, f16: String, f17: String,
            f18: String, f19: String, f20: String, f21: String, f22: String, f23: String,
            f24: String, f25: String, f26: String, f27: String, f28: String, f29: String,
            f30: String, f31: String, f32: String, f33: String, f34: String, f35: String,
            f36: String, f37: String, f38: String, f39: String,
            $($rest)*
        }
    };
}

wide! {
    /// A level of an untagged chain.
    struct UntaggedLevel {
        score: i64,
        previous: Option<Box<Untagged>>,
    }
}

/// A chain of wide records under `#[serde(untagged)]`: serde buffers the whole chain, then
/// reads it back from the buffer.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
#[allow(dead_code, reason = "deserialized only")]
enum Untagged {
    Level(Box<UntaggedLevel>),
    Number(i64),
}

wide! {
    /// A chain of wide records, each holding the next through a flattened field.
    struct Flattened {
        score: i64,
        #[serde(flatten)]
        rest: Rest,
    }
}

/// What a [`Flattened`] level reads from serde's buffer.
#[derive(Deserialize, Debug)]
#[allow(dead_code, reason = "deserialized only")]
struct Rest {
    previous: Option<Box<Flattened>>,
}

/// A chain of wide records under `#[serde(tag = "kind")]`.
#[derive(Deserialize, Debug)]
#[serde(tag = "kind")]
#[allow(dead_code, reason = "deserialized only")]
enum Tagged {
    Level(Box<TaggedLevel>),
}

wide! {
    /// A level of an internally tagged chain.
    struct TaggedLevel {
        score: i64,
        previous: Option<Box<Tagged>>,
    }
}

#[depends]
async fn untagged(Json(_v): Json<Untagged>) -> &'static str {
    "ok"
}

#[depends]
async fn flattened(Json(_v): Json<Flattened>) -> &'static str {
    "ok"
}

#[depends]
async fn tagged(Json(_v): Json<Tagged>) -> &'static str {
    "ok"
}

fn deep_app() -> App {
    App::new()
        .post("/untagged", untagged)
        .post("/flattened", flattened)
        .post("/tagged", tagged)
}

/// A chain of `depth` wide records, each but the last holding the next at `previous`, the
/// innermost one's score `score`; each object starts with `head` (`"kind":"Level",`).
fn chain_body(depth: usize, head: &str, score: &str) -> String {
    let fields: Vec<String> = (0..40).map(|i| format!(r#""f{i}":"""#)).collect();
    let fields = fields.join(",");
    let mut body = String::new();
    for _ in 1..depth {
        body.push_str(&format!(r#"{{{head}{fields},"score":1,"previous":"#));
    }
    body.push_str(&format!(
        r#"{{{head}{fields},"score":{score},"previous":null}}"#
    ));
    for _ in 1..depth {
        body.push('}');
    }
    body
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

/// The problems of a 422 body (its `input` nests as deep as the body: within serde_json's 128
/// levels only when the body is a few levels less deep).
fn problems(status: u16, body: &Value) -> &Vec<Value> {
    assert_eq!(status, 422, "{body}");
    body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("a list of problems: {status} {body}"))
}

/// A chain of wide records under an untagged enum, a flattened field or an internally tagged
/// enum, up to 120 levels deep (serde_json reads 128), valid or with a bad score at its end,
/// on a worker thread of tokio's default stack size: a valid one is read, one with a problem
/// is a 422 that says what is wrong where it is, and the server goes on serving. serde read what it had buffered with no check of
/// the stack: a debug build's worker overflowed its stack at about 100 levels (a valid body)
/// or 40 (a body with a problem), which aborted the whole test process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_body_read_from_serdes_buffer_does_not_overflow_a_worker_stack() {
    let server = deep_app().bind("127.0.0.1:0").await.expect("binds");
    let addr = server.local_addr();
    for (path, head) in [
        ("/untagged", ""),
        ("/flattened", ""),
        ("/tagged", r#""kind":"Level","#),
    ] {
        for depth in [2, 40, 100, 120] {
            let (status, body) = post_tcp(addr, path, &chain_body(depth, head, "1")).await;
            assert_eq!(status, 200, "{path} {depth}: {body}");
            let (status, body) = post_tcp(addr, path, &chain_body(depth, head, r#""x""#)).await;
            let problems = problems(status, &body);
            assert_eq!(problems.len(), 1, "{path} {depth}: {body}");
            let problem = &problems[0];
            if path == "/untagged" {
                // No variant matches: one problem at the enum, as anywhere else.
                assert_eq!(problem["loc"], json!(["body"]), "{body}");
                assert_eq!(
                    problem["msg"],
                    "Value error, the input matches none of the accepted shapes"
                );
            } else {
                // Where it is, at the end of the chain.
                let mut at = vec![json!("body")];
                at.extend((1..depth).map(|_| json!("previous")));
                at.push(json!("score"));
                assert_eq!(problem["loc"], Value::Array(at), "{path} {depth}");
                assert_eq!(problem["type"], "int_parsing", "{path} {depth}");
            }
        }
        // The server still serves.
        let (status, _) = post_tcp(addr, path, &chain_body(2, head, "1")).await;
        assert_eq!(status, 200, "{path}");
    }
    server.shutdown().await;
}

/// The same through the test client, on the test's own thread (2 MiB, as a worker's).
#[tokio::test]
async fn a_deep_body_read_from_serdes_buffer_is_read_through_the_test_client() {
    let client = di_runtime::TestClient::start(deep_app())
        .await
        .expect("starts");
    for (path, head) in [("/untagged", ""), ("/tagged", r#""kind":"Level","#)] {
        let response = client
            .post(path)
            .header("content-type", "application/json")
            .body(chain_body(110, head, "1"))
            .send()
            .await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    client.shutdown().await;
}

#[depends]
async fn any_value(Json(v): Json<Value>) -> String {
    let mut depth = 0;
    let mut at = &v;
    while let Some(next) = at.get(0) {
        depth += 1;
        at = next;
    }
    depth.to_string()
}

/// A JSON value of any shape (`serde_json::Value`, read as "any value", as serde's buffer is)
/// nested as deep as serde_json reads is still read whole: a level of it is counted as
/// costly as a buffered one, and the body is read on a thread with room for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_json_value_is_still_read() {
    let server = App::new()
        .post("/any", any_value)
        .bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = server.local_addr();
    for depth in [1, 20, 127] {
        let body = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let request = format!(
            "POST /any HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("sends");
        let answer = common::read_to_close(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{depth}: {answer}");
        assert!(answer.ends_with(&format!("\r\n\r\n{depth}")), "{answer}");
    }
    server.shutdown().await;
}

// ------------------------------------------- 2. URL-encoded forms and queries of many fields

#[derive(Deserialize, Debug)]
#[allow(dead_code, reason = "deserialized only")]
struct Tags {
    a: Vec<String>,
}

#[depends]
async fn form_tags(Form(tags): Form<Tags>) -> String {
    tags.a.len().to_string()
}

#[depends]
async fn query_tags(Query(tags): Query<Tags>) -> String {
    tags.a.len().to_string()
}

fn many_fields_app() -> App {
    App::new()
        .post("/form", form_tags)
        .get("/query", query_tags)
}

/// `count` pairs `a=x`, joined by `&`.
fn pairs(count: usize) -> String {
    vec!["a=x"; count].join("&")
}

/// A URL-encoded form of many tiny fields (`a=&a=&...`) cost about fifty times its size in
/// memory, as many fields as the body limit let in; a multipart form is refused past 1000
/// fields (Starlette's bound). Now a URL-encoded form is refused past 1000 fields too, with
/// the multipart form's 400, and a query string past 1000 parameters likewise; 1000 are read.
#[tokio::test]
async fn a_form_or_query_of_more_than_1000_fields_is_a_400() {
    let client = di_runtime::TestClient::start(many_fields_app())
        .await
        .expect("starts");
    let form = |body: String| {
        client
            .post("/form")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let response = form(pairs(1000)).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.expect("a body"), "1000");
    // Empty pieces are not fields (`form_urlencoded` skips them).
    let response = form(format!("{}&&&", pairs(1000))).await;
    assert_eq!(response.status().as_u16(), 200);
    for body in [pairs(1001), vec!["a="; 100_000].join("&")] {
        let response = form(body).await;
        assert_eq!(response.status().as_u16(), 400);
        let body: Value =
            serde_json::from_str(&response.text().await.expect("a body")).expect("a JSON body");
        assert_eq!(
            body,
            json!({"detail": "Too many fields. Maximum number of fields is 1000."})
        );
    }

    let response = client.get(&format!("/query?{}", pairs(1000))).send().await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.expect("a body"), "1000");
    for query in [pairs(1001), vec!["a="; 5000].join("&")] {
        let response = client.get(&format!("/query?{query}")).send().await;
        assert_eq!(response.status().as_u16(), 400);
        let body: Value =
            serde_json::from_str(&response.text().await.expect("a body")).expect("a JSON body");
        assert_eq!(
            body,
            json!({"detail": "Too many query parameters. Maximum number of query parameters is 1000."})
        );
    }
    client.shutdown().await;
}

#[derive(Deserialize, Debug, validator::Validate)]
#[allow(dead_code, reason = "deserialized only")]
struct CheckedTags {
    #[validate(length(max = 2000))]
    a: Vec<String>,
}

#[depends]
async fn checked_form(Form(tags): Form<CheckedTags>) -> String {
    tags.a.len().to_string()
}

/// A form whose type has rules is refused the same way, and not read again for them.
#[tokio::test]
async fn a_validated_form_of_more_than_1000_fields_is_a_400() {
    let client = di_runtime::TestClient::start(App::new().post("/form", checked_form))
        .await
        .expect("starts");
    for (count, status) in [(1000, 200), (1001, 400)] {
        let response = client
            .post("/form")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(pairs(count))
            .send()
            .await;
        assert_eq!(response.status().as_u16(), status, "{count}");
    }
    client.shutdown().await;
}

// ----------------------------------------------- 3. a header list: its lines, not its commas

#[derive(Deserialize, Debug)]
struct TagHeaders {
    #[serde(default)]
    x_tags: Vec<String>,
}

#[depends]
async fn tag_headers(Header(h): Header<TagHeaders>) -> Json<Vec<String>> {
    Json(h.x_tags)
}

/// A `Vec` field of `Header<T>` takes each line of a repeated header, and a line whole, its
/// commas kept, as FastAPI (Starlette's `headers.getlist`) gives it: not a defect, pinned
/// with the docs that say so (docs/fastapi.md, "Headers").
#[tokio::test]
async fn a_header_list_is_its_lines_not_its_commas() {
    let client = di_runtime::TestClient::start(App::new().get("/tags", tag_headers))
        .await
        .expect("starts");
    let response = client.get("/tags").header("x-tags", "a, b").send().await;
    assert_eq!(response.text().await.expect("a body"), r#"["a, b"]"#);
    let response = client
        .get("/tags")
        .header("x-tags", "a")
        .header("x-tags", "b,c")
        .send()
        .await;
    assert_eq!(response.text().await.expect("a body"), r#"["a","b,c"]"#);
    client.shutdown().await;
}
