//! In-process cost per request, no sockets: `cargo bench -p di-bench --bench inprocess`.
//!
//! - `items`: the reference workload (`GET /items?limit=5`) in di, the hand-written hyper
//!   `service_fn` and axum;
//! - `stream`: `GET /stream` (100 NDJSON lines) in the three;
//! - `hello`: a route with no dependency in the three;
//! - `graph/{shape}`: di graphs of 1, 5, 20 and 50 dependencies in four shapes.
//!
//! Every iteration sends one request, reads the body to its end and yields once to the runtime
//! (see `di_bench::harness`). A benchmark reports numbers; it asserts nothing about time.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use di_bench::harness::{
    HELLO, ITEMS, STREAM, axum_request, compare, di_request, hyper_request, snapshot,
};
use di_bench::{Settings, axum_impl, di_impl, graphs, hyper_impl};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn frameworks(c: &mut Criterion) {
    let rt = runtime();
    let running = rt
        .block_on(di_impl::app().start())
        .expect("the di app starts");
    let di = running.service();
    let hyper = hyper_impl::service(Arc::new(Settings::load()));
    let axum = axum_impl::router(Arc::new(Settings::load()));
    for uri in [ITEMS, STREAM, HELLO] {
        match rt.block_on(compare(&di, &hyper, &axum, uri)) {
            Ok((status, headers, body)) => eprintln!(
                "{uri}: di, hyper and axum agree: {status} {headers:?}, {} bytes",
                body.len()
            ),
            Err(difference) => panic!("the implementations differ: {difference}"),
        }
    }

    for (name, uri) in [("items", ITEMS), ("stream", STREAM), ("hello", HELLO)] {
        let mut group = c.benchmark_group(name);
        let (di, hyper, axum) = (&di, &hyper, &axum);
        group.bench_function("di", |b| {
            b.to_async(&rt)
                .iter(move || async move { black_box(di_request(di, uri).await) });
        });
        group.bench_function("hyper", |b| {
            b.to_async(&rt)
                .iter(move || async move { black_box(hyper_request(hyper, uri).await) });
        });
        group.bench_function("axum", |b| {
            b.to_async(&rt)
                .iter(move || async move { black_box(axum_request(axum, uri).await) });
        });
        group.finish();
        rt.block_on(running.settle());
    }
    rt.block_on(running.shutdown());
}

fn graph_sizes(c: &mut Criterion) {
    let rt = runtime();
    let running = rt
        .block_on(graphs::app().start())
        .expect("the graph app starts");
    let di = &running.service();
    for shape in graphs::SHAPES {
        for n in graphs::SIZES {
            let uri = graphs::static_path(shape, n);
            let (status, _, body) =
                rt.block_on(async { snapshot(di.call_request(di_bench::get(uri)).await).await });
            assert!(
                status == 200 && body == "ok",
                "{uri} answered {status} {body:?}"
            );
        }
    }
    for shape in graphs::SHAPES {
        let mut group = c.benchmark_group(format!("graph/{shape}"));
        for n in graphs::SIZES {
            let uri = graphs::static_path(shape, n);
            group.bench_with_input(BenchmarkId::from_parameter(n), &uri, |b, &uri| {
                b.to_async(&rt)
                    .iter(move || async move { black_box(di_request(di, uri).await) });
            });
        }
        group.finish();
        rt.block_on(running.settle());
    }
    rt.block_on(running.shutdown());
}

criterion_group!(benches, frameworks, graph_sizes);
criterion_main!(benches);
