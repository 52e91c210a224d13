//! [`Json`]: a JSON request body (every problem reported by field) and a JSON response.

use http::HeaderMap;
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::contract::request::{FromRequest, RequestHead};
use crate::input::de::from_json;
use crate::response::body::Response;
use crate::response::error::InputError;
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
        // A good body is deserialized straight from its bytes; only a body that fails is
        // parsed again to find every problem: syntax first (one error for the whole body),
        // then every problem of the content.
        if let Ok(value) = serde_json::from_slice::<T>(&head.body) {
            return Ok(Json(value));
        }
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
        from_json(&value).map(Json)
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
