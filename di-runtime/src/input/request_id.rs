//! The [`RequestId`] input: the request's id, for handlers and dependencies to log or pass
//! on. The type lives in the contract (the request's head holds it); see its docs.

use crate::contract::request::{FromRequest, RequestHead};
use crate::contract::request_id::RequestId;
use crate::response::error::InputError;

impl FromRequest for RequestId {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(head.request_id.clone())
    }
}
