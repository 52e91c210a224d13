//! The implementations the benchmarks compare answer alike: the same status, header fields
//! (see `harness::snapshot`) and body bytes on every route measured. The benches check this
//! before they measure; this test keeps it checked in CI, where the benches only compile.

use std::sync::Arc;

use di_bench::harness::{HELLO, ITEMS, STREAM, compare};
use di_bench::{Settings, axum_impl, di_impl, hyper_impl};

#[tokio::test]
async fn di_hyper_and_axum_send_the_same_responses() {
    let running = di_impl::app().start().await.expect("the di app starts");
    let di = running.service();
    let hyper = hyper_impl::service(Arc::new(Settings::load()));
    let axum = axum_impl::router(Arc::new(Settings::load()));
    for uri in [ITEMS, STREAM, HELLO] {
        let (status, headers, body) = compare(&di, &hyper, &axum, uri)
            .await
            .unwrap_or_else(|difference| panic!("{difference}"));
        assert_eq!(status, 200, "{uri}");
        assert!(!body.is_empty(), "{uri}");
        assert!(
            headers.iter().any(|(name, _)| name == "content-type"),
            "{uri}: {headers:?}"
        );
    }
    running.shutdown().await;
}

#[tokio::test]
async fn di_as_served_by_default_also_sends_the_request_id() {
    let running = di_impl::app_with_request_ids()
        .start()
        .await
        .expect("the di app starts");
    let response = running.service().call_request(di_bench::get(ITEMS)).await;
    assert!(response.headers().contains_key("x-request-id"));
    running.shutdown().await;
}
