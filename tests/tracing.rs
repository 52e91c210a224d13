//! The trace tree of a request: one `request` span (method, route, status, request id), with
//! one `setup` span per dependency set up and one `teardown` span per teardown as its
//! children, the `request`-scope teardowns that run after the body included, whether they run
//! in a background task (the test client) or in the connection's own task (a served HTTP/1
//! connection). Read back through a small `tracing_subscriber::Layer` that records every span,
//! its fields and its parent.

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use di_runtime::prelude::*;
use futures_util::stream;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

// ---------------------------------------------------------------- the recording layer

/// A span as the layer saw it.
#[derive(Clone, Debug)]
struct SpanRec {
    name: &'static str,
    target: String,
    /// The index of its parent in [`Seen::spans`].
    parent: Option<usize>,
    fields: BTreeMap<String, String>,
    /// When it was made, and when it closed, on the layer's clock (one tick per span made,
    /// event or close).
    opened: usize,
    closed: Option<usize>,
}

/// An event as the layer saw it.
#[derive(Clone, Debug)]
struct EventRec {
    message: String,
    fields: BTreeMap<String, String>,
    /// The index of the span it happened in.
    span: Option<usize>,
    at: usize,
}

#[derive(Default, Debug)]
struct Seen {
    spans: Vec<SpanRec>,
    events: Vec<EventRec>,
    clock: usize,
}

impl Seen {
    fn tick(&mut self) -> usize {
        self.clock += 1;
        self.clock
    }
}

/// The index of a span in [`Seen::spans`], kept in the registry's span extensions.
struct Index(usize);

/// Records every span (name, fields, parent, when it opened and closed) and event.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Seen>>);

impl Recorder {
    fn seen(&self) -> MutexGuard<'_, Seen> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The spans of target `di`.
    fn di_spans(&self) -> Vec<(usize, SpanRec)> {
        let seen = self.seen();
        seen.spans
            .iter()
            .cloned()
            .enumerate()
            .filter(|(_, span)| span.target == "di")
            .collect()
    }

    /// The one `request` span of the request whose id is `request_id`.
    fn request(&self, request_id: &str) -> (usize, SpanRec) {
        let found: Vec<_> = self
            .di_spans()
            .into_iter()
            .filter(|(_, s)| s.name == "request" && field(s, "request_id") == request_id)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one request span for {request_id}: {found:#?}"
        );
        found[0].clone()
    }

    /// The children of span `parent`, in the order they were made.
    fn children(&self, parent: usize) -> Vec<SpanRec> {
        let seen = self.seen();
        seen.spans
            .iter()
            .filter(|span| span.parent == Some(parent))
            .cloned()
            .collect()
    }

    /// The events saying `message` for the request `request_id` (a field of the event).
    fn events(&self, message: &str, request_id: &str) -> Vec<EventRec> {
        let seen = self.seen();
        let found: Vec<_> = seen
            .events
            .iter()
            .filter(|e| {
                e.message == message
                    && e.fields.get("request_id").map(String::as_str) == Some(request_id)
            })
            .cloned()
            .collect();
        assert!(
            !found.is_empty(),
            "no `{message}` event of {request_id} in {:#?}",
            seen.events
        );
        found
    }
}

/// Collects the fields of a span or an event as text.
struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S> Layer<S> for Recorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = span
            .parent()
            .and_then(|parent| parent.extensions().get::<Index>().map(|i| i.0));
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut seen = self.seen();
        let opened = seen.tick();
        let index = seen.spans.len();
        seen.spans.push(SpanRec {
            name: attrs.metadata().name(),
            target: attrs.metadata().target().to_owned(),
            parent,
            fields,
            opened,
            closed: None,
        });
        drop(seen);
        span.extensions_mut().insert(Index(index));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some(index) = span.extensions().get::<Index>().map(|i| i.0) else {
            return;
        };
        values.record(&mut Fields(&mut self.seen().spans[index].fields));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let span = ctx
            .event_span(event)
            .and_then(|span| span.extensions().get::<Index>().map(|i| i.0));
        let mut seen = self.seen();
        let at = seen.tick();
        let message = fields.remove("message").unwrap_or_default();
        seen.events.push(EventRec {
            message,
            fields,
            span,
            at,
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(index) = span.extensions().get::<Index>().map(|i| i.0) else {
            return;
        };
        let mut seen = self.seen();
        let at = seen.tick();
        seen.spans[index].closed = Some(at);
    }
}

/// A field of `span`, or "" if it has none.
fn field<'a>(span: &'a SpanRec, name: &str) -> &'a str {
    span.fields.get(name).map_or("", String::as_str)
}

/// A recorder set as this thread's subscriber (each test's runtime is single-threaded, so
/// everything the app does runs here and other tests are not seen). Take `common::serial`
/// first: `tracing` caches whether a callsite is enabled for every thread at once, and while
/// one test's thread sets its subscriber, another's can register a callsite (one of the app's
/// `info!` lines) with what the subscribers alive at that instant say, and have it cached as
/// off for the whole process. The test that then logs there sees nothing: about once in a
/// thousand runs, `no_span_when_the_level_is_off` missed its "conn: closed", logged on its own
/// thread under its own subscriber. One test at a time, each computing the interest again once
/// its subscriber is set, sees every line.
fn record() -> (Recorder, tracing::subscriber::DefaultGuard) {
    let recorder = Recorder::default();
    let guard = tracing_subscriber::registry()
        .with(recorder.clone())
        .set_default();
    tracing::callsite::rebuild_interest_cache();
    (recorder, guard)
}

// ---------------------------------------------------------------- the app

struct Pool;

#[depends(scope = "app")]
async fn pool(y: Yield<Pool>) {
    let _ = y.provide(Pool).await;
}

struct Tx;

#[depends(scope = "handler")]
async fn tx(id: RequestId, y: Yield<Tx>) {
    let (_tx, _outcome) = y.provide(Tx).await;
    tracing::info!(request_id = %id, "tx: closed");
}

struct Conn(&'static str);

#[depends]
async fn conn(id: RequestId, y: Yield<Conn>) {
    tracing::info!(request_id = %id, "conn: opened");
    let (_conn, _outcome) = y.provide(Conn("row")).await;
    tracing::info!(request_id = %id, "conn: closed");
}

/// Streams `n` lines read through the `request`-scoped connection.
#[depends]
async fn export(
    Path(n): Path<u32>,
    id: RequestId,
    #[dep(pool)] _pool: &Pool,
    #[dep(tx)] _tx: &mut Tx,
    #[dep(conn)] conn: Held<Conn>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, Infallible>> + Send + 'static> {
    let lines = stream::unfold((conn, 0), move |(conn, i)| {
        let id = id.clone();
        async move {
            if i == n {
                return None;
            }
            tracing::info!(request_id = %id, "line sent");
            Some((Ok(format!("{} {i}\n", conn.0)), (conn, i + 1)))
        }
    });
    StreamBody::new(lines)
}

#[depends]
async fn conflict(#[dep(tx)] _tx: &mut Tx) -> Result<&'static str, HttpError> {
    Err(HttpError::new(StatusCode::CONFLICT, "taken"))
}

/// A teardown that fails.
#[depends(scope = "handler")]
async fn flaky(y: Yield<u8>) -> Result<(), HttpError> {
    let _ = y.provide(1).await;
    Err(HttpError::internal())
}

#[depends]
async fn broken(#[dep(flaky)] _f: &u8) -> &'static str {
    "fine until teardown"
}

fn app() -> App {
    App::new()
        .get("/export/{n}", export)
        .get("/conflict", conflict)
        .get("/broken", broken)
}

// ---------------------------------------------------------------- the tree

/// The tree of the request `request_id` to `/export/3`: the root span, then its children.
fn assert_export_tree(recorder: &Recorder, request_id: &str) {
    let (index, request) = recorder.request(request_id);
    assert_eq!(
        request.parent, None,
        "the request span is a root: {request:#?}"
    );
    assert_eq!(field(&request, "method"), "GET");
    assert_eq!(
        field(&request, "route"),
        "/export/{n}",
        "the pattern, not /export/3"
    );
    assert_eq!(field(&request, "status"), "200");
    assert_eq!(field(&request, "handler"), "export");

    let children = recorder.children(index);
    let shape: Vec<(&str, &str, &str)> = children
        .iter()
        .map(|s| (s.name, field(s, "dependency"), field(s, "scope")))
        .collect();
    // The `app`-scoped pool was set up once at start: no span of this request.
    assert_eq!(
        shape,
        [
            ("setup", "tx", "handler"),
            ("setup", "conn", "request"),
            ("teardown", "tx", "handler"),
            ("teardown", "conn", "request"),
        ],
        "{children:#?}"
    );
    for setup in &children[..2] {
        assert_eq!(field(setup, "outcome"), "ok", "{setup:#?}");
    }
    for teardown in &children[2..] {
        assert_eq!(field(teardown, "outcome"), "success (200)", "{teardown:#?}");
        assert_eq!(field(teardown, "result"), "ok", "{teardown:#?}");
    }
    for span in &children {
        let duration: f64 = field(span, "duration_ms").parse().unwrap_or(-1.0);
        assert!(duration >= 0.0, "a duration: {span:#?}");
        let closed = span.closed.expect("every child span is closed");
        assert!(span.opened < closed);
        // A child lives within its parent.
        assert!(request.opened < span.opened, "{span:#?}");
        assert!(closed < request.closed.expect("the request span is closed"));
    }
    let (tx_down, conn_down) = (&children[2], &children[3]);
    let lines = recorder.events("line sent", request_id);
    assert_eq!(lines.len(), 3);
    // `handler` scope: torn down (its span closed) before the first line went out.
    assert!(tx_down.closed.unwrap() < lines[0].at);
    // `request` scope: torn down after the last line was sent, still in the request's tree.
    assert!(conn_down.opened > lines[2].at);
    // What a dependency logs is in its own setup or teardown span.
    let in_span = |message: &str| {
        let events = recorder.events(message, request_id);
        assert_eq!(events.len(), 1, "{events:#?}");
        let span = events[0].span.expect("logged in a span");
        let seen = recorder.seen();
        let span = &seen.spans[span];
        (span.name, field(span, "dependency").to_owned(), span.parent)
    };
    let conn = "conn".to_owned();
    assert_eq!(
        in_span("conn: opened"),
        ("setup", conn.clone(), Some(index))
    );
    assert_eq!(in_span("conn: closed"), ("teardown", conn, Some(index)));
    assert_eq!(
        in_span("tx: closed"),
        ("teardown", "tx".to_owned(), Some(index))
    );
}

#[tokio::test]
async fn setups_and_teardowns_are_children_of_the_request_span() {
    let _serial = common::serial().await;
    let (recorder, _guard) = record();
    let client = TestClient::start(app()).await.unwrap();
    let response = client
        .get("/export/3")
        .header("x-request-id", "trace-1")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "row 0\nrow 1\nrow 2\n");
    client.settle().await;
    assert_export_tree(&recorder, "trace-1");
    client.shutdown().await;
}

#[tokio::test]
async fn the_app_scope_has_its_own_root_spans() {
    let _serial = common::serial().await;
    let (recorder, _guard) = record();
    let client = TestClient::start(app()).await.unwrap();
    client.shutdown().await;
    let app_spans: Vec<_> = recorder
        .di_spans()
        .into_iter()
        .map(|(_, span)| span)
        .filter(|span| field(span, "dependency") == "pool")
        .collect();
    let shape: Vec<_> = app_spans
        .iter()
        .map(|s| (s.name, field(s, "scope"), s.parent))
        .collect();
    assert_eq!(
        shape,
        [("setup", "app", None), ("teardown", "app", None)],
        "{app_spans:#?}"
    );
    assert_eq!(field(&app_spans[1], "outcome"), "app stopped");
    assert_eq!(field(&app_spans[1], "result"), "ok");
}

#[tokio::test]
async fn over_tcp_the_request_scope_teardown_is_still_a_child_of_the_request_span() {
    let _serial = common::serial().await;
    let (recorder, _guard) = record();
    let server = app().bind("127.0.0.1:0").await.unwrap();
    let stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    let connection = tokio::spawn(connection);
    // Two requests on one connection: the first one's `request` teardown runs in the
    // connection's task, around the second.
    for id in ["tcp-1", "tcp-2"] {
        let request = http::Request::get("/export/3")
            .header("host", "test")
            .header("x-request-id", id)
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "row 0\nrow 1\nrow 2\n");
    }
    server.settle().await;
    for id in ["tcp-1", "tcp-2"] {
        let (index, _) = recorder.request(id);
        let children = recorder.children(index);
        let conn_down = children
            .iter()
            .find(|s| s.name == "teardown" && field(s, "dependency") == "conn")
            .unwrap_or_else(|| panic!("no conn teardown under {id}: {children:#?}"));
        assert_eq!(field(conn_down, "outcome"), "success (200)");
        assert_eq!(field(conn_down, "result"), "ok");
        assert_eq!(children.len(), 4, "{children:#?}");
    }
    drop(sender);
    let _ = connection.await;
    server.shutdown().await;
    assert_export_tree(&recorder, "tcp-1");
    assert_export_tree(&recorder, "tcp-2");
}

#[tokio::test]
async fn failures_are_in_the_tree() {
    let _serial = common::serial().await;
    let (recorder, _guard) = record();
    let client = TestClient::start(app()).await.unwrap();

    let response = client
        .get("/conflict")
        .header("x-request-id", "conflict")
        .send()
        .await;
    assert_eq!(response.status(), 409);
    client.settle().await;
    let (index, request) = recorder.request("conflict");
    assert_eq!(field(&request, "route"), "/conflict");
    assert_eq!(field(&request, "status"), "409");
    let children = recorder.children(index);
    let teardown = children.iter().find(|s| s.name == "teardown").unwrap();
    assert_eq!(field(teardown, "outcome"), "handler error (409)");
    assert_eq!(field(teardown, "result"), "ok");

    // A failed teardown replaces the response: the status recorded is the one sent.
    let response = client
        .get("/broken")
        .header("x-request-id", "broken")
        .send()
        .await;
    assert_eq!(response.status(), 500);
    client.settle().await;
    let (index, request) = recorder.request("broken");
    assert_eq!(field(&request, "status"), "500");
    let children = recorder.children(index);
    let teardown = children.iter().find(|s| s.name == "teardown").unwrap();
    assert_eq!(field(teardown, "dependency"), "flaky");
    assert_eq!(field(teardown, "result"), "failed");
    client.shutdown().await;
}

/// With `di` off (the usual levels), the runtime makes no span at all.
#[tokio::test]
async fn no_span_when_the_level_is_off() {
    let _serial = common::serial().await;
    let recorder = Recorder::default();
    let _guard = tracing_subscriber::registry()
        .with(
            recorder
                .clone()
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
        )
        .set_default();
    // See `record`.
    tracing::callsite::rebuild_interest_cache();
    let client = TestClient::start(app()).await.unwrap();
    let response = client.get("/export/2").send().await;
    assert_eq!(response.text().await.unwrap(), "row 0\nrow 1\n");
    client.settle().await;
    client.shutdown().await;
    assert!(recorder.di_spans().is_empty(), "{:#?}", recorder.di_spans());
    // The dependencies' own INFO events are still seen, in no span of the runtime's.
    let seen = recorder.seen();
    let closed: Vec<_> = seen
        .events
        .iter()
        .filter(|e| e.message == "conn: closed")
        .collect();
    assert_eq!(closed.len(), 1, "{:#?}", seen.events);
    assert_eq!(closed[0].span, None);
}

#[depends]
async fn err_as_text() -> Result<&'static str, String> {
    Err("not found".to_owned())
}

/// A handler's `Err` whose type answers 200 (a `String`) is sent as it is, its teardowns see a
/// handler error, and the runtime warns: the client is told success while a transaction
/// rolls back.
#[tokio::test]
async fn an_error_that_answers_with_a_success_status_is_warned_of() {
    let _serial = common::serial().await;
    let (recorder, _guard) = record();
    let client = TestClient::start(App::new().get("/err", err_as_text))
        .await
        .unwrap();
    let response = client
        .get("/err")
        .header("x-request-id", "err-200")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "not found");
    let request_id = "err-200";
    let warned = recorder.events(
        "the handler returned Err, and its error type answers with a success status: the client sees 200 OK while the teardowns see a handler error (a transaction rolls back); return an error type with an error status, such as HttpError",
        request_id,
    );
    assert_eq!(warned.len(), 1);
    assert_eq!(
        warned[0].fields.get("handler").map(String::as_str),
        Some("err_as_text")
    );
    client.shutdown().await;
}
