//! A fresh-eyes review of the runtime's request path (`di-runtime/src/run/`, `contract/`,
//! `plan/`): each test is a defect found by reading the code, shown failing before its fix.

mod common;

use std::convert::Infallible;

use common::{describe, events, log, serial, within};
use di_runtime::prelude::*;
use di_runtime::{Body, InnerService};

// ------------------------------- 1. a commit cut by a layer that answers only after a retry

/// Stands in for a database with one writer (SQLite): a transaction holds it from its
/// `BEGIN` to the end of its `COMMIT`.
static WRITER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Woken when a commit has begun.
static COMMITTING: tokio::sync::Notify = tokio::sync::Notify::const_new();

struct Tx;

#[depends(scope = "handler")]
async fn writer_tx(y: Yield<Tx>) {
    let lock = WRITER.lock().await;
    let (_tx, outcome) = y.provide(Tx).await;
    log(format!("commit:start {}", describe(&outcome)));
    COMMITTING.notify_one();
    // The COMMIT takes a moment (one wait).
    tokio::task::yield_now().await;
    log("commit:end");
    drop(lock);
}

#[depends]
async fn write(#[dep(writer_tx)] _tx: &mut Tx) -> &'static str {
    "written"
}

/// A retry layer: an attempt that has not answered once `given_up` is notified (a commit has
/// begun, its handler runs) is given up, as a per-attempt timeout gives up a slow one, and the
/// request is sent again.
fn retry_when(given_up: &'static tokio::sync::Notify) -> impl di_runtime::TowerLayer {
    tower::layer::layer_fn(move |inner: InnerService| {
        tower::service_fn(move |request: http::Request<Body>| {
            let inner = inner.clone();
            async move {
                let (parts, _) = request.into_parts();
                let again = || {
                    let mut request = http::Request::new(Body::empty());
                    *request.method_mut() = parts.method.clone();
                    *request.uri_mut() = parts.uri.clone();
                    *request.headers_mut() = parts.headers.clone();
                    *request.extensions_mut() = parts.extensions.clone();
                    request
                };
                let first = tower::ServiceExt::oneshot(inner.clone(), again());
                tokio::select! {
                    biased;
                    () = given_up.notified() => {}
                    answered = first => return answered,
                }
                log("retry");
                tower::ServiceExt::oneshot(inner, again()).await
            }
        })
    })
}

/// A layer gave up an attempt while its `handler`-scope teardown was committing, and sent the
/// request again. The commit, already told its outcome, is shielded from the drop: it must
/// go on. It waited instead for the layered request's final answer (the entry point's verdict,
/// which only the rest of the stack needs), while the retry waited for the writer the commit
/// held: the request hung until its timeout.
#[tokio::test]
async fn a_commit_a_layer_gave_up_finishes_before_the_layer_answers() {
    let _s = serial().await;
    let app = App::new().get("/", write).layer(retry_when(&COMMITTING));
    let client = TestClient::start(app).await.unwrap();
    let response = common::guard("the retried request", client.get("/").send()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(within(response.text()).await.unwrap(), "written");
    within(client.settle()).await;
    assert_eq!(
        events(),
        [
            "commit:start success 200",
            "retry",
            "commit:end",
            "commit:start success 200",
            "commit:end",
        ]
    );
    let m = client.running().metrics();
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    within(client.shutdown()).await;
}

// ------------------------------ 2. an attempt a retry layer gave up in its handler, rolled back

/// Woken when a handler is running.
static IN_HANDLER: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// How many times the handler was called.
static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[depends(scope = "handler")]
async fn locking_tx(y: Yield<Tx>) {
    let lock = WRITER.lock().await;
    log("tx:up");
    let (_tx, outcome) = y.provide(Tx).await;
    log(format!("tx:down {}", describe(&outcome)));
    drop(lock);
}

/// Slow the first time (it never answers), quick after.
#[depends]
async fn slow_first(#[dep(locking_tx)] _tx: &mut Tx) -> &'static str {
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    log(format!("handler:{call}"));
    if call == 1 {
        IN_HANDLER.notify_one();
        std::future::pending::<()>().await;
    }
    "written"
}

/// A layer gave up an attempt while its handler ran, and sent the request again. The
/// attempt's `handler`-scope transaction was rolled back only once the layered request had
/// its final answer (the entry point's verdict), while the retry waited for what that
/// transaction held (a database's write lock, a pool's connection, a `max_concurrency`
/// place): the request hung until its timeout; and the rollback was told the client had
/// gone, though the client was there and got the retry's answer. The app called again is the
/// verdict on the attempt given up: a layer answered in its place (`Cancelled(Timeout)`, as
/// for an earlier answer a retry threw away).
#[tokio::test]
async fn an_attempt_a_retry_layer_gave_up_is_rolled_back_before_the_retry_needs_its_lock() {
    let _s = serial().await;
    CALLS.store(0, std::sync::atomic::Ordering::SeqCst);
    let app = App::new()
        .get("/", slow_first)
        .layer(retry_when(&IN_HANDLER));
    let client = TestClient::start(app).await.unwrap();
    let response = common::guard("the retried request", client.get("/").send()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(within(response.text()).await.unwrap(), "written");
    within(client.settle()).await;
    assert_eq!(
        events(),
        [
            "tx:up",
            "handler:1",
            "retry",
            "tx:down cancelled timeout",
            "tx:up",
            "handler:2",
            "tx:down success 200",
        ]
    );
    let m = client.running().metrics();
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    assert_eq!(m.teardowns.cancelled_timeout, 1, "{m:?}");
    within(client.shutdown()).await;
}

/// Never answers; the first call says it runs.
#[depends]
async fn never_answers(#[dep(locking_tx)] _tx: &mut Tx) -> &'static str {
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    log(format!("handler:{call}"));
    if call == 1 {
        IN_HANDLER.notify_one();
    }
    std::future::pending::<()>().await;
    "never"
}

/// The client went away while the retry of a call a layer gave up ran: the retry's rollback
/// is told the client went away; the call given up before it, that a layer gave it up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_cut_when_the_client_goes_is_told_the_client_went_away() {
    let _s = serial().await;
    CALLS.store(0, std::sync::atomic::Ordering::SeqCst);
    let app = App::new()
        .get("/", never_answers)
        .layer(retry_when(&IN_HANDLER));
    let client = TestClient::start(app).await.unwrap();
    tokio::select! {
        _ = client.get("/").send() => panic!("answered: {:?}", events()),
        () = common::wait_for("handler:2") => {}
    }
    within(client.settle()).await;
    assert_eq!(
        events(),
        [
            "tx:up",
            "handler:1",
            "retry",
            "tx:down cancelled timeout",
            "tx:up",
            "handler:2",
            "tx:down cancelled client gone",
        ]
    );
    within(client.shutdown()).await;
}

// -------------------------- 3. a JSON answer that cannot be serialized, beside a status of its own

#[depends(scope = "handler")]
async fn committing_tx(y: Yield<Tx>) {
    let (_tx, outcome) = y.provide(Tx).await;
    log(if outcome.is_success() {
        "commit".to_owned()
    } else {
        format!("rollback {}", describe(&outcome))
    });
}

/// JSON has no map with non-string keys: this value cannot be serialized.
type Unserializable = std::collections::HashMap<(u8, u8), u8>;

#[depends]
async fn created_unserializable(
    #[dep(committing_tx)] _tx: &mut Tx,
) -> (StatusCode, Json<Unserializable>) {
    (
        StatusCode::CREATED,
        Json([((1, 2), 3)].into_iter().collect()),
    )
}

#[depends]
async fn created_with_location_unserializable(
    #[dep(committing_tx)] _tx: &mut Tx,
) -> (
    StatusCode,
    [(http::HeaderName, &'static str); 1],
    Json<Unserializable>,
) {
    (
        StatusCode::CREATED,
        [(http::header::LOCATION, "/items/1")],
        Json([((1, 2), 3)].into_iter().collect()),
    )
}

/// A `Json` that cannot be serialized is a generic 500 (and its transaction rolls back); beside
/// a status of the handler's (`(StatusCode::CREATED, Json(v))`, the usual way to answer a
/// creation), that status replaced the 500's: the client got `201` with the body
/// `{"detail":"Internal Server Error"}`, the teardowns were told `Success { 201 }` and
/// committed, and nothing was logged.
#[tokio::test]
async fn a_json_answer_that_cannot_be_serialized_stays_a_500_beside_a_status() {
    let _s = serial().await;
    let app = App::new()
        .post("/items", created_unserializable)
        .post("/located", created_with_location_unserializable);
    let client = TestClient::start(app).await.unwrap();
    for path in ["/items", "/located"] {
        common::clear();
        let response = within(client.post(path).send()).await;
        assert_eq!(response.status(), 500, "{path}");
        assert_eq!(
            within(response.text()).await.unwrap(),
            r#"{"detail":"Internal Server Error"}"#,
            "{path}"
        );
        within(client.settle()).await;
        let ev = events();
        assert_eq!(ev.len(), 1, "{path}: {ev:?}");
        assert!(ev[0].starts_with("rollback"), "{path}: {ev:?}");
    }
    within(client.shutdown()).await;
}

// ------------------ 4. a body read whole reserves no more than it may hold ahead of its bytes

/// A request body that says it holds at least `declared` bytes (as a `Content-Length` says
/// through hyper's body), and gives two one-byte frames.
struct Declares {
    declared: u64,
    frames: std::collections::VecDeque<bytes::Bytes>,
}

impl hyper::body::Body for Declares {
    type Data = bytes::Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Infallible>>> {
        let frame = self.frames.pop_front();
        if frame.is_some() {
            self.declared -= 1;
        }
        std::task::Poll::Ready(frame.map(|data| Ok(hyper::body::Frame::data(data))))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        let mut hint = hyper::body::SizeHint::new();
        hint.set_lower(self.declared);
        hint
    }
}

#[depends]
async fn length(body: bytes::Bytes) -> String {
    body.len().to_string()
}

/// A body read whole was given, at its second frame, room for all that its length said was
/// left: memory the client had declared but not sent. With a `body_limit` past the machine's
/// memory (`usize::MAX` for none), one request declaring a petabyte and sending two bytes
/// aborted the whole process (an allocation failure is not a panic: nothing catches it), and
/// one declaring nearly `u64::MAX` overflowed the sum (a panic in a debug build).
#[tokio::test]
async fn a_body_read_whole_reserves_no_room_for_what_it_only_declared() {
    let _s = serial().await;
    let app = App::new().post("/length", length).body_limit(usize::MAX);
    let client = TestClient::start(app).await.unwrap();
    let service = client.running().service();
    for declared in [1u64 << 50, u64::MAX - 1] {
        let body = Declares {
            declared,
            frames: [
                bytes::Bytes::from_static(b"a"),
                bytes::Bytes::from_static(b"b"),
            ]
            .into(),
        };
        let request = http::Request::post("/length").body(body).unwrap();
        let response = within(service.call_request(request)).await;
        assert_eq!(response.status(), 200, "declared {declared}");
        let text = within(http_body_util::BodyExt::collect(response.into_body()))
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&text[..], b"2", "declared {declared}");
    }
    within(client.shutdown()).await;
}

// ------------------------------ 5. a streamed body that ends with trailers, sent whole

/// A `request`-scope session that logs how it was torn down.
#[depends]
async fn session(y: Yield<u8>) {
    let (_s, outcome) = y.provide(1).await;
    log(format!("session:close {}", describe(&outcome)));
}

/// Two data frames and a trailer (`grpc-status: 0`), of no length known in advance: a body
/// `http-body-util`'s `StreamBody` makes of frames (a gRPC-style answer). Like `with_trailers`,
/// it does not say it has ended once it gave its trailers: the trailers are its last frame.
#[depends]
async fn streamed_with_trailers(#[dep(session)] _s: &u8) -> http::Response<Body> {
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let frames: Vec<Result<hyper::body::Frame<bytes::Bytes>, Infallible>> = vec![
        Ok(hyper::body::Frame::data(bytes::Bytes::from_static(b"hel"))),
        Ok(hyper::body::Frame::data(bytes::Bytes::from_static(b"lo"))),
        Ok(hyper::body::Frame::trailers(trailers)),
    ];
    let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
    let mut response = http::Response::new(Body::new(body));
    response.headers_mut().insert(
        http::header::TRAILER,
        http::HeaderValue::from_static("grpc-status"),
    );
    response
}

/// A streamed body that ends with trailers was sent whole, its trailers last, over HTTP/1.1
/// (chunked, to a client that accepts trailers) and HTTP/2; hyper takes trailers as the end
/// of a body and asks it for nothing more. Its `request`-scope teardowns were told the client
/// had gone (and its background tasks were skipped): the body had not said it ended, and was
/// dropped after its last frame.
#[tokio::test]
async fn a_streamed_body_that_ends_with_trailers_is_a_success() {
    use tokio::io::AsyncWriteExt;
    let _s = serial().await;
    let server = within(
        App::new()
            .get("/trailers", streamed_with_trailers)
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let addr = server.local_addr();

    let mut socket = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
    socket
        .write_all(
            b"GET /trailers HTTP/1.1\r\nhost: r\r\nte: trailers\r\nconnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let answer = within(common::read_to_close(&mut socket)).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
    assert_eq!(common::dechunk(body.as_bytes()), b"hello", "{answer:?}");
    assert!(
        body.ends_with("\r\n0\r\ngrpc-status: 0\r\n\r\n"),
        "{answer:?}"
    );
    common::settled_whole(&server).await;
    assert_eq!(events(), ["session:close success 200"], "HTTP/1.1");

    common::clear();
    let io = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
    let (mut client, driver) = common::h2_client(io, &h2::client::Builder::new()).await;
    let mut body = within(common::h2_get(&mut client, addr, "/trailers")).await;
    let mut got = Vec::new();
    while let Some(data) = within(body.data()).await {
        got.extend_from_slice(&data.unwrap());
    }
    assert_eq!(got, b"hello");
    let trailers = within(body.trailers()).await.unwrap();
    assert_eq!(
        trailers.as_ref().and_then(|t| t.get("grpc-status")),
        Some(&http::HeaderValue::from_static("0")),
    );
    common::settled_whole(&server).await;
    assert_eq!(events(), ["session:close success 200"], "HTTP/2");
    driver.abort();
    within(server.shutdown()).await;
}
