//! The server of the other workloads: `workloads --impl di|axum --addr 127.0.0.1:PORT` serves
//! `di_bench::workloads` (JSON and form bodies, path parameters among 30 routes, 1 MB
//! answers, 404 and 405, a query, a header field by name, and inputs that do not parse) until
//! SIGTERM or Ctrl-C. Measured by `bench/workload-instructions.sh`.

use std::process::ExitCode;

use di_bench::{serve, workloads};

const USAGE: &str = "usage: workloads --impl di|axum [--addr 127.0.0.1:PORT]";

fn main() -> ExitCode {
    serve::main(
        USAGE,
        |implementation, addr| async move { run(&implementation, &addr).await },
        |_| {},
    )
}

async fn run(implementation: &str, addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    // Made before the first request, in both.
    let _ = workloads::BIG_JSON_LINES.len();
    match implementation {
        "di" => {
            eprintln!("di: listening on {addr}");
            workloads::di::app().serve(addr).await?;
        }
        "axum" => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            eprintln!("axum: listening on {}", listener.local_addr()?);
            let service = hyper_util::service::TowerToHyperService::new(workloads::axum::router());
            serve::serve(listener, service, serve::shutdown_signal()).await;
        }
        other => return Err(format!("unknown implementation `{other}`; {USAGE}").into()),
    }
    Ok(())
}
