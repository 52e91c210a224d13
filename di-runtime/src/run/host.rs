//! Tasks that host what their responses leave behind: the `request`-scope teardowns (and
//! background tasks) of a response run in the task that sent it, after hyper's poll has
//! written the response, instead of in a task of their own: an HTTP/1 connection's task, or
//! an HTTP/2 stream's (the server is hyper's executor for those). No task spawned per
//! request, and no other worker thread woken for it; a teardown that waits still waits beside
//! the connection or the stream, never in its way.
//!
//! A response body finished outside the server (the test client, the app used as a
//! `tower::Service`) has its work queued for one of the engine's hosting tasks ([`Hosts`]),
//! which spawns a task only for work that waits.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use futures_util::future::BoxFuture;
use tracing::Instrument as _;
use tracing::instrument::Instrumented;

use crate::contract::background::BackgroundTasks;
use crate::panic::{catch_call, drop_caught, drop_logged_for};
use crate::run::background::{drop_tasks, run_tasks};
use crate::run::engine::{Engine, Entered, current_span};
use crate::run::places::Places;
use crate::run::stats::TaskFailures;
use crate::run::teardown::StackRun;

/// What runs once a body has been sent: background tasks, then the `request`-scope
/// teardowns, then the places given back. `Unpin` and of one type, so that a connection can
/// hold it.
pub(crate) struct AfterRun {
    tasks: Option<BoxFuture<'static, TaskFailures>>,
    /// The request's task list. What is added to it (by a task, or by a `request`-scope
    /// teardown) runs before the next teardown, so that it may still hold the values of the
    /// generators set up before the one that added it; and when the response was not sent in
    /// full (`run_late` false), it is dropped then, unrun.
    late: Option<BackgroundTasks>,
    run_late: bool,
    /// Holds the engine (see [`AfterRun::engine`]).
    stack: StackRun,
    torn_down: bool,
    places: Places,
}

impl AfterRun {
    pub(crate) fn new(
        tasks: Option<BoxFuture<'static, TaskFailures>>,
        late: Option<BackgroundTasks>,
        run_late: bool,
        stack: StackRun,
        places: Places,
    ) -> Self {
        Self {
            tasks,
            late,
            run_late,
            stack,
            torn_down: false,
            places,
        }
    }

    /// The engine it runs on.
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        self.stack.engine()
    }
}

impl Future for AfterRun {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            if let Some(tasks) = this.tasks.as_mut() {
                let failed = match tasks.as_mut().poll(cx) {
                    Poll::Ready(failed) => failed,
                    // Finished where the runtime dropped it, and a task stalled (it waits for
                    // the runtime's timer, now gone): the tasks are given up, as a teardown
                    // would be, and the teardowns still run.
                    Poll::Pending if crate::run::engine::abandon_requested() => {
                        give_up_tasks(this.tasks.take(), this.stack.request_id())
                    }
                    Poll::Pending => return Poll::Pending,
                };
                this.stack.engine().stats.record_task_failures(failed);
                this.tasks = None;
            }
            // Tasks added since (by the tasks that ran, or by the teardown that ended) run
            // now, before the next teardown; once every teardown has ended, one last round.
            let list = if this.torn_down {
                this.late.take()
            } else {
                this.late.clone()
            };
            let added = list.map(|list| list.take()).unwrap_or_default();
            if !added.is_empty() {
                if let Some(request_id) = this.stack.request_id() {
                    if this.run_late {
                        let deadline = this.stack.engine().config.teardown_timeout;
                        this.tasks = Some(Box::pin(run_tasks(added, deadline, request_id.clone())));
                        continue;
                    }
                    // Dropped unrun, each inside a catch: a task's `Drop` that panics must not
                    // unwind through this run and lose the teardowns still owed.
                    drop_tasks(added, request_id);
                } else {
                    // Not reached: after-body work is always a request's.
                    for task in added {
                        let _ = drop_caught(task);
                    }
                }
            }
            if this.torn_down {
                break;
            }
            match this.stack.drive(cx, this.late.as_ref()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(_)) => this.torn_down = true,
                // A teardown added tasks: they run (or are dropped) before the next one.
                Poll::Ready(None) => {}
            }
        }
        drop(std::mem::take(&mut this.places));
        Poll::Ready(())
    }
}

/// Drops the background tasks of a request, stalled while they were being finished after
/// their runtime went away: the one under way is counted as timed out, the rest are not run.
#[cold]
fn give_up_tasks(
    tasks: Option<BoxFuture<'static, TaskFailures>>,
    request_id: Option<&crate::contract::request_id::RequestId>,
) -> TaskFailures {
    let logged_id = request_id.map(tracing::field::display);
    tracing::error!(target: "di", request_id = logged_id, "a background task could not finish while the runtime shut down; the teardowns still run");
    drop_logged_for(tasks, "a background task given up", request_id);
    TaskFailures {
        panics: 0,
        timeouts: 1,
    }
}

/// After-body work held by a connection, counted as a background task in flight (so that
/// `settle` and shutdown wait for it).
struct Deferred {
    run: Instrumented<AfterRun>,
    _entered: Entered,
}

impl Deferred {
    /// `after`, counted in flight from now, in the current span.
    fn new(after: AfterRun) -> Self {
        let entered = after.engine().enter_background();
        Self {
            run: after.instrument(current_span()),
            _entered: entered,
        }
    }

    /// Goes on in a tracked task of its own, counted by that task before this entry's count
    /// goes, and by the engine it was counted by: that of the app whose response left it,
    /// which need not be the server's (an app nested in it with `nest_service`).
    fn detach(self) {
        let engine = self.run.inner().engine().clone();
        engine.spawn_tracked(self.run);
    }
}

thread_local! {
    /// The after-body work of the [`Hosted`] connection being polled on this thread.
    static HOST: RefCell<Option<Vec<Deferred>>> = const { RefCell::new(None) };
}

/// Runs `after`: in the connection being polled on this thread, if it is a [`Hosted`] one;
/// otherwise in one of its engine's [`Hosts`] ([`elsewhere`]).
pub(crate) fn run_after(after: AfterRun) {
    // Looked at before anything is made for it, and `after` handed on from here, not given
    // back to the caller: a response's after-body work is large, and each move of it a copy.
    // No host either while the thread's locals are being destroyed (a body dropped by one).
    if HOST
        .try_with(|host| host.borrow().is_none())
        .unwrap_or(true)
    {
        return elsewhere(after);
    }
    // Made here and lent to the closure, not moved into it.
    let mut deferred = Some(Deferred::new(after));
    let _ = HOST.try_with(|host| {
        if let Some(hosted) = host.borrow_mut().as_mut() {
            // Room for one: an HTTP/2 stream's task hosts one response's work, a connection
            // one at a time but for pipelined requests (`Vec` would make room for four).
            if hosted.capacity() == 0 {
                hosted.reserve_exact(1);
            }
            hosted.extend(deferred.take());
        }
    });
    // Left only if the host went away in between, which one thread cannot see.
    if let Some(deferred) = deferred {
        elsewhere(deferred.run.into_inner());
    }
}

/// Sets [`HOST`] to a connection's list while it is polled; puts it back when dropped (a
/// panicking poll included), so that no other code on the thread ever adds to it.
struct Hosting<'a> {
    hosted: &'a mut Vec<Deferred>,
    previous: Option<Vec<Deferred>>,
}

impl<'a> Hosting<'a> {
    fn enter(hosted: &'a mut Vec<Deferred>) -> Self {
        let list = std::mem::take(hosted);
        let previous = HOST.with(|host| host.replace(Some(list)));
        Self { hosted, previous }
    }
}

impl Drop for Hosting<'_> {
    fn drop(&mut self) {
        let previous = self.previous.take();
        *self.hosted = HOST.with(|host| host.replace(previous)).unwrap_or_default();
    }
}

/// How many pieces of after-body work that wait a connection hosts at most (see
/// [`Hosted`]'s poll): past them, the oldest go on in tasks of their own.
const HOSTED_AT_MOST: usize = 8;

pin_project_lite::pin_project! {
    /// A connection future that runs the after-body work of its responses (see the module
    /// docs). It ends when the connection has ended and that work is done; dropped before,
    /// it hands what is left to tracked background tasks.
    pub(crate) struct Hosted<C>
    where
        C: Future,
    {
        #[pin]
        connection: Option<C>,
        output: Option<C::Output>,
        after: Vec<Deferred>,
    }

    impl<C> PinnedDrop for Hosted<C>
    where
        C: Future,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            for deferred in this.after.drain(..) {
                deferred.detach();
            }
        }
    }
}

impl<C: Future> Hosted<C> {
    pub(crate) fn new(connection: C) -> Self {
        Self {
            connection: Some(connection),
            output: None,
            after: Vec::new(),
        }
    }
}

impl<C: Future> Future for Hosted<C> {
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let mut this = self.project();
        if let Some(connection) = this.connection.as_mut().as_pin_mut() {
            let hosting = Hosting::enter(this.after);
            let polled = connection.poll(cx);
            drop(hosting);
            if let Poll::Ready(output) = polled {
                *this.output = Some(output);
                // The connection is closed now, whatever is left to tear down.
                this.connection.set(None);
            }
        }
        this.after
            .retain_mut(|deferred| Pin::new(&mut deferred.run).poll(cx).is_pending());
        // Each wake of the connection polls every piece it holds: on a busy connection (a
        // proxy's) whose teardowns wait long, those that wait would pile up and make each of
        // its requests cost more than the last. Past a few, the oldest go on in tasks of
        // their own, as the engine's hosts do with what waits.
        if this.after.len() > HOSTED_AT_MOST {
            let waiting_longest = this.after.len() - HOSTED_AT_MOST;
            for deferred in this.after.drain(..waiting_longest) {
                deferred.detach();
            }
        }
        if this.after.is_empty()
            && let Some(output) = this.output.take()
        {
            return Poll::Ready(output);
        }
        Poll::Pending
    }
}

/// The engine's own hosts, for after-body work that no connection hosts: a response whose
/// body was read outside di's server (the test client, the app used as a `tower::Service`).
///
/// That work may not run in the task that read the body (whoever read it has the last bytes
/// only once its poll has returned), so another task runs it. Spawning one per response
/// costs a task's allocation, its scheduling and its moves; instead the work is queued for a
/// hosting task that lives as long as the engine, one per runtime worker (the queue a thread
/// adds to is picked by the thread), which polls each piece once, where most teardowns
/// finish, and spawns a task only for a piece that waits: a slow teardown never holds up the
/// others.
struct Hosts {
    queues: Box<[Arc<Queue>]>,
}

/// Work waiting for a hosting task.
#[derive(Default)]
struct Queue(parking_lot::Mutex<Queued>);

#[derive(Default)]
struct Queued {
    work: Vec<Deferred>,
    /// The hosting task's waker while it waits for work.
    waker: Option<Waker>,
    /// Whether a hosting task runs for this queue (not before the first body, nor once the
    /// runtime has dropped it).
    hosted: bool,
    /// Set when the engine is dropped: the hosting task ends once the queue is empty.
    closed: bool,
}

/// Numbers the threads that add work, to pick their queue.
static THREADS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: usize = THREADS.fetch_add(1, Ordering::Relaxed);
}

/// Runs `after`, the work of a body read outside di's server, in one of its engine's
/// [`Hosts`].
fn elsewhere(after: AfterRun) {
    let engine = after.engine().clone();
    let hosts = engine
        .hosts
        .get_or_init(|| Box::new(Hosts::new(engine.runtime().metrics().num_workers())));
    match hosts.downcast_ref::<Hosts>() {
        Some(hosts) => hosts.host(engine.runtime(), after),
        // Only this module sets the engine's hosts.
        None => engine.spawn_tracked(after),
    }
}

impl Hosts {
    /// Hosts for a runtime with `workers` worker threads.
    fn new(workers: usize) -> Self {
        Self {
            queues: (0..workers.max(1)).map(|_| Arc::default()).collect(),
        }
    }

    /// Queues `after` for a hosting task on `runtime`, which is started if none runs.
    fn host(&self, runtime: &tokio::runtime::Handle, after: AfterRun) {
        let deferred = Deferred::new(after);
        let thread = THREAD.try_with(|thread| *thread).unwrap_or(0);
        let queue = &self.queues[thread % self.queues.len()];
        let (start, waker) = {
            let mut queued = queue.0.lock();
            queued.work.push(deferred);
            let start = !std::mem::replace(&mut queued.hosted, true);
            (start, queued.waker.take())
        };
        // Outside the lock: a runtime that is shutting down drops the task at once, and its
        // `Drop` takes the lock.
        if start {
            drop(runtime.spawn(HostTask::new(queue.clone())));
        }
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for queue in &self.queues {
            let waker = {
                let mut queued = queue.0.lock();
                queued.closed = true;
                queued.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// The task that hosts a [`Queue`]'s work. It ends when the engine is gone and the queue is
/// empty; dropped before (the runtime is shutting down), it hands what it holds to tracked
/// tasks, as [`Hosted`] does, so that no teardown is lost.
struct HostTask {
    queue: Arc<Queue>,
    /// The work taken from the queue, polled outside its lock. Swapped with the queue's, so
    /// that neither allocates once both have room.
    taken: Vec<Deferred>,
}

impl HostTask {
    fn new(queue: Arc<Queue>) -> Self {
        Self {
            queue,
            taken: Vec::new(),
        }
    }
}

impl Future for HostTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut first = true;
        loop {
            {
                let mut queued = this.queue.0.lock();
                if queued.work.is_empty() {
                    if queued.closed {
                        queued.hosted = false;
                        return Poll::Ready(());
                    }
                    if !queued
                        .waker
                        .as_ref()
                        .is_some_and(|w| w.will_wake(cx.waker()))
                    {
                        queued.waker = Some(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
                if !first {
                    // More came while the last round ran: the runtime's other tasks go first.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                first = false;
                std::mem::swap(&mut queued.work, &mut this.taken);
            }
            // Polled where they lie, not moved out one by one (each a copy); what is done is
            // dropped there.
            this.taken.retain_mut(|deferred| {
                // A teardown's panic is caught where it runs; this is the last guard, so that
                // one broken piece of work never takes the others' host down.
                match catch_call(|| Pin::new(&mut deferred.run).poll(cx)) {
                    Ok(Poll::Ready(())) => false,
                    Ok(Poll::Pending) => true,
                    Err(panic) => {
                        tracing::error!(target: "di", %panic, "after-body work panicked");
                        false
                    }
                }
            });
            // What waits: a task of its own from now on.
            for deferred in this.taken.drain(..) {
                deferred.detach();
            }
        }
    }
}

impl Drop for HostTask {
    fn drop(&mut self) {
        let queued = {
            let mut queued = self.queue.0.lock();
            queued.hosted = false;
            queued.waker = None;
            std::mem::take(&mut queued.work)
        };
        for deferred in self.taken.drain(..).chain(queued) {
            deferred.detach();
        }
    }
}
