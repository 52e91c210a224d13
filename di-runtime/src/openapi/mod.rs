//! The OpenAPI 3.1 document of an app (cargo feature `openapi`), read off the planned routes:
//!
//! - [`model`]: the document as typed structs that serialize to its JSON;
//! - [`build`]: the walk over each route's graph, after overrides, that fills it: every
//!   input any function of the graph reads, once; the handler's doc comment and output;
//!   FastAPI's names for operation ids, security schemes and validation errors;
//! - [`docs`]: the Swagger UI page and its files, embedded by `swagger-ui-redist`.
//!
//! Uses the plan, the contract and the response layer; `app/` serves what it makes.

pub(crate) mod build;
pub(crate) mod docs;
pub(crate) mod model;
