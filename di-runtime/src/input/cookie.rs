//! [`Cookie`]: named request cookies, every problem reported by cookie name; the cookie
//! parser Starlette uses.

use std::borrow::Cow;

use http::HeaderMap;
use http::header::COOKIE;
use serde::de::DeserializeOwned;

use crate::contract::request::{FromRequest, RequestHead};
use crate::input::de::{Repeated, every_problem_of_pairs, fast};
use crate::input::header::latin1;
use crate::response::error::InputError;

/// Request cookies deserialized into a struct by name, as FastAPI's `Cookie()` parameters: a
/// field takes the cookie of its exact name, an `Option` field is `None` when it is absent.
///
/// The `Cookie` headers (all of them; the `cookie` fields of an HTTP/2 request, one per cookie
/// from a browser, reach the app joined into one, RFC 9113 8.2.3) are parsed as
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
        read(head.headers()).map(Cookie)
    }
}

/// `T` from the cookies of `headers`: good cookies read borrowed from the header text, owned
/// pairs made only for the search.
fn read<T: DeserializeOwned>(headers: &HeaderMap) -> Result<T, Vec<InputError>> {
    let texts = texts(headers);
    if let Some(value) = fast::pairs_grouping(pairs(&texts), false) {
        return Ok(value);
    }
    // The fast path has answered no: straight to the search.
    let owned: Vec<_> = pairs(&texts).collect();
    let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (&**k, &**v)).collect();
    every_problem_of_pairs("cookie", &pairs, Repeated::Last)
}

/// The text of each `Cookie` header, in order (Latin-1, borrowed when it is ASCII).
fn texts(headers: &HeaderMap) -> Vec<Cow<'_, str>> {
    headers
        .get_all(COOKIE)
        .iter()
        .map(|header| latin1(header.as_bytes()))
        .collect()
}

/// Every cookie of `texts`, in order, as Starlette's `cookie_parser` reads them (a chunk
/// without `=` is a value with an empty name), borrowed from them but for a quoted value
/// with escapes.
fn pairs<'t>(texts: &'t [Cow<'_, str>]) -> impl Iterator<Item = (Cow<'t, str>, Cow<'t, str>)> {
    texts
        .iter()
        .flat_map(|text| text.split(';'))
        .filter_map(|chunk| {
            let (key, value) = chunk.split_once('=').unwrap_or(("", chunk));
            let (key, value) = (py_strip(key), py_strip(value));
            (!key.is_empty() || !value.is_empty()).then(|| (Cow::Borrowed(key), unquote(value)))
        })
}

/// Every cookie of every `Cookie` header, in order, as Starlette's `cookie_parser` reads
/// them (a chunk without `=` is a value with an empty name).
pub(crate) fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    pairs(&texts(headers))
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
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
fn unquote(value: &str) -> Cow<'_, str> {
    let inner = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) if value.len() >= 2 => inner,
        _ => return Cow::Borrowed(value),
    };
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
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
    Cow::Owned(out)
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
        assert_eq!(
            parse(r#"p="plain value"; e="""#),
            [
                ("p".to_owned(), "plain value".to_owned()),
                ("e".to_owned(), String::new()),
            ]
        );
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Session {
        session_id: String,
        user_id: u64,
        theme: Option<String>,
        #[serde(default)]
        tag: Vec<String>,
    }

    /// What the search reads of the cookies of `headers` (the owned pairs of `cookies`).
    fn searched<T: DeserializeOwned>(headers: &HeaderMap) -> Option<T> {
        let owned = cookies(headers);
        let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (&**k, &**v)).collect();
        crate::input::de::from_pairs_repaired::<T>("cookie", &pairs, Repeated::Last).ok()
    }

    #[test]
    fn cookies_read_borrowed_are_read_as_the_search_reads_them() {
        let cases: &[&[&[u8]]] = &[
            &[b"session_id=abc; user_id=7"],
            &[b"_ga=GA1.2.3; session_id=abc; user_id=7; theme=dark; consent=yes; lang=en"],
            &[b"session_id=\"a b\"; user_id=\"7\"; theme=\"x \\\"y\\\" \\054z\""],
            &[b"session_id=a; user_id=1; user_id=2; tag=x; tag=y; tag=z"],
            &[b"session_id=a", b"user_id=3; theme=light", b"tag=q"],
            &[b"session_id=caf\xe9; user_id=4; theme=\xfc"],
            &[b"session_id=a; user_id=x"],
            &[b"session_id=a; user_id=x; user_id=5"],
            &[b"user_id=5"],
            &[b"session_id=a; user_id=5; =v; flag;;  "],
            &[],
        ];
        let mut read_here = 0;
        for case in cases {
            let mut headers = HeaderMap::new();
            for value in *case {
                headers.append(COOKIE, http::HeaderValue::from_bytes(value).unwrap());
            }
            let ours = read::<Session>(&headers).ok();
            read_here += usize::from(ours.is_some());
            assert_eq!(ours, searched::<Session>(&headers), "{case:?}");
            assert_eq!(
                read::<std::collections::HashMap<String, String>>(&headers).ok(),
                searched(&headers),
                "{case:?}"
            );
        }
        assert_eq!(read_here, 8);
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            "session_id=a; user_id=1; user_id=2; tag=x; tag=y"
                .parse()
                .unwrap(),
        );
        let session = read::<Session>(&headers).ok();
        assert_eq!(
            session.map(|s| (s.user_id, s.tag)),
            Some((2, vec!["x".to_owned(), "y".to_owned()]))
        );
    }
}
