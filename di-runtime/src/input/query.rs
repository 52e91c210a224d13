//! [`Query`]: the query string, every problem reported by field.

use serde::de::DeserializeOwned;

use crate::contract::request::{FromRequest, RequestHead};
use crate::input::de::fast;
use crate::input::de::from_query;
use crate::input::form::{more_pairs_than, too_many};
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

impl<T> Query<T> {
    /// Parameters a query string is read with at most, as a form's fields
    /// ([`Form::MAX_FIELDS`](crate::Form::MAX_FIELDS)): past them it is a 400, `{"detail":
    /// "Too many query parameters. Maximum number of query parameters is 1000."}` (a query
    /// string of many tiny parameters, `a=&a=&...`, would otherwise take some fifty times its
    /// length in memory, within the limit of a request's head). Starlette reads any number.
    pub const MAX_PARAMS: usize = 1000;
}

impl<T: DeserializeOwned + Send + 'static> FromRequest for Query<T> {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        let query = head.uri().query().unwrap_or("");
        if more_pairs_than(query.as_bytes(), Self::MAX_PARAMS) {
            return Err(vec![InputError::rejection(too_many(
                "query parameters",
                Self::MAX_PARAMS,
            ))]);
        }
        // A good query costs one pass over borrowed pairs; the every-problem search runs only
        // when that fails.
        match fast::query(query) {
            Some(value) => Ok(Query(value)),
            None => from_query(query).map(Query),
        }
    }
}
