//! Bad request input in detail: every problem of every field of a `Query` and a `Json` is
//! listed, each with its location, in one 422, before any dependency is set up.

mod common;

use common::{events, log, serial};
use di_runtime::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

/// pydantic's message for a text that is not an integer.
const INT_PARSING: &str = "Input should be a valid integer, unable to parse string as an integer";

#[depends]
async fn audit(y: Yield<u8>) {
    log("audit:open");
    let (_, outcome) = y.provide(1).await;
    log(format!("audit:close {}", outcome.is_success()));
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Sort {
    Newest,
    Oldest,
}

#[derive(Deserialize)]
struct Search {
    limit: u32,
    offset: u64,
    sort: Sort,
    q: Option<String>,
    tag: Vec<String>,
}

#[derive(Deserialize)]
struct Line {
    sku: String,
    qty: u32,
}

#[derive(Deserialize)]
struct NewOrder {
    customer: String,
    items: Vec<Line>,
    note: Option<String>,
    express: bool,
}

#[depends]
async fn place(
    #[dep(audit)] _audit: &u8,
    Query(search): Query<Search>,
    Json(order): Json<NewOrder>,
) -> String {
    let sort = match search.sort {
        Sort::Newest => "newest",
        Sort::Oldest => "oldest",
    };
    let qty: u32 = order.items.iter().map(|l| l.qty).sum();
    let skus: Vec<&str> = order.items.iter().map(|l| l.sku.as_str()).collect();
    format!(
        "{} {} {sort} {:?} {:?} | {} {} {qty} {:?} {}",
        search.limit,
        search.offset,
        search.q,
        search.tag,
        order.customer,
        skus.join(","),
        order.note,
        order.express
    )
}

async fn client() -> TestClient {
    TestClient::start(App::new().post("/orders", place))
        .await
        .expect("the app starts")
}

#[tokio::test]
async fn every_bad_query_and_body_field_is_listed_in_one_422_before_any_setup() {
    let _serial = serial().await;
    let client = client().await;
    let response = client
        .post("/orders?limit=ten&offset=-1&sort=random&q=x&tag=a")
        .json(&json!({
            "customer": 42,
            "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": "two"}, {"qty": 3}],
            "note": null,
        }))
        .send()
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(
        body,
        json!({"detail": [
            {"type": "int_parsing", "loc": ["query", "limit"], "msg": INT_PARSING, "input": "ten"},
            {"type": "greater_than_equal", "loc": ["query", "offset"], "msg": "Input should be greater than or equal to 0", "input": "-1", "ctx": {"ge": 0}},
            {"type": "enum", "loc": ["query", "sort"], "msg": "Input should be 'newest' or 'oldest'", "input": "random", "ctx": {"expected": "'newest' or 'oldest'"}},
            {"type": "string_type", "loc": ["body", "customer"], "msg": "Input should be a valid string", "input": 42},
            {"type": "int_parsing", "loc": ["body", "items", 1, "qty"], "msg": INT_PARSING, "input": "two"},
            {"type": "missing", "loc": ["body", "items", 2, "sku"], "msg": "Field required", "input": {"qty": 3}},
            {"type": "missing", "loc": ["body", "express"], "msg": "Field required", "input": {
                "customer": 42,
                "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": "two"}, {"qty": 3}],
                "note": null,
            }},
        ]})
    );
    client.settle().await;
    assert_eq!(
        events(),
        Vec::<String>::new(),
        "no dependency is set up for bad input"
    );

    let response = client.post("/orders").json(&json!({})).send().await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(
        body,
        json!({"detail": [
            {"type": "missing", "loc": ["query", "limit"], "msg": "Field required", "input": null},
            {"type": "missing", "loc": ["query", "offset"], "msg": "Field required", "input": null},
            {"type": "missing", "loc": ["query", "sort"], "msg": "Field required", "input": null},
            {"type": "missing", "loc": ["query", "tag"], "msg": "Field required", "input": null},
            {"type": "missing", "loc": ["body", "customer"], "msg": "Field required", "input": {}},
            {"type": "missing", "loc": ["body", "items"], "msg": "Field required", "input": {}},
            {"type": "missing", "loc": ["body", "express"], "msg": "Field required", "input": {}},
        ]})
    );
    client.settle().await;
    assert_eq!(events(), Vec::<String>::new());

    let response = client
        .post("/orders?limit=10&offset=0&sort=oldest&tag=a&tag=b")
        .json(&json!({
            "customer": "Ann",
            "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}],
            "express": true,
        }))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.expect("text"),
        r#"10 0 oldest None ["a", "b"] | Ann a,b 3 None true"#
    );
    client.settle().await;
    assert_eq!(events(), ["audit:open", "audit:close true"]);
    client.shutdown().await;
}

#[tokio::test]
async fn json_syntax_and_content_type_problems_stay_one_error_for_the_body() {
    let _serial = serial().await;
    let client = client().await;
    let query = "/orders?limit=1&offset=0&sort=newest&tag=a";

    let cases: [(&str, Option<&str>, Value); 5] = [
        (
            "{not json",
            Some("application/json"),
            json!({"type": "json_invalid", "loc": ["body", 1], "msg": "JSON decode error", "input": {}, "ctx": {"error": "Expecting property name enclosed in double quotes"}}),
        ),
        (
            r#"{"customer":"a"} x"#,
            Some("application/json"),
            json!({"type": "json_invalid", "loc": ["body", 17], "msg": "JSON decode error", "input": {}, "ctx": {"error": "Extra data"}}),
        ),
        (
            "",
            Some("application/json"),
            json!({"type": "missing", "loc": ["body"], "msg": "Field required", "input": null}),
        ),
        (
            r#"{"customer":"a"}"#,
            Some("text/plain"),
            json!({"type": "model_attributes_type", "loc": ["body"], "msg": "Input should be a valid dictionary or object to extract fields from", "input": r#"{"customer":"a"}"#}),
        ),
        (
            r#"{"customer":"a"}"#,
            None,
            json!({"type": "model_attributes_type", "loc": ["body"], "msg": "Input should be a valid dictionary or object to extract fields from", "input": r#"{"customer":"a"}"#}),
        ),
    ];
    for (body, content_type, problem) in cases {
        let mut request = client.post(query).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await;
        assert_eq!(response.status(), 422, "{body:?}");
        let detail: Value = response.json().await.expect("a JSON body");
        assert_eq!(detail, json!({"detail": [problem]}), "{body:?}");
    }

    let response = client
        .post(query)
        .header("content-type", "application/vnd.orders+json; charset=utf-8")
        .body(r#"{"customer":"a","items":[],"express":false}"#)
        .send()
        .await;
    assert_eq!(response.status(), 200, "a +json content type is JSON");
    assert_eq!(
        response.text().await.expect("text"),
        r#"1 0 newest None ["a"] | a  0 None false"#
    );
    client.settle().await;
    assert_eq!(events(), ["audit:open", "audit:close true"]);
    client.shutdown().await;
}

#[derive(Deserialize)]
struct Page {
    limit: u32,
}

#[derive(Deserialize)]
struct NewNote {
    title: String,
    body: String,
}

#[depends]
async fn create_note(
    #[dep(audit)] _audit: &u8,
    Path(id): Path<u32>,
    Query(page): Query<Page>,
    Json(note): Json<NewNote>,
) -> String {
    format!("{id} {} {} {}", page.limit, note.title, note.body)
}

#[tokio::test]
async fn path_query_and_body_problems_come_in_parameter_order() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().post("/items/{id}", create_note))
        .await
        .expect("the app starts");
    let response = client
        .post("/items/abc?limit=many")
        .json(&json!({"title": 5}))
        .send()
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("a JSON body");
    let locs: Vec<&Value> = body["detail"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| &e["loc"])
        .collect();
    assert_eq!(
        locs,
        [
            &json!(["path", "id"]),
            &json!(["query", "limit"]),
            &json!(["body", "title"]),
            &json!(["body", "body"]),
        ],
        "{body}"
    );
    client.settle().await;
    assert_eq!(events(), Vec::<String>::new());

    let response = client
        .post("/items/7?limit=3")
        .json(&json!({"title": "t", "body": "b"}))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("text"), "7 3 t b");
    client.shutdown().await;
}

#[derive(Deserialize)]
struct Limit {
    limit: i64,
}

#[depends]
async fn items(Query(page): Query<Limit>) -> String {
    page.limit.to_string()
}

#[tokio::test]
async fn a_422_body_is_byte_for_byte_fastapis() {
    // docs/fastapi.md quotes these bodies; FastAPI (pydantic v2) sends the same bytes for the
    // same requests (tests/fastapi_422.rs compares many more).
    let client = TestClient::start(App::new().get("/items", items))
        .await
        .expect("the app starts");
    let cases = [
        (
            "/items?limit=abc",
            r#"{"detail":[{"type":"int_parsing","loc":["query","limit"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}"#,
        ),
        (
            "/items",
            r#"{"detail":[{"type":"missing","loc":["query","limit"],"msg":"Field required","input":null}]}"#,
        ),
        (
            "/items?limit=9223372036854775808",
            r#"{"detail":[{"type":"less_than_equal","loc":["query","limit"],"msg":"Input should be less than or equal to 9223372036854775807","input":"9223372036854775808","ctx":{"le":9223372036854775807}}]}"#,
        ),
    ];
    for (uri, expected) in cases {
        let response = client.get(uri).send().await;
        assert_eq!(response.status(), 422, "{uri}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.text().await.expect("text"), expected, "{uri}");
    }
    client.shutdown().await;
}

#[depends]
async fn echo_text(Json(text): Json<String>) -> String {
    text
}

#[tokio::test]
async fn a_json_body_needs_a_json_content_type_even_where_its_text_would_do() {
    let client = TestClient::start(App::new().post("/echo", echo_text))
        .await
        .expect("the app starts");
    for content_type in [Some("text/plain"), None] {
        let mut request = client.post("/echo").body("hello");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await;
        assert_eq!(response.status(), 422, "{content_type:?}");
        assert_eq!(
            response.text().await.expect("text"),
            r#"{"detail":[{"type":"content_type","loc":["body"],"msg":"expected a JSON body with `Content-Type: application/json`","input":null}]}"#
        );
    }
    let response = client
        .post("/echo")
        .header("content-type", "application/json")
        .body(r#""hello""#)
        .send()
        .await;
    assert_eq!(response.text().await.expect("text"), "hello");
    client.shutdown().await;
}

// ------------------------------------------------------- what serde and the bytes must not leak

#[derive(Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
enum Shape {
    Circle { r: f64 },
    Square { side: f64 },
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Drawing {
    name: String,
    shape: Shape,
}

#[depends]
async fn draw(Json(_drawing): Json<Drawing>) -> &'static str {
    "ok"
}

#[derive(Deserialize)]
struct Title {
    title: String,
}

#[depends]
async fn titled(Json(note): Json<Title>) -> String {
    note.title
}

/// serde's message for an untagged enum that matches no variant names the Rust type: the
/// client gets the problem at its field, without the name.
#[tokio::test]
async fn an_untagged_enum_that_matches_no_variant_is_reported_without_its_rust_name() {
    let client = TestClient::start(App::new().post("/draw", draw))
        .await
        .expect("the app starts");
    let response = client
        .post("/draw")
        .json(&json!({"name": "x", "shape": {"q": 1}}))
        .send()
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(
        body,
        json!({"detail": [{
            "type": "value_error",
            "loc": ["body", "shape"],
            "msg": "Value error, the input matches none of the accepted shapes",
            "input": {"q": 1},
            "ctx": {"error": {}},
        }]})
    );
}

/// A JSON body that starts with a UTF-8 byte order mark is read as FastAPI reads it (Python
/// decodes the bytes as `utf-8-sig`), whole and with its problems where they are.
#[tokio::test]
async fn a_json_body_after_a_utf8_byte_order_mark_is_read() {
    let client = TestClient::start(App::new().post("/note", titled))
        .await
        .expect("the app starts");
    let send = async |body: &'static [u8]| {
        client
            .post("/note")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
    };
    let response = send(b"\xEF\xBB\xBF{\"title\":\"x\"}").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("a body"), "x");

    let response = send(b"\xEF\xBB\xBF{\"title\":5}").await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "title"]));

    // A body of nothing but the mark is not empty to FastAPI (0.165 answers this 422 byte for
    // byte): Python decodes it to no text, which is no JSON value.
    let response = send(b"\xEF\xBB\xBF").await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(
        body,
        json!({"detail": [{
            "type": "json_invalid",
            "loc": ["body", 0],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": "Expecting value"},
        }]})
    );
    // An empty body is a missing one.
    let response = send(b"").await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["detail"][0]["type"], "missing");
}

/// A body that is not JSON by its content type is validated as the text it is (FastAPI takes
/// its bytes as they came: the mark is no encoding's, it is the text's first character, and
/// its 422 echoes it as `"\ufeff"`), not as the text after a byte order mark: a body of only
/// the mark is a text of one character, not an empty one.
#[tokio::test]
async fn a_text_body_keeps_its_utf8_byte_order_mark_in_the_422() {
    let client = TestClient::start(App::new().post("/note", titled))
        .await
        .expect("the app starts");
    for (sent, text) in [
        (&b"\xEF\xBB\xBF"[..], "\u{feff}"),
        (b"\xEF\xBB\xBFhi", "\u{feff}hi"),
    ] {
        let response = client
            .post("/note")
            .header("content-type", "text/plain")
            .body(sent)
            .send()
            .await;
        assert_eq!(response.status(), 422);
        let body: Value = response.json().await.expect("a JSON body");
        assert_eq!(
            body,
            json!({"detail": [{
                "type": "model_attributes_type",
                "loc": ["body"],
                "msg": "Input should be a valid dictionary or object to extract fields from",
                "input": text,
            }]}),
            "{sent:?}"
        );
    }
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Wide {
    big: u128,
    small: i128,
    name: String,
}

#[depends]
async fn wide(Json(_wide): Json<Wide>) -> &'static str {
    "ok"
}

/// A `u128` or `i128` beyond 64 bits is read exactly, and when another field of the body is
/// bad only that field's problem is listed (serde_json reads such a literal as a float when it
/// looks for every problem: it is not one).
#[tokio::test]
async fn an_integer_beyond_64_bits_is_no_problem_beside_another_fields() {
    let client = TestClient::start(App::new().post("/wide", wide))
        .await
        .expect("the app starts");
    let send = async |body: &'static str| {
        client
            .post("/wide")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
    };
    let good = r#"{"big":1180591620717411303424,"small":-1180591620717411303424,"name":"x"}"#;
    assert_eq!(send(good).await.status(), 200);

    let response =
        send(r#"{"big":1180591620717411303424,"small":-1180591620717411303424,"name":5}"#).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(
        body,
        json!({"detail": [{
            "type": "string_type",
            "loc": ["body", "name"],
            "msg": "Input should be a valid string",
            "input": 5,
        }]})
    );

    // Beyond the type's range it is still a problem, at its field.
    let response = send(r#"{"big":-1180591620717411303424,"small":1,"name":"x"}"#).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "big"]));
    assert_eq!(body["detail"][0]["type"], "greater_than_equal");
}
