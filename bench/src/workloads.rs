//! Workloads beyond the reference one, served the same way by di and by axum (`workloads
//! --impl di|axum`, measured by `bench/workload-instructions.sh`):
//!
//! | route | what it measures |
//! |---|---|
//! | `POST /json` | a `Json<Order>` body (about 1 KB), answered with a small JSON |
//! | `POST /json-list` | a `Json<Vec<Line>>` body (about 100 KB with 1,000 lines) |
//! | `GET /users/{id}/posts/{post}` | two path parameters, among 30 routes |
//! | `GET /bytes` | a 1 MiB `Bytes` body |
//! | `GET /vec` | a 1 MiB `Vec<u8>` body, made per request |
//! | `GET /json-big` | about 1 MB of JSON, serialized from a `Vec<Line>` per request |
//! | `POST /form` | a `Form<Signup>` body, 10 fields |
//! | `GET /hello` | a small answer (HTTP/2 streams, and the 405 of `POST /hello`) |
//! | `GET /q?limit=N` | a `Query<Limit>` of one number (`limit=abc`: the 422 of a value that does not parse) |
//! | `GET /hdr` | a `Header<Agent>` (`User-Agent`) among the request's other header fields; axum reads its `HeaderMap` |
//! | `POST /json-signup` | a `Json<Signup>` body (9 required fields): the 422 of a body missing them |
//! | `POST /upload` | a `Bytes` body read whole (1 MB sent chunked in 1 KB chunks by `load --body upload`), answered with its length |
//! | `GET /slow-teardown` | a small answer whose cleanup after the body waits [`slow_teardown`] (`SLOW_TEARDOWN_MS`, 50 ms by default): di's `request`-scope teardown, axum's task spawned when the body ends |
//!
//! Every handler does the same work in both: only the plumbing differs. A request that fails
//! to parse (`POST /json` with [`bad_order_body`], `GET /users/x/posts/y`, `GET /q?limit=abc`,
//! `POST /json-signup` with [`long_note_body`]) is answered by each framework in its own way:
//! di with its 422 and JSON problem list, axum with its own rejection (a 400 or a 422 with a
//! text body).

use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A JSON body of about 1 KB: a struct with a few fields.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Order {
    /// Its id.
    pub id: u64,
    /// The customer's name.
    pub customer: String,
    /// The customer's email.
    pub email: String,
    /// Whether it is paid.
    pub paid: bool,
    /// Its total.
    pub total: f64,
    /// Tags.
    pub tags: Vec<String>,
    /// A note of about 800 bytes.
    pub note: String,
}

/// One line of an order list: the 100 KB body (1,000 lines) and the 1 MB answer.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Line {
    /// Its id.
    pub id: u64,
    /// The product's name.
    pub product: String,
    /// How many.
    pub quantity: u32,
    /// The unit price.
    pub price: f64,
    /// Whether it is in stock.
    pub in_stock: bool,
}

/// A signup of 10 fields, 9 of them required: the HTML form of `POST /form`, the JSON body
/// of `POST /json-signup`.
#[derive(Clone, Debug, Deserialize)]
pub struct Signup {
    /// Field 1.
    pub username: String,
    /// Field 2.
    pub email: String,
    /// Field 3.
    pub password: String,
    /// Field 4.
    pub first_name: String,
    /// Field 5.
    pub last_name: String,
    /// Field 6.
    pub age: u32,
    /// Field 7.
    pub country: String,
    /// Field 8.
    pub city: String,
    /// Field 9.
    pub newsletter: bool,
    /// Field 10.
    pub referrer: Option<String>,
}

/// The query of `GET /q`: one number.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct Limit {
    /// The limit.
    pub limit: u32,
}

/// The header field `GET /hdr` reads by name.
#[derive(Clone, Debug, Deserialize)]
pub struct Agent {
    /// `User-Agent`.
    pub user_agent: String,
}

/// The small JSON answer to a body.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Ack {
    /// Always true.
    pub ok: bool,
    /// A number read from the body.
    pub count: u64,
}

/// The size of `/bytes` and `/vec`.
pub const BIG: usize = 1 << 20;
/// The number of lines of `/json-big` (about 1 MB of JSON).
pub const BIG_LINES: u64 = 13_000;

static BIG_BYTES: [u8; BIG] = [b'a'; BIG];

/// The answer to `POST /json`.
pub fn order_ack(order: &Order) -> Ack {
    Ack {
        ok: order.paid,
        count: order.id + order.tags.len() as u64 + order.note.len() as u64,
    }
}

/// The answer to `POST /json-list`.
pub fn lines_ack(lines: &[Line]) -> Ack {
    Ack {
        ok: true,
        count: lines.iter().map(|l| u64::from(l.quantity)).sum(),
    }
}

/// The answer to `POST /form`.
pub fn signup_ack(form: &Signup) -> Ack {
    Ack {
        ok: form.newsletter,
        count: u64::from(form.age) + form.username.len() as u64 + form.referrer.is_some() as u64,
    }
}

/// The answer to `GET /users/{id}/posts/{post}`.
pub fn post_text(id: u64, post: u64) -> String {
    format!("user {id} post {post}")
}

/// The answer to `GET /q`.
pub fn limit_text(limit: u32) -> String {
    format!("limit {limit}")
}

/// The answer to `POST /upload`.
pub fn upload_text(body: &[u8]) -> String {
    format!("received {}", body.len())
}

/// The answer to `GET /hdr`.
pub fn agent_text(agent: &str) -> String {
    format!("agent {}", agent.len())
}

/// The body of `/bytes`.
pub fn big_bytes() -> Bytes {
    Bytes::from_static(&BIG_BYTES)
}

/// The body of `/vec`, made per request.
pub fn big_vec() -> Vec<u8> {
    vec![b'a'; BIG]
}

/// The lines of `/json-big` and of the `/json-list` body.
pub fn make_lines(n: u64) -> Vec<Line> {
    (0..n)
        .map(|i| Line {
            id: i,
            product: format!("product number {i}"),
            quantity: (i % 7) as u32 + 1,
            price: (i % 100) as f64 + 0.25,
            in_stock: i % 3 != 0,
        })
        .collect()
}

/// `/json-big`'s lines, made once (the serialization is what is measured).
pub static BIG_JSON_LINES: LazyLock<Vec<Line>> = LazyLock::new(|| make_lines(BIG_LINES));

/// The 1 KB body of `POST /json`.
pub fn order_body() -> Vec<u8> {
    let order = Order {
        id: 12_345,
        customer: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        paid: true,
        total: 1234.5,
        tags: vec!["priority".into(), "gift".into(), "express".into()],
        note: "n".repeat(800),
    };
    serde_json::to_vec(&order).unwrap_or_default()
}

/// The 100 KB body of `POST /json-list`.
pub fn lines_body() -> Vec<u8> {
    serde_json::to_vec(&make_lines(1_165)).unwrap_or_default()
}

/// The form body of `POST /form`.
pub fn form_body() -> Vec<u8> {
    b"username=ada&email=ada%40example.com&password=s3cr3t%21pass&first_name=Ada&last_name=Lovelace&age=36&country=United+Kingdom&city=London&newsletter=true&referrer=https%3A%2F%2Fexample.com%2Fref".to_vec()
}

/// A `POST /json` body whose fields have the wrong types (`id` a string, `customer` a number,
/// `paid` a string) and the others missing: a 422 in di, axum's own 422.
pub fn bad_order_body() -> Vec<u8> {
    br#"{"id":"x","customer":1,"paid":"no"}"#.to_vec()
}

/// The length of [`long_note_body`]'s one string.
pub const LONG_NOTE: usize = 1_000_000;

/// A body of about 1 MB: one string field of [`LONG_NOTE`] bytes (and an empty list), none of
/// `Signup`'s fields; sent to `POST /json-signup`, it is missing all 9 required ones.
pub fn long_note_body() -> Vec<u8> {
    format!(r#"{{"note":"{}","tags":[]}}"#, "n".repeat(LONG_NOTE)).into_bytes()
}

/// The size of one chunk of the `POST /upload` body ([`UPLOAD_CHUNKS`] of them, 1 MB).
pub const UPLOAD_CHUNK: usize = 1024;
/// How many chunks the `POST /upload` body is sent in.
pub const UPLOAD_CHUNKS: usize = 1024;

/// The filler routes beside `/users/{id}/posts/{post}` (29, with it 30).
pub const FILLER_ROUTES: [&str; 29] = [
    "/users",
    "/users/{id}",
    "/users/{id}/posts",
    "/users/{id}/comments",
    "/users/{id}/comments/{comment}",
    "/users/{id}/followers",
    "/users/{id}/following",
    "/users/{id}/settings",
    "/posts",
    "/posts/{post}",
    "/posts/{post}/comments",
    "/posts/{post}/likes",
    "/orgs",
    "/orgs/{org}",
    "/orgs/{org}/members",
    "/orgs/{org}/repos",
    "/orgs/{org}/repos/{repo}",
    "/orgs/{org}/repos/{repo}/issues",
    "/orgs/{org}/repos/{repo}/issues/{issue}",
    "/orgs/{org}/repos/{repo}/pulls",
    "/search",
    "/search/users",
    "/search/posts",
    "/admin",
    "/admin/stats",
    "/admin/users/{id}",
    "/health",
    "/metrics",
    "/version",
];

/// How long the cleanup after `GET /slow-teardown`'s body waits: `SLOW_TEARDOWN_MS`
/// milliseconds, 50 if unset or not a number.
pub fn slow_teardown() -> Duration {
    static WAIT: LazyLock<Duration> = LazyLock::new(|| {
        let ms = std::env::var("SLOW_TEARDOWN_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(50);
        Duration::from_millis(ms)
    });
    *WAIT
}

/// di's app of these workloads.
pub mod di {
    use di_runtime::prelude::*;

    use super::{Ack, Agent, Limit, Line, Order, Signup};

    /// The app, without the `x-request-id` header (as the reference bench).
    pub fn app() -> App {
        let mut app = App::new()
            .request_id_header(None)
            .post("/json", post_order)
            .post("/json-list", post_lines)
            .post("/form", post_form)
            .get("/users/{id}/posts/{post}", user_post)
            .get("/bytes", bytes)
            .get("/vec", vec)
            .get("/json-big", json_big)
            .get("/hello", hello)
            .get("/q", q)
            .get("/hdr", hdr)
            .post("/json-signup", json_signup)
            .post("/upload", upload)
            .get("/slow-teardown", slow_teardown);
        for path in super::FILLER_ROUTES {
            app = app.get(path, filler);
        }
        app
    }

    #[depends]
    async fn post_order(Json(order): Json<Order>) -> Json<Ack> {
        Json(super::order_ack(&order))
    }

    #[depends]
    async fn post_lines(Json(lines): Json<Vec<Line>>) -> Json<Ack> {
        Json(super::lines_ack(&lines))
    }

    #[depends]
    async fn post_form(Form(form): Form<Signup>) -> Json<Ack> {
        Json(super::signup_ack(&form))
    }

    #[depends]
    async fn user_post(Path((id, post)): Path<(u64, u64)>) -> String {
        super::post_text(id, post)
    }

    #[depends]
    async fn bytes() -> Bytes {
        super::big_bytes()
    }

    #[depends]
    async fn vec() -> Vec<u8> {
        super::big_vec()
    }

    #[depends]
    async fn json_big() -> Json<&'static [Line]> {
        Json(super::BIG_JSON_LINES.as_slice())
    }

    #[depends]
    async fn hello() -> &'static str {
        crate::HELLO
    }

    #[depends]
    async fn q(Query(query): Query<Limit>) -> String {
        super::limit_text(query.limit)
    }

    #[depends]
    async fn hdr(Header(agent): Header<Agent>) -> String {
        super::agent_text(&agent.user_agent)
    }

    #[depends]
    async fn json_signup(Json(form): Json<Signup>) -> Json<Ack> {
        Json(super::signup_ack(&form))
    }

    #[depends]
    async fn upload(body: Bytes) -> String {
        super::upload_text(&body)
    }

    #[depends]
    async fn filler() -> &'static str {
        "filler"
    }

    /// A session closed after the body, slowly.
    #[depends(scope = "request")]
    async fn slow_session(y: Yield<()>) {
        let ((), _) = y.provide(()).await;
        tokio::time::sleep(super::slow_teardown()).await;
    }

    #[depends]
    async fn slow_teardown(#[dep(slow_session)] _session: &()) -> &'static str {
        crate::HELLO
    }
}

/// axum's router of these workloads.
pub mod axum {
    use axum::body::Body;
    use axum::extract::{Form, Path, Query};
    use axum::response::Response;
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use bytes::Bytes;
    use http::{HeaderMap, StatusCode};
    use http_body_util::Full;

    use crate::body::{AfterBody, OnEnd};

    use super::{Ack, Limit, Line, Order, Signup};

    /// The router.
    pub fn router() -> Router {
        let mut router = Router::new()
            .route("/json", post(post_order))
            .route("/json-list", post(post_lines))
            .route("/form", post(post_form))
            .route("/users/{id}/posts/{post}", get(user_post))
            .route("/bytes", get(bytes))
            .route("/vec", get(vec))
            .route("/json-big", get(json_big))
            .route("/hello", get(hello))
            .route("/q", get(q))
            .route("/hdr", get(hdr))
            .route("/json-signup", post(json_signup))
            .route("/upload", post(upload))
            .route("/slow-teardown", get(slow_teardown));
        for path in super::FILLER_ROUTES {
            router = router.route(path, get(filler));
        }
        router
    }

    async fn post_order(Json(order): Json<Order>) -> Json<Ack> {
        Json(super::order_ack(&order))
    }

    async fn post_lines(Json(lines): Json<Vec<Line>>) -> Json<Ack> {
        Json(super::lines_ack(&lines))
    }

    async fn post_form(Form(form): Form<Signup>) -> Json<Ack> {
        Json(super::signup_ack(&form))
    }

    async fn user_post(Path((id, post)): Path<(u64, u64)>) -> String {
        super::post_text(id, post)
    }

    async fn bytes() -> Bytes {
        super::big_bytes()
    }

    async fn vec() -> Vec<u8> {
        super::big_vec()
    }

    async fn json_big() -> Json<&'static [Line]> {
        Json(super::BIG_JSON_LINES.as_slice())
    }

    async fn hello() -> &'static str {
        crate::HELLO
    }

    async fn q(Query(query): Query<Limit>) -> String {
        super::limit_text(query.limit)
    }

    /// `User-Agent` from the header map (axum has no extractor of header fields by name): a
    /// 400 when it is missing or not text.
    async fn hdr(headers: HeaderMap) -> Result<String, (StatusCode, &'static str)> {
        let agent = headers
            .get(http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .ok_or((StatusCode::BAD_REQUEST, "missing user-agent"))?;
        Ok(super::agent_text(agent))
    }

    async fn json_signup(Json(form): Json<Signup>) -> Json<Ack> {
        Json(super::signup_ack(&form))
    }

    async fn upload(body: Bytes) -> String {
        super::upload_text(&body)
    }

    async fn filler() -> &'static str {
        "filler"
    }

    /// A session closed after the body, slowly: in a task spawned when the body ends.
    struct SlowEnd;

    impl AfterBody for SlowEnd {
        fn after_body(self, _completed: bool) {
            tokio::spawn(tokio::time::sleep(super::slow_teardown()));
        }
    }

    async fn slow_teardown() -> Response {
        let body = OnEnd::new(
            Full::new(Bytes::from_static(crate::HELLO.as_bytes())),
            SlowEnd,
        );
        Response::new(Body::new(body))
    }
}
