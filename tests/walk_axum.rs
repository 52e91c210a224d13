//! An axum user builds a service with `di`, following docs/axum.md literally: what broke on
//! the way, each test failing before the fix named in CHANGELOG.md.

mod common;

use std::fmt;

use common::{events, log, serial};
use di_runtime::prelude::*;
use serde_json::{Value, json};

fn short(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::HandlerError { status, .. } => format!("handler-error {}", status.as_u16()),
        Outcome::SetupFailed { .. } => "setup-failed".into(),
        other => format!("other {other}"),
    }
}

// ------------------------------------- an axum app's error enum, with axum's `IntoResponse`

/// The error type an axum app already has (a `thiserror` enum, written out here): a
/// `std::error::Error` whose axum `IntoResponse` impl says how the client is answered.
#[derive(Debug)]
enum AxumApiError {
    NotFound(u32),
    Locked,
}

impl fmt::Display for AxumApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(id) => write!(f, "order {id} not found"),
            Self::Locked => f.write_str("locked"),
        }
    }
}

impl std::error::Error for AxumApiError {}

impl axum::response::IntoResponse for AxumApiError {
    fn into_response(self) -> axum::response::Response {
        let status = match self {
            Self::NotFound(_) => axum::http::StatusCode::NOT_FOUND,
            Self::Locked => axum::http::StatusCode::LOCKED,
        };
        (status, axum::Json(json!({ "error": self.to_string() }))).into_response()
    }
}

#[depends(scope = "handler")]
async fn order_tx(y: Yield<()>) -> Result<(), AxumApiError> {
    let ((), outcome) = y.provide(()).await;
    log(format!("order_tx: {}", short(&outcome)));
    Ok(())
}

/// A dependency whose setup fails with the axum error.
#[depends]
async fn order_lookup(Query(q): Query<OrderQuery>) -> Result<u32, AxumApiError> {
    if q.id == 0 {
        Err(AxumApiError::NotFound(0))
    } else {
        Ok(q.id)
    }
}

#[derive(serde::Deserialize)]
struct OrderQuery {
    id: u32,
}

/// A generator whose setup fails with the axum error.
#[depends]
async fn order_lock(Query(q): Query<OrderQuery>, y: Yield<()>) -> Result<(), AxumApiError> {
    if q.id == 1 {
        return Err(AxumApiError::Locked);
    }
    y.provide(()).await;
    Ok(())
}

#[depends]
async fn get_order(
    #[dep(order_tx)] _tx: &(),
    #[dep(order_lock)] _lock: &(),
    #[dep(order_lookup)] id: &u32,
) -> Result<String, AxumApiError> {
    if *id == 7 {
        return Err(AxumApiError::NotFound(7));
    }
    Ok(format!("order {id}"))
}

/// docs/axum.md, "What handlers return": "An error type of your own with an `IntoResponse`
/// impl (a `thiserror` enum, as axum apps have) sends the response that impl makes, from a
/// handler or a dependency". With the `axum` feature, the impl an axum app has is axum's: it
/// used to be ignored, the enum taken as a plain `std::error::Error`, and every one of its
/// answers (a 404 here) sent as a generic 500.
#[tokio::test]
async fn an_error_with_axums_into_response_is_sent_as_that_response() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/orders", get_order))
        .await
        .expect("the app starts");

    let response = client.get("/orders?id=3").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "order 3");

    // The handler's error.
    let response = client.get("/orders?id=7").send().await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body, json!({"error": "order 7 not found"}));

    // A plain dependency's error.
    let response = client.get("/orders?id=0").send().await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body, json!({"error": "order 0 not found"}));

    // A generator's setup error.
    let response = client.get("/orders?id=1").send().await;
    assert_eq!(response.status(), 423);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body, json!({"error": "locked"}));

    client.settle().await;
    let events = events();
    let seen: Vec<&String> = events
        .iter()
        .filter(|e| e.starts_with("order_tx"))
        .collect();
    assert_eq!(
        seen,
        [
            "order_tx: success 200",
            "order_tx: handler-error 404",
            "order_tx: setup-failed",
            "order_tx: setup-failed",
        ],
        "{events:?}"
    );
    client.shutdown().await;
}
