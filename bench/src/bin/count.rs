//! Instructions per request, for `valgrind --tool=callgrind` (instruction counts do not depend
//! on what else the machine is doing, unlike times):
//!
//! ```sh
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/count di /items?limit=5 0
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/count di /items?limit=5 2000
//! ```
//!
//! sends `N` requests (after the same warm-up in both runs) to one implementation, in process,
//! as the `inprocess` bench does; the difference of the two totals divided by `N` is the cost
//! of one request. `bench/instructions.sh` does this for every implementation and route.
//! `count graph /graph/{shape}/{n} N` does it for one of di's dependency graphs (see
//! `graphs`), and `bench/graph-instructions.sh` for all of them.

use std::process::ExitCode;
use std::sync::Arc;

use di_bench::harness::{axum_request, di_request, hyper_request};
use di_bench::{Settings, axum_impl, di_impl, graphs, hyper_impl};
use di_runtime::App;

const USAGE: &str = "usage: count di|di-ids|hyper|axum|graph URI N";
const WARM_UP: usize = 200;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [implementation, uri, n] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let Ok(n) = n.parse::<usize>() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    // The harness takes `&'static str` URIs, as the benches do.
    let uri: &'static str = Box::leak(uri.clone().into_boxed_str());
    let Some(runtime) = di_bench::serve::runtime(tokio::runtime::Builder::new_current_thread())
    else {
        return ExitCode::FAILURE;
    };
    let sent = runtime.block_on(async {
        match implementation.as_str() {
            "di" => di_requests(di_impl::app(), uri, n).await,
            // di with its default `x-request-id` header, which the others do not send.
            "di-ids" => di_requests(di_impl::app_with_request_ids(), uri, n).await,
            // The dependency graphs of `graphs` (`/graph/{shape}/{n}`), in di.
            "graph" => di_requests(graphs::app(), uri, n).await,
            "hyper" => {
                let service = hyper_impl::service(Arc::new(Settings::load()));
                let mut bytes = 0;
                for _ in 0..WARM_UP + n {
                    bytes += hyper_request(&service, uri).await;
                }
                Some(bytes)
            }
            "axum" => {
                let router = axum_impl::router(Arc::new(Settings::load()));
                let mut bytes = 0;
                for _ in 0..WARM_UP + n {
                    bytes += axum_request(&router, uri).await;
                }
                Some(bytes)
            }
            _ => None,
        }
    });
    match sent {
        Some(bytes) => {
            println!(
                "{implementation} {uri}: {} requests, {bytes} bytes",
                WARM_UP + n
            );
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Sends the warm-up and `n` requests to `uri` of `app`, and the bytes of their bodies; `None`
/// if the app does not start.
async fn di_requests(app: App, uri: &'static str, n: usize) -> Option<usize> {
    let running = app.start().await.ok()?;
    let service = running.service();
    let mut bytes = 0;
    for _ in 0..WARM_UP + n {
        bytes += di_request(&service, uri).await;
    }
    running.shutdown().await;
    Some(bytes)
}
