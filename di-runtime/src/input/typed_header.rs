//! [`TypedHeader`]: one header of the `headers` crate's typed headers (cargo feature
//! `headers`), every problem reported at `["header", name]`.

use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};

use crate::contract::request::{FromRequest, RequestHead};
use crate::input::header::latin1;
use crate::response::error::{InputError, push_json_str};

/// A typed header of the [`headers`] crate (`ContentType`, `UserAgent`, `Authorization<Bearer>`,
/// `IfNoneMatch`, ...) decoded from the request, FastAPI's `Header()` for a type that parses
/// itself.
///
/// Missing, it is a 422 problem `missing` at `["header", "<name>"]` (take
/// `Option<TypedHeader<H>>` when it may be absent); present but not decodable, it is a
/// `value_error` at the same place with the value as `input` (every value, as a list, when
/// the header was sent more than once; none for a header that carries credentials:
/// `Authorization`, `Proxy-Authorization`, `Cookie`), for an `Option` too. Like every input it is read
/// before anything is set up, and its problems join the other inputs' in one 422.
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::TypedHeader;
/// use headers::UserAgent;
///
/// #[depends]
/// async fn agent(TypedHeader(agent): TypedHeader<UserAgent>) -> String {
///     agent.as_str().to_owned()
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypedHeader<H>(pub H);

impl<H> TypedHeader<H> {
    /// The decoded header.
    pub fn into_inner(self) -> H {
        self.0
    }
}

impl<H: headers::Header + Send + 'static> FromRequest for TypedHeader<H> {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        match decode::<H>(head)? {
            Some(header) => Ok(TypedHeader(header)),
            None => Err(vec![
                InputError::new(["header", H::name().as_str()], "Field required").kind("missing"),
            ]),
        }
    }
}

impl<H: headers::Header + Send + 'static> FromRequest for Option<TypedHeader<H>> {
    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Ok(decode::<H>(head)?.map(TypedHeader))
    }
}

/// The header, `None` when it is absent, a `value_error` when it does not decode.
fn decode<H: headers::Header>(head: &RequestHead) -> Result<Option<H>, Vec<InputError>> {
    let name = H::name();
    let values = head.headers().get_all(name);
    if values.iter().next().is_none() {
        return Ok(None);
    }
    match H::decode(&mut values.iter()) {
        Ok(header) => Ok(Some(header)),
        Err(_) => {
            // Credentials are not written back into a body that clients, proxies and error
            // trackers log (a `Basic` password, where `Bearer` was asked for).
            let input = if [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE].contains(name) {
                "null".to_owned()
            } else {
                sent(&values)
            };
            let msg = format!("Value error, not a valid `{name}` header");
            Err(vec![
                InputError::new(["header", name.as_str()], msg)
                    .kind("value_error")
                    .raw(input, Some("{\"error\":{}}".to_owned())),
            ])
        }
    }
}

/// The values of a header as JSON text: the one value, or a list of them when it was sent more
/// than once.
fn sent(values: &http::header::GetAll<'_, http::HeaderValue>) -> String {
    let texts: Vec<_> = values.iter().map(|v| latin1(v.as_bytes())).collect();
    let mut input = String::new();
    if let [one] = texts.as_slice() {
        push_json_str(&mut input, one);
    } else {
        input.push('[');
        for (i, text) in texts.iter().enumerate() {
            if i > 0 {
                input.push(',');
            }
            push_json_str(&mut input, text);
        }
        input.push(']');
    }
    input
}
