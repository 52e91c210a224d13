//! The response body wrapper that starts `request`-scope teardown once the body has been sent.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::StatusCode;
use http_body::{Body as _, Frame, SizeHint};
use tokio_util::sync::WaitForCancellationFutureOwned;

use futures_util::future::BoxFuture;

use crate::contract::background::BackgroundTasks;
use crate::contract::outcome::{CancelReason, Outcome};
use crate::contract::request_id::RequestId;
use crate::contract::slot::Slot;
use crate::panic::{OneLine, Panic, catch_call, drop_logged_for};
use crate::response::body::{Body, BoxError, Response, sends_no_body};
use crate::run::background::{drop_tasks, run_tasks};
use crate::run::engine::Engine;
use crate::run::host::{self, AfterRun};
use crate::run::places::Places;
use crate::run::stats::TaskFailures;
use crate::run::teardown::{Suspended, run_stack};

/// Wraps a response body whose request still owes `request`-scope teardowns.
///
/// End of stream is detected after every frame (`is_end_stream`, or an exact length reached),
/// not only on a final poll, because hyper does not poll a body again once it has sent an
/// exact `Content-Length`. Teardowns then run in a tracked background task, so they delay
/// neither the end of the body nor the next request on the connection.
pub(crate) struct TrackedBody {
    inner: Option<Body>,
    after: Option<AfterBody>,
    status: StatusCode,
    /// Bytes still to send when the length is known exactly.
    remaining: Option<u64>,
    /// The server does not send a body for this response (HEAD, 204, 304).
    bodiless: bool,
    /// Set for an HTTP/2 response that can end without a frame asked of its body (bodiless,
    /// empty, or of declared length zero): whether the server sent its head (see
    /// [`HeadWatch`]).
    head: Option<HeadWatch>,
    stop: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    /// The trailers of a body that reached its length, given on at the next poll (see
    /// [`TrackedBody::ready_trailers`]).
    trailers: Option<Box<http::HeaderMap>>,
    /// The response goes out over HTTP/2, where a body of known length can still send
    /// trailers (over HTTP/1 its `Content-Length` leaves no room for them).
    http2: bool,
}

/// What runs once the body has been sent or dropped.
pub(crate) struct AfterBody {
    /// `BackgroundTasks` to run first, if the response was sent in full.
    pub(crate) tasks: Vec<BoxFuture<'static, ()>>,
    /// The request's list of them, when one was asked for. What is added to it while the
    /// body is sent (by a body that keeps a handle) runs with `tasks`; what a `request`-scope
    /// teardown adds runs after that teardown, before the next (if the response was sent in
    /// full; it is dropped there otherwise).
    pub(crate) late: Option<BackgroundTasks>,
    /// The request's values, kept while the body is sent when a plain dependency of
    /// `request` scope has one (empty otherwise): let go of when the body has ended or was
    /// dropped, before the background tasks and the teardowns (whoever still needs a value
    /// holds it through a `Held`).
    pub(crate) values: Vec<Slot>,
    pub(crate) stack: Vec<Suspended>,
    /// Set when the handler phase already failed: that is what the teardowns see.
    pub(crate) decided: Option<Outcome>,
    /// Places held until the teardowns have ended (the background place the request took
    /// for them, `max_concurrency` places of plain dependencies).
    pub(crate) places: Places,
    pub(crate) engine: Arc<Engine>,
    /// The request's span, entered while the teardowns are started (see `kept_span`).
    pub(crate) span: Option<tracing::Span>,
    /// The request's id, for log lines.
    pub(crate) request_id: RequestId,
}

impl AfterBody {
    /// Starts the teardowns as cancelled (the client went away, or the server is stopping),
    /// for work whose response never reached a body (see `outer::Outer`).
    pub(crate) fn abandon(self) {
        let reason = self.engine.cancel_reason();
        self.end(Outcome::Cancelled(reason));
    }

    /// Starts the teardowns with `ended`, for work whose response never reached a body.
    pub(crate) fn end(self, ended: Outcome) {
        let mut body = TrackedBody {
            inner: None,
            after: Some(self),
            status: StatusCode::OK,
            remaining: None,
            bodiless: false,
            head: None,
            stop: None,
            trailers: None,
            http2: false,
        };
        body.finish(ended);
    }
}

/// A [`HeadWatch`] for the response with `parts`, in its extensions.
#[cold]
#[inline(never)]
fn watch_head(parts: &mut http::response::Parts) -> HeadWatch {
    let watch = HeadWatch(Arc::new(AtomicU8::new(0)));
    parts.extensions.insert(watch.clone());
    watch
}

/// The (first) `Content-Length` field of a response's `headers`, if it declares one. Most
/// responses have a few fields and none of them this one: those are looked at one by one,
/// which costs less than hashing the name for a lookup.
fn content_length(headers: &http::HeaderMap) -> Option<&http::HeaderValue> {
    if headers.len() > 4 {
        return headers.get(http::header::CONTENT_LENGTH);
    }
    headers
        .iter()
        .find(|(name, _)| *name == http::header::CONTENT_LENGTH)
        .map(|(_, value)| value)
}

/// Whether the head of an HTTP/2 response that can end without a frame asked of its body was
/// sent (bodiless: a HEAD, a 204 or 304; with an empty body: a `201` with none, a `200` of
/// `""`, whose head ends the stream; or of declared length zero, which [`TrackedBody`]'s drop
/// counts complete), for its `request`-scope teardowns, in the response's extensions: hyper's
/// HTTP/2 drops such a body unasked when it could not send the head (the client reset the
/// stream while the answer was made), and teardowns told success then would be told so for an
/// answer no one got.
///
/// `di`'s server takes it out of the response, notes that it watches the head, and holds the
/// response back for one poll, in which hyper looks whether the stream was reset; if it was,
/// hyper drops the response unsent, and its teardowns see the client gone. Otherwise the server
/// hands it over, and notes the head sent. (A reset that comes between those two polls still
/// passes for one that came just after the head, as it does for a response with a body whose
/// last frame has gone.) A response that no server watches (served by another, or a layer
/// dropped the extension) is taken as sent when its body is dropped, as any bodiless response
/// is. Made only for such HTTP/2 responses that owe `request`-scope work.
#[derive(Clone, Debug)]
pub(crate) struct HeadWatch(Arc<AtomicU8>);

impl HeadWatch {
    /// The server watches the head.
    const WATCHED: u8 = 1;
    /// The server sent the head.
    const SENT: u8 = 2;

    /// Noted by the server, before hyper has the response: it will say if the head is sent.
    pub(crate) fn watch(&self) {
        self.0.fetch_or(Self::WATCHED, Ordering::AcqRel);
    }

    /// Noted by the server once the head has been sent.
    pub(crate) fn sent(&self) {
        self.0.fetch_or(Self::SENT, Ordering::AcqRel);
    }

    /// Whether the server watched the head, and it was not sent.
    fn unsent(&self) -> bool {
        self.0.load(Ordering::Acquire) == Self::WATCHED
    }
}

/// `response` to a request over `version` (a HEAD request if `head_request`), with `after`
/// run once its body has been sent or dropped.
pub(crate) fn track(
    response: Response,
    head_request: bool,
    version: http::Version,
    after: AfterBody,
) -> Response {
    let (mut parts, body) = response.into_parts();
    let body = tracked(body, &mut parts, head_request, version, after);
    Response::from_parts(parts, body)
}

/// `body` of a response with `parts` tracked to its end (see [`TrackedBody::new`]), still
/// [whole](Body::is_whole) if it was.
pub(crate) fn tracked(
    body: Body,
    parts: &mut http::response::Parts,
    head_request: bool,
    version: http::Version,
    after: AfterBody,
) -> Body {
    let whole = body.is_whole();
    Body::wrapping(
        TrackedBody::new(body, parts, head_request, version, after),
        whole,
    )
}

impl TrackedBody {
    /// The body of a response with `parts` to a request over `version` (a HEAD request if
    /// `head_request`). An HTTP/2 response that can end without a frame asked of its body
    /// (bodiless, empty, or of declared length zero) gets a [`HeadWatch`] in its extensions.
    pub(crate) fn new(
        body: Body,
        parts: &mut http::response::Parts,
        head_request: bool,
        version: http::Version,
        after: AfterBody,
    ) -> Self {
        let declared = content_length(&parts.headers)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let remaining = declared.or_else(|| body.size_hint().exact());
        let bodiless = head_request || sends_no_body(parts.status);
        // Over HTTP/2, a response that can end without a frame asked of its body: bodiless, or
        // with an empty body (a `201` with none, a `200` of `""`), whose head ends the stream,
        // or of declared length zero (its drop counts it complete). hyper drops such a body
        // unasked when it could not send the head (the client reset the stream just as the
        // answer was made): the server watches the head (see `HeadWatch`).
        let http2 = version == http::Version::HTTP_2;
        let head = (http2 && (bodiless || remaining == Some(0) || body.is_end_stream()))
            .then(|| watch_head(parts));
        Self {
            inner: Some(body),
            after: Some(after),
            status: parts.status,
            remaining,
            bodiless,
            head,
            stop: None,
            trailers: None,
            http2,
        }
    }

    /// Drops the body (releasing any `Held` values it owns), then starts the teardowns. A
    /// body (a user's stream) whose `Drop` panics is logged, and the teardowns start still.
    fn finish(&mut self, ended: Outcome) {
        drop_logged_for(self.inner.take(), "the response body", self.id());
        self.stop = None;
        let Some(AfterBody {
            tasks,
            late,
            values,
            stack,
            decided,
            places,
            engine,
            span,
            request_id,
        }) = self.after.take()
        else {
            return;
        };
        let _span = span.map(tracing::Span::entered);
        if !values.is_empty() {
            drop_values(values, &request_id);
        }
        let outcome = decided.unwrap_or(ended);
        let succeeded = matches!(outcome, Outcome::Success { .. });
        // Tasks added while the body was sent (it is dropped by now) join those of the
        // handler. Skipped tasks are dropped before any teardown starts: one may hold a value
        // that a teardown takes back.
        let mut tasks = tasks;
        if let Some(list) = &late {
            tasks.extend(list.take());
        }
        let tasks = if succeeded {
            tasks
        } else {
            if !tasks.is_empty() {
                tracing::debug!(target: "di", %request_id, %outcome, "background tasks skipped");
            }
            drop_tasks(tasks, &request_id);
            Vec::new()
        };
        // FastAPI's order: background tasks after the body, before `request` teardown.
        let tasks = (succeeded && !tasks.is_empty()).then(|| {
            let deadline = engine.config.teardown_timeout;
            Box::pin(run_tasks(tasks, deadline, request_id.clone()))
                as BoxFuture<'static, TaskFailures>
        });
        // Nothing left to run (a route whose only `request`-scope values are plain ones).
        if stack.is_empty() && tasks.is_none() && late.is_none() && places.is_empty() {
            return;
        }
        let has_place = places.background.is_some();
        // The engine moves into the stack's run, which the after-body work reaches it through.
        let stack = run_stack(engine, stack, outcome, Some(&request_id));
        let after = AfterRun::new(tasks, late, succeeded, stack, places);
        if !has_place {
            after.engine().clone().spawn_background(after);
        } else {
            host::run_after(after);
        }
    }

    /// How the body ended when it reached its end: a success, unless it was shorter than the
    /// `Content-Length` it declared.
    fn ended(&self) -> Outcome {
        match self.remaining {
            Some(short) if short > 0 && !self.bodiless => Outcome::BodyError {
                message: format!("the body ended {short} bytes short of its Content-Length"),
            },
            _ => self.success(),
        }
    }

    /// The request's id (until the teardowns have started).
    fn id(&self) -> Option<&RequestId> {
        self.after.as_ref().map(|after| &after.request_id)
    }

    /// The request's id, for log lines (until the teardowns have started).
    fn request_id(&self) -> Option<tracing::field::DisplayValue<&RequestId>> {
        self.id().map(tracing::field::display)
    }

    fn success(&self) -> Outcome {
        Outcome::Success {
            status: self.status,
        }
    }

    fn stop_requested(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(after) = &self.after else {
            return false;
        };
        let stop = self
            .stop
            .get_or_insert_with(|| Box::pin(after.engine.hard_stop.clone().cancelled_owned()));
        stop.as_mut().poll(cx).is_ready()
    }

    /// The trailers [`TrackedBody::ready_trailers`] held, its last frame: the body has ended.
    #[cold]
    #[inline(never)]
    fn held_trailers(&mut self) -> Option<Result<Frame<Bytes>, BoxError>> {
        let trailers = self.trailers.take()?;
        let ended = self.ended();
        self.finish(ended);
        Some(Ok(Frame::trailers(*trailers)))
    }

    /// Whether the body of an HTTP/2 response, which has reached its length but not said it
    /// has ended, has its trailers ready: asked once, without waiting (a body that reached its
    /// length is asked for nothing more), so that a body of known length with trailers
    /// (`with_trailers` reports the length of its data) does not lose them, where hyper would
    /// end the stream on the last data frame. What else it gives then (nothing yet, its end,
    /// more data, an error) is left, and the body has ended: trailers not ready by then are
    /// not sent (logged at debug).
    #[cold]
    #[inline(never)]
    fn ready_trailers(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(inner) = self.inner.as_mut() else {
            return false;
        };
        match catch_call(|| Pin::new(inner).poll_frame(cx)) {
            Ok(Poll::Ready(Some(Ok(frame)))) => match frame.into_trailers() {
                Ok(trailers) => {
                    self.trailers = Some(Box::new(trailers));
                    true
                }
                Err(_) => {
                    let request_id = self.request_id();
                    tracing::debug!(target: "di", request_id, "a response body that had reached its length gave more data: it is not sent");
                    false
                }
            },
            Ok(Poll::Ready(None)) => false,
            Ok(Poll::Pending) => {
                let request_id = self.request_id();
                tracing::debug!(target: "di", request_id, "a response body that had reached its length had nothing ready: it has ended (trailers that come later are not sent)");
                false
            }
            Ok(Poll::Ready(Some(Err(_)))) => {
                let request_id = self.request_id();
                tracing::debug!(target: "di", request_id, "a response body that had reached its length failed when asked for its trailers: it has ended");
                false
            }
            Err(panic) => {
                let request_id = self.request_id();
                tracing::error!(target: "di", request_id, %panic, "a response body that had reached its length panicked when asked for its trailers");
                false
            }
        }
    }
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.trailers.is_some() {
            return Poll::Ready(this.held_trailers());
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = catch_call(|| Pin::new(inner).poll_frame(cx));
        match polled {
            Ok(Poll::Ready(Some(Ok(frame)))) => {
                if let (Some(remaining), Some(data)) = (this.remaining.as_mut(), frame.data_ref()) {
                    let Some(left) = remaining.checked_sub(data.len() as u64) else {
                        // More than the `Content-Length` the response declared: HTTP/1 would
                        // cut it there silently, HTTP/2 fail the stream. The response fails.
                        let message = format!(
                            "the body is longer than its Content-Length ({} bytes more)",
                            data.len() as u64 - *remaining
                        );
                        let request_id = this.request_id();
                        tracing::error!(target: "di", request_id, "response body failed: {message}");
                        this.finish(Outcome::BodyError { message });
                        return Poll::Ready(Some(Err(
                            "the response body is longer than its Content-Length".into(),
                        )));
                    };
                    *remaining = left;
                }
                // Trailers are a body's last frame: hyper asks for nothing after them, and a
                // body need not say it has ended (`with_trailers`, a `StreamBody` of frames).
                let inner_ended = frame.is_trailers()
                    || this
                        .inner
                        .as_ref()
                        .is_none_or(|inner| inner.is_end_stream());
                if this.remaining == Some(0) || inner_ended {
                    if !inner_ended && this.http2 && this.ready_trailers(cx) {
                        // Ends with its trailers, at the next poll.
                        return Poll::Ready(Some(Ok(frame)));
                    }
                    let ended = this.ended();
                    this.finish(ended);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Ok(Poll::Ready(None)) => {
                let ended = this.ended();
                this.finish(ended);
                Poll::Ready(None)
            }
            Ok(Poll::Ready(Some(Err(error)))) => {
                let message = body_failed(&error, this.id());
                this.finish(Outcome::BodyError { message });
                Poll::Ready(Some(Err(error)))
            }
            Ok(Poll::Pending) => {
                if this.stop_requested(cx) {
                    this.finish(Outcome::Cancelled(CancelReason::Shutdown));
                    return Poll::Ready(Some(Err("the server is shutting down".into())));
                }
                Poll::Pending
            }
            Err(panic) => {
                body_panicked(&panic, this.id());
                this.finish(Outcome::Panicked);
                Poll::Ready(Some(Err("the response body panicked".into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.trailers.is_none()
            && self
                .inner
                .as_ref()
                .is_none_or(|inner| inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |inner| inner.size_hint())
    }
}

/// Logs a user's response body that failed, with the request's id; its error's text (a
/// `Display` that panics is caught).
/// Lets go of a request's values kept while its body was sent, the last first (as their
/// teardowns would run), inside one catch: a value's `Drop` that panics is logged, the values
/// after it are still dropped, and the request's teardowns still start.
#[inline(never)]
fn drop_values(mut values: Vec<Slot>, request_id: &RequestId) {
    values.reverse();
    drop_logged_for(values, "a dependency's value", Some(request_id));
}

fn body_failed(error: &BoxError, request_id: Option<&RequestId>) -> String {
    let message = catch_call(|| error.to_string())
        .unwrap_or_else(|_| "an error whose `Display` panicked".to_owned());
    let request_id = request_id.map(tracing::field::display);
    tracing::warn!(target: "di", request_id, error = %OneLine(&message), "response body failed");
    message
}

/// Logs a user's response body that panicked, with the request's id.
fn body_panicked(panic: &Panic, request_id: Option<&RequestId>) {
    let request_id = request_id.map(tracing::field::display);
    tracing::error!(target: "di", request_id, %panic, "response body panicked");
}

/// A streamed body of a request that owes nothing after it (no `request`-scope teardown, no
/// background task): not tracked, but a panic of the user's stream is caught and its failure
/// logged with the request's id, as a [`TrackedBody`]'s are. Uncaught, the panic unwound
/// through the HTTP/1 connection's task, which was lost with what it had not yet written (the
/// head, the rows before the failure).
pub(crate) struct GuardedBody {
    inner: Option<Body>,
    /// The request's values, when a plain dependency of `request` scope has one: they live
    /// until the body has ended (or was dropped), as [`AfterBody::values`] do.
    values: Vec<Slot>,
    request_id: RequestId,
}

/// `body` (a stream, not [whole](Body::is_whole)) as a [`GuardedBody`].
/// With it, `values`: the request's values, kept until the body has ended (empty when the
/// route keeps none).
#[cold]
pub(crate) fn guarded(body: Body, request_id: &RequestId, values: Vec<Slot>) -> Body {
    Body::from_boxed_error(GuardedBody {
        inner: Some(body),
        values,
        request_id: request_id.clone(),
    })
}

impl GuardedBody {
    /// Drops the user's body, then the request's values, each inside a catch.
    fn drop_inner(&mut self) {
        drop_logged_for(
            self.inner.take(),
            "the response body",
            Some(&self.request_id),
        );
        if !self.values.is_empty() {
            drop_values(std::mem::take(&mut self.values), &self.request_id);
        }
    }
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match catch_call(|| Pin::new(inner).poll_frame(cx)) {
            Ok(Poll::Ready(Some(Err(error)))) => {
                body_failed(&error, Some(&this.request_id));
                this.drop_inner();
                Poll::Ready(Some(Err(error)))
            }
            Ok(Poll::Ready(None)) => {
                // Its end: the body and the values it kept go now, not when the server
                // drops the body.
                this.drop_inner();
                Poll::Ready(None)
            }
            Ok(polled) => polled,
            Err(panic) => {
                body_panicked(&panic, Some(&this.request_id));
                this.drop_inner();
                Poll::Ready(Some(Err("the response body panicked".into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(|inner| inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |inner| inner.size_hint())
    }
}

impl Drop for GuardedBody {
    fn drop(&mut self) {
        self.drop_inner();
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        if self.after.is_none() {
            return;
        }
        // Dropped without reaching its end: the server had nothing more to send (an empty body,
        // a HEAD or 204 response), or the client went away. A watched HTTP/2 response (bodiless,
        // empty, or of declared length zero) whose head the server did not send: the client
        // went away.
        let unsent = self.head.as_ref().is_some_and(HeadWatch::unsent);
        // Its trailers still held (an HTTP/2 stream reset, or cut, before hyper asked for
        // them): it did not reach its end.
        let complete = !unsent
            && self.trailers.is_none()
            && (self.bodiless || self.is_end_stream() || self.remaining == Some(0));
        let ended = match &self.after {
            _ if complete => self.ended(),
            Some(after) => Outcome::Cancelled(after.engine.cancel_reason()),
            None => return,
        };
        self.finish(ended);
    }
}
