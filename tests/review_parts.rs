//! A review of the request inputs around the body and the head (`Multipart`, `BodyStream`,
//! `Lines`, `Header`, `TypedHeader`, `Cookie`, the security inputs, `Form`), read as the
//! maintainers of `multer`, `headers` and Starlette would read them: each input was given what
//! breaks parsers of its kind (multipart boundaries, part headers and their parameters, preambles,
//! repeated and odd headers, cookies, `Authorization` values) and its answer compared with what
//! FastAPI 0.165 (Starlette 1.10, python-multipart 0.0.34) or the RFC make of it. Each defect
//! found is a test here, shown failing before its fix.

use di_runtime::Multipart;
use di_runtime::prelude::*;
use serde_json::{Value, json};

/// A multipart content type with boundary `B`.
const MULTIPART: &str = "multipart/form-data; boundary=B";

/// One part with the `Content-Disposition` parameters `params` (raw bytes) and the value `x`,
/// as a whole form.
fn one_part(params: &[u8]) -> Vec<u8> {
    let mut body = b"--B\r\nContent-Disposition: form-data; ".to_vec();
    body.extend_from_slice(params);
    body.extend_from_slice(b"\r\n\r\nx\r\n--B--\r\n");
    body
}

/// Each field's name and file name, in order.
#[depends]
async fn names(mut form: Multipart) -> Result<Json<Value>, HttpError> {
    let mut out = Vec::new();
    while let Some(field) = form.next_field().await? {
        out.push(json!([field.name(), field.file_name()]));
    }
    Ok(Json(Value::Array(out)))
}

// ------------- 1. a part's name and file name, found by searching the header for `name`

/// A part's `name` and `filename` are parameters of its `Content-Disposition`: split at the
/// `;` outside quoted strings, their names in any case (RFC 7578 4.2, RFC 2045 5.1), quoted
/// strings unescaped, a value that is not UTF-8 read as Latin-1, as Starlette reads them.
/// `multer` searched the header text for `name` and `filename` instead: a file named
/// `my name=x.txt` renamed its field `x.txt"`, a text field named `a; filename=b` became a
/// file part named `b"`, `Name="a"` and a Latin-1 name gave no name at all (`into_form`
/// answered 400 "name must be provided").
#[tokio::test]
async fn a_parts_name_and_file_name_are_its_content_disposition_parameters_as_starlette_reads_them()
{
    let client = TestClient::start(App::new().post("/names", names))
        .await
        .expect("starts");
    // Each: the parameters sent, then FastAPI's field name and file name (recorded with
    // Starlette 1.10's `request.form()`).
    let cases: &[(&[u8], Value)] = &[
        (br#"name="f"; filename="a.txt""#, json!(["f", "a.txt"])),
        (
            br#"filename="my name=x.txt"; name="f""#,
            json!(["f", "my name=x.txt"]),
        ),
        (br#"name="a; filename=b""#, json!(["a; filename=b", null])),
        (br#"Name="a"; FILENAME="x.txt""#, json!(["a", "x.txt"])),
        (b"name=\"caf\xe9\"", json!(["caf\u{e9}", null])),
        (
            "name=\"café\"; filename=\"naïve.txt\"".as_bytes(),
            json!(["café", "naïve.txt"]),
        ),
        (br#"name = "a" ; filename = "b.txt""#, json!(["a", "b.txt"])),
        (br#"name=a; filename=b.txt"#, json!(["a", "b.txt"])),
        (
            br#"name="f"; filename="a\"b.txt""#,
            json!(["f", "a\"b.txt"]),
        ),
        (
            br#"name="f"; filename="C:\\dir\\a.txt""#,
            json!(["f", "a.txt"]),
        ),
        (
            br#"name="f"; filename="../../etc/passwd""#,
            json!(["f", "../../etc/passwd"]),
        ),
        (br#"name="f"; filename="""#, json!(["f", ""])),
        (br#"name="a%22b""#, json!(["a%22b", null])),
        // RFC 7578 4.2 forbids RFC 5987's `filename*`: ignored, as python-multipart does.
        (
            b"name=\"f\"; filename*=UTF-8''na%C3%AFve.txt",
            json!(["f", null]),
        ),
        (
            b"name=\"f\"; filename=\"plain.txt\"; filename*=UTF-8''na%C3%AFve.txt",
            json!(["f", "plain.txt"]),
        ),
    ];
    for (params, expected) in cases {
        let response = client
            .post("/names")
            .header("content-type", MULTIPART)
            .body(one_part(params))
            .send()
            .await;
        let sent = String::from_utf8_lossy(params);
        assert_eq!(response.status(), StatusCode::OK, "{sent}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body, json!([expected]), "{sent}");
    }
}
