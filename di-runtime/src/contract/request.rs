//! What inputs are extracted from and the traits that extract them: [`RequestHead`],
//! [`FromRequest`], [`FromRequestRef`]. The implementations live in [`crate::input`].

use std::sync::OnceLock;

use bytes::Bytes;
use http::{Extensions, HeaderMap, Method, Uri, Version};

use crate::contract::background::BackgroundTasks;
use crate::contract::body::{BodyFrames, Unread};
use crate::contract::request_id::RequestId;
use crate::contract::set_headers::SetHeaders;
use crate::response::error::InputError;

/// The parts of a request that inputs are extracted from: method, URI, version, headers,
/// extensions, the route's path parameters, the client's address and, when a parameter needs
/// it, the whole body.
///
/// It is also the escape hatch, FastAPI's `request: Request`: a handler or a dependency that
/// takes `&RequestHead` sees all of the request head at once.
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::RequestHead;
///
/// #[depends]
/// async fn describe(request: &RequestHead) -> String {
///     format!(
///         "{} {} {:?} id={:?} from {:?} ({} headers)",
///         request.method(),
///         request.uri().path(),
///         request.version(),
///         request.path_param("id"),
///         request.client_addr(),
///         request.headers().len(),
///     )
/// }
/// ```
///
/// Its [`body`](RequestHead::body) is read only when another parameter of the route reads
/// the body (`Json<T>`, `Form<T>`, `Bytes`): take `Bytes` beside it to have the body.
#[derive(Debug)]
pub struct RequestHead {
    pub(crate) parts: http::request::Parts,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) body: Bytes,
    /// The client's address, when served by [`App::serve`](crate::App::serve) or
    /// [`App::bind`](crate::App::bind).
    pub(crate) client: Option<std::net::SocketAddr>,
    /// Made on first use: most requests add no task.
    pub(crate) background: OnceLock<BackgroundTasks>,
    /// Made on first use: most requests set no header on their answer this way. Boxed, so
    /// that every request's head grows by a pointer only.
    pub(crate) set_headers: OnceLock<Box<SetHeaders>>,
    /// The request's id (the client's, or made by the app).
    pub(crate) request_id: RequestId,
    /// The app's number, by which a [`Shutdown`](crate::Shutdown) input finds its app's.
    pub(crate) app: u64,
}

impl RequestHead {
    /// The request method.
    pub fn method(&self) -> &Method {
        &self.parts.method
    }

    /// The request URI.
    pub fn uri(&self) -> &Uri {
        &self.parts.uri
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// The HTTP version of the request.
    pub fn version(&self) -> Version {
        self.parts.version
    }

    /// The request's extensions: what a server or a `tower` layer in front of the app put in
    /// the request.
    pub fn extensions(&self) -> &Extensions {
        &self.parts.extensions
    }

    /// Every path parameter of the matched route, in the order of the route's path, as
    /// `(name, value)`, values percent-decoded.
    pub fn path_params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value of the path parameter `name` (`{id}` in `/notes/{id}`), percent-decoded.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request's background tasks (one list, shared by every user).
    pub(crate) fn background(&self) -> &BackgroundTasks {
        self.background.get_or_init(BackgroundTasks::default)
    }

    /// The headers set on the handler's answer (one list, shared by every user).
    pub(crate) fn set_headers(&self) -> &SetHeaders {
        self.set_headers.get_or_init(Box::default)
    }

    /// Takes the tasks added so far (none, if no one asked for the list).
    pub(crate) fn take_background(&self) -> Vec<futures_util::future::BoxFuture<'static, ()>> {
        self.background
            .get()
            .map(BackgroundTasks::take)
            .unwrap_or_default()
    }

    /// The request's id: the client's `x-request-id` when it is sane, otherwise one the app
    /// made. The same value is in the response's `x-request-id` header and in the request's
    /// log lines.
    pub fn request_id(&self) -> &RequestId {
        &self.request_id
    }

    /// The request body; empty unless a parameter of the route reads the body (and empty when
    /// it reads it as a stream).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Takes the unread body, if the route streams it and no input took it yet. It waits in
    /// the request's extensions (so that the head of every other request is no larger).
    pub(crate) fn take_stream(&self) -> Option<BodyFrames> {
        self.parts.extensions.get::<Unread>()?.take()
    }
}

/// A request input taken by value: `Path<T>`, `Query<T>`, `Json<T>`, `Form<T>`, `Header<T>`,
/// `Cookie<T>`, the security inputs, `Bytes`, `Method`, ...
///
/// All inputs of a route are extracted before any dependency is set up; every problem is
/// collected into one 422 response, so a bad request never opens a transaction. An input may
/// also refuse the request as a whole (missing credentials: 401) with
/// [`InputError::rejection`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a request input",
    label = "not a request input, and not marked `#[dep(...)]`",
    note = "request inputs are `Path<T>`, `Query<T>`, `Json<T>`, `Form<T>`, `Header<T>`, `Cookie<T>`, `HttpBearer`, `HttpBasic`, `ApiKeyHeader<N>`, `ApiKeyQuery<N>`, `ApiKeyCookie<N>`, `ClientAddr`, `Shutdown`, `Bytes`, `BodyStream`, `Multipart`, `Method`, `Uri`, `HeaderMap` (or `&Method`, `&Uri`, `&HeaderMap`, `&RequestHead`)",
    note = "a plain value does not say where in the request it is (FastAPI guesses it from the route): write the input around it, `Path(id): Path<u32>` for `/items/{{id}}`, `Query(q): Query<Params>` for the query string",
    note = "to inject the value of another `#[depends]` function, mark the parameter: `#[dep(function_name)] x: T`",
    note = "an axum extractor is an input through `Extract<E, S>` (feature `axum`): `Extract<State<S>, S>`, `Extract<Extension<T>>`",
    note = "`Yield<T>`, `Held<T>` and `HeldMut<T>` are known by their names: written under another (`use di_runtime::Yield as Provide`), they are taken for inputs; import them unrenamed"
)]
pub trait FromRequest: Sized + Send + 'static {
    /// Whether this input needs the request body to be read first.
    const NEEDS_BODY: bool = false;

    /// Whether this input reads the request body as a stream: the runtime then does not read
    /// the body first, and hands it, unread, to this input (see
    /// [`BodyStream`](crate::BodyStream)). A route may have one such input and no input that
    /// needs the whole body (`App::check` refuses both).
    const STREAMS_BODY: bool = false;

    /// Whether this input is the app's rather than a request's: the same for every request,
    /// read from nothing the request holds ([`Shutdown`](crate::Shutdown)). An `app`-scoped
    /// dependency, set up before any request, may take only such inputs; it reads them from a
    /// head with no request in it (no path, query, headers or body).
    const APP_INPUT: bool = false;

    /// Extracts the input, or describes every problem with it.
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>>;
}

/// A request input taken by reference: `&HeaderMap`, `&Method`, `&Uri`, `&RequestHead`.
#[diagnostic::on_unimplemented(
    message = "`&{Self}` is not a request input",
    label = "not a request input, and not marked `#[dep(...)]`",
    note = "inputs taken by reference are `&Method`, `&Uri`, `&HeaderMap`, `&RequestHead`, `&BackgroundTasks` and `&SetHeaders`",
    note = "to borrow the value of another `#[depends]` function, mark the parameter: `#[dep(function_name)] x: &T`"
)]
pub trait FromRequestRef: Send + Sync + 'static {
    /// Borrows the input from the request head.
    fn from_request_ref(head: &RequestHead) -> &Self;
}
