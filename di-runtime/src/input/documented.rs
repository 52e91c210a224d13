//! What each input is in the OpenAPI document ([`DocumentedInput`]), and `Json<T>` as a
//! response body ([`DocumentedOutput`]). Read only when a document is built.

use serde::de::DeserializeOwned;

use crate::contract::doc::{
    DocumentedInput, DocumentedOutput, InputKind, OutputKind, RouteFitFn, SecurityKind,
};
use crate::input::cookie::Cookie;
use crate::input::de::path_fits;
use crate::input::form::Form;
use crate::input::header::Header;
use crate::input::json::Json;
use crate::input::multipart::Multipart;
use crate::input::path::Path;
use crate::input::query::Query;
use crate::input::security::{
    ApiKeyCookie, ApiKeyHeader, ApiKeyQuery, HttpBasic, HttpBearer, KeyName,
};
use crate::input::stream::BodyStream;

macro_rules! documented {
    ($($ty:ty => $kind:expr;)*) => {$(
        impl<T> DocumentedInput for $ty {
            const KIND: InputKind = $kind;
        }
    )*};
}

documented! {
    Query<T> => InputKind::Query;
    Header<T> => InputKind::Header;
    Cookie<T> => InputKind::Cookie;
    Json<T> => InputKind::Json;
    Form<T> => InputKind::Form;
}

impl<T: DeserializeOwned> DocumentedInput for Path<T> {
    const KIND: InputKind = InputKind::Path;
    const ROUTE_FIT: Option<RouteFitFn> = Some(path_fits::<T>);
}

#[cfg(feature = "headers")]
impl<H: headers::Header + 'static> DocumentedInput for crate::input::typed_header::TypedHeader<H> {
    const KIND: InputKind = InputKind::TypedHeader(crate::contract::doc::HeaderNameFn {
        header: header_name::<H>,
        scheme: header_scheme::<H>,
    });
}

/// The name of the header `H` is.
#[cfg(feature = "headers")]
fn header_name<H: headers::Header>() -> &'static str {
    H::name().as_str()
}

/// The security scheme `H` is: `Authorization<Bearer>` is `HttpBearer`'s, `Authorization<Basic>`
/// `HttpBasic`'s; any other header is none.
#[cfg(feature = "headers")]
fn header_scheme<H: headers::Header + 'static>() -> Option<SecurityKind> {
    use std::any::TypeId;

    use headers::Authorization;
    use headers::authorization::{Basic, Bearer};

    let id = TypeId::of::<H>();
    if id == TypeId::of::<Authorization<Bearer>>() {
        Some(SecurityKind::HttpBearer)
    } else if id == TypeId::of::<Authorization<Basic>>() {
        Some(SecurityKind::HttpBasic)
    } else {
        None
    }
}

impl DocumentedInput for Multipart {
    const KIND: InputKind = InputKind::Multipart;
}

impl DocumentedInput for BodyStream {
    const KIND: InputKind = InputKind::BodyStream;
}

/// The body read whole, as bytes: documented as a streamed one (`application/octet-stream`,
/// or the `body_content_type` its function declares), not left out (a client made from the
/// document would send no body).
impl DocumentedInput for bytes::Bytes {
    const KIND: InputKind = InputKind::BodyStream;
}

impl DocumentedInput for HttpBearer {
    const KIND: InputKind = InputKind::Security(SecurityKind::HttpBearer);
}

impl DocumentedInput for HttpBasic {
    const KIND: InputKind = InputKind::Security(SecurityKind::HttpBasic);
}

impl<N: KeyName> DocumentedInput for ApiKeyHeader<N> {
    const KIND: InputKind = InputKind::Security(SecurityKind::ApiKeyHeader(N::NAME));
}

impl<N: KeyName> DocumentedInput for ApiKeyQuery<N> {
    const KIND: InputKind = InputKind::Security(SecurityKind::ApiKeyQuery(N::NAME));
}

impl<N: KeyName> DocumentedInput for ApiKeyCookie<N> {
    const KIND: InputKind = InputKind::Security(SecurityKind::ApiKeyCookie(N::NAME));
}

impl<T> DocumentedOutput for Json<T> {
    const KIND: OutputKind = OutputKind::Json;
}
