//! [`Cookie`]: named request cookies, every problem reported by cookie name; the cookie
//! parser Starlette uses.

use http::HeaderMap;
use http::header::COOKIE;
use serde::de::DeserializeOwned;

use crate::contract::request::{FromRequest, RequestHead};
use crate::input::de::{Repeated, from_pairs};
use crate::input::header::latin1;
use crate::response::error::InputError;

/// Request cookies deserialized into a struct by name, as FastAPI's `Cookie()` parameters: a
/// field takes the cookie of its exact name, an `Option` field is `None` when it is absent.
///
/// The `Cookie` headers (all of them: HTTP/2 clients send one per cookie) are parsed as
/// Starlette parses them: pairs split at `;` and at the first `=`, spaces trimmed, a value in
/// double quotes unquoted with its `\"` and `\ooo` escapes; a value is *not* percent-decoded
/// (`a%20b` stays `a%20b`, as in FastAPI). A cookie sent twice gives its last value.
/// Problems are reported at `["cookie", name]`.
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[derive(serde::Deserialize)]
/// struct Session {
///     session_id: String,
///     theme: Option<String>,
/// }
///
/// #[depends]
/// async fn me(Cookie(s): Cookie<Session>) -> String {
///     format!("{} {:?}", s.session_id, s.theme)
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cookie<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequest for Cookie<T> {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        from_pairs("cookie", &cookies(head.headers()), Repeated::Last).map(Cookie)
    }
}

/// Every cookie of every `Cookie` header, in order, as Starlette's `cookie_parser` reads
/// them (a chunk without `=` is a value with an empty name).
pub(crate) fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for header in headers.get_all(COOKIE) {
        let text = latin1(header.as_bytes());
        for chunk in text.split(';') {
            let (key, value) = chunk.split_once('=').unwrap_or(("", chunk));
            let (key, value) = (py_strip(key), py_strip(value));
            if !key.is_empty() || !value.is_empty() {
                out.push((key.to_owned(), unquote(value)));
            }
        }
    }
    out
}

/// The last value of the cookie `name`, as Starlette's `request.cookies[name]`.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cookies(headers)
        .into_iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Python's `str.strip()` for the characters a header value can hold.
fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
}

/// Python's `http.cookies._unquote`: a value in double quotes loses them, and its `\ooo`
/// (octal) and `\c` escapes are replaced; any other value is kept as it is.
fn unquote(value: &str) -> String {
    let inner = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) if value.len() >= 2 => inner,
        _ => return value.to_owned(),
    };
    let chars: Vec<char> = inner.chars().collect();
    let mut out = String::with_capacity(inner.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            let octal = chars.get(i + 1..i + 4).filter(|d| {
                ('0'..='3').contains(&d[0]) && d[1..].iter().all(|c| ('0'..='7').contains(c))
            });
            if let Some(digits) = octal {
                let code = digits
                    .iter()
                    .fold(0u32, |n, d| n * 8 + d.to_digit(8).unwrap_or(0));
                out.extend(char::from_u32(code));
                i += 4;
            } else {
                out.push(chars[i + 1]);
                i += 2;
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(header: &str) -> Vec<(String, String)> {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, header.parse().unwrap());
        cookies(&headers)
    }

    #[test]
    fn parses_as_starlette() {
        assert_eq!(
            parse(r#"a=1; b="x \"y\" \054z" ;c=d=e; =v; flag;;  "#),
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "x \"y\" ,z".to_owned()),
                ("c".to_owned(), "d=e".to_owned()),
                (String::new(), "v".to_owned()),
                (String::new(), "flag".to_owned()),
            ]
        );
        assert_eq!(parse("s=a%20b"), [("s".to_owned(), "a%20b".to_owned())]);
        assert_eq!(parse(r#"q=""#), [("q".to_owned(), "\"".to_owned())]);
    }
}
