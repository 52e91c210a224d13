//! The server of the other workloads: `workloads --impl di|axum --addr 127.0.0.1:PORT` serves
//! `di_bench::workloads` (JSON and form bodies, path parameters among 30 routes, 1 MB
//! answers, 404 and 405) until SIGTERM or Ctrl-C. Measured by
//! `bench/workload-instructions.sh`.

use std::process::ExitCode;

use di_bench::{serve, workloads};

const USAGE: &str = "usage: workloads --impl di|axum [--addr 127.0.0.1:PORT]";

fn main() -> ExitCode {
    let mut implementation = None;
    let mut addr = String::from("127.0.0.1:3000");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--impl", Some(value)) => implementation = Some(value),
            ("--addr", Some(value)) => addr = value,
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(implementation) = implementation else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&implementation, &addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{implementation}: {error}");
            ExitCode::FAILURE
        }
    }
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
