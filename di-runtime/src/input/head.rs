//! Inputs taken straight from the request head: `Method`, `Uri`, `HeaderMap`, `Bytes` (the
//! body), [`BackgroundTasks`], and `&` references to the head's parts.

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};

use crate::contract::background::BackgroundTasks;
use crate::contract::request::{FromRequest, FromRequestRef, RequestHead};
use crate::contract::set_headers::SetHeaders;
use crate::response::error::InputError;

impl FromRequestRef for RequestHead {
    fn from_request_ref(head: &RequestHead) -> &Self {
        head
    }
}

impl FromRequestRef for HeaderMap {
    fn from_request_ref(head: &RequestHead) -> &Self {
        head.headers()
    }
}

impl FromRequestRef for Method {
    fn from_request_ref(head: &RequestHead) -> &Self {
        head.method()
    }
}

impl FromRequestRef for Uri {
    fn from_request_ref(head: &RequestHead) -> &Self {
        head.uri()
    }
}

impl FromRequest for Method {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(head.method().clone())
    }
}

impl FromRequest for Uri {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(head.uri().clone())
    }
}

impl FromRequest for HeaderMap {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(head.headers().clone())
    }
}

impl FromRequest for Bytes {
    const NEEDS_BODY: bool = true;

    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(head.body.clone())
    }
}

impl FromRequestRef for BackgroundTasks {
    fn from_request_ref(head: &RequestHead) -> &Self {
        head.background()
    }
}

impl FromRequestRef for SetHeaders {
    fn from_request_ref(head: &RequestHead) -> &Self {
        head.set_headers()
    }
}

impl FromRequest for BackgroundTasks {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(head.background().clone())
    }
}
