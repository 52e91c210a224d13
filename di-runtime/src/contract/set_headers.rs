//! [`SetHeaders`]: headers a request's dependencies and handler set on the answer to come.
//! Laid onto the handler's answer by [`crate::run::request`].

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::response::check::FRAMING_HEADERS;

/// Headers to send with the handler's answer, set by the handler or by any of its
/// dependencies: FastAPI's `response: Response` parameter, on which a dependency sets a
/// header or a cookie.
///
/// Take it as `headers: &SetHeaders`: one list per request, shared by every function of it.
/// A session dependency refreshes its cookie with it, a rate limiter sends what is left of
/// the client's quota, a transaction names itself, without the handler returning any of it.
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::http::header::{HeaderValue, SET_COOKIE};
///
/// #[depends]
/// async fn session(headers: &SetHeaders) -> u64 {
///     headers.append(SET_COOKIE, HeaderValue::from_static("session=abc; HttpOnly"));
///     7
/// }
///
/// #[depends]
/// async fn me(#[dep(session)] user: &u64) -> String {
///     format!("user {user}")
/// }
/// ```
///
/// **On which answer.** They are laid onto the answer the handler gave, a success or its
/// `Err`, in the order they were set, once the `handler`-scope teardowns have run (which may
/// set some too): [`insert`](SetHeaders::insert) replaces the answer's own header of that
/// name, [`append`](SetHeaders::append) adds a line beside it. An answer the handler did not
/// give carries none of them: a 422 of bad input, a dependency's failed setup (its error may
/// carry headers of its own: [`HttpError::with_header`](crate::HttpError::with_header)), a
/// panic's or a failed teardown's 500, the generic 500 in place of an answer that cannot be
/// sent (an informational status, a value `Json` cannot serialize), the request timeout's
/// 503. So FastAPI sends what a dependency set only with the endpoint's own answer.
///
/// **Until when.** The response's head is sent right after: a header set later (by a
/// `request`-scope teardown, a streamed body, a task) is not sent, and a WARN line of target
/// `di` says so.
///
/// **Not the framing.** The headers of the message's framing and connection
/// (`Content-Length`, `Transfer-Encoding`, `Connection`, `Keep-Alive`, `Proxy-Connection`,
/// `Upgrade`, `TE`, `Trailer`) are the server's to write, for the body it sends: one set here
/// is not sent, and a WARN line of target `di` says so. A handler that frames its own body
/// returns the header beside it (see [`ResponseHeaders`](crate::ResponseHeaders)).
///
/// **Not the request id.** The header that carries the request's id (`x-request-id`, or the
/// one [`App::request_id_header`](crate::App::request_id_header) names) is the app's: one of
/// that name set here is replaced by the id, as the handler's own is.
pub struct SetHeaders {
    /// The headers set so far, in order; `None` once they were laid onto the answer.
    set: Mutex<Option<Vec<(HeaderName, HeaderValue, How)>>>,
}

/// How a header set is laid onto the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    Insert,
    Append,
}

impl Default for SetHeaders {
    fn default() -> Self {
        Self {
            set: Mutex::new(Some(Vec::new())),
        }
    }
}

impl SetHeaders {
    /// Sets `name` to `value` on the answer, replacing the answer's own `name` (and any set
    /// before here).
    pub fn insert(&self, name: HeaderName, value: HeaderValue) {
        self.set(name, value, How::Insert);
    }

    /// Adds a `name: value` line to the answer, beside those it has (as each `Set-Cookie`
    /// needs).
    pub fn append(&self, name: HeaderName, value: HeaderValue) {
        self.set(name, value, How::Append);
    }

    fn set(&self, name: HeaderName, value: HeaderValue, how: How) {
        if FRAMING_HEADERS.contains(&name.as_str()) {
            tracing::warn!(
                target: "di",
                header = %name,
                "a header of the message's framing was set with `SetHeaders`, and is not sent: the server writes it for the body it sends"
            );
            return;
        }
        let mut set = self.list();
        match set.as_mut() {
            Some(list) => list.push((name, value, how)),
            None => {
                drop(set);
                tracing::warn!(
                    target: "di",
                    header = %name,
                    "a header was set after the response's head was made, and is not sent: set it before the handler's answer leaves (in the handler, a dependency's setup or a `handler`-scope teardown)"
                );
            }
        }
    }

    /// The headers set so far (`None` once laid onto the answer); a panic while it was held
    /// (none of this module's code can panic there) leaves it as it was.
    fn list(&self) -> MutexGuard<'_, Option<Vec<(HeaderName, HeaderValue, How)>>> {
        self.set.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lays the headers set so far onto `headers` (none: the answer is not the handler's, and
    /// they are dropped); any set from now on is not sent.
    pub(crate) fn lay_onto(&self, headers: Option<&mut HeaderMap>) {
        let list = self.list().take();
        let (Some(list), Some(headers)) = (list, headers) else {
            return;
        };
        for (name, value, how) in list {
            match how {
                How::Insert => {
                    headers.insert(name, value);
                }
                How::Append => {
                    headers.append(name, value);
                }
            }
        }
    }
}

impl fmt::Debug for SetHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = self.list();
        let mut list = f.debug_list();
        if let Some(set) = set.as_ref() {
            list.entries(set.iter().map(|(name, value, how)| (how, name, value)));
        }
        list.finish()
    }
}
