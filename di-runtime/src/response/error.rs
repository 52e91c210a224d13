//! Errors that become HTTP responses: [`HttpError`], the [`InputError`]s of a 422, and the
//! [`BodyError`] a request body read as a stream can end with. Plain data; how they are
//! rendered is in [`super::into`].

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

/// At most this many problems are listed in one 422 ([`HttpError::invalid_input`]).
pub(crate) const MAX_PROBLEMS: usize = 64;

/// An error that becomes an HTTP response `{"detail": ...}` with its status, like FastAPI's
/// `HTTPException`.
///
/// Every error type that implements [`std::error::Error`] converts into an `HttpError` with
/// status 500 through `?`: the client sees only `{"detail":"Internal Server Error"}`, while the
/// original error is kept as the [source](HttpError::source) for logs and teardowns. That is
/// why `HttpError` itself does not implement `std::error::Error` (as `anyhow::Error` does not).
/// The runtime's own [`BodyError`](crate::BodyError) keeps its status (413, 408, 400).
///
/// ```
/// use di_runtime::HttpError;
/// use http::StatusCode;
///
/// let e = HttpError::new(StatusCode::NOT_FOUND, "note 7 not found");
/// assert_eq!(e.status(), StatusCode::NOT_FOUND);
/// assert_eq!(e.detail(), &serde_json::json!("note 7 not found"));
///
/// let io = std::io::Error::other("disk on fire");
/// let e: HttpError = io.into();
/// assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
/// assert_eq!(e.detail(), &serde_json::json!("Internal Server Error")); // never leaked
/// ```
///
/// It is one pointer wide (its parts are boxed), so that a `Result<T, HttpError>` and the
/// futures that hold one stay small on the path where nothing fails.
#[derive(Clone)]
pub struct HttpError(Box<Parts>);

/// What an [`HttpError`] holds.
#[derive(Clone)]
struct Parts {
    status: StatusCode,
    /// Empty for a 422 of [`HttpError::invalid_input`] until asked for: read back from its
    /// body then (most such errors are only sent).
    detail: OnceLock<Value>,
    /// The exact body, when it is not `{"detail": detail}` serialized with sorted keys: the
    /// entries of a 422 keep pydantic's key order.
    body: Option<Bytes>,
    /// Headers sent with the response (`WWW-Authenticate` of a 401), rarely any.
    headers: Option<Box<HeaderMap>>,
    /// Whether `body` is an answer made elsewhere ([`HttpError::raw`]), whose content type is
    /// the one in `headers`, or none (an empty `404` of a `StatusCode`, a redirect): not JSON.
    foreign: bool,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl HttpError {
    /// An error with this status and a text detail.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::with_detail(status, Value::String(detail.into()))
    }

    /// An error with this status and any JSON value as its detail.
    pub fn with_detail(status: StatusCode, detail: impl Into<Value>) -> Self {
        Self(Box::new(Parts {
            status,
            detail: OnceLock::from(detail.into()),
            body: None,
            headers: None,
            foreign: false,
            source: None,
        }))
    }

    /// An answer made elsewhere (an axum rejection, an error type's response): its status,
    /// headers and exact body, the body as text its detail.
    pub(crate) fn raw(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        let detail = Value::String(String::from_utf8_lossy(&body).into_owned());
        Self(Box::new(Parts {
            status,
            detail: OnceLock::from(detail),
            body: Some(body),
            headers: (!headers.is_empty()).then(|| Box::new(headers)),
            foreign: true,
            source: None,
        }))
    }

    /// 400 Bad Request.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401 Unauthorized: the request has no credentials, or none that hold. RFC 9110 asks a
    /// 401 to say how to authenticate: add a `WWW-Authenticate` header.
    ///
    /// ```
    /// use di_runtime::prelude::*;
    /// use http::header::{HeaderValue, WWW_AUTHENTICATE};
    ///
    /// let error = HttpError::unauthorized("Not authenticated")
    ///     .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    /// assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    /// assert_eq!(error.headers()[WWW_AUTHENTICATE], "Bearer");
    /// ```
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403 Forbidden: the credentials hold, but do not allow this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404 Not Found.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 409 Conflict.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    /// 422 Unprocessable Content listing each problem with its location, the same response
    /// the framework sends for bad request input: FastAPI's body, byte for byte, its entries'
    /// keys in pydantic's order (`type`, `loc`, `msg`, `input`, `ctx`).
    ///
    /// When one of `errors` is a [rejection](InputError::rejection) (missing credentials of a
    /// security input), the response is the first rejection instead, as FastAPI answers a
    /// failing security dependency before it reports bad parameters; unless a body is not
    /// valid JSON (`json_invalid`), which FastAPI reports before any dependency runs.
    ///
    /// ```
    /// use di_runtime::{HttpError, InputError, StatusCode};
    ///
    /// let unauthorized = HttpError::new(StatusCode::UNAUTHORIZED, "Not authenticated");
    /// let e = HttpError::invalid_input([
    ///     InputError::new(["query", "limit"], "Field required").kind("missing"),
    ///     InputError::rejection(unauthorized),
    /// ]);
    /// assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
    /// ```
    ///
    /// At most the first 64 problems are listed, as for the framework's own 422s: a client
    /// that sends a million bad lines gets a short answer, not one a hundred times its request.
    ///
    /// ```
    /// use di_runtime::{HttpError, InputError};
    ///
    /// let e = HttpError::invalid_input(
    ///     (0..1000).map(|line| InputError::new(("body", line), "bad line")),
    /// );
    /// assert_eq!(e.detail().as_array().unwrap().len(), 64);
    /// ```
    pub fn invalid_input(errors: impl IntoIterator<Item = InputError>) -> Self {
        let mut gathered = Gathered::default();
        for error in errors {
            gathered.add(error, false);
        }
        gathered.into_error()
    }

    /// Adds a header to the response (as `HTTPException(headers=...)`), such as the
    /// `WWW-Authenticate` of a 401. A `Content-Length` or `Transfer-Encoding` is left out of the
    /// response: its body is the error's own, framed by the server.
    ///
    /// ```
    /// use di_runtime::{HttpError, StatusCode};
    /// use http::header::{HeaderValue, WWW_AUTHENTICATE};
    ///
    /// let e = HttpError::new(StatusCode::UNAUTHORIZED, "Not authenticated")
    ///     .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    /// assert_eq!(e.headers().get(WWW_AUTHENTICATE).unwrap(), "Bearer");
    /// ```
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0
            .headers
            .get_or_insert_with(Default::default)
            .append(name, value);
        self
    }

    /// The headers added with [`with_header`](HttpError::with_header).
    pub fn headers(&self) -> &HeaderMap {
        static EMPTY: std::sync::OnceLock<HeaderMap> = std::sync::OnceLock::new();
        match &self.0.headers {
            Some(headers) => headers,
            None => EMPTY.get_or_init(HeaderMap::new),
        }
    }

    /// 500 Internal Server Error with the generic detail `"Internal Server Error"`.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }

    /// A 500 that keeps `source` for logs and teardowns; the client sees only the generic
    /// detail.
    pub fn internal_from(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        let mut error = Self::internal();
        error.0.source = Some(Arc::new(source));
        error
    }

    /// A 500 that keeps a boxed `source` (for error types that convert into one, such as
    /// `anyhow::Error`: `.map_err(|e| HttpError::internal_from_boxed(e.into()))`); the client
    /// sees only the generic detail.
    pub fn internal_from_boxed(source: Box<dyn std::error::Error + Send + Sync>) -> Self {
        let mut error = Self::internal();
        error.0.source = Some(Arc::from(source));
        error
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// Answers with `status` instead (see `error_from_response`).
    pub(crate) fn set_status(&mut self, status: StatusCode) {
        self.0.status = status;
    }

    /// Sends `headers` in place of those added so far (see `error_from_response`).
    pub(crate) fn set_headers(&mut self, headers: HeaderMap) {
        self.0.headers = (!headers.is_empty()).then(|| Box::new(headers));
    }

    /// The JSON value sent as `detail`.
    pub fn detail(&self) -> &Value {
        self.0.detail.get_or_init(|| {
            // Only a 422's detail is left to be read back from its body, which is
            // `{"detail": [..]}`.
            let body = self.0.body.as_deref().unwrap_or_default();
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(mut body)) => body.remove("detail").unwrap_or(Value::Null),
                _ => Value::Null,
            }
        })
    }

    /// The exact JSON body sent, when it is not `{"detail": detail}` with sorted keys (a 422
    /// from [`HttpError::invalid_input`]).
    pub fn body_json(&self) -> Option<&[u8]> {
        self.0.body.as_deref()
    }

    pub(crate) fn body_bytes(&self) -> Option<Bytes> {
        self.0.body.clone()
    }

    /// Whether the body is an answer made elsewhere, with its own content type or none.
    pub(crate) fn foreign_body(&self) -> bool {
        self.0.foreign
    }

    /// The error this one was converted from, if any. It is never sent to the client.
    pub fn source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.0.source.as_deref()
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HttpError {
    fn from(source: E) -> Self {
        match own_status(&source) {
            Some(error) => error,
            None => Self::internal_from(source),
        }
    }
}

/// The response of an error of the runtime's own that has a status of its own (a
/// [`BodyError`](crate::BodyError): 413, 408, 400; a [`MultipartError`](crate::MultipartError): its body's, or 400), which this `From` impl, the one for every
/// `std::error::Error`, gives it instead of a 500. It cannot have an impl of its own: it is
/// a `std::error::Error`, so that `?` takes it into boxed errors too, and two impls would
/// overlap.
pub(crate) fn own_status(
    source: &(dyn std::error::Error + Send + Sync + 'static),
) -> Option<HttpError> {
    if let Some(body) = source.downcast_ref::<BodyError>() {
        return Some(body.to_http_error());
    }
    source
        .downcast_ref::<MultipartError>()
        .map(MultipartError::to_http_error)
}

/// Why a request body read as a stream ([`BodyStream`](crate::BodyStream),
/// [`Multipart`](crate::Multipart)) could not be read to its end.
///
/// It converts into the [`HttpError`] the runtime answers when it reads a whole body itself,
/// so a handler returns it with `?` and the client gets the same status: 413 past the app's
/// body limit, 408 when the body arrives too slowly, 400 when it breaks off. The teardowns of
/// the request then see that error as the outcome.
///
/// It is a `std::error::Error` (and `Send + Sync + 'static`), so `?` also takes it into a
/// `Box<dyn Error + Send + Sync>` or an `anyhow::Error`. It keeps its own status where other
/// errors become a 500: converted into an `HttpError`, and returned as a handler's boxed
/// error (`Box<dyn Error + Send + Sync>`, see [`BoxError`](crate::BoxError)).
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::BodyStream;
/// use futures_util::StreamExt;
///
/// #[depends]
/// async fn count(mut body: BodyStream) -> Result<String, HttpError> {
///     let mut bytes = 0;
///     while let Some(chunk) = body.next().await {
///         bytes += chunk?.len(); // a `BodyError` becomes its 413, 408 or 400
///     }
///     Ok(bytes.to_string())
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// The body is larger than the app's body limit ([`App::body_limit`](crate::App::body_limit)): 413.
    TooLarge,
    /// The body did not arrive within the app's body deadline, or arrived slower than its
    /// minimum rate: 408 (the connection is closed).
    TimedOut,
    /// The body broke off before its end (the client went away, or sent a malformed chunked
    /// encoding): 400. When the client went away, the request's teardowns are told
    /// [`Cancelled`](crate::Outcome::Cancelled)`(`[`ClientGone`](crate::CancelReason::ClientGone)`)`,
    /// whatever the handler answered.
    Incomplete,
}

impl BodyError {
    /// The status the client is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TimedOut => StatusCode::REQUEST_TIMEOUT,
            BodyError::Incomplete => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BodyError::TooLarge => "Request body too large",
            BodyError::TimedOut => "Request body timed out",
            BodyError::Incomplete => "Could not read the request body",
        })
    }
}

impl std::error::Error for BodyError {}

impl BodyError {
    /// The response the runtime gives when it reads a whole body and meets the same problem:
    /// what `HttpError::from` makes of it (`std::error::Error`s convert there, see
    /// `HttpError`'s `From` impl).
    #[cold]
    pub(crate) fn to_http_error(&self) -> HttpError {
        let http = HttpError::new(self.status(), self.to_string());
        match self {
            // The rest of the body is not read: an HTTP/1 connection cannot be reused.
            BodyError::TimedOut => {
                http.with_header(http::header::CONNECTION, HeaderValue::from_static("close"))
            }
            _ => http,
        }
    }
}

impl fmt::Debug for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpError")
            .field("status", &self.0.status.as_u16())
            .field("detail", self.detail())
            .field("headers", &self.0.headers)
            .field("source", &self.0.source)
            .finish()
    }
}

/// For logs: the status, the detail and, when there is one, the source error.
impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.status.as_u16())?;
        match self.detail() {
            Value::String(s) => write!(f, " {s}")?,
            other => write!(f, " {other}")?,
        }
        if let Some(source) = &self.0.source {
            // A user's error, whose `Display` may panic: written apart, so that a log line
            // never unwinds through the request that logs it.
            match crate::panic::catch_call(|| source.to_string()) {
                Ok(source) => write!(f, " (caused by: {source})")?,
                Err(_) => f.write_str(" (caused by: an error whose `Display` panicked)")?,
            }
        }
        Ok(())
    }
}

/// One problem with the request input, as an entry of a 422's `detail` list, in the shape
/// FastAPI (pydantic v2) sends, keys in its order:
/// The entries of a 422 as they are gathered, kept as far as its answer reads them: the
/// first [`MAX_PROBLEMS`] problems it lists, the first rejection (the answer when no problem
/// is `json_invalid`), and whether any problem is `json_invalid`. However many entries are
/// added (an input of the app's own may give one per bad line of an upload), it holds at most
/// `MAX_PROBLEMS` of them, so each is compared with at most that many.
#[derive(Default)]
pub(crate) struct Gathered {
    listed: Vec<InputError>,
    rejection: Option<HttpError>,
    json_invalid: bool,
}

impl Gathered {
    /// Adds `error`; with `once`, a problem equal to one listed already is left out (an input
    /// used twice reports its problems once).
    pub(crate) fn add(&mut self, error: InputError, once: bool) {
        self.json_invalid |= error.kind == "json_invalid";
        match error.rejection {
            Some(rejected) => {
                self.rejection.get_or_insert(rejected);
            }
            None if self.listed.len() < MAX_PROBLEMS && !(once && self.listed.contains(&error)) => {
                self.listed.push(error);
            }
            None => {}
        }
    }

    /// Adds the problems of one request input. FastAPI reads the body before any other
    /// input, and a body that is not JSON is then the only problem its 422 lists: once an
    /// input reports `json_invalid`, the problems of the inputs that report none are left
    /// out, whichever came first.
    pub(crate) fn add_input(&mut self, errors: Vec<InputError>) {
        let json_invalid = errors.iter().any(|error| error.kind == "json_invalid");
        if json_invalid && !self.json_invalid {
            self.listed.clear();
        } else if self.json_invalid && !json_invalid {
            return;
        }
        // Each once: an input used twice reports its problems once.
        for error in errors {
            self.add(error, true);
        }
    }

    /// Whether nothing was added that the answer reads.
    pub(crate) fn is_empty(&self) -> bool {
        self.listed.is_empty() && self.rejection.is_none()
    }

    /// The answer: the rejection, unless a problem is `json_invalid`; else the 422 of the
    /// problems listed.
    pub(crate) fn into_error(self) -> HttpError {
        if !self.json_invalid
            && let Some(rejection) = self.rejection
        {
            return rejection;
        }
        // One allocation for the body, sized from its entries.
        let size = 13 + self.listed.iter().map(|e| e.json_len() + 1).sum::<usize>();
        let mut list = String::with_capacity(size);
        list.push_str("{\"detail\":[");
        for (i, error) in self.listed.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            error.write_json(&mut list);
        }
        list.push(']');
        list.push('}');
        HttpError(Box::new(Parts {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: OnceLock::new(),
            body: Some(Bytes::from(list)),
            headers: None,
            foreign: false,
            source: None,
        }))
    }
}

/// `{"type": "int_parsing", "loc": ["query", "limit"], "msg": "...", "input": "abc"}`, with a
/// `"ctx"` object after `input` when the problem has one.
///
/// `type` is pydantic's name for the problem (`missing`, `int_parsing`, `enum`, ...),
/// `input` the offending value (`null` when there is none), `ctx` the problem's parameters
/// (`{"le": 255}`). See docs/fastapi.md.
#[derive(Clone, Debug)]
pub struct InputError {
    loc: Vec<Value>,
    // Most messages are the runtime's own, static ones: borrowed, not copied per problem.
    msg: Cow<'static, str>,
    kind: &'static str,
    /// `input` as compact JSON text (it keeps the key order of the request's JSON): `null`
    /// borrowed, or the text as it was written (not shrunk into a `Box<str>`, a reallocation
    /// per problem).
    input: Cow<'static, str>,
    /// `ctx` as compact JSON text, in pydantic's key order.
    ctx: Option<String>,
    /// Not a problem of the 422 but the whole response: see [`InputError::rejection`].
    rejection: Option<HttpError>,
}

/// Two problems are the same when they would be sent the same (a rejection: same status and
/// detail), so that an input used twice reports its problems once.
impl PartialEq for InputError {
    fn eq(&self, other: &Self) -> bool {
        let same_rejection = match (&self.rejection, &other.rejection) {
            (None, None) => true,
            (Some(a), Some(b)) => a.status() == b.status() && a.detail() == b.detail(),
            _ => false,
        };
        same_rejection
            && self.loc == other.loc
            && self.msg == other.msg
            && self.kind == other.kind
            && self.input == other.input
            && self.ctx == other.ctx
    }
}

impl Eq for InputError {}

impl InputError {
    /// A problem at `loc`, described by `msg`, of type `"value_error"` with input `null`. The
    /// location is an array of names (`["body", "title"]`) or a tuple mixing names and indexes
    /// (`("body", 3)`).
    ///
    /// ```
    /// use di_runtime::InputError;
    ///
    /// let e = InputError::new(("body", 3), "line 3: title must not be empty");
    /// assert_eq!(e.loc(), [serde_json::json!("body"), serde_json::json!(3)]);
    /// ```
    pub fn new(loc: impl IntoLoc, msg: impl Into<String>) -> Self {
        Self::at(loc.into_loc(), Cow::Owned(msg.into()))
    }

    /// [`InputError::new`] with a message that may be static (no copy).
    pub(crate) fn at(loc: Vec<LocPart>, msg: Cow<'static, str>) -> Self {
        Self {
            loc: loc.into_iter().map(|part| part.0).collect(),
            msg,
            kind: "value_error",
            input: Cow::Borrowed("null"),
            ctx: None,
            rejection: None,
        }
    }

    /// Not a problem with the input but a refusal of the whole request: the response is
    /// `error` instead of the 422 (see [`HttpError::invalid_input`]). The security inputs
    /// ([`HttpBearer`](crate::HttpBearer), ...) answer missing credentials with one, so that a
    /// request without them sets nothing up, as with bad input.
    ///
    /// ```
    /// use di_runtime::{FromRequest, HttpError, InputError, RequestHead, StatusCode};
    ///
    /// /// A request from the office network only (an input of one's own).
    /// struct Internal;
    ///
    /// impl FromRequest for Internal {
    ///     fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
    ///         match head.headers().get("x-office") {
    ///             Some(_) => Ok(Internal),
    ///             None => Err(vec![InputError::rejection(HttpError::new(
    ///                 StatusCode::FORBIDDEN,
    ///                 "Forbidden",
    ///             ))]),
    ///         }
    ///     }
    /// }
    /// ```
    pub fn rejection(error: HttpError) -> Self {
        Self {
            loc: Vec::new(),
            msg: Cow::Borrowed(""),
            kind: "rejection",
            input: Cow::Borrowed("null"),
            ctx: None,
            rejection: Some(error),
        }
    }

    /// The response this entry stands for, when it is a [rejection](InputError::rejection).
    pub fn rejected(&self) -> Option<&HttpError> {
        self.rejection.as_ref()
    }

    /// Replaces the field name that follows the source in the location (`["header",
    /// "user_agent"]` becomes `["header", "user-agent"]`).
    pub(crate) fn rename_field(mut self, rename: impl FnOnce(&str) -> String) -> Self {
        if let Some(Value::String(name)) = self.loc.get_mut(1) {
            *name = rename(name);
        }
        self
    }

    /// Sets the machine-readable type (`"missing"`, `"int_parsing"`, `"value_error"`, ...).
    #[must_use]
    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the offending value, sent as `input`.
    ///
    /// ```
    /// use di_runtime::{HttpError, InputError};
    ///
    /// let e = InputError::new(["query", "limit"], "Input should be a valid integer")
    ///     .kind("int_type")
    ///     .input(serde_json::json!("abc"));
    /// assert_eq!(e.input_value(), serde_json::json!("abc"));
    /// let e = HttpError::invalid_input([e]);
    /// assert_eq!(
    ///     String::from_utf8_lossy(e.body_json().unwrap()),
    ///     r#"{"detail":[{"type":"int_type","loc":["query","limit"],"msg":"Input should be a valid integer","input":"abc"}]}"#
    /// );
    /// ```
    #[must_use]
    pub fn input(mut self, input: Value) -> Self {
        self.input = Cow::Owned(input.to_string());
        self
    }

    /// Sets the problem's parameters, sent as `ctx` (`{"le": 255}`).
    #[must_use]
    pub fn ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx.to_string());
        self
    }

    /// `input` and `ctx` as compact JSON text, already in the order they are sent.
    pub(crate) fn raw(mut self, input: String, ctx: Option<String>) -> Self {
        self.input = Cow::Owned(input);
        self.ctx = ctx;
        self
    }

    /// The location: the source (`path`, `query`, `header`, `body`) then the field path.
    pub fn loc(&self) -> &[Value] {
        &self.loc
    }

    /// The human-readable message.
    pub fn msg(&self) -> &str {
        &self.msg
    }

    /// The machine-readable type, sent as `type`.
    pub fn type_name(&self) -> &str {
        self.kind
    }

    /// The offending value, sent as `input` (`null` when there is none).
    pub fn input_value(&self) -> Value {
        serde_json::from_str(&self.input).unwrap_or(Value::Null)
    }

    /// About how many bytes [`write_json`](Self::write_json) writes (exactly, unless a string
    /// needs escapes or the location holds other than names and indexes).
    fn json_len(&self) -> usize {
        let loc: usize = self
            .loc
            .iter()
            .map(|part| match part {
                Value::String(name) => name.len() + 3,
                _ => 21,
            })
            .sum();
        let ctx = self.ctx.as_ref().map_or(0, |ctx| ctx.len() + 7);
        // `{"type":"","loc":[],"msg":"","input":}`
        39 + self.kind.len() + loc + self.msg.len() + self.input.len() + ctx
    }

    /// Appends this entry as compact JSON, keys in pydantic's order.
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"type\":");
        push_json_str(out, self.kind);
        out.push_str(",\"loc\":[");
        for (i, part) in self.loc.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match part {
                Value::String(name) => push_json_str(out, name),
                // An index (or, from `InputError::new`'s callers, any other value).
                other => {
                    use std::fmt::Write as _;
                    let _ = write!(out, "{other}");
                }
            }
        }
        out.push_str("],\"msg\":");
        push_json_str(out, &self.msg);
        out.push_str(",\"input\":");
        out.push_str(&self.input);
        if let Some(ctx) = &self.ctx {
            out.push_str(",\"ctx\":");
            out.push_str(ctx);
        }
        out.push('}');
    }
}

/// Appends `s` as a JSON string if it can fit in `out` within `limit` bytes: false, with
/// nothing written, if it cannot (escaped, a string is at least its length and its two quotes
/// long). Escapes may still take it past `limit`: a caller bounded by it looks at `out`'s
/// length after.
pub(crate) fn push_json_str_within(out: &mut String, s: &str, limit: usize) -> bool {
    if out.len().saturating_add(s.len() + 2) > limit {
        return false;
    }
    push_json_str(out, s);
    true
}

/// Appends `s` as a JSON string, escaped as Python's `json.dumps(ensure_ascii=False)` and
/// serde_json both escape it.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Escaped as `serde_json` escapes a string: `"`, `\\` and the control characters (short
    // forms where JSON has one); everything else, non-ASCII included, as it is.
    let mut plain = 0;
    for (at, byte) in s.bytes().enumerate() {
        let short = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain..at]);
        plain = at + 1;
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(short);
        }
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

/// A location of an [`InputError`]: an array or `Vec` of names, or a tuple of up to four
/// names and indexes.
pub trait IntoLoc {
    /// The parts of the location, outermost first.
    fn into_loc(self) -> Vec<LocPart>;
}

impl<T: Into<LocPart>, const N: usize> IntoLoc for [T; N] {
    fn into_loc(self) -> Vec<LocPart> {
        self.into_iter().map(Into::into).collect()
    }
}

impl<T: Into<LocPart>> IntoLoc for Vec<T> {
    fn into_loc(self) -> Vec<LocPart> {
        self.into_iter().map(Into::into).collect()
    }
}

macro_rules! loc_tuple {
    ($($name:ident),*) => {
        impl<$($name: Into<LocPart>),*> IntoLoc for ($($name,)*) {
            #[allow(non_snake_case, reason = "one binding per tuple element")]
            fn into_loc(self) -> Vec<LocPart> {
                let ($($name,)*) = self;
                vec![$($name.into()),*]
            }
        }
    };
}
loc_tuple!(A);
loc_tuple!(A, B);
loc_tuple!(A, B, C);
loc_tuple!(A, B, C, D);

/// One element of an [`InputError`] location: a name or an index.
#[derive(Clone, Debug)]
pub struct LocPart(Value);

impl From<&String> for LocPart {
    fn from(s: &String) -> Self {
        LocPart(Value::String(s.clone()))
    }
}

impl From<&str> for LocPart {
    fn from(s: &str) -> Self {
        LocPart(Value::String(s.to_owned()))
    }
}

impl From<String> for LocPart {
    fn from(s: String) -> Self {
        LocPart(Value::String(s))
    }
}

impl From<usize> for LocPart {
    fn from(i: usize) -> Self {
        LocPart(Value::from(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_string_is_escaped_as_serde_json_escapes_it() {
        let every_ascii: String = (0u8..=0x7f).map(char::from).collect();
        for text in [
            "",
            "plain",
            "a \"quoted\" \\ back\\slash",
            "line\nfeed\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}",
            "héllo wörld ✓ 😀",
            "\u{1}é\u{2}",
            &every_ascii,
        ] {
            let mut out = String::from("[");
            push_json_str(&mut out, text);
            assert_eq!(out[1..], serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn std_errors_become_generic_500s() {
        let e: HttpError = std::io::Error::other("secret path /etc/x").into();
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.detail(), &Value::from("Internal Server Error"));
        assert!(e.to_string().contains("secret path"), "logs keep the cause");
    }

    #[test]
    fn input_errors_render_like_fastapi() {
        let e = HttpError::invalid_input([
            InputError::new(
                ["query", "limit"],
                "Input should be less than or equal to 255",
            )
            .kind("less_than_equal")
            .input(Value::from("300"))
            .ctx(serde_json::json!({"le": 255})),
            InputError::new(("body", 0), "Field required").kind("missing"),
        ]);
        assert_eq!(
            e.detail(),
            &serde_json::json!([
                {"type": "less_than_equal", "loc": ["query", "limit"], "msg": "Input should be less than or equal to 255", "input": "300", "ctx": {"le": 255}},
                {"type": "missing", "loc": ["body", 0], "msg": "Field required", "input": null},
            ])
        );
        assert_eq!(
            String::from_utf8_lossy(e.body_json().expect("a 422 keeps its exact body")),
            r#"{"detail":[{"type":"less_than_equal","loc":["query","limit"],"msg":"Input should be less than or equal to 255","input":"300","ctx":{"le":255}},{"type":"missing","loc":["body",0],"msg":"Field required","input":null}]}"#
        );
    }

    #[test]
    fn a_422_body_is_what_serde_json_writes_for_its_entries() {
        let loc = ["body", "a \"quoted\"\nname", "é\u{1}"];
        let e = HttpError::invalid_input([
            InputError::new(loc, "a \\ in a\tmessage")
                .input(serde_json::json!({"k": [1, "\u{7f}"]})),
            InputError::new(("body", 12_345_678_901_u64 as usize, "x"), "Field required")
                .kind("missing"),
        ]);
        // Keys in pydantic's order, each value as serde_json writes it.
        let json = |v: Value| serde_json::to_string(&v).expect("serializable");
        let expected = format!(
            r#"{{"detail":[{{"type":"value_error","loc":{},"msg":{},"input":{}}},{{"type":"missing","loc":{},"msg":"Field required","input":null}}]}}"#,
            json(serde_json::json!(loc)),
            json(serde_json::json!("a \\ in a\tmessage")),
            json(serde_json::json!({"k": [1, "\u{7f}"]})),
            json(serde_json::json!(["body", 12_345_678_901_u64, "x"])),
        );
        assert_eq!(
            String::from_utf8_lossy(e.body_json().expect("a 422 keeps its exact body")),
            expected
        );
    }
}

/// Why a [`Multipart`](crate::Multipart) body could not be read: the body itself (too large,
/// too slow, broken off: a [`BodyError`]) or a malformed multipart encoding (400).
///
/// Like [`BodyError`], it keeps its own status: converted into an [`HttpError`] (with `?` in
/// a handler that returns one) and returned as a handler's boxed error (`Box<dyn Error + Send
/// + Sync>`); it is a `std::error::Error + Send + Sync + 'static`, so `?` also takes it into
/// a boxed error or an `anyhow::Error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultipartError(MultipartProblem);

#[derive(Clone, Debug, PartialEq, Eq)]
enum MultipartProblem {
    Body(BodyError),
    Malformed(String),
    /// The next field was asked for while the handler still held one not read to its end: a
    /// bug of the handler, not of the body (500).
    FieldHeld,
}

impl MultipartError {
    /// Reading the body failed.
    pub(crate) fn body(error: BodyError) -> Self {
        Self(MultipartProblem::Body(error))
    }

    /// The body is not a multipart encoding, or a broken one (`why`).
    pub(crate) fn malformed(why: String) -> Self {
        Self(MultipartProblem::Malformed(why))
    }

    /// The handler asked for the next field while it held one not read to its end.
    pub(crate) fn field_held() -> Self {
        Self(MultipartProblem::FieldHeld)
    }

    /// The status the client is answered with.
    pub fn status(&self) -> StatusCode {
        match &self.0 {
            MultipartProblem::Body(body) => body.status(),
            MultipartProblem::Malformed(_) => StatusCode::BAD_REQUEST,
            MultipartProblem::FieldHeld => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body's own error, when reading the body failed (rather than parsing it).
    pub fn body_error(&self) -> Option<&BodyError> {
        match &self.0 {
            MultipartProblem::Body(body) => Some(body),
            MultipartProblem::Malformed(_) | MultipartProblem::FieldHeld => None,
        }
    }

    /// The response the runtime gives for it (what `HttpError::from` makes of it).
    #[cold]
    pub(crate) fn to_http_error(&self) -> HttpError {
        match &self.0 {
            MultipartProblem::Body(body) => body.to_http_error(),
            MultipartProblem::Malformed(_) => HttpError::bad_request(self.to_string()),
            MultipartProblem::FieldHeld => HttpError::internal(),
        }
    }
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            MultipartProblem::Body(body) => body.fmt(f),
            MultipartProblem::Malformed(why) => write!(f, "Invalid multipart data: {why}"),
            MultipartProblem::FieldHeld => f.write_str(
                "a multipart field not read to its end is still held: drop it before asking for the next",
            ),
        }
    }
}

impl std::error::Error for MultipartError {}
