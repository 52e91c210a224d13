//! Running requests: everything between a routed request and its last teardown.
//!
//! - [`engine`]: what every request shares (routes, `app` values, [`config`], [`stats`]) and
//!   the tracked background tasks;
//! - [`request`]: one request, from its inputs through setup and the handler to
//!   `handler`-scope teardown;
//! - [`deadline`]: the request body's deadline and minimum rate (408);
//! - [`places`]: the background and `max_concurrency` places a request takes, all before
//!   its first setup and in one order, with a deadline;
//! - [`setup`], [`teardown`]: running one dependency up to its value, and a stack of
//!   teardowns in reverse order with their outcome and deadline;
//! - [`body`]: the response body wrapper that starts [`background`] tasks and `request`-scope
//!   teardown once the body has been sent or dropped;
//! - [`background`]: those tasks, and the background places that bound them and the
//!   `request`-scope teardowns;
//! - [`outer`]: what a request served inside tower layers shares with the app's entry
//!   point (how it was cancelled, its `request`-scope work);
//! - [`host`]: connections that run the after-body work of their responses in their own task;
//! - [`app_scope`]: `app`-scoped setup at start and teardown at shutdown.
//!
//! Uses the plan, the contract, the response layer and `panic`; nothing of the HTTP side.

pub(crate) mod app_scope;
pub(crate) mod background;
pub(crate) mod body;
pub(crate) mod config;
pub(crate) mod deadline;
pub(crate) mod engine;
pub(crate) mod host;
pub(crate) mod outer;
pub(crate) mod places;
pub(crate) mod request;
pub(crate) mod setup;
pub(crate) mod stats;
pub(crate) mod teardown;
