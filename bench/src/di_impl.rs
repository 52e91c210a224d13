//! The reference workload in `di`: every dependency is a `#[depends]` function.

use di_runtime::prelude::*;

use crate::{
    Lines, NDJSON, Page, Reply, Session, Settings, Tx, User, check_limit, current_user, make_items,
    make_reply,
};

/// The app: `GET /items`, `GET /stream`, `GET /hello`, sending the same bytes as the other
/// implementations: without di's `x-request-id` response header, which none of them sends.
pub fn app() -> App {
    app_with_request_ids().request_id_header(None)
}

/// [`app`] as di serves by default: each response also carries its request's id in an
/// `x-request-id` header (what that costs is measured apart: `count di-ids`, `server --impl
/// di-ids`).
pub fn app_with_request_ids() -> App {
    App::new()
        .get("/items", list_items)
        .get("/stream", stream_lines)
        .get("/hello", hello)
}

/// The settings, once per app.
#[depends(scope = "app")]
pub async fn settings() -> Settings {
    Settings::load()
}

/// The current user: plain, used by `tx` and `session`, computed once per request.
#[depends]
pub async fn user(#[dep(settings)] settings: &Settings) -> User {
    current_user(settings)
}

/// The transaction: commits on success, rolls back otherwise, before the response head.
#[depends(scope = "handler")]
pub async fn tx(#[dep(settings)] settings: &Settings, #[dep(user)] user: &User, y: Yield<Tx>) {
    let (tx, outcome) = y.provide(Tx::begin(settings, user)).await;
    tx.finish(outcome.is_success());
}

/// The session: closed after the response body has been sent.
#[depends]
pub async fn session(
    #[dep(settings)] settings: &Settings,
    #[dep(user)] user: &User,
    y: Yield<Session>,
) {
    let (session, outcome) = y.provide(Session::open(settings, user)).await;
    session.close(outcome.is_success());
}

/// `GET /items?limit=N`.
#[depends]
pub async fn list_items(
    #[dep(settings)] settings: &Settings,
    #[dep(tx)] tx: &mut Tx,
    #[dep(session)] session: &Session,
    Query(page): Query<Page>,
) -> Result<Json<Reply>, HttpError> {
    let limit = check_limit(settings, &page)
        .map_err(|e| HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let items = make_items(limit);
    tx.record(&items);
    Ok(Json(make_reply(items, tx, session)))
}

/// `GET /stream`: NDJSON lines read from the `request`-scoped session the body holds.
#[depends]
pub async fn stream_lines(
    #[dep(session)] session: Held<Session>,
) -> StreamBody<Lines<Held<Session>>> {
    StreamBody::new(Lines::new(session)).content_type(NDJSON)
}

/// `GET /hello`: no dependency.
#[depends]
pub async fn hello() -> &'static str {
    crate::HELLO
}
