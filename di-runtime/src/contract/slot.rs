//! Where resolved values live (a request's [`Slot`]s, the app's [`AppSlots`]) and the handles
//! that borrow them ([`Held`], [`HeldMut`]).

use std::any::Any;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use tokio::sync::{OwnedRwLockMappedWriteGuard, OwnedRwLockReadGuard, RwLock};

use crate::contract::provide::AnyValue;

type Cell<T> = RwLock<Option<T>>;

/// A value shared by reference: an [`RwLock`] so that `&T` and `&mut T` users can be handed
/// owned guards, which keep the value alive and stop teardown from taking it back early.
pub(crate) trait BorrowCell: Send + Sync + 'static {
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// Takes the value out once every borrower has let go (the teardown's `provide` returns it).
    fn take(self: Arc<Self>) -> BoxFuture<'static, Option<AnyValue>>;
}

impl<T: Send + Sync + 'static> BorrowCell for Cell<T> {
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn take(self: Arc<Self>) -> BoxFuture<'static, Option<AnyValue>> {
        Box::pin(async move { self.write().await.take().map(|v| Box::new(v) as AnyValue) })
    }
}

/// One resolved value.
#[derive(Default)]
pub(crate) enum Slot {
    #[default]
    Empty,
    /// As produced; moved into a shared cell by the first user that borrows it.
    Owned(AnyValue),
    Borrowed(Arc<dyn BorrowCell>),
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

impl Slot {
    fn cell<T: Send + Sync + 'static>(&mut self, name: &str) -> Result<Arc<Cell<T>>, ArgError> {
        let wrong_type = || ArgError(format!("the value of `{name}` has an unexpected type"));
        match std::mem::take(self) {
            Slot::Empty => Err(ArgError(format!("the value of `{name}` is not available"))),
            Slot::Owned(value) => {
                let value = value.downcast::<T>().map_err(|_| wrong_type())?;
                let cell = Arc::new(RwLock::new(Some(*value)));
                *self = Slot::Borrowed(cell.clone());
                Ok(cell)
            }
            Slot::Borrowed(shared) => {
                *self = Slot::Borrowed(shared.clone());
                shared
                    .into_any()
                    .downcast::<Cell<T>>()
                    .map_err(|_| wrong_type())
            }
        }
    }

    pub(crate) fn held<T: Send + Sync + 'static>(
        &mut self,
        name: &str,
    ) -> Result<Held<T>, ArgError> {
        let cell = self.cell::<T>(name)?;
        let guard = cell.try_read_owned().map_err(|_| {
            ArgError(format!(
                "`{name}` is borrowed mutably elsewhere in this request"
            ))
        })?;
        OwnedRwLockReadGuard::try_map(guard, Option::as_ref)
            .map(|guard| Held { guard })
            .map_err(|_| ArgError(format!("`{name}` was already torn down")))
    }

    pub(crate) fn held_mut<T: Send + Sync + 'static>(
        &mut self,
        name: &str,
    ) -> Result<HeldMut<T>, ArgError> {
        let cell = self.cell::<T>(name)?;
        let guard = cell
            .try_write_owned()
            .map_err(|_| ArgError(format!("`{name}` is borrowed elsewhere in this request")))?;
        tokio::sync::OwnedRwLockWriteGuard::try_map(guard, Option::as_mut)
            .map(|guard| HeldMut { guard })
            .map_err(|_| ArgError(format!("`{name}` was already torn down")))
    }

    /// Takes the value out for its teardown, waiting until every borrower has let go.
    pub(crate) async fn take(self) -> Option<AnyValue> {
        match self {
            Slot::Empty => None,
            Slot::Owned(value) => Some(value),
            Slot::Borrowed(shared) => shared.take().await,
        }
    }
}

impl Slot {
    /// What `copy` makes of the value (a clone, for a by-value `T` parameter), under a brief
    /// shared borrow.
    pub(crate) fn copied<T: Send + Sync + 'static, R>(
        &mut self,
        name: &str,
        copy: impl FnOnce(&T) -> R,
    ) -> Result<R, ArgError> {
        if let Slot::Owned(value) = self {
            return value
                .downcast_ref::<T>()
                .map(copy)
                .ok_or_else(|| ArgError(format!("the value of `{name}` has an unexpected type")));
        }
        let held = self.held::<T>(name)?;
        Ok(copy(&held))
    }
}

/// A `request`- or `app`-scoped value owned by a response body.
///
/// Take it with `#[dep(f)] x: Held<T>` and move it into a [`StreamBody`](crate::StreamBody):
/// the value stays alive while the body streams, and its teardown starts only after the body
/// has been sent (or dropped by the server) and this handle is gone. Taking a `handler`-scoped
/// value this way does not compile: it is torn down before the body is sent.
pub struct Held<T: 'static> {
    guard: OwnedRwLockReadGuard<Option<T>, T>,
}

impl<T> Deref for Held<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for Held<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Held").field(&*self.guard).finish()
    }
}

/// Like [`Held`], with exclusive access (`&mut T`), for values such as a database connection
/// that a streaming body reads from.
pub struct HeldMut<T: 'static> {
    guard: OwnedRwLockMappedWriteGuard<Option<T>, T>,
}

impl<T> Deref for HeldMut<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for HeldMut<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for HeldMut<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HeldMut").field(&*self.guard).finish()
    }
}

/// The values of `app`-scoped dependencies, shared by all requests.
pub(crate) struct AppSlots {
    slots: Vec<Mutex<Slot>>,
}

impl AppSlots {
    /// `count` empty slots.
    pub(crate) fn new(count: usize) -> Self {
        Self {
            slots: (0..count).map(|_| Mutex::new(Slot::Empty)).collect(),
        }
    }

    pub(crate) fn with<R>(
        &self,
        index: usize,
        f: impl FnOnce(&mut Slot) -> Result<R, ArgError>,
    ) -> Result<R, ArgError> {
        let slot = self
            .slots
            .get(index)
            .ok_or_else(|| ArgError(format!("no app value {index}")))?;
        let mut slot = slot
            .lock()
            .map_err(|_| ArgError("an app value lock was poisoned".into()))?;
        f(&mut slot)
    }

    /// Stores the value of app slot `index`.
    pub(crate) fn store(&self, index: usize, slot: Slot) -> Result<(), ArgError> {
        self.with(index, |current| {
            *current = slot;
            Ok(())
        })
    }

    /// Takes the value of app slot `index` out, for its teardown.
    pub(crate) fn take(&self, index: usize) -> Slot {
        self.with(index, |slot| Ok(std::mem::take(slot)))
            .unwrap_or_default()
    }
}
