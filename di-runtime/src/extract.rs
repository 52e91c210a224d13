//! Request inputs resolved by type: [`Path`], [`Query`], [`Json`], [`Bytes`] and references to
//! the request head.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method, Uri};
use serde::de::DeserializeOwned;

use crate::error::InputError;

/// The parts of a request that inputs are extracted from: method, URI, headers, the route's
/// path parameters and, when a parameter needs it, the whole body.
#[derive(Debug)]
pub struct RequestHead {
    pub(crate) parts: http::request::Parts,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) body: Bytes,
    pub(crate) background: crate::BackgroundTasks,
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

    /// The value of the path parameter `name` (`{id}` in `/notes/{id}`), percent-decoded.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request body; empty unless a parameter of the route reads the body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// A request input taken by value: `Path<T>`, `Query<T>`, `Json<T>`, `Bytes`, `Method`, ...
///
/// All inputs of a route are extracted before any dependency is set up; every problem is
/// collected into one 422 response, so a bad request never opens a transaction.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a request input",
    label = "not a request input, and not marked `#[dep(...)]`",
    note = "request inputs are `Path<T>`, `Query<T>`, `Json<T>`, `Bytes`, `Method`, `Uri`, `HeaderMap` (or `&Method`, `&Uri`, `&HeaderMap`, `&RequestHead`)",
    note = "to inject the value of another `#[depends]` function, mark the parameter: `#[dep(function_name)] x: T`"
)]
pub trait FromRequest: Sized + Send + 'static {
    /// Whether this input needs the request body to be read first.
    const NEEDS_BODY: bool = false;

    /// Extracts the input, or describes every problem with it.
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>>;
}

/// A request input taken by reference: `&HeaderMap`, `&Method`, `&Uri`, `&RequestHead`.
#[diagnostic::on_unimplemented(
    message = "`&{Self}` is not a request input",
    label = "not a request input, and not marked `#[dep(...)]`",
    note = "inputs taken by reference are `&Method`, `&Uri`, `&HeaderMap` and `&RequestHead`",
    note = "to borrow the value of another `#[depends]` function, mark the parameter: `#[dep(function_name)] x: &T`"
)]
pub trait FromRequestRef: Send + Sync + 'static {
    /// Borrows the input from the request head.
    fn from_request_ref(head: &RequestHead) -> &Self;
}

impl FromRequestRef for RequestHead {
    fn from_request_ref(head: &RequestHead) -> &Self {
        head
    }
}

impl FromRequestRef for HeaderMap {
    fn from_request_ref(head: &RequestHead) -> &Self {
        head.headers()
    }
}

impl FromRequestRef for Method {
    fn from_request_ref(head: &RequestHead) -> &Self {
        head.method()
    }
}

impl FromRequestRef for Uri {
    fn from_request_ref(head: &RequestHead) -> &Self {
        head.uri()
    }
}

impl FromRequest for Method {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(head.method().clone())
    }
}

impl FromRequest for Uri {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(head.uri().clone())
    }
}

impl FromRequest for HeaderMap {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(head.headers().clone())
    }
}

impl FromRequest for Bytes {
    const NEEDS_BODY: bool = true;

    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(head.body.clone())
    }
}

/// Path parameters of the route (`/notes/{id}`), deserialized into `T`: a single value, a
/// tuple in order, or a struct by name.
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[depends]
/// async fn show(Path(id): Path<i64>) -> String {
///     format!("note {id}")
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequest for Path<T> {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        crate::input_de::from_path(&head.params).map(Path)
    }
}

/// The query string deserialized into `T` (absent fields become `None` for `Option` fields).
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[derive(serde::Deserialize)]
/// struct Page { limit: Option<u32> }
///
/// #[depends]
/// async fn list(Query(page): Query<Page>) -> String {
///     format!("limit {:?}", page.limit)
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequest for Query<T> {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        let query = head.uri().query().unwrap_or("");
        crate::input_de::from_query(query).map(Query)
    }
}

/// A JSON request body deserialized into `T`, or a JSON response body serialized from `T`.
///
/// As an input it requires `Content-Type: application/json` (or `*/*+json`).
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[derive(serde::Deserialize, serde::Serialize)]
/// struct Note { title: String }
///
/// #[depends]
/// async fn echo(Json(note): Json<Note>) -> Json<Note> {
///     Json(note)
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> crate::IntoResponse for Json<T> {
    fn into_response(self) -> crate::Response {
        crate::response::json_response(http::StatusCode::OK, &self.0)
    }
}

impl<T: DeserializeOwned + Send + 'static> FromRequest for Json<T> {
    const NEEDS_BODY: bool = true;

    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        if !is_json(head.headers()) {
            return Err(vec![
                InputError::new(
                    ["body"],
                    "expected a JSON body with `Content-Type: application/json`",
                )
                .kind("content_type"),
            ]);
        }
        if head.body.is_empty() {
            return Err(vec![
                InputError::new(["body"], "field required").kind("missing"),
            ]);
        }
        // Syntax first (one error for the whole body), then every problem of the content.
        let mut de = serde_json::Deserializer::from_slice(&head.body);
        let value =
            <serde_json::Value as serde::Deserialize>::deserialize(&mut de).map_err(|e| {
                let msg = format!("JSON decode error: {}", without_position(&e.to_string()));
                vec![InputError::new(["body"], msg).kind("json_invalid")]
            })?;
        de.end().map_err(|_| {
            vec![
                InputError::new(["body"], "JSON decode error: trailing characters")
                    .kind("json_invalid"),
            ]
        })?;
        crate::input_de::from_json(&value).map(Json)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

fn without_position(msg: &str) -> &str {
    msg.rfind(" at line ").map_or(msg, |i| &msg[..i])
}
