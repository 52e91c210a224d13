//! An actix-web / Rocket user ports a service to `di` (docs/actix-rocket.md): what their
//! idioms become, and what broke on the way, each test failing before the fix named in
//! CHANGELOG.md.

mod common;

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
