//! `app` scope: its dependencies set up once when the app starts, in dependency order, and
//! torn down in reverse order at shutdown (or when a later one fails to start).

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use crate::contract::outcome::Outcome;
use crate::contract::request::RequestHead;
use crate::contract::request_id::RequestId;
use crate::contract::slot::{BorrowCell, Slot};
use crate::plan::node::Node;
use crate::response::error::HttpError;
use crate::run::engine::Engine;
use crate::run::setup::{SetupDone, Starting, run_setup, setups_traced, start_function};
use crate::run::teardown::{Suspended, run_stack};

/// The `app`-scoped generators of a started app, waiting for shutdown. In a mutex only so
/// that a `Running` app is `Sync`; nothing locks it before shutdown.
pub(crate) struct AppTeardowns(Mutex<Vec<Suspended>>);

/// Sets up `nodes` in order; `values` holds those given up front (`App::provide`). On a
/// failure, those already set up are torn down in reverse order and the problem names the
/// dependency.
pub(crate) async fn start_app_scope(
    engine: &Arc<Engine>,
    nodes: &[Node],
    mut values: HashMap<TypeId, Arc<dyn BorrowCell>>,
) -> Result<AppTeardowns, String> {
    let mut started = Vec::new();
    for node in nodes {
        if node.preset {
            if let Some(cell) = values.remove(&(node.meta.type_id)()) {
                let stored = engine.app_slots.store(node.slot, Slot::Filled(cell));
                debug_assert!(stored.is_ok(), "app slots are created for every app node");
            }
            continue;
        }
        match start_app_node(engine, node).await {
            Ok(Some(suspended)) => started.push(suspended),
            Ok(None) => {}
            Err(error) => {
                let outcome = Outcome::SetupFailed {
                    dependency: node.meta.name,
                    error: error.clone(),
                };
                stop_app_scope(engine, AppTeardowns(Mutex::new(started)), outcome).await;
                return Err(format!(
                    "`{}` (app scope) failed to set up: {error}",
                    node.meta.name
                ));
            }
        }
    }
    Ok(AppTeardowns(Mutex::new(started)))
}

/// Tears down `app` scope in reverse order with `outcome`.
pub(crate) async fn stop_app_scope(
    engine: &Arc<Engine>,
    teardowns: AppTeardowns,
    outcome: Outcome,
) {
    let stack = teardowns.0.into_inner().unwrap_or_else(|e| e.into_inner());
    run_stack(engine.clone(), stack, outcome, None).await;
}

async fn start_app_node(engine: &Engine, node: &Node) -> Result<Option<Suspended>, HttpError> {
    let head = Arc::new(RequestHead {
        parts: http::Request::new(()).into_parts().0,
        params: Vec::new(),
        body: Bytes::new(),
        client: None,
        background: OnceLock::new(),
        request_id: RequestId::make(),
    });
    let (started, cell) =
        start_function(node, &mut [], 0, &engine.app_slots, &head, !setups_traced())?;
    let done = run_setup(node, Starting::new(started, cell), None)
        .await
        .map_err(|outcome| outcome.error().cloned().unwrap_or_else(HttpError::internal))?;
    let (value, suspended) = match done {
        SetupDone::Value(value) => (value, None),
        SetupDone::Provided(suspended) => (Slot::Filled(suspended.cell.clone()), Some(suspended)),
    };
    engine
        .app_slots
        .store(node.slot, value)
        .map_err(HttpError::internal_from)?;
    Ok(suspended)
}
