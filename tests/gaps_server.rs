//! Gaps of di's server that earlier walks found and left: the framing of a response that a
//! tower layer or a mounted service made (its `Content-Length`, its `Transfer-Encoding`, a
//! `HEAD`), an HTTP/2 request whose `host` names another host than its `:authority`, and a
//! client gone mid-upload in the `metrics` export.

mod common;

use std::convert::Infallible;
use std::sync::{Mutex, Once};
use std::time::Duration;

use common::{events, exported_requests, log, serial, served_ok, within};
use di_runtime::prelude::*;
use di_runtime::{Body, InnerService};
use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Sends `request` on a new connection and reads until the server closes it (bounded).
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    within(common::read_to_close(&mut stream)).await
}

/// Waits until no teardown runs, then gives the events so far.
async fn settled(server: &di_runtime::Server) -> Vec<String> {
    within(server.settle()).await;
    events()
}

/// The panics of this process so far (nextest runs each test in a process of its own): a
/// panic in a connection's task (hyper's debug assertions) reaches the client as a closed
/// connection only, and is looked for here.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(info.to_string());
            default(info);
        }));
    });
}

fn panics() -> Vec<String> {
    PANICS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[depends]
async fn session(y: Yield<u8>) {
    log("session:setup");
    let (_, outcome) = y.provide(1).await;
    let what = match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::HandlerError { status, .. } => format!("error {}", status.as_u16()),
        Outcome::Cancelled(reason) => format!("cancelled {reason}"),
        Outcome::BodyError { .. } => "body error".to_owned(),
        other => other.to_string(),
    };
    log(format!("session:{what}"));
}

#[depends]
async fn health(#[dep(session)] _s: &u8) -> &'static str {
    "ok"
}

/// 5 bytes.
#[depends]
async fn short(#[dep(session)] _s: &u8) -> &'static str {
    "short"
}

/// 11 bytes.
#[depends]
async fn long(#[dep(session)] _s: &u8) -> &'static str {
    "longer body"
}

// ------------------------------------------- 1. the framing of a layer's or a service's response

/// What the request asks the layer (`prefix` `x-layer-`) or the mounted service
/// (`x-service-`) to declare: each `-length` value a `Content-Length`, a `-coding` value a
/// `Transfer-Encoding`.
fn asked(headers: &http::HeaderMap, prefix: &str) -> Vec<(http::HeaderName, http::HeaderValue)> {
    let length = format!("{prefix}-length");
    let coding = format!("{prefix}-coding");
    let mut declared: Vec<_> = headers
        .get_all(length.as_str())
        .iter()
        .map(|value| (http::header::CONTENT_LENGTH, value.clone()))
        .collect();
    declared.extend(
        headers
            .get_all(coding.as_str())
            .iter()
            .map(|value| (http::header::TRANSFER_ENCODING, value.clone())),
    );
    declared
}

fn declare<B>(
    response: &mut http::Response<B>,
    declared: Vec<(http::HeaderName, http::HeaderValue)>,
) {
    let headers = response.headers_mut();
    for (name, _) in &declared {
        headers.remove(name);
    }
    for (name, value) in declared {
        headers.append(name, value);
    }
}

/// A layer around the app that gives the app's response (or the mounted service's) the
/// framing headers the request's `x-layer-*` headers ask for.
fn declaring_layer() -> impl di_runtime::TowerLayer {
    tower::layer::layer_fn(|inner: InnerService| {
        tower::service_fn(move |request: http::Request<Body>| {
            let declared = asked(request.headers(), "x-layer");
            let inner = inner.clone();
            async move {
                let mut response = tower::ServiceExt::oneshot(inner, request).await?;
                declare(&mut response, declared);
                Ok::<_, Infallible>(response)
            }
        })
    })
}

/// A service mounted in the app, at `/legacy`: `short` (5 bytes), `long` (11), or nothing for
/// `/empty`, with the framing headers the request's `x-service-*` headers ask for.
async fn legacy(request: http::Request<Body>) -> Result<http::Response<Body>, Infallible> {
    let body = match request.uri().path() {
        "/long" => "longer body",
        "/empty" => "",
        _ => "short",
    };
    let mut response = http::Response::new(Body::from(body));
    declare(&mut response, asked(request.headers(), "x-service"));
    Ok(response)
}

fn framing_app() -> App {
    App::new()
        .get("/health", health)
        .get("/short", short)
        .get("/long", long)
        .layer(declaring_layer())
        .nest_service("/legacy", tower::service_fn(legacy))
}

/// A `Content-Length` that contradicts the body of known length, given by a tower layer
/// around the app (to the app's response) or by a service mounted in it, was sent as it was,
/// unchecked (only a handler's own was held to its body): the client (a proxy that keeps its
/// upstream connections) read the next response on the connection as the rest of this body,
/// or the rest of this body as the next response; in a debug build hyper panicked in the
/// connection's task instead. Every response the server writes now passes the check a
/// handler's does: it fails where the body parts from its length (the teardowns of what the
/// app set up for it see `BodyError`, the HTTP/1 connection is closed with nothing read past
/// it), and nothing panics.
#[tokio::test]
async fn a_layers_or_a_mounted_services_content_length_that_contradicts_the_body_never_desyncs_the_connection()
 {
    record_panics();
    let _serial = serial().await;
    let server = framing_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    for (path, asks, app) in [
        ("/short", "x-layer-length: 100", true),
        ("/long", "x-layer-length: 2", true),
        ("/legacy/short", "x-service-length: 100", false),
        ("/legacy/long", "x-service-length: 2", false),
        ("/legacy/short", "x-layer-length: 100", false),
    ] {
        common::clear();
        let sent = format!(
            "GET {path} HTTP/1.1\r\nhost: t\r\n{asks}\r\n\r\n\
             GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        );
        let text = exchange(addr, sent.as_bytes()).await;
        assert!(
            text.matches("HTTP/1.1 ").count() <= 1,
            "{path} {asks}: {text:?}"
        );
        assert!(!text.ends_with("ok"), "{path} {asks}: {text:?}");
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let declared: usize = head
                .split("\r\n")
                .find_map(|line| line.strip_prefix("content-length: "))
                .and_then(|length| length.parse().ok())
                .unwrap_or_else(|| panic!("{path} {asks}: {text:?}"));
            assert!(body.len() < declared, "{path} {asks}: {text:?}");
        }
        let expected: &[&str] = if app {
            &["session:setup", "session:body error"]
        } else {
            &[]
        };
        assert_eq!(settled(&server).await, expected, "{path} {asks}");
    }
    assert_eq!(panics(), Vec::<String>::new());
    server.shutdown().await;
}

/// A `Content-Length` from a layer or a mounted service that is not one length (two, a
/// word), zero for a body that is not empty, or given beside a `Transfer-Encoding`, reached
/// hyper as it was: it refused the head (the client got nothing, the connection closed) or
/// panicked (debug build). It is now what it is from a handler: a generic 500, nothing of
/// the header echoed, and the connection goes on. A length that matches is sent as it is.
#[tokio::test]
async fn a_layers_or_a_mounted_services_content_length_that_is_not_one_length_is_a_500() {
    record_panics();
    let _serial = serial().await;
    let server = framing_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let internal = r#"{"detail":"Internal Server Error"}"#;
    for path in ["/short", "/legacy/short"] {
        for asks in [
            "x-layer-length: 5\r\nx-layer-length: 6",
            "x-layer-length: five",
            "x-layer-length: 0",
            "x-layer-length: 5\r\nx-layer-coding: chunked",
            "x-service-length: 5\r\nx-service-length: 6",
            "x-service-length: 0",
            "x-service-length: 5\r\nx-service-coding: chunked",
        ] {
            if path == "/short" && asks.starts_with("x-service") {
                continue;
            }
            common::clear();
            let sent = format!(
                "GET {path} HTTP/1.1\r\nhost: t\r\n{asks}\r\n\r\n\
                 GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
            );
            let text = exchange(addr, sent.as_bytes()).await;
            let (first, second) = text
                .split_once(internal)
                .unwrap_or_else(|| panic!("{path} {asks}: no generic 500: {text:?}"));
            assert!(
                first.starts_with("HTTP/1.1 500 "),
                "{path} {asks}: {text:?}"
            );
            assert!(
                first.contains(&format!("\r\ncontent-length: {}\r\n", internal.len())),
                "{path} {asks}: {text:?}"
            );
            assert!(!first.contains("five"), "{path} {asks}: {text:?}");
            assert!(
                served_ok(second),
                "{path} {asks}: the next request on the connection: {text:?}"
            );
            let events = settled(&server).await;
            assert_eq!(
                common::count(&events, "session:success 200"),
                1,
                "{path} {asks}: {events:?}"
            );
            if path == "/short" {
                // The app's answer was thrown away for the 500: its teardown is told so, as
                // for any answer a layer puts in the app's place.
                assert_eq!(
                    (
                        common::count(&events, "session:setup"),
                        common::count(&events, "session:cancelled timeout"),
                        events.len()
                    ),
                    (2, 1, 4),
                    "{path} {asks}: {events:?}"
                );
            }
        }
    }
    for (path, asks) in [
        ("/short", "x-layer-length: 5"),
        ("/legacy/short", "x-service-length: 5"),
        ("/legacy/short", "x-layer-length: 5"),
    ] {
        let sent = format!(
            "GET {path} HTTP/1.1\r\nhost: t\r\n{asks}\r\n\r\n\
             GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        );
        let text = exchange(addr, sent.as_bytes()).await;
        let (first, second) = text
            .split_once("short")
            .unwrap_or_else(|| panic!("{path} {asks}: {text:?}"));
        assert!(
            first.starts_with("HTTP/1.1 200 ") && first.contains("\r\ncontent-length: 5\r\n"),
            "{path} {asks}: {text:?}"
        );
        assert!(served_ok(second), "{path} {asks}: {text:?}");
    }
    within(server.settle()).await;
    assert_eq!(panics(), Vec::<String>::new());
    server.shutdown().await;
}

/// The in-process path (the test client, `AppService` as a `tower::Service`) is the same
/// code: a layer's `Content-Length` that is not one length is a 500 there too, and one that
/// contradicts the body fails the body where they part.
#[tokio::test]
async fn the_test_client_checks_a_layers_content_length_as_the_server_does() {
    let _serial = serial().await;
    let client = TestClient::start(framing_app()).await.unwrap();
    let response = client
        .get("/legacy/short")
        .header("x-layer-length", "five")
        .send()
        .await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Internal Server Error"}"#
    );
    let response = client
        .get("/short")
        .header("x-layer-length", "100")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.is_err());
    client.settle().await;
    assert_eq!(events(), ["session:setup", "session:body error"]);
    client.shutdown().await;
}

/// A `HEAD` through a mounted service: the head of what a `GET` would get (its length), no
/// body, and the connection goes on, over HTTP/1.1 and HTTP/2; a service's `HEAD` answer
/// written by hand (no body, the length of what a `GET` would send) keeps its length.
#[tokio::test]
async fn a_head_through_a_mounted_service_is_its_head_only_and_the_connection_goes_on() {
    record_panics();
    let _serial = serial().await;
    let server = framing_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    for (path, asks, length) in [
        ("/legacy/short", "", "5"),
        ("/legacy/long", "x-service-length: 11\r\n", "11"),
        ("/legacy/empty", "x-service-length: 1234\r\n", "1234"),
        ("/legacy/empty", "x-layer-length: 1234\r\n", "1234"),
    ] {
        let sent = format!(
            "HEAD {path} HTTP/1.1\r\nhost: t\r\n{asks}\r\n\
             GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        );
        let text = exchange(addr, sent.as_bytes()).await;
        let (head, rest) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 200 ")
                && head.contains(&format!("\r\ncontent-length: {length}")),
            "{path} {asks}: {text:?}"
        );
        assert!(
            rest.starts_with("HTTP/1.1 200 ") && rest.ends_with("\r\n\r\nok"),
            "{path} {asks}: {text:?}"
        );
    }

    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(stream, &h2::client::Builder::new()).await;
    for (path, asks, length) in [
        ("/legacy/short", None, "5"),
        ("/legacy/empty", Some(("x-service-length", "1234")), "1234"),
    ] {
        let mut request = http::Request::head(format!("http://{addr}{path}"));
        if let Some((name, value)) = asks {
            request = request.header(name, value);
        }
        std::future::poll_fn(|cx| client.poll_ready(cx))
            .await
            .unwrap();
        let (answer, _) = client
            .send_request(request.body(()).unwrap(), true)
            .unwrap();
        let response = within(answer).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response
                .headers()
                .get("content-length")
                .map(|v| v.to_str().unwrap()),
            Some(length),
            "{path}"
        );
        let mut body = response.into_body();
        assert!(
            within(body.data()).await.is_none(),
            "{path}: a body was sent"
        );
    }
    let mut body = common::h2_get(&mut client, addr, "/health").await;
    assert_eq!(within(body.data()).await.unwrap().unwrap(), "ok");
    driver.abort();
    within(server.settle()).await;
    assert_eq!(panics(), Vec::<String>::new());
    server.shutdown().await;
}

// ----------------------------------------- 2. HTTP/2: a `host` that names another host

/// Sends `request` on `client`'s HTTP/2 connection: its status and body.
async fn h2_exchange(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    request: http::Request<()>,
) -> (http::StatusCode, String) {
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .unwrap();
    let (answer, _) = client.send_request(request, true).unwrap();
    let response = within(answer).await.unwrap();
    let status = response.status();
    let mut body = response.into_body();
    let mut got = Vec::new();
    while let Some(chunk) = within(body.data()).await {
        got.extend_from_slice(&chunk.unwrap());
    }
    (status, String::from_utf8_lossy(&got).into_owned())
}

fn h2_request(uri: &str, hosts: &[&str]) -> http::Request<()> {
    let mut request = http::Request::get(uri);
    for host in hosts {
        request = request.header(http::header::HOST, *host);
    }
    request.body(()).unwrap()
}

/// RFC 9113 8.3.1: an HTTP/2 request whose `host` names another host than its `:authority`
/// is malformed (a proxy in front routes by one, the app may read the other). It was served.
/// It is now answered 400 with the generic body of di's other 400s for a bad head, nothing of
/// the request echoed and nothing set up; so is one with two `host`s, or with an invalid one
/// and no `:authority`, as over HTTP/1. A request with only `:authority`, only `host`, or both
/// naming the same host (case-insensitively, an absent port the scheme's default) is served,
/// on a connection that goes on.
#[tokio::test]
async fn an_http2_request_whose_host_names_another_host_than_its_authority_is_400() {
    let _serial = serial().await;
    let server = App::new()
        .get("/health", health)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut client, driver) = common::h2_client(stream, &h2::client::Builder::new()).await;
    let here = addr.to_string();
    for (uri, hosts) in [
        (format!("http://{addr}/health"), vec!["evil.example"]),
        (format!("http://{addr}/health"), vec!["127.0.0.1"]),
        (
            "http://example.com/health".to_owned(),
            vec!["example.com:8080"],
        ),
        (
            "http://example.com:8080/health".to_owned(),
            vec!["example.com"],
        ),
        (
            "http://example.com/health".to_owned(),
            vec!["example.com.evil"],
        ),
        (
            format!("http://{addr}/health"),
            vec![here.as_str(), here.as_str()],
        ),
        (
            format!("http://{addr}/health"),
            vec![here.as_str(), "evil.example"],
        ),
        ("/health".to_owned(), vec!["evil.example", "other.example"]),
        ("/health".to_owned(), vec!["user@evil.example"]),
    ] {
        common::clear();
        let (status, body) = h2_exchange(&mut client, h2_request(&uri, &hosts)).await;
        assert_eq!(status, 400, "{uri} {hosts:?}: {body}");
        assert_eq!(body, r#"{"detail":"Bad Request"}"#, "{uri} {hosts:?}");
        assert_eq!(
            settled(&server).await,
            Vec::<String>::new(),
            "{uri} {hosts:?}"
        );
    }
    for (uri, hosts) in [
        (format!("http://{addr}/health"), vec![]),
        (format!("http://{addr}/health"), vec![here.as_str()]),
        (
            "http://Example.COM:8080/health".to_owned(),
            vec!["example.com:8080"],
        ),
        ("http://example.com/health".to_owned(), vec!["EXAMPLE.com"]),
        (
            "http://example.com/health".to_owned(),
            vec!["example.com:80"],
        ),
        (
            "http://example.com:80/health".to_owned(),
            vec!["example.com"],
        ),
        (
            "https://example.com/health".to_owned(),
            vec!["example.com:443"],
        ),
        ("http://[::1]:8080/health".to_owned(), vec!["[::1]:8080"]),
        ("/health".to_owned(), vec!["example.com"]),
        ("/health".to_owned(), vec![]),
    ] {
        common::clear();
        let (status, body) = h2_exchange(&mut client, h2_request(&uri, &hosts)).await;
        assert_eq!(
            (status.as_u16(), body.as_str()),
            (200, "ok"),
            "{uri} {hosts:?}"
        );
        assert_eq!(
            settled(&server).await,
            ["session:setup", "session:success 200"],
            "{uri} {hosts:?}"
        );
    }
    driver.abort();
    server.shutdown().await;
}

// ------------------------------------------------- 3. a client gone mid-upload, in the metrics

/// Reads the body as it comes; a client gone mid-body makes it `BodyError::Incomplete`, which
/// `?` answers 400.
#[depends]
async fn upload(
    #[dep(session)] _s: &u8,
    mut body: di_runtime::BodyStream,
) -> Result<String, HttpError> {
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        bytes += chunk.len();
        log(format!("chunk: {}", chunk.len()));
    }
    Ok(format!("{bytes} bytes"))
}

/// Reads the body whole, before the handler.
#[depends]
async fn echo(body: Bytes) -> String {
    format!("{} bytes", body.len())
}

/// Waits (bounded) until `server`'s metrics satisfy `done`.
async fn until(server: &di_runtime::Server, done: impl Fn(&di_runtime::Metrics) -> bool) {
    for _ in 0..2000 {
        if done(&server.metrics()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("never reached: {:?}", server.metrics());
}

/// Sends the head of a POST to `path` declaring 100 bytes and 4 of them, waits until the
/// request is being handled (`started`), then goes away, and waits until the server has
/// closed the connection.
async fn upload_half_and_go(
    server: &di_runtime::Server,
    path: &str,
    started: impl std::future::Future<Output = ()>,
) {
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\nhalf");
    stream.write_all(head.as_bytes()).await.unwrap();
    within(started).await;
    drop(stream);
    until(server, |m| {
        m.open_connections == 0 && m.requests_in_flight == 0
    })
    .await;
}

/// A client gone while its body was being read (by the handler, from a `BodyStream`, or by di
/// before the handler, for a body read whole) was counted in `di_requests_total` (and
/// `Metrics::responses`) as a 400, the answer the handler (or di) made of the broken body,
/// which reached no one: a dashboard saw clients sending bad requests. Such a request is now
/// counted as a client gone at any other point before its response is: as no response (the
/// request's teardowns see `Cancelled(ClientGone)`, as before). Through tower layers too. The
/// recorder is this thread's only and the runtime single-threaded, so no other app counts
/// into it.
#[test]
fn a_client_gone_mid_upload_is_not_counted_as_a_400() {
    for layered in [false, true] {
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let metrics = metrics::with_local_recorder(&recorder, || {
            runtime.block_on(async {
                let _serial = serial().await;
                let app = App::new()
                    .get("/health", health)
                    .post("/upload", upload)
                    .post("/echo", echo);
                let app = if layered {
                    app.layer(tower::layer::util::Identity::new())
                } else {
                    app
                };
                let server = app.bind("127.0.0.1:0").await.unwrap();
                let text = exchange(
                    server.local_addr(),
                    b"GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
                )
                .await;
                assert!(text.ends_with("\r\n\r\nok"), "{text}");
                upload_half_and_go(&server, "/upload", common::wait_for("chunk: 4")).await;
                upload_half_and_go(
                    &server,
                    "/echo",
                    until(&server, |m| m.requests_in_flight == 1),
                )
                .await;
                let events = settled(&server).await;
                assert_eq!(
                    events,
                    [
                        "session:setup",
                        "session:success 200",
                        "session:setup",
                        "chunk: 4",
                        "session:cancelled client gone"
                    ],
                    "{layered}"
                );
                let metrics = server.metrics();
                server.shutdown().await;
                metrics
            })
        });
        assert_eq!(
            exported_requests(&snapshotter),
            [("200".to_owned(), 1)],
            "layered: {layered}"
        );
        assert_eq!(metrics.responses_total(), 1, "{layered}: {metrics:?}");
        assert_eq!(
            metrics.teardowns.cancelled_client_gone, 1,
            "{layered}: {metrics:?}"
        );
    }
}

/// The `status` recorded on the spans of this thread.
#[derive(Clone, Default)]
struct Statuses(std::sync::Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Statuses {
    fn on_record(
        &self,
        _span: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Status<'a>(&'a mut Vec<String>);
        impl tracing::field::Visit for Status<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "status" {
                    self.0.push(format!("{value:?}"));
                }
            }
        }
        values.record(&mut Status(
            &mut self.0.lock().unwrap_or_else(|e| e.into_inner()),
        ));
    }
}

/// The request span recorded the 400 made of a body broken off by a client gone, an answer
/// that reached no one; it records no status now, as for a request dropped before its
/// answer.
#[test]
fn a_client_gone_mid_upload_leaves_the_request_spans_status_empty() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let statuses = Statuses::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(statuses.clone()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let _serial = serial().await;
        let server = App::new()
            .get("/health", health)
            .post("/upload", upload)
            .post("/echo", echo)
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        // `tracing` caches whether a callsite is enabled, for every thread at once. Under
        // `cargo test` another test's thread, with no subscriber, can register di's span
        // callsites while this thread's subscriber is being set, and have them cached as
        // off: computed again here, with this thread's subscriber alive, they are on.
        tracing::callsite::rebuild_interest_cache();
        let text = exchange(
            server.local_addr(),
            b"GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(text.ends_with("\r\n\r\nok"), "{text}");
        upload_half_and_go(&server, "/upload", common::wait_for("chunk: 4")).await;
        upload_half_and_go(
            &server,
            "/echo",
            until(&server, |m| m.requests_in_flight == 1),
        )
        .await;
        within(server.settle()).await;
        server.shutdown().await;
    });
    assert_eq!(*statuses.0.lock().unwrap(), ["200"]);
}

/// A `Transfer-Encoding` other than `chunked` that a layer or a mounted service gives its
/// response (here without a `Content-Length`) keeps the connection's framing sound: over
/// HTTP/1.1 hyper adds `chunked` after it and frames the body so, over HTTP/1.0 it drops the
/// field and sends the body's length; the next response on the connection is read whole.
/// (The coding named is the layer's to have applied: di does not apply or check it.)
#[tokio::test]
async fn a_layers_transfer_coding_other_than_chunked_keeps_the_framing_sound() {
    record_panics();
    let _serial = serial().await;
    let server = framing_app().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    for (path, asks) in [
        ("/short", "x-layer-coding: gzip"),
        ("/legacy/short", "x-service-coding: gzip"),
        ("/legacy/short", "x-service-coding: gzip, chunked"),
    ] {
        let sent = format!(
            "GET {path} HTTP/1.1\r\nhost: t\r\n{asks}\r\n\r\n\
             GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        );
        let text = exchange(addr, sent.as_bytes()).await;
        let (first, second) = text
            .split_once("\r\n0\r\n\r\n")
            .unwrap_or_else(|| panic!("{path} {asks}: not chunked: {text:?}"));
        assert!(
            first.starts_with("HTTP/1.1 200 ")
                && first.contains("\r\ntransfer-encoding: gzip, chunked\r\n")
                && !first.contains("content-length")
                && first.ends_with("\r\n\r\n5\r\nshort"),
            "{path} {asks}: {text:?}"
        );
        assert!(served_ok(second), "{path} {asks}: {text:?}");

        let sent = format!("GET {path} HTTP/1.0\r\nhost: t\r\n{asks}\r\n\r\n");
        let text = exchange(addr, sent.as_bytes()).await;
        assert!(
            text.starts_with("HTTP/1.0 200 ")
                && !text.contains("transfer-encoding")
                && text.contains("\r\ncontent-length: 5\r\n")
                && text.ends_with("\r\n\r\nshort"),
            "{path} {asks} (HTTP/1.0): {text:?}"
        );
    }
    within(server.settle()).await;
    assert_eq!(panics(), Vec::<String>::new());
    server.shutdown().await;
}

/// Over HTTP/2 a client gone mid-upload resets its stream (`CANCEL`), the connection open:
/// the answer to the broken body is not counted either, for a body read as a stream or
/// whole.
#[test]
fn a_client_gone_mid_upload_over_http2_is_not_counted_as_a_400() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let metrics = metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let _serial = serial().await;
            let server = App::new()
                .get("/health", health)
                .post("/upload", upload)
                .post("/echo", echo)
                .bind("127.0.0.1:0")
                .await
                .unwrap();
            let addr = server.local_addr();
            let stream = TcpStream::connect(addr).await.unwrap();
            let (mut client, driver) = common::h2_client(stream, &h2::client::Builder::new()).await;
            let mut body = common::h2_get(&mut client, addr, "/health").await;
            assert_eq!(within(body.data()).await.unwrap().unwrap(), "ok");
            for path in ["/upload", "/echo"] {
                let request = http::Request::post(format!("http://{addr}{path}"))
                    .header("content-length", "100")
                    .body(())
                    .unwrap();
                std::future::poll_fn(|cx| client.poll_ready(cx))
                    .await
                    .unwrap();
                let (_answer, mut sending) = client.send_request(request, false).unwrap();
                sending
                    .send_data(bytes::Bytes::from_static(b"half"), false)
                    .unwrap();
                if path == "/upload" {
                    within(common::wait_for("chunk: 4")).await;
                } else {
                    within(until(&server, |m| m.requests_in_flight == 1)).await;
                }
                sending.send_reset(h2::Reason::CANCEL);
                within(until(&server, |m| m.requests_in_flight == 0)).await;
            }
            let events = settled(&server).await;
            assert_eq!(
                events,
                [
                    "session:setup",
                    "session:success 200",
                    "session:setup",
                    "chunk: 4",
                    "session:cancelled client gone"
                ]
            );
            driver.abort();
            let metrics = server.metrics();
            server.shutdown().await;
            metrics
        })
    });
    assert_eq!(exported_requests(&snapshotter), [("200".to_owned(), 1)]);
    assert_eq!(metrics.responses_total(), 1, "{metrics:?}");
}

// ------------------ a streamed body's own Content-Length

/// A streamed body beside the `Content-Length` a handler gave it by hand.
type DeclaredStream = (
    [(http::HeaderName, &'static str); 1],
    StreamBody<futures_util::stream::BoxStream<'static, Result<&'static str, Infallible>>>,
);

/// A stream of `chunks`, with the `Content-Length` a handler gave it by hand.
fn declared_stream(length: &'static str, chunks: &'static [&'static str]) -> DeclaredStream {
    (
        [(http::header::CONTENT_LENGTH, length)],
        StreamBody::new(futures_util::stream::iter(chunks.iter().map(|c| Ok(*c))).boxed()),
    )
}

/// Declares 3 bytes and streams 11, its second chunk across the declared end (no
/// `request`-scope work: the body is not tracked).
#[depends]
async fn stream_longer() -> DeclaredStream {
    declared_stream("3", &["ab", "longer body"])
}

/// Declares a length that is not a number, and streams.
#[depends]
async fn stream_nonsense() -> DeclaredStream {
    declared_stream("three", &["abc"])
}

/// Declares the length it streams.
#[depends]
async fn stream_right() -> DeclaredStream {
    declared_stream("14", &["abc", "longer body"])
}

#[depends]
async fn plain_health() -> &'static str {
    "ok"
}

/// A streamed body's `Content-Length` given by hand was not checked (only a body of known
/// length was held to it): a chunk that crossed the declared end was cut there by hyper with
/// nothing said and the connection kept, so the client read a response that looked whole and
/// the app never learnt of it; a value that was not a length (`three`) had hyper drop the
/// connection with no answer at all. A stream is now held to the length it declares as it is
/// sent: the response fails before a chunk would cross it (the client gets a body short of its
/// length, the HTTP/1 connection is closed and nothing after it read as a response), and a
/// value that is not one length is a generic 500, the connection going on. A stream of the
/// declared length is sent as it is. (A stream that reaches its length exactly and would go
/// on is cut there as before: hyper asks it for nothing more.)
#[tokio::test]
async fn a_streamed_body_is_held_to_the_content_length_its_handler_gave() {
    let _serial = serial().await;
    let server = App::new()
        .get("/longer", stream_longer)
        .get("/nonsense", stream_nonsense)
        .get("/right", stream_right)
        .get("/health", plain_health)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let pipelined = |path: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nhost: t\r\n\r\n\
             GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        )
    };

    let text = exchange(addr, pipelined("/longer").as_bytes()).await;
    assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{text:?}");
    assert!(!text.ends_with("ok"), "the connection went on: {text:?}");

    let text = exchange(addr, pipelined("/nonsense").as_bytes()).await;
    let internal = r#"{"detail":"Internal Server Error"}"#;
    let (first, second) = text
        .split_once(internal)
        .unwrap_or_else(|| panic!("no generic 500: {text:?}"));
    assert!(first.starts_with("HTTP/1.1 500 "), "{text:?}");
    assert!(served_ok(second), "{text:?}");

    let text = exchange(addr, pipelined("/right").as_bytes()).await;
    let (first, second) = text
        .split_once("abclonger body")
        .unwrap_or_else(|| panic!("{text:?}"));
    assert!(
        first.starts_with("HTTP/1.1 200 ") && first.contains("\r\ncontent-length: 14\r\n"),
        "{text:?}"
    );
    assert!(served_ok(second), "{text:?}");
    server.shutdown().await;
}
