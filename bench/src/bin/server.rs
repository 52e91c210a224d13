//! The benchmark server: `server --impl di|di-ids|hyper|axum --addr 127.0.0.1:PORT` (`di-ids`:
//! di with its default `x-request-id` response header, which the other implementations do not
//! send).
//!
//! Serves the reference workload (`/items?limit=N`, `/stream`, `/hello`) with the chosen
//! implementation on a multi-threaded tokio runtime until SIGTERM or Ctrl-C, then prints how
//! many transactions committed and sessions closed.

use std::process::ExitCode;
use std::sync::Arc;

use di_bench::{Settings, axum_impl, counts, di_impl, hyper_impl, serve};

const USAGE: &str = "usage: server --impl di|di-ids|hyper|axum [--addr 127.0.0.1:PORT]";

fn main() -> ExitCode {
    serve::main(
        USAGE,
        |implementation, addr| async move { run(&implementation, &addr).await },
        |implementation| eprintln!("{implementation}: {}", counts()),
    )
}

async fn run(implementation: &str, addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let settings = Arc::new(Settings::load());
    match implementation {
        "di" | "di-ids" => {
            // `di-ids`: with di's default `x-request-id` header, which the others do not send.
            let app = match implementation {
                "di" => di_impl::app(),
                _ => di_impl::app_with_request_ids(),
            };
            eprintln!("{implementation}: listening on {addr}");
            app.serve(addr).await?;
        }
        "hyper" => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            eprintln!("hyper: listening on {}", listener.local_addr()?);
            let service = hyper_impl::service(settings);
            serve::serve(listener, service, serve::shutdown_signal()).await;
        }
        "axum" => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            eprintln!("axum: listening on {}", listener.local_addr()?);
            let service =
                hyper_util::service::TowerToHyperService::new(axum_impl::router(settings));
            serve::serve(listener, service, serve::shutdown_signal()).await;
        }
        other => return Err(format!("unknown implementation `{other}`; {USAGE}").into()),
    }
    Ok(())
}
