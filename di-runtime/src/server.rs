//! Serving over TCP with hyper (HTTP/1 and HTTP/2) and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::{App, Running, ServeError};
use crate::service::{AppService, HyperService};

impl App {
    /// Serves on `addr` until Ctrl-C, then shuts down gracefully: stops accepting, lets
    /// in-flight requests and bodies finish (up to the shutdown grace), drains background
    /// teardowns, then tears down `app` scope.
    pub async fn serve(self, addr: impl ToSocketAddrs) -> Result<(), ServeError> {
        self.serve_with_shutdown(addr, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    }

    /// Like [`serve`](App::serve), shutting down when `signal` completes.
    pub async fn serve_with_shutdown(
        self,
        addr: impl ToSocketAddrs,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let server = self.bind(addr).await?;
        tracing::info!(target: "di", addr = %server.local_addr(), "listening");
        signal.await;
        tracing::info!(target: "di", "shutting down");
        server.shutdown().await;
        Ok(())
    }

    /// Starts the app and serves it on `addr` in a background task; use port 0 for any free
    /// port. Returns once the socket is listening.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<Server, ServeError> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let running = self.start().await?;
        let service = running.service();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(running, listener, stopped));
        Ok(Server {
            local_addr,
            service,
            stop: Some(stop),
            task,
        })
    }
}

/// An app serving in the background; see [`App::bind`].
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    service: AppService,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits until no background (`request`-scope) teardown is running.
    pub async fn settle(&self) {
        self.service.settle().await;
    }

    /// How many teardowns have failed, timed out or panicked so far.
    pub fn teardown_failures(&self) -> u64 {
        self.service.teardown_failures()
    }

    /// Shuts down gracefully and waits until `app`-scope teardown is done.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Err(error) = (&mut self.task).await {
            tracing::error!(target: "di", %error, "the server task failed");
        }
    }
}

async fn accept_loop(running: Running, listener: TcpListener, mut stop: oneshot::Receiver<()>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let service = HyperService(running.service());
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let connection = builder.serve_connection(TokioIo::new(stream), service.clone());
                    let connection = graceful.watch(connection.into_owned());
                    tokio::spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::debug!(target: "di", %error, "connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(target: "di", %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = &mut stop => break,
        }
    }
    drop(listener);
    let grace = running.shared.config.shutdown_grace;
    let connections = graceful.shutdown();
    tokio::pin!(connections);
    if tokio::time::timeout(grace, &mut connections).await.is_err() {
        tracing::warn!(target: "di", grace_ms = grace.as_millis() as u64, "grace period over; cutting remaining responses");
        running.shared.hard_stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut connections).await;
    }
    running.shutdown().await;
}
