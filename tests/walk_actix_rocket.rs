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
/// that told it the route's shape ("expected 2 path parameters, the route has 1"); then a
/// generic 500 on every request. It is now found when the app is built, as a route's
/// dependency problems are: `App::check` and the start name the route, the function and the
/// parameter, and say what fits.
#[depends]
async fn user_post(Path((id, slug)): Path<(u32, String)>) -> String {
    format!("{id} {slug}")
}

#[depends]
async fn just_id(Path(id): Path<u32>) -> String {
    format!("{id}")
}

#[derive(serde::Deserialize)]
struct Named {
    id: u32,
    slug: String,
    /// Not in every route's path: optional.
    page: Option<u32>,
    #[serde(default)]
    lang: String,
}

#[depends]
async fn by_name(Path(named): Path<Named>) -> String {
    format!(
        "{} {} {:?} {:?}",
        named.id, named.slug, named.page, named.lang
    )
}

#[depends]
async fn any_params(Path(all): Path<std::collections::BTreeMap<String, String>>) -> String {
    all.into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::test]
async fn a_path_tuple_that_does_not_fit_its_route_is_an_error_when_the_app_is_built() {
    let misfits = [
        (
            App::new().get("/posts/{id}", user_post),
            "route GET /posts/{id}: `user_post` takes `Path<(u32, String)>`, which does not fit the path's parameters: expected 2 path parameters, the route has 1; take a tuple with one element per `{name}` of the path, in order, a single value when it has one, or a struct with a field per name",
        ),
        (
            App::new().get("/two/{a}/{b}", just_id),
            "route GET /two/{a}/{b}: `just_id` takes `Path<u32>`, which does not fit the path's parameters: expected 1 path parameter, the route has 2; take a tuple with one element per `{name}` of the path, in order, a single value when it has one, or a struct with a field per name",
        ),
        (
            App::new().get("/named/{id}", by_name),
            "route GET /named/{id}: `by_name` takes `Path<Named>`, which does not fit the path's parameters: its field `slug` is not a parameter of the path; take a tuple with one element per `{name}` of the path, in order, a single value when it has one, or a struct with a field per name",
        ),
        (
            App::new().get("/files/{*rest}", user_post),
            "route GET /files/{*rest}: `user_post` takes `Path<(u32, String)>`, which does not fit the path's parameters: expected 2 path parameters, the route has 1; take a tuple with one element per `{name}` of the path, in order, a single value when it has one, or a struct with a field per name",
        ),
    ];
    for (app, expected) in misfits {
        let checked = app
            .check()
            .expect_err("the app's mistake is found before it starts");
        assert_eq!(checked.problems(), [expected]);
        let started = TestClient::start(app)
            .await
            .expect_err("the app does not start");
        assert_eq!(
            started.to_string(),
            format!("the app cannot start:\n  - {expected}")
        );
    }

    // Routes they fit start and answer, a wildcard included, and bad input there is still the
    // client's 422.
    let client = TestClient::start(
        App::new()
            .get("/pair/{id}/{slug}", user_post)
            .get("/files/{id}/{*rest}", user_post)
            .get("/named/{slug}/{id}", by_name)
            .get("/paged/{slug}/{id}/{page}/{lang}", by_name)
            .get("/map/{a}/{b}", any_params),
    )
    .await
    .expect("the app starts");
    for (uri, body) in [
        ("/pair/7/hello", "7 hello"),
        ("/files/7/a/b.txt", "7 a/b.txt"),
        ("/named/hello/7", r#"7 hello None """#),
        ("/paged/hello/7/2/fr", r#"7 hello Some(2) "fr""#),
        ("/map/x/y", "a=x,b=y"),
    ] {
        let response = client.get(uri).send().await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        assert_eq!(response.text().await.expect("a body"), body, "{uri}");
    }
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

// ---------------------------------------------------- docs/actix-rocket.md, every snippet

mod guide {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicU64, Ordering};

    use di_runtime::http::header::{LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
    use di_runtime::http::{HeaderName, HeaderValue};
    use di_runtime::prelude::*;
    use futures_util::{Stream, StreamExt, stream};
    use serde::{Deserialize, Serialize};

    use crate::common::{events, log, serial, wait_for};

    // State: `web::Data<T>` and `&State<T>`

    struct AppState {
        greeting: String,
        hits: AtomicU64,
    }

    #[depends(scope = "app")]
    async fn state() -> AppState {
        AppState {
            greeting: "hello".into(),
            hits: AtomicU64::new(0),
        }
    }

    #[depends]
    async fn greet(
        #[dep(state)] state: &AppState,
        Path((id, name)): Path<(u32, String)>,
    ) -> String {
        state.hits.fetch_add(1, Ordering::Relaxed);
        format!("{} {name} #{id}", state.greeting)
    }

    #[tokio::test]
    async fn state_is_an_app_dependency_or_a_provided_value() {
        let client = TestClient::start(App::new().get("/hello/{id}/{name}", greet))
            .await
            .expect("the app starts");
        assert_eq!(
            client
                .get("/hello/7/ada")
                .send()
                .await
                .text()
                .await
                .expect("text"),
            "hello ada #7"
        );

        let app = App::new().get("/hello/{id}/{name}", greet).provide(
            state,
            AppState {
                greeting: "hi".into(),
                hits: AtomicU64::new(0),
            },
        );
        let client = TestClient::start(app).await.expect("the app starts");
        assert_eq!(
            client
                .get("/hello/7/ada")
                .send()
                .await
                .text()
                .await
                .expect("text"),
            "hi ada #7"
        );
    }

    // Guards and `FromRequest`

    struct User(String);

    #[depends]
    async fn user(headers: &HeaderMap) -> Result<User, HttpError> {
        match headers.get("x-token").and_then(|v| v.to_str().ok()) {
            None => Err(
                HttpError::new(StatusCode::UNAUTHORIZED, "Not authenticated")
                    .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Token")),
            ),
            Some("admin") => Ok(User("admin".into())),
            Some(_) => Err(HttpError::new(StatusCode::FORBIDDEN, "Forbidden")),
        }
    }

    #[depends]
    async fn admin_stats(#[dep(user)] user: &User) -> String {
        format!("stats for {}", user.0)
    }

    #[tokio::test]
    async fn a_guard_is_a_dependency_that_answers_401_with_its_header_or_403() {
        let app = App::new().nest(
            Group::new("/admin")
                .dependency(user)
                .get("/stats", admin_stats),
        );
        let client = TestClient::start(app).await.expect("the app starts");
        let response = client.get("/admin/stats").send().await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.header("www-authenticate"), Some("Token"));
        let response = client
            .get("/admin/stats")
            .header("x-token", "guest")
            .send()
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.header("www-authenticate"), None);
        let response = client
            .get("/admin/stats")
            .header("x-token", "admin")
            .send()
            .await;
        assert_eq!(response.text().await.expect("text"), "stats for admin");
    }

    // Cookies, login and redirect after POST

    #[derive(Deserialize)]
    struct Login {
        user: String,
        password: String,
    }

    #[depends]
    async fn login(
        Form(form): Form<Login>,
    ) -> Result<([(HeaderName, String); 1], Redirect), HttpError> {
        if form.password != "secret" {
            return Err(HttpError::new(
                StatusCode::UNAUTHORIZED,
                "wrong user name or password",
            ));
        }
        Ok((
            [(
                SET_COOKIE,
                format!("session={}; HttpOnly; Path=/", form.user),
            )],
            Redirect::to("/me"),
        ))
    }

    #[derive(Deserialize)]
    struct Session {
        session: Option<String>,
    }

    #[depends]
    async fn me(Cookie(session): Cookie<Session>) -> Result<String, HttpError> {
        session
            .session
            .ok_or_else(|| HttpError::new(StatusCode::UNAUTHORIZED, "not signed in"))
    }

    // Responses: `HttpResponse::build`

    #[derive(Deserialize, Serialize)]
    struct Item {
        name: String,
    }

    #[depends]
    async fn create(Json(item): Json<Item>) -> (StatusCode, [(HeaderName, String); 1], Json<Item>) {
        (
            StatusCode::CREATED,
            [(LOCATION, format!("/items/{}", item.name))],
            Json(item),
        )
    }

    #[depends]
    async fn logout() -> (StatusCode, [(HeaderName, &'static str); 2]) {
        (
            StatusCode::SEE_OTHER,
            [(LOCATION, "/"), (SET_COOKIE, "session=; Max-Age=0; Path=/")],
        )
    }

    // Bad JSON: `JsonConfig::error_handler`

    #[depends]
    async fn create_strict(body: Bytes) -> Result<Json<Item>, HttpError> {
        serde_json::from_slice(&body)
            .map(Json)
            .map_err(|e| HttpError::bad_request(format!("bad item: {e}")))
    }

    // Error pages

    #[depends]
    async fn not_found(Path(rest): Path<String>) -> (StatusCode, Html<String>) {
        (
            StatusCode::NOT_FOUND,
            Html(format!("<h1>No page at /{rest}</h1>")),
        )
    }

    // Streaming with the connection still open

    struct Conn {
        rows: Vec<String>,
    }

    #[depends]
    async fn conn(y: Yield<Conn>) {
        let (_conn, outcome) = y
            .provide(Conn {
                rows: vec!["a\n".into(), "b\n".into()],
            })
            .await;
        log(format!("connection released: {outcome}")); // after the last byte
    }

    #[depends]
    async fn export(
        #[dep(conn)] conn: Held<Conn>,
    ) -> StreamBody<impl Stream<Item = Result<String, Infallible>> + Send> {
        StreamBody::new(Held::stream(conn, |conn: &Conn| {
            stream::iter(&conn.rows).map(|row| Ok(row.clone())).boxed()
        }))
    }

    #[derive(Deserialize)]
    struct Note {
        #[allow(dead_code, reason = "read for its 422")]
        title: String,
    }

    #[depends]
    async fn guarded(#[dep(user)] _user: &User, Json(_note): Json<Note>) -> StatusCode {
        StatusCode::CREATED
    }

    #[depends]
    async fn bearer_first(_bearer: di_runtime::HttpBearer, Json(_note): Json<Note>) -> StatusCode {
        StatusCode::CREATED
    }

    #[tokio::test]
    async fn missing_credentials_are_a_401_before_the_bodys_422() {
        let client = TestClient::start(
            App::new()
                .post("/guarded", guarded)
                .post("/bearer", bearer_first),
        )
        .await
        .expect("the app starts");
        // A guard runs after every input was read: the body's 422 comes first.
        let response = client
            .post("/guarded")
            .json(&serde_json::json!({}))
            .send()
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // Credentials read as an input: their 401, with its header.
        let response = client
            .post("/bearer")
            .json(&serde_json::json!({}))
            .send()
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
        // Unless the body is not JSON at all.
        let response = client
            .post("/bearer")
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    fn service() -> App {
        App::new()
            .post("/login", login)
            .get("/me", me)
            .post("/logout", logout)
            .post("/items", create)
            .post("/strict", create_strict)
            .get("/export", export)
            .get("/{*rest}", not_found)
    }

    #[tokio::test]
    async fn the_ported_service_answers_as_the_guide_says() -> Result<(), di_runtime::BoxError> {
        let _serial = serial().await;
        let app = service();
        // Tests
        let client = TestClient::start(app).await?;
        let response = client
            .post("/login")
            .form([("user", "ada"), ("password", "secret")])
            .send()
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.header("set-cookie"),
            Some("session=ada; HttpOnly; Path=/")
        );
        let response = client
            .get("/me")
            .header("cookie", "session=ada")
            .send()
            .await;
        assert_eq!(response.text().await?, "ada");

        assert_eq!(
            response_of(&client, client.get("/me")).await,
            (401, r#"{"detail":"not signed in"}"#.into())
        );
        let response = client.post("/logout").send().await;
        assert_eq!(
            (response.status(), response.header("location")),
            (StatusCode::SEE_OTHER, Some("/"))
        );
        let response = client
            .post("/items")
            .json(&serde_json::json!({"name": "pen"}))
            .send()
            .await;
        assert_eq!(
            (response.status(), response.header("location")),
            (StatusCode::CREATED, Some("/items/pen"))
        );
        let response = client.post("/strict").body("{").send().await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(
            response
                .text()
                .await?
                .starts_with(r#"{"detail":"bad item: "#)
        );

        // Error pages: the catch-all, not at `/`, and 405 for another method.
        let app = App::new().get("/{*rest}", not_found);
        assert!(app.check().is_ok());
        let response = client.get("/nowhere/deep").send().await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.text().await?, "<h1>No page at /nowhere/deep</h1>");
        assert_eq!(
            response_of(&client, client.get("/")).await,
            (404, r#"{"detail":"Not Found"}"#.into())
        );
        assert_eq!(
            client.delete("/nowhere").send().await.status(),
            StatusCode::METHOD_NOT_ALLOWED
        );

        // The connection is released after the last byte of the export.
        let response = client.get("/export").send().await;
        assert_eq!(response.text().await?, "a\nb\n");
        wait_for("connection released: success (200)").await;
        assert_eq!(events(), ["connection released: success (200)"]);
        Ok(())
    }

    async fn response_of(
        _client: &TestClient,
        request: di_runtime::TestRequest<'_>,
    ) -> (u16, String) {
        let response = request.send().await;
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    }
}
