//! A configuration walk: an app configured wrongly or at the edges, as real users configure
//! one (routes that conflict or can never match, settings of zero, services mounted twice,
//! the test client given bad input). What must hold: `App::check` refuses what could never
//! work, naming the route or setting and saying how to fix it, and what it accepts behaves
//! as documented.

mod common;

use std::time::Duration;

use di_runtime::prelude::*;

#[depends]
async fn hello() -> &'static str {
    "hello"
}

// ------------------------------------------------------------------ routes that never match

/// A route written with what no request's path holds as it is (non-ASCII text, a space), or
/// with a query string or a fragment, was accepted and then never matched: every request to
/// it was a 404. `check` refuses it and gives the path to write.
#[tokio::test]
async fn a_route_path_no_request_can_have_is_refused_with_the_path_to_write() {
    let app = App::new()
        .get("/café", hello)
        .get("/a b/{id}", hello)
        .get("/search?q=1", hello)
        .get("/page#top", hello)
        .nest(Group::new("/über").get("/x", hello));
    assert_eq!(
        common::problems(&app),
        [
            "route GET /café: `é` cannot be in a request's path as it is (a client sends it percent-encoded), so this route would never match; write `/caf%C3%A9`",
            "route GET /a b/{id}: ` ` cannot be in a request's path as it is (a client sends it percent-encoded), so this route would never match; write `/a%20b/{id}`",
            "route GET /search?q=1: a route's path has no query string (`?q=1`), so this route would never match; write `/search` and read the query with `Query<T>`",
            "route GET /page#top: a client never sends a fragment (`#top`), so this route would never match; write `/page`",
            "route GET /über/x: `ü` cannot be in a request's path as it is (a client sends it percent-encoded), so this route would never match; write `/%C3%BCber/x`",
        ]
    );

    // Written as told, the route is what a client reaches (the test client encodes as a
    // browser does).
    let client = TestClient::start(App::new().get("/caf%C3%A9", hello))
        .await
        .expect("starts");
    let response = client.get("/café").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "hello");
    client.shutdown().await;
}

#[depends]
async fn by_id(Path(id): Path<String>) -> String {
    id
}

/// `GET /items/{id}` beside `DELETE /items/{item_id}` (two handlers written apart) was
/// refused with the router's own words, "invalid path: Insertion failed due to conflict with
/// previously registered route: /items/{id}", naming neither the route nor the handler it
/// conflicts with (the methods differ: why a conflict?) nor the fix. `check` now says both
/// routes, why, and what to write.
#[test]
fn routes_that_conflict_name_each_other_and_the_fix() {
    let app = App::new()
        .get("/items/{id}", by_id)
        .delete("/items/{item_id}", by_id)
        .get("/files/{*path}", by_id)
        .get("/files/{*rest}", by_id)
        .get("/users/{id}", by_id)
        .post("/users/{*rest}", by_id);
    assert_eq!(
        common::problems(&app),
        [
            "route DELETE /items/{item_id}: it matches the same requests as route GET /items/{id} (`by_id`), with other names for the parameters; a path's parameters have one name whatever the method: write `/items/{id}`",
            "route GET /files/{*rest}: it matches the same requests as route GET /files/{*path} (`by_id`), with other names for the parameters, so one of the two would never be reached; remove one",
            "route POST /users/{*rest}: it conflicts with route GET /users/{id} (`by_id`): both could match one request's path at the same place (a `{name}` and a `{*rest}`, say); change one of the two paths",
        ]
    );
}

// ------------------------------------------------------------------------ mounted services

/// A tower service answering with `name`.
fn named(
    name: &'static str,
) -> impl tower::Service<
    http::Request<di_runtime::Body>,
    Response = http::Response<String>,
    Error = std::convert::Infallible,
    Future = std::future::Ready<Result<http::Response<String>, std::convert::Infallible>>,
> + Clone
+ Send
+ Sync
+ 'static {
    tower::service_fn(move |_: http::Request<di_runtime::Body>| {
        std::future::ready(Ok(http::Response::new(name.to_owned())))
    })
}

/// Two services nested at one prefix (a v1 and a v2 of a legacy API, both mounted at
/// `/legacy` by mistake) were accepted, and the second was never reached: every request went
/// to the first. axum refuses it when the router is built; `check` now refuses it.
#[tokio::test]
async fn two_services_nested_at_one_prefix_are_refused() {
    let app = App::new()
        .get("/", hello)
        .nest_service("/legacy", named("v1"))
        .nest_service("/legacy", named("v2"));
    assert_eq!(
        common::problems(&app),
        [
            "service nested at `/legacy` twice: every request under it goes to the first, so the second would never be reached; nest each at a prefix of its own"
        ]
    );

    // At prefixes of their own, each is reached.
    let app = App::new()
        .get("/", hello)
        .nest_service("/legacy", named("v1"))
        .nest_service("/legacy2", named("v2"));
    let client = TestClient::start(app).await.expect("starts");
    for (path, answer) in [("/legacy/x", "v1"), ("/legacy2/x", "v2")] {
        let response = client.get(path).send().await;
        assert_eq!(response.text().await.unwrap(), answer, "{path}");
    }
    client.shutdown().await;
}

/// A service nested under a longer prefix than another's (`/api` for the old API, and
/// `/api/v2` for its successor, mounted after it) was never reached: the first prefix that
/// matched took every request, so `/api/v2/users` reached the old API as `/v2/users`. The
/// longest prefix that matches now takes it, as axum's nested services do, in either order.
#[tokio::test]
async fn a_service_nested_under_a_longer_prefix_is_reached_whatever_the_order() {
    for v2_first in [false, true] {
        let app = App::new().get("/", hello);
        let app = if v2_first {
            app.nest_service("/api/v2", named("v2"))
                .nest_service("/api", named("v1"))
        } else {
            app.nest_service("/api", named("v1"))
                .nest_service("/api/v2", named("v2"))
        };
        let client = TestClient::start(app).await.expect("starts");
        for (path, answer) in [
            ("/api/v2/users", "v2"),
            ("/api/v2", "v2"),
            ("/api/v2x", "v1"),
            ("/api/users", "v1"),
            ("/api", "v1"),
        ] {
            let response = client.get(path).send().await;
            assert_eq!(
                response.text().await.unwrap(),
                answer,
                "{path}, v2 first: {v2_first}"
            );
        }
        client.shutdown().await;
    }
}

/// A service nested at a prefix with a parameter in it (`/tenants/{id}`, as a route would be
/// written) was accepted and never reached: a prefix is matched as literal text, so only a
/// path holding `{id}` itself went to it and every tenant's request was a 404. A prefix that
/// no request could match (a space, non-ASCII text, a query) was accepted the same way.
/// `check` refuses both and says what to write.
#[tokio::test]
async fn a_nested_prefix_with_a_parameter_or_what_no_path_holds_is_refused() {
    let app = App::new()
        .get("/", hello)
        .nest_service("/tenants/{id}", named("tenant"))
        .nest_service("/files/{*rest}", named("files"))
        .nest_service("/café", named("cafe"))
        .nest_service("/search?q=1", named("search"));
    assert_eq!(
        common::problems(&app),
        [
            "service nested at `/tenants/{id}`: a prefix is matched as literal text and cannot hold a parameter (`{id}`), so this service would never be reached; nest it at `/tenants` and read the rest of the path in the service",
            "service nested at `/files/{*rest}`: a prefix is matched as literal text and cannot hold a parameter (`{*rest}`), so this service would never be reached; nest it at `/files` and read the rest of the path in the service",
            "service nested at `/café`: `é` cannot be in a request's path as it is (a client sends it percent-encoded), so this service would never be reached; write `/caf%C3%A9`",
            "service nested at `/search?q=1`: a prefix has no query string (`?q=1`), so this service would never be reached; write `/search`",
        ]
    );
}

// ------------------------------------------------------------------ the test client misused

#[depends]
async fn length(body: Bytes) -> String {
    format!("{} bytes", body.len())
}

/// A value `serde_json` cannot write (a map keyed by tuples) given to `TestRequest::json` was
/// sent as an empty body labelled `application/json`: the test then saw the app's answer to
/// a request it never meant to send (a 422, or here a 200 for 0 bytes) and looked for the bug
/// in the app. It now fails the test where the value is given, saying why, as axum-test's and
/// httpx's `json=` do.
#[tokio::test]
#[should_panic(
    expected = "`TestRequest::json`: the value cannot be written as JSON: key must be a string"
)]
async fn a_json_body_that_cannot_be_written_fails_the_test_where_it_is_given() {
    let client = TestClient::start(App::new().post("/", length))
        .await
        .expect("starts");
    let mut by_pair = std::collections::HashMap::new();
    by_pair.insert((1, 2), "three");
    let response = client.post("/").json(&by_pair).send().await;
    // Before: `200 "0 bytes"`.
    panic!("sent: {} {:?}", response.status(), response.text().await);
}
#[depends]
async fn path_and_host(uri: &Uri, headers: &HeaderMap) -> String {
    let host = headers.get("host").and_then(|host| host.to_str().ok());
    format!("{uri} at {}", host.unwrap_or_default())
}

/// A URI written without its leading `/` (`client.get("notes/1?page=2")`) was a bare 400,
/// as if the app had refused it (or, for one word, `"notes"`, a 404 with `Host: notes`:
/// taken as a host name). FastAPI's test client takes such a URI relative to its base URL,
/// `/notes/1?page=2`; so does this one now. An absolute URI keeps its host.
#[tokio::test]
async fn a_uri_without_its_leading_slash_is_taken_from_the_root() {
    let client = TestClient::start(App::new().get("/{*rest}", path_and_host))
        .await
        .expect("starts");
    for (uri, seen) in [
        ("notes", "/notes at testserver"),
        ("notes/1?page=2", "/notes/1?page=2 at testserver"),
        ("/notes", "/notes at testserver"),
        (
            "http://example.com/notes",
            "http://example.com/notes at example.com",
        ),
    ] {
        let response = client.get(uri).send().await;
        assert_eq!(response.status(), 200, "{uri}");
        assert_eq!(response.text().await.unwrap(), seen, "{uri}");
    }
    // What no request line holds is still the bare 400 docs/testing.md says.
    assert_eq!(client.get("").send().await.status(), 400);
    client.shutdown().await;
}

// ------------------------------------------------------------------------ settings of zero

/// `http2_keep_alive(Some(Duration::ZERO), ..)` was accepted, and every HTTP/2 connection was
/// sent a PING as soon as the last was answered: a client that answers them got about 830 a
/// second on loopback, for as long as it stayed connected. A zero timeout closed every
/// HTTP/2 connection at its first PING (within milliseconds with a zero interval), healthy or
/// not. `check` refuses both, as it refuses a zero `tcp_keepalive`; `None` still turns the
/// pings off, whatever the timeout.
#[test]
fn a_zero_http2_keep_alive_interval_or_timeout_is_refused() {
    let second = Duration::from_secs(1);
    assert_eq!(
        common::problems(
            &App::new()
                .get("/", hello)
                .http2_keep_alive(Some(Duration::ZERO), second)
        ),
        [
            "`App::http2_keep_alive(Some(Duration::ZERO), ..)`: a PING would follow the answer to the last at once, for as long as each connection is open; give the silence after which to send one (default 30 s), or `None` for no pings"
        ]
    );
    assert_eq!(
        common::problems(
            &App::new()
                .get("/", hello)
                .http2_keep_alive(Some(second), Duration::ZERO)
        ),
        [
            "`App::http2_keep_alive(.., Duration::ZERO)`: every HTTP/2 connection would be closed at its first PING, as no answer comes in no time; give the time an answer may take (default 20 s)"
        ]
    );
    App::new()
        .get("/", hello)
        .http2_keep_alive(None, Duration::ZERO)
        .check()
        .expect("no pings: the timeout is never used");
}

/// `header_read_timeout(Duration::ZERO)` and `idle_timeout(Duration::ZERO)` were accepted,
/// and the server closed every connection whose request head had not come with its opening
/// (a client that connects, then sends 100 ms later, read the end of the stream and never an
/// answer): a server that serves nothing, with no error at start. `check` refuses both.
#[test]
fn a_zero_header_read_or_idle_timeout_is_refused() {
    assert_eq!(
        common::problems(
            &App::new()
                .get("/", hello)
                .header_read_timeout(Duration::ZERO)
                .idle_timeout(Duration::ZERO)
        ),
        [
            "`App::header_read_timeout(Duration::ZERO)`: every connection would be closed before a request's head could arrive; give the time a client may take to send one (default 30 s)",
            "`App::idle_timeout(Duration::ZERO)`: every connection would be closed as soon as no request is in progress, before its first one; give the time a connection may stay idle (default 30 s)",
        ]
    );
}

/// `teardown_timeout(Duration::ZERO)` was accepted, and every teardown was abandoned at its
/// first wait: a `handler`-scope commit began (told `Success`), was dropped at its first
/// `.await`, never finished, and the client got a 500 for a request whose handler had
/// succeeded. `check` refuses it.
#[test]
fn a_zero_teardown_timeout_is_refused() {
    assert_eq!(
        common::problems(&App::new().get("/", hello).teardown_timeout(Duration::ZERO)),
        [
            "`App::teardown_timeout(Duration::ZERO)`: every teardown would be abandoned at its first wait, a commit cut in half; give the time one may take (default 30 s)"
        ]
    );
}

/// `request_timeout(Duration::ZERO)` (where `None` is the way to say "no limit") and
/// `body_timeout(Duration::ZERO)` were accepted: every request that had to wait at all (for
/// a body sent 100 ms after its head, a setup that awaits) was answered 503 "Request timed
/// out", every body not there with its head 408, and the connection closed. `check` refuses
/// both.
#[test]
fn a_zero_request_or_body_timeout_is_refused() {
    assert_eq!(
        common::problems(
            &App::new()
                .get("/", hello)
                .request_timeout(Duration::ZERO)
                .body_timeout(Duration::ZERO)
        ),
        [
            "`App::request_timeout(Duration::ZERO)`: every request that waits at all (for its body, a place, a setup) would be answered 503; give the time one may take (default 60 s), or `None` for no limit",
            "`App::body_timeout(Duration::ZERO)`: every request body not there with its head would be answered 408; give the time one may take to arrive (default 30 s)",
        ]
    );
    App::new()
        .get("/", hello)
        .request_timeout(None)
        .check()
        .expect("no limit");
}

/// `http2_max_concurrent_streams(0)` was accepted, and every HTTP/2 client was told it may
/// open no stream: a hyper client's request waited for ever (3 s in the walk, then given up),
/// while HTTP/1 clients were served. `check` refuses it.
#[test]
fn a_zero_http2_stream_limit_is_refused() {
    assert_eq!(
        common::problems(&App::new().get("/", hello).http2_max_concurrent_streams(0)),
        [
            "`App::http2_max_concurrent_streams(0)`: every HTTP/2 client would be told it may open no stream, and its requests would wait for ever; give 1 or more (default 100)"
        ]
    );
}

/// `max_connections(0)` and `max_background_teardowns(0)` (a limit read from the
/// configuration, where 0 often means "none") were quietly taken as 1: a server that served
/// one connection at a time, every other client waiting in the listen backlog, and an app
/// whose requests with `request`-scope teardowns went one at a time. Nothing said so, at
/// start or in the docs. `check` refuses both.
#[test]
fn a_zero_connection_or_background_limit_is_refused_not_taken_as_one() {
    assert_eq!(
        common::problems(
            &App::new()
                .get("/", hello)
                .max_connections(0)
                .max_background_teardowns(0)
        ),
        [
            "`App::max_background_teardowns(0)`: no request with `request`-scope teardowns could ever be served; give 1 or more (default 10,000)",
            "`App::max_connections(0)`: no connection could ever be served; give 1 or more (default 10,000)",
        ]
    );
}

/// `max_head_size` is documented as the same for both protocols, at least 8 KiB over
/// HTTP/1. Below 8 KiB, HTTP/1 took 8 KiB while HTTP/2 announced the value given: with
/// `max_head_size(100)` a plain `GET /` was 200 over HTTP/1 and 431 over HTTP/2, and with
/// `max_head_size(0)` every HTTP/2 connection was closed with `GOAWAY` (`ENHANCE_YOUR_CALM`)
/// at its first request. Both protocols now take at least 8 KiB.
#[tokio::test]
async fn a_head_size_below_the_floor_is_the_same_floor_over_both_protocols() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for size in [0, 100] {
        let server = App::new()
            .get("/", hello)
            .max_head_size(size)
            .bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = server.local_addr();

        let mut http1 = tokio::net::TcpStream::connect(addr).await.unwrap();
        http1
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        http1.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{size}: {answer}");

        let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut http2, connection) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(socket),
        )
        .await
        .unwrap();
        let driver = tokio::spawn(connection);
        let request = http::Request::get(format!("http://{addr}/"))
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(10), http2.send_request(request))
            .await
            .expect("answered");
        assert_eq!(
            response.map(|r| r.status()).ok(),
            Some(StatusCode::OK),
            "{size}"
        );
        driver.abort();
        server.shutdown().await;
    }
}

// ------------------------------------------------------------------ a request id's header

/// `App::request_id_header` naming a header HTTP itself uses for the message's framing, its
/// connection or its content was accepted, and the id was written into it in every response:
/// `content-length: d6424b44…` (a length no client can read), `transfer-encoding: <id>,
/// chunked`, a `connection: <id>` (which HTTP/2 forbids), a `content-type` replaced by the
/// id; read back from requests, every `POST` with `Content-Length: 3` had the id `3`, and its
/// response claimed 3 bytes for a 7-byte body (in a debug build hyper panicked on it, and
/// the client got no answer; in a release build it sends the header and the connection is
/// out of step). `check` now refuses such a name.
#[tokio::test]
async fn a_request_id_header_that_http_uses_for_framing_or_content_is_refused() {
    for name in [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "te",
        "trailer",
        "host",
        "content-type",
        "content-encoding",
    ] {
        let app = App::new()
            .post("/", length)
            .request_id_header(http::HeaderName::from_static(name));
        assert_eq!(
            common::problems(&app),
            [format!(
                "`App::request_id_header(\"{name}\")`: HTTP uses `{name}` for the message's framing, its connection or its content, so it cannot carry a request id (each response's would be replaced by the id); name a header of its own, such as `x-request-id`"
            )],
        );
    }

    // One of its own is sent back, whatever the case it was written in.
    let app = App::new()
        .post("/", length)
        .request_id_header(http::HeaderName::from_static("x-correlation-id"));
    let client = TestClient::start(app).await.expect("starts");
    let response = client
        .post("/")
        .header("X-Correlation-ID", "abc-1")
        .body("abc")
        .send()
        .await;
    assert_eq!(response.header("x-correlation-id"), Some("abc-1"));
    assert_eq!(response.header("content-length"), Some("7"));
    assert_eq!(response.text().await.unwrap(), "3 bytes");
    client.shutdown().await;
}

// --------------------------------------------------------------- one dependency, two apps

struct Conn;

/// Set up and torn down for each app, in order.
static POOL_EVENTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

#[depends(scope = "app")]
async fn pool_name(y: Yield<String>) {
    let name = format!("pool {}", POOL_EVENTS.lock().unwrap().len());
    POOL_EVENTS.lock().unwrap().push(format!("{name} set up"));
    let (name, _) = y.provide(name).await;
    POOL_EVENTS
        .lock()
        .unwrap()
        .push(format!("{name} torn down"));
}

#[depends(max_concurrency = 1)]
async fn only_one(#[dep(pool_name)] _pool: &String, y: Yield<Conn>) {
    let _ = y.provide(Conn).await;
}

#[depends]
async fn held(
    #[dep(pool_name)] pool: &String,
    #[dep(only_one)] conn: Held<Conn>,
) -> StreamBody<
    impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
> {
    let first = Bytes::from(pool.clone());
    let chunks = futures_util::stream::unfold((conn, Some(first)), |(conn, first)| async move {
        match first {
            Some(first) => Some((Ok(first), (conn, None))),
            None => std::future::pending().await,
        }
    });
    StreamBody::new(chunks)
}

/// The same `#[depends]` functions in two apps (a library's dependency, an app and its test
/// twin started side by side): each app has its own `app`-scope instance, set up and torn
/// down with it, and its own `max_concurrency` places, although the limit is declared once
/// on the function: one app holding its only place keeps nothing from the other.
#[tokio::test]
async fn a_dependency_in_two_apps_has_an_instance_and_places_in_each() {
    POOL_EVENTS.lock().unwrap().clear();
    let app = || {
        App::new()
            .get("/", held)
            .max_concurrency_wait(Duration::from_millis(50))
    };
    let first = TestClient::start(app()).await.expect("starts");
    let second = TestClient::start(app()).await.expect("starts");

    let mut held_by_first = first.get("/").send().await;
    assert_eq!(held_by_first.status(), 200);
    assert_eq!(held_by_first.chunk().await.unwrap().unwrap(), "pool 0");
    // The first app's only place is taken: its next request waits, then 503.
    assert_eq!(first.get("/").send().await.status(), 503);
    // The second app's is free.
    let mut held_by_second = second.get("/").send().await;
    assert_eq!(held_by_second.status(), 200);
    assert_eq!(held_by_second.chunk().await.unwrap().unwrap(), "pool 1");

    drop((held_by_first, held_by_second));
    first.shutdown().await;
    second.shutdown().await;
    assert_eq!(
        *POOL_EVENTS.lock().unwrap(),
        [
            "pool 0 set up",
            "pool 1 set up",
            "pool 0 torn down",
            "pool 1 torn down"
        ]
    );
}
