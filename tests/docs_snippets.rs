//! The code blocks of README.md and docs/*.md that rustdoc does not compile, compiled here as
//! they are written, so that a reader who copies one gets code that builds against today's
//! API. Each block is a region of this file between `// doc: FILE` and `// doc end` (the
//! markers are not part of the block); the code around a region is what the block leaves to
//! the reader (the handlers it names, the `app` it tests). The modules are not formatted, so
//! that a region stays the block as the reader sees it.
//!
//! `every_block_is_compiled_here_or_says_why_not` checks the files: a ```rust block of
//! docs/*.md (other than docs/testing.md, checked by tests/testing_guide.rs), a
//! ```rust,ignore block of README.md (a fragment, which a doctest cannot be) and a ```ignore
//! example of di-runtime's rustdoc must each be a region here; a ```rust,ignore block of
//! docs/*.md must follow an HTML comment `<!-- not compiled: WHY -->` (a body elided with
//! `{ .. }`), and each region here is quoted by its file.

use std::path::{Path as FsPath, PathBuf};

// ------------------------------------------------------------------------ README.md

#[rustfmt::skip]
mod readme {
    use std::time::Duration;

    use di_runtime::OpenApiConfig;
    use di_runtime::prelude::*;
    use tower_http::compression::CompressionLayer;
    use tower_http::cors::CorsLayer;
    use tower_http::timeout::TimeoutLayer;
    use tower_http::trace::TraceLayer;

    #[depends]
    async fn list_notes() -> Json<Vec<String>> {
        Json(Vec::new())
    }

    #[depends]
    async fn export() -> &'static str {
        "export"
    }

    #[depends]
    async fn report() -> &'static str {
        "report"
    }

    fn documented() -> App {
        // doc: README.md
        App::new()
            .get("/notes", list_notes)
            .with_openapi(OpenApiConfig::new("Notes", "0.1.0"))   // GET /openapi.json, GET /docs
        // doc end
    }

    fn layered() -> App {
        // doc: README.md
        App::new()
            .get("/export", export)
            .nest(Group::new("").layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(5))).get("/report", report))
            .layer(CompressionLayer::new())
            .layer(CorsLayer::permissive())
            .layer(TraceLayer::new_for_http())
        // doc end
    }

    #[tokio::test]
    async fn the_readmes_fragments_make_apps_that_serve() {
        let client = TestClient::start(documented()).await.expect("the app starts");
        assert_eq!(client.get("/openapi.json").send().await.status(), StatusCode::OK);
        assert_eq!(client.get("/docs").send().await.status(), StatusCode::OK);
        let client = TestClient::start(layered()).await.expect("the app starts");
        let response = client.get("/report").send().await;
        assert_eq!(response.text().await.expect("text"), "report");
    }
}

// ---------------------------------------------------------------------- docs/axum.md

#[rustfmt::skip]
mod axum_md {
    use axum::routing::get;
    use di_runtime::BoxError;
    use di_runtime::prelude::*;

    #[depends]
    async fn export() -> &'static str {
        "export"
    }

    #[depends]
    async fn note(Path(id): Path<u32>) -> String {
        format!("note {id}")
    }

    #[depends]
    async fn hello() -> &'static str {
        "hello"
    }

    async fn health() -> &'static str {
        "ok"
    }

    /// Compiled, not run: it serves until the server stops.
    #[allow(dead_code, reason = "the block serves forever; it is compiled only")]
    async fn a_di_app_inside_an_axum_router(listener: tokio::net::TcpListener) -> Result<(), BoxError> {
        // doc: docs/axum.md
        use di_runtime::prelude::*;

        let running = App::new()
            .get("/export", export)          // a StreamBody over a `request`-scoped connection
            .get("/notes/{id}", note)
            .start()
            .await?;                          // checks every graph, sets up `app` scope

        let router = axum::Router::new()
            .route("/health", get(health))    // the axum routes you already have
            .nest_service("/v2", running.service())          // every `di` route under /v2
            .route_service("/notes/{id}", running.service()); // or one `di` handler on one axum route

        axum::serve(listener, router).await?;
        running.shutdown().await;             // `app`-scope teardown, after the server stopped
        // doc end
        Ok(())
    }

    async fn old() -> &'static str {
        "old"
    }

    #[tokio::test]
    async fn an_axum_router_inside_a_di_app() {
        let legacy_router = axum::Router::new().route("/users", get(health));
        let old_router = axum::Router::new().fallback(old);
        // doc: docs/axum.md
        let app = App::new()
            .get("/hello", hello)
            .nest_service("/legacy", legacy_router)   // /legacy/users reaches it as /users
            .fallback_service(old_router);            // every path no route (or mount) has
        // doc end
        let client = TestClient::start(app).await.expect("the app starts");
        for (path, answer) in [("/hello", "hello"), ("/legacy/users", "ok"), ("/elsewhere", "old")] {
            let response = client.get(path).send().await;
            assert_eq!(response.text().await.expect("text"), answer, "{path}");
        }
    }

    // An axum middleware in `AxumLayer` (di-runtime/src/app/axum.rs: axum is not a
    // dependency of di-runtime's doctests).
    #[tokio::test]
    async fn an_axum_middleware_as_a_layer_of_the_app() {
        // doc: di-runtime/src/app/axum.rs
        use axum::{extract::Request, middleware::{from_fn, Next}, response::Response};
        use di_runtime::AxumLayer;

        async fn stamp(request: Request, next: Next) -> Response {
            let mut response = next.run(request).await;
            response.headers_mut().insert("x-stamp", "1".parse().unwrap());
            response
        }

        let app = App::new().get("/", hello).layer(AxumLayer(from_fn(stamp)));
        // doc end
        let client = TestClient::start(app).await.expect("the app starts");
        let response = client.get("/").send().await;
        assert_eq!(response.header("x-stamp"), Some("1"));
        assert_eq!(response.text().await.expect("text"), "hello");
    }
}

// -------------------------------------------------------------- docs/actix-rocket.md

#[rustfmt::skip]
mod actix_rocket_md {
    #![allow(dead_code, reason = "the guide's handlers are compiled; tests/walk_actix_rocket.rs runs them")]

    // doc: docs/actix-rocket.md
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicU64, Ordering};

    use di_runtime::http::header::{LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
    use di_runtime::http::{HeaderName, HeaderValue};
    use di_runtime::prelude::*;
    use futures_util::{Stream, StreamExt, stream};
    use serde::{Deserialize, Serialize};
    // doc end

    #[test]
    fn state() {
        // doc: docs/actix-rocket.md
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

        let app = App::new().get("/hello/{id}/{name}", greet).provide(
            state,
            AppState {
                greeting: "hi".into(),
                hits: AtomicU64::new(0),
            },
        );
        // doc end
        app.check().expect("the app plans");
    }

    #[test]
    fn guards() {
        // doc: docs/actix-rocket.md
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

        let app = App::new().nest(
            Group::new("/admin")
                .dependency(user)
                .get("/stats", admin_stats),
        );
        // doc end
        app.check().expect("the app plans");
    }

    // doc: docs/actix-rocket.md
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
    // doc end

    // doc: docs/actix-rocket.md
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
    // doc end

    // doc: docs/actix-rocket.md
    #[depends]
    async fn create_strict(body: Bytes) -> Result<Json<Item>, HttpError> {
        serde_json::from_slice(&body)
            .map(Json)
            .map_err(|e| HttpError::bad_request(format!("bad item: {e}")))
    }
    // doc end

    #[test]
    fn error_pages() {
        // doc: docs/actix-rocket.md
        #[depends]
        async fn not_found(Path(rest): Path<String>) -> (StatusCode, Html<String>) {
            (
                StatusCode::NOT_FOUND,
                Html(format!("<h1>No page at /{rest}</h1>")),
            )
        }

        let app = App::new().get("/{*rest}", not_found);
        // doc end
        app.check().expect("the app plans");
    }

    // doc: docs/actix-rocket.md
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
        println!("connection released: {outcome}"); // after the last byte
    }

    #[depends]
    async fn export(
        #[dep(conn)] conn: Held<Conn>,
    ) -> StreamBody<impl Stream<Item = Result<String, Infallible>> + Send> {
        StreamBody::new(Held::stream(conn, |conn: &Conn| {
            stream::iter(&conn.rows).map(|row| Ok(row.clone())).boxed()
        }))
    }
    // doc end

    #[tokio::test]
    async fn tests() -> Result<(), di_runtime::BoxError> {
        let app = App::new()
            .post("/login", login)
            .get("/me", me)
            .post("/logout", logout)
            .post("/items", create)
            .post("/strict", create_strict)
            .get("/export", export);
        // doc: docs/actix-rocket.md
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
        // doc end
        Ok(())
    }
}

// ----------------------------------------------------------------- docs/libraries.md

#[rustfmt::skip]
mod libraries_md {
    #![allow(unreachable_pub, reason = "the block is a library's public item")]

    // The library's own name for the runtime (tests/walk-lib re-exports it).
    use di_walk_lib::mydi;

    #[derive(Default)]
    pub struct Store {
        pub notes: Vec<String>,
    }

    // doc: docs/libraries.md
    use mydi::prelude::*;

    #[depends(scope = "app", crate = "mydi")]
    pub async fn store() -> Store { Store::default() }
    // doc end

    #[depends(crate = "mydi")]
    async fn handler(#[dep(store)] store: &Store) -> String {
        format!("{} notes", store.notes.len())
    }

    #[test]
    fn a_dependency_under_the_runtimes_other_name() {
        App::new().get("/", handler).check().expect("the app plans");
    }
}

// ------------------------------------------------------------------- docs/openapi.md

#[rustfmt::skip]
mod openapi_md {
    use di_runtime::prelude::*;
    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_json::json;

    #[depends]
    async fn list_notes() -> Json<Vec<String>> {
        Json(Vec::new())
    }

    fn app() -> App {
        // doc: docs/openapi.md
        use di_runtime::OpenApiConfig;

        App::new()
            .get("/notes", list_notes)
            // GET /openapi.json (the document) and GET /docs (Swagger UI)
            .with_openapi(OpenApiConfig::new("Notes", "0.1.0"))
        // doc end
    }

    // doc: docs/openapi.md
    #[derive(Deserialize, JsonSchema)]
    #[schemars(example = json!({ "title": "Groceries", "body": "milk, eggs" }))]
    struct NewNote { title: String, body: String }

    #[derive(Deserialize, JsonSchema)]
    struct Search {
        #[schemars(example = &"milk")]
        q: String,
    }
    // doc end

    #[depends]
    async fn create(Json(note): Json<NewNote>) -> String {
        format!("{} {}", note.title, note.body)
    }

    #[depends]
    async fn search(Query(search): Query<Search>) -> String {
        search.q
    }

    #[tokio::test]
    async fn the_document_is_served_with_its_examples() {
        let client = TestClient::start(app()).await.expect("the app starts");
        assert_eq!(client.get("/openapi.json").send().await.status(), StatusCode::OK);
        assert_eq!(client.get("/docs").send().await.status(), StatusCode::OK);
        let document: serde_json::Value = serde_json::from_str(
            &App::new()
                .post("/notes", create)
                .get("/search", search)
                .openapi()
                .expect("the document")
                .to_json(),
        )
        .expect("JSON");
        // A type's example is its schema's; a query field's is also its parameter's.
        assert_eq!(
            document["components"]["schemas"]["NewNote"]["examples"][0]["title"],
            "Groceries"
        );
        assert_eq!(document["paths"]["/search"]["get"]["parameters"][0]["example"], "milk");
    }
}

/// A fenced block of a Markdown text: its opening fence (trimmed), the line before the fence
/// that is not blank, and its lines.
struct Block {
    fence: String,
    before: String,
    lines: Vec<String>,
}

/// The fenced blocks of `text`, fences indented or not (a block in a list item).
fn blocks(text: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut before = String::new();
    let mut current: Option<Block> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        match current.as_mut() {
            None if trimmed.starts_with("```") => {
                current = Some(Block {
                    fence: trimmed.to_owned(),
                    before: before.clone(),
                    lines: Vec::new(),
                });
            }
            None => {
                if !trimmed.is_empty() {
                    before = trimmed.to_owned();
                }
            }
            Some(_) if trimmed == "```" => {
                found.extend(current.take());
                before.clear();
            }
            Some(block) => block.lines.push(line.to_owned()),
        }
    }
    assert!(current.is_none(), "a block is not closed");
    found
}

/// The text of rustdoc comments (`///`, `//!`) of a source file, one line each.
fn doc_comments(source: &str) -> String {
    let mut text = String::new();
    for line in source.lines() {
        let line = line.trim_start();
        if let Some(doc) = line
            .strip_prefix("///")
            .or_else(|| line.strip_prefix("//!"))
        {
            text.push_str(doc.strip_prefix(' ').unwrap_or(doc));
            text.push('\n');
        }
    }
    text
}

/// Lines as compared: indentation and blank lines do not count.
fn normalized<S: AsRef<str>>(lines: &[S]) -> String {
    lines
        .iter()
        .map(|line| line.as_ref().trim())
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The regions of this file: the file each quotes, and its lines.
fn regions() -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in include_str!("docs_snippets.rs").lines() {
        let trimmed = line.trim();
        if let Some(file) = trimmed.strip_prefix("// doc: ") {
            assert!(current.is_none(), "a region opens inside another: {file}");
            current = Some((file.to_owned(), Vec::new()));
        } else if trimmed == "// doc end" {
            let (file, lines) = current.take().expect("a region ends that did not open");
            found.push((file, normalized(&lines)));
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line);
        }
    }
    assert!(current.is_none(), "a region is not closed");
    found
}

fn workspace() -> PathBuf {
    FsPath::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_owned()
}

fn rust_sources(dir: &FsPath, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_sources(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_block_is_compiled_here_or_says_why_not() {
    let root = workspace();
    let regions = regions();
    let mut quoted = vec![false; regions.len()];
    let mut problems = Vec::new();
    let mut compiled_here = |file: &str, block: &Block| -> bool {
        let text = normalized(&block.lines);
        match regions
            .iter()
            .position(|(region_file, region)| region_file == file && *region == text)
        {
            Some(at) => {
                quoted[at] = true;
                true
            }
            None => false,
        }
    };

    for doc in [
        "axum",
        "actix-rocket",
        "libraries",
        "openapi",
        "fastapi",
        "architecture",
    ] {
        let file = format!("docs/{doc}.md");
        let text = std::fs::read_to_string(root.join(&file)).expect("the doc");
        for block in blocks(&text) {
            let first = block.lines.first().map_or("", |line| line.trim());
            match block.fence.as_str() {
                "```rust" if !compiled_here(&file, &block) => problems.push(format!(
                    "{file}: this ```rust block is not a region of tests/docs_snippets.rs \
                     (copy it there, or fix it): {first}"
                )),
                "```rust,ignore" if !block.before.starts_with("<!-- not compiled: ") => {
                    problems.push(format!(
                        "{file}: this ```rust,ignore block says not why (an HTML comment \
                         `<!-- not compiled: WHY -->` before it), or compile it here: {first}"
                    ));
                }
                "```rust" | "```rust,ignore" => {}
                fence if fence.starts_with("```rust") => {
                    problems.push(format!(
                        "{file}: a block is ```rust or ```rust,ignore: {fence}"
                    ));
                }
                _ => {}
            }
        }
    }

    let readme = std::fs::read_to_string(root.join("README.md")).expect("the README");
    for block in blocks(&readme) {
        if block.fence == "```rust,ignore" && !compiled_here("README.md", &block) {
            let first = block.lines.first().map_or("", |line| line.trim());
            problems.push(format!(
                "README.md: this ```rust,ignore block is not a region of tests/docs_snippets.rs: {first}"
            ));
        }
    }

    let mut sources = Vec::new();
    rust_sources(&root.join("di-runtime/src"), &mut sources);
    for path in sources {
        let file = path
            .strip_prefix(&root)
            .expect("in the workspace")
            .to_string_lossy()
            .replace('\\', "/");
        let source = std::fs::read_to_string(&path).expect("the source");
        for block in blocks(&doc_comments(&source)) {
            if block.fence == "```ignore" && !compiled_here(&file, &block) {
                let first = block.lines.first().map_or("", |line| line.trim());
                problems.push(format!(
                    "{file}: this ```ignore example is not a region of tests/docs_snippets.rs: {first}"
                ));
            }
        }
    }

    for ((file, region), quoted) in regions.iter().zip(&quoted) {
        if !quoted {
            let first = region.lines().next().unwrap_or("");
            problems.push(format!(
                "a region of {file} here is not a block of it: {first}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
