//! The examples of docs/testing.md, compiled and run: each ```rust block of the guide is one
//! region of this file between `// guide: NAME` and `// guide end` (the markers are not part of
//! the blocks), and `every_rust_block_of_the_guide_is_in_this_file` checks that the guide
//! quotes them verbatim, so that the guide cannot drift from code that works. (A
//! ```rust,ignore block of the guide is a pattern that needs crates this workspace does not
//! depend on, and is not checked.)

// guide: the-app
use std::sync::{Arc, Mutex};

use di_runtime::prelude::*;
use futures_util::stream;

/// Where notes are kept. In production a database pool; in tests, what the test gives.
#[derive(Clone, Default)]
struct Store {
    notes: Arc<Mutex<Vec<String>>>,
}

impl Store {
    fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap().clone()
    }
}

/// The real store: in production it would connect to `DATABASE_URL`.
#[depends(scope = "app")]
async fn store() -> Result<Store, HttpError> {
    Err(HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no database in this example",
    ))
}

/// A transaction: what the handler writes is committed only if the request succeeded.
struct Tx {
    store: Store,
    pending: Vec<String>,
}

#[depends(scope = "handler")]
async fn tx(#[dep(store)] store: &Store, y: Yield<Tx>) {
    let tx = Tx {
        store: store.clone(),
        pending: Vec::new(),
    };
    let (tx, outcome) = y.provide(tx).await;
    if outcome.is_success() {
        tx.store.notes.lock().unwrap().extend(tx.pending); // commit
    } // else: roll back (drop `pending`)
}

/// A read connection, held until a streamed response has been sent.
struct Reader {
    rows: Vec<String>,
}

#[depends]
async fn reader(#[dep(store)] store: &Store, y: Yield<Reader>) {
    let _ = y
        .provide(Reader {
            rows: store.notes(),
        })
        .await;
}

#[depends]
async fn create_note(
    #[dep(tx)] tx: &mut Tx,
    Json(title): Json<String>,
) -> Result<StatusCode, HttpError> {
    if title.is_empty() {
        return Err(HttpError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty title",
        ));
    }
    tx.pending.push(title);
    Ok(StatusCode::CREATED)
}

#[depends]
async fn list_notes(#[dep(store)] store: &Store) -> Json<Vec<String>> {
    Json(store.notes())
}

/// One note a line, streamed from the `request`-scoped reader.
#[depends]
async fn export_notes(
    #[dep(reader)] reader: Held<Reader>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    let lines = stream::unfold((reader, 0), |(reader, i)| async move {
        let line = format!("{}\n", reader.rows.get(i)?);
        Some((Ok(line), (reader, i + 1)))
    });
    StreamBody::new(lines).content_type("application/x-ndjson")
}

/// The app, built in one place for `main` and for the tests.
fn app() -> App {
    App::new()
        .post("/notes", create_note)
        .get("/notes", list_notes)
        .get("/notes/export", export_notes)
}
// guide end

// guide: first-test
#[tokio::test]
async fn creates_and_lists_notes() {
    let notes = Store::default();
    let client = TestClient::start(app().provide(store, notes.clone()))
        .await
        .unwrap();

    let response = client.post("/notes").json("first").send().await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let response = client.get("/notes").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let listed: Vec<String> = response.json().await.unwrap();
    assert_eq!(listed, ["first"]);
    assert_eq!(notes.notes(), ["first"]); // the test can look into its fake

    client.shutdown().await;
}
// guide end

// guide: start-fails
#[tokio::test]
async fn without_a_store_the_app_does_not_start() {
    let error = TestClient::start(app()).await.unwrap_err();
    assert!(error.to_string().contains("store"), "{error}");
}
// guide end

// guide: requests
#[tokio::test]
async fn requests_headers_and_bodies() {
    let client = TestClient::start(app().provide(store, Store::default()))
        .await
        .unwrap();

    // A raw body and headers; `.request(Method::PATCH, ..)` for any other method.
    let response = client
        .post("/notes")
        .header("content-type", "application/json")
        .header("x-request-id", "test-42")
        .body(r#""from raw bytes""#)
        .send()
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.header("x-request-id"), Some("test-42"));

    // Without one, the app makes a request id: quote it when a test fails on a 500.
    let response = client.get("/notes").send().await;
    let id = response.header("x-request-id").unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

    // Errors are answers like any other: status and body.
    let response = client.post("/notes").json("").send().await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"empty title"}"#
    );

    let response = client.post("/notes").json(&1).send().await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problems: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problems["detail"][0]["type"], "string_type");
    assert_eq!(problems["detail"][0]["loc"], serde_json::json!(["body"]));

    assert_eq!(client.get("/nowhere").send().await.status(), 404);
    client.shutdown().await;
}
// guide end

// guide: streamed
#[tokio::test]
async fn reads_a_streamed_body_chunk_by_chunk() {
    let notes = Store::default();
    notes.notes.lock().unwrap().extend(["a".into(), "b".into()]);
    let client = TestClient::start(app().provide(store, notes))
        .await
        .unwrap();

    let mut response = client.get("/notes/export").send().await;
    assert_eq!(
        response.header("content-type"),
        Some("application/x-ndjson")
    );
    let mut chunks = Vec::new();
    while let Some(chunk) = response.chunk().await {
        chunks.push(chunk.unwrap());
    }
    assert_eq!(chunks, ["a\n", "b\n"]);
    client.shutdown().await;
}
// guide end

// guide: override-scope
/// A plain function that declares no scope: `request`-scoped, a new store per request.
#[depends]
async fn empty_store() -> Store {
    Store::default()
}

/// Declared `app`: one store for the whole app, with a note in it.
#[depends(scope = "app")]
async fn seeded_store() -> Store {
    let store = Store::default();
    store.notes.lock().unwrap().push("seeded".into());
    store
}

#[tokio::test]
async fn an_override_keeps_its_own_scope() {
    let client = TestClient::start(app().override_dep(store, seeded_store))
        .await
        .unwrap();
    client.post("/notes").json("second").send().await;
    let listed: Vec<String> = client.get("/notes").send().await.json().await.unwrap();
    assert_eq!(listed, ["seeded", "second"]);
    client.shutdown().await;

    let client = TestClient::start(app().override_dep(store, empty_store))
        .await
        .unwrap();
    client.post("/notes").json("lost").send().await;
    let listed: Vec<String> = client.get("/notes").send().await.json().await.unwrap();
    assert!(listed.is_empty(), "each request had its own store");
    client.shutdown().await;
}
// guide end

// guide: recording
/// What the teardowns of a test saw, in order.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(&'static str, Outcome)>>>);

impl Seen {
    fn record(&self, name: &'static str, outcome: Outcome) {
        self.0.lock().unwrap().push((name, outcome));
    }
    fn take(&self) -> Vec<(&'static str, Outcome)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Test-only: each test gives its own with `App::provide`, so tests can run in parallel.
#[depends(scope = "app")]
async fn seen() -> Seen {
    Seen::default()
}

/// `tx` as it is, and the outcome its teardown was handed.
#[depends(scope = "handler")]
async fn recording_tx(#[dep(store)] store: &Store, #[dep(seen)] seen: &Seen, y: Yield<Tx>) {
    let tx = Tx {
        store: store.clone(),
        pending: Vec::new(),
    };
    let (tx, outcome) = y.provide(tx).await;
    if outcome.is_success() {
        tx.store.notes.lock().unwrap().extend(tx.pending);
    }
    seen.record("tx", outcome);
}

#[tokio::test]
async fn the_transaction_sees_how_the_request_ended() {
    let seen_here = Seen::default();
    let app = app()
        .provide(store, Store::default())
        .override_dep(tx, recording_tx)
        .provide(seen, seen_here.clone());
    let client = TestClient::start(app).await.unwrap();

    client.post("/notes").json("kept").send().await;
    client.post("/notes").json("").send().await;
    client.post("/notes").json(&1).send().await; // bad input: nothing is set up

    let outcomes = seen_here.take();
    assert_eq!(outcomes.len(), 2);
    assert!(matches!(
        outcomes[0],
        ("tx", Outcome::Success { status }) if status == StatusCode::CREATED
    ));
    assert!(matches!(
        &outcomes[1],
        ("tx", Outcome::HandlerError { status, error: Some(error) })
            if *status == StatusCode::UNPROCESSABLE_ENTITY && error.to_string().contains("empty title")
    ));
    client.shutdown().await;
}
// guide end

// guide: settle
/// `reader` as it is, and the outcome its teardown was handed.
#[depends]
async fn recording_reader(#[dep(store)] store: &Store, #[dep(seen)] seen: &Seen, y: Yield<Reader>) {
    let (_, outcome) = y
        .provide(Reader {
            rows: store.notes(),
        })
        .await;
    seen.record("reader", outcome);
}

#[tokio::test]
async fn the_reader_is_released_after_the_body_or_when_the_client_goes() {
    let notes = Store::default();
    notes.notes.lock().unwrap().extend(["a".into(), "b".into()]);
    let seen_here = Seen::default();
    let app = app()
        .provide(store, notes)
        .override_dep(reader, recording_reader)
        .provide(seen, seen_here.clone());
    let client = TestClient::start(app).await.unwrap();

    // Read the whole body, then wait for the `request`-scope teardown.
    let body = client
        .get("/notes/export")
        .send()
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(body, "a\nb\n");
    client.settle().await;
    let outcomes = seen_here.take();
    assert!(matches!(
        outcomes[..],
        [("reader", Outcome::Success { status })] if status == StatusCode::OK
    ));

    // Read one line and go away: the teardown sees the client gone, never a success.
    let mut response = client.get("/notes/export").send().await;
    assert_eq!(response.chunk().await.unwrap().unwrap(), "a\n");
    drop(response);
    client.settle().await;
    let outcomes = seen_here.take();
    assert!(matches!(
        outcomes[..],
        [("reader", Outcome::Cancelled(CancelReason::ClientGone))]
    ));
    client.shutdown().await;
}
// guide end

// guide: metrics
#[tokio::test]
async fn every_setup_is_torn_down() {
    let client = TestClient::start(app().provide(store, Store::default()))
        .await
        .unwrap();
    client.post("/notes").json("first").send().await;
    client.post("/notes").json("").send().await;
    let body = client
        .get("/notes/export")
        .send()
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(body, "first\n");
    client.settle().await;

    let metrics = client.running().metrics();
    assert_eq!(metrics.responses_with(StatusCode::CREATED), 1);
    assert_eq!(metrics.responses_with(StatusCode::UNPROCESSABLE_ENTITY), 1);
    assert_eq!(metrics.responses_total(), 3);
    assert_eq!(metrics.setups, 3); // `tx` twice, `reader` once
    assert_eq!(metrics.teardowns.total(), metrics.setups);
    assert_eq!(metrics.teardowns.success, 2);
    assert_eq!(metrics.teardowns.handler_error, 1);
    assert_eq!(metrics.teardown_errors + metrics.teardown_panics, 0);
    assert_eq!(metrics.teardowns_in_flight, 0);
    client.shutdown().await;
}
// guide end

// guide: check
/// Declared `request`, but it holds the `handler`-scoped `tx`, which is gone by then.
#[depends(scope = "request")]
async fn audit(#[dep(tx)] _tx: &Tx, y: Yield<()>) {
    let _ = y.provide(()).await;
}

#[depends]
async fn audited(#[dep(audit)] _audit: &()) -> &'static str {
    "audited"
}

#[test]
fn the_app_is_valid() {
    app().check().unwrap();
}

#[test]
fn a_scope_error_is_caught_before_serving() {
    let error = app().get("/audited", audited).check().unwrap_err();
    assert_eq!(error.problems().len(), 1, "{error}");
    assert!(
        error.problems()[0].contains("`audit` is `request`-scoped and cannot depend on `tx`"),
        "{error}"
    );
}
// guide end

// guide: tcp
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn serves_over_tcp() {
    let server = app()
        .provide(store, Store::default())
        .bind("127.0.0.1:0") // any free port
        .await
        .unwrap();

    let mut socket = TcpStream::connect(server.local_addr()).await.unwrap();
    socket
        .write_all(b"GET /notes HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\n[]"), "{response}");

    server.settle().await;
    assert_eq!(server.metrics().responses_with(StatusCode::OK), 1);
    server.shutdown().await; // graceful: in-flight requests finish, then `app` scope
}
// guide end

// guide: shared
use std::sync::OnceLock;

/// A runtime for the shared app, alive as long as the test binary (a static is never
/// dropped): each `#[tokio::test]` has a runtime of its own, which ends with the test.
fn shared_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// The app, started once, on that runtime, by the first test that asks for it.
async fn shared_client() -> &'static TestClient {
    static CLIENT: tokio::sync::OnceCell<TestClient> = tokio::sync::OnceCell::const_new();
    CLIENT
        .get_or_init(|| async {
            let app = app().provide(store, Store::default());
            shared_runtime()
                .spawn(TestClient::start(app))
                .await
                .unwrap()
                .unwrap()
        })
        .await
}

/// Tests that share an app share its state: each looks for what it wrote itself.
async fn writes_and_finds(title: &str) {
    let client = shared_client().await;
    let response = client.post("/notes").json(title).send().await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let listed: Vec<String> = client.get("/notes").send().await.json().await.unwrap();
    assert!(listed.iter().any(|note| note == title), "{listed:?}");
}

#[tokio::test]
async fn one_test_of_the_shared_app() {
    writes_and_finds("one").await;
}

#[tokio::test]
async fn another_test_of_the_shared_app() {
    writes_and_finds("another").await;
}
// guide end

/// Every ```rust block of docs/testing.md, verbatim, is one of the regions above.
#[test]
fn every_rust_block_of_the_guide_is_in_this_file() {
    let guide = include_str!("../docs/testing.md");
    let this = include_str!("testing_guide.rs");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in guide.lines() {
        match current.as_mut() {
            None if line == "```rust" => current = Some(String::new()),
            None => assert!(
                !line.starts_with("```rust") || line == "```rust,ignore",
                "a block of the guide is either ```rust (compiled here) or ```rust,ignore: {line}"
            ),
            Some(block) if line == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(
        current.is_none(),
        "a ```rust block of the guide is not closed"
    );
    for block in &blocks {
        assert!(
            this.contains(block.as_str()),
            "this block of docs/testing.md is not in tests/testing_guide.rs:\n{block}"
        );
    }
    let regions = this.lines().filter(|line| *line == "// guide end").count();
    assert_eq!(
        blocks.len(),
        regions,
        "each region of this file is quoted by the guide"
    );
}
