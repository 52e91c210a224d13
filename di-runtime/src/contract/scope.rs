//! How long a dependency's value lives.

use std::fmt;

/// How long a dependency's value lives, and so when its teardown runs.
///
/// Scopes are ordered by lifetime: [`Scope::App`] outlives [`Scope::Request`], which outlives
/// [`Scope::Handler`]. A dependency may only depend on values that live at least as long as
/// itself; the app checks this for every route before it serves the first request.
///
/// | scope | set up | torn down | FastAPI |
/// |---|---|---|---|
/// | `app` | when the app starts | at graceful shutdown, in reverse order | lifespan |
/// | `request` (default) | on first use in a request | after the response body was fully sent, or dropped | `scope="request"` |
/// | `handler` | on first use in a request | when the handler returns, before the response head is sent | `scope="function"` |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Lives until the handler returns; torn down before the response head is sent.
    Handler,
    /// Lives until the response body has been fully sent (or dropped by the server).
    Request,
    /// Lives as long as the app; set up at start, torn down at graceful shutdown.
    App,
}

impl Scope {
    /// The name used in `#[depends(scope = "...")]`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Handler => "handler",
            Scope::Request => "request",
            Scope::App => "app",
        }
    }

    /// Whether a value of this scope lives at least as long as one of `other`.
    pub const fn outlives(self, other: Scope) -> bool {
        self as u8 >= other as u8
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn lifetimes_are_ordered() {
        assert!(Scope::App.outlives(Scope::Request));
        assert!(Scope::Request.outlives(Scope::Handler));
        assert!(Scope::Request.outlives(Scope::Request));
        assert!(!Scope::Handler.outlives(Scope::Request));
        assert!(!Scope::Request.outlives(Scope::App));
    }
}
