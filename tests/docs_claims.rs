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
