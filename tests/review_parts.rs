//! A review of the request inputs around the body and the head (`Multipart`, `BodyStream`,
//! `Lines`, `Header`, `TypedHeader`, `Cookie`, the security inputs, `Form`), read as the
//! maintainers of `multer`, `headers` and Starlette would read them: each input was given what
//! breaks parsers of its kind (boundaries, part headers and their parameters, preambles and
//! epilogues, chunks cut anywhere, repeated and odd headers, cookies, `Authorization` values)
//! and its answer compared with FastAPI 0.165's (Starlette 1.10, python-multipart 0.0.34) or
//! the RFC's. The defects found were all in `Multipart`, where `multer` and the `mime` crate
//! read what python-multipart reads otherwise; each is a test here, shown failing before its
//! fix. The other inputs answered as FastAPI does on what was tried, which `walk_parity.rs`,
//! `inputs_more.rs` and `body_stream.rs` already pin. The tests take turns (`TURNS`): one of
//! them measures the heap.

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
    let _turn = TURNS.lock().await;
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

// ------------- 2. a preamble and a part's headers held whole, up to the body limit

/// The heap is counted (`dhat`, in its testing mode) by the one test that measures it; the
/// tests of this file take turns, so that none allocates beside it.
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

static TURNS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An app whose body limit is raised for uploads (as an app that takes files raises it), with
/// no body deadline to fall meanwhile.
fn upload_app() -> App {
    App::new()
        .post("/names", names)
        .body_limit(256 << 20)
        .body_timeout(std::time::Duration::from_secs(3600))
        .body_min_rate(0, std::time::Duration::ZERO)
}

type Chunks = tokio::sync::mpsc::Sender<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>;

/// A multipart request to `path` whose body is what is sent on the channel returned, in
/// process, through the app's service; its answer's status, `Connection` header and body.
fn streamed_request(
    running: &di_runtime::Running,
    path: &str,
) -> (
    Chunks,
    tokio::task::JoinHandle<(StatusCode, Option<String>, String)>,
) {
    use http_body_util::BodyExt;
    use tower_service::Service;
    let (sender, mut receiver) = tokio::sync::mpsc::channel(1);
    let frames = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    let request = http::Request::post(path)
        .header("content-type", MULTIPART)
        .body(http_body_util::StreamBody::new(frames))
        .expect("a request");
    let mut service = running.service();
    let answer = tokio::spawn(async move {
        let response = service.call(request).await.expect("infallible");
        let status = response.status();
        let connection = response
            .headers()
            .get("connection")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = response.into_body().collect().await.expect("a body");
        let body = String::from_utf8_lossy(&body.to_bytes()).into_owned();
        (status, connection, body)
    });
    (sender, answer)
}

async fn send(chunks: &Chunks, data: impl Into<bytes::Bytes>) {
    chunks
        .send(Ok(hyper::body::Frame::data(data.into())))
        .await
        .expect("the app reads the body");
}

/// A part whose headers never end is refused once they pass 16 KiB, while the client still
/// sends them, where `multer` kept them all in memory, waiting for their end, up to the body
/// limit (256 MiB here): the request was answered only when the body ended or the deadline
/// fell.
#[tokio::test]
async fn a_part_whose_headers_never_end_is_refused_before_the_body_ends() {
    let _turn = TURNS.lock().await;
    let client = TestClient::start(upload_app()).await.expect("starts");
    let (chunks, answer) = streamed_request(client.running(), "/names");
    send(
        &chunks,
        "--B\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Long: ",
    )
    .await;
    let refused = async {
        // 1 MiB of one header's value, or less: once the app has answered it reads no more.
        for _ in 0..64 {
            let more = hyper::body::Frame::data(vec![b'x'; 16 * 1024].into());
            if chunks.send(Ok(more)).await.is_err() {
                break;
            }
        }
        // The body is still open: the answer cannot wait for its end.
        tokio::time::timeout(std::time::Duration::from_secs(10), answer).await
    };
    let (status, connection, body) = refused
        .await
        .expect("answered while the part's headers still came")
        .expect("the request ran");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body,
        r#"{"detail":"Invalid multipart data: a part's headers are longer than 16384 bytes"}"#
    );
    // The rest of the body is not read: an HTTP/1 connection closes after the answer.
    assert_eq!(connection.as_deref(), Some("close"));
    drop(chunks);
}

/// The bytes before the first boundary (a preamble, RFC 2046 5.1.1, or a body that is not
/// multipart at all) are skipped as they come, as python-multipart skips them: `multer` kept
/// them all in memory until the boundary came, up to the body limit, and scanned them again
/// at each chunk.
#[tokio::test]
async fn a_long_preamble_is_skipped_as_it_comes_not_held() {
    let _turn = TURNS.lock().await;
    let client = TestClient::start(upload_app()).await.expect("starts");
    let (chunks, answer) = streamed_request(client.running(), "/names");
    let profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get();
    // 4 MiB of preamble, then a form of one part.
    for _ in 0..128 {
        send(&chunks, vec![b'p'; 32 * 1024]).await;
    }
    send(
        &chunks,
        "\r\n--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--B--\r\n",
    )
    .await;
    drop(chunks);
    let (status, _, body) = answer.await.expect("the request ran");
    let after = dhat::HeapStats::get();
    drop(profiler);
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"[["a",null]]"#));
    let held = after.max_bytes.saturating_sub(before.curr_bytes);
    assert!(
        held < 1 << 20,
        "reading a 4 MiB preamble held up to {held} bytes at once"
    );
}

/// Whatever its chunks, a form is read the same: cut at every offset, and sent a byte at a
/// time, a body with a preamble, data that begins like a boundary (`\r\n--B` of the
/// boundary `Bq`, `--B` not after a line end), transport padding after a boundary, an empty
/// part and an epilogue gives the same fields (the boundaries are now found as the bytes pass,
/// test 2).
#[tokio::test]
async fn a_form_cut_into_chunks_anywhere_is_read_the_same() {
    let _turn = TURNS.lock().await;
    let client = TestClient::start(App::new().post("/fields", fields))
        .await
        .expect("starts");
    let content_type = "multipart/form-data; boundary=Bq";
    let body: &[u8] = b"preamble --B -\r\n\
        --Bq\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\none\r\n--B\r\n-\r\n\
        --Bq \t\r\nContent-Disposition: form-data; name=\"b\"; filename=\"b.txt\"\r\n\
        Content-Type: text/plain\r\n\r\n\r\n\r\n\
        --Bq\r\nX-A: 1\r\n\r\n\r\n\
        --Bq--\r\nepilogue --Bq\r\n";
    let expected = json!([
        ["a", null, "one\r\n--B\r\n-"],
        ["b", "b.txt", "\r\n"],
        [null, null, ""]
    ]);
    let read = async |chunks: Vec<Vec<u8>>| {
        let response = client
            .post("/fields")
            .header("content-type", content_type)
            .chunked(chunks)
            .send()
            .await;
        let status = response.status();
        let body = response.json::<Value>().await.expect("json");
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    };
    for cut in 0..=body.len() {
        let chunks = vec![body[..cut].to_vec(), body[cut..].to_vec()];
        assert_eq!(read(chunks).await, expected, "cut at {cut}");
    }
    let bytes = body.iter().map(|b| vec![*b]).collect();
    assert_eq!(read(bytes).await, expected, "a byte at a time");
}

/// Each field's name, file name and text.
#[depends]
async fn fields(mut form: Multipart) -> Result<Json<Value>, HttpError> {
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

// ------------- 3. a form read to its closing boundary, its body not to its end

/// A form read to its closing boundary (`next_field` gave `None`) has its body read to its
/// end too, as Starlette reads the whole body before it parses the form: `multer` stops at
/// the boundary, so a body whose end had not come with it (a chunked upload's last chunk in a
/// packet of its own, as a streaming client sends it, or an epilogue) was left unread, and the
/// answer to a whole, valid upload said `Connection: close`, closing the client's HTTP/1
/// connection after each upload.
#[tokio::test(start_paused = true)]
async fn a_form_read_to_its_closing_boundary_reads_its_body_to_its_end() {
    let _turn = TURNS.lock().await;
    let app = App::new()
        .post("/names", names)
        .body_timeout(std::time::Duration::from_secs(3600))
        .body_min_rate(0, std::time::Duration::ZERO)
        .request_timeout(None);
    let client = TestClient::start(app).await.expect("starts");
    let (chunks, mut answer) = streamed_request(client.running(), "/names");
    send(
        &chunks,
        "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--B--",
    )
    .await;
    // The time is paused: the wait ends at once when nothing else can happen.
    let (status, connection, body) =
        match tokio::time::timeout(std::time::Duration::from_secs(60), &mut answer).await {
            Ok(answered) => answered.expect("the request ran"),
            Err(_) => {
                send(&chunks, "\r\nepilogue").await;
                drop(chunks);
                answer.await.expect("the request ran")
            }
        };
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"[["a",null]]"#));
    assert_eq!(connection, None, "a whole upload closed its connection");
}

// ------------- 4. a boundary that is not a MIME token

/// The boundary is the content type's `boundary` parameter as python-multipart reads it: the
/// text after its `=`, unquoted if quoted, the last one if sent twice. `multer` read it with
/// the `mime` crate, which takes only a MIME token unquoted: `boundary===1234===` (the
/// boundary of a Java upload helper copied into many Android apps), `----=_Part_0_1.2` or
/// `a:b` were refused with 400 "Missing boundary in multipart.", where FastAPI reads the form.
#[tokio::test]
async fn a_boundary_with_characters_a_mime_token_cannot_hold_is_read_as_fastapi_reads_it() {
    let _turn = TURNS.lock().await;
    let client = TestClient::start(App::new().post("/names", names))
        .await
        .expect("starts");
    // Each: the content type, the boundary the body is written with (FastAPI reads each).
    let cases = [
        ("multipart/form-data; boundary====1234===", "===1234==="),
        (
            "multipart/form-data; boundary=----=_Part_0_1.2",
            "----=_Part_0_1.2",
        ),
        ("multipart/form-data; boundary=a:b", "a:b"),
        ("multipart/form-data; boundary=a/b?c", "a/b?c"),
        ("multipart/form-data; boundary= B", "B"),
        ("multipart/form-data ; boundary=B", "B"),
        (r#"multipart/form-data; boundary="a\"b""#, "a\"b"),
        ("multipart/form-data; boundary=B; boundary=C", "C"),
        // Read before as now.
        (r#"multipart/form-data; boundary="a;b""#, "a;b"),
        ("multipart/form-data;boundary=B;", "B"),
        ("Multipart/Form-Data; charset=utf-8; BOUNDARY=B", "B"),
    ];
    for (content_type, boundary) in cases {
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\
             x\r\n--{boundary}--\r\n"
        );
        let response = client
            .post("/names")
            .header("content-type", content_type)
            .body(body)
            .send()
            .await;
        let status = response.status();
        let text = response.text().await.expect("a body");
        assert_eq!(
            (status, text.as_str()),
            (StatusCode::OK, r#"[["a",null]]"#),
            "{content_type}"
        );
    }
    // Without a boundary, or with an empty one: 400, as before (FastAPI's words for none; to
    // an empty one it says `Invalid multipart data.`).
    for content_type in [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        r#"multipart/form-data; boundary="""#,
        "multipart/form-data; xboundary=B",
    ] {
        let response = client
            .post("/names")
            .header("content-type", content_type)
            .body("--B--\r\n")
            .send()
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{content_type}");
        assert_eq!(
            response.text().await.expect("a body"),
            r#"{"detail":"Missing boundary in multipart."}"#
        );
    }
}

// ------------- 5. a part's content type, as sent

/// A part's `Content-Type` is given as sent (Starlette's `UploadFile.content_type`), and its
/// `charset` read wherever the header puts it: `multer` gave the header only when the `mime`
/// crate could parse it, so `text/plain ; charset=latin1` (a space before the `;`) or a
/// parameter that is not a MIME token unquoted (`name=a=b`) gave no content type at all, and
/// the text was decoded as UTF-8 instead of the charset it named.
#[tokio::test]
async fn a_parts_content_type_is_given_as_sent_and_its_charset_read_from_it() {
    let _turn = TURNS.lock().await;
    let client = TestClient::start(App::new().post("/types", types))
        .await
        .expect("starts");
    for content_type in [
        "text/plain; charset=latin1",
        "Text/Plain; Charset=ISO-8859-1",
        "text/plain ; charset=latin1",
        "text/plain; name=a=b; charset=\"latin1\"",
    ] {
        let mut body = format!(
            "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\
             Content-Type: {content_type}\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(b"caf\xe9\r\n--B--\r\n");
        let response = client
            .post("/types")
            .header("content-type", MULTIPART)
            .body(body)
            .send()
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{content_type}");
        let fields: Value = response.json().await.expect("json");
        assert_eq!(
            fields,
            json!([[content_type, "caf\u{e9}"]]),
            "{content_type}"
        );
    }
}

/// Each field's content type and text.
#[depends]
async fn types(mut form: Multipart) -> Result<Json<Value>, HttpError> {
    let mut out = Vec::new();
    while let Some(field) = form.next_field().await? {
        let content_type = field.content_type().map(str::to_owned);
        out.push(json!([content_type, field.text().await?]));
    }
    Ok(Json(Value::Array(out)))
}

// ------------------------------------------------ a typed credential header that does not decode

#[depends]
async fn bearer_only(
    di_runtime::TypedHeader(auth): di_runtime::TypedHeader<
        headers::Authorization<headers::authorization::Bearer>,
    >,
) -> String {
    auth.token().len().to_string()
}

/// `TypedHeader<Authorization<Bearer>>` given another scheme answered a 422 whose `input` was
/// the whole header: `Basic dXNlcjpzM2NyZXQ=`, a user's password in base64, written back into
/// a body that clients, proxies and error trackers log. `HttpBearer` never repeats
/// credentials, nor does axum's `TypedHeader`. The 422 still names the header; the value of
/// one that carries credentials (`Authorization`, `Proxy-Authorization`, `Cookie`) is left
/// out.
#[tokio::test]
async fn a_credential_header_that_does_not_decode_is_not_repeated_in_the_422() {
    let client = TestClient::start(App::new().get("/", bearer_only))
        .await
        .unwrap();
    let response = client
        .get("/")
        .header("authorization", "Basic dXNlcjpzM2NyZXQ=")
        .send()
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = response.text().await.unwrap();
    assert!(!body.contains("dXNlcjpzM2NyZXQ"), "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["detail"][0]["loc"], json!(["header", "authorization"]));
    assert_eq!(body["detail"][0]["input"], Value::Null);
    client.shutdown().await;
}
