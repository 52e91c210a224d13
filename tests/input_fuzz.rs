//! Generated inputs through the extraction of `Json`, `Query`, `Form`, `Header`, `Cookie` and
//! `Path`, sent in process through the `TestClient`, against invariants:
//!
//! - the status is 200 or 422 (413 past the body limit, 404 for a path that routes nowhere),
//!   never a 5xx, and every request is answered (a hang is a finding after 10 s; how long
//!   an answer takes is printed, never asserted);
//! - a 422 is FastAPI's `{"detail":[{"type","loc","msg","input",("ctx")}]}`, every `loc`
//!   starts with its source, no two problems share a `loc`, at most 64 of them, and no
//!   message leaks a Rust type name or serde's wording;
//! - a JSON body is taken exactly when `serde_json::from_slice` takes it (but for the
//!   documented differences), and the value the handler sees is serde_json's;
//! - the fast path and the every-problem search agree: a value beside a bad field (`bad`, a
//!   `u8` given text) adds no problem when it is good, and the same problems as alone when it
//!   is bad.
//!
//! The bugs it found are pinned by the tests at the end (ignored while one is not fixed); the
//! runs count what they see of a known one (`known`) instead of failing, so that they find
//! others.
//!
//! `fuzz_quick` runs a few thousand requests from fixed seeds (a few seconds in debug);
//! `fuzz_long` (ignored) runs many more: `DI_FUZZ_ITERS`, `DI_FUZZ_SEED` tune it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use di_runtime::TestClient;
use di_runtime::prelude::*;
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

// ------------------------------------------------------------------------------ the PRNG

/// splitmix64: a seeded, deterministic generator (no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ------------------------------------------------------------------------------ JSON shapes

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Inner {
    x: i32,
    #[serde(default)]
    y: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Ext {
    Unit,
    New(u8),
    Tup(i8, bool),
    Rec { r: String },
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(tag = "kind")]
enum Internal {
    A { a: u16 },
    B { b: bool },
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(untagged)]
enum Untagged {
    N(i64),
    S(String),
    L(Vec<u8>),
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Color {
    Red,
    Green,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Body {
    a: u8,
    b: i64,
    c: Option<u128>,
    d: f64,
    e: bool,
    f: char,
    g: String,
    h: Vec<u16>,
    i: Option<Inner>,
    j: Ext,
    k: Internal,
    l: Untagged,
    m: BTreeMap<String, i32>,
    n: (i8, String),
    o: Value,
    #[serde(default)]
    p: u32,
    #[serde(rename = "Q")]
    q: Option<i128>,
    r: Color,
    s: Option<u64>,
}

/// [`Body`] without the fields serde reads through its `Content` buffer (the tagged and
/// untagged enums) and the 128-bit ones: a shape the search reads value by value.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Plain {
    a: u8,
    b: i64,
    d: f64,
    e: bool,
    f: char,
    g: String,
    h: Vec<u16>,
    i: Option<Inner>,
    j: Ext,
    m: BTreeMap<String, i32>,
    n: (i8, String),
    o: Value,
    #[serde(default)]
    p: u32,
    r: Color,
    s: Option<u64>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct Strict {
    s: String,
    t: Option<u64>,
    u: Vec<Inner>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Flatted {
    id: u64,
    #[serde(flatten)]
    inner: Inner,
}

type Keyed = BTreeMap<u8, bool>;
type Top = (u8, Untagged, Vec<Ext>);

/// A shape beside a bad field: `bad` is always sent as text, so always a problem.
#[derive(Deserialize)]
#[allow(dead_code, reason = "deserialized only")]
struct Pair<T> {
    x: T,
    bad: u8,
}

#[depends]
async fn body(Json(v): Json<Body>) -> Json<Body> {
    Json(v)
}
#[depends]
async fn plain(Json(v): Json<Plain>) -> Json<Plain> {
    Json(v)
}
#[depends]
async fn plain_pair(Json(_): Json<Pair<Plain>>) -> &'static str {
    "ok"
}
#[depends]
async fn strict(Json(v): Json<Strict>) -> Json<Strict> {
    Json(v)
}
#[depends]
async fn flatted(Json(v): Json<Flatted>) -> Json<Flatted> {
    Json(v)
}
#[depends]
async fn keyed(Json(v): Json<Keyed>) -> Json<Keyed> {
    Json(v)
}
#[depends]
async fn top(Json(v): Json<Top>) -> Json<Top> {
    Json(v)
}
#[depends]
async fn body_pair(Json(_): Json<Pair<Body>>) -> &'static str {
    "ok"
}
#[depends]
async fn strict_pair(Json(_): Json<Pair<Strict>>) -> &'static str {
    "ok"
}
#[depends]
async fn flatted_pair(Json(_): Json<Pair<Flatted>>) -> &'static str {
    "ok"
}
#[depends]
async fn keyed_pair(Json(_): Json<Pair<Keyed>>) -> &'static str {
    "ok"
}
#[depends]
async fn top_pair(Json(_): Json<Pair<Top>>) -> &'static str {
    "ok"
}

// ------------------------------------------------------------------------------ text shapes

/// The same fields twice: alone, and with `bad` last.
macro_rules! text_shapes {
    ($($(#[$m:meta])* $field:ident: $ty:ty,)*) => {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Text {
            $($(#[$m])* $field: $ty,)*
        }
        #[derive(Deserialize)]
        #[allow(dead_code, reason = "deserialized only")]
        struct TextPair {
            $($(#[$m])* $field: $ty,)*
            bad: u8,
        }
    };
}

text_shapes! {
    a_num: u8,
    b_num: Option<i64>,
    c_big: Option<u128>,
    d_float: Option<f64>,
    e_flag: Option<bool>,
    f_char: Option<char>,
    g_text: Option<String>,
    #[serde(default)]
    h_list: Vec<u16>,
    j_color: Option<Color>,
    #[serde(rename = "q_renamed")]
    q: Option<i32>,
    #[serde(default)]
    s_strs: Vec<String>,
}

#[depends]
async fn query(Query(v): Query<Text>) -> Json<Text> {
    Json(v)
}
#[depends]
async fn query_pair(Query(_): Query<TextPair>) -> &'static str {
    "ok"
}
#[depends]
async fn form(Form(v): Form<Text>) -> Json<Text> {
    Json(v)
}
#[depends]
async fn form_pair(Form(_): Form<TextPair>) -> &'static str {
    "ok"
}
#[depends]
async fn header(Header(v): Header<Text>) -> Json<Text> {
    Json(v)
}
#[depends]
async fn header_pair(Header(_): Header<TextPair>) -> &'static str {
    "ok"
}
#[depends]
async fn cookie(Cookie(v): Cookie<Text>) -> Json<Text> {
    Json(v)
}
#[depends]
async fn cookie_pair(Cookie(_): Cookie<TextPair>) -> &'static str {
    "ok"
}
#[depends]
async fn query_map(Query(v): Query<BTreeMap<String, Vec<i8>>>) -> Json<BTreeMap<String, Vec<i8>>> {
    Json(v)
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct ById {
    id: u16,
    name: char,
}

#[depends]
async fn path_tuple(Path(v): Path<(u8, String)>) -> Json<(u8, String)> {
    Json(v)
}
#[depends]
async fn path_struct(Path(v): Path<ById>) -> Json<ById> {
    Json(v)
}
#[depends]
async fn path_one(Path(v): Path<i64>) -> Json<i64> {
    Json(v)
}

/// Every input at once: their problems join in one 422, in parameter order.
#[depends]
async fn all(
    Path(_): Path<u8>,
    Query(_): Query<TextPair>,
    Header(_): Header<TextPair>,
    Cookie(_): Cookie<TextPair>,
    Json(_): Json<Pair<Strict>>,
) -> &'static str {
    "ok"
}

fn app() -> App {
    App::new()
        .post("/json/body", body)
        .post("/json/strict", strict)
        .post("/json/plain", plain)
        .post("/pair/plain", plain_pair)
        .post("/json/flatted", flatted)
        .post("/json/keyed", keyed)
        .post("/json/top", top)
        .post("/pair/body", body_pair)
        .post("/pair/strict", strict_pair)
        .post("/pair/flatted", flatted_pair)
        .post("/pair/keyed", keyed_pair)
        .post("/pair/top", top_pair)
        .get("/text/query", query)
        .get("/pair/query", query_pair)
        .post("/text/form", form)
        .post("/pair/form", form_pair)
        .get("/text/header", header)
        .get("/pair/header", header_pair)
        .get("/text/cookie", cookie)
        .get("/pair/cookie", cookie_pair)
        .get("/text/query_map", query_map)
        .get("/path/tuple/{a}/{b}", path_tuple)
        .get("/path/struct/{id}/{name}", path_struct)
        .get("/path/one/{id}", path_one)
        .post("/all/{n}", all)
}

// ------------------------------------------------------------------------------ the checks

/// What went wrong, with the request that shows it.
#[derive(Default)]
struct Findings {
    /// Known bugs (the ignored tests below pin them) seen, by name.
    known: BTreeMap<&'static str, usize>,
    sent: usize,
    slowest: Duration,
    bugs: Vec<String>,
}

impl Findings {
    fn known(&mut self, what: &'static str) {
        *self.known.entry(what).or_default() += 1;
    }

    fn bug(&mut self, what: String) {
        if self.bugs.len() < 40 {
            self.bugs.push(what);
        }
    }
}

/// One answer: its status and body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn problems(&self) -> Vec<Value> {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("detail").and_then(Value::as_array).cloned())
            .unwrap_or_default()
    }
}

/// What serde says of the inputs that must never reach a client.
const LEAKS: &[&str] = &[
    "invalid type:",
    "invalid value:",
    "invalid length",
    "expected u",
    "expected i",
    "expected f",
    "expected struct",
    "expected enum",
    "expected a ",
    "expected tuple",
    "expected variant",
    "unknown field",
    "unknown variant",
    "missing field",
    "duplicate field",
    "::",
    "Deserialize",
    "di_runtime",
    "serde",
    "panicked",
    "the fast path",
];

async fn send(
    client: &TestClient,
    findings: &mut Findings,
    method: Method,
    uri: &str,
    headers: &[(&str, Vec<u8>)],
    body: Vec<u8>,
) -> Option<Answer> {
    let Ok(parsed) = uri.parse::<http::Uri>() else {
        return None;
    };
    let mut request = client.request(method, &parsed.to_string());
    let mut raw = Vec::new();
    for (name, value) in headers {
        match std::str::from_utf8(value) {
            Ok(text) if http::HeaderValue::from_str(text).is_ok() => {
                request = request.header(name, text);
            }
            _ => raw.push((*name, value.clone())),
        }
    }
    if !raw.is_empty() {
        // Non-UTF-8 header values cannot go through `header(&str, &str)`: skip those.
        return None;
    }
    let request = request.body(body);
    findings.sent += 1;
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(10), request.send()).await;
    let took = started.elapsed();
    findings.slowest = findings.slowest.max(took);
    let Ok(response) = response else {
        findings.bug(format!("no answer within 10 s: {uri}"));
        return None;
    };
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    Some(Answer { status, body })
}

/// The invariants of every answer; `source` is where its problems must be.
fn check_shape(findings: &mut Findings, what: &str, answer: &Answer, sources: &[&str]) {
    let text = String::from_utf8_lossy(&answer.body);
    if answer.status >= 500 {
        findings.bug(format!("{what}: {} {text}", answer.status));
        return;
    }
    if answer.status != 422 {
        return;
    }
    let value = match serde_json::from_slice::<Value>(&answer.body) {
        Ok(value) => value,
        // The `input` of a problem echoes a value nested nearly as deep as serde_json reads:
        // with the answer's own levels, deeper than serde_json reads back.
        Err(e) if e.to_string().contains("recursion limit") => return,
        Err(_) => {
            findings.bug(format!("{what}: 422 not JSON: {text}"));
            return;
        }
    };
    let Some(detail) = value.get("detail").and_then(Value::as_array) else {
        findings.bug(format!("{what}: 422 without a detail list: {text}"));
        return;
    };
    if detail.is_empty() || detail.len() > 64 {
        findings.bug(format!("{what}: {} problems: {text}", detail.len()));
    }
    let mut locs = Vec::new();
    for problem in detail {
        let Some(object) = problem.as_object() else {
            findings.bug(format!("{what}: a problem not an object: {text}"));
            continue;
        };
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        let known = keys
            .iter()
            .all(|k| ["type", "loc", "msg", "input", "ctx"].contains(k));
        if !known
            || !["type", "loc", "msg", "input"]
                .iter()
                .all(|k| keys.contains(k))
        {
            findings.bug(format!("{what}: keys {keys:?}: {text}"));
        }
        let loc = object.get("loc").and_then(Value::as_array);
        match loc.and_then(|l| l.first()).and_then(Value::as_str) {
            Some(first) if sources.contains(&first) => {}
            _ => findings.bug(format!("{what}: loc not at {sources:?}: {problem}")),
        }
        if let Some(loc) = loc {
            if locs.contains(loc) {
                findings.bug(format!("{what}: two problems at {loc:?}: {text}"));
            }
            locs.push(loc.clone());
        }
        let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
        let msg = object.get("msg").and_then(Value::as_str).unwrap_or("");
        if kind != "json_invalid"
            && !msg.contains("expected newtype variant")
            && LEAKS.iter().any(|l| msg.contains(l))
        {
            findings.bug(format!("{what}: leaky msg: {problem}"));
        }
        if kind == "value_error" && msg.contains("invalid input") {
            findings.bug(format!("{what}: the search's fallback problem: {problem}"));
        }
    }
}

/// The problems of an answer without the one at `[source, "bad"]`, as comparable text.
fn problems_but_bad(answer: &Answer, prefix: &[Value]) -> (Vec<String>, usize) {
    let mut bad = 0;
    let mut rest = Vec::new();
    for problem in answer.problems() {
        let loc = problem["loc"].as_array().cloned().unwrap_or_default();
        if loc.len() == 2 && loc[0] == prefix[0] && loc[1] == "bad" {
            bad += 1;
            continue;
        }
        // Strip `prefix` (the pair's "x"), so that it compares with the shape alone.
        let mut loc = loc;
        if loc.starts_with(prefix) && prefix.len() > 1 {
            loc.drain(1..prefix.len());
        }
        let mut p = problem.clone();
        p["loc"] = Value::Array(loc);
        // A missing field's `input` is its enclosing value: the pair's object differs.
        if p["type"] == "missing" {
            p["input"] = Value::Null;
        }
        rest.push(p.to_string());
    }
    rest.sort();
    (rest, bad)
}

// ------------------------------------------------------------------------------ generators

const STRINGS: &[&str] = &[
    "", "a", "abc", "é", "日本", "🦀", " ", "0", "-1", "1.5", "true", "null", "red", "Red",
    "\u{0}", "\u{feff}", "a\"b", "\\", "Unit", "New", "A",
];

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "255",
    "256",
    "-129",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "36893488147419103232",
    "-36893488147419103232",
    "170141183460469231731687303715884105727",
    "170141183460469231731687303715884105728",
    "-170141183460469231731687303715884105728",
    "-170141183460469231731687303715884105729",
    "340282366920938463463374607431768211455",
    "340282366920938463463374607431768211456",
    "340282366920938463463374607431768211457",
    "1000000000000000000000000000000000000000",
    "1e30",
    "1E2",
    "1.0",
    "0.5",
    "-0.0",
    "1e308",
    "1e400",
    "-1e400",
    "1e-400",
    "123456789012345678901234567890",
    "0.1e1",
    "5e-324",
];

fn gen_string(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => "x".repeat(rng.below(3000)),
        1 => (0..rng.below(20))
            .map(|_| char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('?'))
            .collect(),
        _ => (*rng.pick(STRINGS)).to_owned(),
    }
}

/// A random JSON value (any type), `depth` levels deep at most.
fn gen_any(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => serde_json::from_str(rng.pick::<&str>(NUMBERS)).unwrap_or(json!(1)),
        3 => json!(rng.below(300) as i64 - 20),
        4 => Value::String(gen_string(rng)),
        5 => Value::Array((0..rng.below(4)).map(|_| gen_any(rng, depth - 1)).collect()),
        _ => {
            let keys = ["x", "y", "a", "r", "kind", "b", "Unit", "New", "Rec", "1"];
            Value::Object(
                (0..rng.below(4))
                    .map(|_| ((*rng.pick(&keys)).to_owned(), gen_any(rng, depth - 1)))
                    .collect(),
            )
        }
    }
}

fn gen_inner(rng: &mut Rng) -> Value {
    let mut v = json!({"x": rng.below(1000) as i64 - 500});
    if rng.chance(50) {
        v["y"] = json!(gen_string(rng));
    }
    v
}

fn gen_body(rng: &mut Rng) -> Value {
    let j = match rng.below(4) {
        0 => json!("Unit"),
        1 => json!({"New": rng.below(256)}),
        2 => json!({"Tup": [rng.below(256) as i64 - 128, rng.chance(50)]}),
        _ => json!({"Rec": {"r": gen_string(rng)}}),
    };
    let k = if rng.chance(50) {
        json!({"kind": "A", "a": rng.below(65536)})
    } else {
        json!({"b": rng.chance(50), "kind": "B"})
    };
    let l = match rng.below(3) {
        0 => json!(rng.next() as i64),
        1 => json!(gen_string(rng)),
        _ => json!(
            (0..rng.below(4))
                .map(|_| rng.below(256))
                .collect::<Vec<_>>()
        ),
    };
    let mut m = serde_json::Map::new();
    for _ in 0..rng.below(4) {
        m.insert(gen_string(rng), json!(rng.below(100)));
    }
    let mut v = json!({
        "a": rng.below(256),
        "b": rng.next() as i64,
        "c": if rng.chance(50) { json!(null) } else { json!(rng.next()) },
        "d": (rng.below(10_000) as f64) / 7.0,
        "e": rng.chance(50),
        "f": "🦀",
        "g": gen_string(rng),
        "h": (0..rng.below(5)).map(|_| rng.below(65536)).collect::<Vec<_>>(),
        "i": if rng.chance(30) { Value::Null } else { gen_inner(rng) },
        "j": j,
        "k": k,
        "l": l,
        "m": m,
        "n": [rng.below(256) as i64 - 128, gen_string(rng)],
        "o": gen_any(rng, 3),
        "Q": if rng.chance(50) { json!(null) } else { json!(rng.next() as i64) },
        "r": if rng.chance(50) { "red" } else { "green" },
        "s": rng.next(),
    });
    if rng.chance(50) {
        v["p"] = json!(rng.below(1000));
    }
    if rng.chance(20)
        && let Some(o) = v.as_object_mut()
    {
        o.remove("i");
        o.remove("Q");
        o.remove("c");
        o.remove("s");
    }
    v
}

fn gen_strict(rng: &mut Rng) -> Value {
    let mut v = json!({
        "s": gen_string(rng),
        "u": (0..rng.below(4)).map(|_| gen_inner(rng)).collect::<Vec<_>>(),
    });
    if rng.chance(50) {
        v["t"] = json!(rng.next());
    }
    v
}

fn gen_flatted(rng: &mut Rng) -> Value {
    let mut v = gen_inner(rng);
    v["id"] = json!(rng.next());
    v
}

fn gen_keyed(rng: &mut Rng) -> Value {
    let mut m = serde_json::Map::new();
    for _ in 0..rng.below(5) {
        m.insert(rng.below(256).to_string(), json!(rng.chance(50)));
    }
    Value::Object(m)
}

fn gen_top(rng: &mut Rng) -> Value {
    json!([
        rng.below(256),
        rng.next() as i64,
        (0..rng.below(3))
            .map(|_| json!({"New": rng.below(256)}))
            .collect::<Vec<_>>(),
    ])
}

/// A mutation of `v` in place: a value's type flipped, a key dropped or added, a huge
/// number, deep nesting, ...
fn mutate(rng: &mut Rng, v: &mut Value, depth: usize) {
    let go_deeper = depth < 6 && rng.chance(60);
    match v {
        Value::Object(map) if go_deeper && !map.is_empty() => {
            let key = map
                .keys()
                .nth(rng.below(map.len()))
                .cloned()
                .unwrap_or_default();
            if let Some(child) = map.get_mut(&key) {
                mutate(rng, child, depth + 1);
            }
            return;
        }
        Value::Array(items) if go_deeper && !items.is_empty() => {
            let i = rng.below(items.len());
            mutate(rng, &mut items[i], depth + 1);
            return;
        }
        _ => {}
    }
    match rng.below(9) {
        0 => *v = gen_any(rng, 2),
        1 => {
            if let Value::Object(map) = v
                && !map.is_empty()
            {
                let key = map
                    .keys()
                    .nth(rng.below(map.len()))
                    .cloned()
                    .unwrap_or_default();
                map.remove(&key);
            } else {
                *v = gen_any(rng, 1);
            }
        }
        2 => {
            if let Value::Object(map) = v {
                map.insert(gen_string(rng), gen_any(rng, 1));
            } else {
                *v = Value::Null;
            }
        }
        3 => *v = json!(format!("\u{1}RAW{}", rng.pick(NUMBERS))),
        4 => {
            let mut deep = gen_any(rng, 0);
            for _ in 0..rng.below(200) {
                deep = if rng.chance(50) {
                    json!([deep])
                } else {
                    json!({"x": deep})
                };
            }
            *v = deep;
        }
        5 => *v = Value::Array((0..rng.below(300)).map(|_| gen_any(rng, 0)).collect()),
        6 => *v = Value::String(gen_string(rng)),
        7 => {
            if let Value::Array(items) = v {
                items.push(gen_any(rng, 1));
            } else {
                *v = json!([v.clone(), v.clone()]);
            }
        }
        _ => *v = json!(rng.pick(NUMBERS).parse::<f64>().unwrap_or(0.0)),
    }
}

/// JSON text of `v`, with the raw number tokens put in place.
fn to_text(v: &Value) -> String {
    let text = serde_json::to_string(v).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("\"\\u0001RAW") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "\"\\u0001RAW".len()..];
        let end = after.find('"').unwrap_or(after.len());
        out.push_str(&after[..end]);
        rest = &after[(end + 1).min(after.len())..];
    }
    out.push_str(rest);
    out
}

/// Byte-level damage to JSON text, now and then.
fn damage(rng: &mut Rng, text: String) -> Vec<u8> {
    let mut bytes = text.into_bytes();
    if !rng.chance(15) || bytes.is_empty() {
        return bytes;
    }
    let at = rng.below(bytes.len());
    match rng.below(7) {
        0 => bytes.truncate(at),
        1 => bytes.insert(
            at,
            *rng.pick(&[b'{', b'[', b',', b'"', b'\\', 0xff, 0xc3, b'\n']),
        ),
        2 => {
            bytes.remove(at);
        }
        3 => bytes.extend_from_slice(b" x"),
        4 => {
            // A key sent twice.
            if let Some(i) = bytes.iter().position(|&b| b == b'{') {
                bytes.splice(i + 1..i + 1, b"\"a\":1,".iter().copied());
            }
        }
        5 => bytes
            .splice(0..0, b"\xEF\xBB\xBF".iter().copied())
            .for_each(drop),
        _ => bytes.splice(at..at, "\\ud800".bytes()).for_each(drop),
    }
    bytes
}

// ------------------------------------------------------------------------------ JSON rounds

/// Sends `text` alone to `/json/{name}` and beside a bad field to `/pair/{name}`, and checks
/// both answers against serde_json and each other.
async fn json_round<T>(client: &TestClient, f: &mut Findings, name: &str, text: Vec<u8>)
where
    T: serde::de::DeserializeOwned + Serialize,
{
    let shown = String::from_utf8_lossy(&text[..text.len().min(600)]).into_owned();
    let json_ct = [("content-type", b"application/json".to_vec())];
    let Some(alone) = send(
        client,
        f,
        Method::POST,
        &format!("/json/{name}"),
        &json_ct,
        text.clone(),
    )
    .await
    else {
        return;
    };
    check_shape(f, &format!("/json/{name} {shown}"), &alone, &["body"]);
    let bom_free = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
    let serde = serde_json::from_slice::<T>(bom_free);
    let duplicate = matches!(&serde, Err(e) if e.to_string().contains("duplicate field"));
    match (&serde, alone.status) {
        (Ok(value), 200) => {
            // Through text: a `u128` beyond 64 bits is no `Value` (it is a float read back).
            let sent = serde_json::from_slice::<Value>(&alone.body).ok();
            let expected = serde_json::to_string(value)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok());
            if sent != expected {
                f.bug(format!(
                    "/json/{name} {shown}: the handler saw {} where serde_json reads {}",
                    String::from_utf8_lossy(&alone.body),
                    expected.map(|v| v.to_string()).unwrap_or_default()
                ));
            }
        }
        (Ok(_), 422) => {
            // A struct given an array: serde takes it, pydantic (and di) do not.
            let documented = alone
                .problems()
                .iter()
                .all(|p| p["type"] == "model_attributes_type");
            if !documented {
                f.bug(format!(
                    "/json/{name} {shown}: refused what serde_json takes: {}",
                    String::from_utf8_lossy(&alone.body)
                ));
            }
        }
        (Err(_), 200) if duplicate => {}
        (Err(e), 200) => f.bug(format!(
            "/json/{name} {shown}: took what serde_json refuses ({e}): {}",
            String::from_utf8_lossy(&alone.body)
        )),
        _ => {}
    }
    // A bare string for a variant with content: serde's wording (known, pinned below).
    if alone.problems().iter().any(|p| {
        p["msg"]
            .as_str()
            .is_some_and(|m| m.contains("expected newtype variant"))
    }) {
        f.known("serde's message for a bare variant name that takes content");
        return;
    }
    // Beside a bad field, through the search: the same problems under "x", and "bad".
    let syntax_ok = serde_json::from_slice::<Value>(bom_free).is_ok();
    if !syntax_ok || text.starts_with(b"\xEF\xBB\xBF") || alone.status == 413 {
        return;
    }
    let mut pair = b"{\"x\":".to_vec();
    pair.extend_from_slice(&text);
    pair.extend_from_slice(b",\"bad\":\"no\"}");
    let Some(paired) = send(
        client,
        f,
        Method::POST,
        &format!("/pair/{name}"),
        &json_ct,
        pair,
    )
    .await
    else {
        return;
    };
    check_shape(f, &format!("/pair/{name} {shown}"), &paired, &["body"]);
    if paired.status == 413 {
        return;
    }
    if paired
        .problems()
        .iter()
        .any(|p| p["type"] == "json_invalid")
    {
        return; // nested one level deeper than serde_json reads
    }
    let (rest, bad) = problems_but_bad(&paired, &[json!("body"), json!("x")]);
    if paired.status == 422 && serde_json::from_slice::<Value>(&paired.body).is_err() {
        return; // too deep for serde_json to read back (see `check_shape`)
    }
    if paired.problems().len() >= 64 {
        return; // the bound on problems may cut `bad` off
    }
    if paired.status != 422 || bad != 1 {
        f.bug(format!(
            "/pair/{name} {shown}: {} with {bad} problems at bad: {}",
            paired.status,
            String::from_utf8_lossy(&paired.body)
        ));
        return;
    }
    let (alone_rest, _) = problems_but_bad(&alone, &[json!("body")]);
    let alone_rest = if alone.status == 200 {
        Vec::new()
    } else {
        alone_rest
    };
    if rest.len() == 64 || alone_rest.len() >= 63 {
        return; // the bound on problems cuts the lists at different places
    }
    if rest != alone_rest && !duplicate {
        f.bug(format!(
            "/pair/{name} {shown}: beside a bad field the problems are\n    {rest:?}\n  alone ({}):\n    {alone_rest:?}",
            alone.status
        ));
    }
}

async fn json_rounds(client: &TestClient, f: &mut Findings, rng: &mut Rng) {
    let shape = rng.below(6);
    let mut v = match shape {
        0 | 1 | 5 => gen_body(rng),
        2 => gen_strict(rng),
        3 => {
            if rng.chance(50) {
                gen_flatted(rng)
            } else {
                gen_keyed(rng)
            }
        }
        _ => gen_top(rng),
    };
    for _ in 0..rng.below(4) {
        mutate(rng, &mut v, 0);
    }
    let text = damage(rng, to_text(&v));
    match shape {
        0 | 1 => json_round::<Body>(client, f, "body", text).await,
        5 => {
            if let Some(o) = v.as_object_mut() {
                o.remove("k");
                o.remove("l");
                o.remove("c");
                o.remove("Q");
            }
            let text = damage(rng, to_text(&v));
            json_round::<Plain>(client, f, "plain", text).await;
        }
        2 => json_round::<Strict>(client, f, "strict", text).await,
        3 if v.get("id").is_some() => json_round::<Flatted>(client, f, "flatted", text).await,
        3 => json_round::<Keyed>(client, f, "keyed", text).await,
        _ => json_round::<Top>(client, f, "top", text).await,
    }
}

// ------------------------------------------------------------------------------ text rounds

const TEXT_KEYS: &[&str] = &[
    "a_num",
    "b_num",
    "c_big",
    "d_float",
    "e_flag",
    "f_char",
    "g_text",
    "h_list",
    "j_color",
    "q_renamed",
    "q",
    "s_strs",
    "other",
    "A_NUM",
];

const TEXT_VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "255",
    "256",
    "-1",
    "abc",
    "true",
    "no",
    "On",
    "red",
    "GREEN",
    "1.5",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "é",
    "🦀",
    "xx",
    " 5",
    "+5",
    "00012",
    "0x10",
    "340282366920938463463374607431768211455",
    "340282366920938463463374607431768211456",
    "9223372036854775808",
    "-9223372036854775809",
];

fn gen_pairs(rng: &mut Rng) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    if rng.chance(80) {
        pairs.push(("a_num".to_owned(), rng.below(256).to_string()));
    }
    for _ in 0..rng.below(8) {
        let key = (*rng.pick(TEXT_KEYS)).to_owned();
        let value = if rng.chance(10) {
            gen_string(rng)
        } else {
            (*rng.pick(TEXT_VALUES)).to_owned()
        };
        pairs.push((key, value));
    }
    if rng.chance(5) {
        for i in 0..rng.below(2000) {
            pairs.push((format!("k{i}"), "v".to_owned()));
        }
    }
    if rng.chance(5) {
        for _ in 0..rng.below(2000) {
            pairs.push(("h_list".to_owned(), (*rng.pick(TEXT_VALUES)).to_owned()));
        }
    }
    pairs
}

fn encode(rng: &mut Rng, pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&form_encode(k));
        out.push('=');
        out.push_str(&form_encode(v));
    }
    if rng.chance(10) {
        // Raw damage: a bad escape, a lone `%`, an escaped invalid UTF-8 byte, a bare key.
        out.push_str(rng.pick::<&str>(&[
            "&g_text=%ff%fe",
            "&g_text=%",
            "&g_text=%zz",
            "&e_flag",
            "&&=",
            "&=x",
            "&a_num=%32%35",
        ]));
    }
    out
}

fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A request's URI suffix, headers and body.
type Request = (String, Vec<(&'static str, Vec<u8>)>, Vec<u8>);

/// Sends `input` to `/text/{name}` and, with `bad=x` added, to `/pair/{name}`, and checks the
/// second lists the first's problems and `bad`'s.
async fn text_round(client: &TestClient, f: &mut Findings, rng: &mut Rng, name: &str) {
    let pairs = gen_pairs(rng);
    if pairs.iter().any(|(k, _)| k == "bad") {
        return;
    }
    let query = encode(rng, &pairs);
    let shown: String = query.chars().take(400).collect();
    let (source, method) = match name {
        "query" => ("query", Method::GET),
        "form" => ("body", Method::POST),
        "header" => ("header", Method::GET),
        _ => ("cookie", Method::GET),
    };
    let build = |extra: &str| -> Request {
        match name {
            "query" => (format!("?{query}{extra}"), Vec::new(), Vec::new()),
            "form" => (
                String::new(),
                vec![(
                    "content-type",
                    b"application/x-www-form-urlencoded".to_vec(),
                )],
                format!("{query}{extra}").into_bytes(),
            ),
            "header" => {
                // Each pair a header named by the key, underscores as hyphens.
                let mut headers: Vec<(&'static str, Vec<u8>)> = Vec::new();
                for (k, v) in pairs.iter().take(60) {
                    let name: &'static str = Box::leak(k.replace('_', "-").into_boxed_str());
                    headers.push((name, v.trim().as_bytes().to_vec()));
                }
                if !extra.is_empty() {
                    headers.push(("bad", b"x".to_vec()));
                }
                (String::new(), headers, Vec::new())
            }
            _ => {
                let mut cookie = pairs
                    .iter()
                    .take(200)
                    .map(|(k, v)| format!("{k}={}", v.replace([';', '"', '\\'], "")))
                    .collect::<Vec<_>>()
                    .join("; ");
                if !extra.is_empty() {
                    cookie.push_str("; bad=x");
                }
                (
                    String::new(),
                    vec![("cookie", cookie.into_bytes())],
                    Vec::new(),
                )
            }
        }
    };
    let (suffix, headers, body) = build("");
    let Some(alone) = send(
        client,
        f,
        method.clone(),
        &format!("/text/{name}{suffix}"),
        &headers,
        body,
    )
    .await
    else {
        return;
    };
    let what = format!("{name} {shown}");
    // A query or form of more than 1000 fields (pieces between `&`, empty ones skipped) is
    // refused whole with a 400 (tests/review_inputs3.rs); its fields are not read.
    let too_many = |text: &str| {
        (name == "query" || name == "form")
            && text.split('&').filter(|piece| !piece.is_empty()).count() > 1000
    };
    let refused = |answer: &Answer| {
        answer.status == 400
            && serde_json::from_slice::<Value>(&answer.body).is_ok_and(|body| {
                body["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("Too many "))
            })
    };
    if too_many(&query) {
        if !(refused(&alone) || alone.status == 431 || alone.status == 414 || alone.status == 413) {
            f.bug(format!(
                "{what}: {} for more than 1000 fields: {}",
                alone.status,
                String::from_utf8_lossy(&alone.body)
            ));
        }
        return;
    }
    check_shape(f, &what, &alone, &[source]);
    if alone.status != 200 && alone.status != 422 {
        if !(alone.status == 431 || alone.status == 414 || alone.status == 413 && name == "form") {
            f.bug(format!(
                "{what}: {} {}",
                alone.status,
                String::from_utf8_lossy(&alone.body)
            ));
        }
        return;
    }
    let (suffix, headers, body) = build("&bad=x");
    let Some(paired) = send(
        client,
        f,
        method,
        &format!("/pair/{name}{suffix}"),
        &headers,
        body,
    )
    .await
    else {
        return;
    };
    if too_many(&format!("{query}&bad=x")) {
        // `bad` is the 1001st field.
        if !refused(&paired) {
            f.bug(format!(
                "/pair/{name} {shown}: {} for more than 1000 fields",
                paired.status
            ));
        }
        return;
    }
    check_shape(f, &what, &paired, &[source]);
    let (rest, bad) = problems_but_bad(&paired, &[json!(source)]);
    if paired.status == 422 && serde_json::from_slice::<Value>(&paired.body).is_err() {
        return; // too deep for serde_json to read back (see `check_shape`)
    }
    if paired.problems().len() >= 64 {
        return; // the bound on problems may cut `bad` off
    }
    if paired.status != 422 || bad != 1 {
        f.bug(format!(
            "/pair/{name} {shown}: {} with {bad} problems at bad: {}",
            paired.status,
            String::from_utf8_lossy(&paired.body)
        ));
        return;
    }
    let (alone_rest, _) = problems_but_bad(&alone, &[json!(source)]);
    let alone_rest = if alone.status == 200 {
        Vec::new()
    } else {
        alone_rest
    };
    if rest.len() >= 63 || alone_rest.len() >= 63 {
        return;
    }
    if rest != alone_rest {
        f.bug(format!(
            "/pair/{name} {shown}: beside a bad field the problems are\n    {rest:?}\n  alone ({}):\n    {alone_rest:?}",
            alone.status
        ));
    }
}

async fn path_round(client: &TestClient, f: &mut Findings, rng: &mut Rng) {
    let seg = |rng: &mut Rng| -> String {
        let raw = if rng.chance(20) {
            gen_string(rng)
        } else {
            (*rng.pick(TEXT_VALUES)).to_owned()
        };
        let mut s = form_encode(&raw).replace('+', "%20");
        if rng.chance(5) {
            s.push_str(rng.pick::<&str>(&["%ff", "%", "%zz", "%2F", "%00"]));
        }
        s
    };
    let uri = match rng.below(3) {
        0 => format!("/path/tuple/{}/{}", seg(rng), seg(rng)),
        1 => format!("/path/struct/{}/{}", seg(rng), seg(rng)),
        _ => format!("/path/one/{}", seg(rng)),
    };
    let Some(answer) = send(client, f, Method::GET, &uri, &[], Vec::new()).await else {
        return;
    };
    check_shape(f, &uri, &answer, &["path"]);
    if ![200, 404, 422].contains(&answer.status) {
        f.bug(format!(
            "{uri}: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ));
    }
}

async fn all_round(client: &TestClient, f: &mut Findings, rng: &mut Rng) {
    let pairs = gen_pairs(rng);
    let query = encode(rng, &pairs);
    let mut body = gen_strict(rng);
    mutate(rng, &mut body, 0);
    let body = format!("{{\"x\":{},\"bad\":{}}}", to_text(&body), rng.below(300));
    let uri = format!("/all/{}?{query}", rng.pick(TEXT_VALUES).replace(' ', "%20"));
    let headers = vec![
        ("content-type", b"application/json".to_vec()),
        ("a-num", rng.pick(TEXT_VALUES).trim().as_bytes().to_vec()),
        (
            "cookie",
            format!("a_num={}; bad=1", rng.below(300)).into_bytes(),
        ),
    ];
    let Some(answer) = send(client, f, Method::POST, &uri, &headers, body.into_bytes()).await
    else {
        return;
    };
    check_shape(
        f,
        &uri,
        &answer,
        &["path", "query", "header", "cookie", "body"],
    );
    // Problems come in parameter order: path, query, header, cookie, body.
    let order = ["path", "query", "header", "cookie", "body"];
    let ranks: Vec<usize> = answer
        .problems()
        .iter()
        .filter_map(|p| {
            p["loc"][0]
                .as_str()
                .and_then(|s| order.iter().position(|o| *o == s))
        })
        .collect();
    if !ranks.windows(2).all(|w| w[0] <= w[1]) {
        f.bug(format!(
            "{uri}: problems out of parameter order: {}",
            String::from_utf8_lossy(&answer.body)
        ));
    }
}

// ------------------------------------------------------------------------------ the runs

async fn fuzz(seed: u64, iterations: usize) -> Findings {
    let client = TestClient::start(app().body_limit(256 * 1024))
        .await
        .expect("the app starts");
    let mut rng = Rng(seed);
    let mut f = Findings::default();
    for _ in 0..iterations {
        match rng.below(8) {
            0..=2 => json_rounds(&client, &mut f, &mut rng).await,
            3 => text_round(&client, &mut f, &mut rng, "query").await,
            4 => text_round(&client, &mut f, &mut rng, "form").await,
            5 => {
                let name = if rng.chance(50) { "header" } else { "cookie" };
                text_round(&client, &mut f, &mut rng, name).await;
            }
            6 => path_round(&client, &mut f, &mut rng).await,
            _ => all_round(&client, &mut f, &mut rng).await,
        }
    }
    client.shutdown().await;
    f
}

fn report(f: &Findings) {
    eprintln!(
        "{} requests, slowest {:?}, known bugs seen: {:?}",
        f.sent, f.slowest, f.known
    );
    assert!(
        f.bugs.is_empty(),
        "{} findings:\n{}",
        f.bugs.len(),
        f.bugs.join("\n\n")
    );
}

#[tokio::test]
async fn fuzz_quick() {
    let f = fuzz(0x5EED_0001, 1500).await;
    report(&f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: cargo test -p di-tests --test input_fuzz -- --ignored"]
async fn fuzz_long() {
    let iterations = std::env::var("DI_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let seed = std::env::var("DI_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xD1_F022);
    let f = fuzz(seed, iterations).await;
    report(&f);
}

// ------------------------------------------------------------------------------ pinned bugs

#[derive(Deserialize, Serialize, Debug)]
struct Wide {
    n: u128,
    m: i128,
}

#[depends]
async fn wide(Json(v): Json<Wide>) -> Json<Wide> {
    Json(v)
}

#[depends]
async fn internal(Json(_): Json<Internal>) -> &'static str {
    "ok"
}

#[depends]
async fn untagged_pair(Json(_): Json<Pair<Untagged>>) -> &'static str {
    "ok"
}

fn pinned_app() -> App {
    App::new()
        .post("/wide", wide)
        .post("/internal", internal)
        .post("/untagged_pair", untagged_pair)
        .post("/internal_pair", p_internal)
        .post("/flatted", flatted)
        .post("/ext", ext)
}

#[depends]
async fn ext(Json(_): Json<Ext>) -> &'static str {
    "ok"
}

#[depends]
async fn p_internal(Json(_): Json<Pair<Internal>>) -> &'static str {
    "ok"
}

async fn post_json(client: &TestClient, uri: &str, body: &str) -> (u16, Value) {
    let response = client
        .post(uri)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// An internally tagged enum given something other than an object is pydantic's
/// `model_attributes_type`, as a struct is: serde's message names the Rust type
/// (`expected internally tagged enum Internal`) and must not reach the client.
#[tokio::test]
async fn an_internally_tagged_enum_given_a_non_object_does_not_name_the_rust_type() {
    let client = TestClient::start(pinned_app())
        .await
        .expect("the app starts");
    for body in ["true", "5", "\"x\"", "null"] {
        let (status, answer) = post_json(&client, "/internal", body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        let text = answer.to_string();
        assert!(
            !text.contains("Internal")
                && !text.contains("invalid type")
                && !text.contains("expected"),
            "{body}: {text}"
        );
        assert_eq!(
            answer["detail"][0]["type"], "model_attributes_type",
            "{body}: {text}"
        );
        assert_eq!(
            answer["detail"][0]["loc"],
            json!(["body"]),
            "{body}: {text}"
        );
    }
}

/// A `u128`/`i128` beyond its range is refused by the fast path (serde_json reads the literal
/// exactly); the every-problem search, which reads it as an `f64`, took the floats at the
/// bounds (2^128, ±2^127) as in range: 200 with the value saturated to `u128::MAX` or
/// `i128::MIN`, or a `value_error` with serde's message (`invalid value: u128, expected
/// i128`).
#[tokio::test]
async fn a_wide_integer_out_of_range_is_refused_and_never_saturated() {
    let client = TestClient::start(pinned_app())
        .await
        .expect("the app starts");
    for (body, kind, loc) in [
        (
            r#"{"n":340282366920938463463374607431768211456,"m":0}"#,
            "less_than_equal",
            "n",
        ),
        (
            r#"{"n":1,"m":-170141183460469231731687303715884105729}"#,
            "greater_than_equal",
            "m",
        ),
        (
            r#"{"n":1,"m":170141183460469231731687303715884105728}"#,
            "less_than_equal",
            "m",
        ),
    ] {
        assert!(serde_json::from_str::<Wide>(body).is_err(), "{body}");
        let (status, answer) = post_json(&client, "/wide", body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["detail"][0]["type"], kind, "{body}: {answer}");
        assert_eq!(
            answer["detail"][0]["loc"],
            json!(["body", loc]),
            "{body}: {answer}"
        );
    }
    // At the bounds, they are taken exactly.
    let body = r#"{"n":340282366920938463463374607431768211455,"m":-170141183460469231731687303715884105728}"#;
    let (status, answer) = post_json(&client, "/wide", body).await;
    assert_eq!(status, 200, "{answer}");
}

/// A whole float literal is not an integer for `di` (docs/fastapi.md: no lax coercion): the
/// fast path refuses `1e30` for a `u128`, and so does the search, which tells it from the
/// integer literal it rounds to.
#[tokio::test]
async fn a_float_literal_for_a_wide_integer_is_refused() {
    let client = TestClient::start(pinned_app())
        .await
        .expect("the app starts");
    let body = r#"{"n":1e30,"m":0}"#;
    assert!(serde_json::from_str::<Wide>(body).is_err());
    let (status, answer) = post_json(&client, "/wide", body).await;
    assert_eq!(status, 422, "{answer}");
    let n = json!({"type": "int_type", "loc": ["body", "n"], "msg": "Input should be a valid integer", "input": 1e30});
    assert_eq!(answer["detail"], json!([n]), "{answer}");
    // Beside another problem (and beside an `i128` serde_json takes from `-0`), the same.
    let (status, answer) = post_json(&client, "/wide", r#"{"n":1e30,"m":-0}"#).await;
    assert_eq!((status, &answer["detail"]), (422, &json!([n])), "{answer}");
    let (status, answer) = post_json(&client, "/wide", r#"{"n":1e30,"m":"x"}"#).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["detail"][0], n, "{answer}");
    assert_eq!(answer["detail"][1]["loc"], json!(["body", "m"]), "{answer}");
}

/// A placeholder an untagged or internally tagged enum cannot be read from (its variants
/// take no unit) must not end the search: the other fields' problems are still listed.
#[tokio::test]
async fn a_bad_untagged_or_internally_tagged_enum_does_not_hide_the_other_problems() {
    let client = TestClient::start(pinned_app())
        .await
        .expect("the app starts");
    for (uri, body) in [
        ("/untagged_pair", r#"{"x":true,"bad":"no"}"#),
        ("/untagged_pair", r#"{"bad":"no","x":true}"#),
        ("/internal_pair", r#"{"x":{"kind":"C"},"bad":"no"}"#),
        ("/internal_pair", r#"{"x":{"kind":"A","a":"z"},"bad":"no"}"#),
    ] {
        let (status, answer) = post_json(&client, uri, body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        let locs: Vec<&Value> = answer["detail"]
            .as_array()
            .map(|d| d.iter().map(|p| &p["loc"]).collect())
            .unwrap_or_default();
        assert!(
            locs.contains(&&json!(["body", "bad"])),
            "{uri} {body}: {answer}"
        );
        assert!(locs.iter().any(|l| l[1] == "x"), "{uri} {body}: {answer}");
    }
}

/// An externally tagged variant that takes content, sent as its bare name (`"New"` for
/// `New(u8)`), is answered with serde's own wording.
#[tokio::test]
async fn a_bare_variant_name_that_takes_content_is_not_answered_in_serdes_words() {
    let client = TestClient::start(pinned_app())
        .await
        .expect("the app starts");
    let (status, answer) = post_json(&client, "/ext", r#""New""#).await;
    assert_eq!(status, 422, "{answer}");
    let msg = answer["detail"][0]["msg"].as_str().unwrap_or_default();
    assert!(
        !msg.contains("invalid type") && !msg.contains("expected"),
        "{answer}"
    );
}

/// A problem inside a flattened struct (or an internally tagged variant) of a JSON body is
/// at the field's location, as pydantic reports it, not at the struct holding it with the
/// whole object as `input`.
#[tokio::test]
async fn a_problem_inside_a_flattened_struct_is_at_its_field() {
    let client = TestClient::start(pinned_app())
        .await
        .expect("the app starts");
    let (status, answer) = post_json(&client, "/flatted", r#"{"id":1,"x":1.5}"#).await;
    assert_eq!(status, 422);
    assert_eq!(answer["detail"][0]["loc"], json!(["body", "x"]), "{answer}");
    assert_eq!(answer["detail"][0]["input"], json!(1.5), "{answer}");
    let (status, answer) = post_json(&client, "/internal", r#"{"kind":"A","a":"z"}"#).await;
    assert_eq!(status, 422);
    assert_eq!(answer["detail"][0]["loc"], json!(["body", "a"]), "{answer}");
}
