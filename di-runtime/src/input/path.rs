//! [`Path`]: the route's path parameters, every problem reported by name.

use serde::de::DeserializeOwned;

use crate::contract::request::{FromRequest, RequestHead};
use crate::input::de::from_path;
use crate::response::error::InputError;

/// Path parameters of the route (`/notes/{id}`), deserialized into `T`: a single value, a
/// tuple in order, or a struct by name.
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
        from_path(&head.params).map(Path)
    }
}
