//! [`HeldStream`]: a stream that owns a [`Held`] or [`HeldMut`] handle and a stream borrowing
//! its value, such as a database cursor reading from a held connection.
//!
//! A stream that borrows `&mut T` cannot be stored next to the `HeldMut<T>` it borrows from
//! in a plain struct (it would refer to itself). An `async` block can hold both, so the
//! handle and the borrowing stream live in one boxed future that hands each item over
//! through a shared slot and pauses until the next one is asked for.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use futures_util::StreamExt;
use futures_util::stream::{BoxStream, FusedStream};
use parking_lot::Mutex;

use crate::contract::slot::{Held, HeldMut};

/// A stream owning a [`HeldMut`] (or [`Held`]) handle and a stream that borrows its value,
/// made by [`HeldMut::stream`] (or [`Held::stream`]).
///
/// It yields the borrowing stream's items. When that stream ends (or this one is dropped),
/// the handle is dropped, so the dependency's teardown starts only after the last item; put
/// it in a [`StreamBody`](crate::StreamBody) and that is after the last byte was sent.
#[must_use = "a stream does nothing unless polled"]
pub struct HeldStream<I> {
    /// Where the driver leaves each item for `poll_next` to take.
    slot: Arc<Mutex<Option<I>>>,
    /// Owns the handle and the borrowing stream; `None` once it has finished.
    driver: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl<T: Send + Sync + 'static> HeldMut<T> {
    /// A stream of the items of the stream `f` makes from `&mut T`, which keeps this handle
    /// (and so the dependency's value) until that stream has ended.
    ///
    /// The one-liner for streaming a query over a `request`-scoped connection: `f` borrows
    /// the connection for as long as the stream runs; the connection goes back (the
    /// dependency's teardown runs) after the last row, or when the client goes away. `f` runs
    /// at the first poll; it returns a [`BoxStream`] (`.boxed()`), as `sqlx`'s `fetch` does.
    ///
    /// It is an associated function (`HeldMut::stream(conn, f)`), so that it never hides a
    /// method of `T`.
    ///
    /// ```
    /// use di_runtime::prelude::*;
    /// use futures_util::{StreamExt, stream};
    ///
    /// struct Conn { rows: Vec<u32> }          // stands in for a database connection
    ///
    /// #[depends]
    /// async fn conn(y: Yield<Conn>) {
    ///     let (_conn, _outcome) = y.provide(Conn { rows: vec![1, 2, 3] }).await;
    ///     // torn down after the body's last byte
    /// }
    ///
    /// #[depends]
    /// async fn export(
    ///     #[dep(conn)] conn: HeldMut<Conn>,
    /// ) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send> {
    ///     let lines = HeldMut::stream(conn, |conn: &mut Conn| {
    ///         stream::iter(conn.rows.iter_mut())
    ///             .map(|row| Ok(format!("{row}\n")))
    ///             .boxed()
    ///     });
    ///     StreamBody::new(lines)
    /// }
    /// # let _ = App::new().get("/export", export);
    /// ```
    pub fn stream<I, F>(this: Self, f: F) -> HeldStream<I>
    where
        I: Send + 'static,
        F: for<'a> FnOnce(&'a mut T) -> BoxStream<'a, I> + Send + 'static,
    {
        HeldStream::drive(this, move |held: &mut HeldMut<T>| f(held))
    }
}

impl<T: Send + Sync + 'static> Held<T> {
    /// Like [`HeldMut::stream`], for a stream that borrows `&T`.
    ///
    /// ```
    /// use di_runtime::Held;
    /// use futures_util::{StreamExt, stream};
    ///
    /// fn lines(words: Held<Vec<String>>) -> impl futures_util::Stream<Item = String> {
    ///     Held::stream(words, |words: &Vec<String>| stream::iter(words).map(|w| format!("{w}\n")).boxed())
    /// }
    /// ```
    pub fn stream<I, F>(this: Self, f: F) -> HeldStream<I>
    where
        I: Send + 'static,
        F: for<'a> FnOnce(&'a T) -> BoxStream<'a, I> + Send + 'static,
    {
        HeldStream::drive(this, move |held: &mut Held<T>| f(held))
    }
}

impl<I: Send + 'static> HeldStream<I> {
    /// Moves `handle` into a future that runs the stream `f` borrows from it, handing each
    /// item over through the slot and pausing after each one.
    fn drive<H, F>(handle: H, f: F) -> Self
    where
        H: Send + 'static,
        F: for<'a> FnOnce(&'a mut H) -> BoxStream<'a, I> + Send + 'static,
    {
        let slot = Arc::new(Mutex::new(None));
        let out = Arc::clone(&slot);
        let driver = async move {
            let mut handle = handle;
            let mut items = f(&mut handle);
            while let Some(item) = items.next().await {
                *out.lock() = Some(item);
                Paused(false).await;
            }
            // The borrowing stream first, then the handle: the teardown may start.
            drop(items);
            drop(handle);
        };
        Self {
            slot,
            driver: Some(Box::pin(driver)),
        }
    }
}

/// Pending once, without waking: `HeldStream::poll_next` takes the item just left in the
/// slot and returns it, and its next call polls the driver again, which goes on from here.
struct Paused(bool);

impl Future for Paused {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

impl<I> Stream for HeldStream<I> {
    type Item = I;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<I>> {
        let this = self.get_mut();
        let Some(driver) = this.driver.as_mut() else {
            return Poll::Ready(None);
        };
        let finished = driver.as_mut().poll(cx).is_ready();
        if finished {
            this.driver = None;
        }
        match this.slot.lock().take() {
            Some(item) => Poll::Ready(Some(item)),
            None if finished => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}

impl<I> FusedStream for HeldStream<I> {
    fn is_terminated(&self) -> bool {
        self.driver.is_none()
    }
}

impl<I> fmt::Debug for HeldStream<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldStream")
            .field("finished", &self.driver.is_none())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures_util::stream::{self, FusedStream};
    use futures_util::{FutureExt, StreamExt};

    use super::HeldStream;

    /// Records its own drop, as a handle's drop lets the teardown start.
    struct Handle {
        rows: Vec<u32>,
        dropped: Arc<AtomicBool>,
    }

    impl Drop for Handle {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn yields_each_item_then_drops_the_handle_and_ends_fused() {
        let dropped = Arc::new(AtomicBool::new(false));
        let handle = Handle {
            rows: vec![1, 2, 3],
            dropped: Arc::clone(&dropped),
        };
        let mut items = HeldStream::drive(handle, |h: &mut Handle| {
            stream::iter(h.rows.iter_mut()).map(|r| *r * 10).boxed()
        });
        assert!(!items.is_terminated());
        for expected in [10, 20, 30] {
            assert_eq!(items.next().now_or_never(), Some(Some(expected)));
            assert!(!dropped.load(Ordering::SeqCst), "held until the end");
        }
        assert_eq!(items.next().now_or_never(), Some(None));
        assert!(dropped.load(Ordering::SeqCst), "dropped at the end");
        assert!(items.is_terminated());
        assert_eq!(items.next().now_or_never(), Some(None));
    }

    #[test]
    fn dropping_the_stream_early_drops_the_handle() {
        let dropped = Arc::new(AtomicBool::new(false));
        let handle = Handle {
            rows: vec![1, 2, 3],
            dropped: Arc::clone(&dropped),
        };
        let mut items = HeldStream::drive(handle, |h: &mut Handle| {
            stream::iter(h.rows.iter().copied()).boxed()
        });
        assert_eq!(items.next().now_or_never(), Some(Some(1)));
        drop(items);
        assert!(dropped.load(Ordering::SeqCst));
    }
}
