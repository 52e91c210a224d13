//! Catching panics of user code (setup, handlers, bodies, teardowns, background tasks) so that
//! a panic becomes a logged outcome, never a lost connection. A leaf: it uses nothing else of
//! the crate.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::Poll;

/// A caught panic. Its message is for logs only; it never reaches a client.
#[derive(Debug)]
pub(crate) struct Panic(String);

/// The [`Panic`] of a caught `payload`, which is dropped here: a payload whose own `Drop`
/// panics (`panic_any` of such a value) is forgotten, not let to unwind past the catch.
fn caught(payload: Box<dyn Any + Send>) -> Panic {
    let panic = Panic::from_payload(&*payload);
    if let Err(nested) = std::panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(nested);
    }
    panic
}

impl Panic {
    pub(crate) fn from_payload(payload: &(dyn Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_owned()
        };
        Self(message)
    }
}

impl fmt::Display for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        OneLine(&self.0).fmt(f)
    }
}

/// User text (an error's `Display`, a panic's message) on a log line: each line break written
/// as `\r` or `\n`. Such text often quotes what a client sent (a name it looked up); a line
/// break in it would start a line of the log that passes for another (another request's id),
/// and leave the rest of the text on a line without the request's.
pub(crate) struct OneLine<T>(pub(crate) T);

impl<T: fmt::Display> fmt::Display for OneLine<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Writes through to `0`, line breaks escaped.
        struct Escaping<'a, 'b>(&'a mut fmt::Formatter<'b>);

        impl fmt::Write for Escaping<'_, '_> {
            fn write_str(&mut self, text: &str) -> fmt::Result {
                let mut rest = text;
                while let Some(at) = rest.find(['\r', '\n']) {
                    self.0.write_str(&rest[..at])?;
                    self.0.write_str(if rest.as_bytes()[at] == b'\r' {
                        "\\r"
                    } else {
                        "\\n"
                    })?;
                    rest = &rest[at + 1..];
                }
                self.0.write_str(rest)
            }
        }

        fmt::write(&mut Escaping(f), format_args!("{}", self.0))
    }
}

/// Runs `future`, turning a panic into [`Panic`].
///
/// The future is dropped inside the catch too, as soon as it has ended: a future whose fields'
/// `Drop` panics once it is done is a panic of its own, never one that unwinds through the
/// runtime.
pub(crate) fn catch<F: Future>(future: F) -> Caught<F> {
    Caught {
        future: Some(future),
    }
}

pin_project_lite::pin_project! {
    /// See [`catch`]. A future of its own rather than an `async fn`, which would hold the
    /// future twice (as passed, and in its local), making every request's future larger.
    pub(crate) struct Caught<F> {
        #[pin]
        future: Option<F>,
    }

    /// Dropped before its future ended (the client went away, a deadline cut it), the future
    /// is dropped inside a catch too.
    impl<F> PinnedDrop for Caught<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut future = this.project().future;
            if future.is_some() {
                log_dropped(
                    catch_call(|| future.set(None)),
                    "a future cut before its end",
                );
            }
        }
    }
}

impl<F: Future> Future for Caught<F> {
    type Output = Result<F::Output, Panic>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let mut future = self.project().future;
        let Some(running) = future.as_mut().as_pin_mut() else {
            return Poll::Ready(Err(Panic("polled after it ended".to_owned())));
        };
        let ended = match catch_call(|| running.poll(cx)) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Ok(output),
            Err(panic) => Err(panic),
        };
        let dropped = catch_call(|| future.set(None));
        Poll::Ready(match (ended, dropped) {
            (Ok(output), Ok(())) => Ok(output),
            (Ok(output), Err(panic)) => {
                let _ = drop_caught(output);
                Err(panic)
            }
            (Err(panic), _) => Err(panic),
        })
    }
}

/// Calls `f`, turning a panic into [`Panic`]. Always inlined: its result, moved out of a call
/// of its own, costs a copy of what `f` returns (the inputs of every request).
#[inline(always)]
pub(crate) fn catch_call<R>(f: impl FnOnce() -> R) -> Result<R, Panic> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(caught)
}

/// Drops `value`, turning a panic of its `Drop` into [`Panic`].
pub(crate) fn drop_caught<T>(value: T) -> Result<(), Panic> {
    catch_call(move || drop(value))
}

/// Drops `value` inside a catch; a panic of its `Drop` is logged (see [`log_dropped`]).
pub(crate) fn drop_logged<T>(value: T, what: &'static str) {
    log_dropped(drop_caught(value), what);
}

/// [`drop_logged`] for what a request left (its response body, its background tasks): the
/// line that logs a panic of the `Drop` carries the request's id.
pub(crate) fn drop_logged_for<T>(
    value: T,
    what: &'static str,
    request_id: Option<impl fmt::Display>,
) {
    if let Err(panic) = drop_caught(value) {
        let request_id = request_id.map(tracing::field::display);
        tracing::error!(target: "di", request_id, %panic, "{what} panicked as it was dropped");
    }
}

/// Logs a drop that panicked (`dropped`, from [`drop_caught`], or from [`catch_call`] around
/// a pinned future set to `None`) as `what` (a dependency's value, a response body) having
/// panicked as it was dropped. For the places with no request to name: the others log with
/// its id.
pub(crate) fn log_dropped(dropped: Result<(), Panic>, what: &'static str) {
    if let Err(panic) = dropped {
        dropped_with_a_panic(what, &panic);
    }
}

/// See [`log_dropped`]: out of the way of every drop that does not panic.
#[cold]
#[inline(never)]
fn dropped_with_a_panic(what: &str, panic: &Panic) {
    tracing::error!(target: "di", %panic, "{what} panicked as it was dropped");
}
