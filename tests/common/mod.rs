//! Shared helpers for the integration suites: an event log and a raw HTTP/1 client.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each suite uses a part of the helpers"
)]

use std::sync::Mutex;
use std::time::Duration;

/// The events of the current test, in order.
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Tests share the log, so they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Records an event.
pub fn log(event: impl Into<String>) {
    LOG.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(event.into());
}

/// The events so far.
pub fn events() -> Vec<String> {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Takes the log for this test and clears it.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().await;
    LOG.lock().unwrap_or_else(|e| e.into_inner()).clear();
    guard
}

/// Clears the log (between the rounds of one test).
pub fn clear() {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Index of `event` in the log; fails the test if it is missing.
pub fn position(events: &[String], event: &str) -> usize {
    events
        .iter()
        .position(|e| e == event)
        .unwrap_or_else(|| panic!("`{event}` not in {events:?}"))
}

/// Counts the events equal to `event`.
pub fn count(events: &[String], event: &str) -> usize {
    events.iter().filter(|e| *e == event).count()
}

/// Waits (bounded: 10 s, so a broken build fails instead of hanging) until `event` was logged.
pub async fn wait_for(event: &str) {
    for _ in 0..2000 {
        if events().iter().any(|e| e == event) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("`{event}` never happened: {:?}", events());
}
