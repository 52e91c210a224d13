//! Cancel at every await point: one request of the reference graph (an `app` singleton,
//! `handler`- and `request`-scoped generators, a cached plain dependency used twice, a query
//! input, a streamed body) is dropped after N polls, for every N until it completes. Each
//! time, every dependency whose setup completed is torn down exactly once, and a teardown sees
//! a success only when what its scope covers really ended.

mod common;

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

use bytes::Bytes;
use common::{events, log, serial};
use di_runtime::prelude::*;
use futures_util::{Stream, stream};
use http_body_util::BodyExt;
use serde::Deserialize;

struct Settings {
    base: u32,
}

#[depends(scope = "app")]
async fn settings() -> Settings {
    Settings { base: 10 }
}

#[depends]
async fn user(#[dep(settings)] s: &Settings) -> u32 {
    tokio::task::yield_now().await;
    s.base + 1
}

#[depends(scope = "handler")]
async fn tx(#[dep(user)] user: &u32, y: Yield<u32>) {
    tokio::task::yield_now().await;
    // Logged in the poll that provides the value, which is the poll that completes setup.
    log("tx:open");
    let (_, outcome) = y.provide(*user).await;
    tokio::task::yield_now().await;
    log(format!("tx:close {}", short(&outcome)));
}

#[depends]
async fn session(#[dep(user)] user: &u32, y: Yield<u32>) {
    tokio::task::yield_now().await;
    log("session:open");
    let (_, outcome) = y.provide(*user * 2).await;
    tokio::task::yield_now().await;
    log(format!("session:close {}", short(&outcome)));
}

fn short(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Success { .. } => "success",
        Outcome::Cancelled(_) => "cancelled",
        _ => "other",
    }
}

#[derive(Deserialize)]
struct Page {
    n: u32,
}

#[depends]
async fn reference(
    #[dep(tx)] tx: &u32,
    #[dep(session)] session: Held<u32>,
    #[dep(user)] first: &u32,
    Query(page): Query<Page>,
) -> StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    tokio::task::yield_now().await;
    let head = format!("{tx} {first} {};", page.n);
    let lines = stream::unfold((session, 0u32), move |(session, i)| {
        let head = head.clone();
        async move {
            if i == 3 {
                return None;
            }
            tokio::task::yield_now().await;
            Some((
                Ok(Bytes::from(format!("{head}{}:{i}\n", *session))),
                (session, i + 1),
            ))
        }
    });
    StreamBody::new(lines)
}

fn count_prefix(events: &[String], prefix: &str) -> usize {
    events.iter().filter(|e| e.starts_with(prefix)).count()
}

/// Polls `future` once.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}

#[tokio::test]
async fn dropping_a_request_after_any_number_of_polls_tears_down_exactly_once() {
    let _serial = serial().await;
    let client = TestClient::start(App::new().get("/", reference))
        .await
        .unwrap();
    let service = client.running().service();
    let mut completed_at = None;
    for budget in 0..500 {
        common::clear();
        let request = http::Request::get("/?n=3")
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let mut pending = service.call_request(request);
        let mut polls = 0;
        let mut response = None;
        while polls < budget {
            polls += 1;
            match poll_once(&mut pending).await {
                Poll::Ready(done) => {
                    response = Some(done);
                    break;
                }
                Poll::Pending => tokio::task::yield_now().await,
            }
        }
        drop(pending);
        let got_response = response.is_some();
        let mut body_done = false;
        if let Some(response) = response {
            assert_eq!(response.status(), 200);
            let mut body = response.into_body();
            while polls < budget {
                polls += 1;
                match poll_once(&mut body.frame()).await {
                    Poll::Ready(None) => {
                        body_done = true;
                        break;
                    }
                    Poll::Ready(Some(frame)) => {
                        frame.expect("no body error");
                    }
                    Poll::Pending => tokio::task::yield_now().await,
                }
            }
            drop(body);
            if !body_done {
                // Did the last frame end the body? Then it counts as sent.
                body_done = count_prefix(&events(), "session:close success") == 1;
            }
        }
        client.settle().await;
        let events = events();
        for (open, close) in [("tx:open", "tx:close"), ("session:open", "session:close")] {
            assert_eq!(
                count_prefix(&events, open),
                count_prefix(&events, close),
                "budget {budget}: every completed setup is torn down exactly once: {events:?}"
            );
            assert!(
                count_prefix(&events, close) <= 1,
                "budget {budget}: {events:?}"
            );
        }
        let session_success = count_prefix(&events, "session:close success");
        assert_eq!(
            session_success == 1,
            body_done,
            "budget {budget}: `request` scope sees a success only when the body ended: {events:?}"
        );
        if got_response {
            assert_eq!(
                count_prefix(&events, "tx:close success"),
                1,
                "budget {budget}: a response head means `handler` scope was torn down with a success first: {events:?}"
            );
        }
        if body_done {
            completed_at = Some(budget);
            break;
        }
    }
    let completed_at = completed_at.expect("the request completes within the budgets tried");
    assert!(
        completed_at > 5,
        "the request has several await points: {completed_at}"
    );
    client.shutdown().await;
}
