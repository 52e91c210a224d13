//! In-process drivers shared by `benches/inprocess.rs` and `benches/allocs.rs`: one request
//! through each implementation's service, no sockets, the body read to its end.
//!
//! Each driver ends with `tokio::task::yield_now()`, for every implementation alike, so that a
//! `request`-scope teardown that di runs in a background task gets to run, as it would on a
//! server, instead of piling up.

use std::convert::Infallible;

use bytes::Bytes;
use di_runtime::AppService;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};

use crate::hyper_impl::HyperBody;
use crate::{drain, get};

/// The request every in-process driver sends.
pub type Req = Request<Empty<Bytes>>;

/// The reference route.
pub const ITEMS: &str = "/items?limit=5";
/// The streaming route.
pub const STREAM: &str = "/stream";
/// The route with no dependency.
pub const HELLO: &str = "/hello";

/// One request through di's service.
pub async fn di_request(service: &AppService, uri: &'static str) -> usize {
    let response = service.call_request(get(uri)).await;
    let bytes = drain(response.into_body()).await.unwrap_or(0);
    tokio::task::yield_now().await;
    bytes
}

/// One request through the hand-written hyper `service_fn`, called directly.
pub async fn hyper_request<S>(service: &S, uri: &'static str) -> usize
where
    S: hyper::service::Service<Req, Response = Response<HyperBody>, Error = Infallible>,
{
    let bytes = match service.call(get(uri)).await {
        Ok(response) => drain(response.into_body()).await.unwrap_or(0),
        Err(never) => match never {},
    };
    tokio::task::yield_now().await;
    bytes
}

/// One request through the axum `Router` as a tower service (`oneshot` on a clone, as hyper
/// does per request in `axum::serve`).
pub async fn axum_request(router: &axum::Router, uri: &'static str) -> usize {
    let bytes = match tower::ServiceExt::oneshot(router.clone(), get(uri)).await {
        Ok(response) => drain(response.into_body()).await.unwrap_or(0),
        Err(never) => match never {},
    };
    tokio::task::yield_now().await;
    bytes
}

/// Status, header fields (in name order) and body bytes of a response, to check that the
/// implementations answer alike. Not `date`, nor `content-length`: axum sets it on the
/// response, the others leave it to hyper, which writes it from the body's exact size on the
/// wire (where `bench/http.sh` compares the header fields).
pub async fn snapshot<B>(response: Response<B>) -> (u16, Vec<(String, String)>, Bytes)
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = response.into_parts();
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(name, _)| *name != http::header::DATE && *name != http::header::CONTENT_LENGTH)
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    headers.sort();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => Bytes::from(format!("body error: {error:?}")),
    };
    (parts.status.as_u16(), headers, bytes)
}

/// Checks that di, hyper and axum give the same status, header fields (see [`snapshot`]) and
/// bytes on `uri`; returns a description of the first difference.
pub async fn compare<S>(
    di: &AppService,
    hyper: &S,
    axum: &axum::Router,
    uri: &'static str,
) -> Result<(u16, Vec<(String, String)>, Bytes), String>
where
    S: hyper::service::Service<Req, Response = Response<HyperBody>, Error = Infallible>,
{
    let di = snapshot(di.call_request(get(uri)).await).await;
    let hyper = match hyper.call(get(uri)).await {
        Ok(response) => snapshot(response).await,
        Err(never) => match never {},
    };
    let axum = match tower::ServiceExt::oneshot(axum.clone(), get(uri)).await {
        Ok(response) => snapshot(response).await,
        Err(never) => match never {},
    };
    if di != hyper {
        return Err(format!("{uri}: di {di:?} != hyper {hyper:?}"));
    }
    if di != axum {
        return Err(format!("{uri}: di {di:?} != axum {axum:?}"));
    }
    Ok(di)
}
