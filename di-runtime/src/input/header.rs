//! [`Header`]: named request headers, every problem reported by header name.

use serde::de::DeserializeOwned;

use crate::contract::request::{FromRequest, RequestHead};
use std::borrow::Cow;

use crate::input::de::fast::{names_field, renamed_as_headers};
use crate::input::de::{Repeated, fast, field_order, from_pairs};
// Defined beside the fast path that reads a header map as these pairs are read.
pub(crate) use crate::input::de::fast::{header_pairs as pairs, latin1};
use crate::response::error::InputError;

/// Request headers deserialized into a struct by name, as FastAPI's `Header()` parameters:
/// a field takes the header of its name with underscores as hyphens, case-insensitively
/// (`user_agent` takes `User-Agent`), an `Option` field is `None` when the header is absent,
/// a `Vec` field takes every value of a repeated header, any other field its first value.
/// A value is not split at its commas, as FastAPI does not split it: `X-Tag: a, b` is one
/// value, `"a, b"` (RFC 9110's list syntax is the handler's to read, when the header is one).
///
/// Problems are reported at `["header", "user-agent"]` (the header's name, as FastAPI gives
/// it): a missing header is `missing`, a value that does not parse `int_parsing` and so on,
/// with the value as `input`. A header whose own name has an underscore is never taken (as in
/// FastAPI, where `x_token` looks for `x-token` only). A value is read as Latin-1 when it is
/// not ASCII, as Starlette reads it. A field renamed with `#[serde(rename = "...")]` (FastAPI's
/// `alias`) takes the header it names in any case, with `-` or `_` (`"X-API-Key"` and
/// `"x_api_key"` both take `x-api-key`; not in a struct with `#[serde(flatten)]`, which is read
/// by its fields' own names); its problems are reported at the name as written.
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
        // Good fields are read straight from the header map; the pairs are made only when
        // that fails (see `fast::headers`).
        if let Some(value) = fast::headers(head.headers()) {
            return Ok(Header(value));
        }
        let mut names = String::new();
        from_pairs(
            "header",
            &field_pairs::<T>(head.headers(), &mut names),
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

/// The header pairs (see [`pairs`]) keyed by `T`'s field names: a field renamed as the header
/// is written (`X-Request-ID`) takes the pair of that header (`x_request_id`), as the fast path
/// reads it (see [`names_field`]).
pub(crate) fn field_pairs<'a, T: DeserializeOwned>(
    headers: &'a http::HeaderMap,
    names: &'a mut String,
) -> Vec<(&'a str, Cow<'a, str>)> {
    let mut pairs = pairs(headers, names);
    let fields = field_order::<T>();
    if renamed_as_headers(fields) {
        for (key, _) in &mut pairs {
            if let Some(field) = fields.iter().find(|field| names_field(key, field)) {
                *key = field;
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use http::HeaderMap;
    use std::collections::{BTreeMap, HashMap};
    use std::fmt::Debug;

    use http::{HeaderName, HeaderValue};
    use serde::Deserialize;

    use super::*;

    /// What the fast path read of the header map `fast::headers` makes, and what it read of
    /// the pairs `Header<T>` reads when that fails (`field_pairs`), before the header map was
    /// read straight.
    fn both<T: DeserializeOwned>(headers: &HeaderMap) -> (Option<T>, Option<T>) {
        let mut names = String::new();
        let pairs = field_pairs::<T>(headers, &mut names);
        let read = fast::pairs(
            pairs
                .iter()
                .map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(v.as_ref()))),
        );
        (fast::headers(headers), read)
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Client {
        user_agent: String,
        x_request_id: Option<u64>,
        #[serde(default)]
        x_tag: Vec<String>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        user_agent: String,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Renamed {
        #[serde(rename = "user-agent")]
        hyphen: Option<String>,
        #[serde(alias = "x_other")]
        x_api_key: Option<String>,
        #[serde(rename = "host")]
        server: Option<String>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Flat {
        user_agent: Option<String>,
        #[serde(flatten)]
        rest: BTreeMap<String, String>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Slow,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Typed {
        x_count: Option<u8>,
        x_flag: Option<bool>,
        x_mode: Option<Mode>,
        x_ratio: Option<f64>,
        x_letter: Option<char>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Unit;

    fn check<T: DeserializeOwned + PartialEq + Debug>(headers: &HeaderMap) {
        let (straight, as_pairs) = both::<T>(headers);
        assert_eq!(
            straight,
            as_pairs,
            "{} from {headers:?}",
            std::any::type_name::<T>()
        );
    }

    fn map(fields: &[(&str, &[u8])]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap_or(HeaderName::from_static("x")),
                HeaderValue::from_bytes(value).unwrap_or(HeaderValue::from_static("")),
            );
        }
        headers
    }

    #[test]
    fn a_header_map_read_straight_is_read_as_its_pairs_are() {
        let maps = [
            map(&[]),
            map(&[("user-agent", b"curl/8"), ("host", b"example.com")]),
            map(&[
                ("host", b"example.com"),
                ("user-agent", b"curl/8"),
                ("x-request-id", b"42"),
                ("x-tag", b"a"),
                ("x-filler-1", b"value"),
                ("accept", b"*/*"),
            ]),
            map(&[("user-agent", b"a"), ("user-agent", b"b")]),
            map(&[("user-agent", b"a"), ("x-tag", b"a"), ("x-tag", b"b")]),
            map(&[("user-agent", b"caf\xe9"), ("x-request-id", b"nope")]),
            map(&[("user_agent", b"underscored"), ("x-api-key", b"k")]),
            map(&[("user-agent", b"ua"), ("x-other", b"o"), ("x_other", b"u")]),
            map(&[("x-count", b"7"), ("x-flag", b"yes"), ("x-mode", b"fast")]),
            map(&[
                ("x-count", b"300"),
                ("x-flag", b"maybe"),
                ("x-mode", b"other"),
            ]),
            map(&[("x-ratio", b"0.5"), ("x-letter", b"z"), ("x-count", b"")]),
            map(&[("x-letter", b"zz"), ("x-ratio", b"half")]),
        ];
        for headers in &maps {
            check::<Client>(headers);
            check::<Option<Client>>(headers);
            check::<Strict>(headers);
            check::<Renamed>(headers);
            check::<Flat>(headers);
            check::<Typed>(headers);
            check::<HashMap<String, String>>(headers);
            check::<BTreeMap<String, Vec<String>>>(headers);
            check::<Unit>(headers);
            check::<()>(headers);
            check::<String>(headers);
            check::<Vec<String>>(headers);
            check::<(String, String)>(headers);
        }
        // Not only agreeing on giving up.
        let read = |i: usize| both::<Client>(&maps[i]).0;
        assert_eq!(
            read(2),
            Some(Client {
                user_agent: "curl/8".into(),
                x_request_id: Some(42),
                x_tag: vec!["a".into()],
            })
        );
        assert_eq!(read(5).map(|c| c.user_agent), None);
        // A field renamed as the header is written (`user-agent`) takes it.
        let renamed = both::<Renamed>(&maps[7]).0;
        assert_eq!(
            renamed,
            Some(Renamed {
                hyphen: Some("ua".into()),
                x_api_key: Some("o".into()),
                server: None,
            })
        );
        assert!(both::<Typed>(&maps[8]).0.is_some());
        assert!(both::<Flat>(&maps[2]).0.is_some());
        let (latin1, _) = both::<Strict>(&map(&[("user-agent", b"caf\xe9")]));
        assert_eq!(latin1.map(|s| s.user_agent), Some("caf\u{e9}".to_owned()));
    }
}
