//! An axum user builds a service with `di`, following docs/axum.md literally: what broke on
//! the way, each test failing before the fix named in CHANGELOG.md.

mod common;

use std::fmt;

use common::{events, log, serial};
use di_runtime::Body;
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

// ------------------------------------- a group's CORS layer and its preflight

#[depends]
async fn seen(y: Yield<()>) {
    log("seen: setup");
    y.provide(()).await;
}

#[depends]
async fn public_items(#[dep(seen)] _seen: &()) -> &'static str {
    "[]"
}

/// An axum app gives one nested router its own CORS (`Router::nest("/public",
/// public.layer(CorsLayer::...))`): axum's `Router::layer` wraps the 405 of the router's paths
/// too, so the browser's preflight `OPTIONS` to a route of it is answered by the CORS layer.
/// The same in `di` is `Group::layer`, whose layers used to see only the requests a route
/// takes: the preflight was the app's bare 405, and the browser refused every cross-origin
/// call to the group. A 405 at a group's path now goes through the group's layers; nothing
/// is set up for it.
#[tokio::test]
async fn a_groups_cors_layer_answers_the_preflight_of_its_routes() {
    use tower_http::cors::CorsLayer;

    let _serial = serial().await;
    let app = App::new()
        .get("/private/items", public_items)
        .nest(
            Group::new("/public")
                .layer(CorsLayer::very_permissive())
                .get("/items", public_items),
        )
        // A path whose first route has no group layers, and whose second has.
        .get("/shared", public_items)
        .nest(
            Group::new("")
                .layer(CorsLayer::very_permissive())
                .post("/shared", public_items),
        );
    let client = TestClient::start(app).await.expect("the app starts");

    // The preflight, for a method the route has and for one it has not.
    for wanted in ["GET", "PUT"] {
        let response = client
            .request(Method::OPTIONS, "/public/items")
            .header("origin", "http://x.example")
            .header("access-control-request-method", wanted)
            .send()
            .await;
        assert_eq!(response.status(), 200, "preflight for {wanted}");
        assert_eq!(
            response.header("access-control-allow-origin"),
            Some("http://x.example")
        );
        assert_eq!(
            response.header("access-control-allow-methods"),
            Some(wanted)
        );
        assert!(response.header("x-request-id").is_some());
    }

    // A method the path has not, sent cross-origin: the app's 405, through the group's layer.
    let response = client
        .put("/public/items")
        .header("origin", "http://x.example")
        .send()
        .await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.header("allow"), Some("GET, HEAD"));
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("http://x.example")
    );
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Method Not Allowed"}"#
    );

    // The route itself, cross-origin.
    let response = client
        .get("/public/items")
        .header("origin", "http://x.example")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("http://x.example")
    );

    // At a path shared with routes outside the group, through the group's layers too.
    let response = client
        .request(Method::OPTIONS, "/shared")
        .header("origin", "http://x.example")
        .header("access-control-request-method", "POST")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("http://x.example")
    );

    // A path of no group with layers keeps the bare 405.
    let response = client
        .request(Method::OPTIONS, "/private/items")
        .header("origin", "http://x.example")
        .header("access-control-request-method", "GET")
        .send()
        .await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.header("access-control-allow-origin"), None);

    client.settle().await;
    // Set up for the GET only.
    assert_eq!(common::count(&events(), "seen: setup"), 1, "{:?}", events());
    client.shutdown().await;
}

// ------------------------------------- an error that is a response with a body of another type

#[depends]
async fn axum_response_error(
    Query(q): Query<OrderQuery>,
) -> Result<String, axum::response::Response> {
    use axum::response::IntoResponse as AxumIntoResponse;
    // An axum handler's way: `.map_err(IntoResponse::into_response)`.
    match q.id {
        7 => Err(AxumIntoResponse::into_response((
            axum::http::StatusCode::NOT_FOUND,
            "order 7 not found",
        ))),
        8 => Err(AxumIntoResponse::into_response(axum::Json(
            json!({"error": "gone"}),
        ))),
        _ => Ok(format!("order {}", q.id)),
    }
}

#[depends]
async fn http_response_error(
    Query(q): Query<OrderQuery>,
) -> Result<String, http::Response<String>> {
    if q.id == 7 {
        let mut response = http::Response::new("order 7 not found".to_owned());
        *response.status_mut() = StatusCode::NOT_FOUND;
        return Err(response);
    }
    Ok(format!("order {}", q.id))
}

/// An axum handler's error is often a response already (`Result<T, Response>`, an error
/// mapped with `IntoResponse::into_response`), and `http::Response<B>` is a `di` response for
/// any body of bytes. As a `Result`'s error it was a generic 500 unless its body was `di`'s
/// own: any other body (axum's, a `String`) was taken for a stream an error cannot hold,
/// although it held the whole body. A body that is all there at once is now the error's body.
#[tokio::test]
async fn an_error_that_is_a_response_with_another_body_type_is_sent_as_it_is() {
    let _serial = serial().await;
    let app = App::new()
        .get("/axum", axum_response_error)
        .get("/http", http_response_error);
    let client = TestClient::start(app).await.expect("the app starts");

    let response = client.get("/axum?id=3").send().await;
    assert_eq!(response.status(), 200);

    let response = client.get("/axum?id=7").send().await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.text().await.unwrap(), "order 7 not found");

    let response = client.get("/axum?id=8").send().await;
    assert_eq!(response.status(), 200, "axum's `Json` alone is a 200");
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body, json!({"error": "gone"}));

    let response = client.get("/http?id=7").send().await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.text().await.unwrap(), "order 7 not found");
    client.shutdown().await;
}

// ------------------------------------- docs/axum.md, "Coming from axum": the notes, pinned

#[derive(serde::Serialize)]
struct Seen {
    matched: Option<String>,
    tenant: Option<String>,
    id: String,
    id_header: Option<String>,
}

/// An axum extractor that may be missing: axum's `Option<T>` (`OptionalFromRequestParts`).
struct Tenant(String);

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Tenant {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .headers
            .get("x-tenant")
            .and_then(|v| v.to_str().ok())
            .map(|t| Tenant(t.to_owned())))
    }
}

#[depends]
async fn seen_by_handler(
    matched: di_runtime::Extract<Option<axum::extract::MatchedPath>>,
    tenant: di_runtime::Extract<Option<Tenant>>,
    id: RequestId,
    headers: &HeaderMap,
) -> Json<Seen> {
    Json(Seen {
        matched: matched.into_inner().map(|m| m.as_str().to_owned()),
        tenant: tenant.into_inner().map(|t| t.0),
        id: id.to_string(),
        id_header: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    })
}

/// What docs/axum.md's "Coming from axum" says an axum user meets: an optional extractor is
/// `Extract<Option<E>>`; axum's `MatchedPath` is never there; an axum handler is the app's
/// 404 through `fallback_service`; and the request id is the app's, whatever id a layer
/// (tower-http's `SetRequestIdLayer`, here a layer that sets the header as it does) puts in
/// the request after the app read it.
#[tokio::test]
async fn the_notes_for_axum_users_hold() {
    let _serial = serial().await;
    let sets_an_id = tower::util::MapRequestLayer::new(|mut request: http::Request<Body>| {
        request
            .headers_mut()
            .insert("x-request-id", http::HeaderValue::from_static("req-0"));
        request
    });
    let fallback = axum::Router::new().fallback(|uri: axum::http::Uri| async move {
        (
            axum::http::StatusCode::NOT_FOUND,
            format!("no route for {uri}"),
        )
    });
    let app = App::new()
        .get("/seen/{id}", seen_by_handler)
        .fallback_service(fallback)
        .layer(sets_an_id);
    let client = TestClient::start(app).await.expect("the app starts");

    let response = client
        .get("/seen/1")
        .header("x-tenant", "acme")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let sent_id = response.header("x-request-id").map(str::to_owned);
    let seen: Value = response.json().await.expect("a JSON body");
    assert_eq!(seen["matched"], Value::Null, "{seen}");
    assert_eq!(seen["tenant"], "acme", "{seen}");
    assert_eq!(seen["id_header"], "req-0", "{seen}");
    assert_ne!(seen["id"], "req-0", "{seen}");
    assert_eq!(sent_id.as_deref(), seen["id"].as_str(), "{seen}");

    let seen: Value = client.get("/seen/2").send().await.json().await.unwrap();
    assert_eq!(seen["tenant"], Value::Null, "{seen}");

    let response = client.get("/nowhere?x=1").send().await;
    assert_eq!(response.status(), 404);
    assert!(response.header("x-request-id").is_some());
    assert_eq!(response.text().await.unwrap(), "no route for /nowhere?x=1");
    client.shutdown().await;
}

// ------------------------------------- axum's `Result<T>`, whose error is `ErrorResponse`

/// axum's own `Result<T>` (`axum::response::Result<T, ErrorResponse>`): any axum response
/// becomes its error with `?` or `.into()`.
#[depends]
async fn axum_result(Query(q): Query<OrderQuery>) -> axum::response::Result<String> {
    if q.id == 0 {
        return Err((axum::http::StatusCode::BAD_REQUEST, "id must not be 0").into());
    }
    Ok(format!("order {}", q.id))
}

/// docs/axum.md: "What an axum handler returns, a `#[depends]` handler returns too: ...
/// `Result<T, E>` of those". axum's `Result<T>`, whose error `ErrorResponse` is a response
/// only as that `Result`'s error (it is not `IntoResponse` itself), did not compile as a
/// `#[depends]` function's return type ("`ErrorResponse` cannot be the error of a
/// `#[depends]` function's `Result`"). Its error is now the response it holds.
#[tokio::test]
async fn axums_result_type_is_a_handlers_return_type() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", axum_result))
        .await
        .expect("the app starts");
    let response = client.get("/?id=3").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "order 3");
    let response = client.get("/?id=0").send().await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.text().await.unwrap(), "id must not be 0");
    client.shutdown().await;
}

// ------------------------------------- axum's `from_fn` middleware as a layer of the app

/// An axum app's middleware, unchanged: it refuses a request without a key (never calling
/// the app) and stamps the response of the others.
async fn key_check(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as AxumIntoResponse;
    if request.headers().get("x-key").is_none() {
        return AxumIntoResponse::into_response((axum::http::StatusCode::UNAUTHORIZED, "no key"));
    }
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert("x-checked", http::HeaderValue::from_static("yes"));
    response
}

#[depends(scope = "handler")]
async fn guarded_tx(y: Yield<()>) {
    log("guarded_tx: setup");
    let ((), outcome) = y.provide(()).await;
    log(format!("guarded_tx: {}", short(&outcome)));
}

#[depends]
async fn guarded(#[dep(guarded_tx)] _tx: &(), id: RequestId) -> String {
    format!("guarded {id}")
}

/// An axum app's `axum::middleware::from_fn` middleware takes axum's `Request`, whose body is
/// axum's: `App::layer` and `Group::layer` could not take it (their layers take the app's
/// body), so every such middleware had to be rewritten or kept outside the app. Wrapped in
/// `AxumLayer` it is a layer of the app like any other: the request keeps its id on the way
/// through, a refusal sets nothing up, and the teardowns see the app's answer.
#[tokio::test]
async fn an_axum_from_fn_middleware_is_a_layer_of_the_app_through_axum_layer() {
    use axum::middleware::from_fn;
    use di_runtime::AxumLayer;

    let _serial = serial().await;
    let app = App::new()
        .get("/app", guarded)
        .layer(AxumLayer(from_fn(key_check)))
        .nest(
            Group::new("/group")
                .layer(AxumLayer(from_fn(key_check)))
                .get("/route", guarded),
        );
    let client = TestClient::start(app).await.expect("the app starts");

    for path in ["/app", "/group/route"] {
        let response = client.get(path).send().await;
        assert_eq!(response.status(), 401, "{path}");
        assert!(response.header("x-request-id").is_some());
        assert_eq!(response.text().await.unwrap(), "no key");

        let response = client.get(path).header("x-key", "k").send().await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.header("x-checked"), Some("yes"));
        let id = response.header("x-request-id").unwrap().to_owned();
        assert_eq!(response.text().await.unwrap(), format!("guarded {id}"));
    }

    client.settle().await;
    let events = events();
    assert_eq!(
        events,
        [
            "guarded_tx: setup",
            "guarded_tx: success 200",
            "guarded_tx: setup",
            "guarded_tx: success 200"
        ],
        "set up only for the requests with a key"
    );
    client.shutdown().await;
}

#[depends]
async fn not_found_here() -> Result<String, HttpError> {
    Err(HttpError::new(StatusCode::NOT_FOUND, "no such item"))
}

/// An app-wide error shape through an axum `map_response` middleware: inside `AxumLayer` it
/// gets `http::Response<di_runtime::Body>` (the app's body, not axum's), which
/// `axum::body::Body::new` makes axum's to read it with axum's helpers (docs/axum.md).
async fn reshape(response: http::Response<Body>) -> http::Response<Body> {
    if !response.status().is_client_error() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(axum::body::Body::new(body), 64 * 1024)
        .await
        .unwrap_or_default();
    let detail: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let shaped = json!({ "error": parts.status.as_u16(), "detail": detail["detail"] });
    let mut reshaped = http::Response::from_parts(parts, Body::from(shaped.to_string()));
    reshaped.headers_mut().remove(http::header::CONTENT_LENGTH);
    reshaped
}

#[tokio::test]
async fn an_axum_map_response_middleware_reshapes_the_apps_own_errors() {
    use axum::middleware::map_response;
    use di_runtime::AxumLayer;

    let app = App::new()
        .get("/items/{id}", not_found_here)
        .layer(AxumLayer(map_response(reshape)));
    let client = TestClient::start(app).await.expect("the app starts");
    let response = client.get("/items/1").send().await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": 404, "detail": "no such item"})
    );
    // The app's own 404 for a path no route has, reshaped alike.
    let response = client.get("/nowhere").send().await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], 404);
    client.shutdown().await;
}

/// A handler that makes an axum response (`axum::Json`, an `impl axum::response::IntoResponse`)
/// returns it as `axum::response::Response`, which `di` sends as it is (docs/axum.md).
#[depends]
async fn axum_made() -> axum::response::Response {
    axum::response::IntoResponse::into_response((
        StatusCode::CREATED,
        axum::Json(json!({ "id": 1 })),
    ))
}

#[tokio::test]
async fn a_handler_returns_an_axum_response_as_axums_response_type() {
    let client = TestClient::start(App::new().post("/items", axum_made))
        .await
        .expect("the app starts");
    let response = client.post("/items").send().await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.text().await.unwrap(), r#"{"id":1}"#);
    client.shutdown().await;
}
