//! [`ClientAddr`]: the socket address of the client, given to each request by the
//! server.

use std::net::SocketAddr;

use crate::contract::request::{FromRequest, RequestHead};
use crate::response::error::{HttpError, InputError};

/// The address of the client's end of the connection (FastAPI's `request.client`).
///
/// [`App::serve`](crate::App::serve) and [`App::bind`](crate::App::bind) give every request
/// one. A request that comes without it (from the [`TestClient`](crate::TestClient) unless the
/// test gives one with [`TestRequest::client_addr`](crate::TestRequest::client_addr), or
/// through [`AppService`](crate::AppService) under another server that does not insert a
/// `ClientAddr` into the request's extensions) has none: take `Option<ClientAddr>` where that
/// can happen. `ClientAddr` itself then answers 500 (and logs why), like a bug.
///
/// Behind a reverse proxy this is the proxy's address; the original client is in the
/// headers the proxy adds (`Forwarded`, `X-Forwarded-For`), which only the application can
/// decide to trust.
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::ClientAddr;
///
/// #[depends]
/// async fn hello(client: Option<ClientAddr>) -> String {
///     match client {
///         Some(ClientAddr(addr)) => format!("hello {}", addr.ip()),
///         None => "hello".to_owned(),
///     }
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub SocketAddr);

/// The address `App::serve`/`bind` accepted the connection from, else a `ClientAddr` another
/// server put in the request's extensions.
fn client_of(head: &RequestHead) -> Option<ClientAddr> {
    head.client
        .map(ClientAddr)
        .or_else(|| head.parts.extensions.get::<ClientAddr>().copied())
}

impl RequestHead {
    /// The client's address, as the [`ClientAddr`] input gives it: `None` in the
    /// [`TestClient`](crate::TestClient) (unless the test gives one) and under a server that
    /// does not provide one.
    pub fn client_addr(&self) -> Option<SocketAddr> {
        client_of(self).map(|ClientAddr(addr)| addr)
    }
}

impl FromRequest for Option<ClientAddr> {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(client_of(head))
    }
}

impl FromRequest for ClientAddr {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        client_of(head).ok_or_else(|| {
            tracing::error!(
                target: "di",
                request_id = %head.request_id,
                "`ClientAddr` is asked but the request has none (test client, or a server \
                 other than `App::serve`/`bind`); take `Option<ClientAddr>`"
            );
            vec![InputError::rejection(HttpError::internal())]
        })
    }
}
