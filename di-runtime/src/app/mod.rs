//! The HTTP side, at the top: [`App`](builder::App) (what users build) and its route
//! [`Group`](group::Group)s, their tower [`layer`]s, [`Running`](running::Running), the `tower::Service`s
//! ([`service`], [`lazy`]), the hyper [`server`] with graceful shutdown and its open
//! [`connections`] (the limit, idle ones closed first),
//! the in-process [`test_client`], the routes that serve the OpenAPI document and its page
//! ([`openapi`], feature `openapi`), and the errors of starting and serving.
//!
//! Uses every layer below; nothing below uses it.

#[cfg(feature = "axum")]
pub(crate) mod axum;
pub(crate) mod builder;
pub(crate) mod connections;
pub(crate) mod error;
pub(crate) mod gather;
pub(crate) mod group;
pub(crate) mod layer;
pub(crate) mod lazy;
#[cfg(feature = "openapi")]
pub(crate) mod openapi;
pub(crate) mod routed;
pub(crate) mod running;
pub(crate) mod server;
pub(crate) mod service;
pub(crate) mod test_client;
