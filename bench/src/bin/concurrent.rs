//! Requests per second in process with many requests in flight at once, on a runtime of
//! several workers: the app used as a `tower::Service` inside another server, where every
//! response's after-body work goes to the engine's hosting tasks (no connection of di's hosts
//! it).
//!
//! ```sh
//! target/release/concurrent di /items?limit=5            # 64 loops of 3,000 requests, 4 rounds
//! target/release/concurrent axum /items?limit=5 32 1000
//! ```
//!
//! `concurrent IMPL URI [LOOPS] [REQUESTS]`: `LOOPS` tasks (default 64), each sending
//! `REQUESTS` requests (default 3,000) one after another and reading each body to its end, on
//! a multi-threaded runtime of as many workers as the machine has cores. Prints each round's
//! requests per second (di's include its teardowns: a round ends once they have all run).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use di_bench::harness::{axum_request, di_request, hyper_request};
use di_bench::{Settings, axum_impl, di_impl, hyper_impl};

const USAGE: &str = "usage: concurrent di|hyper|axum URI [LOOPS] [REQUESTS]";
const ROUNDS: usize = 4;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((implementation, uri, loops, requests)) = parse(&args) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    // The harness takes `&'static str` URIs, as the benches do.
    let uri: &'static str = Box::leak(uri.into());
    let Some(runtime) = di_bench::serve::runtime(tokio::runtime::Builder::new_multi_thread())
    else {
        return ExitCode::FAILURE;
    };
    let started = runtime.block_on(async {
        let running = match implementation {
            "di" => Some(di_impl::app().start().await.ok()?),
            _ => None,
        };
        let settings = Arc::new(Settings::load());
        for round in 1..=ROUNDS {
            let began = Instant::now();
            let mut tasks = Vec::with_capacity(loops);
            for _ in 0..loops {
                let task = match &running {
                    Some(running) => {
                        let service = running.service();
                        tokio::spawn(async move {
                            for _ in 0..requests {
                                di_request(&service, uri).await;
                            }
                        })
                    }
                    None if implementation == "hyper" => {
                        let service = hyper_impl::service(settings.clone());
                        tokio::spawn(async move {
                            for _ in 0..requests {
                                hyper_request(&service, uri).await;
                            }
                        })
                    }
                    None => {
                        let router = axum_impl::router(settings.clone());
                        tokio::spawn(async move {
                            for _ in 0..requests {
                                axum_request(&router, uri).await;
                            }
                        })
                    }
                };
                tasks.push(task);
            }
            for task in tasks {
                task.await.ok()?;
            }
            if let Some(running) = &running {
                running.settle().await;
            }
            let seconds = began.elapsed().as_secs_f64();
            let per_second = (loops * requests) as f64 / seconds;
            println!("{implementation} {uri} round {round}: {per_second:.0} requests/s");
        }
        if let Some(running) = running {
            running.shutdown().await;
        }
        Some(())
    });
    match started {
        Some(()) => ExitCode::SUCCESS,
        None => {
            eprintln!("the app did not start, or a loop panicked");
            ExitCode::FAILURE
        }
    }
}

/// `IMPL URI [LOOPS] [REQUESTS]`: the implementation, the URI and the two counts (defaults 64
/// and 3,000, each at least 1); `None` for anything else.
fn parse(args: &[String]) -> Option<(&str, &str, usize, usize)> {
    let [implementation, uri, rest @ ..] = args else {
        return None;
    };
    if rest.len() > 2 || !matches!(implementation.as_str(), "di" | "hyper" | "axum") {
        return None;
    }
    let number = |i: usize, default: usize| match rest.get(i) {
        Some(text) => text.parse::<usize>().ok().filter(|n| *n > 0),
        None => Some(default),
    };
    Some((implementation, uri, number(0, 64)?, number(1, 3000)?))
}
