//! The notes export runs one SQL statement per request, however many notes it streams.
//!
//! Every statement sqlx runs is logged as a `tracing` event with target `sqlx::query` (from
//! the connection's worker thread, with the rows it returned); a global layer counts them.
//! This binary has no test harness (`harness = false` in Cargo.toml), so nothing else runs in
//! the process while it counts, and the notes example's own tests are not compiled into it.

#[allow(
    dead_code,
    reason = "the notes example's `main` and command line are not used here"
)]
#[path = "../notes.rs"]
mod notes;

use std::sync::{Arc, Mutex};

use di_runtime::TestClient;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// One statement sqlx ran: its text and how many rows it returned.
#[derive(Debug, Default, Clone)]
struct Statement {
    /// sqlx's summary, which ends with `…` when the whole text is in `text`.
    summary: String,
    /// The whole text, when it is longer than the summary.
    text: String,
    rows_returned: u64,
}

impl Statement {
    fn sql(&self) -> &str {
        if self.text.trim().is_empty() {
            &self.summary
        } else {
            self.text.trim()
        }
    }
}

impl Visit for Statement {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => value.clone_into(&mut self.summary),
            "db.statement" => value.clone_into(&mut self.text),
            _ => {}
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "rows_returned" {
            self.rows_returned = value;
        }
    }
    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

/// Records every `sqlx::query` event.
#[derive(Clone, Default)]
struct Statements(Arc<Mutex<Vec<Statement>>>);

impl Statements {
    fn take(&self) -> Vec<Statement> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl<S: Subscriber> Layer<S> for Statements {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            let mut statement = Statement::default();
            event.record(&mut statement);
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(statement);
        }
    }
}

/// Notes imported before the export (two import requests, to cross more than one batch).
const NOTES: usize = 2_500;

#[tokio::main]
async fn main() {
    let statements = Statements::default();
    tracing_subscriber::registry()
        .with(statements.clone())
        .init();

    let client = TestClient::start(notes::configured(None))
        .await
        .expect("the app starts");
    for half in 0..2 {
        let lines: String = (0..NOTES / 2)
            .map(|i| format!("{{\"title\":\"note {half}-{i}\",\"body\":\"{i}\"}}\n"))
            .collect();
        let response = client
            .post("/notes/import")
            .header("x-api-key", notes::API_KEY)
            .body(lines)
            .send()
            .await;
        assert_eq!(response.status(), 201);
    }
    client.settle().await;
    assert!(
        !statements.take().is_empty(),
        "sqlx's statements are seen (else this test counts nothing)"
    );

    for round in 0..3 {
        let response = client.get("/notes/export").send().await;
        assert_eq!(response.status(), 200);
        let body = response.text().await.expect("the export");
        client.settle().await;
        assert_eq!(body.lines().count(), NOTES, "every note, one per line");
        let ran = statements.take();
        assert_eq!(
            ran.len(),
            1,
            "export {round}: one statement per export, not one per note: {:?}",
            &ran[..ran.len().min(3)]
        );
        assert_eq!(
            ran[0].sql(),
            "SELECT id, title, body FROM notes ORDER BY id"
        );
        assert_eq!(ran[0].rows_returned, NOTES as u64);
    }
    client.shutdown().await;
    println!("export_queries: one statement per export of {NOTES} notes: ok");
}
