//! The settings a running app reads on every request.

use std::time::Duration;

use crate::run::deadline::MinRate;

/// Settings of an app; set through the `App` builder.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) body_limit: usize,
    pub(crate) teardown_timeout: Duration,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) shutdown_grace: Duration,
    pub(crate) max_background: usize,
    pub(crate) place_wait: Duration,
    /// How long an HTTP/1 client may take to send a request head (the server's; hyper's
    /// timer).
    pub(crate) header_read_timeout: Duration,
    /// How long a connection may stay idle (no request in progress) before it is closed
    /// gracefully; read by the accept loop only.
    pub(crate) idle_timeout: Duration,
    /// How long a connection may leave a response frame untaken (its client reads nothing)
    /// before it is cut; read by the accept loop only.
    pub(crate) send_timeout: Duration,
    /// TCP keep-alive's idle time on accepted sockets (`App::tcp_keepalive`); `None`: off.
    /// Read by the accept loop only.
    pub(crate) tcp_keepalive: Option<Duration>,
    /// Requests handled at once, past which new ones are shed with a 503.
    pub(crate) max_in_flight: Option<usize>,
    /// How long reading a whole request body may take.
    pub(crate) body_timeout: Duration,
    /// The slowest a request body may arrive, after a grace period.
    pub(crate) body_min_rate: MinRate,
    /// The largest request head, HTTP/1 (hyper's read buffer) and HTTP/2 (the header list).
    pub(crate) max_head_size: usize,
    /// Connections served at once; past it new ones wait in the listen backlog.
    pub(crate) max_connections: usize,
    /// HTTP/2 settings of the server; read by the accept loop only.
    pub(crate) http2: Http2Config,
    /// The header a request's id is read from and sent back in; `None`: neither.
    pub(crate) request_id_header: Option<http::HeaderName>,
}

/// HTTP/2 settings; see the `App::http2_*` builder methods.
#[derive(Clone, Debug)]
pub(crate) struct Http2Config {
    pub(crate) max_concurrent_streams: u32,
    pub(crate) keep_alive_interval: Option<Duration>,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) max_pending_accept_reset_streams: usize,
    pub(crate) max_local_error_reset_streams: usize,
    /// The most of a response each stream buffers before its body is asked for more.
    pub(crate) max_send_buf_size: usize,
}

/// TCP keep-alive's default idle time on accepted sockets (`App::tcp_keepalive`).
pub(crate) const DEFAULT_TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// What each HTTP/2 stream buffers of its response at most (`App::http2_max_send_buffer`):
/// one frame of HTTP/2's default size, as large as the server gathers a body's chunks.
pub(crate) const DEFAULT_HTTP2_SEND_BUFFER: usize = 16 * 1024;

impl Default for Http2Config {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 100,
            keep_alive_interval: Some(Duration::from_secs(30)),
            keep_alive_timeout: Duration::from_secs(20),
            // h2's own defaults, named so that a change of the library cannot loosen them.
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 1024,
            // h2's is 400 KiB a stream: a client whose window lets it all in and that reads
            // nothing holds 40 MB of one connection's 100 streams until `send_timeout`.
            max_send_buf_size: DEFAULT_HTTP2_SEND_BUFFER,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            body_limit: 2 * 1024 * 1024,
            teardown_timeout: Duration::from_secs(30),
            // Long enough for any handler that should answer at all (an import of a large
            // upload included); short enough that a stuck one does not hold its dependencies
            // and its connection for good.
            request_timeout: Some(Duration::from_secs(60)),
            shutdown_grace: Duration::from_secs(30),
            max_background: 10_000,
            place_wait: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(30),
            // As long as hyper's header timer allows for HTTP/1 (it runs from the moment a
            // kept-alive connection goes idle, so an HTTP/1 connection cannot stay idle longer
            // than `header_read_timeout`); see `App::idle_timeout` for the comparison.
            idle_timeout: Duration::from_secs(30),
            // nginx's `send_timeout`.
            send_timeout: Duration::from_secs(60),
            // A vanished peer found after about 90 s (see `App::tcp_keepalive`).
            tcp_keepalive: Some(DEFAULT_TCP_KEEPALIVE),
            max_in_flight: None,
            body_timeout: Duration::from_secs(30),
            // Kestrel's `MinRequestBodyDataRate`: 240 bytes/s after a 5 s grace period.
            body_min_rate: MinRate {
                bytes_per_second: 240,
                grace: Duration::from_secs(5),
            },
            max_head_size: 128 * 1024,
            max_connections: 10_000,
            http2: Http2Config::default(),
            request_id_header: Some(http::HeaderName::from_static("x-request-id")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_has_a_deadline_by_default() {
        assert_eq!(
            Config::default().request_timeout,
            Some(Duration::from_secs(60))
        );
    }
}
