//! Claims of the README and docs/ that a user relies on, checked as a user would: each test
//! here failed before the fix named in CHANGELOG.md, or pins a claim worth keeping true.

use di_runtime::OpenApiConfig;
use di_runtime::prelude::*;

#[depends]
async fn hello() -> &'static str {
    "hello"
}

/// Apps that `App::start` refuses because of the routes `with_openapi` adds, each made
/// afresh (an `App` is not `Clone`).
fn apps_with_bad_openapi_routes() -> Vec<App> {
    let config = || OpenApiConfig::new("t", "1");
    vec![
        // A route of the app at the page's path, at the document's, at the page's files.
        App::new().get("/docs", hello).with_openapi(config()),
        App::new()
            .get("/openapi.json", hello)
            .with_openapi(config()),
        App::new().get("/docs/{name}", hello).with_openapi(config()),
        // Paths that could not serve the document.
        App::new()
            .get("/", hello)
            .with_openapi(config().json_path("openapi.json")),
        App::new()
            .get("/", hello)
            .with_openapi(config().docs_path("/")),
        App::new()
            .get("/", hello)
            .with_openapi(config().docs_path("/docs/")),
    ]
}

/// docs/testing.md: "`App::check()` plans every route as `start` does and returns every
/// problem at once", so that one plain `#[test]` catches, before anything is deployed, what
/// would stop the app from starting. `check` used to plan the app's routes only, without the
/// routes `with_openapi` adds: an app it passed then failed to start.
#[tokio::test]
async fn check_refuses_every_app_start_refuses_for_its_openapi_routes() {
    for (checked, started) in apps_with_bad_openapi_routes()
        .into_iter()
        .zip(apps_with_bad_openapi_routes())
    {
        let start_error = match TestClient::start(started).await {
            Ok(client) => {
                client.shutdown().await;
                panic!("the app was expected not to start");
            }
            Err(error) => error,
        };
        let check_error = checked
            .check()
            .expect_err(&format!("check passes an app start refuses: {start_error}"));
        for problem in start_error.problems() {
            assert!(
                check_error.problems().contains(problem),
                "start says {problem:?}, check says {check_error}"
            );
        }
    }
}

/// The other way round: `check` refuses nothing that starts, with the OpenAPI routes.
#[tokio::test]
async fn check_passes_an_app_that_serves_its_openapi_document() {
    let app = || {
        App::new()
            .get("/", hello)
            .with_openapi(OpenApiConfig::new("t", "1").docs_path("/api/docs"))
    };
    app().check().unwrap();
    let client = TestClient::start(app()).await.unwrap();
    assert_eq!(
        client.get("/api/docs").send().await.status(),
        StatusCode::OK
    );
    assert_eq!(
        client.get("/openapi.json").send().await.status(),
        StatusCode::OK
    );
    client.shutdown().await;
}

// ---------------------------------------------------------------- docs/axum.md

/// An axum extractor that has to wait: not an input (docs/axum.md, "Not supported").
struct Waits;

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Waits {
    type Rejection = StatusCode;

    async fn from_request_parts(
        _: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        tokio::task::yield_now().await;
        Ok(Waits)
    }
}

static SET_UP: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[depends]
async fn counted(y: Yield<()>) {
    SET_UP.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let _ = y.provide(()).await;
}

#[depends]
async fn with_axum_path(
    #[dep(counted)] _c: &(),
    id: di_runtime::Extract<axum::extract::Path<u32>>,
) -> String {
    format!("{}", id.0.0)
}

#[depends]
async fn with_waiting_extractor(
    #[dep(counted)] _c: &(),
    _w: di_runtime::Extract<Waits>,
) -> &'static str {
    "waited"
}

/// docs/axum.md: axum's `Path` (it reads axum's router's data) and an extractor that has to
/// wait are not supported: the first answers axum's own rejection, a 500, the second a
/// generic 500 (logged); like every input they run before anything is set up.
#[tokio::test]
async fn axum_path_and_a_waiting_extractor_answer_500_and_set_nothing_up() {
    let app = App::new()
        .get("/path/{id}", with_axum_path)
        .get("/waits", with_waiting_extractor);
    let client = TestClient::start(app).await.unwrap();

    let response = client.get("/path/7").send().await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        response.text().await.unwrap(),
        "No paths parameters found for matched route"
    );

    let response = client.get("/waits").send().await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Internal Server Error"}"#
    );

    client.settle().await;
    assert_eq!(SET_UP.load(std::sync::atomic::Ordering::SeqCst), 0);
    client.shutdown().await;
}
