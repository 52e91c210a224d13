//! [`BodyStream`]: the request body read chunk by chunk as it arrives (FastAPI's
//! `request.stream()`), and [`Lines`], the same body line by line (NDJSON imports).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::contract::body::BodyFrames;
use crate::contract::request::{FromRequest, RequestHead};
use crate::response::error::BodyError;
use crate::response::error::{HttpError, InputError};

/// The request body, read chunk by chunk while the handler runs, instead of whole before
/// anything is set up (FastAPI's `request.stream()`).
///
/// A route with a `BodyStream` parameter (in its handler or in one of its dependencies) does
/// not read the body first: the chunks arrive as the client sends them, so a large upload is
/// never held in memory whole. The app's limits still hold while streaming: past
/// [`App::body_limit`](crate::App::body_limit) the stream yields [`BodyError::TooLarge`],
/// past the body deadline or under the minimum rate [`BodyError::TimedOut`], and when the
/// client goes away mid-body (or sends a malformed chunked encoding) [`BodyError::Incomplete`];
/// each converts with `?` into the response the runtime gives when it reads a body whole
/// (413, 408, 400), and the request's teardowns see that error as its outcome (so a
/// transaction rolls back). When the client went away (its connection closed, or its HTTP/2
/// stream reset), the teardowns are told
/// [`Cancelled`](crate::Outcome::Cancelled)`(`[`ClientGone`](crate::CancelReason::ClientGone)`)`
/// instead, whatever the handler answered: that answer reaches no one. After an error the
/// stream ends.
///
/// The body can be read once: a route that takes a `BodyStream` (or a
/// [`Multipart`](crate::Multipart)) cannot also take `Json`, `Form`, `Bytes` or another
/// `BodyStream`; [`App::check`](crate::App::check) refuses it, naming both. The body deadline
/// counts from when the body is first asked for (a slow setup before the handler reads it
/// takes none of its time), the time the handler spends between reads included.
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::BodyStream;
/// use futures_util::StreamExt;
///
/// #[depends]
/// async fn upload(mut body: BodyStream) -> Result<String, HttpError> {
///     let (mut chunks, mut bytes) = (0, 0);
///     while let Some(chunk) = body.next().await {
///         let chunk = chunk?; // 413, 408 or 400, as the runtime would answer
///         chunks += 1;
///         bytes += chunk.len();
///     }
///     Ok(format!("{bytes} bytes in {chunks} chunks"))
/// }
/// ```
pub struct BodyStream {
    /// `None` once the body has ended, or failed.
    frames: Option<BodyFrames>,
}

impl BodyStream {
    /// The body line by line (see [`Lines`]).
    pub fn lines(self) -> Lines {
        Lines {
            body: self,
            buffer: BytesMut::new(),
            scanned: 0,
            ended: false,
        }
    }

    /// Reads the rest of the body into one buffer (within the body limit).
    pub async fn to_bytes(mut self) -> Result<Bytes, BodyError> {
        let mut whole = BytesMut::new();
        while let Some(chunk) = self.next().await {
            whole.extend_from_slice(&chunk?);
        }
        Ok(whole.freeze())
    }

    /// Takes the request's unread body (for inputs built on the stream, like `Multipart`).
    pub(crate) fn take(head: &RequestHead, input: &str) -> Result<Self, Vec<InputError>> {
        match head.take_stream() {
            Some(frames) => Ok(Self {
                frames: Some(frames),
            }),
            // Only when the runtime did not plan the route for a streamed body (the input was
            // extracted by hand, or twice): a bug, not bad input.
            None => {
                tracing::error!(
                    target: "di",
                    input,
                    "the request body is not there to be streamed (already taken, or the route does not stream it)"
                );
                Err(vec![InputError::rejection(HttpError::internal())])
            }
        }
    }
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyStream")
            .field("ended", &self.frames.is_none())
            .finish()
    }
}

impl Stream for BodyStream {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(frames) = self.frames.as_mut() else {
            return Poll::Ready(None);
        };
        let item = std::task::ready!(frames.poll_next_unpin(cx));
        if !matches!(item, Some(Ok(_))) {
            // Ended or failed: nothing more is read.
            self.frames = None;
        }
        Poll::Ready(item)
    }
}

impl FromRequest for BodyStream {
    const STREAMS_BODY: bool = true;

    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        Self::take(head, "BodyStream")
    }
}

/// The request body line by line, from [`BodyStream::lines`]: each item is one line without
/// its `\n` (and without a `\r` before it), the last one also when the body does not end with
/// a newline. Empty lines are yielded too, so a line's number is its place in the stream.
///
/// A line is held in memory only until it is complete; no line can be longer than the body
/// limit.
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::BodyStream;
///
/// #[depends]
/// async fn import(body: BodyStream) -> Result<String, HttpError> {
///     let mut lines = body.lines();
///     let mut count = 0;
///     while let Some(line) = lines.next_line().await {
///         let line = line?;
///         if !line.is_empty() {
///             count += 1; // e.g. serde_json::from_slice::<Row>(&line)
///         }
///     }
///     Ok(count.to_string())
/// }
/// ```
pub struct Lines {
    body: BodyStream,
    /// Bytes received and not yet yielded.
    buffer: BytesMut,
    /// How much of `buffer` holds no newline (so a long line is scanned once).
    scanned: usize,
    ended: bool,
}

impl Lines {
    /// The next line, `None` at the end of the body.
    pub async fn next_line(&mut self) -> Option<Result<Bytes, BodyError>> {
        self.next().await
    }
}

impl std::fmt::Debug for Lines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lines")
            .field("buffered", &self.buffer.len())
            .field("ended", &self.ended)
            .finish()
    }
}

impl Stream for Lines {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(at) = this.buffer[this.scanned..].iter().position(|b| *b == b'\n') {
                let end = this.scanned + at;
                let mut line = this.buffer.split_to(end + 1);
                this.scanned = 0;
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                return Poll::Ready(Some(Ok(line.freeze())));
            }
            this.scanned = this.buffer.len();
            if this.ended {
                this.scanned = 0;
                if this.buffer.is_empty() {
                    return Poll::Ready(None);
                }
                return Poll::Ready(Some(Ok(this.buffer.split().freeze())));
            }
            match std::task::ready!(this.body.poll_next_unpin(cx)) {
                Some(Ok(chunk)) => this.buffer.extend_from_slice(&chunk),
                Some(Err(error)) => {
                    this.ended = true;
                    this.buffer.clear();
                    return Poll::Ready(Some(Err(error)));
                }
                None => this.ended = true,
            }
        }
    }
}
