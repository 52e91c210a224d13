//! Responses for browsers: [`Html`] and [`Redirect`] (FastAPI's `HTMLResponse` and
//! `RedirectResponse`).

use std::borrow::Cow;

use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue, LOCATION};

use crate::response::body::{Body, Response};
use crate::response::into::{IntoResponse, made_wrong};

/// An HTML page: its body with `Content-Type: text/html; charset=utf-8` (FastAPI's
/// `HTMLResponse`). `T` is the page as text or bytes (`&'static str`, `String`, `Vec<u8>`,
/// [`Bytes`](crate::Bytes)).
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::Html;
///
/// #[depends]
/// async fn home() -> Html<String> {
///     Html(format!("<h1>{}</h1>", "Notes"))
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Html<T>(pub T);

impl<T: Into<Body>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        let mut response = Response::new(self.0.into());
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        response
    }
}

/// A redirect: a status of 3xx and a `Location` header, no body.
///
/// [`Redirect::to`] is `303 See Other` (after a form's `POST`, the browser `GET`s the new
/// location), [`Redirect::temporary`] `307` (FastAPI's `RedirectResponse`: the same method
/// and body again, elsewhere), [`Redirect::permanent`] `308`. What a URI cannot hold is sent
/// percent-encoded: characters beyond ASCII (`/notes/crème` as `/notes/cr%C3%A8me`), a space
/// (`?q=milk and eggs` as `?q=milk%20and%20eggs`), a tab, `"`, `<`, `>`, `\`, `^`, a
/// backtick, `{`, `|` and `}`, as Starlette's `RedirectResponse` sends them; what is already
/// encoded is left as it is. A location with a control character other than a tab in it (a
/// line break) is the handler's mistake: a generic 500, its teardowns told
/// `HandlerError(500)`, the reason logged.
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::Redirect;
///
/// #[depends]
/// async fn old_notes(Path(id): Path<u32>) -> Redirect {
///     Redirect::permanent(&format!("/notes/{id}"))
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Redirect {
    status: StatusCode,
    location: Result<HeaderValue, String>,
}

impl Redirect {
    /// `303 See Other` to `location`.
    pub fn to(location: &str) -> Self {
        Self::with_status(StatusCode::SEE_OTHER, location)
    }

    /// `307 Temporary Redirect` to `location`: the client repeats the request there.
    pub fn temporary(location: &str) -> Self {
        Self::with_status(StatusCode::TEMPORARY_REDIRECT, location)
    }

    /// `308 Permanent Redirect` to `location`: the client repeats the request there, and may
    /// remember to go there at once next time.
    pub fn permanent(location: &str) -> Self {
        Self::with_status(StatusCode::PERMANENT_REDIRECT, location)
    }

    /// The redirect to `location`, what a URI cannot hold in it (a path a user named:
    /// `/notes/crème`, a query of words: `?q=milk and eggs`) percent-encoded byte by byte of
    /// its UTF-8, as Starlette's `RedirectResponse` quotes its URL: a `Location` is a URI, and
    /// a header's raw UTF-8 or space is read differently by each client. A control character
    /// other than a tab is still refused: the location as given is no header value.
    fn with_status(status: StatusCode, location: &str) -> Self {
        let encoded = Cow::from(percent_encoding::utf8_percent_encode(
            location,
            NOT_IN_A_URI,
        ));
        let refused = matches!(encoded, Cow::Owned(_))
            && location.bytes().any(|b| b.is_ascii_control() && b != b'\t');
        let value = HeaderValue::from_str(if refused { location } else { &encoded });
        Self {
            status,
            location: value.map_err(|_| location.escape_debug().to_string()),
        }
    }

    /// Its status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Its location as it is sent (what a URI cannot hold percent-encoded), if it is a valid
    /// header value.
    pub fn location(&self) -> Option<&str> {
        self.location
            .as_ref()
            .ok()
            .and_then(|value| value.to_str().ok())
    }
}

/// What a URI holds nowhere, percent-encoded in a redirect's location (and in the URI a test
/// client is given, as httpx encodes it): the control characters, the bytes beyond ASCII, the
/// space, and `"`, `<`, `>`, `\`, `^`, a backtick, `{`, `|` and `}` (what Starlette's
/// `quote(url, safe=":/%#?=@[]!$&'()*+,;")` encodes; `%` is kept, so what is already encoded
/// stays so).
pub(crate) const NOT_IN_A_URI: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A redirect whose location is not a valid header value.
#[derive(Debug)]
struct InvalidLocation(String);

impl std::fmt::Display for InvalidLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the handler redirected to a location that is not a valid header value: \"{}\"",
            self.0
        )
    }
}

impl std::error::Error for InvalidLocation {}

impl IntoResponse for Redirect {
    fn into_response(self) -> Response {
        match self.location {
            Ok(location) => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = self.status;
                response.headers_mut().insert(LOCATION, location);
                response
            }
            Err(location) => made_wrong(InvalidLocation(location)),
        }
    }
}
