// `#[tracing::instrument]` after `#[depends]`: the span is named after the function. It was
// named `call`, the associated function the macro makes of the one written, for every handler.
use std::sync::{Arc, Mutex};

use di_runtime::prelude::*;
use futures_util::FutureExt;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata};

#[depends]
#[tracing::instrument(skip_all)]
async fn get_note(Path(id): Path<u32>) -> String {
    id.to_string()
}

#[depends]
#[cfg_attr(all(), tracing::instrument)]
async fn list_notes() -> String {
    String::new()
}

#[derive(Clone, Default)]
struct Names(Arc<Mutex<Vec<&'static str>>>);

impl tracing::Subscriber for Names {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut names = self.0.lock().unwrap();
        names.push(span.metadata().name());
        Id::from_u64(names.len() as u64)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn main() {
    App::new().get("/{id}", get_note).check().unwrap();
    let names = Names::default();
    tracing::subscriber::with_default(names.clone(), || {
        get_note::call(Path(1)).now_or_never().unwrap();
        list_notes::call().now_or_never().unwrap();
    });
    assert_eq!(*names.0.lock().unwrap(), ["get_note", "list_notes"]);
}
