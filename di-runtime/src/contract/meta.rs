//! What `#[depends]` generates code against: the description of a dependency ([`DepMeta`],
//! [`Param`]), the traits its outputs meet, and [`Args`], through which a started function
//! takes its arguments. Hidden from the docs; only the macro uses it.

use std::any::TypeId;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_util::future::BoxFuture;

use crate::contract::doc::{DescribeFn, Doc};
use crate::contract::provide::Yield;
use crate::contract::request::{FromRequest, RequestHead};
use crate::contract::scope::Scope;
use crate::contract::slot::{
    AnyValue, AppSlots, ArgError, BorrowCell, Held, HeldMut, Slot, cell_of, held, held_mut,
    held_typed,
};
use crate::panic::{Panic, catch_call};
use crate::response::body::Response;
use crate::response::error::{HttpError, InputError};
#[cfg(feature = "axum")]
use crate::response::into::error_from_axum_response;
use crate::response::into::{IntoResponse, error_from_response};

/// Implemented by `#[depends]` for the unit struct that stands for a function.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `#[depends]` function",
    label = "expected the name of an `async fn` marked `#[depends]`",
    note = "add `#[di_runtime::depends]` to the function, and name it here by its path"
)]
pub trait Dependency: Send + Sync + 'static {
    /// The value the function provides: its return value, or the `T` of its `Yield<T>`.
    type Output: Send + 'static;

    /// The static description of the function.
    fn meta() -> &'static DepMeta;

    /// The type itself (`Self`), which generated code names as `<f as Dependency>::Itself`
    /// for [`Args::shared`] (and `exclusive`, `cloned`): a path given there as a generic
    /// argument (`shared::<f, _>`) could be read as a constant, and one that names a plain
    /// function or a constant was reported twice.
    ///
    /// Unbounded: a bound here would be proved at the impl, and report again there an output
    /// that the impl's `Output` already reports.
    type Itself;
}

/// The argument type of the function item `#[depends]` leaves in the value namespace.
///
/// `#[depends] async fn tx(..)` becomes a struct `tx {}` (the type that `#[dep(tx)]` names)
/// and a function `fn tx(never: UseAsDepOrCall<tx>) -> UseAsDepOrCall<tx>`, so that
/// `App::get(path, tx)` can find the struct from the function by type inference.
/// `UseAsDepOrCall` cannot be built, so that function can never be called; the user's function
/// is `tx::call`.
///
/// The name is what a user who calls `tx()` reads in rustc's errors ("argument of type
/// `UseAsDepOrCall<tx>` is missing", "`UseAsDepOrCall<tx>` is not a future"): use `tx` as a
/// dependency (`#[dep(tx)]`), or call it as `tx::call(..)`. A `#[diagnostic]` attribute cannot
/// say more here: those errors come from the call's arity and from `Future`, not from a trait
/// of ours.
pub struct UseAsDepOrCall<D>(std::convert::Infallible, std::marker::PhantomData<D>);

impl<D> UseAsDepOrCall<D> {
    /// Unreachable: a `UseAsDepOrCall` cannot exist.
    pub fn unreachable(self) -> ! {
        match self.0 {}
    }
}

/// A function item made by `#[depends]`: it stands for the dependency `D`.
///
/// Only the first implementation holds for a function: the one `#[depends]` leaves in the
/// value namespace. The second holds for nothing (no function takes a `NotADepFn`); it is
/// there so that rustc, given two candidates, reports this trait's own message at the
/// argument for a function without `#[depends]`, rather than committing to the first and
/// reporting its `Fn` bound's arity or argument mismatch (E0593, E0631) inside the library.
/// The third is for `f()` written where `f` was meant: rustc reports the call's missing
/// argument (of type `UseAsDepOrCall<f>`) there, and this trait adds no second error telling
/// to mark a function `#[depends]` that is.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `#[depends]` function",
    label = "not marked `#[depends]`: add `#[depends]` above its `async fn`",
    note = "a route's handler, a dependency of an app or a group and an override are `async fn`s marked `#[di_runtime::depends]`, named by their path: `App::new().get(\"/\", hello)`",
    note = "if a local variable or a parameter has the function's name, it hides the function here: rename one of them"
)]
pub trait DepFn<D> {}

impl<F, D> DepFn<D> for F
where
    F: Fn(UseAsDepOrCall<D>) -> UseAsDepOrCall<D>,
    D: Dependency,
{
}

/// See [`DepFn`]: a type no function takes, so that its implementation holds for nothing.
pub struct NotADepFn<D>(std::convert::Infallible, std::marker::PhantomData<D>);

impl<F, D> DepFn<NotADepFn<D>> for F where F: Fn(NotADepFn<D>) -> NotADepFn<D> {}

#[diagnostic::do_not_recommend]
impl<D: Dependency> DepFn<D> for UseAsDepOrCall<D> {}

/// Implemented by `#[depends]` for every function that is not declared `handler`-scoped, so
/// that a response body may hold its value.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is `handler`-scoped, so a response body cannot hold its value",
    label = "torn down before the response body is sent",
    note = "a `handler`-scoped dependency is torn down when the handler returns, before the first byte of the body is sent",
    note = "make it live until the body is sent: declare it `#[depends(scope = \"request\")]`, or take it at this use with `#[dep({Self}, scope = \"request\")]` (a separate instance), or copy what the body needs out of it in the handler"
)]
pub trait CanBeHeld: Dependency {}

/// The static description of a `#[depends]` function.
#[derive(Debug)]
pub struct DepMeta {
    /// The function's name.
    pub name: &'static str,
    /// `module_path!()` where it is defined.
    pub module: &'static str,
    /// Its path, `module::name`: how messages name it when the app has another function of
    /// the same name (the app's own `tx` beside a library's).
    pub path: &'static str,
    /// The scope it declares; `None` for a plain function that did not declare one.
    pub scope: Option<Scope>,
    /// Whether it takes a `Yield<T>`.
    pub generator: bool,
    /// `max_concurrency = N`: at most `N` instances set up at once in the whole app, each
    /// holding its place until its teardown has finished.
    pub max_concurrency: Option<usize>,
    /// Its parameters in order.
    pub params: &'static [Param],
    /// Starts the function with its arguments.
    pub run: RunFn,
    /// The identity of the unit struct.
    pub type_id: fn() -> TypeId,
    /// What the OpenAPI document says of it (feature `openapi`).
    pub doc: Doc,
}

/// Starts a function with arguments taken from the request.
pub type RunFn = fn(&mut Args<'_>) -> Result<Started, ArgError>;

/// Extracts one request input.
pub type ExtractFn = fn(&RequestHead) -> Result<AnyValue, Vec<InputError>>;

/// One parameter of a `#[depends]` function.
#[derive(Debug)]
pub struct Param {
    /// For messages and `App::graph`: the parameter's name (`_` for a pattern), or for a request
    /// input its type as written (`Json<NewNote>`, `&HeaderMap`).
    pub name: &'static str,
    /// What it receives.
    pub kind: ParamKind,
}

/// What a parameter receives.
#[derive(Debug)]
pub enum ParamKind {
    /// The value of another `#[depends]` function.
    Dep {
        /// That function's description.
        meta: fn() -> &'static DepMeta,
        /// The scope forced at this use (`#[dep(f, scope = "...")]`).
        scope: Option<Scope>,
        /// `#[dep(f, fresh)]`: a new instance, not the cached one.
        fresh: bool,
        /// How the value is taken.
        access: Access,
    },
    /// `#[depends(uses(f))]`: the function `f` runs as a dependency of this one, before its
    /// parameters' dependencies, for its side effect or its teardown; no argument takes its
    /// value. Listed after the function's own parameters.
    Uses {
        /// That function's description.
        meta: fn() -> &'static DepMeta,
    },
    /// A request input taken by value.
    Input {
        /// Extracts it.
        extract: ExtractFn,
        /// Whether it needs the body.
        needs_body: bool,
        /// Whether it reads the body as a stream.
        streams_body: bool,
        /// Whether it is the app's, not a request's ([`FromRequest::APP_INPUT`]): an
        /// `app`-scoped dependency may take it.
        ///
        /// [`FromRequest::APP_INPUT`]: crate::contract::request::FromRequest::APP_INPUT
        app_input: bool,
        /// What it is, for the OpenAPI document.
        describe: DescribeFn,
    },
    /// A request input taken by reference (`&HeaderMap`, ...).
    HeadRef,
    /// The `Yield<T>` of a generator.
    Yield,
}

/// How a dependency's value is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `&T`
    Shared,
    /// `&mut T`
    Exclusive,
    /// `T`, cloned.
    Cloned,
    /// `Held<T>`
    Held,
    /// `HeldMut<T>`
    HeldMut,
}

impl Access {
    pub(crate) fn is_exclusive(self) -> bool {
        matches!(self, Access::Exclusive | Access::HeldMut)
    }

    pub(crate) fn is_held(self) -> bool {
        matches!(self, Access::Held | Access::HeldMut)
    }
}

/// A started function: a plain one resolving to its value, or a generator that will hand its
/// value over through its `Yield`.
pub struct Started(pub(crate) StartedKind);

pub(crate) enum StartedKind {
    /// Resolves to the value: in its cell, or boxed when it cannot be shared. `None` when a
    /// function whose body cannot wait, boxed because setups are traced (its span times the
    /// poll), waited all the same at that one poll, as [`StartedKind::Waited`].
    Plain(BoxFuture<'static, Option<Result<Slot, HttpError>>>),
    Generator(BoxFuture<'static, Result<(), HttpError>>),
    /// A plain function whose body has no `.await` (see [`KeepShared::plain_now`]), run to its
    /// end where it was started: its value or error, or its panic. Nothing boxed.
    Ended(Result<Result<Slot, HttpError>, Panic>),
    /// Such a function that did not end at its first poll after all: it waited inside a macro
    /// that the macro took for one that cannot wait. It was dropped there; the setup fails.
    Waited,
    /// A route's handler that ran to its end where it was started, its value already made
    /// the response, which is in [`Answer::made`].
    Answered,
    /// A route's handler that waits: resolves to its value made the response (see
    /// [`Args::answer`]).
    Responding(BoxFuture<'static, Result<Answered, HttpError>>),
}

/// What a route's handler's value became.
pub(crate) enum Answered {
    /// The response, or the panic of the value's `IntoResponse`.
    Made(Result<Response, Panic>),
    /// A value of another type than the route's (which the route's plan rules out), kept as
    /// any other.
    Kept(Slot),
}

impl Started {
    /// A plain function's future, whose value is kept boxed (see [`Keep`] for the choice).
    pub fn plain<T, F>(future: F) -> Self
    where
        T: Send + 'static,
        F: Future<Output = Result<T, HttpError>> + Send + 'static,
    {
        Self::boxed(future, |value| Slot::Owned(Box::new(value)))
    }

    /// A generator's future: setup, `provide`, teardown.
    pub fn generator<F>(future: F) -> Self
    where
        F: Future<Output = Result<(), HttpError>> + Send + 'static,
    {
        Started(StartedKind::Generator(Box::pin(future)))
    }

    fn boxed<T, F>(future: F, keep: fn(T) -> Slot) -> Self
    where
        T: Send + 'static,
        F: Future<Output = Result<T, HttpError>> + Send + 'static,
    {
        Started(StartedKind::Plain(Box::pin(async move {
            Some(future.await.map(keep))
        })))
    }

    /// [`Started::boxed`], or for a route's handler (see [`Args::answer`]) its value made the
    /// response where its future ends.
    fn boxed_for<T, F>(args: &Args<'_>, future: F, keep: fn(T) -> Slot) -> Self
    where
        T: Send + 'static,
        F: Future<Output = Result<T, HttpError>> + Send + 'static,
    {
        match &args.answer {
            Some(answer) => {
                let respond = answer.respond;
                Started(StartedKind::Responding(Box::pin(async move {
                    future.await.map(|value| answer_with(value, respond, keep))
                })))
            }
            None => Self::boxed(future, keep),
        }
    }

    /// A plain function whose body has no `.await`, so that it ends at its first poll: polled
    /// here, on the stack, instead of boxed for the setup to poll; boxed when `args` say not to
    /// run it at once (setups are traced: their span and log line time the poll), and polled
    /// once there too.
    fn now<T, F>(args: &Args<'_>, future: F, keep: fn(T) -> Slot) -> Self
    where
        T: Send + 'static,
        F: Future<Output = Result<T, HttpError>> + Send + 'static,
    {
        if !args.at_once {
            return Started(StartedKind::Plain(Box::pin(async move {
                let mut future = std::pin::pin!(future);
                std::future::poll_fn(|cx| {
                    Poll::Ready(match future.as_mut().poll(cx) {
                        Poll::Ready(result) => Some(result.map(keep)),
                        Poll::Pending => None,
                    })
                })
                .await
            })));
        }
        let mut future = std::pin::pin!(future);
        let mut cx = Context::from_waker(Waker::noop());
        Started(match catch_call(|| future.as_mut().poll(&mut cx)) {
            Ok(Poll::Ready(result)) => match (result, &args.answer) {
                (Ok(value), Some(answer)) => answer.take(value, keep),
                (result, _) => StartedKind::Ended(Ok(result.map(keep))),
            },
            Ok(Poll::Pending) => StartedKind::Waited,
            Err(panic) => StartedKind::Ended(Err(panic)),
        })
    }
}

/// A route's `IntoResponse` for its handler's value type `T`: takes the value out of an
/// `Option<T>` and makes it the response; `None`, the value left where it is, for any other
/// type.
pub(crate) type Respond = fn(&mut dyn std::any::Any) -> Option<Response>;

/// How a route's handler hands over its value: made the response by `respond`, it is never
/// put into a cell or a box to be taken out again.
pub(crate) struct Answer<'a> {
    pub(crate) respond: Respond,
    /// Where a handler that ran to its end where it was started leaves the response, or the
    /// panic of the value's `IntoResponse`.
    pub(crate) made: &'a std::cell::Cell<Option<Result<Response, Panic>>>,
}

impl Answer<'_> {
    /// `value` made the response, kept in [`Answer::made`].
    fn take<T: 'static>(&self, value: T, keep: fn(T) -> Slot) -> StartedKind {
        match answer_with(value, self.respond, keep) {
            Answered::Made(made) => {
                self.made.set(Some(made));
                StartedKind::Answered
            }
            Answered::Kept(value) => StartedKind::Ended(Ok(Ok(value))),
        }
    }
}

/// `value` made the response by `respond` (a panic of its `IntoResponse` caught), or kept by
/// `keep` if it is not of the route's type.
fn answer_with<T: 'static>(value: T, respond: Respond, keep: fn(T) -> Slot) -> Answered {
    let mut value = Some(value);
    match catch_call(|| respond(&mut value)) {
        Ok(Some(response)) => Answered::Made(Ok(response)),
        Err(panic) => Answered::Made(Err(panic)),
        Ok(None) => Answered::Kept(value.map_or(Slot::Empty, keep)),
    }
}

/// Chooses, by a plain function's value type, where its value is kept: a value that can be
/// shared (`Sync`) goes straight into the cell its users borrow from (one allocation), any
/// other (a handler's streaming response) is boxed. Generated code calls
/// `(&Keep::<D>::new()).plain(args, future)` (or `plain_now`), `D` the function's
/// [`Dependency`], with [`KeepShared`] and [`KeepBoxed`] in scope: method resolution picks
/// `KeepShared` when `D::Output: Sync` holds (the types are concrete there). A route's
/// handler's value is neither: it is made the response (see `Args::answer`).
///
/// Named by `D`, not by its value's type: `D::Output: Send + 'static` is then the
/// [`Dependency`] impl's to prove, so a value that is not `Send` is reported once, at the
/// function's return type, and not again here.
pub struct Keep<D>(std::marker::PhantomData<fn() -> D>);

impl<D> Keep<D> {
    /// The chooser for `D`.
    pub const fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<D> Default for Keep<D> {
    fn default() -> Self {
        Self::new()
    }
}

/// See [`Keep`]: a value that can be shared goes into its cell.
pub trait KeepShared<D: Dependency> {
    /// A plain function's future.
    fn plain<F>(&self, args: &Args<'_>, future: F) -> Started
    where
        F: Future<Output = Result<D::Output, HttpError>> + Send + 'static;

    /// The future of a plain function whose body has no `.await` (and no macro that could
    /// hide one), which therefore ends at its first poll: run at once, nothing boxed, when
    /// `args` allow it.
    fn plain_now<F>(&self, args: &Args<'_>, future: F) -> Started
    where
        F: Future<Output = Result<D::Output, HttpError>> + Send + 'static;
}

impl<D: Dependency> KeepShared<D> for Keep<D>
where
    D::Output: Sync,
{
    fn plain<F>(&self, args: &Args<'_>, future: F) -> Started
    where
        F: Future<Output = Result<D::Output, HttpError>> + Send + 'static,
    {
        Started::boxed_for(args, future, |value| Slot::Filled(cell_of(value)))
    }

    fn plain_now<F>(&self, args: &Args<'_>, future: F) -> Started
    where
        F: Future<Output = Result<D::Output, HttpError>> + Send + 'static,
    {
        Started::now(args, future, |value| Slot::Filled(cell_of(value)))
    }
}

/// See [`Keep`]: any other value is boxed. Implemented for every [`Dependency`], whose value
/// is `Send` (a value that is not is reported at the function's return type, not as a
/// method that was not found).
pub trait KeepBoxed<D: Dependency> {
    /// A plain function's future.
    fn plain<F>(&self, args: &Args<'_>, future: F) -> Started
    where
        F: Future<Output = Result<D::Output, HttpError>> + Send + 'static;

    /// See [`KeepShared::plain_now`].
    fn plain_now<F>(&self, args: &Args<'_>, future: F) -> Started
    where
        F: Future<Output = Result<D::Output, HttpError>> + Send + 'static;
}

impl<D: Dependency> KeepBoxed<D> for &Keep<D> {
    fn plain<F>(&self, args: &Args<'_>, future: F) -> Started
    where
        F: Future<Output = Result<D::Output, HttpError>> + Send + 'static,
    {
        Started::boxed_for(args, future, |value| Slot::Owned(Box::new(value)))
    }

    fn plain_now<F>(&self, args: &Args<'_>, future: F) -> Started
    where
        F: Future<Output = Result<D::Output, HttpError>> + Send + 'static,
    {
        Started::now(args, future, |value| Slot::Owned(Box::new(value)))
    }
}

/// Where an argument comes from, decided when the route's graph is built.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ArgSource {
    Slot(usize),
    App(usize),
    Input(usize),
    /// An input that is the app's ([`FromRequest::APP_INPUT`]), taken by an `app`-scoped
    /// dependency: extracted from the head when the function is started.
    ///
    /// [`FromRequest::APP_INPUT`]: crate::contract::request::FromRequest::APP_INPUT
    AppInput(ExtractFn),
    Head,
    Yield,
}

/// The arguments of one function call during a request.
pub struct Args<'a> {
    pub(crate) name: &'static str,
    pub(crate) sources: &'a [ArgSource],
    pub(crate) slots: &'a mut [Slot],
    pub(crate) app: &'a AppSlots,
    /// The request's extracted inputs, each taken once.
    pub(crate) inputs: &'a mut [Slot],
    pub(crate) head: &'a Arc<RequestHead>,
    /// A generator's cell, made by [`Args::provider`].
    pub(crate) yield_cell: Option<Arc<dyn BorrowCell>>,
    /// Whether a function that cannot wait is run where it is started (see
    /// [`KeepShared::plain_now`]): when setups are not traced.
    pub(crate) at_once: bool,
    /// For a route's handler: its value is made the response where it is returned (at once,
    /// into [`Answer::made`], or where its boxed future ends), not kept.
    pub(crate) answer: Option<Answer<'a>>,
    /// Set when handing over an argument panicked (a `Clone` of a value taken by value): the
    /// function is not started, and its setup ends `Panicked`.
    pub(crate) panicked: Option<crate::panic::Panic>,
}

impl Args<'_> {
    /// The cell of request value `index` (a boxed value is moved into a cell on its first
    /// borrow); `app` values are borrowed through [`AppSlots::get`].
    fn cell<T: Send + Sync + 'static>(
        &mut self,
        index: usize,
    ) -> Result<Option<&Arc<dyn BorrowCell>>, ArgError> {
        match self.sources.get(index) {
            Some(ArgSource::Slot(i)) => {
                let slot = self.slots.get_mut(*i);
                Ok(slot.map(|s| s.share::<T>()).transpose()?.flatten())
            }
            _ => Err(ArgError(format!(
                "argument {index} of `{}` is not a dependency",
                self.name
            ))),
        }
    }

    /// `&T` (and `Held<T>`): a shared borrow of the value `T` of the dependency `D`.
    ///
    /// Generated code names both, `D` as `<f as Dependency>::Itself` and `T` as
    /// `<f as Dependency>::Output` spanned at the parameter's type: a value that is not `Sync`
    /// is reported there, once. `T: Send` is not asked here: it is the [`Dependency`] impl's
    /// to prove, and is reported (once) at the dependency's return type.
    pub fn shared<D, T>(&mut self, index: usize) -> Result<Held<T>, ArgError>
    where
        D: Dependency<Output = T>,
        T: Sync,
    {
        self.shared_of::<D>(index)
    }

    fn shared_of<D: Dependency>(&mut self, index: usize) -> Result<Held<D::Output>, ArgError>
    where
        D::Output: Sync,
    {
        let name = self.name;
        match self.sources.get(index) {
            Some(ArgSource::App(i)) => match self.app.get::<D::Output>(*i)? {
                Some(cell) => held_typed(cell, name),
                None => Err(ArgError::not_available(name)),
            },
            _ => held(self.cell::<D::Output>(index)?, name),
        }
    }

    /// `&mut T` (and `HeldMut<T>`): an exclusive borrow of the value `T` of the dependency
    /// `D` (see [`Args::shared`]).
    pub fn exclusive<D, T>(&mut self, index: usize) -> Result<HeldMut<T>, ArgError>
    where
        D: Dependency<Output = T>,
        T: Sync,
    {
        self.exclusive_of::<D>(index)
    }

    fn exclusive_of<D: Dependency>(&mut self, index: usize) -> Result<HeldMut<D::Output>, ArgError>
    where
        D::Output: Sync,
    {
        let name = self.name;
        if let Some(ArgSource::App(_)) = self.sources.get(index) {
            return Err(ArgError(format!(
                "`{name}` cannot borrow an app value mutably"
            )));
        }
        held_mut(self.cell::<D::Output>(index)?, name)
    }

    /// `T`: a clone of the value `T` of the dependency `D` (see [`Args::shared`]), as the
    /// parameter's type `P` (which must be `T`), made under a brief shared borrow.
    pub fn cloned<D, T, P>(&mut self, index: usize) -> Result<P, ArgError>
    where
        D: Dependency<Output = T>,
        T: Sync + 'static,
        P: FromDepValue<T>,
    {
        let shared = self.shared_of::<D>(index)?;
        // The value's `Clone`, a user's, may panic.
        let cloned = crate::panic::catch_call(|| P::from_dep_value(&*shared));
        drop(shared);
        cloned.map_err(|panic| {
            self.panicked = Some(panic);
            ArgError(format!("a clone for `{}` panicked", self.name))
        })
    }

    /// A request input extracted before setup began.
    pub fn input<T: 'static>(&mut self, index: usize) -> Result<T, ArgError> {
        let missing = || {
            ArgError(format!(
                "input {index} of `{}` was not extracted",
                self.name
            ))
        };
        let value = match self.sources.get(index) {
            Some(ArgSource::Input(i)) => match self.inputs.get_mut(*i).map(std::mem::take) {
                Some(Slot::Owned(value)) => value,
                _ => return Err(missing()),
            },
            // Reads nothing of a request: it cannot fail (`Shutdown`), and a problem would
            // be one of the app, not of a client's input.
            Some(ArgSource::AppInput(extract)) => extract(self.head).map_err(|_| {
                ArgError(format!(
                    "input {index} of `{}` could not be read outside a request",
                    self.name
                ))
            })?,
            _ => return Err(missing()),
        };
        value.downcast::<T>().map(|v| *v).map_err(|_| missing())
    }

    /// The request head, for inputs taken by reference.
    pub fn head(&self) -> Arc<RequestHead> {
        self.head.clone()
    }

    /// The `Yield<T>` of the generator `D` (see [`Args::shared`] for why both are named).
    pub fn provider<D, T>(&mut self) -> Yield<T>
    where
        D: Dependency<Output = T>,
        T: Sync,
    {
        self.provider_of::<D>()
    }

    fn provider_of<D: Dependency>(&mut self) -> Yield<D::Output>
    where
        D::Output: Sync,
    {
        let (y, cell) = Yield::new();
        self.yield_cell = Some(cell);
        y
    }
}

/// Extracts a request input (a generic function the macro takes a pointer to).
pub fn extract<T: FromRequest>(head: &RequestHead) -> Result<AnyValue, Vec<InputError>> {
    T::from_request(head).map(|v| Box::new(v) as AnyValue)
}

/// The parameter type of a dependency taken by value (`#[dep(f)] x: T`): it must be the
/// dependency's value type `T`, which is cloned.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a clone of this dependency's `{T}`",
    label = "taken by value: this must be `{T}`, and `{T}` must implement `Clone`",
    note = "take the value as `{T}` (cloned), `&{T}`, `&mut {T}`, `Held<{T}>` or `HeldMut<{T}>`",
    note = "`Held` and `HeldMut` are recognised by their names: write them out, not through a type alias"
)]
pub trait FromDepValue<T>: Sized {
    /// The parameter's value made from the dependency's.
    fn from_dep_value(value: &T) -> Self;
}

impl<T: Clone> FromDepValue<T> for T {
    fn from_dep_value(value: &T) -> Self {
        value.clone()
    }
}

/// Implemented only by [`Yield`]: checks that a parameter whose type is named `Yield` is this
/// crate's, not a user type of the same name.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `di_runtime::Yield`, but `#[depends]` reads a parameter type named `Yield` as the generator's handle",
    label = "read as `di_runtime::Yield<T>`",
    note = "if this is your own type, import it under another name (`use my_crate::Yield as MyYield;`) and write that here"
)]
pub trait IsYield {}

impl<T> IsYield for Yield<T> {}

/// Implemented only by [`Held`] and [`HeldMut`]: checks that a `#[dep]` parameter whose type is
/// named `Held`/`HeldMut` is this crate's handle.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `di_runtime::Held`/`HeldMut`, but `#[depends]` reads a `#[dep]` parameter type named `Held` or `HeldMut` as a handle on the dependency's value",
    label = "read as `di_runtime::Held<T>` or `di_runtime::HeldMut<T>`",
    note = "if this is your own type, import it under another name (`use my_crate::Held as MyHeld;`) and write that here"
)]
pub trait IsHeld {}

impl<T> IsHeld for Held<T> {}
impl<T> IsHeld for HeldMut<T> {}

/// A compile-time check that `T` is the type a parameter's name says (see [`IsYield`],
/// [`IsHeld`]).
pub const fn assert_is_yield<T: IsYield>() {}

/// See [`assert_is_yield`].
pub const fn assert_is_held<T: IsHeld>() {}

/// Implemented only by `&'static T`: a `#[dep]` parameter `&'static T` borrows the dependency's
/// value for ever, which only a value that is itself a `&'static T` allows.
#[diagnostic::on_unimplemented(
    message = "a `#[dep]` parameter cannot borrow the value `{Self}` for `'static`: the app lends it for the call only",
    label = "the dependency's value is `{Self}`, not a `&'static` reference",
    note = "write the parameter as `&{Self}`, without `'static`; to keep the value past the call, take `Held<{Self}>` or a clone"
)]
pub trait StaticBorrow {}

impl<T: ?Sized> StaticBorrow for &'static T {}

/// A check that a `#[dep]` parameter `&'static T` borrows a value that is a `&'static T` (see
/// `StaticBorrow`).
pub const fn assert_static_borrow<T: StaticBorrow>() {}

/// The result of a plain function read as a `Result<T, E>`: names its `T`. How its error
/// becomes an [`HttpError`] is chosen by [`DepResult`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `Result`",
    note = "a return type whose name ends in `Result` is read as a `Result` or an alias of one; if `{Self}` is a plain value, return it under another name (`type Found = {Self};`)"
)]
pub trait IntoDepResult {
    /// The success value.
    type Ok;
    /// The error.
    type Err;
    /// The `Result` it is.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
}

impl<T, E> IntoDepResult for Result<T, E> {
    type Ok = T;
    type Err = E;
    fn into_result(self) -> Result<T, E> {
        self
    }
}

/// Chooses how the error of a function's `Result<T, E>` becomes the [`HttpError`] that fails
/// the request, in this order:
///
/// 1. an [`HttpError`] is kept as it is ([`ErrorViaHttp`]);
/// 2. an error type that implements [`IntoResponse`] (as axum's handlers take) is the response
///    it makes ([`ErrorViaResponse`]), even when it is also a `std::error::Error`: a
///    `thiserror` enum with its own `IntoResponse` answers what that says, not a 500;
/// 3. with the cargo feature `axum`, an error type that implements axum's
///    `IntoResponse` (`axum_core::response::IntoResponse`, the impl an axum app's error enum
///    already has) is the response that impl makes ([`ErrorViaAxumResponse`]), again before
///    its being a `std::error::Error`;
/// 4. any other error converts with `Into<HttpError>` ([`ErrorViaInto`]): a
///    `std::error::Error` is a 500, a type with `From<E> for HttpError` what that gives.
///
/// Generated code calls `(&&&&DepResult::of(&r)).dep_result(r)` with the four traits in
/// scope: method resolution tries `&&&DepResult` (1), then `&&DepResult` (2), then
/// `&DepResult` (3), then `DepResult` (4), and takes the first whose bounds hold (the types
/// are concrete there). The last one's bound is on its method, so that a type that is none
/// of these gets [`DepError`]'s message.
pub struct DepResult<R>(std::marker::PhantomData<fn() -> R>);

impl<R> DepResult<R> {
    /// The chooser for `R`.
    pub const fn new() -> Self {
        Self(std::marker::PhantomData)
    }

    /// The chooser for the type of `result` (which may be unnameable: `impl Trait` in it).
    pub const fn of(_result: &R) -> Self {
        Self::new()
    }
}

impl<R> Default for DepResult<R> {
    fn default() -> Self {
        Self::new()
    }
}

/// See [`DepResult`]: an [`HttpError`], kept as it is.
pub trait ErrorViaHttp<T> {
    /// The result as it is.
    fn dep_result(&self, result: Result<T, HttpError>) -> Result<T, HttpError>;
}

impl<T> ErrorViaHttp<T> for &&&DepResult<Result<T, HttpError>> {
    fn dep_result(&self, result: Result<T, HttpError>) -> Result<T, HttpError> {
        result
    }
}

/// See [`DepResult`]: an error that is a response.
pub trait ErrorViaResponse<T, E> {
    /// The result, its error made into its response.
    fn dep_result(&self, result: Result<T, E>) -> Result<T, HttpError>;
}

impl<T, E: IntoResponse> ErrorViaResponse<T, E> for &&DepResult<Result<T, E>> {
    fn dep_result(&self, result: Result<T, E>) -> Result<T, HttpError> {
        result.map_err(|error| error_from_response(error.into_response()))
    }
}

/// See [`DepResult`]: an error that is an axum response (cargo feature `axum`; without it the
/// trait has no implementation, and method resolution passes over it).
pub trait ErrorViaAxumResponse<T, E> {
    /// The result, its error made into the response its axum `IntoResponse` impl makes.
    fn dep_result(&self, result: Result<T, E>) -> Result<T, HttpError>;
}

/// The bound is on `Result<(), E>`, not on `E`: it holds for every `E` that is axum's
/// `IntoResponse`, and for axum's `ErrorResponse` too (the error of `axum::response::Result<T>`,
/// which is a response only as that `Result`'s error).
#[cfg(feature = "axum")]
impl<T, E> ErrorViaAxumResponse<T, E> for &DepResult<Result<T, E>>
where
    Result<(), E>: axum_core::response::IntoResponse,
{
    fn dep_result(&self, result: Result<T, E>) -> Result<T, HttpError> {
        use axum_core::response::IntoResponse as _;
        result.map_err(|error| error_from_axum_response(Err::<(), E>(error).into_response()))
    }
}

/// See [`DepResult`]: an error that converts into an [`HttpError`].
pub trait ErrorViaInto<R> {
    /// The result, its error converted.
    fn dep_result(&self, result: R) -> Result<<R as IntoDepResult>::Ok, HttpError>
    where
        R: IntoDepResult,
        R::Err: DepError;
}

impl<R> ErrorViaInto<R> for DepResult<R> {
    fn dep_result(&self, result: R) -> Result<<R as IntoDepResult>::Ok, HttpError>
    where
        R: IntoDepResult,
        R::Err: DepError,
    {
        result.into_result().map_err(DepError::into_http_error)
    }
}

/// The error of a `#[depends]` function's `Result` when it is neither an [`HttpError`] nor a
/// response ([`IntoResponse`]): one that converts into an [`HttpError`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error of a `#[depends]` function's `Result`",
    label = "its error type converts neither into `HttpError` nor into a response",
    note = "errors that implement `std::error::Error` convert into a 500 automatically, and so does a boxed one that is `Send + Sync` (`Box<dyn std::error::Error + Send + Sync>`); for your own error type implement `di_runtime::IntoResponse for {Self}` (as for an axum handler), or `From<{Self}> for di_runtime::HttpError`",
    note = "for `anyhow::Error`, map it: `.map_err(|e| HttpError::internal_from_boxed(e.into()))`"
)]
pub trait DepError {
    /// The [`HttpError`] it is.
    fn into_http_error(self) -> HttpError;
}

impl<E: Into<HttpError>> DepError for E {
    fn into_http_error(self) -> HttpError {
        self.into()
    }
}

/// The result of a generator: `()` or `Result<(), E>`, read as a `Result`. Its error becomes
/// an [`HttpError`] as a plain function's does (see [`DepResult`]): `E: Into<HttpError>`, or
/// `E: IntoResponse`.
#[diagnostic::on_unimplemented(
    message = "a generator dependency must return `()` or `Result<(), E>`, not `{Self}`",
    note = "its value is handed over with `Yield::provide`; an error `E` must convert into `di_runtime::HttpError` or implement `di_runtime::IntoResponse`"
)]
pub trait IntoGenResult {
    /// The error.
    type Err;
    /// The `Result` it is.
    fn into_gen_result(self) -> Result<(), Self::Err>;
}

impl IntoGenResult for () {
    type Err = HttpError;
    fn into_gen_result(self) -> Result<(), HttpError> {
        Ok(())
    }
}

impl<E> IntoGenResult for Result<(), E> {
    type Err = E;
    fn into_gen_result(self) -> Result<(), E> {
        self
    }
}

/// Turns a handler's output into a response when its type cannot be named (`impl Trait`).
pub fn respond<T: IntoResponse>(value: T) -> Response {
    value.into_response()
}

/// A compile-time check that `T` may be held by a response body.
pub const fn assert_can_be_held<T: CanBeHeld>() {}
