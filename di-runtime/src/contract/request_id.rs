//! [`RequestId`]: the id of one request, taken from the client's `x-request-id` when it is
//! sane, otherwise made here; sent back in the response and written in every log line of the
//! request. Its input (`FromRequest`) lives in `input/request_id.rs`; the type is here because
//! [`RequestHead`](crate::RequestHead) holds it.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};

/// The longest client-sent request id that is taken as it is; a longer one is replaced.
pub const MAX_CLIENT_REQUEST_ID: usize = 128;

/// The id of one request: the client's `x-request-id` when it is sane (1 to
/// [`MAX_CLIENT_REQUEST_ID`] bytes of visible ASCII), otherwise one made by the app: 32
/// lowercase hex digits, a per-process random half and a per-process counter, so unique
/// within a process and very likely across processes.
///
/// The app sends it back in the `x-request-id` response header (on every response, its own
/// 404, 422, 503 included; see [`App::request_id_header`](crate::App::request_id_header))
/// and writes it as `request_id` in every log line of the request, so that a generic 500
/// can be matched with the log line that says what happened. Handlers and dependencies take
/// it as a parameter to log it or pass it on:
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[depends]
/// async fn charge(id: RequestId) -> String {
///     // e.g. send it to the payment service as its idempotency key
///     format!("charged, request {id}")
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = TestClient::start(App::new().post("/charge", charge)).await.unwrap();
/// let response = client.post("/charge").header("x-request-id", "abc-123").send().await;
/// assert_eq!(response.header("x-request-id"), Some("abc-123"));
/// assert_eq!(response.text().await.unwrap(), "charged, request abc-123");
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    /// Made here: 32 hex digits, inline (nothing allocated).
    Made([u8; 32]),
    /// The client's, checked to be visible ASCII (a clone of the request's header value:
    /// nothing allocated either).
    Client(HeaderValue),
}

/// The random half of the ids made by this process, as hex digits (written once).
static PREFIX: LazyLock<[u8; 16]> = LazyLock::new(|| {
    // `RandomState` is seeded from the operating system's randomness: no dependency for it.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    let mut digits = [0u8; 16];
    hex(hasher.finish(), &mut digits);
    digits
});

/// The ids made by this process so far.
static COUNTER: AtomicU64 = AtomicU64::new(0);

impl RequestId {
    /// The id of a request with `headers`: the value of `header` when it is sane, otherwise a
    /// new one (also when `header` is `None`).
    pub(crate) fn of(headers: &HeaderMap, header: Option<&HeaderName>) -> Self {
        match header.and_then(|name| headers.get(name)) {
            Some(value) if is_sane(value.as_bytes()) => Self(Repr::Client(value.clone())),
            _ => Self::make(),
        }
    }

    /// A new id, unique within this process.
    pub(crate) fn make() -> Self {
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut digits = [0u8; 32];
        let (prefix, counter) = digits.split_at_mut(16);
        prefix.copy_from_slice(&*PREFIX);
        hex(count, counter);
        Self(Repr::Made(digits))
    }

    /// The id as text.
    ///
    /// ```
    /// # use di_runtime::RequestId;
    /// fn log_line(id: &RequestId) -> String {
    ///     format!("request {}", id.as_str())
    /// }
    /// ```
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Hex digits only: always UTF-8.
            Repr::Made(digits) => std::str::from_utf8(digits).unwrap_or_default(),
            // Checked to be visible ASCII when it was taken.
            Repr::Client(value) => value.to_str().unwrap_or_default(),
        }
    }

    /// The id as a header value (for the response, or to pass it on to another service).
    pub fn to_header_value(&self) -> HeaderValue {
        match &self.0 {
            Repr::Made(digits) => HeaderValue::from_bytes(digits)
                .unwrap_or_else(|_| HeaderValue::from_static("invalid")),
            Repr::Client(value) => value.clone(),
        }
    }

    /// Whether the client sent this id (rather than the app making it).
    pub fn from_client(&self) -> bool {
        matches!(self.0, Repr::Client(_))
    }
}

/// Whether a client's id is taken as it is: 1 to [`MAX_CLIENT_REQUEST_ID`] bytes of visible
/// ASCII (no spaces, no control characters: it goes into log lines).
fn is_sane(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_REQUEST_ID
        && id.iter().all(|byte| byte.is_ascii_graphic())
}

/// Writes `value` as 16 lowercase hex digits into `out`.
fn hex(value: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let nibbles = value.to_be_bytes();
    for (pair, byte) in out.chunks_exact_mut(2).zip(nibbles) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestId").field(&self.as_str()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_ids_are_32_hex_digits_and_differ() {
        let (a, b) = (RequestId::make(), RequestId::make());
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.as_str().len(), 32);
            assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(id.to_header_value(), id.as_str());
            assert!(!id.from_client());
        }
        // Same process: same random half.
        assert_eq!(a.as_str()[..16], b.as_str()[..16]);
    }

    #[test]
    fn a_sane_client_id_is_kept_and_any_other_replaced() {
        let name = HeaderName::from_static("x-request-id");
        let with = |value: &[u8]| {
            let mut headers = HeaderMap::new();
            headers.insert(name.clone(), HeaderValue::from_bytes(value).unwrap());
            RequestId::of(&headers, Some(&name))
        };
        let kept = with(b"abc-123_XYZ.:/=");
        assert!(kept.from_client());
        assert_eq!(kept.as_str(), "abc-123_XYZ.:/=");
        assert!(with(&[b'a'; MAX_CLIENT_REQUEST_ID]).from_client());
        for bad in [
            &b""[..],
            &[b'a'; MAX_CLIENT_REQUEST_ID + 1][..],
            b"with space",
            b"tab\there",
            "caf\u{e9}".as_bytes(),
        ] {
            let replaced = with(bad);
            assert!(!replaced.from_client(), "{bad:?} was kept");
            assert_eq!(replaced.as_str().len(), 32);
        }
        // No header to read: always made.
        assert!(!RequestId::of(&HeaderMap::new(), Some(&name)).from_client());
        let mut headers = HeaderMap::new();
        headers.insert(name.clone(), HeaderValue::from_static("abc"));
        assert!(!RequestId::of(&headers, None).from_client());
    }

    #[test]
    fn hex_writes_every_nibble() {
        let mut out = [0u8; 16];
        hex(0x0123_4567_89ab_cdef, &mut out);
        assert_eq!(&out, b"0123456789abcdef");
    }
}
