//! Hostile probes of app composition and tower interop: a layer that drops or replaces the
//! app's response, groups, mounts, request ids and counters; each test a regression test of a
//! bug found by probing, or a probe that held.

mod common;

use std::convert::Infallible;
use std::time::Duration;

use common::{events, log, serial};
use di_runtime::Body;
use di_runtime::prelude::*;
use tower_http::timeout::TimeoutLayer;

fn short(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success { status } => format!("success {}", status.as_u16()),
        Outcome::Cancelled(CancelReason::Timeout) => "cancelled timeout".into(),
        Outcome::Cancelled(CancelReason::ClientGone) => "cancelled client gone".into(),
        Outcome::Cancelled(CancelReason::Shutdown) => "cancelled shutdown".into(),
        other => format!("other {other}"),
    }
}

#[depends]
async fn session(y: Yield<u32>) {
    log("session:open");
    let (_, outcome) = y.provide(2).await;
    log(format!("session:close {}", short(&outcome)));
}

#[depends]
async fn quick(#[dep(session)] s: &u32) -> String {
    format!("quick {s}")
}

// ------------------------------------- a layer that drops the app's response after the app answered

/// A timeout outside a layer that still works after the app answered: the app's response is
/// dropped with the layer's future, and the client gets the timeout's 408. The handler's
/// body never reached anyone: its `request`-scope teardown is told `Cancelled(Timeout)`, as
/// for a timeout that fires while the handler runs, never a success.
#[tokio::test]
async fn a_timeout_that_drops_the_apps_response_after_it_answered_is_cancelled_timeout() {
    let _serial = serial().await;
    let app = App::new()
        .get("/quick", quick)
        .layer(tower::util::AndThenLayer::new(
            |response: http::Response<Body>| async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<_, Infallible>(response)
            },
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(50),
        ));
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/quick").send().await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    let _ = response.text().await;
    client.settle().await;
    assert_eq!(
        events(),
        ["session:open", "session:close cancelled timeout"]
    );
    client.shutdown().await;
}

/// A layer that throws the app's response away and answers its own: the handler's body was
/// never sent, so its teardown is not told it was (whatever the layer's status).
#[tokio::test]
async fn a_layer_that_replaces_the_apps_response_does_not_tell_teardown_success() {
    let _serial = serial().await;
    let app = App::new()
        .get("/quick", quick)
        .layer(tower::util::MapResponseLayer::new(
            |_: http::Response<Body>| -> http::Response<Body> {
                http::Response::new(Body::from("replaced"))
            },
        ));
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/quick").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "replaced");
    client.settle().await;
    assert_eq!(
        events(),
        ["session:open", "session:close cancelled timeout"]
    );
    client.shutdown().await;
}

#[depends]
async fn failing(#[dep(session)] _s: &u32) -> Result<String, HttpError> {
    Err(HttpError::new(StatusCode::CONFLICT, "taken"))
}

/// A layer that rewrites an error response (a new body of its own): the teardown is still
/// told the handler's error, which was decided before any layer saw the response.
#[tokio::test]
async fn a_layer_that_rewrites_an_error_response_keeps_the_handler_error() {
    let _serial = serial().await;
    let app = App::new()
        .get("/failing", failing)
        .layer(tower::util::MapResponseLayer::new(
            |response: http::Response<Body>| -> http::Response<Body> {
                let (parts, _) = response.into_parts();
                http::Response::from_parts(parts, Body::from("rewritten"))
            },
        ));
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/failing").send().await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(response.text().await.unwrap(), "rewritten");
    client.settle().await;
    let seen = events();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[1].starts_with("session:close other"), "{seen:?}");
    assert!(!seen[1].contains("cancelled"), "{seen:?}");
    client.shutdown().await;
}

/// A layer that reads the app's whole body and answers it again (a buffering layer): the
/// app's body reached its end, so the teardown sees success once the client got it.
#[tokio::test]
async fn a_layer_that_buffers_the_whole_body_keeps_success() {
    use http_body_util::BodyExt;
    let _serial = serial().await;
    let app = App::new()
        .get("/quick", quick)
        .layer(tower::util::AndThenLayer::new(
            |response: http::Response<Body>| async move {
                let (parts, body) = response.into_parts();
                let bytes = body
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                Ok::<_, Infallible>(http::Response::from_parts(parts, Body::from(bytes)))
            },
        ));
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/quick").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "quick 2");
    client.settle().await;
    assert_eq!(events(), ["session:open", "session:close success 200"]);
    // HEAD through the same layer: no body is sent, and that is its end.
    let response = client.request(http::Method::HEAD, "/quick").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    let _ = response.text().await;
    client.settle().await;
    assert_eq!(events()[3], "session:close success 200");
    client.shutdown().await;
}

// ------------------------------------------------------------------ probes of routing and groups

#[depends]
async fn one() -> &'static str {
    "one"
}

#[depends]
async fn two() -> &'static str {
    "two"
}

#[tokio::test]
async fn probe_a_route_registered_twice_through_a_group_is_a_start_error() {
    let app = App::new()
        .get("/a", one)
        .nest(Group::new("").get("/a", two));
    let started = App::start(app).await;
    assert!(started.is_err(), "the same method and path twice");
}

#[tokio::test]
async fn probe_conflicting_parameter_names_are_a_start_error_not_a_panic() {
    let app = App::new()
        .get("/items/{id}", one)
        .nest(Group::new("/items").post("/{name}", two));
    let started = App::start(app).await;
    if let Ok(running) = started {
        running.shutdown().await;
    }
}

#[tokio::test]
async fn probe_options_on_a_get_route_is_405_with_allow() {
    let app = App::new().get("/one", one).nest(
        Group::new("/g")
            .layer(tower::layer::util::Identity::new())
            .get("/two", two),
    );
    let client = TestClient::start(app).await.unwrap();
    for path in ["/one", "/g/two"] {
        let response = client.request(http::Method::OPTIONS, path).send().await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(response.header("allow"), Some("GET, HEAD"), "{path}");
        let response = client.request(http::Method::HEAD, path).send().await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    client.shutdown().await;
}

#[depends]
async fn no_content(#[dep(session)] _s: &u32) -> (StatusCode, &'static str) {
    (StatusCode::NO_CONTENT, "ignored")
}

/// A server sends no body for a HEAD request (hyper drops the GET route's body unread), nor
/// for a 204: the test client answered the body, so a test passed in process that fails over
/// HTTP. The body dropped unread is its end, as over HTTP: the teardown sees success.
#[tokio::test]
async fn head_and_204_in_the_test_client_have_no_body_as_over_http() {
    let _serial = serial().await;
    let app = App::new()
        .get("/one", one)
        .get("/quick", quick)
        .get("/none", no_content);
    let client = TestClient::start(app).await.unwrap();
    let response = client.request(http::Method::HEAD, "/one").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "");
    let response = client.request(http::Method::HEAD, "/quick").send().await;
    assert_eq!(response.text().await.unwrap(), "");
    client.settle().await;
    let response = client.get("/none").send().await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.text().await.unwrap(), "");
    client.settle().await;
    assert_eq!(
        events(),
        [
            "session:open",
            "session:close success 200",
            "session:open",
            "session:close success 204"
        ]
    );
    client.shutdown().await;
}

// --------------------------------------------------------------- request ids through mounts

#[depends]
async fn my_id(id: RequestId) -> String {
    id.as_str().to_owned()
}

/// A `di` app mounted in another with `nest_service`: the handler inside sees the id the
/// client gets, whether the client sent one or the outer app made it.
#[tokio::test]
async fn an_app_mounted_in_an_app_sees_the_id_the_client_gets() {
    let inner = App::new().get("/id", my_id).start().await.unwrap();
    let app = App::new()
        .get("/one", one)
        .nest_service("/inner", inner.service())
        .fallback_service(inner.service());
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/inner/id").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    let given = response.header("x-request-id").unwrap().to_owned();
    assert_eq!(response.text().await.unwrap(), given);
    let response = client
        .get("/inner/id")
        .header("x-request-id", "abc-123")
        .send()
        .await;
    assert_eq!(response.header("x-request-id"), Some("abc-123"));
    assert_eq!(response.text().await.unwrap(), "abc-123");
    // The fallback too; and an id that is not sane is replaced by the app's in both places.
    let response = client.get("/id").header("x-request-id", "").send().await;
    let given = response.header("x-request-id").unwrap().to_owned();
    assert!(!given.is_empty());
    assert_eq!(response.text().await.unwrap(), given);
    client.shutdown().await;
    inner.shutdown().await;
}

// ------------------------------------------- cancellations through layers: outcomes and counters

#[depends]
async fn endless(
    #[dep(session)] _s: &u32,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    let lines = futures_util::stream::unfold(0u32, |i| async move {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Some((Ok(format!("line {i}\n")), i + 1))
    });
    StreamBody::new(lines)
}

#[depends]
async fn stuck(#[dep(session)] _s: &u32) -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

fn layered_app() -> App {
    App::new()
        .get("/endless", endless)
        .get("/stuck", stuck)
        .nest(
            Group::new("/g")
                .layer(tower_http::trace::TraceLayer::new_for_http())
                .get("/endless", endless)
                .get("/stuck", stuck),
        )
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// A stream read in part then dropped, and a request dropped while its handler waits, through
/// app and group layers: each teardown sees the client gone, once, and the counters agree.
#[tokio::test]
async fn probe_streams_dropped_and_requests_abandoned_through_layers_are_client_gone_once() {
    let _serial = serial().await;
    let client = TestClient::start(layered_app()).await.unwrap();
    for path in ["/endless", "/g/endless"] {
        let mut response = client.get(path).send().await;
        assert_eq!(response.status(), StatusCode::OK);
        let first = response.chunk().await.unwrap().unwrap();
        assert!(first.starts_with(b"line 0"), "{first:?}");
        drop(response);
        client.settle().await;
    }
    for path in ["/stuck", "/g/stuck"] {
        let sent = tokio::time::timeout(Duration::from_millis(50), client.get(path).send()).await;
        assert!(sent.is_err());
        client.settle().await;
    }
    assert_eq!(
        events(),
        [
            "session:open",
            "session:close cancelled client gone",
            "session:open",
            "session:close cancelled client gone",
            "session:open",
            "session:close cancelled client gone",
            "session:open",
            "session:close cancelled client gone",
        ]
    );
    let metrics = client.running().metrics();
    assert_eq!(metrics.teardowns.cancelled_client_gone, 4, "{metrics:?}");
    assert_eq!(metrics.teardowns.total(), 4, "{metrics:?}");
    assert_eq!(metrics.requests_in_flight, 0, "{metrics:?}");
    assert_eq!(metrics.teardowns_in_flight, 0, "{metrics:?}");
    assert_eq!(metrics.responses_with(StatusCode::OK), 2, "{metrics:?}");
    client.shutdown().await;
}

// ------------------------------------------------- a layer that calls the app twice (a retry)

/// Calls the app, throws its answer away, and calls it again with the same head (a retry
/// layer that keeps the request's extensions, as one made from a clone of the head does).
#[derive(Clone)]
struct Twice<S>(S);

impl<S> tower::Service<http::Request<Body>> for Twice<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = futures_util::future::BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let mut inner = self.0.clone();
        Box::pin(async move {
            let (parts, _) = request.into_parts();
            let again = || {
                let mut request = http::Request::new(Body::empty());
                *request.method_mut() = parts.method.clone();
                *request.uri_mut() = parts.uri.clone();
                *request.headers_mut() = parts.headers.clone();
                *request.extensions_mut() = parts.extensions.clone();
                request
            };
            let first = inner.call(again()).await?;
            drop(first);
            inner.call(again()).await
        })
    }
}

/// The answer the client gets is the second: its teardown sees success, once the body ended;
/// the first's, thrown away, does not.
#[tokio::test]
async fn a_retry_layer_whose_second_answer_is_sent_tells_its_teardown_success() {
    let _serial = serial().await;
    let app = App::new()
        .get("/quick", quick)
        .layer(tower::layer::layer_fn(Twice));
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/quick").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "quick 2");
    client.settle().await;
    let seen = events();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(
        seen.iter()
            .filter(|e| *e == "session:close success 200")
            .count(),
        1,
        "{seen:?}"
    );
    assert_eq!(
        seen.last().map(String::as_str),
        Some("session:close success 200"),
        "{seen:?}"
    );
    // The first answer, thrown away by the layer: not the client gone (it got its answer).
    assert_eq!(
        seen.iter()
            .filter(|e| *e == "session:close cancelled timeout")
            .count(),
        1,
        "{seen:?}"
    );
    client.shutdown().await;
}

/// A streamed response held unread through layers when the test client shuts down: cut, its
/// teardown told the shutdown, once, and shutdown does not wait for the endless stream.
#[tokio::test]
async fn probe_shutdown_cuts_a_stream_held_through_layers() {
    let _serial = serial().await;
    let client = TestClient::start(layered_app()).await.unwrap();
    let mut held = client.get("/g/endless").send().await;
    assert!(held.chunk().await.unwrap().is_ok());
    let mut held_too = client
        .get("/endless")
        .header("accept-encoding", "gzip")
        .send()
        .await;
    assert_eq!(held_too.header("content-encoding"), Some("gzip"));
    let _ = held_too.chunk().await;
    client.shutdown().await;
    assert_eq!(
        events(),
        [
            "session:open",
            "session:open",
            "session:close cancelled shutdown",
            "session:close cancelled shutdown",
        ]
    );
    drop((held, held_too));
}

// ------------------------------------------ an app mounted in an app with a timeout around both

/// The outer app's `TimeoutLayer` fires while the handler of an app mounted in it waits: the
/// client gets the 408, and what the mounted app set up is told the timeout, as when the
/// handler is the outer app's own (not the client gone: the client is there, and got a 408).
#[tokio::test]
async fn a_timeout_around_a_mounted_app_tells_its_teardowns_the_timeout() {
    let _serial = serial().await;
    let inner = App::new().get("/stuck", stuck).start().await.unwrap();
    let app =
        App::new()
            .nest_service("/inner", inner.service())
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_millis(50),
            ));
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/inner/stuck").send().await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    client.settle().await;
    inner.settle().await;
    assert_eq!(
        events(),
        ["session:open", "session:close cancelled timeout"]
    );
    client.shutdown().await;
    inner.shutdown().await;
}

// ------------------------------------------- a group layer that answers without calling the app

/// An auth layer on a group that answers 401 without calling the route: nothing is set up
/// (the group's dependency included), the answer is counted once and carries the id; the
/// app's other routes are untouched.
#[tokio::test]
async fn probe_a_group_layer_that_answers_early_sets_nothing_up_and_counts_once() {
    let _serial = serial().await;
    let deny = tower::layer::layer_fn(|_inner: di_runtime::InnerService| {
        tower::service_fn(|_request: http::Request<Body>| async move {
            let mut response = http::Response::new(Body::from("no"));
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            Ok::<_, Infallible>(response)
        })
    });
    let app = App::new()
        .get("/quick", quick)
        .nest(
            Group::new("/admin")
                .dependency(session)
                .layer(deny)
                .get("/quick", quick),
        )
        .route_layer(tower_http::trace::TraceLayer::new_for_http());
    let client = TestClient::start(app).await.unwrap();
    let response = client.get("/admin/quick").send().await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.header("x-request-id").is_some());
    assert_eq!(response.text().await.unwrap(), "no");
    let response = client.get("/quick").send().await;
    assert_eq!(response.text().await.unwrap(), "quick 2");
    client.settle().await;
    assert_eq!(events(), ["session:open", "session:close success 200"]);
    let metrics = client.running().metrics();
    assert_eq!(metrics.responses_with(StatusCode::UNAUTHORIZED), 1);
    assert_eq!(metrics.responses_total(), 2);
    assert_eq!(metrics.setups, 1);
    assert_eq!(metrics.teardowns.total(), 1);
    client.shutdown().await;
}
