//! Small frames that are ready together leave in one: the server's response bodies gather
//! the data frames their body has ready at once, up to [`GATHER_BYTES`], before hyper writes
//! them.
//!
//! hyper writes each data frame as a chunk of its own (and as an HTTP/2 DATA frame), and in
//! HTTP/1 flushes every 16 buffers: a stream of 100 short NDJSON lines, all ready, costs 100
//! chunk headers and 7 writes. Gathered, it is a chunk or two and one write. Nothing waits to
//! be gathered: the frame leaves as soon as the body is pending, or has ended, or the next
//! frame would not fit; a large frame goes as it is, uncopied.
//!
//! Only the server gathers: an app called as a `tower::Service`, and the test client, see each
//! of the body's frames as it was made. Chunk boundaries carry no meaning in HTTP (a proxy
//! may re-chunk a body); the bytes sent are the same.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

use crate::response::body::BoxError;

/// A frame gathers data frames up to this many bytes...
const GATHER_BYTES: usize = 16 * 1024;
/// ...and this many frames (empty ones included, so that a body of endless empty frames
/// still hands each gathered frame over).
const GATHER_FRAMES: usize = 64;

pin_project_lite::pin_project! {
    /// A response body whose data frames ready at once are sent as one (see the module docs).
    pub(crate) struct Gathered<B> {
        #[pin]
        inner: B,
        // The inner body has ended: it is not polled again.
        ended: bool,
        // A frame polled while gathering that did not go into the gathered one: one that would
        // have made it too large, trailers, or an error. Sent next. Boxed: rare, and a frame is
        // large (it may be trailers), while every response moves its body around.
        held: Option<Box<Held>>,
        // The body's error was held back for one poll (see `defer_error`).
        deferred: bool,
    }
}

/// What [`Gathered`] holds back for its next poll.
type Held = Result<Frame<Bytes>, BoxError>;

impl<B> Gathered<B> {
    pub(crate) fn new(inner: B) -> Self {
        Self {
            inner,
            ended: false,
            held: None,
            deferred: false,
        }
    }

    /// `inner`, to be sent without a frame of it (the response to a HEAD): ended before its
    /// first poll, while its size hint stays the body's (for `Content-Length`).
    pub(crate) fn unsent(inner: B) -> Self {
        Self {
            inner,
            ended: true,
            held: None,
            deferred: false,
        }
    }
}

impl<B> Body for Gathered<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let polled = match this.held.take() {
            Some(held) => *held,
            None if *this.ended => return Poll::Ready(None),
            None => match std::task::ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(polled) => polled.map_err(Into::into),
                None => {
                    *this.ended = true;
                    return Poll::Ready(None);
                }
            },
        };
        // Sent as it is (moved once: a frame is large) unless it is small data with more to
        // come: trailers, an error, a large frame, the last one (a whole body's only one).
        let more = !this.inner.is_end_stream();
        let first = match polled {
            Ok(frame)
                if more
                    && frame
                        .data_ref()
                        .is_some_and(|data| data.len() < GATHER_BYTES) =>
            {
                match frame.into_data() {
                    Ok(data) => data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                }
            }
            Err(error) if !*this.deferred => {
                *this.deferred = true;
                return defer_error(error, this.held, cx);
            }
            polled => return Poll::Ready(Some(polled)),
        };
        Poll::Ready(Some(Ok(Frame::data(gather(
            first, this.inner, this.ended, this.held, cx,
        )))))
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && (self.ended || self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let held = match self.held.as_deref() {
            Some(Ok(frame)) => frame.data_ref().map_or(0, |data| data.len() as u64),
            Some(Err(_)) => 0,
            None => return self.inner.size_hint(),
        };
        let inner = if self.ended {
            SizeHint::with_exact(0)
        } else {
            self.inner.size_hint()
        };
        plus(inner, held)
    }
}

/// Holds the body's `error` back for one poll, waking the task at once: the error makes the
/// connection drop what it still buffers (hyper's HTTP/1 closes the connection without
/// flushing its write buffer, h2 clears the stream's queue when it resets it), and the frames
/// the body yielded before it, the response head with them, would never reach the client.
/// In the poll between, hyper's HTTP/1 flushes its buffer to the socket, and the HTTP/2
/// connection task, woken by the frames queued, sends them. Only when a body fails.
#[cold]
#[inline(never)]
fn defer_error<T>(
    error: BoxError,
    held: &mut Option<Box<Held>>,
    cx: &mut Context<'_>,
) -> Poll<Option<T>> {
    *held = Some(Box::new(Err(error)));
    cx.waker().wake_by_ref();
    Poll::Pending
}

/// `hint` with `more` bytes, held back from the body it hints at, added to both its bounds.
pub(crate) fn plus(hint: SizeHint, more: u64) -> SizeHint {
    let mut sum = SizeHint::new();
    sum.set_lower(hint.lower().saturating_add(more));
    if let Some(upper) = hint.upper() {
        sum.set_upper(upper.saturating_add(more));
    }
    sum
}

/// `first` and the data frames `inner` has ready after it, as one (see the module docs); a
/// frame that does not go in is left in `held`. Apart from the poll: most bodies send one frame
/// and never come here.
#[inline(never)]
fn gather<B>(
    first: Bytes,
    mut inner: Pin<&mut B>,
    ended: &mut bool,
    held: &mut Option<Box<Held>>,
    cx: &mut Context<'_>,
) -> Bytes
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut gathered: Option<BytesMut> = None;
    for _ in 1..GATHER_FRAMES {
        let frame = match inner.as_mut().poll_frame(cx) {
            Poll::Pending => break,
            Poll::Ready(None) => {
                *ended = true;
                break;
            }
            Poll::Ready(Some(Err(error))) => {
                *held = Some(Box::new(Err(error.into())));
                break;
            }
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        let data = match frame.into_data() {
            Ok(data) => data,
            Err(trailers) => {
                *held = Some(Box::new(Ok(trailers)));
                break;
            }
        };
        let len = gathered.as_ref().map_or(first.len(), BytesMut::len);
        if len + data.len() > GATHER_BYTES {
            *held = Some(Box::new(Ok(Frame::data(data))));
            break;
        }
        let into = gathered.get_or_insert_with(|| {
            let mut into = BytesMut::with_capacity((4 * (len + data.len())).min(GATHER_BYTES));
            into.extend_from_slice(&first);
            into
        });
        into.extend_from_slice(&data);
        if inner.is_end_stream() {
            break;
        }
    }
    gathered.map_or(first, BytesMut::freeze)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// What a scripted body answers to each poll, in order; `None` once the script is done.
    type Step = Poll<Option<Result<Frame<Bytes>, BoxError>>>;

    /// A body that answers polls from a script, and records how often it was polled after it
    /// ended.
    struct Scripted {
        steps: VecDeque<Step>,
        polled_after_end: usize,
        done: bool,
        /// Whether `is_end_stream` says so before the poll that ends it (as a body of a known
        /// length does), or only after.
        tells_end: bool,
    }

    impl Scripted {
        fn new(steps: impl IntoIterator<Item = Step>) -> Self {
            Self {
                steps: steps.into_iter().collect(),
                polled_after_end: 0,
                done: false,
                tells_end: false,
            }
        }

        fn telling_its_end(mut self) -> Self {
            self.tells_end = true;
            self
        }
    }

    impl Body for Scripted {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            if self.done {
                self.polled_after_end += 1;
                return Poll::Ready(None);
            }
            match self.steps.pop_front() {
                Some(Poll::Ready(None)) | None => {
                    self.done = true;
                    Poll::Ready(None)
                }
                Some(step) => step,
            }
        }

        fn is_end_stream(&self) -> bool {
            self.done
                || (self.tells_end && matches!(self.steps.front(), Some(Poll::Ready(None)) | None))
        }
    }

    fn data(text: &str) -> Step {
        Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(
            text.as_bytes(),
        )))))
    }

    fn end() -> Step {
        Poll::Ready(None)
    }

    /// Polls `body` once with a no-op waker.
    fn poll(body: &mut Gathered<Scripted>) -> Step {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        Pin::new(body).poll_frame(&mut cx)
    }

    /// The data of a polled frame.
    fn text(step: Step) -> String {
        match step {
            Poll::Ready(Some(Ok(frame))) => {
                String::from_utf8(frame.into_data().expect("a data frame").to_vec()).unwrap()
            }
            other => panic!("expected a data frame, got {}", describe(&other)),
        }
    }

    fn describe(step: &Step) -> &'static str {
        match step {
            Poll::Pending => "pending",
            Poll::Ready(None) => "the end",
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => "trailers",
            Poll::Ready(Some(Ok(_))) => "data",
            Poll::Ready(Some(Err(_))) => "an error",
        }
    }

    #[test]
    fn frames_ready_together_leave_as_one_and_the_end_is_known_with_it() {
        let mut body = Gathered::new(Scripted::new([
            data("a\n"),
            data("b\n"),
            data("c\n"),
            end(),
        ]));
        assert_eq!(text(poll(&mut body)), "a\nb\nc\n");
        assert!(body.is_end_stream());
        assert!(matches!(poll(&mut body), Poll::Ready(None)));
        assert_eq!(body.inner.polled_after_end, 0);
    }

    #[test]
    fn a_body_that_tells_its_end_is_not_polled_for_it_while_gathering() {
        let mut body = Gathered::new(
            Scripted::new([data("a"), data("b"), end(), data("never")]).telling_its_end(),
        );
        assert_eq!(text(poll(&mut body)), "ab");
        assert!(body.is_end_stream());
        assert_eq!(body.inner.steps.len(), 2, "the end was not polled");
        assert!(matches!(poll(&mut body), Poll::Ready(None)));
        assert!(matches!(poll(&mut body), Poll::Ready(None)));
        assert_eq!(body.inner.polled_after_end, 0);
    }

    #[test]
    fn a_frame_leaves_as_soon_as_the_body_is_pending() {
        let mut body = Gathered::new(Scripted::new([
            data("a"),
            Poll::Pending,
            data("b"),
            data("c"),
            // One ends the gathering of "bc", the next is the body's answer to the next poll.
            Poll::Pending,
            Poll::Pending,
            end(),
        ]));
        assert_eq!(text(poll(&mut body)), "a");
        assert!(!body.is_end_stream());
        assert_eq!(text(poll(&mut body)), "bc");
        assert!(matches!(poll(&mut body), Poll::Pending));
        assert!(matches!(poll(&mut body), Poll::Ready(None)));
        assert!(body.is_end_stream());
    }

    #[test]
    fn a_frame_that_would_not_fit_is_sent_next_and_a_large_one_as_it_is() {
        let half = "x".repeat(GATHER_BYTES / 2);
        let large = "y".repeat(GATHER_BYTES + 1);
        let mut body = Gathered::new(Scripted::new([
            data(&half),
            data("z"),
            data(&half),
            data(&large),
            data("after"),
            end(),
        ]));
        assert_eq!(text(poll(&mut body)), format!("{half}z"));
        assert_eq!(text(poll(&mut body)), half);
        assert_eq!(text(poll(&mut body)), large);
        assert_eq!(text(poll(&mut body)), "after");
        assert!(body.is_end_stream());
    }

    #[test]
    fn at_most_so_many_frames_are_gathered() {
        let many = (0..GATHER_FRAMES + 1)
            .map(|_| data(""))
            .chain([data("last"), end()]);
        let mut body = Gathered::new(Scripted::new(many));
        assert_eq!(text(poll(&mut body)), "");
        assert_eq!(text(poll(&mut body)), "last");
        assert!(body.is_end_stream());
    }

    #[test]
    fn an_error_follows_the_data_before_it() {
        let mut body = Gathered::new(Scripted::new([
            data("a"),
            data("b"),
            Poll::Ready(Some(Err("the stream failed".into()))),
            data("never"),
        ]));
        assert_eq!(text(poll(&mut body)), "ab");
        assert!(!body.is_end_stream());
        // Held back one poll, in which the connection sends what it buffers.
        assert!(matches!(poll(&mut body), Poll::Pending));
        match poll(&mut body) {
            Poll::Ready(Some(Err(error))) => assert_eq!(error.to_string(), "the stream failed"),
            other => panic!("expected the error, got {}", describe(&other)),
        }
    }

    #[test]
    fn trailers_are_not_gathered() {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-checksum", http::HeaderValue::from_static("1"));
        let mut body = Gathered::new(Scripted::new([
            data("a"),
            Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            end(),
        ]));
        assert_eq!(text(poll(&mut body)), "a");
        match poll(&mut body) {
            Poll::Ready(Some(Ok(frame))) => assert!(frame.is_trailers()),
            other => panic!("expected trailers, got {}", describe(&other)),
        }
        assert!(matches!(poll(&mut body), Poll::Ready(None)));
    }

    #[test]
    fn an_unsent_body_ends_at_once_and_keeps_its_size_hint() {
        struct Sized(u64);
        impl Body for Sized {
            type Data = Bytes;
            type Error = BoxError;
            fn poll_frame(
                self: Pin<&mut Self>,
                _cx: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
                panic!("an unsent body is never polled")
            }
            fn size_hint(&self) -> SizeHint {
                SizeHint::with_exact(self.0)
            }
        }
        let mut body = Gathered::unsent(Sized(15));
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(15));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(matches!(
            Pin::new(&mut body).poll_frame(&mut cx),
            Poll::Ready(None)
        ));
    }

    #[test]
    fn the_size_hint_counts_a_held_frame() {
        let mut body = Gathered::new(Scripted::new([data("a"), data(&"b".repeat(GATHER_BYTES))]));
        assert_eq!(text(poll(&mut body)), "a");
        assert_eq!(body.size_hint().lower(), GATHER_BYTES as u64);
    }
}
