//! Work that runs after the response has been sent, before `request`-scoped teardown.

use futures_util::future::BoxFuture;

use crate::contract::request_id::RequestId;
use crate::panic::catch;
use crate::run::stats::TaskFailures;

/// Runs `tasks` in order, each under the teardown deadline; returns how many failed (panicked
/// or ran past the deadline).
pub(crate) async fn run_tasks(
    tasks: Vec<BoxFuture<'static, ()>>,
    deadline: std::time::Duration,
    request_id: RequestId,
) -> TaskFailures {
    let request_id = tracing::field::display(&request_id);
    let mut failed = TaskFailures::default();
    for (index, task) in tasks.into_iter().enumerate() {
        match tokio::time::timeout(deadline, catch(task)).await {
            Ok(Ok(())) => {
                tracing::debug!(target: "di", request_id, task = index, "background task done")
            }
            Ok(Err(panic)) => {
                tracing::error!(target: "di", request_id, task = index, %panic, "background task panicked");
                failed.panics += 1;
            }
            Err(_) => {
                tracing::error!(target: "di", request_id, task = index, deadline_ms = deadline.as_millis() as u64, "background task timed out");
                failed.timeouts += 1;
            }
        }
    }
    failed
}
