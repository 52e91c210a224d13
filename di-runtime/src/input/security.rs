//! Security inputs, like `fastapi.security`: [`HttpBearer`], [`HttpBasic`], and an API key in
//! a header, the query or a cookie ([`ApiKeyHeader`], [`ApiKeyQuery`], [`ApiKeyCookie`],
//! named by a [`KeyName`]).
//!
//! Each is a request input, usable as a handler or dependency parameter. Missing or unusable
//! credentials answer as FastAPI 0.165 does: 401 `{"detail":"Not authenticated"}` with
//! `WWW-Authenticate: Bearer`, `Basic` or `APIKey`. This answer wins over the 422 of other
//! bad input (FastAPI runs security dependencies before it validates the parameters) except
//! over a body that is not JSON, and nothing is set up. `Option<HttpBearer>` (and so on) is
//! FastAPI's `auto_error=False`: `None` instead of the 401.
//!
//! Credentials never reach logs or error bodies: the `Debug` output of these types hides
//! them, and no answer repeats them.

use std::fmt;
use std::marker::PhantomData;

use http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use http::{HeaderMap, StatusCode};

use crate::contract::request::{FromRequest, RequestHead};
use crate::input::cookie::cookie;
use crate::input::header::latin1;
use crate::response::error::{HttpError, InputError};

/// The 401 FastAPI's security classes answer, with the scheme's `WWW-Authenticate`.
fn not_authenticated(scheme: &'static str) -> Vec<InputError> {
    let error = HttpError::new(StatusCode::UNAUTHORIZED, "Not authenticated")
        .with_header(WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
    vec![InputError::rejection(error)]
}

/// The `Authorization` header split as FastAPI's `get_authorization_scheme_param`: the scheme
/// before the first space, the rest with surrounding white space removed. `None` when the
/// header is absent or empty.
fn authorization(headers: &HeaderMap) -> Option<(String, String)> {
    let value = latin1(headers.get(AUTHORIZATION)?.as_bytes()).into_owned();
    if value.is_empty() {
        return None;
    }
    let (scheme, param) = value.split_once(' ').unwrap_or((&value, ""));
    Some((scheme.to_owned(), param.trim().to_owned()))
}

/// A bearer token from `Authorization: Bearer <token>` (FastAPI's `HTTPBearer`).
///
/// Without a token (no header, another scheme, nothing after `Bearer`) the request is answered
/// with 401 `{"detail":"Not authenticated"}` and `WWW-Authenticate: Bearer`; as
/// `Option<HttpBearer>` it is `None` instead. The scheme is matched in any case (`bearer`), and
/// the token is everything after the first space, trimmed. Checking the token is the
/// application's work, typically in a dependency that takes this input.
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::HttpBearer;
///
/// #[depends]
/// async fn current_user(bearer: HttpBearer) -> Result<String, HttpError> {
///     match bearer.token() {
///         "let-me-in" => Ok("ada".to_owned()),
///         _ => Err(HttpError::new(StatusCode::UNAUTHORIZED, "Invalid token")),
///     }
/// }
///
/// #[depends]
/// async fn me(#[dep(current_user)] user: &String) -> String {
///     user.clone()
/// }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct HttpBearer {
    token: String,
}

impl HttpBearer {
    /// The token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The token, owned.
    pub fn into_token(self) -> String {
        self.token
    }

    fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let (scheme, token) = authorization(headers)?;
        (!scheme.is_empty() && !token.is_empty() && scheme.eq_ignore_ascii_case("bearer"))
            .then_some(HttpBearer { token })
    }
}

impl fmt::Debug for HttpBearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpBearer").finish_non_exhaustive()
    }
}

impl FromRequest for HttpBearer {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Self::from_headers(head.headers()).ok_or_else(|| not_authenticated("Bearer"))
    }
}

impl FromRequest for Option<HttpBearer> {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(HttpBearer::from_headers(head.headers()))
    }
}

/// A user name and password from `Authorization: Basic <base64 of user:password>` (FastAPI's
/// `HTTPBasic`).
///
/// Answered with 401 `{"detail":"Not authenticated"}` and `WWW-Authenticate: Basic` when the
/// header is absent or of another scheme (`Option<HttpBasic>`: `None`), and, as in FastAPI,
/// also as an `Option` when the credentials are malformed (not base64 as Python's `b64decode`
/// reads it, or no `:`). The password is everything after the first `:`. Unlike FastAPI, which
/// takes ASCII only, the decoded credentials may be any UTF-8 (RFC 7617's `charset="UTF-8"`).
/// Comparing the password is the application's work; compare in constant time.
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::HttpBasic;
///
/// #[depends]
/// async fn admin(basic: HttpBasic) -> Result<String, HttpError> {
///     if basic.username() == "admin" && basic.password() == "secret" {
///         Ok("welcome".to_owned())
///     } else {
///         Err(HttpError::new(StatusCode::UNAUTHORIZED, "Incorrect username or password"))
///     }
/// }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct HttpBasic {
    username: String,
    password: String,
}

impl HttpBasic {
    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Reads the header: `Ok(None)` when there is no basic credential, `Err` when there is
    /// one that is malformed.
    fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, Vec<InputError>> {
        let Some((scheme, param)) = authorization(headers) else {
            return Ok(None);
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return Ok(None);
        }
        let decoded = py_b64decode(&param).ok_or_else(|| not_authenticated("Basic"))?;
        let text = String::from_utf8(decoded).map_err(|_| not_authenticated("Basic"))?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| not_authenticated("Basic"))?;
        Ok(Some(HttpBasic {
            username: username.to_owned(),
            password: password.to_owned(),
        }))
    }
}

impl fmt::Debug for HttpBasic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpBasic")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl FromRequest for HttpBasic {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        HttpBasic::from_headers(head.headers())?.ok_or_else(|| not_authenticated("Basic"))
    }
}

impl FromRequest for Option<HttpBasic> {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        HttpBasic::from_headers(head.headers())
    }
}

/// Python's `base64.b64decode(s)` (not validating): characters outside the alphabet are
/// skipped, padding ends the data, a length that padding cannot complete is an error, and so
/// is any character that is not ASCII.
fn py_b64decode(text: &str) -> Option<Vec<u8>> {
    if !text.is_ascii() {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut quad, mut pads, mut left) = (0u8, 0u8, 0u32);
    for c in text.bytes() {
        if c == b'=' {
            if quad >= 2 {
                pads += 1;
                if quad + pads >= 4 {
                    return Some(out);
                }
            }
            continue;
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        pads = 0;
        let v = u32::from(v);
        match quad {
            0 => left = v,
            1 => {
                out.push(((left << 2) | (v >> 4)) as u8);
                left = v & 0x0f;
            }
            2 => {
                out.push(((left << 4) | (v >> 2)) as u8);
                left = v & 0x03;
            }
            _ => {
                out.push(((left << 6) | v) as u8);
                left = 0;
            }
        }
        quad = (quad + 1) % 4;
    }
    (quad == 0).then_some(out)
}

/// The name of an API key: the header, query parameter or cookie it is read from. A unit
/// struct implements it, and names the key in the input's type:
///
/// ```
/// use di_runtime::{ApiKeyHeader, KeyName};
///
/// /// The `X-API-Key` header.
/// struct XApiKey;
///
/// impl KeyName for XApiKey {
///     const NAME: &'static str = "X-API-Key";
/// }
///
/// #[di_runtime::depends]
/// async fn client(key: ApiKeyHeader<XApiKey>) -> String {
///     format!("{} characters", key.key().len())
/// }
/// ```
///
/// (A `&'static str` const generic would read better, but is not stable Rust.)
pub trait KeyName: Send + Sync + 'static {
    /// The header (any case), query parameter or cookie name.
    const NAME: &'static str;
}

macro_rules! api_key {
    ($(#[$doc:meta])* $name:ident, $read:expr) => {
        $(#[$doc])*
        pub struct $name<N: KeyName> {
            key: String,
            name: PhantomData<fn() -> N>,
        }

        impl<N: KeyName> $name<N> {
            /// The key.
            pub fn key(&self) -> &str {
                &self.key
            }

            /// The key, owned.
            pub fn into_key(self) -> String {
                self.key
            }

            fn read(head: &RequestHead) -> Option<Self> {
                let read: fn(&RequestHead, &str) -> Option<String> = $read;
                read(head, N::NAME)
                    .filter(|key| !key.is_empty())
                    .map(|key| $name { key, name: PhantomData })
            }
        }

        impl<N: KeyName> Clone for $name<N> {
            fn clone(&self) -> Self {
                $name { key: self.key.clone(), name: PhantomData }
            }
        }

        impl<N: KeyName> PartialEq for $name<N> {
            fn eq(&self, other: &Self) -> bool {
                self.key == other.key
            }
        }

        impl<N: KeyName> Eq for $name<N> {}

        impl<N: KeyName> fmt::Debug for $name<N> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("name", &N::NAME)
                    .finish_non_exhaustive()
            }
        }

        impl<N: KeyName> FromRequest for $name<N> {
            fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
                Self::read(head).ok_or_else(|| not_authenticated("APIKey"))
            }
        }

        impl<N: KeyName> FromRequest for Option<$name<N>> {
            fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
                Ok($name::read(head))
            }
        }
    };
}

api_key! {
    /// An API key in the header [`N::NAME`](KeyName::NAME) (FastAPI's `APIKeyHeader`): its
    /// first value, read as Latin-1 when it is not ASCII.
    ///
    /// Absent or empty: 401 `{"detail":"Not authenticated"}` with `WWW-Authenticate: APIKey`
    /// (`Option<ApiKeyHeader<N>>`: `None`). See [`KeyName`] for an example.
    ApiKeyHeader,
    |head, name| head.headers().get(name).map(|v| latin1(v.as_bytes()).into_owned())
}

api_key! {
    /// An API key in the query parameter [`N::NAME`](KeyName::NAME) (FastAPI's
    /// `APIKeyQuery`): its last value, percent-decoded.
    ///
    /// Absent or empty: 401 `{"detail":"Not authenticated"}` with `WWW-Authenticate: APIKey`
    /// (`Option<ApiKeyQuery<N>>`: `None`).
    ApiKeyQuery,
    |head, name| {
        let query = head.uri().query().unwrap_or("");
        form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == name)
            .last()
            .map(|(_, v)| v.into_owned())
    }
}

api_key! {
    /// An API key in the cookie [`N::NAME`](KeyName::NAME) (FastAPI's `APIKeyCookie`): its
    /// last value, read as [`Cookie`](crate::Cookie) reads cookies.
    ///
    /// Absent or empty: 401 `{"detail":"Not authenticated"}` with `WWW-Authenticate: APIKey`
    /// (`Option<ApiKeyCookie<N>>`: `None`).
    ApiKeyCookie,
    |head, name| cookie(head.headers(), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_python_reads_it() {
        let d = |s: &str| py_b64decode(s).map(|v| String::from_utf8_lossy(&v).into_owned());
        assert_eq!(d("dXNlcjpwYTpzcw==").as_deref(), Some("user:pa:ss"));
        assert_eq!(d("dXNlcjpw").as_deref(), Some("user:p"));
        assert_eq!(
            d("dXNl cjpw!").as_deref(),
            Some("user:p"),
            "others are skipped"
        );
        assert_eq!(
            d("dXNlcg==trailing").as_deref(),
            Some("user"),
            "padding ends it"
        );
        assert_eq!(d("dXNlcg"), None, "incorrect padding");
        assert_eq!(d("dXNlc"), None, "one more than a multiple of 4");
        assert_eq!(d("").as_deref(), Some(""));
        assert_eq!(d("dXé"), None, "not ASCII");
    }

    #[test]
    fn debug_hides_credentials() {
        let bearer = HttpBearer {
            token: "s3cret".to_owned(),
        };
        let basic = HttpBasic {
            username: "ada".to_owned(),
            password: "s3cret".to_owned(),
        };
        assert!(!format!("{bearer:?}{basic:?}").contains("s3cret"));
    }
}
