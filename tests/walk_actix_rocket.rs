//! An actix-web / Rocket user ports a service to `di` (docs/actix-rocket.md): what their
//! idioms become, and what broke on the way, each test failing before the fix named in
//! CHANGELOG.md.

mod common;

use di_runtime::http::HeaderName;
use di_runtime::http::header::{LOCATION, SET_COOKIE};
use di_runtime::prelude::*;

// ------------------------------------------------ redirects after POST, to a UTF-8 path

/// A Rocket `Redirect::to(uri!(show(title)))` / actix `Redirect::to(format!(..))` after a
/// form's POST, to a page named by what the user typed. Before the fix the `Location` went out
/// as raw UTF-8 bytes (not a URI; each client reads them its own way), and
/// `Redirect::location()` said `None` for it.
#[depends]
async fn renamed(Path(title): Path<String>) -> Redirect {
    Redirect::to(&format!("/notes/{title}?from=café"))
}

#[tokio::test]
async fn a_redirect_to_a_non_ascii_location_is_sent_percent_encoded() {
    let client = TestClient::start(App::new().post("/rename/{title}", renamed))
        .await
        .expect("the app starts");
    let response = client.post("/rename/cr%C3%A8me").send().await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // Starlette's `RedirectResponse` quotes the URL the same way: UTF-8 bytes as `%XX`.
    assert_eq!(
        response.header("location"),
        Some("/notes/cr%C3%A8me?from=caf%C3%A9")
    );
    assert_eq!(
        Redirect::to("/ünï").location(),
        Some("/%C3%BCn%C3%AF"),
        "the location it reports is the one sent"
    );
    // What is already encoded stays as it is, and a control character is still refused.
    assert_eq!(Redirect::to("/a%20b").location(), Some("/a%20b"));
    assert_eq!(Redirect::to("/ü\nx").location(), None);
}

// ------------------------------------------------- `web::Path<(u32, String)>`, mis-routed

/// actix's `web::Path<(u32, String)>`, mounted on a route with one parameter: the server's
/// mistake (axum answers it 500), which was answered 422, blaming the client, with a message
/// that told it the route's shape ("expected 2 path parameters, the route has 1").
#[depends]
async fn user_post(Path((id, slug)): Path<(u32, String)>) -> String {
    format!("{id} {slug}")
}

#[depends]
async fn just_id(Path(id): Path<u32>) -> String {
    format!("{id}")
}

#[tokio::test]
async fn a_path_tuple_that_does_not_fit_its_route_is_the_servers_500_not_the_clients_422() {
    let client = TestClient::start(
        App::new()
            .get("/posts/{id}", user_post)
            .get("/pair/{id}/{slug}", user_post)
            .get("/two/{a}/{b}", just_id),
    )
    .await
    .expect("the app starts");
    for uri in ["/posts/7", "/two/1/2"] {
        let response = client.get(uri).send().await;
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{uri}"
        );
        let body = response.text().await.expect("a body");
        assert_eq!(body, r#"{"detail":"Internal Server Error"}"#, "{uri}");
    }
    // A route it fits answers, and bad input there is still the client's 422.
    let response = client.get("/pair/7/hello").send().await;
    assert_eq!(response.text().await.expect("a body"), "7 hello");
    let response = client.get("/pair/x/hello").send().await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

// ------------------------------------- `HttpResponse::build(status).insert_header(..).finish()`

/// actix's `HttpResponse::SeeOther().insert_header((LOCATION, "/me")).cookie(c).finish()`: a
/// status and headers, no body, written as axum writes it. It did not compile: headers were
/// taken only beside a body (`(StatusCode, [..], ())`).
#[depends]
async fn sign_in(
    Form(login): Form<std::collections::BTreeMap<String, String>>,
) -> (StatusCode, [(HeaderName, String); 2]) {
    let user = login.get("user").cloned().unwrap_or_default();
    (
        StatusCode::SEE_OTHER,
        [
            (LOCATION, "/me".to_owned()),
            (SET_COOKIE, format!("session={user}; HttpOnly; Path=/")),
        ],
    )
}

#[depends]
async fn cache_headers() -> [(&'static str, &'static str); 1] {
    [("cache-control", "no-store")]
}

#[depends]
async fn bad_header() -> (StatusCode, [(&'static str, &'static str); 1]) {
    (StatusCode::NO_CONTENT, [("bad name", "x")])
}

/// actix's `HttpResponse::Found()`: a status beside a redirect.
#[depends]
async fn found(Path(to): Path<String>) -> (StatusCode, Redirect) {
    (StatusCode::FOUND, Redirect::to(&to))
}

#[tokio::test]
async fn a_status_and_headers_without_a_body_are_a_response() {
    let client = TestClient::start(
        App::new()
            .post("/login", sign_in)
            .get("/cached", cache_headers)
            .get("/bad", bad_header)
            .get("/found/{to}", found),
    )
    .await
    .expect("the app starts");
    let response = client.post("/login").form([("user", "ada")]).send().await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.header("location"), Some("/me"));
    assert_eq!(
        response.header("set-cookie"),
        Some("session=ada; HttpOnly; Path=/")
    );
    assert_eq!(response.text().await.expect("a body"), "");

    let response = client.get("/cached").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.header("cache-control"), Some("no-store"));

    // A header that is not one is still the handler's mistake: a generic 500.
    let response = client.get("/bad").send().await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    // So is a redirect to a location with a control character, a status beside it or not
    // (the status given beside it used to replace the 500's: a 302 without a location).
    let response = client.get("/found/elsewhere").send().await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.header("location"), Some("elsewhere"));
    let response = client.get("/found/a%0Ab").send().await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
