//! The reference workload hand-written on hyper 1's `service_fn`: the same calls inline, in
//! the same order, with the same teardown timing (the transaction ends before the response is
//! returned, the session after the body's last frame). The limit a framework can approach.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Either, Full};

use crate::body::{OnEnd, SessionEnd};
use crate::{
    JSON, Lines, NDJSON, Owned, Page, Session, Settings, Tx, check_limit, current_user, make_items,
    make_reply,
};

/// The response body: a full body or the NDJSON lines, then the session's cleanup.
pub type HyperBody = OnEnd<Either<Full<Bytes>, LinesBody>, SessionEnd>;

/// The service, for any request body type (it reads none).
pub fn service<B: http_body::Body + Send + 'static>(
    settings: Arc<Settings>,
) -> impl hyper::service::Service<
    Request<B>,
    Response = Response<HyperBody>,
    Error = Infallible,
    Future = Ready<Result<Response<HyperBody>, Infallible>>,
> + Clone
+ Send
+ Sync
+ 'static {
    hyper::service::service_fn(move |request: Request<B>| ready(Ok(handle(&settings, &request))))
}

/// Routes and answers one request.
pub fn handle<B>(settings: &Settings, request: &Request<B>) -> Response<HyperBody> {
    match (request.method(), request.uri().path()) {
        (&Method::GET | &Method::HEAD, "/items") => items(settings, request.uri().query()),
        (&Method::GET | &Method::HEAD, "/stream") => stream(settings),
        (&Method::GET | &Method::HEAD, "/hello") => {
            let mut response = Response::new(OnEnd::plain(Either::Left(Full::new(
                Bytes::from_static(crate::HELLO.as_bytes()),
            ))));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
        _ => status(StatusCode::NOT_FOUND, "not found", None),
    }
}

/// Parses the query by hand, without a deserializer.
fn parse_page(query: Option<&str>) -> Result<Page, String> {
    let mut page = Page::default();
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key == "limit" {
            page.limit = Some(
                value
                    .parse()
                    .map_err(|_| format!("limit: not a valid integer: {value}"))?,
            );
        }
    }
    Ok(page)
}

fn items(settings: &Settings, query: Option<&str>) -> Response<HyperBody> {
    // Inputs first, before any setup (as di does).
    let page = match parse_page(query) {
        Ok(page) => page,
        Err(problem) => return status(StatusCode::UNPROCESSABLE_ENTITY, &problem, None),
    };
    let user = current_user(settings);
    let mut tx = Tx::begin(settings, &user);
    let session = Session::open(settings, &user);
    match check_limit(settings, &page) {
        Ok(limit) => {
            let items = make_items(limit);
            tx.record(&items);
            let reply = make_reply(items, &tx, &session);
            match serde_json::to_vec(&reply) {
                Ok(bytes) => {
                    tx.finish(true);
                    let mut response = Response::new(OnEnd::new(
                        Either::Left(Full::new(Bytes::from(bytes))),
                        SessionEnd {
                            session,
                            success: true,
                        },
                    ));
                    response
                        .headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
                    response
                }
                Err(_) => {
                    tx.finish(false);
                    status(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal error",
                        Some(session),
                    )
                }
            }
        }
        Err(error) => {
            tx.finish(false);
            status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &error.to_string(),
                Some(session),
            )
        }
    }
}

fn stream(settings: &Settings) -> Response<HyperBody> {
    let user = current_user(settings);
    let session = Session::open(settings, &user);
    let lines = LinesBody(Lines::new(Owned(session)));
    let end = SessionEnd {
        session,
        success: true,
    };
    let mut response = Response::new(OnEnd::new(Either::Right(lines), end));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    response
}

fn status(status: StatusCode, detail: &str, session: Option<Session>) -> Response<HyperBody> {
    let body = Either::Left(Full::new(Bytes::from(
        serde_json::json!({ "detail": detail }).to_string(),
    )));
    let mut response = Response::new(match session {
        Some(session) => OnEnd::new(
            body,
            SessionEnd {
                session,
                success: false,
            },
        ),
        None => OnEnd::plain(body),
    });
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// The NDJSON lines as an [`http_body::Body`], one frame per line.
#[derive(Debug)]
pub struct LinesBody(Lines<Owned<Session>>);

impl Body for LinesBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        futures_util::Stream::poll_next(Pin::new(&mut self.0), cx)
            .map(|line| line.map(|line| line.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        futures_util::Stream::size_hint(&self.0).1 == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
