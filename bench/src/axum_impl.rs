//! The reference workload in axum 0.8, written as an axum user would: `State` for the
//! settings, a caching extractor for the user, a `from_fn` middleware that commits or rolls
//! back by status, a `from_fn` middleware that opens the session and wraps the body to close
//! it after the last frame, and `Query`/`Json`.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, HeaderValue};
use axum::http::request::Parts;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};

use crate::body::{OnEnd, SessionEnd};
use crate::{
    Lines, NDJSON, Owned, Page, Reply, Session, Settings, Tx, User, check_limit, current_user,
    make_items, make_reply,
};

/// The app state: the settings, shared by every request.
pub type AppState = Arc<Settings>;

/// The router: `GET /items` (session and transaction middleware), `GET /stream` (session
/// middleware), `GET /hello` (none).
pub fn router(settings: AppState) -> Router {
    let session = || from_fn_with_state(settings.clone(), session_layer);
    Router::new()
        .route(
            "/items",
            get(list_items)
                .layer(from_fn_with_state(settings.clone(), tx_layer))
                .layer(session()),
        )
        .route("/stream", get(stream_lines).layer(session()))
        .route("/hello", get(hello))
        .with_state(settings)
}

/// The current user, computed once per request and cached in the request's extensions.
#[derive(Clone, Copy, Debug)]
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        settings: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<User>() {
            return Ok(Self(*user));
        }
        let user = current_user(settings);
        parts.extensions.insert(user);
        Ok(Self(user))
    }
}

/// The transaction, shared by the middleware and the handler.
#[derive(Clone, Debug)]
pub struct TxHandle(Arc<Mutex<Option<Tx>>>);

/// Opens the transaction, runs the handler, then commits (2xx) or rolls back, before the
/// response goes out.
async fn tx_layer(
    State(settings): State<AppState>,
    CurrentUser(user): CurrentUser,
    mut request: Request,
    next: Next,
) -> Response {
    let tx = TxHandle(Arc::new(Mutex::new(Some(Tx::begin(&settings, &user)))));
    request.extensions_mut().insert(tx.clone());
    let response = next.run(request).await;
    let tx = tx.0.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(tx) = tx {
        tx.finish(response.status().is_success());
    }
    response
}

/// Opens the session and closes it once the response body has been sent.
async fn session_layer(
    State(settings): State<AppState>,
    CurrentUser(user): CurrentUser,
    mut request: Request,
    next: Next,
) -> Response {
    let session = Session::open(&settings, &user);
    request.extensions_mut().insert(session);
    let response = next.run(request).await;
    let end = SessionEnd {
        session,
        success: response.status().is_success(),
    };
    response.map(|body| Body::new(OnEnd::new(body, end)))
}

/// `GET /items?limit=N`.
async fn list_items(
    State(settings): State<AppState>,
    Extension(tx): Extension<TxHandle>,
    Extension(session): Extension<Session>,
    Query(page): Query<Page>,
) -> Result<Json<Reply>, (StatusCode, Json<serde_json::Value>)> {
    let limit = check_limit(&settings, &page).map_err(|e| {
        let detail = serde_json::json!({ "detail": e.to_string() });
        (StatusCode::UNPROCESSABLE_ENTITY, Json(detail))
    })?;
    let items = make_items(limit);
    let mut tx = tx.0.lock().unwrap_or_else(PoisonError::into_inner);
    let tx = tx.as_mut().ok_or((
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::Value::Null),
    ))?;
    tx.record(&items);
    Ok(Json(make_reply(items, tx, &session)))
}

/// `GET /stream`: NDJSON lines reading the session.
async fn stream_lines(Extension(session): Extension<Session>) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static(NDJSON))],
        Body::from_stream(Lines::new(Owned(session))),
    )
        .into_response()
}

/// `GET /hello`: no dependency.
async fn hello() -> &'static str {
    crate::HELLO
}
