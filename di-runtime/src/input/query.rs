//! [`Query`]: the query string, every problem reported by field.

use serde::de::DeserializeOwned;

use crate::contract::request::{FromRequest, RequestHead};
use crate::input::de::fast;
use crate::input::de::from_query;
use crate::response::error::InputError;

/// The query string deserialized into `T` (absent fields become `None` for `Option` fields).
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[derive(serde::Deserialize)]
/// struct Page { limit: Option<u32> }
///
/// #[depends]
/// async fn list(Query(page): Query<Page>) -> String {
///     format!("limit {:?}", page.limit)
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequest for Query<T> {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        let query = head.uri().query().unwrap_or("");
        // A good query costs one pass over borrowed pairs; the every-problem search runs only
        // when that fails.
        match fast::query(query) {
            Some(value) => Ok(Query(value)),
            None => from_query(query).map(Query),
        }
    }
}
