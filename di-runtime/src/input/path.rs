//! [`Path`]: the route's path parameters, every problem reported by name.

use serde::de::DeserializeOwned;

use crate::contract::request::{FromRequest, RequestHead};
use crate::input::de::{from_path, misfit_path};
use crate::response::error::InputError;

/// Path parameters of the route (`/notes/{id}`), deserialized into `T`: a single value, a
/// tuple in order, or a struct by name. A parameter that does not parse is the client's 422;
/// a `T` that does not fit the route (a tuple of 2, or a single value, on a route with
/// another number of parameters) is the app's mistake: a generic 500, the reason logged.
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[depends]
/// async fn show(Path(id): Path<i64>) -> String {
///     format!("note {id}")
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequest for Path<T> {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        from_path(&head.params).map(Path).map_err(misfit_path)
    }
}
