//! [`Header`]: named request headers, every problem reported by header name.

use std::borrow::Cow;

use http::HeaderMap;
use serde::de::DeserializeOwned;

use crate::contract::request::{FromRequest, RequestHead};
use crate::input::de::{Repeated, from_pairs};
use crate::response::error::InputError;

/// Request headers deserialized into a struct by name, as FastAPI's `Header()` parameters:
/// a field takes the header of its name with underscores as hyphens, case-insensitively
/// (`user_agent` takes `User-Agent`), an `Option` field is `None` when the header is absent,
/// a `Vec` field takes every value of a repeated header, any other field its first value.
///
/// Problems are reported at `["header", "user-agent"]` (the header's name, as FastAPI gives
/// it): a missing header is `missing`, a value that does not parse `int_parsing` and so on,
/// with the value as `input`. A header whose own name has an underscore is never taken (as in
/// FastAPI, where `x_token` looks for `x-token` only). A value is read as Latin-1 when it is
/// not ASCII, as Starlette reads it. A field renamed with `#[serde(rename = "...")]` must use
/// lowercase and underscores (`"x_api_key"` for `X-API-Key`).
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[derive(serde::Deserialize)]
/// struct Client {
///     user_agent: String,          // `User-Agent`, required
///     x_request_id: Option<u64>,   // `X-Request-Id`, optional
///     #[serde(default)]
///     x_tag: Vec<String>,          // every `X-Tag`
/// }
///
/// #[depends]
/// async fn whoami(Header(client): Header<Client>) -> String {
///     format!("{} {:?} {:?}", client.user_agent, client.x_request_id, client.x_tag)
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequest for Header<T> {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        let mut names = String::new();
        from_pairs(
            "header",
            &pairs(head.headers(), &mut names),
            Repeated::First,
        )
        .map(Header)
        .map_err(|errors| {
            errors
                .into_iter()
                .map(|e| e.rename_field(|name| name.replace('_', "-")))
                .collect()
        })
    }
}

/// Each header as a `(field name, value)` pair: `x-request-id` as `x_request_id`; names with
/// an underscore of their own are left out. A name without a hyphen (`host`, `accept`) is
/// borrowed as it is; the others are written, `-` as `_`, one after another into `names` (one
/// allocation for all of them, where a `String` each cost an allocation a header field).
pub(crate) fn pairs<'a>(
    headers: &'a HeaderMap,
    names: &'a mut String,
) -> Vec<(&'a str, Cow<'a, str>)> {
    let taken = || {
        headers
            .iter()
            .map(|(name, value)| (name.as_str(), value))
            .filter(|(name, _)| !name.contains('_'))
    };
    for (name, _) in taken().filter(|(name, _)| name.contains('-')) {
        for (i, part) in name.split('-').enumerate() {
            if i > 0 {
                names.push('_');
            }
            names.push_str(part);
        }
    }
    let names: &'a str = names;
    let mut at = 0;
    taken()
        .map(|(name, value)| {
            let field = if name.contains('-') {
                at += name.len();
                &names[at - name.len()..at]
            } else {
                name
            };
            (field, latin1(value.as_bytes()))
        })
        .collect()
}

/// The text of a header value as Starlette reads it: bytes as Latin-1 characters.
pub(crate) fn latin1(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.is_ascii() => Cow::Borrowed(text),
        _ => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}
