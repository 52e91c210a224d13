//! [`Multipart`]: a `multipart/form-data` body read part by part as it arrives (FastAPI's
//! `File()`/`UploadFile` and `Form()` fields of a multipart form), parsed by `multer` over the
//! request body as a stream ([`BodyStream`]).

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::contract::request::{FromRequest, RequestHead};
use crate::input::de::{Repeated, from_pairs};
use crate::input::form::{kept_pairs, too_many};
use crate::input::stream::BodyStream;
use crate::response::error::{BodyError, HttpError, InputError, MultipartError};

/// A `multipart/form-data` body, read field by field, in order, while the handler runs: a
/// file part's bytes arrive chunk by chunk ([`MultipartField::chunk`]) and are never held whole, a
/// text field is read with [`MultipartField::text`].
///
/// `Multipart` reads the body as a stream, like [`BodyStream`], so the same rules hold: the
/// app's body limit (413), body deadline and minimum rate (408) apply to the whole body while
/// it is read, each surfacing as a [`MultipartError`] the handler returns with `?` (the
/// teardowns then see that error), and a route that takes a `Multipart` takes no other input
/// that reads the body ([`App::check`](crate::App::check) refuses it).
///
/// Before anything is set up, the content type is checked: a body that is not
/// `multipart/form-data` is a 422 (`["body"]`, with the content type sent as `input`), one
/// without a boundary a 400 `{"detail":"Missing boundary in multipart."}` (FastAPI's answer),
/// one whose boundary is longer than 256 bytes a 400 `{"detail":"Invalid multipart data: the
/// boundary is longer than 256 bytes"}` (python-multipart's limit).
/// A body that turns out malformed while it is read is a 400
/// `{"detail":"Invalid multipart data: ..."}`, and so is a part whose headers pass 16 KiB (as
/// they come: a part's head is never held whole, nor the bytes before the first boundary,
/// which are skipped), a part with no header, and one whose header lines end with a bare LF
/// rather than CRLF; an empty body is a form with no fields, as in FastAPI. The form's end
/// ([`next_field`](Multipart::next_field) giving `None`) is its closing boundary and the rest
/// of the body after it, read to the body's end as Starlette reads a whole body, so that the
/// HTTP/1 connection is kept alive.
///
/// Only one field can be read at a time: read a field to its end (or drop it) before asking
/// for the next. Asking while a field not read to its end is still held is a bug of the
/// handler, answered 500 (and logged), not blamed on the client.
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::Multipart;
///
/// #[depends]
/// async fn upload(mut form: Multipart) -> Result<String, HttpError> {
///     let mut report = Vec::new();
///     while let Some(mut field) = form.next_field().await? {
///         let name = field.name().unwrap_or_default().to_owned();
///         if field.file_name().is_some() {
///             let mut size = 0;
///             while let Some(chunk) = field.chunk().await? {
///                 size += chunk.len(); // e.g. write it to a file
///             }
///             report.push(format!("{name}: {size} bytes"));
///         } else {
///             report.push(format!("{name} = {}", field.text().await?));
///         }
///     }
///     Ok(report.join("\n"))
/// }
/// ```
pub struct Multipart {
    state: Reading,
}

/// How far the body has been read.
enum Reading {
    /// Not yet: `multer` starts at the first chunk, so that an empty body is a form with no
    /// fields (as in FastAPI), not a stream cut short.
    Unread { body: BodyStream, boundary: String },
    Parts {
        parts: multer::Multipart<'static>,
        /// The stream `multer` reads, shared: what of the body follows the closing boundary
        /// is read from it once `multer` has stopped.
        rest: Shared,
    },
    /// The body was empty (or failed before its first chunk): no fields.
    Ended,
}

impl Multipart {
    /// Text fields [`into_form`](Multipart::into_form) reads at most (Starlette's `max_fields`).
    pub const MAX_FIELDS: usize = 1000;
    /// File parts [`into_form`](Multipart::into_form) reads at most (Starlette's `max_files`).
    pub const MAX_FILES: usize = 1000;

    /// The next field, `None` after the last one.
    pub async fn next_field(&mut self) -> Result<Option<MultipartField>, MultipartError> {
        if matches!(self.state, Reading::Unread { .. }) {
            self.start().await?;
        }
        let Reading::Parts { parts, rest } = &mut self.state else {
            return Ok(None);
        };
        match parts.next_field().await {
            Ok(Some(field)) => {
                let (name, file_name) = disposition(field.headers());
                Ok(Some(MultipartField {
                    name,
                    file_name,
                    part: Part::Open(field),
                }))
            }
            // `multer` stops at the closing boundary. The rest of the body (an epilogue, or
            // only its end, which need not come with the boundary) is read to its end, as
            // Starlette reads a whole body before it parses a form: left unread, the answer
            // would close the HTTP/1 connection (see `Multipart`).
            Ok(None) => {
                let rest = rest.clone();
                self.state = Reading::Ended;
                std::future::poll_fn(|cx| {
                    let mut rest = rest.lock();
                    loop {
                        match std::task::ready!(rest.as_mut().poll_next(cx)) {
                            Some(Ok(_)) => {}
                            Some(Err(error)) => return Poll::Ready(Err(error)),
                            None => return Poll::Ready(Ok(())),
                        }
                    }
                })
                .await
                .map_err(|error| from_multer(multer::Error::StreamReadFailed(error)))?;
                Ok(None)
            }
            Err(error) => Err(from_multer(error)),
        }
    }

    /// Reads the body's first chunk: none is an empty form; else `multer` parses the body
    /// from that chunk on.
    async fn start(&mut self) -> Result<(), MultipartError> {
        let Reading::Unread { mut body, boundary } =
            std::mem::replace(&mut self.state, Reading::Ended)
        else {
            return Ok(());
        };
        let first = match body.next().await {
            None => return Ok(()),
            Some(Err(error)) => return Err(MultipartError::body(error)),
            Some(Ok(first)) => first,
        };
        let chunks = futures_util::stream::once(std::future::ready(Ok(first)))
            .chain(body)
            .map(|item| item.map_err(Carried));
        let rest: Shared = Arc::new(parking_lot::Mutex::new(Box::pin(Framing::new(
            chunks, &boundary,
        ))));
        let parts = multer::Multipart::new(SharedStream(rest.clone()), boundary);
        self.state = Reading::Parts { parts, rest };
        Ok(())
    }

    /// Reads a small form whole: its text fields deserialized into `T` as
    /// [`Form<T>`](crate::Form) reads a URL-encoded body (a `Vec` field takes every value of its
    /// name, empty ones included, any other field the last, absent when that is empty; every
    /// problem a 422 at `["body", field]`), and
    /// its file parts in memory, in order, as [`UploadedFile`]s (FastAPI's `Form()` and
    /// `UploadFile` parameters of one multipart form).
    ///
    /// The whole form is held in memory (within the body limit): read large files with
    /// [`next_field`](Multipart::next_field) instead. As Starlette's `request.form()` (and so
    /// FastAPI), it reads at most [`MAX_FIELDS`](Multipart::MAX_FIELDS) text fields and
    /// [`MAX_FILES`](Multipart::MAX_FILES) files: past them the form is a 400, `{"detail":
    /// "Too many fields. Maximum number of fields is 1000."}` (or files), whatever the body
    /// limit (each field held costs some hundred bytes beside its own: a body limit raised
    /// for uploads would let a form of a million tiny fields take that many times its size).
    /// [`next_field`](Multipart::next_field) reads any number. As the form is read while the
    /// handler runs, a problem with it is the handler's error: the teardowns see it.
    ///
    /// ```
    /// use di_runtime::prelude::*;
    /// use di_runtime::Multipart;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Meta { title: String, tags: Vec<String> }
    ///
    /// #[depends]
    /// async fn upload(form: Multipart) -> Result<String, HttpError> {
    ///     let (meta, files) = form.into_form::<Meta>().await?;
    ///     let sizes: Vec<usize> = files.iter().map(|f| f.bytes.len()).collect();
    ///     Ok(format!("{} {:?}: {sizes:?}", meta.title, meta.tags))
    /// }
    /// ```
    pub async fn into_form<T: DeserializeOwned>(
        mut self,
    ) -> Result<(T, Vec<UploadedFile>), HttpError> {
        let mut texts: Vec<(String, String)> = Vec::new();
        let mut files = Vec::new();
        while let Some(field) = self.next_field().await? {
            // Counted before the part is read, as Starlette counts them.
            if field.file_name().is_some() && files.len() == Self::MAX_FILES {
                return Err(too_many("files", Self::MAX_FILES));
            }
            if field.file_name().is_none() && texts.len() == Self::MAX_FIELDS {
                return Err(too_many("fields", Self::MAX_FIELDS));
            }
            // A form field has a name (RFC 7578 4.2); FastAPI's form parser refuses a part
            // without one, as here, rather than file it under "".
            let Some(name) = field.name().map(str::to_owned) else {
                return Err(HttpError::new(
                    StatusCode::BAD_REQUEST,
                    "The Content-Disposition header field \"name\" must be provided.",
                ));
            };
            match field.file_name().map(str::to_owned) {
                Some(file_name) => {
                    let content_type = field.content_type().map(str::to_owned);
                    files.push(UploadedFile {
                        field: name,
                        file_name,
                        content_type,
                        bytes: field.bytes().await?,
                    });
                }
                None => texts.push((name, field.text().await?)),
            }
        }
        // As `Form<T>` and FastAPI: a field of one value sent empty is absent; a list keeps
        // its empty values.
        let kept = kept_pairs::<T, _, _>(&texts);
        let value = from_pairs("body", &kept, Repeated::Last).map_err(HttpError::invalid_input)?;
        Ok((value, files))
    }
}

/// A file part of a multipart form read whole by [`Multipart::into_form`] (FastAPI's
/// `UploadFile`, in memory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadedFile {
    /// The form field's name.
    pub field: String,
    /// The file name the client sent (a Windows path cut to its last segment, see
    /// [`MultipartField::file_name`]).
    pub file_name: String,
    /// The part's `Content-Type`, as sent.
    pub content_type: Option<String>,
    /// The file's bytes.
    pub bytes: Bytes,
}

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multipart").finish_non_exhaustive()
    }
}

impl FromRequest for Multipart {
    const STREAMS_BODY: bool = true;

    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        let raw = head.headers().get(CONTENT_TYPE);
        let content_type = raw.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let is_multipart = content_type.as_deref().is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("multipart/form-data"))
        });
        if !is_multipart {
            let sent = content_type.map_or(Value::Null, Value::String);
            return Err(vec![
                InputError::new(["body"], "Input should be a multipart/form-data body").input(sent),
            ]);
        }
        let Some(boundary) = raw.and_then(|value| boundary(value.as_bytes())) else {
            return Err(vec![InputError::rejection(HttpError::bad_request(
                "Missing boundary in multipart.",
            ))]);
        };
        if boundary.len() > MAX_BOUNDARY {
            return Err(vec![InputError::rejection(HttpError::bad_request(
                format!("Invalid multipart data: the boundary is longer than {MAX_BOUNDARY} bytes"),
            ))]);
        }
        let body = BodyStream::take(head, "Multipart")?;
        Ok(Self {
            state: Reading::Unread { body, boundary },
        })
    }
}

/// One field (part) of a [`Multipart`] body: its name, file name and content type, and its
/// bytes, read chunk by chunk ([`chunk`](MultipartField::chunk), or as a `Stream`) or whole
/// ([`bytes`](MultipartField::bytes), [`text`](MultipartField::text)).
pub struct MultipartField {
    /// `name` and `filename` of the part's `Content-Disposition` (see [`disposition`]).
    name: Option<String>,
    file_name: Option<String>,
    part: Part,
}

/// A field being read, or read to its end.
#[expect(
    clippy::large_enum_variant,
    reason = "a field being read is held inline, as before; only a field read to its end is boxed"
)]
enum Part {
    Open(multer::Field<'static>),
    /// Read to its end: `multer`'s field (which holds the form's state, so that the next field
    /// cannot be asked for while it lives) is dropped, its head kept.
    Ended(Box<http::HeaderMap>),
}

impl MultipartField {
    /// The field's name (`name="..."` of its `Content-Disposition`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The file name, for a file part (`filename="..."`), as sent but for a Windows path,
    /// which is cut to its last segment as Starlette cuts it (`C:\dir\a.txt` is `a.txt`).
    /// Any other path (`../a.txt`) is kept: never join it to a directory unchecked.
    pub fn file_name(&self) -> Option<&str> {
        self.file_name.as_deref()
    }

    /// The part's `Content-Type`, as sent (`None` also when it is not ASCII).
    pub fn content_type(&self) -> Option<&str> {
        self.headers().get(CONTENT_TYPE)?.to_str().ok()
    }

    /// The part's headers.
    pub fn headers(&self) -> &http::HeaderMap {
        match &self.part {
            Part::Open(field) => field.headers(),
            Part::Ended(headers) => headers,
        }
    }

    /// The next chunk of the field's bytes, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, MultipartError> {
        let Part::Open(field) = &mut self.part else {
            return Ok(None);
        };
        let chunk = field.chunk().await.map_err(from_multer)?;
        if chunk.is_none() {
            self.end();
        }
        Ok(chunk)
    }

    /// At the field's end: gives the form's state back to the form (the next field can be
    /// asked for while this one is kept), keeping the field's head.
    fn end(&mut self) {
        if let Part::Open(field) = &self.part {
            self.part = Part::Ended(Box::new(field.headers().clone()));
        }
    }

    /// The whole field (the rest of it, after [`chunk`](MultipartField::chunk)), in memory
    /// (within the body limit).
    pub async fn bytes(self) -> Result<Bytes, MultipartError> {
        match self.part {
            Part::Open(field) => field.bytes().await.map_err(from_multer),
            Part::Ended(_) => Ok(Bytes::new()),
        }
    }

    /// The whole field as text, decoded by the part's `charset` (UTF-8 when it has none, or
    /// names none known); bytes that are not valid in it become U+FFFD. The bytes are taken as
    /// they are: a leading byte order mark is not read as naming another charset.
    pub async fn text(self) -> Result<String, MultipartError> {
        // The charset wherever the header names it: `mime` (what `multer` reads it with)
        // refuses `text/plain ; charset=latin1` and a parameter that is not a MIME token.
        let encoding = match &self.part {
            Part::Open(field) => field.headers().get(CONTENT_TYPE),
            Part::Ended(_) => None,
        }
        .and_then(|value| {
            parameters(value.as_bytes())
                .filter(|(key, _)| key.eq_ignore_ascii_case(b"charset"))
                .last()
        })
        .and_then(|(_, charset)| encoding_rs::Encoding::for_label(charset.trim_ascii()))
        .filter(|encoding| *encoding != encoding_rs::UTF_8);
        let bytes = self.bytes().await?;
        Ok(match encoding {
            Some(encoding) => encoding.decode_without_bom_handling(&bytes).0.into_owned(),
            None => String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

impl fmt::Debug for MultipartField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultipartField")
            .field("name", &self.name())
            .field("file_name", &self.file_name())
            .field("content_type", &self.content_type())
            .finish()
    }
}

impl Stream for MultipartField {
    type Item = Result<Bytes, MultipartError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Part::Open(field) = &mut self.part else {
            return Poll::Ready(None);
        };
        let item = std::task::ready!(field.poll_next_unpin(cx));
        if item.is_none() {
            self.end();
        }
        Poll::Ready(item.map(|r| r.map_err(from_multer)))
    }
}

/// The `name` and `filename` parameters of a part's `Content-Disposition`, read as
/// python-multipart reads them for Starlette (see [`parameters`]): names in any case (RFC 2045
/// 5.1), the last of a repeated one kept, a value that is not UTF-8 read as Latin-1, and a
/// Windows path sent as a file name (an old browser's) cut to its last segment. `multer`'s
/// own reading searches the header's text for `name` and `filename`, which finds them inside
/// quoted values (`filename="my name=x.txt"`) and misses `Name=`.
fn disposition(headers: &http::HeaderMap) -> (Option<String>, Option<String>) {
    let Some(value) = headers.get(http::header::CONTENT_DISPOSITION) else {
        return (None, None);
    };
    let (mut name, mut file_name) = (None, None);
    for (key, mut value) in parameters(value.as_bytes()) {
        if key.eq_ignore_ascii_case(b"name") {
            name = Some(value);
        } else if key.eq_ignore_ascii_case(b"filename") {
            if value.get(1..3) == Some(b":\\") || value.starts_with(b"\\\\") {
                let last = value
                    .iter()
                    .rposition(|b| *b == b'\\')
                    .map_or(0, |at| at + 1);
                value.drain(..last);
            }
            file_name = Some(value);
        }
    }
    let text = |bytes: Vec<u8>| {
        String::from_utf8(bytes)
            .unwrap_or_else(|error| error.into_bytes().iter().map(|b| char::from(*b)).collect())
    };
    (name.map(text), file_name.map(text))
}

/// The longest boundary a form is read with, python-multipart's `MAX_BOUNDARY_LENGTH` (RFC
/// 2046 5.1.1 allows 70 characters; 256 leaves room for every client). The work of finding the
/// boundary grows with its length at every chunk of the body ([`Framing`] and `multer` each
/// keep the last bytes of a chunk, as long as the boundary, and search them again with the
/// next): a boundary of the head's size (128 KiB) in a body sent a byte per chunk cost a core
/// minutes.
const MAX_BOUNDARY: usize = 256;

/// The `boundary` parameter of a multipart content type, read as python-multipart reads it
/// for Starlette (see [`parameters`]): the last one sent, `None` when there is none, or it is
/// empty or not UTF-8. `multer::parse_boundary` reads the content type with the `mime` crate,
/// which takes only a MIME token unquoted: `boundary====1234===` (a Java upload helper's,
/// copied into many apps) or `----=_Part_0_1.2` was no boundary at all.
fn boundary(content_type: &[u8]) -> Option<String> {
    parameters(content_type)
        .filter(|(key, _)| key.eq_ignore_ascii_case(b"boundary"))
        .last()
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
        .and_then(|value| String::from_utf8(value).ok())
}

/// The parameters of a header value (`form-data; name="a"`, `multipart/form-data;
/// boundary=B`) as python-multipart's `parse_options_header` reads them, in order: the value
/// split at the `;` outside quoted strings, the first segment (the type) left out, each other
/// a name (to compare in any case) and a value: the text after its first `=` (none: empty),
/// unquoted (see [`unquote`]). An extended parameter (`filename*`, which RFC 7578 4.2 forbids
/// in a form) is left out.
fn parameters(value: &[u8]) -> impl Iterator<Item = (&[u8], Vec<u8>)> {
    segments(value).skip(1).filter_map(|segment| {
        let segment = segment.trim_ascii();
        let (key, value) = match segment.iter().position(|b| *b == b'=') {
            Some(at) => (&segment[..at], &segment[at + 1..]),
            None => (segment, &[][..]),
        };
        let key = key.trim_ascii_end();
        (!key.contains(&b'*')).then(|| (key, unquote(value.trim_ascii_start())))
    })
}

/// A header value's `;`-separated segments, a `;` inside a quoted string (where `\` escapes
/// the next byte) not separating them.
fn segments(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let (mut quoted, mut escaped) = (false, false);
    value.split(move |b| {
        match (quoted, escaped, *b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, false, b'"') => quoted = !quoted,
            (false, _, b';') => return true,
            _ => {}
        }
        false
    })
}

/// A parameter's value: a quoted string's content, its `\\` and `\"` unescaped (in that
/// order, as python-multipart does); any other value as it is.
fn unquote(value: &[u8]) -> Vec<u8> {
    let Some(inner) = value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .filter(|_| value.len() >= 2)
    else {
        return value.to_vec();
    };
    unescape(&unescape(inner, b'\\'), b'"')
}

/// `text` with each `\` followed by `escaped` written as `escaped` alone.
fn unescape(text: &[u8], escaped: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some((first, tail)) = rest.split_first() {
        if *first == b'\\' && tail.first() == Some(&escaped) {
            out.push(escaped);
            rest = &tail[1..];
        } else {
            out.push(*first);
            rest = tail;
        }
    }
    out
}

/// The body as [`Framing`] passes it on, shared by `multer` and the [`Multipart`] that reads
/// its rest (see [`Multipart::next_field`]).
type Shared = Arc<parking_lot::Mutex<Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>>>;

/// A boxed error, as `multer` takes a stream's.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The shared body as the stream `multer` reads.
struct SharedStream(Shared);

impl Stream for SharedStream {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.lock().as_mut().poll_next(cx)
    }
}

/// The most a part's head may take, from the end of its boundary to the blank line that ends
/// its headers (a `Content-Disposition` and a `Content-Type` take a few hundred bytes).
const PART_HEAD_LIMIT: usize = 16 * 1024;

/// A part's head [`Framing`] refuses, carried through `multer` as a body error.
#[derive(Debug)]
enum BadHead {
    /// Longer than [`PART_HEAD_LIMIT`].
    TooLong,
    /// A line ended by a bare `LF`, which `httparse` takes as a line's end (and a bare `LF`
    /// after a line as the head's end), where `multer` cuts the head at the first `CRLF CRLF`
    /// and drops what lies between: the next part's boundary and head with it.
    BareLineFeed,
    /// No header line: `multer` looks for the head's end after the blank line that ends it,
    /// and takes the next part's head (and data) for this one's.
    NoHeaders,
    /// Text after a boundary, where only `--` or transport padding and a line end may be.
    AfterBoundary,
}

impl fmt::Display for BadHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(
                f,
                "a part's headers are longer than {PART_HEAD_LIMIT} bytes"
            ),
            Self::BareLineFeed => {
                f.write_str("a line of a part's headers ends with a bare LF, not CRLF")
            }
            Self::NoHeaders => f.write_str("a part has no headers"),
            Self::AfterBoundary => f.write_str("a boundary is followed by other than a line end"),
        }
    }
}

impl std::error::Error for BadHead {}

pin_project_lite::pin_project! {
    /// The body on its way to `multer`, which keeps in its buffer whatever it has not found the
    /// end of: the bytes before the first boundary until the boundary comes, and a part's
    /// headers until the blank line after them, each up to the body limit, scanned again from
    /// their start at each chunk. This finds the boundaries as the bytes pass (a few bytes kept
    /// between chunks): it drops the preamble as it comes, and fails a part whose head passes
    /// [`PART_HEAD_LIMIT`], while the body still comes. The bytes it passes on are the body's,
    /// from the first boundary on: the first `--` and boundary at the body's start or at the
    /// start of a line (RFC 2046 5.1.1), never one in the middle of a preamble's line, which
    /// `multer` would take.
    struct Framing<S> {
        #[pin]
        chunks: S,
        // `\r\n--` and the boundary: what ends a part's data.
        delimiter: Box<[u8]>,
        phase: Phase,
        // The last bytes of what was scanned, which may begin what is looked for.
        seam: Vec<u8>,
    }
}

/// Where [`Framing`] is in the body.
#[derive(Clone, Copy)]
enum Phase {
    /// Before the first boundary.
    Preamble,
    /// Just past a boundary, `dashes` of a closing `--` seen.
    Boundary { dashes: usize },
    /// In a part's head: `taken` bytes of it, the last `ending` of them a start of `\r\n\r\n`,
    /// `lines` of its lines ended (the boundary's line first).
    Head {
        taken: usize,
        ending: usize,
        lines: usize,
    },
    /// In a part's data.
    Data,
    /// Past the closing boundary: nothing more is looked for.
    Epilogue,
}

impl<S> Framing<S> {
    fn new(chunks: S, boundary: &str) -> Self {
        Self {
            chunks,
            delimiter: [b"\r\n--", boundary.as_bytes()].concat().into(),
            phase: Phase::Preamble,
            // The body's start is the start of a line: the first boundary may be there.
            seam: b"\r\n".to_vec(),
        }
    }
}

/// Where `pattern` is first found in the bytes `seam` then `data`: its start in `seam` (if it
/// begins there) or in `data`, and its end in `data`. `seam` is shorter than `pattern`.
fn find_across(seam: &[u8], data: &[u8], pattern: &[u8]) -> Option<(Result<usize, usize>, usize)> {
    if !seam.is_empty() {
        let joined = [seam, &data[..data.len().min(pattern.len() - 1)]].concat();
        if let Some(at) = memchr::memmem::find(&joined, pattern) {
            let end = at + pattern.len() - seam.len();
            return Some((at.checked_sub(seam.len()).ok_or(at), end));
        }
    }
    memchr::memmem::find(data, pattern).map(|at| (Ok(at), at + pattern.len()))
}

/// What of `seam` then `data` may begin `pattern`: their last `pattern.len() - 1` bytes.
fn next_seam(seam: &mut Vec<u8>, data: &[u8], pattern: &[u8]) {
    let keep = pattern.len() - 1;
    if data.len() >= keep {
        seam.clear();
        seam.extend_from_slice(&data[data.len() - keep..]);
    } else {
        seam.extend_from_slice(data);
        let excess = seam.len().saturating_sub(keep);
        seam.drain(..excess);
    }
}

impl<S> Framing<S> {
    /// Scans `chunk`, moving through the phases, and returns what of it to pass on: all of it
    /// but a preamble's bytes (and, where the first boundary began in the last chunk, its start
    /// kept from it).
    fn scan(self: Pin<&mut Self>, chunk: Bytes) -> Result<Bytes, BadHead> {
        let this = self.project();
        let mut passed = chunk.clone();
        let mut at = 0;
        if let Phase::Preamble = this.phase {
            // The first boundary, as the others, at the start of a line (RFC 2046 5.1.1): the
            // line end before it (or the body's start, a line end kept in `seam` from the
            // start) is not passed on.
            let delimiter = &this.delimiter[..];
            match find_across(this.seam, &chunk, delimiter) {
                None => {
                    next_seam(this.seam, &chunk, delimiter);
                    return Ok(Bytes::new());
                }
                Some((start, end)) => {
                    passed = match start {
                        Ok(start) => chunk.slice(start + 2..),
                        Err(in_seam) => {
                            Bytes::from([&this.seam[in_seam..], &chunk[..]].concat()).slice(2..)
                        }
                    };
                    this.seam.clear();
                    *this.phase = Phase::Boundary { dashes: 0 };
                    at = end;
                }
            }
        }
        while at < chunk.len() {
            match *this.phase {
                Phase::Preamble | Phase::Epilogue => break,
                Phase::Boundary { dashes } => {
                    if chunk[at] == b'-' {
                        at += 1;
                        *this.phase = if dashes == 1 {
                            Phase::Epilogue
                        } else {
                            Phase::Boundary { dashes: 1 }
                        };
                    } else if dashes == 1 {
                        return Err(BadHead::AfterBoundary);
                    } else {
                        *this.phase = Phase::Head {
                            taken: 0,
                            ending: 0,
                            lines: 0,
                        };
                    }
                }
                Phase::Head {
                    mut taken,
                    mut ending,
                    mut lines,
                } => {
                    for &byte in &chunk[at..] {
                        at += 1;
                        taken += 1;
                        // The boundary's line: transport padding, then its end.
                        if lines == 0 && !matches!(byte, b' ' | b'\t' | b'\r' | b'\n') {
                            return Err(BadHead::AfterBoundary);
                        }
                        if byte == b'\n' {
                            // `ending` is 1 or 3 right after a `\r`.
                            if !matches!(ending, 1 | 3) {
                                return Err(BadHead::BareLineFeed);
                            }
                            lines += 1;
                        }
                        ending = match (ending, byte) {
                            (0 | 2, b'\r') => ending + 1,
                            (1 | 3, b'\n') => ending + 1,
                            (_, b'\r') => 1,
                            _ => 0,
                        };
                        if ending == 4 {
                            // The boundary's line and the blank one: no header between.
                            if lines == 2 {
                                return Err(BadHead::NoHeaders);
                            }
                            break;
                        }
                        if taken > PART_HEAD_LIMIT {
                            return Err(BadHead::TooLong);
                        }
                    }
                    *this.phase = if ending == 4 {
                        this.seam.clear();
                        Phase::Data
                    } else {
                        Phase::Head {
                            taken,
                            ending,
                            lines,
                        }
                    };
                }
                Phase::Data => match find_across(this.seam, &chunk[at..], this.delimiter) {
                    Some((_, end)) => {
                        this.seam.clear();
                        *this.phase = Phase::Boundary { dashes: 0 };
                        at += end;
                    }
                    None => {
                        next_seam(this.seam, &chunk[at..], this.delimiter);
                        break;
                    }
                },
            }
        }
        Ok(passed)
    }
}

impl<S> Stream for Framing<S>
where
    S: Stream<Item = Result<Bytes, Carried>>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let chunk = match std::task::ready!(self.as_mut().project().chunks.poll_next(cx)) {
                Some(Ok(chunk)) => chunk,
                Some(Err(error)) => return Poll::Ready(Some(Err(Box::new(error)))),
                // A preamble's last bytes, kept in case they began the boundary, are passed on:
                // `multer` finds no boundary in them, as it would have in the whole body.
                None => {
                    let this = self.as_mut().project();
                    if let Phase::Preamble = this.phase
                        && !this.seam.is_empty()
                    {
                        *this.phase = Phase::Epilogue;
                        return Poll::Ready(Some(Ok(std::mem::take(this.seam).into())));
                    }
                    return Poll::Ready(None);
                }
            };
            match self.as_mut().scan(chunk) {
                Ok(passed) if passed.is_empty() => {}
                Ok(passed) => return Poll::Ready(Some(Ok(passed))),
                Err(error) => return Poll::Ready(Some(Err(Box::new(error)))),
            }
        }
    }
}

/// A `multer` error as the [`MultipartError`] the handler gets: the body's own error when
/// reading the body failed, a held field (the handler's bug), or a malformed encoding.
fn from_multer(error: multer::Error) -> MultipartError {
    if let multer::Error::StreamReadFailed(source) = &error
        && let Some(Carried(body)) = source.downcast_ref::<Carried>()
    {
        return MultipartError::body(body.clone());
    }
    if let multer::Error::StreamReadFailed(source) = &error
        && let Some(bad) = source.downcast_ref::<BadHead>()
    {
        return MultipartError::malformed(bad.to_string());
    }
    if let multer::Error::LockFailure = error {
        tracing::error!(
            target: "di",
            "a multipart field not read to its end is still held: drop it before asking for the next"
        );
        return MultipartError::field_held();
    }
    MultipartError::malformed(error.to_string())
}

/// A [`BodyError`] carried through `multer`, which wants a `std::error::Error`, and taken back
/// out on the other side.
#[derive(Debug)]
struct Carried(BodyError);

impl fmt::Display for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Carried {}
