//! A hostile evaluator's probes of the request inputs other than JSON (`Form`, `Multipart`,
//! `BodyStream`, headers, cookies, path and query) and of the OpenAPI document: each test is
//! the regression test of a bug found that way, failing before its fix.

mod common;

use di_runtime::Multipart;
use di_runtime::prelude::*;
use serde_json::{Value, json};

const BOUNDARY: &str = "probe-boundary";

fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A multipart body of text fields, by hand.
fn text_parts(fields: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{BOUNDARY}--\r\n"));
    body
}

// ------------------------------------------------- a multipart field read to its end, kept

/// Reads every field chunk by chunk, keeping each field (read to its end) in scope while it
/// asks for the next one, as `Multipart`'s documentation allows.
#[depends]
async fn keeps_read_fields(mut form: Multipart) -> Result<Json<Value>, HttpError> {
    let mut out = Vec::new();
    let mut previous = None;
    while let Some(mut field) = form.next_field().await? {
        let mut size = 0;
        while let Some(chunk) = field.chunk().await? {
            size += chunk.len();
        }
        out.push(json!([field.name(), size]));
        // Still alive (read to its end) when the next field is asked for.
        previous = Some(field);
    }
    drop(previous);
    Ok(Json(Value::Array(out)))
}

#[tokio::test]
async fn a_multipart_field_read_to_its_end_need_not_be_dropped_before_the_next() {
    let client = TestClient::start(App::new().post("/keep", keeps_read_fields))
        .await
        .expect("starts");
    let response = client
        .post("/keep")
        .header("content-type", multipart_type())
        .body(text_parts(&[("a", "one"), ("b", "three")]))
        .send()
        .await;
    let status = response.status();
    let body = response.text().await.expect("body");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, r#"[["a",3],["b",5]]"#);
    client.shutdown().await;
}

/// Asks for the next field while it still holds one it has not read: a bug of the handler.
#[depends]
async fn holds_an_unread_field(mut form: Multipart) -> Result<&'static str, HttpError> {
    let _first = form.next_field().await?;
    let _second = form.next_field().await?;
    Ok("read")
}

#[tokio::test]
async fn asking_for_the_next_field_while_holding_an_unread_one_is_500_not_the_clients_400() {
    let client = TestClient::start(App::new().post("/held", holds_an_unread_field))
        .await
        .expect("starts");
    let response = client
        .post("/held")
        .header("content-type", multipart_type())
        .body(text_parts(&[("a", "one"), ("b", "two")]))
        .send()
        .await;
    let status = response.status();
    let body = response.text().await.expect("body");
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (500, r#"{"detail":"Internal Server Error"}"#)
    );
    client.shutdown().await;
}

// ------------------------------------------------- an empty multipart body

#[derive(serde::Deserialize)]
struct Optional {
    note: Option<String>,
}

/// Every field's name, then what `into_form` reads of an all-optional form.
#[depends]
async fn names(mut form: Multipart) -> Result<Json<Value>, HttpError> {
    let mut out = Vec::new();
    while let Some(field) = form.next_field().await? {
        out.push(json!(field.name()));
    }
    Ok(Json(Value::Array(out)))
}

#[depends]
async fn optional_form(form: Multipart) -> Result<Json<Value>, HttpError> {
    let (form, files) = form.into_form::<Optional>().await?;
    Ok(Json(json!({"note": form.note, "files": files.len()})))
}

/// FastAPI (0.165) reads an empty `multipart/form-data` body (with its boundary) as a form
/// with no fields: `await request.form()` is empty, `Form()` fields are `missing` (or their
/// default), where `di` answered 400 "Invalid multipart data: incomplete multipart stream".
#[tokio::test]
async fn an_empty_multipart_body_is_a_form_with_no_fields_as_in_fastapi() {
    let app = App::new()
        .post("/names", names)
        .post("/optional", optional_form);
    let client = TestClient::start(app).await.expect("starts");
    for (path, answer) in [
        ("/names", "[]"),
        ("/optional", r#"{"files":0,"note":null}"#),
    ] {
        let response = client
            .post(path)
            .header("content-type", multipart_type())
            .send()
            .await;
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!((status.as_u16(), body.as_str()), (200, answer), "{path}");
    }
    // A body cut short is still malformed.
    let response = client
        .post("/names")
        .header("content-type", multipart_type())
        .body(format!("--{BOUNDARY}\r\n"))
        .send()
        .await;
    assert_eq!(response.status(), 400);
    client.shutdown().await;
}

// ------------------------------------------------- a multipart form of many empty fields

#[derive(serde::Deserialize)]
struct Many {
    title: Option<String>,
    #[serde(default)]
    k: Vec<String>,
}

#[depends]
async fn many(form: Multipart) -> Result<String, HttpError> {
    let (form, _) = form.into_form::<Many>().await?;
    Ok(format!("{:?} {}", form.title, form.k.len()))
}

/// `into_form` keeps the empty values of a repeated name (list elements) and drops a field
/// sent once empty, as `Form<T>` does. It used to count, for each empty field, how often its
/// name was sent by scanning every field: a form of 30,000 empty fields (1.5 MB, within the
/// default body limit) took 15 s of one worker thread in a debug build (0.25 s now). This
/// test holds the rule on a form of as many fields as `into_form` reads (1000, Starlette's
/// `max_fields`, since tests/review_inputs2.rs), and that a form of 20,000 is refused before
/// it is held; it asserts no time.
#[tokio::test]
async fn a_multipart_form_of_many_empty_fields_keeps_them_by_the_forms_rule() {
    let client = TestClient::start(App::new().post("/many", many))
        .await
        .expect("starts");
    for (n, answer) in [
        (Multipart::MAX_FIELDS - 1, (200, "None 999")),
        (
            20_000,
            (
                400,
                r#"{"detail":"Too many fields. Maximum number of fields is 1000."}"#,
            ),
        ),
    ] {
        let mut fields: Vec<(&str, &str)> = vec![("title", "")];
        fields.extend(std::iter::repeat_n(("k", ""), n));
        let response = client
            .post("/many")
            .header("content-type", multipart_type())
            .body(text_parts(&fields))
            .send()
            .await;
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!((status.as_u16(), body.as_str()), answer);
    }
    client.shutdown().await;
}

// ------------------------------------------------- a typed header in the OpenAPI document

#[depends]
async fn typed(
    di_runtime::TypedHeader(agent): di_runtime::TypedHeader<headers::UserAgent>,
    referer: Option<di_runtime::TypedHeader<headers::Referer>>,
) -> String {
    format!("{} {}", agent.as_str(), referer.is_some())
}

/// A `TypedHeader<H>` is a header the route reads (422 at `["header", name]` when it is
/// missing or invalid): the document lists it, required unless it is an `Option`, and the
/// operation's 422 with it, as FastAPI lists a `Header()` parameter.
#[tokio::test]
async fn a_typed_header_is_a_header_parameter_of_the_document_with_its_422() {
    let app = || App::new().get("/typed", typed);
    // What the route answers without its header.
    let client = TestClient::start(app()).await.expect("starts");
    let response = client.get("/typed").send().await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["detail"][0]["loc"], json!(["header", "user-agent"]));
    client.shutdown().await;

    let doc: Value =
        serde_json::from_str(&app().openapi().expect("valid").to_json()).expect("json");
    let get = &doc["paths"]["/typed"]["get"];
    assert_eq!(
        get["parameters"],
        json!([
            {"name": "user-agent", "in": "header", "required": true, "schema": {"type": "string", "title": "User-Agent"}},
            {"name": "referer", "in": "header", "required": false, "schema": {"type": "string", "title": "Referer"}},
        ]),
        "{get}"
    );
    assert_eq!(
        get["responses"]["422"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/HTTPValidationError"}),
        "{get}"
    );
}

// ------------------------------------------------- a form field whose last value is empty

#[derive(serde::Deserialize)]
struct Counted {
    a: u8,
    b: Option<u8>,
    #[serde(default)]
    t: Vec<String>,
}

#[depends]
async fn counted(Form(form): Form<Counted>) -> Json<Value> {
    Json(json!({"a": form.a, "b": form.b, "t": form.t}))
}

/// FastAPI's answers (0.165, `a: int = Form()`, `b: int | None = Form(None)`,
/// `t: list[str] = Form([])`): a field that is not a list takes the last value of a repeated
/// key, and that value sent empty is absent, as a field sent once empty is. `di` kept every
/// value of a repeated key, so `a=5&a=` was an `int_parsing` problem with input `""` and
/// `b=2&b=` a 422 where FastAPI answers 200 with `b` `None`.
#[tokio::test]
async fn a_repeated_form_field_whose_last_value_is_empty_is_absent_as_in_fastapi() {
    let client = TestClient::start(App::new().post("/f", counted))
        .await
        .expect("starts");
    for (body, status, answer) in [
        (
            "a=5&a=",
            422,
            r#"{"detail":[{"type":"missing","loc":["body","a"],"msg":"Field required","input":null}]}"#,
        ),
        ("a=&a=5", 200, r#"{"a":5,"b":null,"t":[]}"#),
        ("a=1&b=2&b=", 200, r#"{"a":1,"b":null,"t":[]}"#),
        ("a=1&b=&b=2", 200, r#"{"a":1,"b":2,"t":[]}"#),
        ("a=1&t=&t=", 200, r#"{"a":1,"b":null,"t":["",""]}"#),
        ("a=1&t=x&t=", 200, r#"{"a":1,"b":null,"t":["x",""]}"#),
        // A key the struct does not read keeps no effect.
        ("a=1&u=x&u=", 200, r#"{"a":1,"b":null,"t":[]}"#),
    ] {
        let response = client
            .post("/f")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await;
        let got = response.status();
        let text = response.text().await.expect("body");
        assert_eq!((got.as_u16(), text.as_str()), (status, answer), "{body}");
    }
    client.shutdown().await;
}

#[depends]
async fn counted_multipart(form: Multipart) -> Result<Json<Value>, HttpError> {
    let (form, _) = form.into_form::<Counted>().await?;
    Ok(Json(json!({"a": form.a, "b": form.b, "t": form.t})))
}

/// `Multipart::into_form` reads its text fields by the same rule (FastAPI's `Form()` fields of
/// a multipart form are read as those of a URL-encoded one).
#[tokio::test]
async fn into_form_takes_a_repeated_fields_last_empty_value_as_absent_too() {
    let client = TestClient::start(App::new().post("/m", counted_multipart))
        .await
        .expect("starts");
    for (fields, status, answer) in [
        (
            &[("a", "5"), ("a", "")][..],
            422,
            r#"{"detail":[{"type":"missing","loc":["body","a"],"msg":"Field required","input":null}]}"#,
        ),
        (
            &[("a", "1"), ("b", "2"), ("b", "")][..],
            200,
            r#"{"a":1,"b":null,"t":[]}"#,
        ),
        (
            &[("a", "1"), ("t", "x"), ("t", "")][..],
            200,
            r#"{"a":1,"b":null,"t":["x",""]}"#,
        ),
    ] {
        let response = client
            .post("/m")
            .header("content-type", multipart_type())
            .body(text_parts(fields))
            .send()
            .await;
        let got = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(
            (got.as_u16(), text.as_str()),
            (status, answer),
            "{fields:?}"
        );
    }
    client.shutdown().await;
}

// ------------------------------------------------- a part without a name

/// A part whose `Content-Disposition` names no field is refused by `into_form` with FastAPI's
/// 400 and words, where it was read as a field named "" (a file part too). `next_field` still
/// hands such a part over, its `name()` `None`, for a handler that reads parts itself.
#[tokio::test]
async fn into_form_refuses_a_part_without_a_name_as_fastapi_does() {
    let app = App::new()
        .post("/names", names)
        .post("/optional", optional_form);
    let client = TestClient::start(app).await.expect("starts");
    for part in [
        "Content-Disposition: form-data\r\n\r\nv",
        "Content-Disposition: form-data; filename=\"a.txt\"\r\n\r\nv",
    ] {
        let body = format!("--{BOUNDARY}\r\n{part}\r\n--{BOUNDARY}--\r\n");
        let response = client
            .post("/optional")
            .header("content-type", multipart_type())
            .body(body.clone())
            .send()
            .await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(
            (status.as_u16(), text.as_str()),
            (
                400,
                r#"{"detail":"The Content-Disposition header field \"name\" must be provided."}"#
            ),
            "{part:?}"
        );
        let response = client
            .post("/names")
            .header("content-type", multipart_type())
            .body(body)
            .send()
            .await;
        assert_eq!(response.status(), 200, "{part:?}");
        assert_eq!(response.text().await.expect("body"), "[null]", "{part:?}");
    }
    client.shutdown().await;
}
