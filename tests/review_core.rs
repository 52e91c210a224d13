//! A fresh-eyes review of the runtime's request path (`di-runtime/src/run/`, `contract/`,
//! `plan/`): each test is a defect found by reading the code, shown failing before its fix.

mod common;

use std::convert::Infallible;
use std::time::Duration;

use common::{describe, events, log, serial, within};
use di_runtime::prelude::*;
use di_runtime::{Body, InnerService};

// ------------------------------- 1. a commit cut by a layer that answers only after a retry

/// Stands in for a database with one writer (SQLite): a transaction holds it from its
/// `BEGIN` to the end of its `COMMIT`.
static WRITER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Woken when a commit has begun.
static COMMITTING: tokio::sync::Notify = tokio::sync::Notify::const_new();

struct Tx;

#[depends(scope = "handler")]
async fn writer_tx(y: Yield<Tx>) {
    let lock = WRITER.lock().await;
    let (_tx, outcome) = y.provide(Tx).await;
    log(format!("commit:start {}", describe(&outcome)));
    COMMITTING.notify_one();
    // The COMMIT takes a moment (one wait).
    tokio::task::yield_now().await;
    log("commit:end");
    drop(lock);
}

#[depends]
async fn write(#[dep(writer_tx)] _tx: &mut Tx) -> &'static str {
    "written"
}

/// A retry layer: an attempt that has not answered once a commit has begun is given up
/// (as a per-attempt timeout gives it up), and the request is sent again.
fn retry_when_committing() -> impl di_runtime::TowerLayer {
    tower::layer::layer_fn(|inner: InnerService| {
        tower::service_fn(move |request: http::Request<Body>| {
            let inner = inner.clone();
            async move {
                let (parts, _) = request.into_parts();
                let again = || {
                    let mut request = http::Request::new(Body::empty());
                    *request.method_mut() = parts.method.clone();
                    *request.uri_mut() = parts.uri.clone();
                    *request.headers_mut() = parts.headers.clone();
                    *request.extensions_mut() = parts.extensions.clone();
                    request
                };
                let first = tower::ServiceExt::oneshot(inner.clone(), again());
                tokio::select! {
                    biased;
                    () = COMMITTING.notified() => {}
                    answered = first => return answered,
                }
                log("retry");
                tower::ServiceExt::oneshot(inner, again()).await
            }
        })
    })
}

/// A layer gave up an attempt while its `handler`-scope teardown was committing, and sent the
/// request again. The commit, already told its outcome, is shielded from the drop: it must
/// go on. It waited instead for the layered request's final answer (the entry point's verdict,
/// which only the rest of the stack needs), while the retry waited for the writer the commit
/// held: the request hung until its timeout.
#[tokio::test]
async fn a_commit_a_layer_gave_up_finishes_before_the_layer_answers() {
    let _s = serial().await;
    let app = App::new()
        .get("/", write)
        .layer(retry_when_committing());
    let client = TestClient::start(app).await.unwrap();
    let response = common::guard("the retried request", client.get("/").send()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(within(response.text()).await.unwrap(), "written");
    within(client.settle()).await;
    assert_eq!(
        events(),
        [
            "commit:start success 200",
            "retry",
            "commit:end",
            "commit:start success 200",
            "commit:end",
        ]
    );
    let m = client.running().metrics();
    assert_eq!(m.setups, m.teardowns.total(), "{m:?}");
    within(client.shutdown()).await;
}
