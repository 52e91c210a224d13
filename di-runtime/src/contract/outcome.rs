//! How a request ended, as seen by teardowns.

use std::fmt;

use http::StatusCode;

use crate::response::error::HttpError;

/// How the request ended, handed to every teardown by [`Yield::provide`](crate::Yield::provide).
///
/// `handler`-scoped teardowns see how the handler ended; `request`-scoped teardowns also see
/// how sending the body ended: [`Outcome::Success`] reaches them only once the body's last
/// frame was handed to the connection. A cancellation is never a success.
///
/// ```
/// use di_runtime::{CancelReason, Outcome};
/// use http::StatusCode;
///
/// assert!(Outcome::Success { status: StatusCode::CREATED }.is_success());
/// assert!(!Outcome::Success { status: StatusCode::NOT_FOUND }.is_success());
/// assert!(!Outcome::Cancelled(CancelReason::ClientGone).is_success());
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// The handler produced a response with this status (and, for `request` scope, its body
    /// reached its end).
    Success {
        /// The response status.
        status: StatusCode,
    },
    /// The handler returned an error (`Err(..)` or an [`HttpError`]).
    HandlerError {
        /// The status of the error response.
        status: StatusCode,
        /// The error, when the handler returned an [`HttpError`] or a type converted into one.
        error: Option<HttpError>,
    },
    /// The setup of a dependency failed, so the handler never ran.
    SetupFailed {
        /// The name of the dependency whose setup failed.
        dependency: &'static str,
        /// Its error, which became the response.
        error: HttpError,
    },
    /// A teardown failed after the handler ran. A `handler`-scoped one fails before the
    /// response head is sent: its error replaces the response, except for a request past the
    /// app's request timeout, which keeps its 503 with `Retry-After` (a server error already).
    /// An error whose type answers with a success status (`Result<(), String>`: a `String`
    /// is a 200) counts as a generic 500, its text kept as the error's source: a failed commit
    /// is never answered as a success.
    /// A `request`-scoped one fails after the response was sent: the response stands (the
    /// failure is logged and counted), and the `request`-scoped teardowns after it are told
    /// this. When several teardowns fail, the first is what every later teardown, of either
    /// scope, is told (and, in `handler` scope, the response, but for a timed-out request).
    TeardownFailed {
        /// The name of the dependency whose teardown failed.
        dependency: &'static str,
        /// Its error: the response, when a `handler`-scoped teardown failed within the
        /// request timeout; otherwise only logged (the response stands).
        error: HttpError,
    },
    /// The handler, a dependency's setup or the response body panicked. The client got a
    /// generic 500 (or a cut-off body).
    Panicked,
    /// The request was abandoned before it completed.
    Cancelled(CancelReason),
    /// The response body failed while it was being sent.
    BodyError {
        /// The body's error, for logs.
        message: String,
    },
    /// The app shut down (what `app`-scoped teardowns see). A start stopped before the app
    /// served (a shutdown signal during `app`-scope setup, or a dropped `App::start`) tells
    /// them [`Cancelled`](Outcome::Cancelled)`(`[`Shutdown`](CancelReason::Shutdown)`)` instead.
    Stopped,
}

/// Why a request was abandoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelReason {
    /// The client went away (closed the connection or stopped reading the body).
    ClientGone,
    /// The request ran past the app's request timeout.
    Timeout,
    /// The server was shutting down and its grace period ran out; or, for `app`-scoped
    /// teardowns, the app's start was stopped before it served (a shutdown signal during
    /// `app`-scope setup, or the future of `App::start` or `App::bind` dropped).
    Shutdown,
}

impl Outcome {
    /// True only for a 2xx or 3xx response that was produced (and, for `request` scope, fully
    /// sent), or for a clean app shutdown.
    ///
    /// A 4xx or 5xx response the handler returned without an error (`Ok((StatusCode::NOT_FOUND,
    /// ..))`) is an [`Outcome::Success`] for which this is false. FastAPI's `try: yield db;
    /// db.commit()` commits it (no exception reached the dependency): to commit as FastAPI
    /// does, match `Outcome::Success { .. }` instead.
    pub fn is_success(&self) -> bool {
        match self {
            Outcome::Success { status } => status.is_success() || status.is_redirection(),
            Outcome::Stopped => true,
            _ => false,
        }
    }

    /// The response status, when a response was produced. For
    /// [`TeardownFailed`](Outcome::TeardownFailed) it is the failed teardown's error's status,
    /// which is the response's only when that error became the response (a `handler`-scoped
    /// teardown that failed within the request timeout): after a `request`-scoped teardown
    /// failed, the response had its own status.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Outcome::Success { status } | Outcome::HandlerError { status, .. } => Some(*status),
            Outcome::SetupFailed { error, .. } | Outcome::TeardownFailed { error, .. } => {
                Some(error.status())
            }
            Outcome::Panicked => Some(StatusCode::INTERNAL_SERVER_ERROR),
            _ => None,
        }
    }

    /// The error behind a failed outcome, when there is one.
    pub fn error(&self) -> Option<&HttpError> {
        match self {
            Outcome::HandlerError { error, .. } => error.as_ref(),
            Outcome::SetupFailed { error, .. } | Outcome::TeardownFailed { error, .. } => {
                Some(error)
            }
            _ => None,
        }
    }

    /// True when the request was abandoned.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Outcome::Cancelled(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Success { status } => write!(f, "success ({})", status.as_u16()),
            Outcome::HandlerError { status, .. } => {
                write!(f, "handler error ({})", status.as_u16())
            }
            Outcome::SetupFailed { dependency, error } => {
                write!(
                    f,
                    "setup of `{dependency}` failed ({})",
                    error.status().as_u16()
                )
            }
            Outcome::TeardownFailed { dependency, error } => {
                write!(
                    f,
                    "teardown of `{dependency}` failed ({})",
                    error.status().as_u16()
                )
            }
            Outcome::Panicked => f.write_str("panicked"),
            Outcome::Cancelled(reason) => write!(f, "cancelled ({reason})"),
            Outcome::BodyError { .. } => f.write_str("body error"),
            Outcome::Stopped => f.write_str("app stopped"),
        }
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CancelReason::ClientGone => "client gone",
            CancelReason::Timeout => "timeout",
            CancelReason::Shutdown => "shutdown",
        })
    }
}
