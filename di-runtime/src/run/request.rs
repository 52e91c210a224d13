//! One request from routing to response: extract inputs, set up dependencies in order, run
//! the handler, tear down `handler` scope, and hand `request` scope to the response body.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Method, StatusCode};
use http_body_util::{BodyDataStream, Limited};

use crate::contract::background::BackgroundTasks;
use crate::contract::body::{BodyFrames, Unread};
use crate::contract::meta::{Answer, Answered, StartedKind};
use crate::contract::outcome::{CancelReason, Outcome};
use crate::contract::request::RequestHead;
use crate::contract::request_id::RequestId;
use crate::contract::scope::Scope;
use crate::contract::slot::Slot;
use crate::panic::{OneLine, Panic, catch, catch_call, drop_logged_for};
use crate::plan::node::Plan;
use crate::plan::routes::Route;
use crate::response::body::{Body, BoxError, Response, sends_no_body};
use crate::response::error::BodyError;
use crate::response::error::{Gathered, HttpError};
use crate::response::into::{ErrorMark, IntoResponse, Unserializable, internal_error_response};
use crate::run::background::{BackgroundPlace, BackgroundPlaces, drop_tasks};
use crate::run::body::{AfterBody, guarded, tracked};
use crate::run::config::Config;
use crate::run::deadline::{BodyTimedOut, Deadline};
use crate::run::engine::{Admitted, Engine, kept_span};
use crate::run::outer::{AppBody, Outer};
use crate::run::places::{Places, take_places, try_take_places};
use crate::run::setup::{
    Failure, SetupDone, Starting, failure, panicked, run_setup, setups_traced, start_function,
    waited,
};
use crate::run::teardown::{StackReport, StackRun, Suspended, run_stack};

/// Teardowns still owed by a request. If the request future is dropped (the client went away,
/// the server stopped it) they are handed to a tracked background task with
/// [`Outcome::Cancelled`]; no user code ever runs inside `Drop`.
struct Owed {
    engine: Arc<Engine>,
    slots: Vec<Slot>,
    /// The generators suspended in `provide`, of both scopes, in the order they were set up
    /// (one allocation for both: `handler` scope is torn down out of it with
    /// [`StackRun::only`]).
    stack: Vec<Suspended>,
    /// The places taken before setup, given back as the request's teardowns end.
    places: Places,
    /// The request's head, whose `BackgroundTasks` are dropped, not run, when the request is
    /// abandoned.
    head: Arc<RequestHead>,
    /// The `handler`-scope teardowns while they run (with the rest of the stack). They run
    /// in the request's own task; if that task is dropped half-way (the client went away),
    /// `Drop` moves this future, where it stands, into a tracked background task, so a COMMIT
    /// is never cut in half.
    in_flight: Option<StackRun>,
    /// The request's span, for teardowns handed off from `Drop` (see [`kept_span`]).
    span: Option<tracing::Span>,
}

impl Owed {
    /// Whether a generator of `scope` waits for its teardown.
    fn owes(&self, scope: Scope) -> bool {
        self.stack.iter().any(|suspended| suspended.scope == scope)
    }
}

impl Drop for Owed {
    fn drop(&mut self) {
        // Skipped tasks go first: one may hold a value whose teardown would wait for it.
        drop_tasks(self.head.take_background(), &self.head.request_id);
        // What is left of the request's values (an input the handler never took: a setup
        // refused the request first, or the request was dropped before its handler ran), each
        // `Drop` a user's that may panic: inside a catch, so that the panic unwinds neither
        // through the request's future as it ends (losing its answer) nor into whoever dropped
        // it. The cells hold no borrow: no teardown waits for them.
        if !self.slots.is_empty() {
            drop_logged_for(
                std::mem::take(&mut self.slots),
                "a request's input or value",
                Some(&self.head.request_id),
            );
        }
        if self.stack.is_empty() && self.in_flight.is_none() {
            return;
        }
        let _span = self.span.clone().map(tracing::Span::entered);
        let in_flight = self.in_flight.take();
        let stack = std::mem::take(&mut self.stack);
        let mut places = std::mem::take(&mut self.places);
        // No more setups: the places of what was never set up go back now.
        places.release_unused();
        let engine = self.engine.clone();
        let request_id = self.head.request_id.clone();
        // Inside tower layers, how the request was cancelled is the entry point's verdict (a
        // layer that answered in the handler's place, or the client gone), or a layer's retry
        // (see `Abandoned::outcome`). Those of another app too, when this app is mounted in it
        // (`App::nest_service`).
        let abandoned = Outer::of(&self.head.parts).map(|outer| outer.abandon());
        let waiting = places
            .background
            .is_none()
            .then(|| engine.background_place());
        // Not `spawn_background`: `handler`-scope teardowns (under way or not yet begun) run at
        // once, without waiting for a background place; the rest uses the request's place, or
        // waits for one.
        engine.clone().spawn_tracked(async move {
            // The `handler`-scope run under way first: it was told its outcome already and
            // needs no verdict, and a layer that answers only later (one that retries the
            // request) may be waiting for what the commit holds. It holds the rest of the
            // stack.
            let (failed, stack) = match in_flight {
                Some(in_flight) => {
                    let report = in_flight.await;
                    let failed = matches!(report.outcome, Outcome::TeardownFailed { .. })
                        .then_some(report.outcome);
                    (failed, report.rest)
                }
                None => (None, stack),
            };
            // A failed commit is what the request ended with, even if the client left during
            // it; otherwise what the entry point decided it ended with (a layer's timeout, a
            // layer's panic), asked only when something is left to tear down, else the
            // cancellation.
            let decided = match (&failed, abandoned) {
                (None, Some(abandoned)) if !stack.is_empty() => abandoned.outcome().await,
                _ => None,
            };
            let outcome = failed
                .or(decided)
                .unwrap_or_else(|| Outcome::Cancelled(engine.cancel_reason()));
            // `handler` scope first, at once: a rollback waits for no place (one that did
            // could wait on another request's teardown, which may itself wait on what the
            // rollback would release: a pool's connection).
            let handler = run_stack(engine.clone(), stack, outcome, Some(&request_id));
            let report = handler.only(Scope::Handler).await;
            // `handler` scope has ended: so have the places its plain dependencies kept, as
            // for a request that was not abandoned.
            places.release_handler();
            if !report.rest.is_empty() {
                let _place = match waiting {
                    Some(waiting) => Some(waiting.await),
                    None => None,
                };
                run_stack(engine, report.rest, report.outcome, Some(&request_id)).await;
            }
            drop(places);
        });
    }
}

/// How [`handle`] boxes a request's future: once, whichever form it takes (a request served
/// at once, one whose body is read first, an answer given before either).
pub(crate) trait BoxWith {
    /// The future `make` makes, boxed (and wrapped, for a [`BoxWith`] that wraps it).
    fn boxed<F>(self, make: impl FnOnce() -> F) -> BoxFuture<'static, Response>
    where
        F: Future<Output = Response> + Send + 'static;
}

/// Boxed as it is.
pub(crate) struct Boxed;

impl BoxWith for Boxed {
    #[inline]
    fn boxed<F>(self, make: impl FnOnce() -> F) -> BoxFuture<'static, Response>
    where
        F: Future<Output = Response> + Send + 'static,
    {
        // Made where it is boxed: a future made first and then boxed is copied whole (the
        // request's is nearly a kilobyte) where only what it captured needs writing.
        let boxed: Box<F> = Box::write(Box::new_uninit(), make());
        Box::into_pin(boxed)
    }
}

/// Serves one routed request. Everything that needs no waiting
/// (the head, the inputs) is done here, before the future is made, so that the future holds
/// only what lives across a wait; a request body is read first, in the same future, which
/// `boxing` boxes once: each form its own size, and no box in a box.
#[allow(clippy::too_many_arguments)]
pub(crate) fn handle<B>(
    engine: Arc<Engine>,
    route: Arc<Route>,
    request: http::Request<B>,
    params: Vec<(String, String)>,
    admitted: Admitted,
    client: Option<std::net::SocketAddr>,
    request_id: RequestId,
    arrived: Option<tokio::time::Instant>,
    boxing: impl BoxWith,
) -> BoxFuture<'static, Response>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    // Inside tower layers, a call after one a layer gave up (a retry) decides that one's
    // outcome (see `Abandoned::outcome`).
    if let Some(outer) = Outer::of(&parts) {
        outer.called();
    }
    // The request timeout counts from the request's arrival: here, unless it came through the
    // app's tower layers, which may have held it (`arrived`, when it entered them); reading a
    // body whole is part of the request.
    let deadline = engine
        .config
        .request_timeout
        .map(|limit| arrived.unwrap_or_else(tokio::time::Instant::now) + limit);
    if !route.plan.needs_body {
        drop(body);
        return match prepare(
            &engine,
            &route,
            parts,
            params,
            Bytes::new(),
            client,
            request_id,
        ) {
            Prepared::Ready(head, inputs) => {
                boxing.boxed(|| serve(engine, route, head, inputs, admitted, deadline))
            }
            Prepared::Answered(response) => boxing.boxed(|| std::future::ready(response)),
        };
    }
    // A body declared larger than the limit is refused before a byte of it is read (and
    // before an HTTP/1 client that asked is told to go on with `100 Continue`): declared by
    // its `Content-Length`, or known by its size before it is read (a body handed over by
    // something other than a socket, which need not have a `Content-Length`).
    if known_length(&parts.headers, &body).is_some_and(|length| length > engine.config.body_limit) {
        let response = body_error_response(BodyError::TooLarge, parts.version);
        let response = finish(&engine, response, &request_id, &parts.extensions);
        return boxing.boxed(|| std::future::ready(response));
    }
    // A future of its own: the read would make every request's future larger.
    boxing.boxed(|| async move {
        // In a block of its own, so that what is moved into `prepare` (the request's parts)
        // takes no room while the request is served.
        let (prepared, streamed, version) = {
            let config = &engine.config;
            let mut parts = parts;
            let version = parts.version;
            let mut streamed = None;
            let body = if route.plan.streams_body {
                // An input reads the body as a stream: it is handed over unread, and read while
                // the handler runs.
                let state = StreamedBody::default();
                let frames = body_frames(config, body, awaits_continue(&parts), state.clone());
                parts.extensions.insert(Unread::new(frames));
                parts.extensions.insert(state.clone());
                streamed = Some(state);
                Bytes::new()
            } else {
                let timed = Deadline::new(body, config.body_timeout, config.body_min_rate)
                    .rate_from_first_byte(awaits_continue(&parts));
                let limited = Limited::new(timed, config.body_limit);
                match with_limit(deadline, read_whole(limited)).await {
                    Some(Ok(whole)) => whole,
                    Some(Err(error)) => {
                        return body_read_failed(&engine, error, &parts, &request_id);
                    }
                    None => {
                        tracing::warn!(target: "di", %request_id, handler = route.name, "request timed out while its body was read");
                        let response = close_unread(timed_out(), parts.version);
                        return finish(&engine, response, &request_id, &parts.extensions);
                    }
                }
            };
            let prepared = prepare(&engine, &route, parts, params, body, client, request_id);
            (prepared, streamed, version)
        };
        match prepared {
            Prepared::Ready(head, inputs) => {
                serve(engine, route, head, inputs, admitted, deadline).await
            }
            // Bad input, answered before the handler could take a streamed body: unless it was
            // empty, it is unread, and the answer closes the HTTP/1 connection as one given
            // before a streamed body's end does.
            Prepared::Answered(response) => {
                close_if_body_unfinished(streamed.as_ref(), version, response)
            }
        }
    })
}

/// A request body read whole, each frame copied into one buffer as it comes (a body of one
/// frame is kept as it is, uncopied), trailers left out: it costs about its size, however the
/// client cut it up. Kept as frames until its end (`BodyExt::collect`), a body sent as one-byte
/// chunks cost some 32 bytes of bookkeeping a byte, besides the connection's read buffers each
/// frame kept alive: about 40 MB of heap for a 1 MB body.
fn read_whole<B>(body: B) -> ReadWhole<B>
where
    B: http_body::Body<Data = Bytes>,
{
    ReadWhole {
        body,
        first: Bytes::new(),
        joined: None,
    }
}

/// The most a body read whole is given room for beyond the bytes it has sent (the default
/// `body_limit`): past it, the buffer grows as the bytes come.
const RESERVED_AHEAD: usize = 2 * 1024 * 1024;

pin_project_lite::pin_project! {
    /// See [`read_whole`]. A future of its own rather than an `async fn`, which would hold the
    /// body twice (as passed, and pinned in its local), making every request's future larger:
    /// this one is part of it even when the route reads no body.
    struct ReadWhole<B> {
        #[pin]
        body: B,
        // The body's first frame, kept as it is while it is the only one.
        first: Bytes,
        // Every frame so far, once there is more than one.
        joined: Option<BytesMut>,
    }
}

impl<B> Future for ReadWhole<B>
where
    B: http_body::Body<Data = Bytes>,
{
    type Output = Result<Bytes, B::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        while let Some(frame) = std::task::ready!(this.body.as_mut().poll_frame(cx)) {
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            if let Some(joined) = this.joined.as_mut() {
                joined.extend_from_slice(&data);
            } else if this.first.is_empty() {
                *this.first = data;
            } else if !data.is_empty() {
                // Room for what the body says is left (its declared length, within the limit),
                // up to `RESERVED_AHEAD`: the length is the client's word, and a limit raised
                // past the machine's memory (`usize::MAX` for none) would have a request that
                // declares a petabyte abort the process (an allocation failure is no panic).
                let left = usize::try_from(this.body.size_hint().lower())
                    .unwrap_or(usize::MAX)
                    .min(RESERVED_AHEAD);
                let mut into = BytesMut::with_capacity(this.first.len() + data.len() + left);
                into.extend_from_slice(this.first);
                into.extend_from_slice(&data);
                *this.first = Bytes::new();
                *this.joined = Some(into);
            }
        }
        Poll::Ready(Ok(match this.joined.take() {
            Some(joined) => joined.freeze(),
            None => std::mem::take(this.first),
        }))
    }
}

/// Whether the client may wait before it sends its body: an HTTP/2 request with
/// `Expect: 100-continue`, which hyper's HTTP/2 never answers with a `100` (its HTTP/1 sends
/// one when the body is first asked for). See [`Deadline::rate_from_first_byte`].
fn awaits_continue(parts: &http::request::Parts) -> bool {
    parts.version == http::Version::HTTP_2
        && parts
            .headers
            .get(http::header::EXPECT)
            .is_some_and(|expect| expect.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// What [`prepare`] made of a request.
enum Prepared {
    /// Its head, and every input extracted from it.
    Ready(Arc<RequestHead>, Vec<Slot>),
    /// The response to bad input (finished: see [`finish`]).
    Answered(Response),
}

/// Every response of the app, its own answers included, on its way out: counted by status,
/// and given the request's id in the id header (unless that is off). `request` holds the
/// request's extensions: those of one that another `di` app sent here (see
/// [`Outer::mounted`]) leave the response out of the `metrics` export.
pub(crate) fn finish(
    engine: &Engine,
    mut response: Response,
    request_id: &RequestId,
    request: &http::Extensions,
) -> Response {
    served_version(response.version_mut());
    stamp(
        engine,
        response.status(),
        response.headers_mut(),
        request_id,
        request,
    );
    response
}

/// Marks a response leaving the app HTTP/1.1, whatever version its maker gave it (a handler's
/// `http::Response`, a layer, a mounted service): the version a response goes out in is the
/// server's to choose, by the request's. hyper's HTTP/1 panics in the connection's task on a
/// response marked `HTTP/0.9` or `HTTP/3.0` (the client gets nothing, a request pipelined
/// behind it is lost), and writes one marked `HTTP/1.0` to an HTTP/1.1 client close-delimited,
/// where a stream that fails ends as cleanly as a whole one. hyper answers an HTTP/1.0 client
/// in HTTP/1.0 and ignores the field over HTTP/2; di's server marks an HTTP/1.0 client's
/// close-delimited answer itself (`app::connections`). Done where every response leaves
/// (`finish`, `finish_layered`, and the response with after-body work), so that it holds for
/// the app as a `tower::Service`, `AppService::call_request` and the `TestClient` as for the
/// server.
#[inline]
fn served_version(version: &mut http::Version) {
    if *version != http::Version::HTTP_11 {
        *version = http::Version::HTTP_11;
    }
}

/// What [`finish`] does, on a response taken apart. Inside tower layers the status is
/// counted where the response leaves them ([`finish_layered`]): a layer may answer in its
/// place.
fn stamp(
    engine: &Engine,
    status: StatusCode,
    headers: &mut http::HeaderMap,
    request_id: &RequestId,
    request: &http::Extensions,
) {
    if !engine.layered {
        engine
            .stats
            .record_response(status, || !Outer::mounted(request));
    }
    give_id(engine, headers, request_id);
}

/// [`finish`] for the response that leaves an app's tower layers, whoever made it (the app,
/// or a layer in its place): counted by its status, and given the request's id. `mounted`
/// when another `di` app sent the request here (see [`Outer::mounted`]).
pub(crate) fn finish_layered(
    engine: &Engine,
    mut response: Response,
    request_id: &RequestId,
    mounted: bool,
) -> Response {
    if !reaches_no_one(&response) {
        engine.stats.record_response(response.status(), || !mounted);
    }
    served_version(response.version_mut());
    give_id(engine, response.headers_mut(), request_id);
    response
}

/// In the extensions of the answer to a request whose client went away while its body was
/// read (see [`finish_unsent`]): it reaches no one.
#[derive(Clone, Copy)]
pub(crate) struct ReachesNoOne;

/// Whether `response` answers a request whose client went away while its body was read (a
/// look in an empty map for most responses).
#[inline]
pub(crate) fn reaches_no_one(response: &Response) -> bool {
    response.extensions().get::<ReachesNoOne>().is_some()
}

/// [`finish`] for the answer to a request whose client went away while its body was read (the
/// handler's answer to the broken body, its 400 with `?`, or di's to a body read whole): it
/// reaches no one, and is counted as a client gone at any other point before the response is,
/// as no response (its teardowns see `Cancelled(ClientGone)`), not as the client's bad
/// request. It still gets the id, and is marked for the tower layers' exit and the request's
/// span ([`ReachesNoOne`]).
#[cold]
#[inline(never)]
fn finish_unsent(engine: &Engine, response: Response, request_id: &RequestId) -> Response {
    let (mut parts, body) = response.into_parts();
    unsent(engine, &mut parts, request_id);
    Response::from_parts(parts, body)
}

/// What [`finish_unsent`] does, on a response taken apart.
#[cold]
#[inline(never)]
fn unsent(engine: &Engine, parts: &mut http::response::Parts, request_id: &RequestId) {
    tracing::debug!(target: "di", %request_id, status = parts.status.as_u16(), "the client went away while its body was read: the answer reaches no one and is not counted");
    parts.extensions.insert(ReachesNoOne);
    served_version(&mut parts.version);
    give_id(engine, &mut parts.headers, request_id);
}

/// Whether the client of the request with `head` went away while its streamed body was read
/// (asked only for a route that streams its body).
#[inline(never)]
fn body_client_gone(head: &RequestHead) -> bool {
    StreamedBody::of(head).is_some_and(StreamedBody::client_gone)
}

/// The answer to a request whose body, read whole, could not be (see [`body_read_error`]);
/// not counted if the client went away ([`finish_unsent`]).
#[cold]
#[inline(never)]
fn body_read_failed(
    engine: &Engine,
    error: BoxError,
    parts: &http::request::Parts,
    request_id: &RequestId,
) -> Response {
    let gone = client_gone(&*error);
    let response = body_read_error(error, parts.version, request_id);
    if gone {
        finish_unsent(engine, response, request_id)
    } else {
        finish(engine, response, request_id, &parts.extensions)
    }
}

/// The request's id in the id header, unless that is off; and every value without whitespace
/// at either end (see [`trim_values`]).
fn give_id(engine: &Engine, headers: &mut http::HeaderMap, request_id: &RequestId) {
    if headers.values().any(padded) {
        trim_values(headers);
    }
    if let Some(name) = &engine.config.request_id_header {
        headers.insert(name.clone(), request_id.to_header_value());
    }
}

/// Whether a header value begins or ends with whitespace (a space or a tab).
fn padded(value: &http::HeaderValue) -> bool {
    let bytes = value.as_bytes();
    matches!(bytes.first(), Some(b' ' | b'\t')) || matches!(bytes.last(), Some(b' ' | b'\t'))
}

/// Each value of `headers` without the whitespace at its ends (`x-note: "saved "`, a value
/// formatted with a space after it): an HTTP/2 field value must not have any (RFC 9113 8.2.1:
/// nghttp2, the library of curl and of Envoy's codec, resets such a response's stream with
/// `PROTOCOL_ERROR`), and an HTTP/1 recipient drops it (RFC 9110 5.5: it is not part of the
/// value), so the value every client reads is the same.
#[cold]
#[inline(never)]
fn trim_values(headers: &mut http::HeaderMap) {
    for value in headers.values_mut() {
        if padded(value) {
            let trimmed = value.as_bytes().trim_ascii();
            // Part of a valid value is one.
            if let Ok(trimmed) = http::HeaderValue::from_bytes(trimmed) {
                let sensitive = value.is_sensitive();
                *value = trimmed;
                value.set_sensitive(sensitive);
            }
        }
    }
}

/// The request's head, and every input extracted from it; or the response to bad input.
fn prepare(
    engine: &Engine,
    route: &Route,
    parts: http::request::Parts,
    params: Vec<(String, String)>,
    body: Bytes,
    client: Option<std::net::SocketAddr>,
    request_id: RequestId,
) -> Prepared {
    let head = Arc::new(RequestHead {
        parts,
        params,
        body,
        client,
        background: std::sync::OnceLock::new(),
        set_headers: std::sync::OnceLock::new(),
        request_id,
        app: engine.shutdown.app(),
    });
    // Every input first, so that bad input never sets up a dependency. A user's
    // `Deserialize` or validation may panic (the every-problem search calls it with
    // placeholders the client never sent): a generic 500, never a lost connection.
    match catch_call(|| extract_inputs(&route.plan, &head)) {
        Ok(Ok(inputs)) => Prepared::Ready(head, inputs),
        Ok(Err(answer)) => {
            let response = answer.into_response();
            Prepared::Answered(finish(
                engine,
                response,
                &head.request_id,
                &head.parts.extensions,
            ))
        }
        Err(panic) => {
            tracing::error!(target: "di", request_id = %head.request_id, handler = route.name, %panic, "extracting the input panicked");
            Prepared::Answered(finish(
                engine,
                panicked().1,
                &head.request_id,
                &head.parts.extensions,
            ))
        }
    }
}

/// Sets up, runs the handler, tears down `handler` scope and hands `request` scope to the
/// response body.
///
/// Not an `async fn`: one would keep each argument twice (as it was passed, and moved into its
/// local), which makes every request's future larger. What lives across its waits is made
/// here, and the future holds it once. Inlined where [`handle`] boxes it, so that the future is
/// written into its box, not made beside it and then copied in (see [`Boxed`]).
#[inline(always)]
fn serve(
    engine: Arc<Engine>,
    route: Arc<Route>,
    head: Arc<RequestHead>,
    slots: Vec<Slot>,
    admitted: Admitted,
    deadline: Option<tokio::time::Instant>,
) -> impl Future<Output = Response> + Send + 'static {
    let mut owed = Owed {
        engine: engine.clone(),
        slots,
        stack: Vec::new(),
        places: Places::default(),
        head: head.clone(),
        in_flight: None,
        span: kept_span(),
    };
    async move {
        // Counted in flight up to the response head.
        let _admitted = &admitted;
        // The answer, written here by `run_handler` (see there).
        let mut answer = None;
        // `run_handler`'s future is made inside `with_limit`: a future moved out of a local
        // takes room of its own in this future.
        let handled = with_limit(
            deadline,
            run_handler(&engine, &route, &head, &mut owed, &mut answer),
        )
        .await;
        let mut outcome = match handled {
            Some(outcome) => outcome,
            None => {
                tracing::warn!(target: "di", request_id = %head.request_id, handler = route.name, "request timed out");
                // A body read as a stream may not have been read to its end.
                answer = Some(if route.plan.streams_body {
                    close_unread(timed_out(), head.parts.version)
                } else {
                    timed_out()
                });
                Outcome::Cancelled(CancelReason::Timeout)
            }
        };
        // Every way out of `run_handler` gives an answer.
        let mut response = answer.unwrap_or_else(internal_error_response);
        // Setups are over: what was never set up (a setup before it failed) needs no place.
        owed.places.release_unused();
        // A client that went away mid-body: the request ended with it gone, whatever the
        // handler (or a setup that read the body) answered; that answer reaches no one.
        if route.plan.streams_body
            && !matches!(outcome, Outcome::Panicked | Outcome::Cancelled(_))
            && StreamedBody::of(&head).is_some_and(StreamedBody::client_gone)
        {
            outcome = Outcome::Cancelled(engine.cancel_reason());
        }
        // Whether the answer is the handler's (a success or its `Err`): what `SetHeaders` lays
        // its headers onto. Not di's generic 500 in its place (an informational status, which
        // cannot end an exchange; a value that could not be serialized): the handler did not
        // give it, as FastAPI sends none with the 500 of a response it could not serialize.
        let mut handler_answered = matches!(
            outcome,
            Outcome::Success { .. } | Outcome::HandlerError { .. }
        ) && !response.status().is_informational()
            && response.extensions().get::<Unserializable>().is_none();
        no_final_informational(&mut outcome, &mut response, &head.request_id, route.name);
        log_server_error(&outcome, &head.request_id, route.name);

        // `handler` scope: torn down before the response head leaves, shielded from the client
        // going away (see `Owed::in_flight`).
        if owed.owes(Scope::Handler) {
            let timed_out = matches!(outcome, Outcome::Cancelled(CancelReason::Timeout));
            let stack = std::mem::take(&mut owed.stack);
            let run = run_stack(engine.clone(), stack, outcome, Some(&head.request_id));
            owed.in_flight = Some(run.only(Scope::Handler));
            let report = poll_fn(|cx| match owed.in_flight.as_mut() {
                Some(in_flight) => Pin::new(in_flight).poll(cx),
                None => Poll::Ready(StackReport {
                    outcome: Outcome::Panicked,
                    failure: Some(HttpError::internal()),
                    rest: Vec::new(),
                }),
            })
            .await;
            owed.in_flight = None;
            owed.stack = report.rest;
            // A failed teardown makes the answer its error (a 5xx), unless the request timed
            // out: its 503 is a server error already, and its `Retry-After` tells the client
            // when to try again. The outcome is the failed teardown either way.
            if let Some(error) = report.failure
                && !timed_out
            {
                response = error.into_response();
                handler_answered = false;
            }
            outcome = report.outcome;
            no_final_informational(&mut outcome, &mut response, &head.request_id, route.name);
        }

        // The headers the handler and its dependencies set, once every `handler`-scope
        // teardown (which may set some) has run; none is sent with an answer not the handler's.
        if let Some(set) = head.set_headers.get() {
            set.lay_onto(handler_answered.then_some(response.headers_mut()));
        }

        if route.plan.streams_body {
            response =
                close_if_body_unfinished(StreamedBody::of(&head), head.parts.version, response);
        }

        owed.places.release_handler();

        // Background tasks run only after a response that the handler produced was sent in full;
        // skipped ones are dropped now, before any teardown (one may hold a value a teardown
        // takes back).
        let succeeded = matches!(outcome, Outcome::Success { .. });
        // Tasks to run after the body, of a request that took no background place before its
        // setup (it owes no `request`-scope teardown): it takes one now, before its response
        // head leaves, waiting for one if none is free, so that its client waits for its
        // answer. Taken after the body instead, every such request of a flood was answered at
        // once and left its tasks waiting for a place, without bound
        // (tests/walk_memory.rs `a_flood_of_requests_adding_background_tasks_that_wait_…`).
        // No deadlock: whoever holds a background place has every other place it needs. The
        // tasks stay in the head meanwhile: dropped here (the client gone), `Owed` drops them
        // unrun, each inside a catch.
        let runs_tasks = succeeded
            && head
                .background
                .get()
                .is_some_and(|list| list.shared() || !list.is_empty());
        if runs_tasks && owed.places.background.is_none() {
            let background = engine.background_places();
            owed.places.background = Some(match background.try_take() {
                Some(place) => place,
                None => wait_for_place(background).await,
            });
        }
        let tasks = head.take_background();
        let tasks = if succeeded {
            tasks
        } else {
            drop_tasks(tasks, &head.request_id);
            Vec::new()
        };
        // A handle on the list kept past the handler (by a streamed body) may still add
        // tasks: they run after the body too.
        let list = head.background.get();
        let list_open = succeeded && list.is_some_and(BackgroundTasks::shared);
        // An answer to a client gone mid-upload reaches no one, and is not counted.
        let unsent_answer = route.plan.streams_body && body_client_gone(&head);
        if owed.stack.is_empty() && tasks.is_empty() && !owed.places.holds_request() && !list_open {
            if unsent_answer {
                return finish_unsent(&engine, response, &head.request_id);
            }
            // Not tracked: a stream's panic is still caught, its failure logged. A whole body
            // (most answers) is left where it is: no move of the response.
            // A streamed body keeps the request's values until its end (see `kept_values`); a
            // whole one, which nothing can still be using them for, lets them go here.
            let mut response = response;
            if !response.body().is_whole() {
                let body = std::mem::take(response.body_mut());
                let values = kept_values(&route, &mut owed.slots);
                *response.body_mut() = guarded(body, &head.request_id, values);
            }
            return finish(&engine, response, &head.request_id, &head.parts.extensions);
        }
        // What is left is `request` scope's.
        let stack = std::mem::take(&mut owed.stack);
        let places = std::mem::take(&mut owed.places);
        let values = kept_values(&route, &mut owed.slots);
        // Failures are final; a success becomes `Success` only when the body has been sent.
        let decided = (!succeeded).then_some(outcome);
        let (mut parts, body) = response.into_parts();
        // Finished (see `finish`) before the engine moves into the after-body work.
        if unsent_answer {
            unsent(&engine, &mut parts, &head.request_id);
        } else {
            served_version(&mut parts.version);
            stamp(
                &engine,
                parts.status,
                &mut parts.headers,
                &head.request_id,
                &head.parts.extensions,
            );
        }
        let layered = engine.layered;
        let after = AfterBody {
            tasks,
            late: list.cloned(),
            values,
            stack,
            decided,
            places,
            engine,
            span: kept_span(),
            request_id: head.request_id.clone(),
        };
        // Inside tower layers, the work runs after the body the client gets (the entry point
        // puts it there), not after the handler's body that a layer may wrap.
        // The body is watched, so that the entry point knows if a layer threw it away.
        if layered && let Some(outer) = Outer::of(&head.parts) {
            let bodiless = head.parts.method == Method::HEAD || sends_no_body(parts.status);
            let number = outer.defer(after);
            let whole = body.is_whole();
            let body = AppBody::new(body, &parts, bodiless, &outer, number);
            return Response::from_parts(parts, Body::wrapping(body, whole));
        }
        let body = tracked(
            body,
            &mut parts,
            head.parts.method == Method::HEAD,
            head.parts.version,
            after,
        );
        Response::from_parts(parts, body)
    }
}

/// The request's values to keep until its response body has ended, when a plain dependency of
/// `request` scope has one (a value whose `Drop` matters: a permit, a connection given back
/// to its pool): all of `slots` but those of `handler` scope, which go with the handler. Empty
/// otherwise, the values then let go of as the response is made.
#[inline]
fn kept_values(route: &Route, slots: &mut Vec<Slot>) -> Vec<Slot> {
    if !route.plan.keeps_values {
        return Vec::new();
    }
    for &slot in &route.plan.handler_values {
        if let Some(value) = slots.get_mut(slot) {
            *value = Slot::Empty;
        }
    }
    std::mem::take(slots)
}

/// A response with an informational (1xx) status cannot end an exchange: hyper's HTTP/1
/// answers a bare 500 of its own in its place and breaks off the connection, and HTTP/2 resets
/// the stream. Such an answer (a handler's `StatusCode::CONTINUE` or `103`, an error of that
/// status) becomes a generic 500, and a success or handler error its outcome says so, so that
/// teardowns are told what the client gets.
#[inline]
fn no_final_informational(
    outcome: &mut Outcome,
    response: &mut Response,
    request_id: &RequestId,
    handler: &'static str,
) {
    if response.status().is_informational() {
        informational_to_500(outcome, response, request_id, handler);
    }
}

/// See [`no_final_informational`]: out of every request's way.
#[cold]
#[inline(never)]
fn informational_to_500(
    outcome: &mut Outcome,
    response: &mut Response,
    request_id: &RequestId,
    handler: &'static str,
) {
    let status = response.status();
    tracing::error!(target: "di", %request_id, handler, status = status.as_u16(), "the answer has an informational status, which cannot be a final response: 500");
    let error = HttpError::internal();
    *response = error.clone().into_response();
    match outcome {
        Outcome::Success { .. } | Outcome::HandlerError { .. } => {
            *outcome = Outcome::HandlerError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                error: Some(error),
            };
        }
        // A setup's or a teardown's error of that status: what the client gets instead.
        Outcome::SetupFailed { error: failed, .. }
        | Outcome::TeardownFailed { error: failed, .. }
            if failed.status().is_informational() =>
        {
            *failed = error;
        }
        _ => {}
    }
}

/// A 5xx that a setup or the handler returned (a panic is logged where it is caught), logged
/// with the request's id so that the answer the client got can be traced to its cause; and
/// a setup's error that answers with a success (see [`setup_answered_success`]).
fn log_server_error(outcome: &Outcome, request_id: &RequestId, handler: &'static str) {
    match outcome {
        Outcome::SetupFailed { dependency, error } if error.status().is_server_error() => {
            tracing::warn!(target: "di", %request_id, handler, dependency, error = %OneLine(error), "a setup failed with a server error");
        }
        Outcome::SetupFailed { dependency, error } if error.status().is_success() => {
            setup_answered_success(error.status(), request_id, handler, dependency);
        }
        Outcome::HandlerError {
            status,
            error: Some(error),
        } if status.is_server_error() => {
            tracing::warn!(target: "di", %request_id, handler, error = %OneLine(error), "the handler returned a server error");
        }
        Outcome::HandlerError {
            status,
            error: None,
        } if status.is_server_error() => {
            tracing::warn!(target: "di", %request_id, handler, status = status.as_u16(), "the handler returned a server error");
        }
        _ => {}
    }
}

/// The answer to a request past its request timeout: 503 with `Retry-After: 1`.
pub(crate) fn timed_out() -> Response {
    let mut response =
        HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "Request timed out").into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Runs `future` to its end, or until `deadline` has passed (`None`). One future either way,
/// so that a request's future holds one copy of its phases (not an `async fn`, whose argument
/// would be kept beside the pinned copy it is moved into). The timer is made only when
/// `future` first has to wait: a request that never waits (most do not) registers none.
fn with_limit<F: Future>(deadline: Option<tokio::time::Instant>, future: F) -> WithLimit<F> {
    WithLimit {
        future: Some(future),
        deadline,
        timer: None,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`with_limit`].
    struct WithLimit<F> {
        #[pin]
        future: Option<F>,
        deadline: Option<tokio::time::Instant>,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl<F: Future> Future for WithLimit<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(running) = this.future.as_mut().as_pin_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(done) = running.poll(cx) {
            return Poll::Ready(Some(done));
        }
        let Some(deadline) = *this.deadline else {
            return Poll::Pending;
        };
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                // Cut at the deadline: its locals' `Drop` (a user's) runs inside a catch.
                let mut future = this.future;
                crate::panic::log_dropped(
                    crate::panic::catch_call(|| future.set(None)),
                    "a request cut at its deadline",
                );
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The request's slots: one per value of `plan`, empty, then every input of `plan`, extracted
/// (one allocation for both); or the answer to their problems (see [`Gathered`]).
fn extract_inputs(plan: &Plan, head: &RequestHead) -> Result<Vec<Slot>, HttpError> {
    let mut slots = Vec::with_capacity(plan.slots + plan.inputs.len());
    slots.resize_with(plan.slots, Slot::default);
    let mut problems = Gathered::default();
    for extract in &plan.inputs {
        match extract(head) {
            Ok(value) => slots.push(Slot::Owned(value)),
            Err(errors) => problems.add_input(errors),
        }
    }
    if problems.is_empty() {
        Ok(slots)
    } else {
        // The inputs extracted beside the bad ones, let go of with the 422: a user's input
        // type whose `Drop` panics is logged, not taken for a panic of the extraction (a
        // generic 500 in place of the answer that lists the problems).
        drop_logged_for(slots, "a request's input", Some(&head.request_id));
        Err(problems.into_error())
    }
}

/// Sets up every dependency in order, then runs the handler. Returns how the request ended,
/// and writes its answer into `response`.
///
/// The answer is written where the request's future keeps it rather than returned with the
/// outcome: returned, it would be copied out of this future, out of the time limit's and into
/// the request's (see [`answer`]).
async fn run_handler(
    engine: &Arc<Engine>,
    route: &Route,
    head: &Arc<RequestHead>,
    owed: &mut Owed,
    response: &mut Option<Response>,
) -> Outcome {
    let (handler, dependencies) = match route.plan.nodes.split_last() {
        Some(split) => split,
        None => return answer(response, panicked()),
    };
    // Every place first (`max_concurrency`, and a background place for `request`-scope
    // teardowns), in one order for the whole app, before anything is set up.
    // The wait, rare, is boxed: it would make every request's future larger.
    owed.places = match try_take_places(engine, &route.plan) {
        Some(places) => places,
        None => match Box::pin(take_places(engine, &route.plan, &head.request_id)).await {
            Ok(places) => places,
            Err(busy) => return answer(response, busy),
        },
    };
    // A handler declared `max_concurrency = N` runs at most `N` times at once.
    let _place = owed.places.take(route.plan.nodes.len() - 1);
    let plan_slots = route.plan.slots;
    let at_once = !dependencies.is_empty() && !setups_traced();
    for (index, node) in dependencies.iter().enumerate() {
        let place = owed.places.take(index);
        let app = &engine.app_slots;
        let values = &mut owed.slots;
        let (started, handle) =
            match start_function(node, values, plan_slots, app, head, at_once, None) {
                Ok(started) => started,
                Err(outcome) => return answer(response, failure(outcome)),
            };
        let done = match started {
            // A function that ran to its end where it was started (most plain ones): its
            // value, without the setup's machinery.
            StartedKind::Ended(Ok(Ok(value))) => Ok(SetupDone::Value(value)),
            started => {
                let mut starting = Starting::new(started, handle);
                if at_once {
                    // Not reported (see `setups_traced`): polled here to its end, without
                    // `run_setup`'s futures in every request's future.
                    poll_fn(|cx| starting.poll(node, Some(&head.request_id), cx)).await
                } else {
                    // Reported: timed and maybe traced, in a future of its own (boxed, as it
                    // is the rare case).
                    Box::pin(run_setup(node, starting, Some(&head.request_id))).await
                }
            }
        };
        match done {
            Ok(SetupDone::Value(value)) => {
                owed.slots[node.slot] = value;
                // A plain dependency's value lives until its scope ends: so does its place.
                if let Some(place) = place {
                    owed.places.keep(node.scope, place);
                }
            }
            Ok(SetupDone::Provided(mut suspended)) => {
                engine.stats.record_setup();
                owed.slots[node.slot] = Slot::Filled(suspended.cell.clone());
                suspended.place = place;
                if owed.stack.capacity() == 0 {
                    owed.stack.reserve_exact(route.plan.generators);
                }
                owed.stack.push(suspended);
            }
            Err(outcome) => return answer(response, failure(outcome)),
        }
    }

    // A handler is not a setup, never traced as one: one that cannot wait runs at once, and
    // its value is made the response there (`made`: in a block, so that it takes no room in
    // this future while a handler that waits is awaited).
    let name = handler.meta.name;
    let started = {
        let made = std::cell::Cell::new(None);
        let to = Answer {
            respond: route.respond_any,
            made: &made,
        };
        let started = start_function(
            handler,
            &mut owed.slots,
            plan_slots,
            &engine.app_slots,
            head,
            true,
            Some(to),
        );
        if let Some(made) = made.into_inner() {
            return respond_with(response, made, route, head);
        }
        match started {
            Ok((started, _)) => started,
            Err(_) => return answer(response, panicked()),
        }
    };
    let waited = || Err(waited(name, Some(&head.request_id)));
    let ended = match started {
        StartedKind::Responding(future) => match catch(future).await {
            Ok(Ok(Answered::Made(made))) => {
                return respond_with(response, made, route, head);
            }
            Ok(Ok(Answered::Kept(value))) => Ok(Ok(value)),
            Ok(Err(error)) => Ok(Err(error)),
            Err(panic) => Err(panic),
        },
        StartedKind::Plain(future) => catch(future)
            .await
            .map(|ended| ended.unwrap_or_else(waited)),
        // A handler without `.await` ran to its end when it was started (one whose value is
        // not the route's, which its plan rules out, lands here and not above).
        StartedKind::Ended(ended) => ended,
        StartedKind::Waited => Ok(waited()),
        StartedKind::Generator(_) | StartedKind::Answered => return answer(response, panicked()),
    };
    match ended {
        Ok(Ok(value)) => {
            let respond = route.respond;
            respond_with(response, catch_call(|| respond(value)), route, head)
        }
        Ok(Err(error)) => {
            let status = error.status();
            *response = Some(error.clone().into_response());
            handler_error(status, Some(error), head, name)
        }
        Err(panic) => {
            tracing::error!(target: "di", request_id = %head.request_id, handler = name, %panic, "handler panicked");
            answer(response, panicked())
        }
    }
}

/// A background place for a request's tasks when none is free (see `serve`): boxed, so that
/// the wait, rare, does not make every request's future larger.
#[cold]
#[inline(never)]
fn wait_for_place(places: &Arc<BackgroundPlaces>) -> BoxFuture<'_, BackgroundPlace> {
    Box::pin(places.take())
}

/// The response `made` from the handler's value written into `response`, and the outcome it
/// is; a panic of the user's `IntoResponse` is a logged generic 500 (see [`run_handler`]).
/// A `200` is sent with the route's `success` status, when it declares one, and a success
/// whose content type is its kind's default with the one the route declares.
fn respond_with(
    response: &mut Option<Response>,
    made: Result<Response, Panic>,
    route: &Route,
    head: &RequestHead,
) -> Outcome {
    let name = route.name;
    let made = match made {
        Ok(made) => made,
        Err(panic) => {
            tracing::error!(target: "di", request_id = %head.request_id, handler = name, %panic, "building the response panicked");
            return answer(response, panicked());
        }
    };
    let response = response.insert(made);
    if let Some(success) = route.success
        && response.status() == StatusCode::OK
        && response.extensions().get::<ErrorMark>().is_none()
    {
        *response.status_mut() = success;
    }
    if let Some(declared) = &route.content_type
        && response.status().is_success()
        && response
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|sent| sent == declared.replaces)
        && response.extensions().get::<ErrorMark>().is_none()
    {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, declared.declared.clone());
    }
    let status = response.status();
    if status == StatusCode::INTERNAL_SERVER_ERROR
        && let Some(unserializable) = response.extensions().get::<Unserializable>()
    {
        let error = &unserializable.0;
        tracing::error!(target: "di", request_id = %head.request_id, handler = name, error = %OneLine(error), "response could not be serialized as JSON");
        // The handler's mistake, as a header that is not one is: never a success.
        let error = HttpError::internal_from(unserializable.clone());
        return Outcome::HandlerError {
            status,
            error: Some(error),
        };
    }
    match response.extensions().get::<ErrorMark>() {
        Some(ErrorMark(error)) => handler_error(status, error.clone(), head, name),
        None => Outcome::Success { status },
    }
}

/// The outcome of a handler that returned `Err`, answered with `status`. One whose error type
/// answers with a success is warned of (see [`error_answered_success`]).
fn handler_error(
    status: StatusCode,
    error: Option<HttpError>,
    head: &RequestHead,
    name: &'static str,
) -> Outcome {
    if status.is_success() {
        error_answered_success(status, head, name);
    }
    Outcome::HandlerError { status, error }
}

/// A handler's `Err` whose type answers with a success (`Result<_, String>`: a `String` is a
/// 200): the client is told it went well while the teardowns see a handler error and roll
/// back. Logged, as the mistake it almost always is.
#[cold]
fn error_answered_success(status: StatusCode, head: &RequestHead, name: &'static str) {
    tracing::warn!(
        target: "di",
        request_id = %head.request_id,
        handler = name,
        status = status.as_u16(),
        "the handler returned Err, and its error type answers with a success status: the client sees {status} while the teardowns see a handler error (a transaction rolls back); return an error type with an error status, such as HttpError"
    );
}

/// A setup's `Err` whose type answers with a success (`Result<T, String>`: a `String` is a
/// 200): warned of as a handler's is (see [`error_answered_success`]).
#[cold]
fn setup_answered_success(
    status: StatusCode,
    request_id: &RequestId,
    handler: &'static str,
    dependency: &'static str,
) {
    tracing::warn!(
        target: "di",
        %request_id,
        handler,
        dependency,
        status = status.as_u16(),
        "a setup returned Err, and its error type answers with a success status: the client sees {status} while the teardowns see a failed setup (a transaction rolls back); return an error type with an error status, such as HttpError"
    );
}

/// A failure's answer written into `response`, and its outcome (see [`run_handler`]).
fn answer(response: &mut Option<Response>, (outcome, made): Failure) -> Outcome {
    *response = Some(made);
    outcome
}

/// The request body as a stream, for a route whose input reads it so: within the same limit
/// (413), deadline and minimum rate (408) as a body read whole, counted from now, each problem
/// an error item the input hands to the handler.
/// How it ends (read to its end, or failed, and whether for the client gone) is noted in
/// `state`.
fn body_frames<B>(
    config: &Config,
    body: B,
    awaits_continue: bool,
    state: StreamedBody,
) -> BodyFrames
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if body.is_end_stream() {
        state.note(StreamedBody::ENDED);
    }
    let timed = Deadline::new(body, config.body_timeout, config.body_min_rate)
        .rate_from_first_byte(awaits_continue);
    let limited = Limited::new(timed, config.body_limit);
    let noted = Noted {
        inner: limited,
        state,
    };
    Box::pin(BodyDataStream::new(noted).map(|item| item.map_err(|error| body_error(error, None))))
}

pin_project_lite::pin_project! {
    /// A request body that notes in `state` how it ends: once it has given its last frame
    /// (hyper knows a body of declared length to be at its end with its last byte, before it
    /// is polled again), or once it fails.
    struct Noted<B> {
        #[pin]
        inner: B,
        state: StreamedBody,
    }
}

impl<B: http_body::Body<Error = BoxError>> http_body::Body for Noted<B> {
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, BoxError>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.state.note(StreamedBody::ENDED),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => {
                this.state.note(StreamedBody::ENDED);
            }
            Poll::Ready(Some(Err(error))) => this.state.note(if client_gone(&**error) {
                StreamedBody::CLIENT_GONE
            } else {
                StreamedBody::FAILED
            }),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// How a body read as a stream has ended so far: read to its end (or it had none), failed
/// (past the limit, too slow, broken off), failed because the client went away (see
/// [`client_gone`]). In the request's extensions.
///
/// A body not read to its end, failed or never taken whole (a setup refused the request
/// before the handler took it, a handler answered from its first part), closes the HTTP/1
/// connection after the answer ([`close_if_body_unfinished`]). A body broken off by the client
/// makes the request's outcome [`CancelReason::ClientGone`], whatever the handler answered.
#[derive(Clone, Default)]
struct StreamedBody(Arc<AtomicU8>);

impl StreamedBody {
    /// Read to its end, or it had none.
    const ENDED: u8 = 1;
    /// Failed (for another reason than the client gone).
    const FAILED: u8 = 2;
    /// Broken off because the client went away.
    const CLIENT_GONE: u8 = 4;

    /// The state of the request's streamed body, if it has one.
    fn of(head: &RequestHead) -> Option<&Self> {
        head.parts.extensions.get::<Self>()
    }

    fn note(&self, what: u8) {
        self.0.fetch_or(what, Ordering::Relaxed);
    }

    fn client_gone(&self) -> bool {
        self.0.load(Ordering::Relaxed) & Self::CLIENT_GONE != 0
    }

    /// Not read to its end, or failed: the rest of it cannot be skipped.
    fn unfinished(&self) -> bool {
        self.0.load(Ordering::Relaxed) != Self::ENDED
    }
}

/// `response`, closing the HTTP/1 connection if the request's streamed `body` was not read to
/// its end (see [`StreamedBody`]). hyper drains what of it has come once the response is sent
/// and closes the connection if that is not all (it always does after an
/// `Expect: 100-continue` it never answered): kept alive, the response would have said so, and
/// a client's next request on the connection would fail.
fn close_if_body_unfinished(
    body: Option<&StreamedBody>,
    version: http::Version,
    response: Response,
) -> Response {
    if body.is_some_and(StreamedBody::unfinished) {
        close_unread(response, version)
    } else {
        response
    }
}

/// Whether a request body's `error` is the client gone: over HTTP/1 the connection closed
/// (or reset) before the body's end, over HTTP/2 the stream reset by the client (CANCEL, as a
/// client that gives up sends) or the connection lost. Not a body too large, too slow or
/// malformed (a bad chunk, DATA past `content-length`, h2 resetting the stream itself): those
/// are the client's error.
fn client_gone(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(error) = error.downcast_ref::<hyper::Error>()
            && error.is_incomplete_message()
        {
            return true;
        }
        if let Some(error) = error.downcast_ref::<std::io::Error>() {
            return connection_lost(error);
        }
        if let Some(error) = error.downcast_ref::<h2::Error>() {
            return match error.get_io() {
                Some(error) => connection_lost(error),
                None => error.is_remote() && (error.is_reset() || error.is_go_away()),
            };
        }
        next = error.source();
    }
    false
}

/// Whether an I/O error reading a request body is the connection closed or reset by the peer,
/// or given up by the kernel (`ETIMEDOUT`: TCP keep-alive probes, see `App::tcp_keepalive`,
/// or retransmissions, within the user timeout it sets, went unanswered; the client vanished
/// without a close or a reset). The server's own body deadline is not an I/O error
/// ([`BodyTimedOut`]).
fn connection_lost(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::UnexpectedEof
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::TimedOut
    )
}

/// What went wrong reading a request body: the item a streamed body yields to the handler,
/// and, for a body read whole, what the client is answered (see [`body_read_error`]).
fn body_error(error: BoxError, request_id: Option<&RequestId>) -> BodyError {
    let request_id = request_id.map(tracing::field::display);
    if error.is::<http_body_util::LengthLimitError>() {
        BodyError::TooLarge
    } else if error.is::<BodyTimedOut>() {
        tracing::debug!(target: "di", request_id, "the request body was not received in time");
        BodyError::TimedOut
    } else {
        tracing::debug!(target: "di", request_id, %error, "could not read the request body");
        BodyError::Incomplete
    }
}

/// The answer to a body read whole that could not be: the same status and text a streamed
/// body's [`BodyError`] gives.
fn body_read_error(error: BoxError, version: http::Version, request_id: &RequestId) -> Response {
    body_error_response(body_error(error, Some(request_id)), version)
}

/// The answer to a body that could not be read (or will not be: one declared too large): the
/// same status and text a streamed body's reader gets, and, the body not read to its end, the
/// HTTP/1 connection closed after it.
fn body_error_response(error: BodyError, version: http::Version) -> Response {
    let response = HttpError::new(error.status(), error.to_string()).into_response();
    close_unread(response, version)
}

/// The request body's length, at least, before it is read: as its `Content-Length` declares
/// it, or as the body itself knows it (`size_hint`'s lower bound).
fn known_length<B: http_body::Body>(headers: &http::HeaderMap, body: &B) -> Option<usize> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    let at_least = body.size_hint().lower();
    let length = declared.map_or(at_least, |declared| declared.max(at_least));
    (length > 0).then(|| usize::try_from(length).unwrap_or(usize::MAX))
}

/// A response given before the request body was read to its end: an HTTP/1 connection
/// cannot be reused, so it is closed after it.
pub(crate) fn close_unread(mut response: Response, version: http::Version) -> Response {
    if version < http::Version::HTTP_2 {
        response
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::task::Context;

    use http_body::{Frame, SizeHint};

    use super::*;

    /// `frames` in order, declaring their total length or not.
    struct Frames {
        frames: std::collections::VecDeque<Bytes>,
        declared: bool,
    }

    impl http_body::Body for Frames {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.frames.pop_front().map(|data| Ok(Frame::data(data))))
        }

        fn size_hint(&self) -> SizeHint {
            if self.declared {
                SizeHint::with_exact(self.frames.iter().map(|f| f.len() as u64).sum())
            } else {
                SizeHint::default()
            }
        }
    }

    /// The body of `frames` read whole, all of them there at once.
    fn read_all(frames: std::collections::VecDeque<Bytes>, declared: bool) -> Bytes {
        let mut future = std::pin::pin!(read_whole(Frames { frames, declared }));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(whole)) => whole,
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => unreachable!("the frames are all there"),
        }
    }

    fn read(sizes: &[usize], declared: bool) -> (Bytes, Vec<u8>) {
        let mut expected = Vec::new();
        let mut frames = std::collections::VecDeque::new();
        for (i, &size) in sizes.iter().enumerate() {
            let frame: Vec<u8> = (0..size).map(|j| (i * 7 + j) as u8).collect();
            expected.extend_from_slice(&frame);
            frames.push_back(Bytes::from(frame));
        }
        (read_all(frames, declared), expected)
    }

    #[test]
    fn a_body_read_whole_is_its_frames_in_order_however_cut_up() {
        let shapes: &[&[usize]] = &[
            &[],
            &[0],
            &[5],
            &[0, 5, 0],
            &[1024, 1, 1, 1024 * 3, 0, 2],
            &[1; 40_000],
            &[3, 16_383, 2, 16_384, 1, 1, 1023, 1024, 7],
            &[1024; 64],
            &[49_152, 5, 16_385, 32_768],
            &[100, 200, 300],
        ];
        for sizes in shapes {
            for declared in [false, true] {
                let (whole, expected) = read(sizes, declared);
                assert_eq!(&whole[..], &expected[..], "{sizes:?} declared: {declared}");
            }
        }
    }

    #[test]
    fn a_body_of_unknown_length_keeps_none_of_the_buffers_its_frames_were_cut_from() {
        // Each 1 KB chunk read alone is cut from a read buffer several times its size: a body
        // that kept its frames kept those buffers.
        let buffers: Vec<Bytes> = (0..40u8).map(|i| Bytes::from(vec![i; 8 * 1024])).collect();
        for declared in [false, true] {
            let frames = buffers.iter().map(|b| b.slice(100..1124)).collect();
            let whole = read_all(frames, declared);
            assert_eq!(whole.len(), 40 * 1024);
            assert!(
                whole
                    .chunks(1024)
                    .enumerate()
                    .all(|(i, c)| c.iter().all(|&b| usize::from(b) == i))
            );
            assert!(
                buffers.iter().all(Bytes::is_unique),
                "declared: {declared}: a read buffer is still held"
            );
        }
    }

    /// An error with `source` under it, as hyper wraps the socket's error.
    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("error reading a body from connection")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_connection_given_up_by_the_kernel_is_the_client_gone() {
        use std::io::{Error, ErrorKind};
        for kind in [
            ErrorKind::TimedOut,
            ErrorKind::UnexpectedEof,
            ErrorKind::ConnectionReset,
            ErrorKind::ConnectionAborted,
            ErrorKind::BrokenPipe,
        ] {
            assert!(client_gone(&Error::from(kind)), "{kind:?}");
            assert!(
                client_gone(&Wrapped(Error::from(kind))),
                "{kind:?} under another error"
            );
        }
        // `ETIMEDOUT` as the socket reports it: keep-alive probes (or retransmissions)
        // unanswered, a client that vanished.
        #[cfg(target_os = "linux")]
        {
            let timed_out = Error::from_raw_os_error(110);
            assert_eq!(timed_out.kind(), ErrorKind::TimedOut);
            assert!(client_gone(&Wrapped(timed_out)));
        }
        // The client's own errors, and the server's body deadline, are not.
        assert!(!client_gone(&Error::from(ErrorKind::InvalidData)));
        assert!(!client_gone(&Wrapped(Error::from(ErrorKind::InvalidData))));
        assert!(!client_gone(&BodyTimedOut));
    }

    #[test]
    fn a_body_of_one_frame_is_kept_uncopied() {
        let frame = Bytes::from(vec![1u8; 3000]);
        for declared in [false, true] {
            let whole = read_all([Bytes::new(), frame.clone()].into(), declared);
            assert_eq!(whole.as_ptr(), frame.as_ptr());
        }
    }
}
