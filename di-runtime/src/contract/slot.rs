//! Where resolved values live (a request's [`Slot`]s, the app's [`AppSlots`]) and the handles
//! that borrow them ([`Held`], [`HeldMut`]).
//!
//! Each value lives in one [`Cell`], allocated once: a plain function's result is moved into
//! it, a generator's `provide` moves its value into it, users borrow it through owned guards,
//! and a generator's teardown gets it back, with the outcome, through the same cell.

use std::any::Any;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Waker;

use futures_util::future::BoxFuture;
use parking_lot::lock_api::{ArcRwLockReadGuard, ArcRwLockWriteGuard};
use parking_lot::{RawRwLock, RwLock};

use crate::contract::outcome::Outcome;

/// A request input, extracted before setup.
pub(crate) type AnyValue = Box<dyn Any + Send>;

/// A dependency's value and, for a generator, the state of its hand-over.
pub(crate) struct Value<T> {
    pub(crate) value: Option<T>,
    /// Set by `provide`.
    pub(crate) provided: bool,
    /// The runtime's waker while it waits for `provide`.
    pub(crate) waker: Option<Waker>,
    /// Set by the runtime when the teardown starts: how the request ended.
    pub(crate) back: Option<Outcome>,
}

/// A value's own `Drop` may panic (a blocking client dropped inside the runtime does): it is
/// dropped inside a catch, and the panic logged, wherever its cell is let go of, so that it
/// never unwinds through a request's or a connection's task and what they still owe (the
/// teardowns, the response) is not lost with it.
impl<T> Drop for Value<T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            crate::panic::drop_logged(value, "a dependency's value");
        }
    }
}

impl<T> Value<T> {
    pub(crate) fn empty() -> Self {
        Self {
            value: None,
            provided: false,
            waker: None,
            back: None,
        }
    }
}

/// A value shared by reference: an [`RwLock`] so that `&T` and `&mut T` users can be handed
/// owned guards, which keep the value alive and stop teardown from taking it back early.
///
/// Every lock here is only tried, never waited for (the borrow check at start makes a failed
/// try a broken invariant, reported as a 500), so a lock whose uncontended try and release
/// are one atomic operation each is used (tokio's takes a mutex on every release).
pub(crate) type Cell<T> = RwLock<Value<T>>;

/// A new cell holding `value`.
pub(crate) fn cell_of<T: Send + Sync + 'static>(value: T) -> Arc<dyn BorrowCell> {
    Arc::new(RwLock::new(Value {
        value: Some(value),
        provided: false,
        waker: None,
        back: None,
    }))
}

/// A [`Cell`] of any type, as the runtime sees it.
pub(crate) trait BorrowCell: Send + Sync + 'static {
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;

    /// The cell as its typed `Arc` (`Arc<Cell<T>>`) in a box, which can be downcast by
    /// reference: no reference count moves to reach the typed cell (see [`AppSlots`]).
    fn into_typed(self: Arc<Self>) -> Box<dyn Any + Send + Sync>;

    /// Whether `provide` has handed the value over; if not, `waker` is woken when it does.
    fn poll_provided(&self, waker: &Waker) -> bool;

    /// Gives the value back to its generator with `outcome`, if no one borrows it now.
    fn try_hand_back(&self, outcome: Outcome) -> Result<(), Outcome>;

    /// Gives the value back once every borrower has let go.
    fn hand_back_later(self: Arc<Self>, outcome: Outcome) -> BoxFuture<'static, ()>;

    /// Drops the value where it stands, if no one borrows it (an `app`-scope plain value, at
    /// shutdown): a `Drop` that panics is logged.
    fn drop_value(&self);
}

impl<T: Send + Sync + 'static> BorrowCell for Cell<T> {
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn into_typed(self: Arc<Self>) -> Box<dyn Any + Send + Sync> {
        Box::new(self)
    }

    fn poll_provided(&self, waker: &Waker) -> bool {
        let Some(mut state) = self.try_write() else {
            // `provide` holds the lock for a moment, on another thread (awaited in a task the
            // generator spawned): look again at once, since it may have found no waker to wake.
            waker.wake_by_ref();
            return false;
        };
        if state.provided {
            return true;
        }
        if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
        false
    }

    fn drop_value(&self) {
        let Some(mut state) = self.try_write() else {
            tracing::warn!(target: "di", "an app value is still borrowed at shutdown (a `Held` kept by a task?): it is dropped last, after the teardowns");
            return;
        };
        let value = state.value.take();
        drop(state);
        crate::panic::drop_logged(value, "a dependency's value");
    }

    fn try_hand_back(&self, outcome: Outcome) -> Result<(), Outcome> {
        match self.try_write() {
            Some(mut state) => {
                state.back = Some(outcome);
                Ok(())
            }
            None => Err(outcome),
        }
    }

    /// Someone still holds the value after its scope ended (a `Held` kept past the body, in a
    /// task of the user's): try again every millisecond, within the teardown's deadline.
    fn hand_back_later(self: Arc<Self>, outcome: Outcome) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            loop {
                if let Some(mut state) = self.try_write() {
                    state.back = Some(outcome);
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        })
    }
}

/// One resolved value.
#[derive(Default)]
pub(crate) enum Slot {
    /// Not set up (yet).
    #[default]
    Empty,
    /// A value that is not `Sync` (a handler's response): boxed, never borrowed.
    Owned(AnyValue),
    /// A value in the cell its users borrow from.
    Filled(Arc<dyn BorrowCell>),
}

/// A broken internal invariant while handing values to a function. The graph check makes these
/// unreachable; if one happens anyway the request fails with a logged 500, never a panic.
#[derive(Debug)]
pub struct ArgError(pub(crate) String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

impl ArgError {
    /// The value of `name` is not in its slot. Like the other errors of a borrow, out of line
    /// and cold: they cannot happen once the graph is checked, and their formatting kept in
    /// every borrow's code would keep the borrow from being inlined.
    #[cold]
    #[inline(never)]
    pub(crate) fn not_available(name: &str) -> Self {
        ArgError(format!("the value of `{name}` is not available"))
    }

    /// The value of `name` is not of the type asked for.
    #[cold]
    #[inline(never)]
    fn unexpected_type(name: &str) -> Self {
        ArgError(format!("the value of `{name}` has an unexpected type"))
    }

    /// The value of `name` has been taken back by its teardown.
    #[cold]
    #[inline(never)]
    fn torn_down(name: &str) -> Self {
        ArgError(format!("`{name}` was already torn down"))
    }

    /// The value of `name` is borrowed in a way that excludes this borrow.
    #[cold]
    #[inline(never)]
    fn borrowed(name: &str, exclusive: bool) -> Self {
        ArgError(if exclusive {
            format!("`{name}` is borrowed elsewhere in this request")
        } else {
            format!("`{name}` is borrowed mutably elsewhere in this request")
        })
    }
}

/// The typed cell behind `cell`.
#[inline]
fn typed<T: Send + Sync + 'static>(
    cell: &Arc<dyn BorrowCell>,
    name: &str,
) -> Result<Arc<Cell<T>>, ArgError> {
    cell.clone()
        .into_any()
        .downcast::<Cell<T>>()
        .map_err(|_| ArgError::unexpected_type(name))
}

#[inline]
fn filled<'s>(
    slot: Option<&'s Arc<dyn BorrowCell>>,
    name: &str,
) -> Result<&'s Arc<dyn BorrowCell>, ArgError> {
    slot.ok_or_else(|| ArgError::not_available(name))
}

/// A shared borrow of the value in `cell`.
#[inline]
pub(crate) fn held<T: Send + Sync + 'static>(
    cell: Option<&Arc<dyn BorrowCell>>,
    name: &str,
) -> Result<Held<T>, ArgError> {
    held_typed(&typed::<T>(filled(cell, name)?, name)?, name)
}

/// A shared borrow of the value in a typed `cell`.
#[inline]
pub(crate) fn held_typed<T: Send + Sync + 'static>(
    cell: &Arc<Cell<T>>,
    name: &str,
) -> Result<Held<T>, ArgError> {
    let guard = cell
        .try_read_arc()
        .ok_or_else(|| ArgError::borrowed(name, false))?;
    if guard.value.is_none() {
        return Err(ArgError::torn_down(name));
    }
    Ok(Held { guard })
}

/// An exclusive borrow of the value in `cell`.
#[inline]
pub(crate) fn held_mut<T: Send + Sync + 'static>(
    cell: Option<&Arc<dyn BorrowCell>>,
    name: &str,
) -> Result<HeldMut<T>, ArgError> {
    let cell = typed::<T>(filled(cell, name)?, name)?;
    let guard = cell
        .try_write_arc()
        .ok_or_else(|| ArgError::borrowed(name, true))?;
    if guard.value.is_none() {
        return Err(ArgError::torn_down(name));
    }
    Ok(HeldMut { guard })
}

impl Slot {
    /// The cell of the value, moving a boxed `T` into a new one first.
    #[inline]
    pub(crate) fn share<T: Send + Sync + 'static>(
        &mut self,
    ) -> Result<Option<&Arc<dyn BorrowCell>>, ArgError> {
        if let Slot::Owned(_) = self {
            self.unbox::<T>()?;
        }
        Ok(match self {
            Slot::Filled(cell) => Some(cell),
            _ => None,
        })
    }

    /// Moves a boxed `T` into a new cell (out of line: a value that can be shared is kept in
    /// its cell from the start, see `Keep`).
    #[inline(never)]
    fn unbox<T: Send + Sync + 'static>(&mut self) -> Result<(), ArgError> {
        let Slot::Owned(value) = std::mem::take(self) else {
            return Ok(());
        };
        let value = value
            .downcast::<T>()
            .map_err(|_| ArgError("a value has an unexpected type".into()))?;
        *self = Slot::Filled(cell_of(*value));
        Ok(())
    }
}

/// A `request`- or `app`-scoped value owned by a response body.
///
/// Take it with `#[dep(f)] x: Held<T>` and move it into a [`StreamBody`](crate::StreamBody):
/// the value stays alive while the body streams, and its teardown starts only after the body
/// has been sent (or dropped by the server) and this handle is gone. Taking a `handler`-scoped
/// value this way does not compile: it is torn down before the body is sent. `T` is the type
/// the dependency provides, as its function returns it (`Held<String>` for a `String`): an
/// unsized `Held<str>` or `Held<[u8]>` does not compile, with an error saying which to write.
pub struct Held<T: 'static> {
    /// Its value is present: checked when the handle is made, and only a writer, which cannot
    /// exist while this guard does, takes it out.
    guard: ArcRwLockReadGuard<RawRwLock, Value<T>>,
}

/// The value under a guard: present for as long as the guard lives (see `Held::guard`).
fn present<T>(value: &Option<T>) -> &T {
    match value {
        Some(value) => value,
        None => unreachable!("a held value is taken out only under a write lock"),
    }
}

impl<T> Deref for Held<T> {
    type Target = T;
    fn deref(&self) -> &T {
        present(&self.guard.value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Held<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Held").field(&**self).finish()
    }
}

/// Like [`Held`], with exclusive access (`&mut T`), for values such as a database connection
/// that a streaming body reads from.
pub struct HeldMut<T: 'static> {
    /// Its value is present, as for [`Held`].
    guard: ArcRwLockWriteGuard<RawRwLock, Value<T>>,
}

impl<T> Deref for HeldMut<T> {
    type Target = T;
    fn deref(&self) -> &T {
        present(&self.guard.value)
    }
}

impl<T> DerefMut for HeldMut<T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.guard.value {
            Some(value) => value,
            None => unreachable!("a held value is taken out only under a write lock"),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for HeldMut<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HeldMut").field(&**self).finish()
    }
}

/// The typed cell in one of [`AppSlots`]'s boxes.
fn as_typed<T: Send + Sync + 'static>(
    cell: &Box<dyn Any + Send + Sync>,
) -> Result<&Arc<Cell<T>>, ArgError> {
    cell.downcast_ref::<Arc<Cell<T>>>()
        .ok_or_else(|| ArgError("a value has an unexpected type".into()))
}

/// The values of `app`-scoped dependencies, shared by all requests: each set once at start,
/// then only read (no lock on the request path). A value that came back boxed (not from
/// `Keep`: a hand-written `Started::plain`) is moved into its cell, under a lock, on its
/// first borrow, and read without one from then on.
pub(crate) struct AppSlots {
    /// Each value's cell as its typed `Arc` (see [`BorrowCell::into_typed`]): a borrow clones
    /// it once, where an erased `Arc` would be cloned to be downcast and then dropped. The
    /// cells are shared by every worker, so each count moved is a write to a cache line they
    /// all use.
    cells: Vec<OnceLock<Box<dyn Any + Send + Sync>>>,
    /// The same cells as the runtime sees them, to drop their values at shutdown.
    erased: Vec<OnceLock<Arc<dyn BorrowCell>>>,
    boxed: Vec<Mutex<Slot>>,
}

impl AppSlots {
    /// `count` empty slots.
    pub(crate) fn new(count: usize) -> Self {
        Self {
            cells: (0..count).map(|_| OnceLock::new()).collect(),
            erased: (0..count).map(|_| OnceLock::new()).collect(),
            boxed: (0..count).map(|_| Mutex::new(Slot::Empty)).collect(),
        }
    }

    /// The cell of app value `index`, if it was set up; an error if it does not hold a `T`.
    #[inline]
    pub(crate) fn get<T: Send + Sync + 'static>(
        &self,
        index: usize,
    ) -> Result<Option<&Arc<Cell<T>>>, ArgError> {
        match self.cells.get(index).and_then(OnceLock::get) {
            Some(cell) => as_typed(cell).map(Some),
            None => self.get_first::<T>(index),
        }
    }

    /// [`AppSlots::get`] for a value not in its cell yet: a boxed value moves into its cell on
    /// its first borrow.
    #[cold]
    fn get_first<T: Send + Sync + 'static>(
        &self,
        index: usize,
    ) -> Result<Option<&Arc<Cell<T>>>, ArgError> {
        let Some(cell) = self.cells.get(index) else {
            return Ok(None);
        };
        let mut boxed = self.boxed[index]
            .lock()
            .map_err(|_| ArgError("an app value lock was poisoned".into()))?;
        if let Some(shared) = boxed.share::<T>()? {
            let _ = self.erased[index].set(shared.clone());
            let _ = cell.set(shared.clone().into_typed());
            *boxed = Slot::Empty;
        }
        cell.get().map(as_typed).transpose()
    }

    /// Drops app value `index` where it stands (at shutdown, in reverse order of setup), if no
    /// one borrows it; a `Drop` that panics is logged.
    pub(crate) fn drop_value(&self, index: usize) {
        if let Some(slot) = self.boxed.get(index) {
            let taken = std::mem::take(&mut *slot.lock().unwrap_or_else(|e| e.into_inner()));
            crate::panic::drop_logged(taken, "a dependency's value");
        }
        if let Some(cell) = self.erased.get(index).and_then(OnceLock::get) {
            cell.drop_value();
        }
    }

    /// Stores the value of app slot `index` (once).
    pub(crate) fn store(&self, index: usize, value: Slot) -> Result<(), ArgError> {
        let missing = || ArgError(format!("no app value {index}"));
        match value {
            Slot::Filled(shared) => {
                let erased = self.erased.get(index).ok_or_else(missing)?;
                let _ = erased.set(shared.clone());
                self.cells
                    .get(index)
                    .ok_or_else(missing)?
                    .set(shared.into_typed())
                    .map_err(|_| ArgError(format!("app value {index} was set twice")))
            }
            boxed => {
                let slot = self.boxed.get(index).ok_or_else(missing)?;
                *slot
                    .lock()
                    .map_err(|_| ArgError("an app value lock was poisoned".into()))? = boxed;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boxed_app_value_is_moved_into_its_cell_on_first_borrow() {
        let app = AppSlots::new(3);
        app.store(0, Slot::Owned(Box::new(7u32))).unwrap();
        app.store(1, Slot::Filled(cell_of(String::from("shared"))))
            .unwrap();
        for _ in 0..2 {
            let seven = held_typed::<u32>(app.get::<u32>(0).unwrap().expect("set"), "seven");
            assert_eq!(*seven.unwrap(), 7);
            let text = held_typed::<String>(app.get::<String>(1).unwrap().expect("set"), "text");
            assert_eq!(&*text.unwrap(), "shared");
        }
        assert!(app.get::<u64>(1).is_err(), "another type");
        assert!(app.get::<u32>(2).unwrap().is_none(), "not set up");
        assert!(app.get::<u32>(5).unwrap().is_none(), "no such value");
    }
}
