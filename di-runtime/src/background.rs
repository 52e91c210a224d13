//! Work that runs after the response has been sent, before `request`-scoped teardown.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::error::InputError;
use crate::extract::{FromRequest, FromRequestRef, RequestHead};

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
    tasks: Arc<Mutex<Vec<BoxFuture<'static, ()>>>>,
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

impl FromRequestRef for BackgroundTasks {
    fn from_request_ref(head: &RequestHead) -> &Self {
        &head.background
    }
}

impl FromRequest for BackgroundTasks {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(head.background.clone())
    }
}

/// Runs `tasks` in order, each under the teardown deadline; returns how many failed (panicked
/// or ran past the deadline).
pub(crate) async fn run_tasks(
    tasks: Vec<BoxFuture<'static, ()>>,
    deadline: std::time::Duration,
) -> u64 {
    let mut failed = 0;
    for (index, task) in tasks.into_iter().enumerate() {
        match tokio::time::timeout(deadline, AssertUnwindSafe(task).catch_unwind()).await {
            Ok(Ok(())) => tracing::debug!(target: "di", task = index, "background task done"),
            Ok(Err(panic)) => {
                let panic = crate::exec::panic_message(&*panic);
                tracing::error!(target: "di", task = index, panic, "background task panicked");
                failed += 1;
            }
            Err(_) => {
                tracing::error!(target: "di", task = index, deadline_ms = deadline.as_millis() as u64, "background task timed out");
                failed += 1;
            }
        }
    }
    failed
}
