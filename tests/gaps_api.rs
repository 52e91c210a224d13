//! API gaps a newcomer walk left open.
//!
//! `BodyError` and `MultipartError` are `std::error::Error + Send + Sync + 'static`, so `?`
//! takes them into `Box<dyn Error + Send + Sync>` (and `anyhow::Error`), and they keep their
//! own status (413, 408, 400) both through `?` into `HttpError` and when a handler returns
//! them boxed.

use std::error::Error;

use di_runtime::prelude::*;
use di_runtime::{BodyError, BodyStream, Multipart, MultipartError};
use futures_util::StreamExt;
use serde_json::{Value, json};

fn assert_error<E: Error + Send + Sync + 'static>() {}

#[test]
fn body_error_is_a_send_sync_static_std_error() {
    assert_error::<BodyError>();
    let boxed: Box<dyn Error + Send + Sync> = BodyError::TooLarge.into();
    assert_eq!(boxed.to_string(), "Request body too large");
    assert!(boxed.downcast_ref::<BodyError>().is_some());
}

/// `?` from a `BodyError` into a boxed error, as an `anyhow`/`Box<dyn Error>` chain does.
fn first_chunk_len(
    chunk: Option<Result<Bytes, BodyError>>,
) -> Result<usize, Box<dyn Error + Send + Sync>> {
    Ok(chunk.transpose()?.map_or(0, |bytes| bytes.len()))
}

#[test]
fn question_mark_takes_a_body_error_into_a_boxed_error() {
    assert_eq!(
        first_chunk_len(Some(Ok(Bytes::from_static(b"abc")))).ok(),
        Some(3)
    );
    let error = first_chunk_len(Some(Err(BodyError::Incomplete))).expect_err("fails");
    assert_eq!(
        error.downcast_ref::<BodyError>(),
        Some(&BodyError::Incomplete)
    );
}

#[test]
fn body_errors_still_convert_to_their_status() {
    for (error, status) in [
        (BodyError::TooLarge, 413),
        (BodyError::TimedOut, 408),
        (BodyError::Incomplete, 400),
    ] {
        let http: HttpError = error.clone().into();
        assert_eq!(http.status(), status);
        assert_eq!(http.detail(), &json!(error.to_string()));
    }
}

/// A handler whose error type is the boxed error every `?` converts into.
#[depends]
async fn count_boxed(mut body: BodyStream) -> Result<String, Box<dyn Error + Send + Sync>> {
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        bytes += chunk?.len();
    }
    Ok(bytes.to_string())
}

/// The same handler, its error an `HttpError`.
#[depends]
async fn count_http(mut body: BodyStream) -> Result<String, HttpError> {
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        bytes += chunk?.len();
    }
    Ok(bytes.to_string())
}

#[tokio::test]
async fn a_body_error_keeps_its_status_through_a_boxed_error_and_through_http_error() {
    let app = App::new()
        .post("/boxed", count_boxed)
        .post("/http", count_http)
        .body_limit(100);
    let client = TestClient::start(app).await.expect("starts");
    for path in ["/boxed", "/http"] {
        let ok = client.post(path).body(vec![b'x'; 10]).send().await;
        assert_eq!(ok.status(), 200, "{path}");
        assert_eq!(ok.text().await.expect("text"), "10", "{path}");
        let too_large = client.post(path).body(vec![b'x'; 1000]).send().await;
        assert_eq!(too_large.status(), 413, "{path}");
        assert_eq!(
            too_large.json::<Value>().await.expect("json"),
            json!({"detail": "Request body too large"}),
            "{path}"
        );
    }
    client.shutdown().await;
}

#[test]
fn multipart_error_is_a_send_sync_static_std_error() {
    assert_error::<MultipartError>();
}

/// Reads every part of a multipart body; its errors go into a boxed error with `?`.
#[depends]
async fn upload_boxed(mut form: Multipart) -> Result<String, Box<dyn Error + Send + Sync>> {
    let mut bytes = 0;
    while let Some(field) = form.next_field().await? {
        bytes += field.bytes().await?.len();
    }
    Ok(bytes.to_string())
}

/// The same handler, its error an `HttpError`.
#[depends]
async fn upload_http(mut form: Multipart) -> Result<String, HttpError> {
    let mut bytes = 0;
    while let Some(field) = form.next_field().await? {
        bytes += field.bytes().await?.len();
    }
    Ok(bytes.to_string())
}

#[tokio::test]
async fn a_multipart_error_keeps_its_status_through_a_boxed_error_and_through_http_error() {
    let app = App::new()
        .post("/boxed", upload_boxed)
        .post("/http", upload_http)
        .body_limit(300);
    let client = TestClient::start(app).await.expect("starts");
    let part = |content: &str| {
        format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\n{content}\r\n--XyZ--\r\n"
        )
    };
    let send = |path: &'static str, body: String| {
        client
            .post(path)
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(body)
            .send()
    };
    for path in ["/boxed", "/http"] {
        let ok = send(path, part("hello")).await;
        assert_eq!(ok.status(), 200, "{path}");
        assert_eq!(ok.text().await.expect("text"), "5", "{path}");
        // A part that never ends: a malformed body, the client's mistake (400, not a 500).
        let malformed = send(
            path,
            "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nno end".to_owned(),
        )
        .await;
        assert_eq!(malformed.status(), 400, "{path}");
        let too_large = send(path, part(&"x".repeat(1000))).await;
        assert_eq!(too_large.status(), 413, "{path}");
        assert_eq!(
            too_large.json::<Value>().await.expect("json"),
            json!({"detail": "Request body too large"}),
            "{path}"
        );
    }
    client.shutdown().await;
}
