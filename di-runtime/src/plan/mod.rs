//! The plan: each route's dependency graph, built once when the app starts, so that a request
//! does no graph work and only fills slots by index.
//!
//! - [`node`]: what a plan is made of (a [`Node`](node::Node) per function, with where each
//!   argument comes from);
//! - [`builder`]: the walk from each handler that orders setups, assigns cache slots, applies
//!   overrides and checks the scope rule and cycles, naming the chain of functions;
//! - [`borrows`]: the check that no two live uses of a value conflict;
//! - [`routes`]: the route table and the lookup a request makes;
//! - [`graph`]: the plans as a picture (Mermaid, Graphviz DOT), for `App::graph`.
//!
//! Uses the contract and the response layer; nothing that runs a request.

pub(crate) mod borrows;
pub(crate) mod builder;
pub(crate) mod graph;
pub(crate) mod node;
pub(crate) mod routes;
