//! Why an app could not start ([`BuildError`]) or serve ([`ServeError`]).

use std::fmt;

/// Why an app could not be built or started: every problem found, each naming the route and,
/// for graph problems, the chain of functions.
///
/// Its `Debug` is its message, since `fn main() -> Result<(), BuildError>` prints the
/// `Debug` of the error it returns.
#[derive(Clone)]
pub struct BuildError {
    pub(crate) problems: Vec<String>,
}

impl BuildError {
    /// Each problem, one sentence each.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the app cannot start:")?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

/// The message, as `Display` writes it: what `main` prints for an error it returns.
impl fmt::Debug for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for BuildError {}

/// Why serving failed.
///
/// Its `Debug` is its message, since `async fn main() -> Result<(), ServeError>` (the
/// README's) prints the `Debug` of the error it returns: `could not listen: 127.0.0.1:3000:
/// Address already in use (os error 98)`, or `the app cannot start:` and each problem on a
/// line of its own.
#[non_exhaustive]
pub enum ServeError {
    /// The app could not be built or started.
    Build(BuildError),
    /// The address could not be resolved or bound: the error names it (as it was given, when
    /// it did not parse or resolve: `could not listen: "127.0.0.1": invalid socket address`),
    /// keeps the system error's kind, and has it as its source.
    Io(std::io::Error),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Build(e) => e.fmt(f),
            ServeError::Io(e) => write!(f, "could not listen: {e}"),
        }
    }
}

/// The message, as `Display` writes it: what `main` prints for an error it returns.
impl fmt::Debug for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServeError::Build(e) => Some(e),
            ServeError::Io(e) => Some(e),
        }
    }
}

impl From<BuildError> for ServeError {
    fn from(e: BuildError) -> Self {
        ServeError::Build(e)
    }
}

impl From<std::io::Error> for ServeError {
    fn from(e: std::io::Error) -> Self {
        ServeError::Io(e)
    }
}
