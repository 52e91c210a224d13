//! The request body's deadline and minimum rate: [`Deadline`] wraps a request body being read
//! and fails it with [`BodyTimedOut`] when the whole body has not arrived by the deadline, or
//! when, after a grace period, it arrives slower than the minimum rate.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::response::body::BoxError;

/// The slowest rate at which a request body may arrive, after a grace period.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MinRate {
    /// Bytes per second, counted from the first read (the body's first poll); 0 turns the
    /// check off.
    pub(crate) bytes_per_second: u64,
    /// How long the rate is not checked, from the first read.
    pub(crate) grace: Duration,
}

/// The error a [`Deadline`] body fails with: the client sent its body too slowly.
#[derive(Debug)]
pub(crate) struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body was not received in time")
    }
}

impl std::error::Error for BodyTimedOut {}

pin_project_lite::pin_project! {
    /// A request body that fails with [`BodyTimedOut`] once `deadline` has passed, or once,
    /// after the grace period, fewer bytes have arrived than the minimum rate asks for. One
    /// timer, set to the first moment one of the two can fail.
    pub(crate) struct Deadline<B> {
        #[pin]
        inner: B,
        // Where the minimum rate and the deadline count from: the first poll, when the body
        // is first asked for (hyper sends `100 Continue` then), not the routing, which may be
        // a slow setup earlier (a streamed body is read by the handler).
        start: Instant,
        polled: bool,
        // Whether the body was found waiting on the poll before, with nothing come since: it
        // is failed as late only then (see `poll_frame`).
        asked: bool,
        // The minimum rate counts from the first byte instead (see `rate_from_first_byte`); until
        // then only the deadline holds.
        rate_from_first_byte: bool,
        deadline: Instant,
        rate: MinRate,
        received: u64,
        #[pin]
        timer: Sleep,
    }
}

impl<B> Deadline<B> {
    pub(crate) fn new(inner: B, limit: Duration, rate: MinRate) -> Self {
        let start = Instant::now();
        let deadline = start + limit;
        let mut this = Self {
            inner,
            start,
            polled: false,
            asked: false,
            rate_from_first_byte: false,
            deadline,
            rate,
            received: 0,
            timer: tokio::time::sleep_until(deadline),
        };
        // Not registered with the timer driver until it is first polled.
        this.timer = tokio::time::sleep_until(this.next_check());
        this
    }

    /// The minimum rate counts from the body's first byte rather than its first poll: for a
    /// client that may wait, after being asked, before it sends (an HTTP/2 request with
    /// `Expect: 100-continue`: hyper's HTTP/2 never sends the `100`, so the client sends once
    /// it has waited long enough for it). The deadline still counts from the start.
    pub(crate) fn rate_from_first_byte(mut self, yes: bool) -> Self {
        self.rate_from_first_byte = yes;
        self
    }

    /// Whether the minimum rate is checked yet.
    fn rate_counts(&self) -> bool {
        self.rate.bytes_per_second > 0 && !(self.rate_from_first_byte && self.received == 0)
    }

    /// The first moment the body can be late: the deadline, or the moment the bytes received
    /// so far fall under the minimum rate (never before the grace period ends).
    fn next_check(&self) -> Instant {
        if !self.rate_counts() {
            return self.deadline;
        }
        let covered =
            Duration::from_secs_f64(self.received as f64 / self.rate.bytes_per_second as f64);
        let slow = self.start + covered.max(self.rate.grace);
        slow.min(self.deadline)
    }

    /// Whether the body is late at `now`.
    fn late(&self, now: Instant) -> bool {
        if now >= self.deadline {
            return true;
        }
        let elapsed = now.duration_since(self.start);
        self.rate_counts()
            && elapsed > self.rate.grace
            && (self.received as f64) < self.rate.bytes_per_second as f64 * elapsed.as_secs_f64()
    }
}

impl<B> Body for Deadline<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.as_mut().project();
        if !*this.polled {
            // The read begins: the deadline counts from here, as the minimum rate does. A
            // body first asked for after a slow setup (a streamed body read by the handler) is
            // not late for the time the setup took: a client that waits for `100 Continue`,
            // sent only now, could not have sent a byte of it before.
            *this.polled = true;
            let now = Instant::now();
            *this.deadline = now + (*this.deadline - *this.start);
            *this.start = now;
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                *this.asked = false;
                if let Some(data) = frame.data_ref() {
                    if *this.rate_from_first_byte && *this.received == 0 && data.has_remaining() {
                        *this.start = Instant::now();
                    }
                    *this.received += data.remaining() as u64;
                }
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        // Waiting for the client: the timer is set (and registered) only now, so a body that
        // arrives without a wait costs no timer at all.
        let asked_before = std::mem::replace(self.as_mut().project().asked, true);
        loop {
            let now = Instant::now();
            let mut next = self.next_check();
            if next <= now {
                if self.late(now) {
                    if !asked_before {
                        // Asked for again after its deadline, after a frame (a handler that
                        // read part of a streamed body, then worked past the deadline before
                        // it asked for more): the connection, which
                        // reads the socket only for a body asked for, is given a turn to read
                        // what is there first, the end of a client that has gone included.
                        // Failed as late at once, the body would be a 408 for a client that
                        // left long before (its teardowns seeing a handler error instead of
                        // the client gone), the frames it sent before it left read one turn
                        // at a time. A body still waiting after that turn is late.
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
                }
                // The bytes so far cover exactly the time so far: a moment more.
                next = now + Duration::from_millis(1);
            }
            let mut timer = self.as_mut().project().timer;
            if timer.deadline() != next {
                timer.as_mut().reset(next);
            }
            std::task::ready!(timer.poll(cx));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::poll_fn;

    use bytes::Bytes;

    use super::*;

    /// A body that never sends anything.
    struct Silent;

    impl Body for Silent {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_body_polled_again_while_it_waits_still_fails_at_its_deadline() {
        let off = MinRate {
            bytes_per_second: 0,
            grace: Duration::ZERO,
        };
        let mut body = std::pin::pin!(Deadline::new(Silent, Duration::from_millis(20), off));
        // Polled while waiting, again and again with one waker: it still wakes the task and
        // fails at the deadline (a poll skipped on the belief that its timer is registered
        // would miss it).
        for _ in 0..3 {
            let waiting = poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx).is_pending()));
            assert!(waiting.await);
        }
        let end = poll_fn(|cx| body.as_mut().poll_frame(cx)).await;
        assert!(matches!(end, Some(Err(error)) if error.is::<BodyTimedOut>()));
    }
}
