//! Work that runs after the response has been sent, before `request`-scoped teardown.

use futures_util::future::BoxFuture;

use crate::panic::catch;

/// Runs `tasks` in order, each under the teardown deadline; returns how many failed (panicked
/// or ran past the deadline).
pub(crate) async fn run_tasks(
    tasks: Vec<BoxFuture<'static, ()>>,
    deadline: std::time::Duration,
) -> u64 {
    let mut failed = 0;
    for (index, task) in tasks.into_iter().enumerate() {
        match tokio::time::timeout(deadline, catch(task)).await {
            Ok(Ok(())) => tracing::debug!(target: "di", task = index, "background task done"),
            Ok(Err(panic)) => {
                tracing::error!(target: "di", task = index, %panic, "background task panicked");
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
