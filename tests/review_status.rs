//! `#[depends(status = N)]` on a handler is the status of its success, as FastAPI's
//! `status_code=`: an answer the handler gives with `200` is sent with `N`, the teardowns see
//! `N`, and the document says `N`; an answer that sets another status is sent as it is.
//!
//! Before, `status` only documented: a FastAPI user's `#[depends(status = 201)]` on a handler
//! returning `Json<Note>` sent `200` while its document promised `201`.

mod common;

use std::sync::Mutex;

use di_runtime::Redirect;
use di_runtime::prelude::*;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The status of each outcome the `tx` teardowns saw, in order (tests that reach `tx` take
/// `common::serial`).
static SEEN: Mutex<Vec<Option<u16>>> = Mutex::new(Vec::new());

/// Records the status of the outcome its teardown sees.
#[depends(scope = "handler")]
async fn tx(y: Yield<u32>) {
    let (_, outcome) = y.provide(7).await;
    SEEN.lock()
        .unwrap()
        .push(outcome.status().map(|s| s.as_u16()));
}

#[depends(status = 201)]
async fn create(#[dep(tx)] id: &u32) -> Json<u32> {
    Json(*id)
}

#[derive(serde::Deserialize)]
struct Fail {
    fail: bool,
}

#[depends(status = 201)]
async fn create_fallible(Query(Fail { fail }): Query<Fail>) -> Result<Json<u32>, HttpError> {
    if fail {
        return Err(HttpError::new(StatusCode::CONFLICT, "taken"));
    }
    Ok(Json(1))
}

#[depends(status = 201)]
async fn accepted_instead() -> (StatusCode, Json<u32>) {
    (StatusCode::ACCEPTED, Json(2))
}

#[depends(status = 201)]
async fn redirect_instead() -> Redirect {
    Redirect::to("/elsewhere")
}

#[depends(status = 204)]
async fn delete(#[dep(tx)] _id: &u32) -> &'static str {
    "never sent"
}

#[depends(status = 202)]
async fn queue() {}

#[derive(serde::Deserialize)]
struct Upsert {
    created: bool,
}

/// An upsert: `201` when it made the row, `200` when it replaced one, each chosen by the
/// handler.
#[depends(status = 201)]
async fn upsert(Query(Upsert { created }): Query<Upsert>) -> (StatusCode, Json<u32>) {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(5))
}

#[depends(status = 201)]
async fn upsert_fallible(
    Query(Upsert { created }): Query<Upsert>,
) -> Result<(StatusCode, Json<u32>), HttpError> {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(5)))
}

#[depends(status = 204)]
async fn bare_ok() -> StatusCode {
    StatusCode::OK
}

#[depends(status = 201)]
async fn whole_response() -> Response {
    "as built".into_response()
}

#[depends]
async fn plain() -> Json<u32> {
    Json(3)
}

fn app() -> App {
    App::new()
        .post("/create", create)
        .post("/fallible", create_fallible)
        .post("/accepted", accepted_instead)
        .get("/redirect", redirect_instead)
        .delete("/delete", delete)
        .post("/queue", queue)
        .get("/plain", plain)
        .put("/upsert", upsert)
        .put("/upsert-fallible", upsert_fallible)
        .get("/bare-ok", bare_ok)
        .get("/whole", whole_response)
}

/// A `200` answer is sent with the declared status, in process and over TCP; the teardown sees
/// it; the document lists it.
#[tokio::test]
async fn a_declared_status_is_sent_for_a_200_answer() {
    let _serial = common::serial().await;
    let client = TestClient::start(app()).await.expect("starts");
    let answer = client.post("/create").send().await;
    assert_eq!(answer.status(), 201);
    assert_eq!(answer.text().await.unwrap(), "7");
    client.settle().await;

    let answer = client.post("/queue").send().await;
    assert_eq!(answer.status(), 202);
    assert_eq!(answer.text().await.unwrap(), "");

    // Without `status`, a 200 stays a 200.
    let answer = client.get("/plain").send().await;
    assert_eq!(answer.status(), 200);
    client.shutdown().await;

    let doc = app().openapi().expect("the app is valid").to_json();
    let doc: Value = serde_json::from_str(&doc).expect("JSON");
    let responses = &doc["paths"]["/create"]["post"]["responses"];
    assert!(responses["201"].is_object(), "{responses}");
    assert!(responses["200"].is_null(), "{responses}");

    // Over a socket, as a client sees it.
    let server = app().bind("127.0.0.1:0").await.expect("binds");
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(
            b"POST /create HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let raw = common::read_to_close(&mut stream).await;
    assert!(raw.starts_with("HTTP/1.1 201 Created\r\n"), "{raw}");
    assert!(raw.ends_with("\r\n\r\n7"), "{raw}");
    server.shutdown().await;
}

/// The teardown sees the status sent, not the `200` the handler's value had.
#[tokio::test]
async fn the_teardown_sees_the_declared_status() {
    let _serial = common::serial().await;
    SEEN.lock().unwrap().clear();
    let client = TestClient::start(app()).await.expect("starts");
    assert_eq!(client.post("/create").send().await.status(), 201);
    assert_eq!(client.delete("/delete").send().await.status(), 204);
    client.settle().await;
    client.shutdown().await;
    let statuses = SEEN.lock().unwrap().clone();
    assert_eq!(statuses, [Some(201), Some(204)]);
}

/// An answer that sets its own status is sent with it: an error, a `(StatusCode, T)`, a
/// redirect.
#[tokio::test]
async fn an_answer_with_its_own_status_is_sent_as_it_is() {
    let client = TestClient::start(app()).await.expect("starts");
    let answer = client
        .post("/fallible")
        .query([("fail", "true")])
        .send()
        .await;
    assert_eq!(answer.status(), 409);
    assert_eq!(answer.text().await.unwrap(), r#"{"detail":"taken"}"#);
    let answer = client
        .post("/fallible")
        .query([("fail", "false")])
        .send()
        .await;
    assert_eq!(answer.status(), 201);
    let answer = client.post("/accepted").send().await;
    assert_eq!(answer.status(), 202);
    let answer = client.get("/redirect").send().await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/elsewhere");
    client.shutdown().await;
}

/// `status = 204` on a handler whose value has a body: sent as a 204, without the body.
#[tokio::test]
async fn a_declared_bodiless_status_sends_no_body() {
    let _serial = common::serial().await;
    let server = app().bind("127.0.0.1:0").await.expect("binds");
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(b"DELETE /delete HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let raw = common::read_to_close(&mut stream).await;
    assert!(raw.starts_with("HTTP/1.1 204 No Content\r\n"), "{raw}");
    assert!(raw.ends_with("\r\n\r\n"), "{raw}");
    assert!(!raw.contains("never sent"), "{raw}");
    let lower = raw.to_ascii_lowercase();
    assert!(!lower.contains("content-length"), "{raw}");
    assert!(!lower.contains("transfer-encoding"), "{raw}");
    server.shutdown().await;
}

/// A `200` the handler chose (a `(StatusCode, T)`, a bare `StatusCode`, a `Response` it built)
/// is sent as it is: an upsert that replaced a row answers `200`, one that made it `201`.
/// `status` sent every `200` as the declared status, the chosen ones too.
#[tokio::test]
async fn a_200_the_handler_chose_is_sent_as_it_is() {
    let client = TestClient::start(app()).await.expect("starts");
    for path in ["/upsert", "/upsert-fallible"] {
        let made = client.put(path).query([("created", "true")]).send().await;
        assert_eq!(made.status(), 201, "{path}");
        let replaced = client.put(path).query([("created", "false")]).send().await;
        assert_eq!(replaced.status(), 200, "{path}");
    }
    assert_eq!(client.get("/bare-ok").send().await.status(), 200);
    let whole = client.get("/whole").send().await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.text().await.unwrap(), "as built");
    client.shutdown().await;
}
