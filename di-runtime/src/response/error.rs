//! Errors that become HTTP responses: [`HttpError`] and the [`InputError`]s of a 422. Plain
//! data; how they are rendered is in [`super::into`].

use std::fmt;
use std::sync::Arc;

use http::StatusCode;
use serde_json::Value;

/// An error that becomes an HTTP response `{"detail": ...}` with its status, like FastAPI's
/// `HTTPException`.
///
/// Every error type that implements [`std::error::Error`] converts into an `HttpError` with
/// status 500 through `?`: the client sees only `{"detail":"Internal Server Error"}`, while the
/// original error is kept as the [source](HttpError::source) for logs and teardowns. That is
/// why `HttpError` itself does not implement `std::error::Error` (as `anyhow::Error` does not).
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
#[derive(Clone)]
pub struct HttpError {
    status: StatusCode,
    detail: Value,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl HttpError {
    /// An error with this status and a text detail.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::with_detail(status, Value::String(detail.into()))
    }

    /// An error with this status and any JSON value as its detail.
    pub fn with_detail(status: StatusCode, detail: impl Into<Value>) -> Self {
        Self {
            status,
            detail: detail.into(),
            source: None,
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 404 Not Found.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 409 Conflict.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    /// 422 Unprocessable Content listing each problem with its location, the same shape as the
    /// response the framework sends for bad request input.
    pub fn invalid_input(errors: impl IntoIterator<Item = InputError>) -> Self {
        let list: Vec<Value> = errors.into_iter().map(|e| e.to_json()).collect();
        Self::with_detail(StatusCode::UNPROCESSABLE_ENTITY, Value::Array(list))
    }

    /// 500 Internal Server Error with the generic detail `"Internal Server Error"`.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }

    /// A 500 that keeps `source` for logs and teardowns; the client sees only the generic
    /// detail.
    pub fn internal_from(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            source: Some(Arc::new(source)),
            ..Self::internal()
        }
    }

    /// A 500 that keeps a boxed `source` (for error types that convert into one, such as
    /// `anyhow::Error`: `.map_err(|e| HttpError::internal_from_boxed(e.into()))`); the client
    /// sees only the generic detail.
    pub fn internal_from_boxed(source: Box<dyn std::error::Error + Send + Sync>) -> Self {
        Self {
            source: Some(Arc::from(source)),
            ..Self::internal()
        }
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON value sent as `detail`.
    pub fn detail(&self) -> &Value {
        &self.detail
    }

    /// The error this one was converted from, if any. It is never sent to the client.
    pub fn source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HttpError {
    fn from(source: E) -> Self {
        Self::internal_from(source)
    }
}

impl fmt::Debug for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpError")
            .field("status", &self.status.as_u16())
            .field("detail", &self.detail)
            .field("source", &self.source)
            .finish()
    }
}

/// For logs: the status, the detail and, when there is one, the source error.
impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status.as_u16())?;
        match &self.detail {
            Value::String(s) => write!(f, " {s}")?,
            other => write!(f, " {other}")?,
        }
        if let Some(source) = &self.source {
            write!(f, " (caused by: {source})")?;
        }
        Ok(())
    }
}

/// One problem with the request input: where it is and what is wrong, as an entry of a 422's
/// `detail` list: `{"loc": ["query", "limit"], "msg": "...", "type": "..."}`. FastAPI's
/// entries (pydantic v2) have other keys, `type` names and texts: see docs/fastapi.md.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    loc: Vec<Value>,
    msg: String,
    kind: &'static str,
}

impl InputError {
    /// A problem at `loc`, described by `msg`. The location is an array of names
    /// (`["body", "title"]`) or a tuple mixing names and indexes (`("body", 3)`).
    ///
    /// ```
    /// use di_runtime::InputError;
    ///
    /// let e = InputError::new(("body", 3), "line 3: title must not be empty");
    /// assert_eq!(e.loc(), [serde_json::json!("body"), serde_json::json!(3)]);
    /// ```
    pub fn new(loc: impl IntoLoc, msg: impl Into<String>) -> Self {
        Self {
            loc: loc.into_loc().into_iter().map(|part| part.0).collect(),
            msg: msg.into(),
            kind: "value_error",
        }
    }

    /// Sets the machine-readable kind (`"missing"`, `"parse_error"`, `"value_error"`, ...).
    #[must_use]
    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
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

    fn to_json(&self) -> Value {
        serde_json::json!({ "loc": self.loc, "msg": self.msg, "type": self.kind })
    }
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
    fn std_errors_become_generic_500s() {
        let e: HttpError = std::io::Error::other("secret path /etc/x").into();
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.detail(), &Value::from("Internal Server Error"));
        assert!(e.to_string().contains("secret path"), "logs keep the cause");
    }

    #[test]
    fn input_errors_render_like_fastapi() {
        let e = HttpError::invalid_input([InputError::new(["query", "limit"], "not an integer")]);
        assert_eq!(
            e.detail(),
            &serde_json::json!([{"loc": ["query", "limit"], "msg": "not an integer", "type": "value_error"}])
        );
    }
}
