//! Work that runs after the response has been sent, before `request`-scoped teardown, and the
//! app's background places, which bound that work and `request`-scoped teardowns.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::BoxFuture;
use tokio::sync::Notify;

use crate::contract::request_id::RequestId;
use crate::panic::{catch, drop_logged_for};
use crate::run::stats::TaskFailures;

/// Runs `tasks` in order, each under the teardown deadline; returns how many failed (panicked
/// or ran past the deadline).
pub(crate) async fn run_tasks(
    tasks: Vec<BoxFuture<'static, ()>>,
    deadline: std::time::Duration,
    request_id: RequestId,
) -> TaskFailures {
    let request_id = tracing::field::display(&request_id);
    let mut failed = TaskFailures::default();
    for (index, task) in tasks.into_iter().enumerate() {
        // The deadline inside the catch: a task cut at it is dropped there too.
        match catch(tokio::time::timeout(deadline, task)).await {
            Ok(Ok(())) => {
                tracing::debug!(target: "di", request_id, task = index, "background task done")
            }
            Err(panic) => {
                tracing::error!(target: "di", request_id, task = index, %panic, "background task panicked");
                failed.panics += 1;
            }
            Ok(Err(_)) => {
                tracing::error!(target: "di", request_id, task = index, deadline_ms = deadline.as_millis() as u64, "background task timed out");
                failed.timeouts += 1;
            }
        }
    }
    failed
}

/// Drops `tasks` unrun (the request did not succeed, or was abandoned); a task whose `Drop`
/// panics is logged, and the others are dropped still.
pub(crate) fn drop_tasks(tasks: Vec<BoxFuture<'static, ()>>, request_id: &RequestId) {
    for task in tasks {
        drop_logged_for(task, "a background task that was not run", Some(request_id));
    }
}

/// The app's background places (`App::max_background_teardowns`), each taken with one atomic
/// operation and given back with one more: tokio's semaphore, which a request took a place of
/// before, takes a lock to give a place back.
///
/// A request that finds no place waits for one in turn: waiters are woken first come, first
/// served (`Notify::notify_one`), and no place is taken without waiting while a request waits,
/// so that none waits for ever while newer ones are served.
pub(crate) struct BackgroundPlaces {
    free: AtomicUsize,
    /// Requests waiting for a place.
    waiting: AtomicUsize,
    /// Woken when a place is given back while a request waits.
    freed: Notify,
}

/// A background place, given back when dropped.
pub(crate) struct BackgroundPlace(Arc<BackgroundPlaces>);

impl BackgroundPlaces {
    /// `count` places.
    pub(crate) fn new(count: usize) -> Self {
        Self {
            free: AtomicUsize::new(count),
            waiting: AtomicUsize::new(0),
            freed: Notify::new(),
        }
    }

    /// A place, if one is free and no request waits for one.
    pub(crate) fn try_take(self: &Arc<Self>) -> Option<BackgroundPlace> {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            return None;
        }
        self.take_free()
    }

    /// A place, once one is free: at once if no other request waits, else once a place given
    /// back has woken this wait (each wakes the longest waiting).
    pub(crate) async fn take(self: &Arc<Self>) -> BackgroundPlace {
        let mut turn = self.waiting.fetch_add(1, Ordering::SeqCst) == 0;
        let _waited = Waited(self);
        loop {
            // Listening before looking: a place given back in between wakes this wait (or is
            // kept for it by `Notify`).
            let freed = self.freed.notified();
            let mut freed = std::pin::pin!(freed);
            freed.as_mut().enable();
            if turn && let Some(place) = self.take_free() {
                return place;
            }
            freed.await;
            turn = true;
        }
    }

    fn take_free(self: &Arc<Self>) -> Option<BackgroundPlace> {
        let mut free = self.free.load(Ordering::SeqCst);
        loop {
            if free == 0 {
                return None;
            }
            match self.free.compare_exchange_weak(
                free,
                free - 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Some(BackgroundPlace(self.clone())),
                Err(now) => free = now,
            }
        }
    }
}

/// A wait for a place, counted in [`BackgroundPlaces::waiting`] until it ends (with a place, or
/// dropped at its deadline).
struct Waited<'a>(&'a BackgroundPlaces);

impl Drop for Waited<'_> {
    /// A wait that ends hands the turn on: a request that came to wait behind it takes a
    /// place only once woken, and places given back while no request waited woke no one (two
    /// requests that then both come to wait: the first takes one, the second waits behind it
    /// with another free).
    fn drop(&mut self) {
        let places = self.0;
        let left = places.waiting.fetch_sub(1, Ordering::SeqCst) - 1;
        if left > 0 && places.free.load(Ordering::SeqCst) > 0 {
            places.freed.notify_one();
        }
    }
}

impl Drop for BackgroundPlace {
    fn drop(&mut self) {
        let places = &self.0;
        places.free.fetch_add(1, Ordering::SeqCst);
        if places.waiting.load(Ordering::SeqCst) > 0 {
            places.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::task::JoinHandle;

    use super::*;

    /// A task waiting for a place of `places`.
    fn spawn_waiter(places: &Arc<BackgroundPlaces>) -> JoinHandle<BackgroundPlace> {
        let places = places.clone();
        tokio::spawn(async move { places.take().await })
    }

    /// Once a request is counted as waiting.
    async fn until_waiting(places: &BackgroundPlaces) {
        while places.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
    }

    /// What `wait` ends with, within five seconds.
    async fn in_time<F: Future>(wait: F, what: &str) -> F::Output {
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .unwrap_or_else(|_| panic!("{what} is woken"))
    }

    /// The place `waiter` gets, within five seconds.
    async fn served(waiter: JoinHandle<BackgroundPlace>, what: &str) -> BackgroundPlace {
        in_time(waiter, what)
            .await
            .unwrap_or_else(|_| panic!("{what} ends"))
    }

    /// Once every one of `tasks` has ended, within thirty seconds.
    async fn all_end(tasks: Vec<JoinHandle<()>>, what: &str) {
        let all = futures_util::future::join_all(tasks);
        for ended in tokio::time::timeout(Duration::from_secs(30), all)
            .await
            .unwrap_or_else(|_| panic!("{what}"))
        {
            ended.expect("the task ends");
        }
    }

    #[test]
    fn no_more_places_are_taken_than_there_are_and_each_comes_back() {
        let places = Arc::new(BackgroundPlaces::new(2));
        let one = places.try_take().expect("a first place");
        let two = places.try_take().expect("a second place");
        assert!(places.try_take().is_none(), "only two");
        drop(one);
        let three = places.try_take().expect("the place given back");
        assert!(places.try_take().is_none());
        drop((two, three));
        assert_eq!(places.free.load(Ordering::SeqCst), 2);
    }

    /// One place, held while a request comes to wait for it (counted waiting), then given
    /// back: the places and the waiting request.
    async fn given_back_to_a_waiter() -> (Arc<BackgroundPlaces>, JoinHandle<BackgroundPlace>) {
        let places = Arc::new(BackgroundPlaces::new(1));
        let held = places.try_take().expect("the one place");
        let waiter = spawn_waiter(&places);
        until_waiting(&places).await;
        drop(held);
        (places, waiter)
    }

    #[tokio::test]
    async fn a_waiting_request_gets_the_place_given_back_before_a_newcomer() {
        let (places, waiter) = given_back_to_a_waiter().await;
        // The place is free, but a request waits for it: a newcomer does not take it.
        assert!(places.try_take().is_none());
        let place = served(waiter, "the waiter").await;
        assert!(places.try_take().is_none());
        drop(place);
        assert!(places.try_take().is_some());
    }

    #[tokio::test]
    async fn a_request_that_comes_to_wait_queues_behind_the_one_waiting() {
        // The place comes back before the first waiter has had its turn to take it.
        let (places, first) = given_back_to_a_waiter().await;
        let mut second = std::pin::pin!(places.take());
        assert!(
            futures_util::poll!(second.as_mut()).is_pending(),
            "the first waiter is served first"
        );
        drop(served(first, "the first waiter").await);
        drop(in_time(second, "then the second").await);
    }

    #[tokio::test]
    async fn a_wait_that_ends_wakes_the_one_behind_it_when_a_place_is_free() {
        let places = Arc::new(BackgroundPlaces::new(1));
        // A wait already under way, as when two requests come to wait at once with places
        // given back while none waited: the one behind it must not be left waiting.
        places.waiting.fetch_add(1, Ordering::SeqCst);
        let ahead = Waited(&places);
        let mut behind = std::pin::pin!(places.take());
        assert!(
            futures_util::poll!(behind.as_mut()).is_pending(),
            "it waits its turn"
        );
        drop(ahead);
        // Woken once the wait ahead of it ended, with a place free.
        drop(in_time(behind, "the wait behind").await);
    }

    #[tokio::test]
    async fn a_wait_that_times_out_leaves_the_place_to_the_next_one() {
        let places = Arc::new(BackgroundPlaces::new(1));
        let held = places.try_take().expect("the one place");
        let gives_up = tokio::time::timeout(Duration::from_millis(20), places.take());
        let waits = spawn_waiter(&places);
        assert!(gives_up.await.is_err(), "no place within its wait");
        drop(held);
        let place = served(waits, "the remaining waiter").await;
        assert_eq!(places.waiting.load(Ordering::SeqCst), 0);
        drop(place);
        assert_eq!(places.free.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waits_cut_short_under_load_leave_every_place_and_no_waiter_behind() {
        let places = Arc::new(BackgroundPlaces::new(2));
        let tasks: Vec<_> = (0..32)
            .map(|n| {
                let places = places.clone();
                tokio::spawn(async move {
                    for round in 0..100 {
                        let wait = Duration::from_micros(((n * 7 + round * 13) % 400) as u64);
                        let taken = match places.try_take() {
                            Some(place) => Some(place),
                            None => tokio::time::timeout(wait, places.take()).await.ok(),
                        };
                        if taken.is_some() {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        all_end(tasks, "no wait outlives its deadline").await;
        assert_eq!(places.free.load(Ordering::SeqCst), 2);
        assert_eq!(places.waiting.load(Ordering::SeqCst), 0);
        let (one, two) = (places.try_take(), places.try_take());
        assert!(one.is_some() && two.is_some(), "both places free again");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_requests_share_few_places_and_every_one_is_served() {
        let places = Arc::new(BackgroundPlaces::new(3));
        let in_use = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (places, in_use, most) = (places.clone(), in_use.clone(), most.clone());
                tokio::spawn(async move {
                    for _ in 0..50 {
                        let place = match places.try_take() {
                            Some(place) => place,
                            None => places.take().await,
                        };
                        let now = in_use.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        in_use.fetch_sub(1, Ordering::SeqCst);
                        drop(place);
                    }
                })
            })
            .collect();
        all_end(tasks, "no request waits for ever").await;
        assert!(most.load(Ordering::SeqCst) <= 3, "at most three at once");
        assert_eq!(places.free.load(Ordering::SeqCst), 3);
        assert_eq!(places.waiting.load(Ordering::SeqCst), 0);
    }
}
