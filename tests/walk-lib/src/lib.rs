//! Reusable dependencies for `di` apps.
//!
//! - [`auth`]: the request's [`CurrentUser`](auth::CurrentUser), from a bearer token checked
//!   with the app's key; 401 with `WWW-Authenticate: Bearer` when it is missing or wrong.
//! - [`db`]: a `handler`-scoped transaction over a [`Store`](db::Store) (an `app` singleton),
//!   committed when the request succeeds, rolled back otherwise.
//! - [`limits`]: a slot of a scarce resource, at most a few at once in the app.
//! - [`paginate`]: `?page=&per_page=` with bounds, a 422 otherwise.
//!
//! Every dependency is a `#[depends]` function: take it with `#[dep(di_walk_lib::auth::current_user)]`,
//! replace it in tests with `App::override_dep` or `App::provide`.
//!
//! The runtime is re-exported as [`mydi`], so an app can name it through this crate
//! (`#[depends(crate = "di_walk_lib::mydi")]`).

pub mod auth;
pub mod db;
pub mod limits;
pub mod paginate;

pub use mydi;

/// The dependency most apps take, re-exported at the root.
pub use auth::current_user;
