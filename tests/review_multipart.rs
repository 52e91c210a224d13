//! A review of the request bodies that are forms and uploads (`Multipart`, `Form`), read line
//! by line and sent, byte for byte, the bodies that break parsers of their kind: boundaries
//! cut at every offset and of every length, bodies cut short, preambles, epilogues, transport
//! padding, part headers that never end, thousands of parts, odd `Content-Disposition`
//! parameters, handlers that stop reading half-way; forms with `+`, bad percent-encoding,
//! keys without `=`, repeated and empty keys. Each answer was compared with FastAPI 0.165's
//! (Starlette 1.10, python-multipart 0.0.34) and the RFCs (RFC 7578, RFC 2046 5.1, WHATWG's
//! `application/x-www-form-urlencoded`). Each defect found is a test here, shown failing
//! before its fix.

use di_runtime::Multipart;
use di_runtime::prelude::*;
use serde_json::{Value, json};

/// Each field's name, file name and text.
#[depends]
async fn fields(
    #[dep(session)] _session: &(),
    mut form: Multipart,
) -> Result<Json<Value>, HttpError> {
    let mut out = Vec::new();
    while let Some(field) = form.next_field().await? {
        let (name, file_name) = (
            field.name().map(str::to_owned),
            field.file_name().map(str::to_owned),
        );
        out.push(json!([name, file_name, field.text().await?]));
    }
    Ok(Json(Value::Array(out)))
}

/// Counts its setups, so that a test sees whether anything was set up.
#[depends]
async fn session() {
    SETUPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

static SETUPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The tests that count setups take turns.
static TURNS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A form of one text field `a` = `x`, with the boundary `boundary`.
fn one_field(boundary: &str) -> Vec<u8> {
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--{boundary}--\r\n"
    )
    .into_bytes()
}

/// The status and JSON body of `body` posted to `/fields` with the content type
/// `content_type`.
async fn post(client: &TestClient, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let response = client
        .post("/fields")
        .header("content-type", content_type)
        .body(body)
        .send()
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

// ------------- 1. a boundary of any length

/// A boundary is at most 70 characters (RFC 2046 5.1.1); python-multipart takes up to 256
/// and answers 400 "Invalid multipart data." past that. `di` took any length the head could
/// hold (128 KiB), and the work of finding it grows with its length at every chunk of the body
/// (the last bytes of each chunk, as long as the boundary, are kept and searched again with
/// the next): a 2 MiB body sent a byte per chunk with a boundary of 100 KiB cost some 10^11
/// byte comparisons, a core's minutes for one request. Past 256 bytes it is now a 400 before
/// anything is set up, as in FastAPI.
#[tokio::test]
async fn a_boundary_longer_than_256_bytes_is_400_before_anything_is_set_up() {
    let _turn = TURNS.lock().await;
    let client = TestClient::start(App::new().post("/fields", fields))
        .await
        .expect("starts");
    for length in [1, 70, 71, 256] {
        let boundary = "b".repeat(length);
        let answer = post(
            &client,
            &format!("multipart/form-data; boundary={boundary}"),
            one_field(&boundary),
        )
        .await;
        assert_eq!(answer, (200, json!([["a", null, "x"]])), "{length}");
    }
    let refused = (
        400,
        json!({"detail": "Invalid multipart data: the boundary is longer than 256 bytes"}),
    );
    SETUPS.store(0, std::sync::atomic::Ordering::SeqCst);
    for length in [257, 100 * 1024] {
        let boundary = "b".repeat(length);
        for content_type in [
            format!("multipart/form-data; boundary={boundary}"),
            format!("multipart/form-data; boundary=\"{boundary}\""),
        ] {
            assert_eq!(
                post(&client, &content_type, one_field(&boundary)).await,
                refused,
                "{length}"
            );
            // Refused before the body is read: an empty one too, as in FastAPI.
            assert_eq!(post(&client, &content_type, Vec::new()).await, refused);
        }
    }
    assert_eq!(SETUPS.load(std::sync::atomic::Ordering::SeqCst), 0);
    client.shutdown().await;
}

// ------------- 2. a list field of a form sent once, empty

#[derive(serde::Deserialize, serde::Serialize)]
struct Tags {
    tags: Vec<String>,
    name: Option<String>,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Numbers {
    #[serde(default)]
    tags: Vec<i64>,
}

#[depends]
async fn form_tags(Form(form): Form<Tags>) -> Json<Tags> {
    Json(form)
}

#[depends]
async fn form_numbers(Form(form): Form<Numbers>) -> Json<Numbers> {
    Json(form)
}

#[depends]
async fn form_any(Form(form): Form<std::collections::HashMap<String, Vec<String>>>) -> Json<Value> {
    Json(json!(form))
}

#[depends]
async fn multipart_tags(form: Multipart) -> Result<Json<Tags>, HttpError> {
    Ok(Json(form.into_form::<Tags>().await?.0))
}

/// A list field sent once, empty (`tags=`), is `[""]`, as FastAPI reads it (`getlist` gives
/// `[""]`, which is not empty) and as `Query` already read it (`walk_parity` row
/// `q_list_str_once_empty`); a list of numbers is then a 422 at `["body", "tags", 0]`.
/// `Form` and `Multipart::into_form` dropped the empty value of a key sent once before
/// looking whether the field is a list, so the field was `missing` (docs/fastapi.md said
/// `[]`). A field of one value sent empty is still absent, as in FastAPI. Each answer below
/// is FastAPI 0.165's to the same body.
#[tokio::test]
async fn a_list_field_sent_once_empty_is_a_list_of_one_empty_value_as_in_fastapi() {
    let client = TestClient::start(
        App::new()
            .post("/tags", form_tags)
            .post("/numbers", form_numbers)
            .post("/any", form_any)
            .post("/multipart", multipart_tags),
    )
    .await
    .expect("starts");
    let form = async |path: &str, body: &str| {
        let response = client
            .post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await;
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.expect("json"))
    };
    assert_eq!(
        form("/tags", "tags=").await,
        (200, json!({"tags": [""], "name": null}))
    );
    assert_eq!(
        form("/tags", "tags=&name=").await,
        (200, json!({"tags": [""], "name": null}))
    );
    assert_eq!(
        form("/tags", "tags").await,
        (200, json!({"tags": [""], "name": null}))
    );
    assert_eq!(
        form("/tags", "tags=a&tags=").await,
        (200, json!({"tags": ["a", ""], "name": null}))
    );
    assert_eq!(
        form("/tags", "name=x").await.1["detail"][0]["type"],
        "missing"
    );
    assert_eq!(
        form("/numbers", "tags=").await,
        (
            422,
            json!({"detail": [{
                "type": "int_parsing",
                "loc": ["body", "tags", 0],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "input": ""
            }]})
        )
    );
    assert_eq!(form("/numbers", "").await, (200, json!({"tags": []})));
    assert_eq!(form("/any", "a=").await, (200, json!({"a": [""]})));
    let response = client
        .post("/multipart")
        .header("content-type", "multipart/form-data; boundary=B")
        .body(
            "--B\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\n\r\n\
             --B\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n\r\n--B--\r\n",
        )
        .send()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"tags": [""], "name": null})
    );
    client.shutdown().await;
}

// ------------- 3. the first boundary, not at the start of a line

/// The first boundary of a form is `--` and the boundary at the body's start or at the start
/// of a line (RFC 2046 5.1.1: "The boundary delimiter MUST occur at the beginning of a line";
/// what comes before it is a preamble). `di` took `--B` anywhere in the preamble: a body whose
/// first line was `x--B` was read as a form of the parts after it, where python-multipart
/// (FastAPI) refuses it and a reader that keeps to the RFC (a proxy, a firewall that scans
/// uploads) sees a preamble and no part: each reader saw other fields. A preamble that holds
/// `--B` in its text (`see --B below`) was refused, where the RFC reads the form after it.
/// Each body is also sent a byte at a time.
#[tokio::test]
async fn the_first_boundary_is_found_only_at_the_start_of_a_line() {
    let _turn = TURNS.lock().await;
    let client = TestClient::start(App::new().post("/fields", fields))
        .await
        .expect("starts");
    let part = "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--B--\r\n";
    let cases = [
        // The boundary at the body's start, after a line end, after a preamble.
        (part.to_owned(), json!([["a", null, "x"]])),
        (format!("\r\n{part}"), json!([["a", null, "x"]])),
        (format!("preamble\r\n{part}"), json!([["a", null, "x"]])),
        (
            format!("see --B below\r\n{part}"),
            json!([["a", null, "x"]]),
        ),
        (
            format!("-\r\n--\r\n-B\r\n--\r\n{part}"),
            json!([["a", null, "x"]]),
        ),
        // Not at the start of a line: a preamble up to the closing boundary.
        (format!("x{part}"), json!([])),
        (format!("preamble {part}"), json!([])),
    ];
    for (body, expected) in cases {
        assert_fields(&client, &body, (200, expected)).await;
    }
    client.shutdown().await;
}

// ------------- 4. a part's head that ends otherwise than with a blank CRLF line

/// A part's head ends at its first blank line, written `CRLF CRLF` (RFC 2046 5.1.1, RFC 5322
/// 2.2). `multer` cut the head at the first `CRLF CRLF` it found, read its headers with
/// `httparse`, which also ends them at a bare `LF`, and dropped what lay between: a head that
/// ended with `\r\n\n` or `\n\n` took in the next part's boundary and head, so that its field
/// was given the next part's data and the next part was never seen (`a` = `file`, the file
/// `x.txt` gone); a part with no header at all (`--B\r\n\r\n`) did the same. FastAPI refuses
/// each body with a 400, and a reader that keeps to the RFC sees other fields than `di` saw,
/// which is how a firewall that scans uploads is walked past. Each is now a 400 (RFC 7578 4.2:
/// every part has a `Content-Disposition`), also when sent a byte at a time.
#[tokio::test]
async fn a_part_head_that_ends_with_a_bare_line_feed_or_holds_no_header_is_400() {
    let _turn = TURNS.lock().await;
    let client = TestClient::start(App::new().post("/fields", fields))
        .await
        .expect("starts");
    let next = "\r\n--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\n\r\nfile\r\n--B--\r\n";
    let bare_line_feed =
        "Invalid multipart data: a line of a part's headers ends with a bare LF, not CRLF";
    let no_header = "Invalid multipart data: a part has no headers";
    let cases = [
        ("--B\r\n\r\nhello", no_header),
        ("--B \t\r\n\r\nhello", no_header),
        (
            "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\nhello",
            bare_line_feed,
        ),
        (
            "--B\r\nContent-Disposition: form-data; name=\"a\"\n\nhello",
            bare_line_feed,
        ),
        (
            "--B\r\nContent-Disposition: form-data; name=\"a\"\r\nX: 1\n\nhello",
            bare_line_feed,
        ),
        (
            "--B\r\nContent-Disposition: form-d\nta; name=\"a\"\r\n\r\nhello",
            bare_line_feed,
        ),
    ];
    for (first, detail) in cases {
        let body = format!("{first}{next}");
        assert_fields(&client, &body, (400, json!({ "detail": detail }))).await;
    }
    // A head of CRLF lines is read as before, transport padding and an empty part included.
    let body =
        format!("--B \t\r\nContent-Disposition: form-data; name=\"a\"\r\nX-A: 1\r\n\r\n{next}");
    let answer = client
        .post("/fields")
        .header("content-type", "multipart/form-data; boundary=B")
        .body(body)
        .send()
        .await;
    assert_eq!(
        answer.json::<Value>().await.expect("json"),
        json!([["a", null, ""], ["f", "x.txt", "file"]])
    );
    client.shutdown().await;
}

// ------------- 5. text after a boundary

/// A boundary is followed by `--` (the form's end) or by a line end, with transport padding
/// (spaces and tabs) before it (RFC 2046 5.1.1). Text there (`--Bxyz`, a boundary the client
/// did not declare whose start is the declared one, or `--B-x`) was answered `Invalid
/// multipart data: incomplete multipart stream`, or, where a header line followed, `a part
/// has no headers`, neither of which says what is wrong; it is now said, whole or a byte at a
/// time.
#[tokio::test]
async fn text_after_a_boundary_is_400_saying_so() {
    let _turn = TURNS.lock().await;
    let client = TestClient::start(App::new().post("/fields", fields))
        .await
        .expect("starts");
    let detail = json!({"detail": "Invalid multipart data: a boundary is followed by other than a line end"});
    let part = "Content-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--B--\r\n";
    for body in [
        format!("--Bxyz\r\n{part}"),
        format!("--B \tx\r\n{part}"),
        "--B\rContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--B--\r\n".to_owned(),
        format!("--B-x\r\n{part}"),
        format!("--B\r\n{part}").replace("--B--", "--Bxyz\r\n--B--"),
    ] {
        assert_fields(&client, &body, (400, detail.clone())).await;
    }
    client.shutdown().await;
}

/// Posts `body` to `/fields` as a form of boundary `B`, whole and then a byte per chunk, and
/// checks that each gets `expected`: the status and the JSON body.
async fn assert_fields(client: &TestClient, body: &str, expected: (u16, Value)) {
    for bytewise in [false, true] {
        let request = client
            .post("/fields")
            .header("content-type", "multipart/form-data; boundary=B");
        let request = if bytewise {
            request.chunked(body.bytes().map(|b| vec![b]).collect::<Vec<_>>())
        } else {
            request.body(body.to_owned())
        };
        let answer = request.send().await;
        let status = answer.status().as_u16();
        let how = if bytewise { ", a byte at a time" } else { "" };
        assert_eq!(
            (status, answer.json::<Value>().await.expect("json")),
            expected,
            "{body:?}{how}"
        );
    }
}
