//! The accept loop for the hyper and axum servers: the one `di`'s own server runs (hyper-util's
//! HTTP/1 + HTTP/2 `auto` builder, `TCP_NODELAY`, one task per connection), so that the HTTP
//! benchmark compares the request path, not the server loop.

use std::error::Error as StdError;
use std::future::Future;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Serves `service` on `listener` until `stop` completes; then stops accepting and returns
/// (open connections are dropped with the runtime).
pub async fn serve<S, B>(listener: TcpListener, service: S, stop: impl Future<Output = ()>)
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let connection = builder
                        .serve_connection(TokioIo::new(stream), service.clone())
                        .into_owned();
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            },
            () = &mut stop => break,
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The runtime `builder` makes with every driver enabled; `None` (said on stderr) if it cannot
/// be made.
pub fn runtime(mut builder: tokio::runtime::Builder) -> Option<tokio::runtime::Runtime> {
    match builder.enable_all().build() {
        Ok(runtime) => Some(runtime),
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            None
        }
    }
}

/// A bench server binary's `main`: reads `--impl NAME [--addr HOST:PORT]` (default
/// `127.0.0.1:3000`), runs `run(NAME, ADDR)` on a multi-threaded runtime, calls `done(NAME)`
/// after a clean stop, and reports a bad command line (exit 2) or a failure (exit 1).
pub fn main<F>(
    usage: &str,
    run: impl FnOnce(String, String) -> F,
    done: impl FnOnce(&str),
) -> std::process::ExitCode
where
    F: Future<Output = Result<(), Box<dyn StdError>>>,
{
    use std::process::ExitCode;
    let mut implementation = None;
    let mut addr = String::from("127.0.0.1:3000");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--impl", Some(value)) => implementation = Some(value),
            ("--addr", Some(value)) => addr = value,
            _ => {
                eprintln!("{usage}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(implementation) = implementation else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let Some(runtime) = runtime(tokio::runtime::Builder::new_multi_thread()) else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(run(implementation.clone(), addr)) {
        Ok(()) => {
            done(&implementation);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{implementation}: {error}");
            ExitCode::FAILURE
        }
    }
}
