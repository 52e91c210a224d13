//! [`RequestId`]: the id of one request, taken from the client's `x-request-id` when it is
//! sane, otherwise made here; sent back in the response and written in every log line of the
//! request. Its input (`FromRequest`) lives in `input/request_id.rs`; the type is here because
//! [`RequestHead`](crate::RequestHead) holds it.

use std::cell::RefCell;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

/// The longest client-sent request id that is taken as it is; a longer one is replaced.
pub const MAX_CLIENT_REQUEST_ID: usize = 128;

/// The id of one request: the client's `x-request-id` when it is sane (1 to
/// [`MAX_CLIENT_REQUEST_ID`] bytes of visible ASCII), otherwise one made by the app: 32
/// lowercase hex digits, a per-process random half and a per-process counter, so unique
/// within a process and very likely across processes (ids made on one thread count up; the
/// threads of a process take ranges of the counter in turn).
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
#[derive(Clone)]
pub struct RequestId(Repr);

#[derive(Clone)]
enum Repr {
    /// Made here: 32 hex digits, held inline (cloned without touching a shared count).
    Made([u8; MADE_LEN]),
    /// The client's header value (shared with the request's headers), checked to be sane.
    Given(HeaderValue),
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

/// The counter values taken by this process so far (each thread takes [`BATCH`] at once).
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// How many counter values a thread takes at once (and how many made ids' header values it
/// writes into one block).
const BATCH: usize = 64;

/// The length of a made id.
const MADE_LEN: usize = 32;

/// This thread's range of the counter: the next value, and the end of the range.
struct Counts {
    next: u64,
    end: u64,
}

thread_local! {
    static COUNTS: RefCell<Counts> = const { RefCell::new(Counts { next: 0, end: 0 }) };
    /// Where this thread writes made ids as header values: each takes a slice of one block (a
    /// reference count, no allocation), a new block every [`BATCH`] of them.
    static WRITTEN: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// The next counter value of this thread's range (a new range every [`BATCH`]).
fn next_count() -> u64 {
    let take = |counts: &mut Counts| {
        if counts.next == counts.end {
            counts.next = COUNTER.fetch_add(BATCH as u64, Ordering::Relaxed);
            counts.end = counts.next + BATCH as u64;
        }
        counts.next += 1;
        counts.next - 1
    };
    // A thread being torn down has no `COUNTS` any more: a range of its own for this one.
    COUNTS
        .try_with(|counts| take(&mut counts.borrow_mut()))
        .unwrap_or_else(|_| COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// `digits` as shared bytes: a slice of this thread's block.
fn written(digits: &[u8]) -> Bytes {
    WRITTEN
        .try_with(|written| {
            let mut written = written.borrow_mut();
            if written.capacity() < digits.len() {
                *written = BytesMut::with_capacity(BATCH * MADE_LEN);
            }
            written.extend_from_slice(digits);
            written.split().freeze()
        })
        .unwrap_or_else(|_| Bytes::copy_from_slice(digits))
}

impl RequestId {
    /// The id of a request with `headers`: the value of `header` when it is sane, otherwise a
    /// new one (also when `header` is `None`).
    pub(crate) fn of(headers: &HeaderMap, header: Option<&HeaderName>) -> Self {
        match header.and_then(|name| headers.get(name)) {
            Some(value) if is_sane(value.as_bytes()) => Self(Repr::Given(value.clone())),
            _ => Self::make(),
        }
    }

    /// A new id, unique within this process.
    pub(crate) fn make() -> Self {
        let mut digits = [0u8; MADE_LEN];
        let (prefix, counter) = digits.split_at_mut(16);
        prefix.copy_from_slice(&*PREFIX);
        hex(next_count(), counter);
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
        // Hex digits, or a client's id checked to be visible ASCII.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Made(digits) => digits,
            Repr::Given(value) => value.as_bytes(),
        }
    }

    /// The id as a header value (for the response, or to pass it on to another service). A
    /// client's id is shared with its request; an id made here is written into a block of
    /// this thread's, one allocation per 64.
    pub fn to_header_value(&self) -> HeaderValue {
        match &self.0 {
            Repr::Made(digits) => HeaderValue::from_maybe_shared(written(digits))
                // Hex digits: always a valid header value.
                .unwrap_or_else(|_| HeaderValue::from_static("invalid")),
            Repr::Given(value) => value.clone(),
        }
    }
}

/// Two ids are equal when their text is.
impl PartialEq for RequestId {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for RequestId {}

impl std::hash::Hash for RequestId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

/// Whether a client's id is taken as it is: 1 to [`MAX_CLIENT_REQUEST_ID`] bytes of visible
/// ASCII (no spaces, no control characters: it goes into log lines).
fn is_sane(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_REQUEST_ID
        && id.iter().all(|byte| byte.is_ascii_graphic())
}

/// Writes `value` as 16 lowercase hex digits into `out` (its first 16 bytes), all at once
/// rather than a digit at a time: every made id writes one.
fn hex(value: u64, out: &mut [u8]) {
    const BYTES: u128 = u128::from_ne_bytes([0x01; 16]);
    // Each nibble in a byte of its own, the least significant in the lowest byte: halves of
    // 32 bits apart, then of 16, 8 and 4 bits.
    let mut x = u128::from(value);
    x = (x | (x << 32)) & 0x0000_0000_ffff_ffff_0000_0000_ffff_ffff;
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff_0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff_00ff_00ff_00ff_00ff;
    x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f;
    // `0`-`9` from `0`, `a`-`f` from `a` (39 past where `0` + 10 would be): a byte is 10 or
    // more when adding 6 carries into its bit 4. No byte carries into the next.
    let letters = ((x + BYTES * 6) >> 4) & BYTES;
    let digits = x + BYTES * u128::from(b'0') + letters * 39;
    if let Some(out) = out.first_chunk_mut::<16>() {
        *out = digits.to_be_bytes();
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
    fn a_request_id_is_no_larger_than_a_header_value() {
        // It is carried by teardown stacks and response bodies: every byte is copied.
        assert_eq!(
            std::mem::size_of::<RequestId>(),
            std::mem::size_of::<HeaderValue>()
        );
        assert_eq!(
            std::mem::size_of::<Option<RequestId>>(),
            std::mem::size_of::<HeaderValue>()
        );
    }

    #[test]
    fn made_ids_are_32_hex_digits_and_differ() {
        let (a, b) = (RequestId::make(), RequestId::make());
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.as_str().len(), 32);
            assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(id.to_header_value(), id.as_str());
        }
        // Same process: same random half.
        assert_eq!(a.as_str()[..16], b.as_str()[..16]);
    }

    #[test]
    fn made_ids_stay_unique_across_blocks_and_threads() {
        let mut seen = std::collections::HashSet::new();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    (0..3 * BATCH)
                        .map(|_| RequestId::make())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for thread in threads {
            for id in thread.join().unwrap() {
                assert_eq!(id.as_str().len(), MADE_LEN);
                assert!(seen.insert(id), "an id was made twice");
            }
        }
        assert_eq!(seen.len(), 4 * 3 * BATCH);
    }

    #[test]
    fn a_sane_client_id_is_kept_and_any_other_replaced() {
        let name = HeaderName::from_static("x-request-id");
        let with = |value: &[u8]| {
            let mut headers = HeaderMap::new();
            headers.insert(name.clone(), HeaderValue::from_bytes(value).unwrap());
            RequestId::of(&headers, Some(&name))
        };
        let made = |id: &RequestId| {
            id.as_str().len() == 32 && id.as_str().bytes().all(|b| b.is_ascii_hexdigit())
        };
        let kept = with(b"abc-123_XYZ.:/=");
        assert_eq!(kept.as_str(), "abc-123_XYZ.:/=");
        let longest = [b'a'; MAX_CLIENT_REQUEST_ID];
        assert_eq!(with(&longest).as_str().as_bytes(), longest);
        for bad in [
            &b""[..],
            &[b'a'; MAX_CLIENT_REQUEST_ID + 1][..],
            b"with space",
            b"tab\there",
            "caf\u{e9}".as_bytes(),
        ] {
            let replaced = with(bad);
            assert!(made(&replaced), "{bad:?} was kept");
        }
        // No header to read: always made.
        assert!(made(&RequestId::of(&HeaderMap::new(), Some(&name))));
        let mut headers = HeaderMap::new();
        headers.insert(name.clone(), HeaderValue::from_static("abc"));
        assert!(made(&RequestId::of(&headers, None)));
    }

    #[test]
    fn hex_writes_every_nibble() {
        let mut out = [0u8; 16];
        hex(0x0123_4567_89ab_cdef, &mut out);
        assert_eq!(&out, b"0123456789abcdef");
    }

    #[test]
    fn hex_writes_what_format_writes() {
        let mut value = 0x9e37_79b9_7f4a_7c15_u64;
        for fixed in [0, 1, 9, 10, 15, 16, u64::MAX, 0xfedc_ba98_7654_3210] {
            let mut out = [0u8; 16];
            hex(fixed, &mut out);
            assert_eq!(&out, format!("{fixed:016x}").as_bytes());
        }
        for _ in 0..1000 {
            value = value.rotate_left(7).wrapping_mul(0x2545_f491_4f6c_dd1d);
            let mut out = [0u8; 16];
            hex(value, &mut out);
            assert_eq!(&out, format!("{value:016x}").as_bytes());
        }
    }
}
