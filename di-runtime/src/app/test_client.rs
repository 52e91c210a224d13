//! An in-process client for tests: the same service as the server, without sockets.

use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use http::header::{
    CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderName, HeaderValue, TRANSFER_ENCODING,
};
use http::{HeaderMap, Method, StatusCode};
use http_body::{Body as _, Frame, SizeHint};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::app::builder::App;
use crate::app::error::BuildError;
use crate::app::running::Running;
use crate::app::service::AppService;
use crate::input::client::ClientAddr;
use crate::response::body::sends_no_body;
use crate::response::body::{Body, BoxError};
use crate::response::check::held_to_length;
use crate::response::page::NOT_IN_A_URI;

/// Sends requests to an app in process, through exactly the code path the server uses.
///
/// Requests are sent as an HTTP/1.1 client sends them: with a `Host` header (`testserver`, or
/// the authority of an absolute URI, as FastAPI's test client does) and a `Content-Length`
/// for a body (for every `POST`, `PUT` and `PATCH`), unless the test sets its own; a body
/// sent in [chunks](TestRequest::chunked) has no length. Responses come as a server sends
/// them: a body held whole has its `Content-Length` (for a `HEAD` request too, which gets no
/// body), and no body is sent for a `HEAD` request or a `1xx`, `204`, `205` or `304` status.
/// What only a socket shows (a `Date` header, `Transfer-Encoding: chunked` on a streamed
/// body, the server's own checks of a request's framing and `Host`, its timeouts) is not
/// there: see [`App::bind`] to test it.
///
/// The app belongs to the runtime it was started on: the teardowns and background tasks that
/// wait after a response run there. Call [`shutdown`](TestClient::shutdown) at the end of a
/// test: a client dropped without it never tears down `app` scope. To share one app between
/// `#[tokio::test]`s (each on a runtime of its own, which ends with it), start it on a runtime
/// that outlives them (docs/testing.md, "Runtimes").
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[depends]
/// async fn hello() -> &'static str { "hello" }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), di_runtime::BoxError> {
/// let client = TestClient::start(App::new().get("/", hello)).await?;
/// let response = client.get("/").send().await;
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.text().await?, "hello");
/// client.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TestClient {
    running: Running,
    service: AppService,
    /// The bodies of the responses it gave that the test may still hold: cut at shutdown.
    bodies: Mutex<Vec<Weak<BodySlot>>>,
}

/// A response's body, shared by its [`TestResponse`] and the client (`None` once cut).
type BodySlot = Mutex<Option<Body>>;

impl TestClient {
    /// Starts `app` (checking it and setting up `app` scope).
    pub async fn start(app: App) -> Result<Self, BuildError> {
        let running = app.start().await?;
        let service = running.service();
        Ok(Self {
            running,
            service,
            bodies: Mutex::new(Vec::new()),
        })
    }

    /// A request with any method. What a URI cannot hold as it is (a space, non-ASCII text)
    /// is percent-encoded as UTF-8, as FastAPI's test client sends it:
    /// `client.get("/posts/héllo wörld")` requests `/posts/h%C3%A9llo%20w%C3%B6rld`. A URI
    /// written without its leading `/` is taken from the root, as FastAPI's test client takes
    /// it against its base URL: `client.get("notes/1")` requests `/notes/1`.
    pub fn request(&self, method: Method, uri: &str) -> TestRequest<'_> {
        TestRequest {
            client: self,
            method,
            uri: uri.to_owned(),
            headers: HeaderMap::new(),
            body: TestBody::Whole(Bytes::new()),
            client_addr: None,
        }
    }

    /// A `GET` request.
    pub fn get(&self, uri: &str) -> TestRequest<'_> {
        self.request(Method::GET, uri)
    }

    /// A `POST` request.
    pub fn post(&self, uri: &str) -> TestRequest<'_> {
        self.request(Method::POST, uri)
    }

    /// A `PUT` request.
    pub fn put(&self, uri: &str) -> TestRequest<'_> {
        self.request(Method::PUT, uri)
    }

    /// A `DELETE` request.
    pub fn delete(&self, uri: &str) -> TestRequest<'_> {
        self.request(Method::DELETE, uri)
    }

    /// A `PATCH` request.
    pub fn patch(&self, uri: &str) -> TestRequest<'_> {
        self.request(Method::PATCH, uri)
    }

    /// A `HEAD` request: its response has no body, as a server sends none.
    pub fn head(&self, uri: &str) -> TestRequest<'_> {
        self.request(Method::HEAD, uri)
    }

    /// The running app (counters, background teardowns).
    pub fn running(&self) -> &Running {
        &self.running
    }

    /// Waits until every background (`request`-scope) teardown has finished.
    pub async fn settle(&self) {
        self.running.settle().await;
    }

    /// Shuts the app down as a server's graceful shutdown ends: the streamed body of a
    /// response the test still holds unread is cut (its `request`-scope teardowns see
    /// [`CancelReason::Shutdown`](crate::CancelReason::Shutdown), as when a server's grace
    /// period ends), then the teardowns still running are waited for, then `app` scope is torn
    /// down.
    pub async fn shutdown(self) {
        self.running.stop();
        let bodies = std::mem::take(&mut *self.bodies.lock());
        for body in bodies.iter().filter_map(Weak::upgrade) {
            let cut = body.lock().take();
            drop(cut);
        }
        self.running.shutdown().await;
    }

    /// A response whose streamed body the client keeps a handle on (see
    /// [`TestClient::shutdown`]); a body held whole has nothing left to cut.
    fn held(&self, response: http::Response<Body>) -> TestResponse {
        let (head, body) = response.into_parts();
        let whole = body.is_whole();
        let body = Arc::new(Mutex::new(Some(body)));
        if !whole {
            let mut bodies = self.bodies.lock();
            bodies.retain(|held| held.strong_count() > 0);
            bodies.push(Arc::downgrade(&body));
        }
        TestResponse { head, body }
    }
}

/// A request being built by a [`TestClient`].
#[derive(Debug)]
#[must_use = "call `.send().await`"]
pub struct TestRequest<'a> {
    client: &'a TestClient,
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: TestBody,
    client_addr: Option<std::net::SocketAddr>,
}

impl TestRequest<'_> {
    /// Adds a header, its name and value given as text (`&str`, `String`, `&String`). Invalid
    /// names or values are ignored.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let (name, value) = (name.as_ref(), value.as_ref());
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.headers.append(name, value);
        }
        self
    }

    /// Sends `value` as a JSON body (and sets `Content-Type: application/json`).
    ///
    /// # Panics
    ///
    /// If `serde_json` cannot write `value` (a map whose keys are not strings, a `Serialize`
    /// impl that fails): the test fails here, rather than sending a body it never meant to.
    #[track_caller]
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        let json = serde_json::to_vec(value).unwrap_or_else(|error| {
            panic!("`TestRequest::json`: the value cannot be written as JSON: {error}")
        });
        self.body = TestBody::Whole(Bytes::from(json));
        self.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self
    }

    /// Sends `pairs` as a form body, `application/x-www-form-urlencoded` (FastAPI's test
    /// client's `data={...}`), each name and value encoded.
    ///
    /// ```
    /// # use di_runtime::prelude::*;
    /// # async fn f(client: &TestClient) {
    /// let response = client
    ///     .post("/login")
    ///     .form([("username", "ada"), ("password", "p w&d")])
    ///     .send()
    ///     .await;
    /// # }
    /// ```
    pub fn form<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.body = TestBody::Whole(Bytes::from(urlencoded(pairs)));
        self.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        self
    }

    /// Adds `pairs` to the URI's query string (FastAPI's test client's `params={...}`), each
    /// name and value encoded, after any query the URI already has.
    pub fn query<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let query = urlencoded(pairs);
        if !query.is_empty() {
            self.uri
                .push(if self.uri.contains('?') { '&' } else { '?' });
            self.uri.push_str(&query);
        }
        self
    }

    /// Sets the raw body, sent with its `Content-Length`.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = TestBody::Whole(body.into());
        self
    }

    /// Sends the body in `chunks`, its length unknown until its end, as a client streams an
    /// upload with `Transfer-Encoding: chunked` (FastAPI's test client's `content=` given a
    /// generator): no `Content-Length`, so a limit on the body's size is found only as it is
    /// read, as over a socket.
    ///
    /// ```
    /// # use di_runtime::prelude::*;
    /// # async fn f(client: &TestClient) {
    /// let response = client
    ///     .post("/upload")
    ///     .chunked(["first line\n", "second line\n"])
    ///     .send()
    ///     .await;
    /// # }
    /// ```
    pub fn chunked<C: Into<Bytes>>(mut self, chunks: impl IntoIterator<Item = C>) -> Self {
        self.body = TestBody::Chunks(chunks.into_iter().map(Into::into).collect());
        self
    }

    /// The client's address, as [`ClientAddr`] gives it to the app (a server gives every
    /// request its connection's; the test client gives none unless told).
    pub fn client_addr(mut self, addr: std::net::SocketAddr) -> Self {
        self.client_addr = Some(addr);
        self
    }

    /// Sends the request and returns the response. A body held whole (a handler's `String`,
    /// `Json`, bytes) is read at once, as a server sends it whether or not its client reads
    /// it: its `request`-scope teardowns and background tasks run though the test never reads
    /// it. A streamed body is read as the test reads it (see [`TestResponse`]).
    pub async fn send(self) -> TestResponse {
        let head_request = self.method == Method::HEAD;
        // As a server answers a request line it cannot parse: a bare 400, before the app.
        let Ok(uri) = encode_uri(&from_the_root(&self.uri)).parse::<http::Uri>() else {
            let mut response = http::Response::new(Body::empty());
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return self.client.held(response);
        };
        let mut headers = self.headers;
        // What an HTTP/1.1 client sends with every request.
        if !headers.contains_key(HOST)
            && let Ok(host) = HeaderValue::from_str(&host_of(&uri))
        {
            headers.insert(HOST, host);
        }
        // Its body's framing, unless the test gave one: a length for a body, and for every
        // method that sends one even when empty (as httpx, FastAPI's test client, does).
        let framed =
            headers.contains_key(CONTENT_LENGTH) || headers.contains_key(TRANSFER_ENCODING);
        let sends_body = matches!(self.method, Method::POST | Method::PUT | Method::PATCH);
        match &self.body {
            TestBody::Whole(body) if !framed && (sends_body || !body.is_empty()) => {
                headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            }
            TestBody::Chunks(_) if !framed => {
                headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
            }
            _ => {}
        }
        let mut request = http::Request::new(self.body);
        *request.method_mut() = self.method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        if let Some(addr) = self.client_addr {
            request.extensions_mut().insert(ClientAddr(addr));
        }
        let mut response = self.client.service.call_request(request).await;
        // As a server does: the length of a body held whole, when the response gives none;
        // none for a 1xx or 204, even one the handler gave, none added to a 304, and `0` for
        // a 205, whatever its body (`app::connections`).
        let status = response.status();
        let length = response.body().size_hint().exact();
        let headers = response.headers_mut();
        if status.is_informational() || status == StatusCode::NO_CONTENT {
            headers.remove(CONTENT_LENGTH);
        } else if status == StatusCode::RESET_CONTENT {
            headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        } else if let Some(length) = length.filter(|_| status != StatusCode::NOT_MODIFIED)
            && !headers.contains_key(CONTENT_LENGTH)
            && !headers.contains_key(TRANSFER_ENCODING)
        {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
            // A body of another type than ours may hint a length it does not hold: held to it,
            // as hyper holds a body to the length it sends, it fails where they part.
            if !response.body().is_whole() {
                let body = std::mem::take(response.body_mut());
                *response.body_mut() = held_to_length(body, length);
            }
        }
        // As a server does: no body for a HEAD request, or a 1xx, 204 or 304 response (hyper
        // drops it unread, which is its end).
        if head_request || sends_no_body(response.status()) {
            drop(std::mem::take(response.body_mut()));
        } else if response.body().is_whole() {
            // As a server sends a body held whole, whether or not its client reads it: its
            // `request`-scope teardowns and background tasks are not left to the test reading
            // it. A streamed body is read as the test reads it.
            let body = std::mem::take(response.body_mut());
            *response.body_mut() = read_whole(body).await;
        }
        self.client.held(response)
    }
}

/// The `Host` an HTTP/1.1 client sends for `uri`: `testserver` for a path, else the URI's
/// host and its port unless it is the scheme's own (no credentials), as httpx sends it.
fn host_of(uri: &http::Uri) -> String {
    let Some(host) = uri.host() else {
        return "testserver".to_owned();
    };
    let default = if uri.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    match uri.port_u16() {
        Some(port) if port != default => format!("{host}:{port}"),
        _ => host.to_owned(),
    }
}

/// A test request's body: held whole (its size known, as a body sent with its
/// `Content-Length`), or sent in chunks of which the app learns the size only at the end.
#[derive(Debug)]
enum TestBody {
    Whole(Bytes),
    Chunks(std::collections::VecDeque<Bytes>),
}

impl http_body::Body for TestBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let chunk = match self.get_mut() {
            TestBody::Whole(body) => Some(std::mem::take(body)).filter(|body| !body.is_empty()),
            TestBody::Chunks(chunks) => loop {
                match chunks.pop_front() {
                    Some(chunk) if chunk.is_empty() => {}
                    chunk => break chunk,
                }
            },
        };
        Poll::Ready(chunk.map(|chunk| Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            TestBody::Whole(body) => body.is_empty(),
            TestBody::Chunks(chunks) => chunks.iter().all(Bytes::is_empty),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            TestBody::Whole(body) => SizeHint::with_exact(body.len() as u64),
            TestBody::Chunks(_) => SizeHint::default(),
        }
    }
}

/// `body` read to its end, as a body that gives the same frames: its data at once, then its
/// trailers or its error, if any.
async fn read_whole(mut body: Body) -> Body {
    let mut data = BytesMut::new();
    let last = loop {
        match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            None => break None,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(chunk) => data.extend_from_slice(&chunk),
                Err(frame) => break Some(Ok(frame)),
            },
            Some(Err(error)) => break Some(Err(error)),
        }
    };
    let data = data.freeze();
    match last {
        None => Body::from(data),
        Some(last) => {
            let first = (!data.is_empty()).then(|| Ok(Frame::data(data)));
            Body::new(http_body_util::StreamBody::new(futures_util::stream::iter(
                first.into_iter().chain([last]),
            )))
        }
    }
}

/// `pairs` as `application/x-www-form-urlencoded` text (a form body, a query string), each
/// name and value encoded.
fn urlencoded<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> String {
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        encoded.append_pair(name.as_ref(), value.as_ref());
    }
    encoded.finish()
}

/// `uri` as FastAPI's test client (httpx) takes it against its base URL: a path without its
/// leading `/` (`notes/1`, `?page=2`) from the root; an absolute URI (with its `scheme://`),
/// a path, `*` and `""` (which no request line holds) as they are.
fn from_the_root(uri: &str) -> std::borrow::Cow<'_, str> {
    if uri.is_empty() || uri.starts_with('/') || uri == "*" || uri.contains("://") {
        uri.into()
    } else {
        format!("/{uri}").into()
    }
}

/// `uri` with what a URI cannot hold percent-encoded (UTF-8), as FastAPI's test client (httpx)
/// sends `/posts/héllo wörld` as `/posts/h%C3%A9llo%20w%C3%B6rld`; what is already
/// percent-encoded stays as it is.
fn encode_uri(uri: &str) -> std::borrow::Cow<'_, str> {
    percent_encoding::utf8_percent_encode(uri, NOT_IN_A_URI).into()
}

/// A response received by a [`TestClient`]. A streamed body is read on demand, so a test can
/// read part of it and then drop the response, like a client that goes away: the body's
/// `request`-scope teardowns see [`CancelReason::ClientGone`](crate::CancelReason::ClientGone).
#[derive(Debug)]
pub struct TestResponse {
    head: http::response::Parts,
    body: Arc<BodySlot>,
}

impl TestResponse {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.head.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// One header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The next frame of the body, or `None` at its end; an error once the client was shut
    /// down with the body unread.
    async fn frame(&self) -> Option<Result<Frame<Bytes>, BoxError>> {
        std::future::poll_fn(|cx| match self.body.lock().as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(Some(Err("the test client was shut down".into()))),
        })
        .await
    }

    /// The next data frame of the body, or `None` at its end.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, BoxError>> {
        loop {
            match self.frame().await? {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => return Some(Ok(data)),
                    Err(_trailers) => continue,
                },
                Err(error) => return Some(Err(error)),
            }
        }
    }

    /// The whole body.
    pub async fn bytes(mut self) -> Result<Bytes, BoxError> {
        let mut whole = BytesMut::new();
        while let Some(data) = self.chunk().await {
            whole.extend_from_slice(&data?);
        }
        Ok(whole.freeze())
    }

    /// The whole body as text (lossy UTF-8).
    pub async fn text(self) -> Result<String, BoxError> {
        let bytes = self.bytes().await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The whole body as JSON.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, BoxError> {
        let bytes = self.bytes().await?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// The underlying response (its body no longer cut by [`TestClient::shutdown`]; empty if
    /// it already was).
    pub fn into_inner(self) -> http::Response<Body> {
        let body = self.body.lock().take().unwrap_or_default();
        http::Response::from_parts(self.head, body)
    }
}
