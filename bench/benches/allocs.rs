//! Heap allocations and bytes per request, in process: `cargo bench -p di-bench --bench allocs`.
//!
//! The `dhat` heap profiler is this binary's global allocator (no `unsafe` of ours). For each
//! implementation and route, and for each di graph, it sends warm-up requests, then counts the
//! allocations of `DI_BENCH_REQUESTS` requests (default 1000) including everything they leave
//! to the runtime (di's background teardowns, awaited with `settle`), and prints a table.

use std::sync::Arc;

use di_bench::harness::{HELLO, ITEMS, STREAM, axum_request, compare, di_request, hyper_request};
use di_bench::{Settings, axum_impl, di_impl, graphs, hyper_impl};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const WARM_UP: usize = 100;

fn requests() -> usize {
    std::env::var("DI_BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1000)
}

/// Allocations and bytes per request of `run`, which sends `n` requests.
async fn measure<F, Fut>(n: usize, settle: impl AsyncFn(), mut run: F) -> (f64, f64)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    run(WARM_UP).await;
    settle().await;
    let before = dhat::HeapStats::get();
    run(n).await;
    settle().await;
    let after = dhat::HeapStats::get();
    let per = |a: u64, b: u64| (b - a) as f64 / n as f64;
    (
        per(before.total_blocks, after.total_blocks),
        per(before.total_bytes, after.total_bytes),
    )
}

fn main() {
    // Only counts are read: testing mode writes no profile file.
    let _profiler = dhat::Profiler::builder()
        .testing()
        .trim_backtraces(Some(4))
        .build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let n = requests();
    rt.block_on(async {
        let running = di_impl::app().start().await.expect("the di app starts");
        let di = running.service();
        let hyper = hyper_impl::service(Arc::new(Settings::load()));
        let axum = axum_impl::router(Arc::new(Settings::load()));
        let graph_app = graphs::app().start().await.expect("the graph app starts");
        let graph = graph_app.service();
        let settle = async || {
            running.settle().await;
            graph_app.settle().await;
        };

        println!("heap allocations per request ({n} requests after {WARM_UP} warm-up; dhat)\n");
        println!("| route | implementation | allocs/request | bytes/request | allocs vs hyper |");
        println!("|---|---|---:|---:|---:|");
        for uri in [ITEMS, STREAM, HELLO] {
            if let Err(difference) = compare(&di, &hyper, &axum, uri).await {
                panic!("the implementations differ: {difference}");
            }
            let di = measure(n, settle, async |k| {
                for _ in 0..k {
                    di_request(&di, uri).await;
                }
            })
            .await;
            let hyper = measure(n, settle, async |k| {
                for _ in 0..k {
                    hyper_request(&hyper, uri).await;
                }
            })
            .await;
            let axum = measure(n, settle, async |k| {
                for _ in 0..k {
                    axum_request(&axum, uri).await;
                }
            })
            .await;
            for (which, (allocs, bytes)) in [("di", di), ("hyper", hyper), ("axum", axum)] {
                println!(
                    "| {uri} | {which} | {allocs:.1} | {bytes:.0} | {:+.1} |",
                    allocs - hyper.0
                );
            }
        }

        println!("\ndi dependency graphs (`/graph/{{shape}}/{{n}}`; handler answers `ok`)\n");
        println!(
            "| shape | dependencies | allocs/request | bytes/request | allocs per added dependency | bytes per added dependency |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        for shape in graphs::SHAPES {
            let mut first: Option<(usize, f64, f64)> = None;
            for size in graphs::SIZES {
                let uri = graphs::static_path(shape, size);
                let (allocs, bytes) = measure(n, settle, async |k| {
                    for _ in 0..k {
                        di_request(&graph, uri).await;
                    }
                })
                .await;
                let (added_allocs, added_bytes) = match first {
                    Some((size1, allocs1, bytes1)) if size > size1 => {
                        let added = (size - size1) as f64;
                        (
                            format!("{:.1}", (allocs - allocs1) / added),
                            format!("{:.0}", (bytes - bytes1) / added),
                        )
                    }
                    _ => {
                        first = Some((size, allocs, bytes));
                        (String::from("-"), String::from("-"))
                    }
                };
                println!(
                    "| {shape} | {size} | {allocs:.1} | {bytes:.0} | {added_allocs} | {added_bytes} |"
                );
            }
        }
        running.shutdown().await;
        graph_app.shutdown().await;
    });
}
