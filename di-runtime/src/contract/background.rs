//! [`BackgroundTasks`]: the list of work a request adds, run after its response was sent. The
//! running of it is in [`crate::run::background`].

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;

/// Work to do once the response has been sent: FastAPI's `BackgroundTasks`.
///
/// Take it as `tasks: &BackgroundTasks` (or `BackgroundTasks`, a handle to the same list) in a
/// handler or any of its dependencies: one list per request, shared by all of them. The tasks
/// run one after the other, in the order they were added, after the body's last frame has been
/// sent and before `request`-scoped teardown, so they may still use `request`-scoped values
/// they hold (through [`Held`](crate::Held)). They run in a tracked background task, so graceful
/// shutdown waits for them; each has the app's teardown deadline.
///
/// They run only when the handler's response was sent in full: not after a handler error, a
/// failed setup, a panic, or a client that went away (FastAPI does not run them after an
/// exception either). A panicking task is logged and counted and does not stop the next one.
/// A task added while the body is being sent (by a streamed body that keeps the list as
/// `BackgroundTasks`) runs after the body's last frame with the others, before `request`-scoped
/// teardown. A task that a `request`-scoped teardown adds (holding the list as
/// `BackgroundTasks`) runs after that teardown and before the next, on the same terms: it may
/// still hold (`Held`) the values of the generators set up before the one that added it.
///
/// A task added after the request's last teardown ended (through a handle kept in a spawned
/// task or a global) is never run: it is dropped with the last handle, and a WARN line of
/// target `di` says how many were.
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[depends]
/// async fn signup(tasks: &BackgroundTasks, Json(email): Json<String>) -> StatusCode {
///     tasks.add(async move {
///         // send the welcome mail to `email`
///         let _ = email;
///     });
///     StatusCode::CREATED
/// }
/// ```
#[derive(Clone, Default)]
pub struct BackgroundTasks {
    tasks: Arc<List>,
}

/// The tasks themselves. The runtime takes every task it runs or skips; what is still here
/// when the last handle goes was added after the request's last look at the list.
#[derive(Default)]
struct List(Mutex<Vec<BoxFuture<'static, ()>>>);

impl std::ops::Deref for List {
    type Target = Mutex<Vec<BoxFuture<'static, ()>>>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for List {
    fn drop(&mut self) {
        let tasks = match self.0.get_mut() {
            Ok(tasks) => std::mem::take(tasks),
            Err(poisoned) => std::mem::take(poisoned.into_inner()),
        };
        if tasks.is_empty() {
            return;
        }
        tracing::warn!(
            target: "di",
            tasks = tasks.len(),
            "background tasks were added after their request's teardowns ended, and are not run: \
             add them before the response has been sent, or spawn the work yourself"
        );
        // Each inside a catch: a task's `Drop` that panics must not unwind through the
        // handle's owner.
        for task in tasks {
            crate::panic::drop_logged(task, "a background task that was not run");
        }
    }
}

impl BackgroundTasks {
    /// Adds a task; it runs after the response has been sent.
    pub fn add<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match self.tasks.lock() {
            Ok(mut tasks) => tasks.push(Box::pin(task)),
            Err(poisoned) => poisoned.into_inner().push(Box::pin(task)),
        }
    }

    /// How many tasks are waiting.
    pub fn len(&self) -> usize {
        self.tasks.lock().map_or(0, |tasks| tasks.len())
    }

    /// Whether no task is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a handle other than this one is alive (the request's own list is one): then
    /// more tasks may still be added, by a response body that keeps a handle, say.
    pub(crate) fn shared(&self) -> bool {
        Arc::strong_count(&self.tasks) > 1
    }

    /// Takes the tasks added so far.
    pub(crate) fn take(&self) -> Vec<BoxFuture<'static, ()>> {
        match self.tasks.lock() {
            Ok(mut tasks) => std::mem::take(&mut *tasks),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl fmt::Debug for BackgroundTasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundTasks")
            .field("len", &self.len())
            .finish()
    }
}
