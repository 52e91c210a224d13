//! Panic audit: hostile inputs sent to a real server over TCP. Each must get a clean 4xx (or a
//! 2xx), with no panic logged, no internal text in the body, and the server still serving.

mod common;

use std::collections::HashMap;
use std::sync::{Mutex, Once};
use std::time::Duration;

use di_runtime::prelude::*;
use di_runtime::{BodyStream, HttpBasic, HttpBearer, Multipart};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let old = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(info.to_string());
            old(info);
        }));
    });
}

fn take_panics() -> Vec<String> {
    std::mem::take(&mut *PANICS.lock().unwrap_or_else(|e| e.into_inner()))
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct Q {
    n: Option<i64>,
    u: Option<u8>,
    f: Option<f64>,
    s: Option<String>,
    #[serde(default)]
    v: Vec<u32>,
    b: Option<bool>,
}

#[depends]
async fn ok() -> &'static str {
    "ok"
}

#[depends]
async fn query(Query(q): Query<Q>) -> String {
    format!("{q:?}")
}

#[depends]
async fn query_map(Query(q): Query<HashMap<String, String>>) -> String {
    format!("{}", q.len())
}

#[depends]
async fn path_i64(Path(id): Path<i64>) -> String {
    format!("{id}")
}

#[depends]
async fn path_str(Path(s): Path<String>) -> String {
    format!("{}", s.len())
}

#[depends]
async fn path_two(Path((a, b)): Path<(u8, String)>) -> String {
    format!("{a} {}", b.len())
}

#[depends]
async fn path_rest(Path(s): Path<String>) -> String {
    format!("{}", s.len())
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct Inner {
    a: u32,
    b: Vec<i8>,
    c: Option<Box<Inner>>,
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
#[serde(tag = "kind")]
enum Tagged {
    A { x: u64 },
    B { y: String },
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct Body {
    title: String,
    n: u128,
    i: i128,
    f: f32,
    inner: Inner,
    t: Tagged,
    map: HashMap<u16, char>,
}

#[depends]
async fn json_value(Json(v): Json<serde_json::Value>) -> String {
    format!("{}", v.is_null())
}

#[depends]
async fn json_struct(Json(b): Json<Body>) -> String {
    format!("{}", b.title.len())
}

#[depends]
async fn json_vec(Json(v): Json<Vec<Vec<u8>>>) -> String {
    format!("{}", v.len())
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct F {
    name: String,
    age: u8,
    #[serde(default)]
    tags: Vec<String>,
}

#[depends]
async fn form(Form(f): Form<F>) -> String {
    format!("{}", f.name.len())
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct H {
    x_num: Option<u16>,
    x_text: Option<String>,
    #[serde(default)]
    x_many: Vec<i32>,
}

#[depends]
async fn header(Header(h): Header<H>) -> String {
    format!("{h:?}").len().to_string()
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct C {
    session: Option<String>,
    n: Option<u32>,
}

#[depends]
async fn cookie(Cookie(c): Cookie<C>) -> String {
    format!("{c:?}").len().to_string()
}

#[depends]
async fn basic(auth: HttpBasic) -> String {
    format!("{}", auth.username().len())
}

#[depends]
async fn bearer(auth: HttpBearer) -> String {
    format!("{}", auth.token().len())
}

#[depends]
async fn multipart_form(form: Multipart) -> Result<String, HttpError> {
    let (f, files) = form.into_form::<F>().await?;
    Ok(format!("{} {}", f.name.len(), files.len()))
}

#[depends]
async fn multipart_stream(mut form: Multipart) -> Result<String, HttpError> {
    let mut n = 0;
    while let Some(mut field) = form.next_field().await? {
        while let Some(chunk) = field.chunk().await? {
            n += chunk.len();
        }
    }
    Ok(n.to_string())
}

#[depends]
async fn lines(body: BodyStream) -> Result<String, HttpError> {
    let mut lines = body.lines();
    let mut n = 0;
    while let Some(line) = lines.next_line().await {
        n += line?.len();
    }
    Ok(n.to_string())
}

#[depends]
async fn bytes_in(body: Bytes) -> String {
    body.len().to_string()
}

#[depends]
async fn range(
    di_runtime::TypedHeader(_r): di_runtime::TypedHeader<headers::Range>,
) -> &'static str {
    "range"
}

#[depends]
async fn typed_misc(
    _a: Option<di_runtime::TypedHeader<headers::IfModifiedSince>>,
    _b: Option<di_runtime::TypedHeader<headers::CacheControl>>,
    _c: Option<di_runtime::TypedHeader<headers::Origin>>,
    _d: Option<di_runtime::TypedHeader<headers::ContentRange>>,
    _e: Option<di_runtime::TypedHeader<headers::IfRange>>,
    _f: Option<di_runtime::TypedHeader<headers::ContentType>>,
    _g: Option<di_runtime::TypedHeader<headers::Authorization<headers::authorization::Basic>>>,
) -> &'static str {
    "typed"
}

fn app() -> App {
    App::new()
        .get("/ok", ok)
        .get("/q", query)
        .get("/qm", query_map)
        .get("/p/{id}", path_i64)
        .get("/s/{name}", path_str)
        .get("/two/{a}/{b}", path_two)
        .get("/rest/{*rest}", path_rest)
        .post("/json", json_value)
        .post("/jsons", json_struct)
        .post("/jsonv", json_vec)
        .post("/form", form)
        .get("/h", header)
        .get("/c", cookie)
        .get("/basic", basic)
        .get("/bearer", bearer)
        .post("/mp", multipart_form)
        .post("/mps", multipart_stream)
        .post("/lines", lines)
        .post("/bytes", bytes_in)
        .get("/range", range)
        .get("/typed", typed_misc)
}

/// Sends `request` on a new connection; everything the server sent until it closed, or
/// `None` if it did not close within 6 s.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(6), async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| out)
}

fn req(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

const LEAKS: &[&str] = &[
    "panicked", ".rs:", "src/", "called `", "Error {", "Error(", "unwrap", "thread '", "/home",
    "/tmp", "SELECT", "INSERT", "sqlx",
];

fn status_of(response: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(response);
    text.strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))?
        .get(..3)?
        .parse()
        .ok()
}

async fn check(
    addr: std::net::SocketAddr,
    name: &str,
    request: &[u8],
    findings: &mut Vec<String>,
) -> String {
    take_panics();
    let answer = exchange(addr, request).await;
    let panics = take_panics();
    let mut line = String::new();
    match &answer {
        None => findings.push(format!("{name}: no close within 6 s (hang)")),
        Some(bytes) => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let status = status_of(bytes);
            let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
            let short: String = body.chars().take(300).collect();
            line = format!("{name}: {status:?} {short:?}");
            match status {
                None => findings.push(format!(
                    "{name}: no status: {:?}",
                    text.chars().take(200).collect::<String>()
                )),
                Some(s) if s >= 500 && !(s == 501 && name == "te gzip") => {
                    findings.push(format!("{name}: status {s}: {short:?}"))
                }
                _ => {}
            }
            for leak in LEAKS {
                if body.contains(leak) {
                    findings.push(format!("{name}: body has {leak:?}: {short:?}"));
                }
            }
        }
    }
    if !panics.is_empty() {
        findings.push(format!("{name}: PANIC {panics:?}"));
    }
    // Still serving?
    let next = exchange(addr, &req("GET", "/ok", &[], b"")).await;
    let served = next.is_some_and(|b| String::from_utf8_lossy(&b).ends_with("\r\n\r\nok"));
    if !served {
        findings.push(format!("{name}: the next request was not served"));
    }
    println!("{line}");
    line
}

fn multipart(boundary: &str, parts: &str) -> (String, Vec<u8>) {
    (
        format!("multipart/form-data; boundary={boundary}"),
        parts.as_bytes().to_vec(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_battery() {
    hook();
    let server = app().body_limit(1 << 20).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let mut findings = Vec::new();
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, r: Vec<u8>| cases.push((name.to_owned(), r));

    // Query.
    for (name, q) in [
        ("q bad utf8 value", "/q?s=%FF%FE"),
        ("q bad utf8 key", "/q?%FF=1"),
        ("q trailing %", "/q?s=%"),
        ("q trailing %A", "/q?s=%A"),
        (
            "q huge int",
            "/q?n=99999999999999999999999999999999999999999",
        ),
        (
            "q neg huge int",
            "/q?n=-99999999999999999999999999999999999999999",
        ),
        ("q u8 300", "/q?u=300"),
        ("q u8 -1", "/q?u=-1"),
        ("q u8 +", "/q?u=%2B"),
        ("q u8 -", "/q?u=-"),
        ("q u8 empty", "/q?u="),
        ("q float huge exp", "/q?f=1e99999999999999999999"),
        ("q float nan", "/q?f=nan"),
        ("q float inf", "/q?f=inf"),
        ("q float -", "/q?f=-"),
        ("q bool weird", "/q?b=%C3%A9"),
        ("q vec big", "/q?v=99999999999&v=-1&v=x"),
        ("q key only", "/q?n"),
        ("q eq only", "/q?=&=&&&="),
        ("q unicode key", "/q?%C3%A9%E2%82%AC=1&n=%E2%82%AC"),
        ("q many amp", "/q?&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&"),
        ("q nul", "/q?s=%00&n=%00"),
        ("q n multibyte", "/q?n=%E2%82%AC%E2%82%AC"),
        ("q n 1 multibyte", "/q?n=1%E2%82%AC"),
        ("q n - multibyte", "/q?n=-%E2%82%AC"),
        ("q n + multibyte", "/q?n=%2B%E2%82%AC"),
        ("q n plus", "/q?n=+1"),
        ("q f multibyte", "/q?f=%E2%82%AC"),
        ("qm bad utf8", "/qm?%FF%FF=%C0%AF"),
        ("qm dup", "/qm?a=1&a=2&a=3"),
    ] {
        add(name, req("GET", q, &[], b""));
    }
    let dup: String = (0..5000).map(|i| format!("v={i}&")).collect();
    add(
        "q 5000 dup keys",
        req("GET", &format!("/q?{dup}"), &[], b""),
    );
    let dupn: String = (0..5000).map(|_| "n=x&".to_owned()).collect();
    add("q 5000 bad n", req("GET", &format!("/q?{dupn}"), &[], b""));
    let dupk: String = (0..5000).map(|i| format!("k{i}=x&")).collect();
    add(
        "q 5000 unknown keys",
        req("GET", &format!("/q?{dupk}"), &[], b""),
    );
    let bigv: String = (0..3000).map(|_| "v=99999999999&".to_owned()).collect();
    add("q 3000 bad v", req("GET", &format!("/q?{bigv}"), &[], b""));

    // Path.
    for (name, p) in [
        ("p bad utf8", "/p/%FF"),
        ("p trailing %", "/p/%"),
        ("p trailing %4", "/p/1%4"),
        ("p huge", "/p/999999999999999999999999999999"),
        ("p min", "/p/-9223372036854775808"),
        ("p below min", "/p/-9223372036854775809"),
        ("p multibyte", "/p/%E2%82%AC"),
        ("p -multibyte", "/p/-%E2%82%AC"),
        ("p +multibyte", "/p/+%E2%82%AC"),
        ("p encoded slash", "/p/1%2F2"),
        ("p empty", "/p/"),
        ("s bad utf8", "/s/%C0%80%ED%A0%80"),
        ("s nul", "/s/%00"),
        ("two u8 huge", "/two/999/%FF"),
        ("two u8 multibyte", "/two/%C3%A9/x"),
        ("rest deep", "/rest/a/b/c/%FF/../../.."),
        ("rest empty", "/rest/"),
        ("dotdot", "/../../etc/passwd"),
        ("double slash", "//ok"),
        ("star", "*"),
        ("no slash", "ok"),
        ("absolute form", "http://x/ok"),
        ("absolute form bad", "http://x:99999/ok"),
        ("percent path", "/%"),
        ("percent path 2", "/%%%%"),
        ("braces", "/p/{id}"),
    ] {
        add(name, req("GET", p, &[], b""));
    }
    add(
        "options star",
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
    );
    add(
        "connect authority",
        b"CONNECT x:80 HTTP/1.1\r\nHost: x:80\r\nConnection: close\r\n\r\n".to_vec(),
    );
    add(
        "weird method",
        b"FOO\x01 /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
    );
    add(
        "long method",
        format!(
            "{} /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "A".repeat(5000)
        )
        .into_bytes(),
    );
    add("http/1.0 no host", b"GET /ok HTTP/1.0\r\n\r\n".to_vec());
    add("http/0.9", b"GET /ok\r\n\r\n".to_vec());
    add(
        "http/2.0 in h1",
        b"GET /ok HTTP/2.0\r\nHost: x\r\n\r\n".to_vec(),
    );
    add(
        "host empty port",
        b"GET /ok HTTP/1.1\r\nHost: x:\r\nConnection: close\r\n\r\n".to_vec(),
    );
    add(
        "host only port",
        b"GET /ok HTTP/1.1\r\nHost: :\r\nConnection: close\r\n\r\n".to_vec(),
    );
    add(
        "host [",
        b"GET /ok HTTP/1.1\r\nHost: [\r\nConnection: close\r\n\r\n".to_vec(),
    );
    add(
        "host []:",
        b"GET /ok HTTP/1.1\r\nHost: [::1]:\r\nConnection: close\r\n\r\n".to_vec(),
    );
    add(
        "host latin1",
        b"GET /ok HTTP/1.1\r\nHost: \xe9\r\nConnection: close\r\n\r\n".to_vec(),
    );
    add(
        "abs uri + host mismatch",
        b"GET http://a:0/ok HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".to_vec(),
    );

    // Content-Length / framing.
    for (name, cl) in [
        ("cl plus", "+5"),
        ("cl space", " 5 "),
        ("cl neg", "-1"),
        ("cl huge", "99999999999999999999999"),
        ("cl u64max", "18446744073709551615"),
        ("cl over limit", "2000000"),
        ("cl two values", "5, 5"),
        ("cl two different", "5, 6"),
        ("cl hex", "0x5"),
    ] {
        add(
            name,
            format!("POST /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {cl}\r\n\r\n[1,2]").into_bytes(),
        );
    }
    add("te chunked huge size", b"POST /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n[1]\r\n0\r\n\r\n".to_vec());
    add("te chunked max size", b"POST /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n[1]\r\n0\r\n\r\n".to_vec());
    add("te chunked ext", b"POST /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"\xff\"\r\n[1]\r\n0\r\n\r\n".to_vec());
    add("te chunked trailers", b"POST /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1]\r\n0\r\nX-A: \xff\r\nContent-Length: 9\r\n\r\n".to_vec());
    add("te + cl", b"POST /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\n[1]\r\n0\r\n\r\n".to_vec());
    add("te gzip", b"POST /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\n[1]\r\n0\r\n\r\n".to_vec());
    add("te chunked over limit", {
        let mut r = b"POST /bytes HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..20 {
            r.extend_from_slice(b"10000\r\n");
            r.extend_from_slice(&[b'a'; 0x10000]);
            r.extend_from_slice(b"\r\n");
        }
        r.extend_from_slice(b"0\r\n\r\n");
        r
    });
    add("expect 100 over limit", b"POST /bytes HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 5000000\r\n\r\n".to_vec());
    add("expect weird", b"POST /bytes HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\nab".to_vec());

    // JSON.
    let deep_arr = "[".repeat(100_000);
    add(
        "json 100k [",
        req(
            "POST",
            "/json",
            &[("Content-Type", "application/json")],
            deep_arr.as_bytes(),
        ),
    );
    let deep_closed = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    add(
        "json 50k [] closed",
        req(
            "POST",
            "/json",
            &[("Content-Type", "application/json")],
            deep_closed.as_bytes(),
        ),
    );
    add(
        "jsons 100k [",
        req(
            "POST",
            "/jsons",
            &[("Content-Type", "application/json")],
            deep_arr.as_bytes(),
        ),
    );
    add(
        "jsonv 100k [",
        req(
            "POST",
            "/jsonv",
            &[("Content-Type", "application/json")],
            deep_arr.as_bytes(),
        ),
    );
    let deep_obj = "{\"a\":".repeat(100_000);
    add(
        "json 100k {",
        req(
            "POST",
            "/json",
            &[("Content-Type", "application/json")],
            deep_obj.as_bytes(),
        ),
    );
    add(
        "jsons 100k {",
        req(
            "POST",
            "/jsons",
            &[("Content-Type", "application/json")],
            deep_obj.as_bytes(),
        ),
    );
    let deep_inner = format!(
        "{{\"title\":\"t\",\"n\":1,\"i\":1,\"f\":1,\"t\":{{\"kind\":\"A\",\"x\":1}},\"map\":{{}},\"inner\":{}",
        "{\"a\":1,\"b\":[],\"c\":".repeat(2000)
    );
    add(
        "jsons deep inner unclosed",
        req(
            "POST",
            "/jsons",
            &[("Content-Type", "application/json")],
            deep_inner.as_bytes(),
        ),
    );
    let deep_inner_closed = format!(
        "{{\"title\":\"t\",\"n\":1,\"i\":1,\"f\":1,\"t\":{{\"kind\":\"A\",\"x\":1}},\"map\":{{}},\"inner\":{}null{}}}",
        "{\"a\":\"x\",\"b\":[1000],\"c\":".repeat(2000),
        "}".repeat(2000)
    );
    add(
        "jsons deep inner closed",
        req(
            "POST",
            "/jsons",
            &[("Content-Type", "application/json")],
            deep_inner_closed.as_bytes(),
        ),
    );
    let deep_mid = format!(
        "{{\"title\":\"t\",\"n\":1,\"i\":1,\"f\":1,\"t\":{{\"kind\":\"A\",\"x\":1}},\"map\":{{}},\"inner\":{}null{}}}",
        "{\"a\":\"x\",\"b\":[1000],\"c\":".repeat(100),
        "}".repeat(100)
    );
    add(
        "jsons inner 100 deep",
        req(
            "POST",
            "/jsons",
            &[("Content-Type", "application/json")],
            deep_mid.as_bytes(),
        ),
    );
    for (name, body) in [
        ("json huge exp", "1e999999999999999999999999"),
        ("json neg huge exp", "-1e-999999999999999999999999"),
        (
            "json huge int",
            "123456789012345678901234567890123456789012345678901234567890",
        ),
        ("json bad utf8", "\"\u{0}\""),
        ("json lone surrogate", "\"\\ud800\""),
        ("json bad escape", "\"\\u12\""),
        ("json empty", ""),
        ("json bom", "\u{feff}[1"),
        ("json nan", "NaN"),
        ("json -inf", "-Infinity"),
        ("json trailing", "[1] x"),
        (
            "jsons n huge",
            r#"{"title":"t","n":340282366920938463463374607431768211456,"i":-170141183460469231731687303715884105729,"f":1e39,"inner":{"a":1,"b":[]},"t":{"kind":"A","x":1},"map":{}}"#,
        ),
        (
            "jsons n float",
            r#"{"title":"t","n":1.5,"i":1e400,"f":-1e400,"inner":{"a":-1,"b":[128,-129]},"t":{"kind":"C"},"map":{"70000":"ab","x":"c"}}"#,
        ),
        (
            "jsons wrong types",
            r#"{"title":1,"n":"x","i":[],"f":{},"inner":[],"t":[],"map":[]}"#,
        ),
        (
            "jsons tag not str",
            r#"{"title":"t","n":1,"i":1,"f":1,"inner":{"a":1,"b":[]},"t":{"kind":5},"map":{"1":"é"}}"#,
        ),
        (
            "jsons dup keys",
            r#"{"title":"t","title":"u","n":1,"i":1,"f":1,"inner":{"a":1,"b":[]},"t":{"kind":"B","y":"a","y":"b"},"map":{"1":"a","1":"b"}}"#,
        ),
        (
            "jsons -0",
            r#"{"title":"t","n":-0,"i":-0,"f":-0,"inner":{"a":-0,"b":[-0]},"t":{"kind":"A","x":-0},"map":{"-0":"a"}}"#,
        ),
        (
            "jsons 1e2 ints",
            r#"{"title":"t","n":1e2,"i":1E2,"f":1,"inner":{"a":1e2,"b":[1e2]},"t":{"kind":"A","x":18446744073709551616},"map":{"1e2":"a"}}"#,
        ),
        ("jsons bad utf8 string", "{\"title\":\"\u{0}\"}"),
        (
            "jsonv huge numbers",
            "[[256, -1, 1e5, 99999999999999999999999999]]",
        ),
        (
            "jsonv many errors",
            &format!("[{}]", vec!["[-1,-1,-1,-1]"; 5000].join(",")),
        ),
    ] {
        add(
            name,
            req(
                "POST",
                if name.starts_with("jsons") {
                    "/jsons"
                } else if name.starts_with("jsonv") {
                    "/jsonv"
                } else {
                    "/json"
                },
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            ),
        );
    }
    let mut bad = b"{\"title\":\"".to_vec();
    bad.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    bad.extend_from_slice(b"\"}");
    add(
        "jsons invalid utf8 bytes",
        req(
            "POST",
            "/jsons",
            &[("Content-Type", "application/json")],
            &bad,
        ),
    );
    let mut bad2 = b"[\"\xe2\x82".to_vec();
    bad2.extend_from_slice(b"\"]");
    add(
        "json truncated utf8",
        req(
            "POST",
            "/json",
            &[("Content-Type", "application/json")],
            &bad2,
        ),
    );
    add(
        "json utf16",
        req(
            "POST",
            "/json",
            &[("Content-Type", "application/json")],
            b"\xff\xfe[\x001\x00]\x00",
        ),
    );
    add(
        "json ct weird",
        req(
            "POST",
            "/json",
            &[("Content-Type", "application/json; charset=\u{ff}")],
            b"[1]",
        ),
    );
    add(
        "json ct latin1",
        req(
            "POST",
            "/json",
            &[("Content-Type", "application/\u{e9}json")],
            b"[1]",
        ),
    );
    add("json no ct", req("POST", "/json", &[], b"[1]"));
    add(
        "json +json",
        req(
            "POST",
            "/json",
            &[("Content-Type", "application/vnd+json")],
            b"[1]",
        ),
    );

    // Form.
    for (name, body) in [
        ("form ok", "name=a&age=1"),
        ("form bad utf8", "name=%FF&age=%FF"),
        ("form trailing %", "name=%&age=1%"),
        ("form age huge", "name=a&age=99999999999999999999999"),
        ("form age multibyte", "name=a&age=%E2%82%AC"),
        ("form empty", ""),
        ("form only &", "&&&&"),
        ("form dup", "name=a&name=b&age=1&age=2&tags=&tags="),
    ] {
        add(
            name,
            req(
                "POST",
                "/form",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                body.as_bytes(),
            ),
        );
    }
    add(
        "form raw invalid utf8",
        req(
            "POST",
            "/form",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"name=\xff\xfe&age=\xc3",
        ),
    );
    add("form no ct", req("POST", "/form", &[], b"name=a&age=1"));
    add(
        "form multipart ct",
        req(
            "POST",
            "/form",
            &[("Content-Type", "multipart/form-data; boundary=x")],
            b"--x--",
        ),
    );
    let many: String = (0..20000).map(|i| format!("tags={i}&")).collect();
    add(
        "form 20000 tags",
        req(
            "POST",
            "/form",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            many.as_bytes(),
        ),
    );
    let many_bad: String = (0..20000).map(|_| "age=x&".to_owned()).collect();
    add(
        "form 20000 bad ages",
        req(
            "POST",
            "/form",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            many_bad.as_bytes(),
        ),
    );

    // Headers.
    for (name, hs) in [
        ("h num huge", vec![("X-Num", "99999999")]),
        ("h num multibyte latin1", vec![("X-Num", "\u{e9}")]),
        ("h num neg", vec![("X-Num", "-1")]),
        (
            "h many",
            vec![("X-Many", "1"), ("X-Many", "x"), ("X-Many", "99999999999")],
        ),
        ("h underscore", vec![("X_Num", "1")]),
        ("h empty", vec![("X-Num", "")]),
    ] {
        add(name, req("GET", "/h", &hs, b""));
    }
    add("h raw latin1", b"GET /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Text: \xff\xfe\x80\r\nX-Num: \xc3\xa9\r\n\r\n".to_vec());
    add(
        "h obs-fold",
        b"GET /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Text: a\r\n b\r\n\r\n".to_vec(),
    );
    let long = "a".repeat(60_000);
    add("h long value", req("GET", "/h", &[("X-Text", &long)], b""));
    let many_h: Vec<(String, String)> = (0..200)
        .map(|i| ("X-Many".to_owned(), format!("{i}x")))
        .collect();
    let many_h: Vec<(&str, &str)> = many_h
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    add("h 200 bad many", req("GET", "/h", &many_h, b""));

    // Cookies.
    for (name, c) in [
        ("c no =", "session"),
        ("c only =", "="),
        ("c only ;", ";;;;"),
        ("c quote", "session=\""),
        ("c quotes", "session=\"\""),
        ("c escape end", "session=\"\\\""),
        ("c octal", "session=\"\\377\\400\\777\\3\""),
        ("c octal short", "session=\"\\3"),
        ("c n huge", "n=99999999999999999"),
        ("c n multibyte", "n=\u{e9}"),
        ("c dup", "n=1; n=x; n=2"),
    ] {
        add(name, req("GET", "/c", &[("Cookie", c)], b""));
    }
    add("c raw latin1", b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: session=\"\xff\\\xe9\"; n=\xc3\xa9\r\n\r\n".to_vec());

    // Auth.
    for (name, path, a) in [
        ("basic none", "/basic", "Basic"),
        ("basic empty", "/basic", "Basic "),
        ("basic bad b64", "/basic", "Basic !!!!"),
        ("basic no colon", "/basic", "Basic YWJj"),
        ("basic pad", "/basic", "Basic ===="),
        ("basic pad2", "/basic", "Basic YQ=="),
        ("basic pad3", "/basic", "Basic YWI="),
        ("basic weird pad", "/basic", "Basic Y=Q=Y=Q="),
        ("basic bad utf8", "/basic", "Basic /////w=="),
        ("basic latin", "/basic", "Basic \u{e9}"),
        ("basic lower", "/basic", "basic YTpi"),
        ("bearer none", "/bearer", "Bearer"),
        ("bearer empty", "/bearer", "Bearer "),
        ("bearer spaces", "/bearer", "Bearer    "),
        ("bearer latin", "/bearer", "Bearer \u{e9}"),
        ("bearer no space", "/bearer", "Bearerx"),
    ] {
        add(name, req("GET", path, &[("Authorization", a)], b""));
    }
    add("basic raw latin1", b"GET /basic HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Basic \xff\xfe\r\n\r\n".to_vec());
    add("bearer raw latin1", b"GET /bearer HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: \xc3\xa9 \xff\r\n\r\n".to_vec());

    // Multipart.
    let b70 = "b".repeat(71);
    let b200 = "b".repeat(300);
    for (name, path, (ct, body)) in [
        (
            "mp no final boundary",
            "/mp",
            multipart(
                "XX",
                "--XX\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nabc\r\n",
            ),
        ),
        (
            "mp no final boundary s",
            "/mps",
            multipart(
                "XX",
                "--XX\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nabc",
            ),
        ),
        (
            "mp 71 boundary",
            "/mp",
            multipart(
                &b70,
                &format!(
                    "--{b70}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nabc\r\n--{b70}\r\nContent-Disposition: form-data; name=\"age\"\r\n\r\n1\r\n--{b70}--\r\n"
                ),
            ),
        ),
        (
            "mp 300 boundary",
            "/mp",
            multipart(
                &b200,
                &format!(
                    "--{b200}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nabc\r\n--{b200}--\r\n"
                ),
            ),
        ),
        (
            "mp no name",
            "/mp",
            multipart(
                "XX",
                "--XX\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--XX--\r\n",
            ),
        ),
        (
            "mp bad header",
            "/mp",
            multipart(
                "XX",
                "--XX\r\nContent-Disposition form-data\r\n\r\nabc\r\n--XX--\r\n",
            ),
        ),
        (
            "mp bad header name",
            "/mp",
            multipart("XX", "--XX\r\nCont\u{e9}nt: x\r\n\r\nabc\r\n--XX--\r\n"),
        ),
        (
            "mp charset",
            "/mp",
            multipart(
                "XX",
                "--XX\r\nContent-Disposition: form-data; name=\"name\"\r\nContent-Type: text/plain; charset=\"utf-16\"\r\n\r\nabc\r\n--XX\r\nContent-Disposition: form-data; name=\"age\"\r\nContent-Type: text/plain; charset=x-user-defined\r\n\r\n1\r\n--XX--\r\n",
            ),
        ),
        (
            "mp age huge",
            "/mp",
            multipart(
                "XX",
                "--XX\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nabc\r\n--XX\r\nContent-Disposition: form-data; name=\"age\"\r\n\r\n99999999999\r\n--XX--\r\n",
            ),
        ),
        ("mp garbage", "/mp", multipart("XX", "garbage garbage")),
        ("mp garbage s", "/mps", multipart("XX", "--XX garbage --XX")),
        ("mp only boundary", "/mps", multipart("XX", "--XX--")),
        (
            "mp file",
            "/mp",
            multipart(
                "XX",
                "--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"../../\u{e9}\"\r\nContent-Type: \u{e9}/x\r\n\r\nabc\r\n--XX--\r\n",
            ),
        ),
        (
            "mp no headers end",
            "/mps",
            multipart(
                "XX",
                "--XX\r\nContent-Disposition: form-data; name=\"f\"\r\n",
            ),
        ),
        (
            "mp filename*",
            "/mp",
            multipart(
                "XX",
                "--XX\r\nContent-Disposition: form-data; name=\"name\"; filename*=UTF-8''%FF%FE\r\n\r\nabc\r\n--XX--\r\n",
            ),
        ),
        (
            "mp quoted boundary",
            "/mp",
            (
                "multipart/form-data; boundary=\"a b\"".to_owned(),
                b"--a b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nabc\r\n--a b--\r\n"
                    .to_vec(),
            ),
        ),
        (
            "mp empty boundary",
            "/mp",
            (
                "multipart/form-data; boundary=".to_owned(),
                b"--\r\n\r\n".to_vec(),
            ),
        ),
        (
            "mp empty quoted boundary",
            "/mp",
            (
                "multipart/form-data; boundary=\"\"".to_owned(),
                b"----\r\n".to_vec(),
            ),
        ),
        (
            "mp no boundary",
            "/mp",
            ("multipart/form-data".to_owned(), b"x".to_vec()),
        ),
        (
            "mp bad ct",
            "/mp",
            (
                "multipart/form-data; boundary=a; boundary=b; ===".to_owned(),
                b"--a--".to_vec(),
            ),
        ),
        (
            "mp ct latin",
            "/mp",
            (
                "multipart/form-data; boundary=\u{e9}".to_owned(),
                "--\u{e9}--".as_bytes().to_vec(),
            ),
        ),
    ] {
        add(name, req("POST", path, &[("Content-Type", &ct)], &body));
    }
    let many_parts: String = (0..3000)
        .map(|_| "--XX\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\nx\r\n".to_owned())
        .collect::<String>()
        + "--XX--\r\n";
    add(
        "mp 3000 parts",
        req(
            "POST",
            "/mp",
            &[("Content-Type", "multipart/form-data; boundary=XX")],
            many_parts.as_bytes(),
        ),
    );
    let big_head = format!(
        "--XX\r\nContent-Disposition: form-data; name=\"name\"\r\nX-Big: {}\r\n\r\nabc\r\n--XX--\r\n",
        "a".repeat(900_000)
    );
    add(
        "mp huge part header",
        req(
            "POST",
            "/mp",
            &[("Content-Type", "multipart/form-data; boundary=XX")],
            big_head.as_bytes(),
        ),
    );
    let many_heads: String = format!("--XX\r\n{}\r\nabc\r\n--XX--\r\n", "X-A: b\r\n".repeat(5000));
    add(
        "mp many part headers",
        req(
            "POST",
            "/mps",
            &[("Content-Type", "multipart/form-data; boundary=XX")],
            many_heads.as_bytes(),
        ),
    );

    // Streams.
    add(
        "lines bad utf8",
        req("POST", "/lines", &[], b"\xff\xfe\r\n\r\r\n\n"),
    );
    add("lines chunked cut", b"POST /lines HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nZZ\r\n".to_vec());

    // Typed headers.
    for (name, r) in [
        ("range bytes huge", "bytes=0-99999999999999999999999"),
        ("range reversed", "bytes=5-1"),
        ("range suffix huge", "bytes=-18446744073709551615"),
        ("range many", "bytes=0-1,2-3,4-5,,,,,,-,"),
        ("range units", "items=0-1"),
        ("range empty", ""),
        (
            "range u64max",
            "bytes=18446744073709551615-18446744073709551615",
        ),
    ] {
        add(name, req("GET", "/range", &[("Range", r)], b""));
    }
    for (name, hs) in [
        (
            "typed ims",
            vec![("If-Modified-Since", "Sun, 06 Nov 99999 08:49:37 GMT")],
        ),
        (
            "typed ims 2",
            vec![("If-Modified-Since", "Sun, 31 Dec 9999 23:59:59 GMT")],
        ),
        (
            "typed cc",
            vec![(
                "Cache-Control",
                "max-age=99999999999999999999999, s-maxage=-1",
            )],
        ),
        (
            "typed cc2",
            vec![("Cache-Control", "max-age=18446744073709551615")],
        ),
        ("typed origin", vec![("Origin", "http://[::1")]),
        ("typed crange", vec![("Content-Range", "bytes 5-1/0")]),
        (
            "typed crange2",
            vec![(
                "Content-Range",
                "bytes 0-18446744073709551615/18446744073709551615",
            )],
        ),
        (
            "typed crange3",
            vec![("Content-Range", "bytes */18446744073709551615")],
        ),
        ("typed ifrange", vec![("If-Range", "W/\"\u{e9}")]),
        ("typed ct", vec![("Content-Type", ";;;/;;=")]),
        ("typed basic", vec![("Authorization", "Basic ////")]),
    ] {
        add(name, req("GET", "/typed", &hs, b""));
    }
    add(
        "request id long",
        req("GET", "/ok", &[("X-Request-Id", &"a".repeat(10_000))], b""),
    );
    add(
        "request id latin",
        b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: \xff\xfe\r\n\r\n"
            .to_vec(),
    );

    let mut lines = Vec::new();
    for (name, request) in &cases {
        lines.push(check(addr, name, request, &mut findings).await);
    }
    server.shutdown().await;
    for f in &findings {
        println!("FINDING {f}");
    }
    assert!(findings.is_empty(), "{} findings", findings.len());
}

/// An HPACK literal header field without indexing, new name, no Huffman (short strings).
fn hpack_literal(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x00);
    hpack_string(out, name);
    hpack_string(out, value);
}

fn hpack_string(out: &mut Vec<u8>, s: &[u8]) {
    // 7-bit prefix integer.
    let mut n = s.len();
    if n < 127 {
        out.push(n as u8);
    } else {
        out.push(127);
        n -= 127;
        while n >= 128 {
            out.push((n % 128 + 128) as u8);
            n /= 128;
        }
        out.push(n as u8);
    }
    out.extend_from_slice(s);
}

/// A request's header fields for [`h2_raw`], in order: `:method`, `:scheme` http,
/// `:authority`, `:path`, then any more as `(name, value)`.
macro_rules! h2_fields {
    ($authority:expr, $method:expr, $path:expr $(, ($name:expr, $value:expr))* $(,)?) => {
        vec![
            (&b":method"[..], &$method[..]),
            (&b":scheme"[..], &b"http"[..]),
            (&b":authority"[..], &$authority[..]),
            (&b":path"[..], &$path[..])
            $(, (&$name[..], &$value[..]))*
        ]
    };
}

/// A raw HTTP/2 probe: its name, its header fields in order, its body if any.
type H2Case<'a> = (&'a str, Vec<(&'a [u8], &'a [u8])>, Option<&'a [u8]>);

/// Sends one raw HTTP/2 request (its header fields, in order; `body` as one DATA frame if
/// any) on a new connection; every frame the server sent until stream 1 ended (a frame with
/// END_STREAM, or a reset), a GOAWAY came, the connection closed, or 6 s passed: (type,
/// flags, stream, payload).
async fn h2_raw(
    addr: std::net::SocketAddr,
    fields: &[(&[u8], &[u8])],
    body: Option<&[u8]>,
) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(common::h2_frame(0x4, 0, 0, &[]));
    let mut block = Vec::new();
    for (name, value) in fields {
        hpack_literal(&mut block, name, value);
    }
    let flags = 0x4 | if body.is_none() { 0x1 } else { 0 };
    // Split into HEADERS + CONTINUATION at 16384.
    let mut chunks = block.chunks(16_000).peekable();
    let first = chunks.next().unwrap_or(&[]);
    let more = chunks.peek().is_some();
    out.extend(common::h2_frame(
        0x1,
        if more { flags & !0x4 } else { flags },
        1,
        first,
    ));
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        out.extend(common::h2_frame(0x9, if last { 0x4 } else { 0 }, 1, chunk));
    }
    if let Some(body) = body {
        out.extend(common::h2_frame(0x0, 0x1, 1, body));
    }
    let _ = stream.write_all(&out).await;
    let mut received = Vec::new();
    let mut buf = [0u8; 16384];
    let _ = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(n) if n > 0 => received.extend_from_slice(&buf[..n]),
                _ => break,
            }
            let ended = parse_frames(&received)
                .iter()
                .any(|(kind, flags, stream, _)| {
                    *kind == 0x7 || (*stream == 1 && (*kind == 0x3 || flags & 0x1 != 0))
                });
            if ended {
                break;
            }
        }
    })
    .await;
    parse_frames(&received)
}

/// The frames in `received`, a last one cut short included: (type, flags, stream, payload).
fn parse_frames(received: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut rest = received;
    while rest.len() >= 9 {
        let len = (usize::from(rest[0]) << 16) | (usize::from(rest[1]) << 8) | usize::from(rest[2]);
        let stream = u32::from_be_bytes([rest[5] & 0x7f, rest[6], rest[7], rest[8]]);
        let end = (9 + len).min(rest.len());
        frames.push((rest[3], rest[4], stream, rest[9..end].to_vec()));
        rest = &rest[end..];
    }
    frames
}

fn describe_frames(frames: &[(u8, u8, u32, Vec<u8>)]) -> String {
    frames
        .iter()
        .filter(|f| f.2 != 0 || f.0 == 0x7)
        .map(|(t, fl, s, p)| {
            let kind = match t {
                0 => "DATA",
                1 => "HEADERS",
                3 => "RST",
                7 => "GOAWAY",
                _ => "OTHER",
            };
            let text: String = String::from_utf8_lossy(&p[..p.len().min(200)]).into_owned();
            format!("{kind}(s{s},f{fl}) {text:?}")
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_battery() {
    hook();
    let server = app().body_limit(1 << 20).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let mut findings = Vec::new();
    let authority = addr.to_string();
    let a = authority.as_bytes();
    let long_path = format!("/s/{}", "a".repeat(60_000));
    let long_q = format!("/q?{}", "v=1&".repeat(15_000));
    let big_bad = format!("/p/{}", "%FF".repeat(20_000));
    let cases: Vec<H2Case<'_>> = vec![
        ("ok", h2_fields!(a, b"GET", b"/ok"), None),
        (
            "long path",
            h2_fields!(a, b"GET", long_path.as_bytes()),
            None,
        ),
        ("long query", h2_fields!(a, b"GET", long_q.as_bytes()), None),
        (
            "big bad path",
            h2_fields!(a, b"GET", big_bad.as_bytes()),
            None,
        ),
        ("path star", h2_fields!(a, b"OPTIONS", b"*"), None),
        ("path no slash", h2_fields!(a, b"GET", b"ok"), None),
        ("path empty", h2_fields!(a, b"GET", b""), None),
        ("path bytes", h2_fields!(a, b"GET", b"/s/\xff\x00 "), None),
        ("path percent end", h2_fields!(a, b"GET", b"/p/%"), None),
        (
            "connect",
            vec![(b":method", b"CONNECT"), (b":authority", a)],
            None,
        ),
        ("connect path", h2_fields!(a, b"CONNECT", b"/ok"), None),
        (
            "ext connect",
            vec![
                (b":method", b"CONNECT"),
                (b":protocol", b"websocket"),
                (b":scheme", b"http"),
                (b":authority", a),
                (b":path", b"/ok"),
            ],
            None,
        ),
        (
            "no authority",
            vec![
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":path", b"/ok"),
            ],
            None,
        ),
        (
            "no authority host",
            vec![
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":path", b"/ok"),
                (b"host", b"x:"),
            ],
            None,
        ),
        (
            "authority bad",
            vec![
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":authority", b"[::1"),
                (b":path", b"/ok"),
            ],
            None,
        ),
        (
            "authority empty",
            vec![
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":authority", b""),
                (b":path", b"/ok"),
            ],
            None,
        ),
        (
            "authority userinfo",
            vec![
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":authority", b"u@x"),
                (b":path", b"/ok"),
            ],
            None,
        ),
        (
            "host mismatch",
            vec![
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":authority", b"a"),
                (b":path", b"/ok"),
                (b"host", b"b"),
            ],
            None,
        ),
        (
            "host port 0s",
            vec![
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":authority", b"a:"),
                (b":path", b"/ok"),
                (b"host", b"a:000080"),
            ],
            None,
        ),
        (
            "host port 0",
            vec![
                (b":method", b"GET"),
                (b":scheme", b"https"),
                (b":authority", b"a:0"),
                (b":path", b"/ok"),
                (b"host", b"a:00"),
            ],
            None,
        ),
        (
            "host ipv6",
            vec![
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":authority", b"[::1]:"),
                (b":path", b"/ok"),
                (b"host", b"[::1]"),
            ],
            None,
        ),
        (
            "host ]",
            vec![
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":authority", b"a"),
                (b":path", b"/ok"),
                (b"host", b"]"),
            ],
            None,
        ),
        (
            "host two",
            vec![
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":authority", b"a"),
                (b":path", b"/ok"),
                (b"host", b"a"),
                (b"host", b"a"),
            ],
            None,
        ),
        (
            "scheme weird",
            vec![
                (b":method", b"GET"),
                (b":scheme", b"foo+bar"),
                (b":authority", a),
                (b":path", b"/ok"),
            ],
            None,
        ),
        (
            "uppercase header",
            h2_fields!(a, b"GET", b"/ok", (b"X-A", b"1")),
            None,
        ),
        (
            "connection header",
            h2_fields!(a, b"GET", b"/ok", (b"connection", b"close")),
            None,
        ),
        (
            "te trailers",
            h2_fields!(a, b"GET", b"/ok", (b"te", b"gzip")),
            None,
        ),
        (
            "cl mismatch",
            h2_fields!(a, b"POST", b"/bytes", (b"content-length", b"10")),
            Some(b"abc"),
        ),
        (
            "cl huge",
            h2_fields!(
                a,
                b"POST",
                b"/bytes",
                (b"content-length", b"99999999999999999999")
            ),
            Some(b"abc"),
        ),
        (
            "cl u64max",
            h2_fields!(
                a,
                b"POST",
                b"/bytes",
                (b"content-length", b"18446744073709551615")
            ),
            Some(b"abc"),
        ),
        (
            "cl plus",
            h2_fields!(a, b"POST", b"/bytes", (b"content-length", b"+3")),
            Some(b"abc"),
        ),
        (
            "cl over limit",
            h2_fields!(a, b"POST", b"/bytes", (b"content-length", b"5000000")),
            Some(b"abc"),
        ),
        (
            "expect over limit",
            h2_fields!(
                a,
                b"POST",
                b"/bytes",
                (b"expect", b"100-continue"),
                (b"content-length", b"5000000")
            ),
            None,
        ),
        (
            "te chunked",
            h2_fields!(
                a,
                b"POST",
                b"/json",
                (b"transfer-encoding", b"chunked"),
                (b"content-type", b"application/json")
            ),
            Some(b"[1]"),
        ),
        (
            "json deep",
            h2_fields!(a, b"POST", b"/json", (b"content-type", b"application/json")),
            Some(&[b'['; 15000]),
        ),
        (
            "cookie bin",
            h2_fields!(
                a,
                b"GET",
                b"/c",
                (b"cookie", b"n=\xff"),
                (b"cookie", b"session=\"\\"),
                (b"cookie", b"")
            ),
            None,
        ),
        (
            "header bin",
            h2_fields!(
                a,
                b"GET",
                b"/h",
                (b"x-num", b"\xff\x80"),
                (b"x-text", b"\x7f\x01")
            ),
            None,
        ),
        (
            "header nul",
            h2_fields!(a, b"GET", b"/h", (b"x-text", b"a\x00b")),
            None,
        ),
        (
            "header crlf",
            h2_fields!(a, b"GET", b"/h", (b"x-text", b"a\r\nb: c")),
            None,
        ),
        (
            "request id bin",
            h2_fields!(a, b"GET", b"/ok", (b"x-request-id", b"\xff\x80\x7f")),
            None,
        ),
        ("method lower", h2_fields!(a, b"get", b"/ok"), None),
        ("method bin", h2_fields!(a, b"G\xffT", b"/ok"), None),
        ("head", h2_fields!(a, b"HEAD", b"/q?n=x"), None),
    ];
    for (name, fields, body) in cases {
        take_panics();
        let frames = h2_raw(addr, &fields, body).await;
        let panics = take_panics();
        let text = describe_frames(&frames);
        println!("{name}: {text}");
        if !panics.is_empty() {
            findings.push(format!("{name}: PANIC {panics:?}"));
        }
        if frames.iter().all(|f| f.2 != 1) && !frames.iter().any(|f| f.0 == 0x7) {
            findings.push(format!("{name}: no answer on stream 1, no GOAWAY: {text}"));
        }
        for (_, _, s, p) in &frames {
            if *s == 1 {
                let body = String::from_utf8_lossy(p);
                for leak in LEAKS {
                    if body.contains(leak) {
                        findings.push(format!("{name}: frame has {leak:?}: {body:?}"));
                    }
                }
            }
        }
        // HEADERS block starting with 0x8e (indexed :status 500)?
        if frames
            .iter()
            .any(|f| f.0 == 0x1 && f.2 == 1 && f.3.first() == Some(&0x8e))
        {
            findings.push(format!("{name}: 500"));
        }
        let next = exchange(addr, &req("GET", "/ok", &[], b"")).await;
        if !next.is_some_and(|b| String::from_utf8_lossy(&b).ends_with("\r\n\r\nok")) {
            findings.push(format!("{name}: next request not served"));
        }
    }
    server.shutdown().await;
    for f in &findings {
        println!("FINDING {f}");
    }
    assert!(findings.is_empty(), "{} findings", findings.len());
}

#[depends]
async fn echo_len(body: Bytes) -> String {
    body.len().to_string()
}

#[depends]
async fn stream_len(body: BodyStream) -> Result<String, HttpError> {
    Ok(body.to_bytes().await?.len().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limit_zero_and_expect() {
    hook();
    let server = App::new()
        .get("/ok", ok)
        .post("/b", echo_len)
        .post("/s", stream_len)
        .post("/mp", multipart_stream)
        .body_limit(0)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut findings = Vec::new();
    for path in ["/b", "/s", "/mp"] {
        let ct = "multipart/form-data; boundary=X";
        let cases: Vec<(String, Vec<u8>)> = vec![
            (format!("{path} expect cl1"), format!("POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {ct}\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").into_bytes()),
            (format!("{path} expect cl0"), format!("POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {ct}\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n").into_bytes()),
            (format!("{path} expect chunked"), format!("POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {ct}\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes()),
            (format!("{path} chunked empty"), format!("POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {ct}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").into_bytes()),
            (format!("{path} chunked 1"), format!("POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {ct}\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n").into_bytes()),
            (format!("{path} cl 1"), format!("POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {ct}\r\nContent-Length: 1\r\n\r\na").into_bytes()),
            (format!("{path} http1.0 close-delimited"), format!("POST {path} HTTP/1.0\r\nContent-Type: {ct}\r\n\r\nabc").into_bytes()),
        ];
        for (name, request) in cases {
            let line = check(addr, &name, &request, &mut findings).await;
            let _ = line;
        }
    }
    server.shutdown().await;
    for f in &findings {
        println!("FINDING {f}");
    }
    assert!(findings.is_empty(), "{} findings", findings.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_expect_and_limits() {
    hook();
    let server = App::new()
        .get("/ok", ok)
        .post("/b", echo_len)
        .post("/s", stream_len)
        .post("/mp", multipart_stream)
        .body_limit(0)
        .body_timeout(Duration::from_secs(3))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    for path in ["/b", "/s", "/mp"] {
        for (cl, expect) in [
            (Some("5000000"), true),
            (Some("1"), false),
            (None, true),
            (Some("0"), true),
        ] {
            let io = TcpStream::connect(addr).await.unwrap();
            let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
            let mut request = http::Request::post(format!("http://{addr}{path}"))
                .header("content-type", "multipart/form-data; boundary=X");
            if let Some(cl) = cl {
                request = request.header("content-length", cl);
            }
            if expect {
                request = request.header("expect", "100-continue");
            }
            let (response, mut send) = client
                .send_request(request.body(()).unwrap(), false)
                .unwrap();
            let answer = tokio::time::timeout(Duration::from_secs(8), response).await;
            let status = match answer {
                Ok(Ok(r)) => {
                    let status = r.status().as_u16();
                    let mut body = r.into_body();
                    let mut data = Vec::new();
                    while let Ok(Some(Ok(chunk))) =
                        tokio::time::timeout(Duration::from_secs(2), body.data()).await
                    {
                        data.extend_from_slice(&chunk);
                    }
                    format!("{status} {:?}", String::from_utf8_lossy(&data))
                }
                Ok(Err(e)) => format!("error {e}"),
                Err(_) => "TIMEOUT".to_owned(),
            };
            let _ = send.send_data(Bytes::from_static(b"x"), true);
            println!(
                "h2 {path} cl={cl:?} expect={expect}: {status} panics={:?}",
                take_panics()
            );
            driver.abort();
        }
    }
    server.shutdown().await;
}
