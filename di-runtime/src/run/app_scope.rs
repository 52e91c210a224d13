//! `app` scope: its dependencies set up once when the app starts, in dependency order, and
//! torn down in reverse order at shutdown (or when the start ends early: a later one fails to
//! set up, the start is stopped, or its future is dropped).

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::contract::outcome::{CancelReason, Outcome};
use crate::contract::request::RequestHead;
use crate::contract::request_id::RequestId;
use crate::contract::slot::{BorrowCell, Slot};
use crate::plan::node::Node;
use crate::response::error::HttpError;
use crate::run::engine::Engine;
use crate::run::setup::{SetupDone, Starting, run_setup, setups_traced, start_function};
use crate::run::teardown::{Suspended, run_stack};

/// The `app`-scoped generators of a started app, waiting for shutdown (in a mutex only so
/// that a `Running` app is `Sync`; nothing locks it before shutdown), and where its plain
/// values were set up among them: each is dropped at shutdown before the teardown of every
/// generator set up before it, as a request's are.
#[derive(Default)]
pub(crate) struct AppTeardowns {
    stack: Mutex<Vec<Suspended>>,
    plain: Vec<PlainAt>,
}

impl AppTeardowns {
    /// How many generators wait for their teardown.
    fn generators(&self) -> usize {
        self.stack.lock().map_or(0, |stack| stack.len())
    }
}

/// An `app`-scope plain value (or one given with `App::provide`): its slot, and how many
/// generators were set up before it.
#[derive(Clone, Copy)]
struct PlainAt {
    slot: usize,
    after: usize,
}

/// Why `app` scope did not start.
pub(crate) enum StartError {
    /// A dependency failed to set up; the problem names it.
    Failed(String),
    /// The start was stopped (a shutdown signal during startup, see `App::serve`).
    Interrupted,
}

/// Why an `app`-scope setup failed, for the start error: the error's detail and its source,
/// without the HTTP status, which means nothing at startup; the source alone when the detail
/// is only the status's name (a `?` on a library's error: "Internal Server Error").
fn reason(error: &HttpError) -> String {
    let detail = match error.detail() {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let generic = error.status().canonical_reason() == Some(detail.as_str());
    match error.source() {
        Some(source) if generic => source.to_string(),
        Some(source) => format!("{detail} (caused by: {source})"),
        None => detail,
    }
}

/// Sets up `nodes` in order; `names` says how messages name each one's function (by its path
/// when another function of the app has its name), `values` holds those given up front
/// (`App::provide`).
///
/// Whatever ends the start before every node is set up, those already set up are torn down
/// in reverse order, exactly once, and the one cut in its setup never is: on a failure (with
/// `SetupFailed`; the problem names the dependency), when `stop` is cancelled (the setup under
/// way is dropped; with `Cancelled(Shutdown)`), and when this future is dropped (a
/// `tokio::time::timeout` around `App::start`): then the teardowns, those under way included,
/// are handed to a tracked background task, with `Cancelled(Shutdown)`.
pub(crate) async fn start_app_scope(
    engine: &Arc<Engine>,
    nodes: &[Node],
    names: &[&'static str],
    mut values: HashMap<TypeId, Arc<dyn BorrowCell>>,
    stop: &CancellationToken,
) -> Result<AppTeardowns, StartError> {
    let mut undo = Undo {
        engine: engine.clone(),
        state: UndoState::Setting(AppTeardowns::default()),
    };
    for (node, &name) in nodes.iter().zip(names) {
        if node.preset {
            if let Some(cell) = values.remove(&(node.meta.type_id)()) {
                let stored = engine.app_slots.store(node.slot, Slot::Filled(cell));
                debug_assert!(stored.is_ok(), "app slots are created for every app node");
                undo.push_plain(node.slot);
            }
            continue;
        }
        // The stop first: once it has come, nothing more is set up.
        let started = tokio::select! {
            biased;
            () = stop.cancelled() => None,
            started = start_app_node(engine, node) => Some(started),
        };
        match started {
            Some(Ok(Some(suspended))) => undo.push(suspended),
            Some(Ok(None)) => undo.push_plain(node.slot),
            Some(Err(outcome)) => {
                // A panic is what the teardowns are told, as in a request; its message is
                // in the log (and on stderr, by the panic hook).
                let problem = match &outcome {
                    Outcome::SetupFailed { error, .. } => {
                        format!("`{name}` (app scope) failed to set up: {}", reason(error))
                    }
                    _ => format!("`{name}` (app scope) panicked while it was set up"),
                };
                undo.tear_down(outcome).await;
                return Err(StartError::Failed(problem));
            }
            None => {
                tracing::info!(target: "di", dependency = node.meta.name, set_up = undo.len(), "start stopped during the setup of `app` scope; tearing down what was set up");
                undo.tear_down(Outcome::Cancelled(CancelReason::Shutdown))
                    .await;
                return Err(StartError::Interrupted);
            }
        }
    }
    Ok(undo.finish())
}

/// What a start has set up so far (its `app`-scope generators, and where its plain values
/// came among them): torn down if the start ends early, handed to a background task if its
/// future is dropped.
struct Undo {
    engine: Arc<Engine>,
    state: UndoState,
}

enum UndoState {
    /// Set up so far, in order.
    Setting(AppTeardowns),
    /// Being torn down (the start failed or was stopped).
    TearingDown(BoxFuture<'static, ()>),
    /// Torn down, or handed to the started app.
    Done,
}

impl Undo {
    fn push(&mut self, suspended: Suspended) {
        if let UndoState::Setting(set_up) = &mut self.state {
            set_up
                .stack
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .push(suspended);
        }
    }

    /// Notes a plain value (or one given with `App::provide`) stored in app slot `slot`.
    fn push_plain(&mut self, slot: usize) {
        if let UndoState::Setting(set_up) = &mut self.state {
            let after = set_up
                .stack
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .len();
            set_up.plain.push(PlainAt { slot, after });
        }
    }

    fn len(&self) -> usize {
        match &self.state {
            UndoState::Setting(set_up) => set_up.generators(),
            _ => 0,
        }
    }

    /// Tears down what was set up, in reverse order (the plain values among the generators,
    /// as at shutdown: one may hold an earlier generator's value), with `outcome`. Dropped
    /// while it waits, what is left is handed over (see `Drop`).
    async fn tear_down(&mut self, outcome: Outcome) {
        // The app will never serve: its `Shutdown` is requested, so that a worker an
        // `app`-scoped dependency started stops, and the teardown that waits for it ends.
        self.engine.draining.cancel();
        let set_up = self.take();
        let engine = self.engine.clone();
        self.state = UndoState::TearingDown(Box::pin(async move {
            stop_app_scope(&engine, set_up, outcome).await;
        }));
        if let UndoState::TearingDown(run) = &mut self.state {
            run.await;
        }
        self.state = UndoState::Done;
    }

    /// What was set up, for the started app.
    fn finish(mut self) -> AppTeardowns {
        self.take()
    }

    fn take(&mut self) -> AppTeardowns {
        match std::mem::replace(&mut self.state, UndoState::Done) {
            UndoState::Setting(set_up) => set_up,
            _ => AppTeardowns::default(),
        }
    }
}

impl Drop for Undo {
    /// The start was dropped before it ended: what it set up is torn down in a tracked
    /// background task (no user code runs here), with `Cancelled(Shutdown)`; a teardown of a
    /// failed or stopped start under way goes on there with the outcome it had.
    fn drop(&mut self) {
        let run = match std::mem::replace(&mut self.state, UndoState::Done) {
            UndoState::Setting(set_up) if set_up.generators() > 0 => {
                self.engine.draining.cancel();
                tracing::warn!(target: "di", set_up = set_up.generators(), "the app's start was dropped during the setup of `app` scope; tearing down what was set up in the background");
                let engine = self.engine.clone();
                Box::pin(async move {
                    let outcome = Outcome::Cancelled(CancelReason::Shutdown);
                    stop_app_scope(&engine, set_up, outcome).await;
                })
            }
            UndoState::TearingDown(run) => {
                tracing::warn!(target: "di", "the app's start was dropped while it tore down `app` scope; the teardowns go on in the background");
                run
            }
            UndoState::Setting(_) | UndoState::Done => return,
        };
        self.engine.spawn_tracked(run);
    }
}

/// Tears down `app` scope in reverse order with `outcome`.
pub(crate) async fn stop_app_scope(
    engine: &Arc<Engine>,
    teardowns: AppTeardowns,
    outcome: Outcome,
) {
    let mut stack = teardowns
        .stack
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    let mut plain = teardowns.plain;
    let mut outcome = outcome;
    // From the last set up: the plain values set up after the generators still standing are
    // dropped, then the generators set up after the plain values still standing are torn
    // down (together, so that a failure is told to the later ones), and so on.
    loop {
        while let Some(last) = plain.last().filter(|last| last.after >= stack.len()) {
            engine.app_slots.drop_value(last.slot);
            plain.pop();
        }
        if stack.is_empty() {
            break;
        }
        let keep = plain.last().map_or(0, |last| last.after);
        let generators = stack.split_off(keep);
        outcome = run_stack(engine.clone(), generators, outcome, None)
            .await
            .outcome;
    }
}

/// Sets up one `app`-scoped node; how it failed (`SetupFailed`, or `Panicked`) otherwise.
async fn start_app_node(engine: &Engine, node: &Node) -> Result<Option<Suspended>, Outcome> {
    let failed = |error: HttpError| Outcome::SetupFailed {
        dependency: node.meta.name,
        error,
    };
    let head = Arc::new(RequestHead {
        parts: http::Request::new(()).into_parts().0,
        params: Vec::new(),
        body: Bytes::new(),
        client: None,
        background: OnceLock::new(),
        set_headers: OnceLock::new(),
        request_id: RequestId::make(),
        app: engine.shutdown.app(),
    });
    let (started, cell) = start_function(
        node,
        &mut [],
        0,
        &engine.app_slots,
        &head,
        !setups_traced(),
        None,
    )?;
    let done = run_setup(node, Starting::new(started, cell), None).await?;
    let (value, suspended) = match done {
        SetupDone::Value(value) => (value, None),
        SetupDone::Provided(suspended) => (Slot::Filled(suspended.cell.clone()), Some(suspended)),
    };
    engine
        .app_slots
        .store(node.slot, value)
        .map_err(|error| failed(HttpError::internal_from(error)))?;
    Ok(suspended)
}
