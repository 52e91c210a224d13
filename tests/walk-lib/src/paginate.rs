//! `?page=&per_page=`, bounded.

use mydi::InputError;
use mydi::prelude::*;
use serde::Deserialize;

/// The largest `per_page`.
pub const MAX_PER_PAGE: u32 = 100;

/// The query parameters as sent (both optional).
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PageQuery {
    /// The page, from 1 (default 1).
    #[cfg_attr(feature = "openapi", schemars(range(min = 1)))]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[cfg_attr(feature = "openapi", schemars(range(min = 1, max = 100)))]
    pub per_page: Option<u32>,
}

/// A page of a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paginate {
    /// The page, from 1.
    pub page: u32,
    /// Items per page, 1 to [`MAX_PER_PAGE`].
    pub per_page: u32,
}

impl Paginate {
    /// How many items come before this page.
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }
}

/// The page asked for: 422 (at `["query", "page"]` or `["query", "per_page"]`) when out of
/// bounds.
#[depends(crate = "mydi")]
pub async fn paginate(Query(query): Query<PageQuery>) -> Result<Paginate, HttpError> {
    let page = query.page.unwrap_or(1);
    let per_page = query.per_page.unwrap_or(20);
    let mut problems = Vec::new();
    if page < 1 {
        problems.push(
            InputError::new(
                ("query", "page"),
                "Input should be greater than or equal to 1",
            )
            .kind("greater_than_equal"),
        );
    }
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        problems.push(
            InputError::new(
                ("query", "per_page"),
                format!("Input should be between 1 and {MAX_PER_PAGE}"),
            )
            .kind("value_error"),
        );
    }
    if problems.is_empty() {
        Ok(Paginate { page, per_page })
    } else {
        Err(HttpError::invalid_input(problems))
    }
}
