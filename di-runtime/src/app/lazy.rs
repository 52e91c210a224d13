//! The [`App`] itself as a `tower::Service`, started on its first `poll_ready`.

use bytes::Bytes;
use http::StatusCode;

use crate::app::builder::{App, Serving};
use crate::app::error::BuildError;
use crate::response::body::{BoxError, Response};
use crate::response::error::HttpError;
use crate::response::into::IntoResponse;

/// The app itself as a [`tower_service::Service`], for servers and middleware of the tower
/// ecosystem: the first `poll_ready` starts it (checks the graph, sets up `app` scope) and
/// fails with the [`BuildError`] if it cannot start. `app` scope is then never torn down,
/// because a service has no end; to tear it down at shutdown, use
/// [`App::start`] and [`Running::service`](crate::Running::service) (and [`Running::shutdown`](crate::Running::shutdown)) instead, as
/// [`App::serve`] does.
///
/// ```
/// use di_runtime::prelude::*;
/// use tower_service::Service;
///
/// #[depends]
/// async fn hello() -> &'static str { "hello" }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// type Request = http::Request<http_body_util::Empty<Bytes>>;
///
/// let mut app = App::new().get("/", hello);
/// std::future::poll_fn(|cx| Service::<Request>::poll_ready(&mut app, cx))
///     .await
///     .expect("the app starts");
/// let response = app.call(Request::new(http_body_util::Empty::new())).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # }
/// ```
impl<B> tower_service::Service<http::Request<B>> for App
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = BuildError;
    type Future = futures_util::future::BoxFuture<'static, Result<Response, BuildError>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BuildError>> {
        use std::task::Poll;
        loop {
            match &mut self.serving {
                Serving::Ready(_) => return Poll::Ready(Ok(())),
                Serving::Failed(error) => return Poll::Ready(Err(error.clone())),
                Serving::Starting(starting) => match starting.as_mut().poll(cx) {
                    Poll::Ready(Ok(running)) => self.serving = Serving::Ready(running),
                    Poll::Ready(Err(error)) => self.serving = Serving::Failed(error),
                    Poll::Pending => return Poll::Pending,
                },
                Serving::Idle => {
                    let app = self.take();
                    self.serving = Serving::Starting(Box::pin(app.start()));
                }
            }
        }
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match &self.serving {
            Serving::Ready(running) => {
                let response = running.service().call_request(request);
                Box::pin(async move { Ok(response.await) })
            }
            // `call` before `poll_ready` said ready breaks the tower contract; answer 503
            // instead of panicking.
            _ => {
                let error = HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "Service not started");
                Box::pin(std::future::ready(Ok(error.into_response())))
            }
        }
    }
}
