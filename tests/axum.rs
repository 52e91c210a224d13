//! Adopting `di` route by route inside axum, and axum inside `di`, against real axum:
//!
//! - an `App` nested in an axum `Router` (`nest_service`), and one `#[depends]` handler on one
//!   axum route (`route_service`), over TCP (`axum::serve`) and in process (`oneshot`):
//!   teardown after the last byte, outcomes (handler error, panic, client gone mid-stream),
//!   an override;
//! - an axum `Router` mounted in an `App` (`App::nest_service`, `App::fallback_service`);
//! - axum extractors as inputs (`Extract<E>`): `State`, `Extension`, `Query`, a user's own,
//!   with its rejection as the response.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Extension, FromRequestParts, State};
use axum::routing::get;
use bytes::Bytes;
use common::{count, events, log, position, serial, wait_for};
use di_runtime::prelude::*;
use di_runtime::{Extract, Running};
use futures_util::{Stream, stream};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower::ServiceExt;

fn short(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::HandlerError { status, .. } => format!("error {}", status.as_u16()),
        Outcome::Panicked => "panicked".into(),
        Outcome::Cancelled(CancelReason::ClientGone) => "cancelled client gone".into(),
        other => format!("other {other}"),
    }
}

struct Conn(&'static str);

#[depends]
async fn conn(y: Yield<Conn>) {
    log("conn:open");
    let (_, outcome) = y.provide(Conn("db")).await;
    log(format!("conn:close {}", short(&outcome)));
}

#[depends]
async fn fake_conn(y: Yield<Conn>) {
    log("fake:open");
    let (_, outcome) = y.provide(Conn("fake")).await;
    log(format!("fake:close {}", short(&outcome)));
}

#[depends(scope = "handler")]
async fn tx(#[dep(conn)] _c: &Conn, y: Yield<()>) {
    let ((), outcome) = y.provide(()).await;
    log(format!("tx:close {}", short(&outcome)));
}

/// Streams `n` lines over the held connection, slowly enough for a client to leave.
#[depends]
async fn export(
    #[dep(conn)] conn: Held<Conn>,
    Query(n): Query<Lines>,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    let lines = stream::unfold((conn, 0u32), move |(conn, i)| async move {
        if i == n.n {
            log("stream:end");
            return None;
        }
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Some((Ok(Bytes::from(format!("{} {i}\n", conn.0))), (conn, i + 1)))
    });
    StreamBody::new(lines)
}

#[derive(serde::Deserialize)]
struct Lines {
    n: u32,
}

#[depends]
async fn fail(#[dep(tx)] _tx: &()) -> Result<&'static str, HttpError> {
    Err(HttpError::conflict("already there"))
}

#[depends]
async fn boom(#[dep(tx)] _tx: &()) -> &'static str {
    panic!("boom")
}

#[depends]
async fn note(Path(id): Path<u32>, #[dep(conn)] c: &Conn) -> String {
    format!("note {id} from {}", c.0)
}

fn di_app() -> App {
    App::new()
        .get("/export", export)
        .get("/fail", fail)
        .get("/boom", boom)
        .get("/notes/{id}", note)
}

/// An axum app that adopted `di` for `/di/*` and one route.
async fn axum_router(app: App) -> (axum::Router, Running) {
    let running = app.start().await.expect("the app starts");
    let router = axum::Router::new()
        .route("/axum", get(|| async { "from axum" }))
        .nest_service("/di", running.service())
        .route_service("/notes/{id}", running.service());
    (router, running)
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

async fn connect(addr: SocketAddr) -> http1::SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
}

async fn get_over(
    sender: &mut http1::SendRequest<Empty<Bytes>>,
    path: &str,
) -> http::Response<hyper::body::Incoming> {
    sender.ready().await.unwrap();
    let request = http::Request::get(path)
        .header("host", "test")
        .body(Empty::new())
        .unwrap();
    sender.send_request(request).await.unwrap()
}

#[tokio::test]
async fn app_nested_in_axum_over_tcp_keeps_teardown_timing_and_outcomes() {
    let _serial = serial().await;
    let (router, running) = axum_router(di_app()).await;
    let addr = serve(router).await;
    let mut sender = connect(addr).await;

    let response = get_over(&mut sender, "/axum").await;
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "from axum"
    );

    // A streamed body: the connection goes back after the last byte, with a success.
    let response = get_over(&mut sender, "/di/export?n=3").await;
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "db 0\ndb 1\ndb 2\n");
    wait_for("conn:close success 200").await;
    let seen = events();
    assert!(position(&seen, "stream:end") < position(&seen, "conn:close success 200"));

    // A handler error and a panic: the teardowns see them.
    common::clear();
    let response = get_over(&mut sender, "/di/fail").await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let _ = response.into_body().collect().await.unwrap();
    let response = get_over(&mut sender, "/di/boom").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let _ = response.into_body().collect().await.unwrap();
    wait_for("conn:close panicked").await;
    let seen = events();
    assert_eq!(count(&seen, "tx:close error 409"), 1, "{seen:?}");
    assert_eq!(count(&seen, "conn:close error 409"), 1, "{seen:?}");
    assert_eq!(count(&seen, "tx:close panicked"), 1, "{seen:?}");

    // One `#[depends]` handler on one axum route, its path parameter read by `di`.
    let response = get_over(&mut sender, "/notes/7").await;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "note 7 from db");

    // A client gone mid-stream.
    common::clear();
    let mut response = get_over(&mut sender, "/di/export?n=100000").await;
    let first = response.body_mut().frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "db 0\n");
    drop(response);
    drop(sender);
    wait_for("conn:close cancelled client gone").await;
    running.settle().await;
    assert_eq!(count(&events(), "conn:close cancelled client gone"), 1);
    running.shutdown().await;
}

#[tokio::test]
async fn app_nested_in_axum_in_process_with_an_override() {
    let _serial = serial().await;
    let (router, running) = axum_router(di_app().override_dep(conn, fake_conn)).await;
    let request = |path: &str| {
        http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let response = router
        .clone()
        .oneshot(request("/di/export?n=2"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Not before the body's end.
    running.settle().await;
    assert_eq!(events(), ["fake:open"]);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "fake 0\nfake 1\n");
    running.settle().await;
    assert_eq!(
        events(),
        ["fake:open", "stream:end", "fake:close success 200"]
    );

    let response = router.clone().oneshot(request("/notes/3")).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "note 3 from fake");
    let response = router.oneshot(request("/di/nowhere")).await.unwrap();
    assert_eq!(response.status(), 404);
    running.shutdown().await;
}

// ---------------------------------------------------------------- axum inside di

#[depends]
async fn hello() -> &'static str {
    "hello from di"
}

fn legacy() -> axum::Router {
    axum::Router::new()
        .route("/users", get(|| async { "users from axum" }))
        .route(
            "/echo",
            get(|uri: http::Uri| async move { format!("axum saw {uri}") }),
        )
}

#[tokio::test]
async fn an_axum_router_mounted_in_an_app_under_a_prefix_and_as_fallback() {
    let _serial = serial().await;
    let app = App::new()
        .get("/hello", hello)
        .nest_service("/legacy", legacy())
        .fallback_service(axum::Router::new().route("/old", get(|| async { "old axum" })));
    let client = TestClient::start(app).await.unwrap();
    let text = |path: &'static str| {
        let client = &client;
        async move {
            let response = client.get(path).send().await;
            (response.status(), response.text().await.unwrap())
        }
    };
    assert_eq!(
        text("/hello").await,
        (StatusCode::OK, "hello from di".into())
    );
    assert_eq!(
        text("/legacy/users").await,
        (StatusCode::OK, "users from axum".into())
    );
    assert_eq!(
        text("/legacy/echo?x=1").await,
        (StatusCode::OK, "axum saw /echo?x=1".into())
    );
    assert_eq!(text("/old").await, (StatusCode::OK, "old axum".into()));
    // Neither di's nor axum's: axum's fallback 404.
    assert_eq!(text("/legacyx").await.0, StatusCode::NOT_FOUND);
    // A path di has, with another method: di's 405.
    let response = client.post("/hello").send().await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    // Counted and given an id like the app's own answers.
    let response = client.get("/legacy/users").send().await;
    assert!(response.header("x-request-id").is_some());
    client.shutdown().await;

    let server = App::new()
        .get("/hello", hello)
        .nest_service("/legacy", legacy())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut sender = connect(server.local_addr()).await;
    let response = get_over(&mut sender, "/legacy/users").await;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "users from axum");
    server.shutdown().await;

    let bad = App::new().nest_service("legacy/", legacy()).check();
    let message = bad.unwrap_err().to_string();
    assert!(
        message.contains("a prefix must start with `/`"),
        "{message}"
    );
}

// ---------------------------------------------------------------- axum extractors

#[derive(Clone)]
struct AppState {
    greeting: &'static str,
}

#[derive(Clone)]
struct CurrentUser(&'static str);

/// A user's axum extractor: the tenant named by a header, 400 with a text body without it.
struct Tenant(String);

impl<S: Sync> FromRequestParts<S> for Tenant {
    type Rejection = (
        StatusCode,
        [(http::HeaderName, &'static str); 1],
        &'static str,
    );

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        match parts.headers.get("x-tenant").and_then(|v| v.to_str().ok()) {
            Some(tenant) => Ok(Tenant(tenant.to_owned())),
            None => Err((
                StatusCode::BAD_REQUEST,
                [(http::HeaderName::from_static("x-why"), "tenant")],
                "missing x-tenant",
            )),
        }
    }
}

#[derive(serde::Deserialize)]
struct Page {
    page: u32,
}

/// A dependency whose inputs are axum extractors: set up only if they all succeed.
#[depends]
async fn context(
    state: Extract<State<AppState>, AppState>,
    user: Extract<Extension<CurrentUser>>,
    tenant: Extract<Tenant>,
    y: Yield<String>,
) {
    log("context:open");
    let line = format!(
        "{} {} of {}",
        state.0.0.greeting,
        (user.0).0.0,
        tenant.into_inner().0
    );
    let (_, outcome) = y.provide(line).await;
    log(format!("context:close {}", short(&outcome)));
}

#[depends]
async fn greet(#[dep(context)] line: &String, page: Extract<axum::extract::Query<Page>>) -> String {
    format!("{line}, page {}", page.0.0.page)
}

fn extractor_app() -> App {
    App::new()
        .get("/greet", greet)
        .layer(Extension(CurrentUser("alice")))
        .axum_state(AppState { greeting: "hello" })
}

#[tokio::test]
async fn axum_extractors_are_inputs_and_their_rejection_is_the_response() {
    let _serial = serial().await;
    let client = TestClient::start(extractor_app()).await.unwrap();
    let response = client
        .get("/greet?page=2")
        .header("x-tenant", "acme")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        "hello alice of acme, page 2"
    );
    client.settle().await;
    assert_eq!(events(), ["context:open", "context:close success 200"]);

    // The user's rejection is the response, as in axum; nothing is set up.
    common::clear();
    let response = client.get("/greet?page=2").send().await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.header("x-why"), Some("tenant"));
    assert_eq!(response.text().await.unwrap(), "missing x-tenant");
    // axum's own rejection, the same way.
    let response = client
        .get("/greet?page=x")
        .header("x-tenant", "acme")
        .send()
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = response.text().await.unwrap();
    assert!(
        text.starts_with("Failed to deserialize query string"),
        "{text}"
    );
    client.settle().await;
    assert!(events().is_empty(), "{:?}", events());
    client.shutdown().await;

    // An extractor whose state was not registered: a 500, never a panic.
    let client = TestClient::start(App::new().get("/greet", greet))
        .await
        .unwrap();
    let response = client
        .get("/greet?page=1")
        .header("x-tenant", "acme")
        .send()
        .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    client.shutdown().await;
}

#[tokio::test]
async fn axum_extractors_in_an_app_nested_in_axum_over_tcp() {
    let _serial = serial().await;
    let running = extractor_app().start().await.unwrap();
    let router = axum::Router::new().nest_service("/v2", running.service());
    let addr = serve(router).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = http::Request::get("/v2/greet?page=5")
        .header("host", "test")
        .header("x-tenant", "acme")
        .body(Empty::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hello alice of acme, page 5");
    running.settle().await;
    assert_eq!(events(), ["context:open", "context:close success 200"]);
    running.shutdown().await;
}
