//! [`Json`]: a JSON request body (every problem reported by field) and a JSON response.

use http::HeaderMap;
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::contract::request::{FromRequest, RequestHead};
use crate::input::de::strict;
use crate::input::de::tree::Tree;
use crate::input::de::{from_json, with_room};
use crate::input::json_syntax::python_error;
use crate::response::body::Response;
use crate::response::error::{InputError, push_json_str};
use crate::response::into::{IntoResponse, json_response};

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

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        json_response(http::StatusCode::OK, &self.0)
    }
}

impl<T: DeserializeOwned + Send + 'static> FromRequest for Json<T> {
    const NEEDS_BODY: bool = true;

    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        if head.body.is_empty() {
            return Err(vec![
                InputError::new(["body"], "Field required").kind("missing"),
            ]);
        }
        if !is_json(head.headers()) {
            // FastAPI (strict content type) validates such a body as text: a struct is then
            // `model_attributes_type` with the text as `input`, a byte order mark included
            // (its bytes as they came, decoded as UTF-8). `di` reads JSON only with a JSON
            // content type, so whatever the text would give, it is not taken.
            let text = Tree::String(String::from_utf8_lossy(&head.body).into_owned());
            return Err(from_json::<T>(&text).err().unwrap_or_else(|| {
                vec![
                    InputError::new(
                        ["body"],
                        "expected a JSON body with `Content-Type: application/json`",
                    )
                    .kind("content_type"),
                ]
            }));
        }
        // A UTF-8 byte order mark is not part of the JSON (Python's `json.loads` of bytes,
        // FastAPI's reader, decodes them as `utf-8-sig`). A body of nothing but the mark is
        // not empty to FastAPI: it is JSON with no value (`json_invalid`).
        let body = head
            .body
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&head.body);
        // A good body is deserialized straight from its bytes (its structs from objects only,
        // as the search reads them); only a body that fails is parsed again to find every
        // problem: syntax first (one error for the whole body, as FastAPI reports it), then
        // every problem of the content.
        //
        // A body nested deeper than this thread's stack allows is read again on a thread with
        // room for it (see `with_room`), never past the end of this one's.
        with_room(|| read_body::<T>(body)).map(Json)
    }
}

/// `T` from the bytes of a JSON body: straight from them, or, when that fails, every
/// problem found (see [`Json::from_request`]).
fn read_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Vec<InputError>> {
    if let Ok(value) = strict::from_slice::<T>(body) {
        return Ok(value);
    }
    let tree = Tree::parse(body).map_err(|error| vec![json_invalid(body, &error)])?;
    from_json(&tree)
}

/// An optional JSON body, FastAPI's `item: Item | None = None`: `None` when the request has
/// no body (or its body is JSON `null`), otherwise the body read and checked as [`Json<T>`]
/// reads it (its problems are the same 422).
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[derive(serde::Deserialize)]
/// struct Patch { title: String }
///
/// #[depends]
/// async fn patch(body: Option<Json<Patch>>) -> String {
///     body.map_or_else(|| "nothing to change".to_owned(), |Json(p)| p.title)
/// }
/// # let _ = App::new().patch("/todo", patch);
/// ```
impl<T: DeserializeOwned + Send + 'static> FromRequest for Option<Json<T>> {
    const NEEDS_BODY: bool = true;

    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        if is_absent(head) {
            return Ok(None);
        }
        // Read as `Option<T>`, so that `null` is `None`, as pydantic reads `Item | None`.
        Json::<Option<T>>::from_request(head).map(|Json(value)| value.map(Json))
    }
}

/// Whether a request has no body for an optional [`Json`] to read: an empty one. A body of only
/// a UTF-8 byte order mark is there, as FastAPI reads it (JSON with no value: `json_invalid`).
pub(crate) fn is_absent(head: &RequestHead) -> bool {
    head.body.is_empty()
}

/// FastAPI's answer to a body that is not JSON: Python's message and position (in
/// characters) when Python's `json` rejects the body too, serde_json's otherwise.
fn json_invalid(body: &[u8], error: &serde_json::Error) -> InputError {
    let text = String::from_utf8_lossy(body);
    let (msg, pos) = match python_error(&text) {
        Some((msg, pos)) => (msg.to_owned(), pos),
        None => {
            // Python would accept what serde_json does not (`NaN`, a lone surrogate, deeper
            // nesting than serde_json's limit) or the body is not UTF-8.
            let msg = error.to_string();
            let msg = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
            (
                msg.to_owned(),
                position(&text, error.line(), error.column()),
            )
        }
    };
    let mut ctx = String::from("{\"error\":");
    push_json_str(&mut ctx, &msg);
    ctx.push('}');
    InputError::new(("body", pos), "JSON decode error")
        .kind("json_invalid")
        .raw("{}".to_owned(), Some(ctx))
}

/// The character index of serde_json's 1-based line and column (a byte count in its line).
fn position(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let end = (start + column.saturating_sub(1)).min(text.len());
    let end = (0..=end)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    text[..end].chars().count()
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
