//! [`Extract`]: an axum extractor (`FromRequestParts`) as a request input (cargo feature
//! `axum`), its rejection the response.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body_util::BodyExt;

use crate::contract::request::{FromRequest, RequestHead};
use crate::response::error::{HttpError, InputError};

/// An axum extractor as a request input: runs `E`'s
/// [`FromRequestParts`](axum_core::extract::FromRequestParts) on the request's head
/// (method, URI, version, headers, extensions), with the state `S` (by default none).
///
/// Works with axum's own extractors (`Extension<T>`, `State<S>`, `Query<T>`,
/// `axum_extra`'s `TypedHeader<H>`, ...), and with any extractor a user wrote for their axum
/// app, so that an app adopting `di` route by route keeps them. Like every input it runs
/// before anything is set up. If it rejects the request, its rejection (an axum
/// `IntoResponse`) is the response, status, headers and body, as in axum, and nothing is set
/// up; with other inputs failing too, the rejection wins over their 422.
///
/// - The state: register it with [`App::axum_state`](crate::App::axum_state) and name its
///   type, `Extract<State<AppState>, AppState>`; an extractor that needs no state takes the
///   default, `()`. A missing state is a 500, logged.
/// - Path parameters: axum's `Path` reads axum's router's own data, which a `di` route does
///   not have; use [`Path`](crate::Path) (the route's parameters, with a 422 that lists every
///   problem).
/// - An extractor is run to completion at once: one that has to wait (reads the body, a
///   database) is not an input, but the work of a `#[depends]` function; such an extractor
///   answers 500, logged.
///
/// ```
/// use axum_core::extract::FromRequestParts;
/// use di_runtime::prelude::*;
/// use di_runtime::Extract;
///
/// /// A user's axum extractor: the caller's tenant, from a header.
/// struct Tenant(String);
///
/// impl<S: Sync> FromRequestParts<S> for Tenant {
///     type Rejection = (StatusCode, &'static str);
///
///     async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
///         match parts.headers.get("x-tenant").and_then(|v| v.to_str().ok()) {
///             Some(tenant) => Ok(Tenant(tenant.to_owned())),
///             None => Err((StatusCode::BAD_REQUEST, "no tenant")),
///         }
///     }
/// }
///
/// #[depends]
/// async fn whoami(tenant: Extract<Tenant>) -> String {
///     tenant.0 .0
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = TestClient::start(App::new().get("/", whoami)).await.unwrap();
/// let response = client.get("/").header("x-tenant", "acme").send().await;
/// assert_eq!(response.text().await.unwrap(), "acme");
/// let rejected = client.get("/").send().await;
/// assert_eq!(rejected.status(), 400);
/// assert_eq!(rejected.text().await.unwrap(), "no tenant");
/// # }
/// ```
pub struct Extract<E, S = ()>(pub E, PhantomData<fn() -> S>);

impl<E, S> Extract<E, S> {
    /// The extracted value.
    pub fn into_inner(self) -> E {
        self.0
    }
}

impl<E, S> std::ops::Deref for Extract<E, S> {
    type Target = E;

    fn deref(&self) -> &E {
        &self.0
    }
}

impl<E: std::fmt::Debug, S> std::fmt::Debug for Extract<E, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Extract").field(&self.0).finish()
    }
}

/// The axum state registered with [`App::axum_state`](crate::App::axum_state), in the
/// extensions of each request.
#[derive(Clone)]
pub(crate) struct AxumState<S>(pub(crate) S);

impl<E, S> FromRequest for Extract<E, S>
where
    E: axum_core::extract::FromRequestParts<S> + Send + 'static,
    S: Clone + Send + Sync + 'static,
{
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        let unit: &dyn Any = &();
        let state = match unit.downcast_ref::<S>() {
            Some(none) => none,
            None => match head.extensions().get::<AxumState<S>>() {
                Some(AxumState(state)) => state,
                None => {
                    tracing::error!(target: "di", request_id = %head.request_id(), state = std::any::type_name::<S>(), "an axum extractor needs a state the app did not register with `App::axum_state`");
                    return Err(vec![InputError::rejection(HttpError::internal())]);
                }
            },
        };
        let mut parts = parts_of(head);
        let extracted = now(E::from_request_parts(&mut parts, state));
        match extracted {
            Some(Ok(value)) => Ok(Extract(value, PhantomData)),
            Some(Err(rejection)) => Err(vec![InputError::rejection(rejected(rejection))]),
            None => {
                tracing::error!(target: "di", request_id = %head.request_id(), extractor = std::any::type_name::<E>(), "an axum extractor had to wait; do such work in a `#[depends]` function");
                Err(vec![InputError::rejection(HttpError::internal())])
            }
        }
    }
}

/// A copy of the request's head, as axum's extractors take it.
fn parts_of(head: &RequestHead) -> http::request::Parts {
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = head.method().clone();
    parts.uri = head.uri().clone();
    parts.version = head.version();
    parts.headers = head.headers().clone();
    parts.extensions = head.extensions().clone();
    parts
}

/// Polls `future` once: its output, if it did not have to wait.
fn now<F: Future>(future: F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// An axum rejection as the error the client gets: its status, headers and body.
fn rejected(rejection: impl axum_core::response::IntoResponse) -> HttpError {
    let (parts, body) = rejection.into_response().into_parts();
    let body = match now(body.collect()) {
        Some(Ok(collected)) => collected.to_bytes(),
        _ => Bytes::new(),
    };
    HttpError::raw(parts.status, parts.headers, body)
}
