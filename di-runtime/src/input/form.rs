//! [`Form`]: an `application/x-www-form-urlencoded` body, every problem reported by field.

use std::borrow::Cow;
use std::collections::HashMap;

use http::HeaderMap;
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::contract::request::{FromRequest, RequestHead};
use crate::input::de::{Repeated, from_pairs};
use crate::response::error::InputError;

/// An HTML form body (`application/x-www-form-urlencoded`) deserialized into `T`, as
/// FastAPI's `Form()` parameters: read like a query string (a `Vec` field takes every value
/// of a repeated key, any other field the last one), problems reported at
/// `["body", field]`.
///
/// As in FastAPI, a field sent empty (`name=`) counts as absent (`missing` when it is
/// required, `None` for an `Option`), and a body of any other content type is read as an
/// empty form, so every required field is `missing`. The body is read within the app's body
/// limit (413 past it). `multipart/form-data` is not read by `Form`.
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[derive(serde::Deserialize)]
/// struct Login { username: String, remember: Option<bool> }
///
/// #[depends]
/// async fn login(Form(form): Form<Login>) -> String {
///     format!("{} {:?}", form.username, form.remember)
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequest for Form<T> {
    const NEEDS_BODY: bool = true;

    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        let pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> =
            form_urlencoded::parse(form_body(head)).collect();
        from_pairs("body", &kept_pairs(&pairs), Repeated::Last).map(Form)
    }
}

/// The pairs of a form that are read. An empty value is absent, as FastAPI takes an empty
/// form field; a key sent more than once keeps its empty values (elements of a list, as in
/// FastAPI).
/// (A multipart form's text fields are kept by the same rule, `Multipart::into_form`.)
pub(crate) fn kept_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Vec<(&str, &str)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    if pairs.iter().any(|(_, v)| v.as_ref().is_empty()) {
        for (k, _) in pairs {
            *counts.entry(k.as_ref()).or_default() += 1;
        }
    }
    pairs
        .iter()
        .filter(|(k, v)| !v.as_ref().is_empty() || counts.get(k.as_ref()).is_some_and(|&n| n > 1))
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect()
}

/// The body, when it is a URL-encoded form; else nothing (an empty form).
pub(crate) fn form_body(head: &RequestHead) -> &[u8] {
    if is_form(head.headers()) {
        &head.body
    } else {
        &[]
    }
}

/// Whether the body is a URL-encoded form, by its content type (parameters aside).
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}
