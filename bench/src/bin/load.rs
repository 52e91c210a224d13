//! A fixed number of requests to a server, for `bench/workload-instructions.sh`:
//!
//! `load --addr 127.0.0.1:PORT --requests N [--method M] [--path P] [--body NAME]
//! [--connections C] [--h2 STREAMS] [--header NAME:VALUE]... [--extra-headers K] [--close 1]
//! [--cookies 1]`
//!
//! HTTP/1.1: `C` keep-alive connections (default 4), each sending its share of the `N`
//! requests one after another; with `--close 1` each request is sent with `Connection: close`
//! on a connection of its own (each of the `C` clients opens one after another). `--h2 S`:
//! one HTTP/2 connection (prior knowledge) with `S` requests in flight at once. `--body`
//! names one of `di_bench::workloads`' bodies (`order`, `lines`, `form`, `bad-order`,
//! `long-note`, `escaped`, `form30`), or `upload`: 1 MB sent `Transfer-Encoding: chunked`
//! in 1 KB chunks (a frame each, no `Content-Length`). `--header` adds a header field
//! (repeatable); `--extra-headers K` adds `K` fields `x-filler-{i}` of about 40 bytes each;
//! `--cookies 1` adds the `Cookie` header of `workloads::COOKIE_HEADER` (8 cookies, with
//! spaces, which a `--header` from the script's word-split arguments cannot hold). Every
//! response is read to its end; the first one's status and body length are printed, and the
//! run fails if any status differs from it.

use std::convert::Infallible;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use di_bench::workloads;
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, Either, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone)]
struct Spec {
    addr: String,
    method: http::Method,
    path: String,
    body: Bytes,
    content_type: Option<&'static str>,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    close: bool,
    // Send `body` as this many chunks of it, of no declared length (`--body upload`).
    chunks: Option<usize>,
}

/// A request body: whole (`Content-Length`), or chunks.
type LoadBody = Either<Full<Bytes>, Chunks>;

/// `left` frames of `chunk`, their total undeclared: hyper's client sends them
/// `Transfer-Encoding: chunked`, a chunk a frame.
struct Chunks {
    chunk: Bytes,
    left: usize,
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Spec {
    fn request(&self) -> http::Request<LoadBody> {
        let mut builder = http::Request::builder()
            .method(self.method.clone())
            .uri(format!("http://{}{}", self.addr, self.path));
        if let Some(content_type) = self.content_type {
            builder = builder.header(http::header::CONTENT_TYPE, content_type);
        }
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        if self.close {
            builder = builder.header(http::header::CONNECTION, "close");
        }
        let body = match self.chunks {
            Some(left) => Either::Right(Chunks {
                chunk: self.body.clone(),
                left,
            }),
            None => Either::Left(Full::new(self.body.clone())),
        };
        builder
            .body(body)
            .unwrap_or_else(|_| http::Request::new(Either::Left(Full::default())))
    }
}

/// The first response's status and body length, and whether every status matched it.
#[derive(Default)]
struct Seen {
    first: std::sync::OnceLock<(u16, usize)>,
    mismatches: AtomicUsize,
}

impl Seen {
    fn record(&self, status: u16, length: usize) {
        let first = self.first.get_or_init(|| (status, length));
        if first.0 != status {
            self.mismatches.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn main() -> ExitCode {
    let mut spec = Spec {
        addr: "127.0.0.1:3000".into(),
        method: http::Method::GET,
        path: "/hello".into(),
        body: Bytes::new(),
        content_type: None,
        headers: Vec::new(),
        close: false,
        chunks: None,
    };
    let mut requests = 0usize;
    let mut connections = 4usize;
    let mut h2 = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let Some(value) = args.next() else {
            eprintln!("{arg}: missing value");
            return ExitCode::from(2);
        };
        match arg.as_str() {
            "--addr" => spec.addr = value,
            "--method" => spec.method = value.parse().unwrap_or(http::Method::GET),
            "--path" => spec.path = value,
            "--requests" => requests = value.parse().unwrap_or(0),
            "--connections" => connections = value.parse().unwrap_or(1).max(1),
            "--h2" => h2 = value.parse().ok(),
            "--close" => spec.close = value == "1",
            "--header" => {
                let parsed = value.split_once(':').and_then(|(name, value)| {
                    Some((name.trim().parse().ok()?, value.trim().parse().ok()?))
                });
                let Some(field) = parsed else {
                    eprintln!("--header {value}: not NAME:VALUE");
                    return ExitCode::from(2);
                };
                spec.headers.push(field);
            }
            "--cookies" => {
                if value == "1" {
                    spec.headers.push((
                        http::header::COOKIE,
                        http::HeaderValue::from_static(workloads::COOKIE_HEADER),
                    ));
                }
            }
            "--extra-headers" => {
                for i in 0..value.parse().unwrap_or(0usize) {
                    let name = format!("x-filler-{i}").parse();
                    let value = format!("value-{i}-abcdefghijklmnopqrstuvwxyz").parse();
                    if let (Ok(name), Ok(value)) = (name, value) {
                        spec.headers.push((name, value));
                    }
                }
            }
            "--body" => {
                let (body, content_type) = match value.as_str() {
                    "order" => (workloads::order_body(), "application/json"),
                    "lines" => (workloads::lines_body(), "application/json"),
                    "form" => (workloads::form_body(), "application/x-www-form-urlencoded"),
                    "bad-order" => (workloads::bad_order_body(), "application/json"),
                    "long-note" => (workloads::long_note_body(), "application/json"),
                    "escaped" => (workloads::escaped_body(), "application/json"),
                    "form30" => (
                        workloads::form30_body(),
                        "application/x-www-form-urlencoded",
                    ),
                    "upload" => {
                        spec.chunks = Some(workloads::UPLOAD_CHUNKS);
                        (
                            vec![b'u'; workloads::UPLOAD_CHUNK],
                            "application/octet-stream",
                        )
                    }
                    other => {
                        eprintln!("unknown body `{other}`");
                        return ExitCode::from(2);
                    }
                };
                spec.body = body.into();
                spec.content_type = Some(content_type);
            }
            other => {
                eprintln!("unknown argument `{other}`");
                return ExitCode::from(2);
            }
        }
    }
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::FAILURE;
    };
    let seen = Arc::new(Seen::default());
    let result = runtime.block_on(async {
        match h2 {
            Some(streams) => run_h2(&spec, requests, streams, &seen).await,
            None => run_h1(&spec, requests, connections, &seen).await,
        }
    });
    if let Err(error) = result {
        eprintln!("load: {error}");
        return ExitCode::FAILURE;
    }
    let (status, length) = seen.first.get().copied().unwrap_or((0, 0));
    let mismatches = seen.mismatches.load(Ordering::Relaxed);
    let sent = spec.body.len() * spec.chunks.unwrap_or(1);
    println!(
        "{requests} requests ({sent} request body bytes): status {status}, {length} body bytes, {mismatches} other statuses"
    );
    if mismatches == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn send<B>(
    response: impl Future<Output = Result<http::Response<B>, hyper::Error>>,
    seen: &Seen,
) -> Result<(), BoxError>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let response = response.await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(Into::into)?;
    seen.record(status, body.to_bytes().len());
    Ok(())
}

async fn run_h1(
    spec: &Spec,
    requests: usize,
    connections: usize,
    seen: &Arc<Seen>,
) -> Result<(), BoxError> {
    let mut tasks = Vec::new();
    for c in 0..connections {
        let share = requests / connections + usize::from(c < requests % connections);
        let (spec, seen) = (spec.clone(), seen.clone());
        tasks.push(tokio::spawn(async move {
            if spec.close {
                // A connection per request, closed by the server after its response.
                for _ in 0..share {
                    let (mut sender, connection) = connect_h1(&spec.addr).await?;
                    let connection = tokio::spawn(connection);
                    sender.ready().await?;
                    send(sender.send_request(spec.request()), &seen).await?;
                    drop(sender);
                    connection.await??;
                }
                return Ok::<(), BoxError>(());
            }
            let (mut sender, connection) = connect_h1(&spec.addr).await?;
            tokio::spawn(connection);
            for _ in 0..share {
                sender.ready().await?;
                send(sender.send_request(spec.request()), &seen).await?;
            }
            Ok::<(), BoxError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

async fn connect_h1(
    addr: &str,
) -> Result<
    (
        hyper::client::conn::http1::SendRequest<LoadBody>,
        hyper::client::conn::http1::Connection<TokioIo<TcpStream>, LoadBody>,
    ),
    BoxError,
> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?)
}

async fn run_h2(
    spec: &Spec,
    requests: usize,
    streams: usize,
    seen: &Arc<Seen>,
) -> Result<(), BoxError> {
    let stream = TcpStream::connect(&spec.addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..streams.max(1) {
        let (spec, seen, next, mut sender) =
            (spec.clone(), seen.clone(), next.clone(), sender.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                sender.ready().await?;
                send(sender.send_request(spec.request()), &seen).await?;
            }
            Ok::<(), BoxError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}
