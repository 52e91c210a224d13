//! A routed request on its way into the engine ([`serve_routed`]), and the future of every
//! response of the app's services ([`ResponseFuture`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::contract::request_id::RequestId;
use crate::plan::routes::Route;
use crate::response::body::{BoxError, Response};
use crate::run::engine::{Engine, Refusal, spans_on};
use crate::run::places::busy_response;
use crate::run::request::{BoxWith, Boxed, finish, handle, reaches_no_one};

/// Serves a request routed to `route`: admits it (or sheds it), then handles it in its span.
#[inline]
pub(crate) fn serve_routed<B>(
    engine: Arc<Engine>,
    route: Arc<Route>,
    request: http::Request<B>,
    params: Vec<(String, String)>,
    client: Option<std::net::SocketAddr>,
    id: RequestId,
    arrived: Option<tokio::time::Instant>,
) -> BoxFuture<'static, Response>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let admitted = match engine.admit() {
        Ok(admitted) => admitted,
        Err(refusal) => {
            let refused = match refusal {
                Refusal::Busy => {
                    tracing::debug!(target: "di", request_id = %id, "request shed: in-flight limit reached");
                    busy_response("The server is busy; try again later".to_owned())
                }
                Refusal::Stopped => {
                    tracing::debug!(target: "di", request_id = %id, "request refused: the app has shut down");
                    // With `Retry-After`, as a shed request's: another instance (the one a
                    // rolling restart starts) may answer it.
                    busy_response("The server is shutting down".to_owned())
                }
            };
            let response = finish(&engine, refused, &id, request.extensions());
            return Box::pin(std::future::ready(response));
        }
    };
    // No span when its level is off (the usual case: none is made, or dropped); otherwise
    // inputs are extracted in it, it is entered at every poll, and it records the status
    // once the response head is known. Log lines that must be seen at the usual levels
    // (errors, warnings) carry `request_id` themselves. Every response leaves through
    // `finish` (counted, id header).
    if !spans_on() {
        return handle(
            engine, route, request, params, admitted, client, id, arrived, Boxed,
        );
    }
    // The root of the request's trace tree: its setups and teardowns are its
    // children, its `request`-scope teardowns included (they run after the body).
    let span = tracing::debug_span!(
        target: "di",
        "request",
        method = %request.method(),
        route = &*route.pattern,
        status = tracing::field::Empty,
        request_id = %id,
        handler = route.name,
    );
    if span.is_disabled() {
        handle(
            engine, route, request, params, admitted, client, id, arrived, Boxed,
        )
    } else {
        let in_span = InSpan(span.clone());
        span.in_scope(|| {
            handle(
                engine, route, request, params, admitted, client, id, arrived, in_span,
            )
        })
    }
}

/// Boxes a request's future in its span (see [`BoxWith`]): entered at every poll, and given
/// the response's status.
struct InSpan(tracing::Span);

impl BoxWith for InSpan {
    fn boxed<F>(self, make: impl FnOnce() -> F) -> BoxFuture<'static, Response>
    where
        F: Future<Output = Response> + Send + 'static,
    {
        let span = self.0;
        let recorded = span.clone();
        let handled = make();
        let handled = async move {
            let response = handled.await;
            // None for an answer that reaches no one, as for a request dropped before its
            // answer (the client went away).
            if !reaches_no_one(&response) {
                recorded.record("status", response.status().as_u16());
            }
            response
        };
        Box::pin(tracing::Instrument::instrument(handled, span))
    }
}

/// The future of a response from an [`AppService`](crate::AppService) (never an error): the request's future,
/// boxed once.
pub struct ResponseFuture(pub(crate) BoxFuture<'static, Response>);

impl std::future::Future for ResponseFuture {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx).map(Ok)
    }
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
