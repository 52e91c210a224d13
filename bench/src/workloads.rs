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
//! | `GET /cookie` | a `Cookie<Session>` (5 fields, one optional) among 8 cookies; axum parses its `Cookie` header by hand |
//! | `GET /find?...` | a `Query<Search>` of 10 fields (4 `Option`s, a `Vec` of a repeated key); axum (without axum-extra, whose `Query` reads lists) reads the pairs with `form_urlencoded` |
//! | `GET /events` | 1,000 SSE-like events of about 20 bytes, streamed (`StreamBody`; axum's `Body::from_stream`) |
//! | `GET /deps` | 8 plain dependencies, 2 app-scope values and a handler-scoped generator; axum calls the same functions in its handler, the app values from `State` |
//! | `GET /ack` | a small `Json<Ack>` (measured as `HEAD /ack`) |
//! | `GET /headers` | a small answer with 15 headers given as text pairs |
//! | `POST /json-text` | a `Json<Note>` of about 3.3 KB full of string escapes and `\u` escapes |
//! | `GET /shops/{shop}/items/{item}/variants/{variant}/sizes/{size}` | four typed path parameters |
//! | `POST /form30` | a `Form<Profile>` body, 30 fields (29 sent) |
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

/// The cookies `GET /cookie` reads (`theme` optional); the request sends 8.
#[derive(Clone, Debug, Deserialize)]
pub struct Session {
    /// The session's id.
    pub session_id: String,
    /// The user's id.
    pub user_id: u64,
    /// The colour theme.
    pub theme: Option<String>,
    /// The language.
    pub lang: String,
    /// A CSRF token.
    pub csrf: String,
}

/// The `Cookie` header `load --header` sends to `GET /cookie` (8 cookies, 5 of them read).
pub const COOKIE_HEADER: &str = "_ga=GA1.2.1234567890.1700000000; session_id=3f2a9c1d8e7b6a5f4e3d2c1b; \
user_id=4242; theme=dark; consent=yes; lang=en-GB; csrf=8d7c6b5a4f3e2d1c0b9a; _gid=GA1.2.987654321";

/// The answer to `GET /cookie`.
pub fn session_text(session: &Session) -> String {
    format!(
        "user {} session {} theme {} lang {} csrf {}",
        session.user_id,
        session.session_id.len(),
        session.theme.as_deref().unwrap_or("-"),
        session.lang,
        session.csrf.len()
    )
}

/// The query of `GET /find`: 10 fields, 4 optional, `tag` a list (a repeated key).
#[derive(Clone, Debug, Deserialize)]
pub struct Search {
    /// The words.
    pub q: String,
    /// The page.
    pub page: u32,
    /// Its size.
    pub per_page: u32,
    /// The sort key.
    pub sort: String,
    /// `asc` or `desc`.
    pub order: String,
    /// A language.
    pub lang: Option<String>,
    /// The lowest price.
    pub min_price: Option<f64>,
    /// The highest price.
    pub max_price: Option<f64>,
    /// Only what is in stock.
    pub in_stock: Option<bool>,
    /// Tags (`tag=a&tag=b`).
    #[serde(default)]
    pub tag: Vec<String>,
}

/// The answer to `GET /find`.
pub fn search_text(search: &Search) -> String {
    format!(
        "{} p{}x{} {} {} {:?} {:?} {:?} {:?} {}",
        search.q,
        search.page,
        search.per_page,
        search.sort,
        search.order,
        search.lang,
        search.min_price,
        search.max_price,
        search.in_stock,
        search.tag.join(",")
    )
}

/// How many events `GET /events` streams.
pub const EVENTS: u32 = 1_000;

/// One event of `GET /events`, SSE-framed (about 20 bytes).
pub fn event(i: u32) -> Bytes {
    Bytes::from(format!("data: event {i}\n\n"))
}

/// The app-scope configuration of `GET /deps`.
#[derive(Clone, Debug)]
pub struct Config {
    /// The app's name.
    pub name: String,
    /// A factor.
    pub factor: u64,
}

/// The app-scope pool of `GET /deps`.
#[derive(Clone, Debug)]
pub struct Pool {
    /// Its size.
    pub size: u64,
}

/// The user `GET /deps` loads.
#[derive(Clone, Debug)]
pub struct User {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
}

/// The transaction of `GET /deps`, opened before the handler and closed after it.
#[derive(Debug)]
pub struct Tx {
    /// What was written.
    pub writes: Vec<u64>,
}

/// The configuration, made once.
pub fn make_config() -> Config {
    Config {
        name: "workloads".into(),
        factor: 3,
    }
}

/// The pool, made once.
pub fn make_pool() -> Pool {
    Pool { size: 8 }
}

/// Dependency 1 of `GET /deps`.
pub fn load_user(config: &Config) -> User {
    User {
        id: 42,
        name: format!("{}-user", config.name),
    }
}

/// Dependency 2.
pub fn perms(user: &User) -> u64 {
    user.id * 7 + user.name.len() as u64
}

/// Dependency 3.
pub fn locale() -> &'static str {
    "en-GB"
}

/// Dependency 4.
pub fn limits(pool: &Pool) -> u64 {
    pool.size * 100
}

/// Dependency 5.
pub fn quota(user: &User, limits: u64) -> u64 {
    limits - user.id
}

/// Dependency 6.
pub fn trace_id() -> u64 {
    0x5eed
}

/// Dependency 7.
pub fn flags(config: &Config) -> u64 {
    config.factor << 4
}

/// Dependency 8.
pub fn audit(user: &User, trace_id: u64) -> u64 {
    user.id ^ trace_id
}

/// The transaction's opening (the generator's setup).
pub fn open_tx(pool: &Pool) -> Tx {
    Tx {
        writes: Vec::with_capacity(pool.size as usize),
    }
}

/// The transaction's closing (the generator's teardown).
pub fn close_tx(tx: Tx, success: bool) {
    std::hint::black_box((tx.writes.len(), success));
}

/// The answer to `GET /deps`, writing to the transaction.
pub fn deps_text(
    perms: u64,
    locale: &str,
    quota: u64,
    flags: u64,
    audit: u64,
    tx: &mut Tx,
) -> String {
    tx.writes.push(perms + quota + flags + audit);
    format!(
        "{perms} {locale} {quota} {flags} {audit} {}",
        tx.writes.len()
    )
}

/// The answer to `GET /ack` (and `HEAD /ack`).
pub fn ack() -> Ack {
    Ack { ok: true, count: 7 }
}

/// The 15 headers of `GET /headers`, as text pairs.
pub const HEADERS: [(&str, &str); 15] = [
    ("cache-control", "no-store, max-age=0"),
    ("content-language", "en-GB"),
    ("etag", "\"33a64df551425fcc55e4d42a148795d9f25f89d4\""),
    ("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
    ("vary", "accept-encoding"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "strict-transport-security",
        "max-age=63072000; includeSubDomains",
    ),
    ("content-security-policy", "default-src 'self'"),
    ("x-request-start", "t=1700000000000"),
    ("x-ratelimit-limit", "100"),
    ("x-ratelimit-remaining", "99"),
    ("x-ratelimit-reset", "1700000060"),
    ("x-served-by", "cache-lhr-1234"),
];

/// A note full of string escapes: the body of `POST /json-text`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Note {
    /// Its title.
    pub title: String,
    /// Its text.
    pub text: String,
    /// Tags.
    pub tags: Vec<String>,
}

/// The body of `POST /json-text`: about 3.3 KB, quotes, newlines, tabs, backslashes and
/// non-ASCII text written as `\u` escapes (surrogate pairs among them).
pub fn escaped_body() -> Vec<u8> {
    let line =
        "He said \"caf\u{e9} \u{4e2d}\u{6587} \u{1f600}\"\n\tpath C:\\tmp\\x \u{2014} ok\r\n";
    let note = Note {
        title: "\"Quoted\" title \u{e9}\u{e8}\u{ea}".into(),
        text: line.repeat(40),
        tags: vec!["\u{e9}t\u{e9}".into(), "na\u{ef}ve".into(), "\"q\"".into()],
    };
    // serde_json writes non-ASCII as it is; write it as `\uXXXX` escapes instead.
    let json = serde_json::to_string(&note).unwrap_or_default();
    let mut out = String::with_capacity(json.len() * 2);
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out.into_bytes()
}

/// The answer to `POST /json-text`.
pub fn note_ack(note: &Note) -> Ack {
    Ack {
        ok: true,
        count: (note.title.chars().count() + note.text.chars().count() + note.tags.len()) as u64,
    }
}

/// The answer to `GET /shops/{shop}/items/{item}/variants/{variant}/sizes/{size}`.
pub fn variant_text(shop: &str, item: u64, variant: u32, size: u8) -> String {
    format!("{shop} {item} {variant} {size}")
}

/// A profile of 30 fields: the HTML form of `POST /form30` (20 texts, 5 numbers, 3
/// booleans, 2 optional texts).
#[derive(Clone, Debug, Deserialize)]
pub struct Profile {
    /// A text.
    pub first_name: String,
    /// A text.
    pub last_name: String,
    /// A text.
    pub email: String,
    /// A text.
    pub phone: String,
    /// A text.
    pub company: String,
    /// A text.
    pub title: String,
    /// A text.
    pub department: String,
    /// A text.
    pub street: String,
    /// A text.
    pub city: String,
    /// A text.
    pub region: String,
    /// A text.
    pub postcode: String,
    /// A text.
    pub country: String,
    /// A text.
    pub language: String,
    /// A text.
    pub timezone: String,
    /// A text.
    pub website: String,
    /// A text.
    pub twitter: String,
    /// A text.
    pub github: String,
    /// A text.
    pub bio: String,
    /// A text.
    pub referrer: String,
    /// A text.
    pub campaign: String,
    /// A number.
    pub age: u32,
    /// A number.
    pub employees: u32,
    /// A number.
    pub years: u32,
    /// A number.
    pub seats: u32,
    /// A number.
    pub budget: u32,
    /// A flag.
    pub newsletter: bool,
    /// A flag.
    pub terms: bool,
    /// A flag.
    pub marketing: bool,
    /// An optional text.
    pub coupon: Option<String>,
    /// An optional text.
    pub notes: Option<String>,
}

/// The form body of `POST /form30` (29 of its 30 fields, `notes` left out; spaces, `@`).
pub fn form30_body() -> Vec<u8> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("first_name", "value 0 of first_name");
    form.append_pair("last_name", "last_name-1@example");
    form.append_pair("email", "email-2@example");
    form.append_pair("phone", "value 3 of phone");
    form.append_pair("company", "company-4@example");
    form.append_pair("title", "title-5@example");
    form.append_pair("department", "value 6 of department");
    form.append_pair("street", "street-7@example");
    form.append_pair("city", "city-8@example");
    form.append_pair("region", "value 9 of region");
    form.append_pair("postcode", "postcode-10@example");
    form.append_pair("country", "country-11@example");
    form.append_pair("language", "value 12 of language");
    form.append_pair("timezone", "timezone-13@example");
    form.append_pair("website", "website-14@example");
    form.append_pair("twitter", "value 15 of twitter");
    form.append_pair("github", "github-16@example");
    form.append_pair("bio", "bio-17@example");
    form.append_pair("referrer", "value 18 of referrer");
    form.append_pair("campaign", "campaign-19@example");
    form.append_pair("age", "10");
    form.append_pair("employees", "17");
    form.append_pair("years", "24");
    form.append_pair("seats", "31");
    form.append_pair("budget", "38");
    form.append_pair("newsletter", "true");
    form.append_pair("terms", "true");
    form.append_pair("marketing", "true");
    form.append_pair("coupon", "SAVE10");
    form.finish().into_bytes()
}

/// The answer to `POST /form30`.
pub fn profile_ack(profile: &Profile) -> Ack {
    Ack {
        ok: profile.terms,
        count: u64::from(profile.age + profile.seats)
            + (profile.email.len() + profile.bio.len()) as u64
            + profile.coupon.is_some() as u64,
    }
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

    use super::{
        Ack, Agent, Config, Limit, Line, Note, Order, Pool, Profile, Search, Session, Signup, Tx,
        User,
    };

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
            .get("/slow-teardown", slow_teardown)
            .get("/cookie", cookie)
            .get("/find", search)
            .get("/events", events)
            .get("/deps", deps)
            .get("/ack", ack)
            .get("/headers", headers)
            .post("/json-text", json_text)
            .post("/form30", form30)
            .get(
                "/shops/{shop}/items/{item}/variants/{variant}/sizes/{size}",
                variant,
            );
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

    #[depends]
    async fn cookie(Cookie(session): Cookie<Session>) -> String {
        super::session_text(&session)
    }

    #[depends]
    async fn search(Query(search): Query<Search>) -> String {
        super::search_text(&search)
    }

    #[depends]
    async fn events()
    -> StreamBody<impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send>
    {
        let events = futures_util::stream::iter((0..super::EVENTS).map(|i| Ok(super::event(i))));
        StreamBody::new(events).content_type("text/event-stream")
    }

    #[depends(scope = "app")]
    async fn config() -> Config {
        super::make_config()
    }

    #[depends(scope = "app")]
    async fn pool() -> Pool {
        super::make_pool()
    }

    #[depends]
    async fn user(#[dep(config)] config: &Config) -> User {
        super::load_user(config)
    }

    #[depends]
    async fn perms(#[dep(user)] user: &User) -> u64 {
        super::perms(user)
    }

    #[depends]
    async fn locale() -> &'static str {
        super::locale()
    }

    #[depends]
    async fn limits(#[dep(pool)] pool: &Pool) -> u64 {
        super::limits(pool)
    }

    #[depends]
    async fn quota(#[dep(user)] user: &User, #[dep(limits)] limits: &u64) -> u64 {
        super::quota(user, *limits)
    }

    #[depends]
    async fn trace_id() -> u64 {
        super::trace_id()
    }

    #[depends]
    async fn flags(#[dep(config)] config: &Config) -> u64 {
        super::flags(config)
    }

    #[depends]
    async fn audit(#[dep(user)] user: &User, #[dep(trace_id)] trace_id: &u64) -> u64 {
        super::audit(user, *trace_id)
    }

    #[depends(scope = "handler")]
    async fn tx(#[dep(pool)] pool: &Pool, y: Yield<Tx>) {
        let (tx, outcome) = y.provide(super::open_tx(pool)).await;
        super::close_tx(tx, outcome.is_success());
    }

    #[depends]
    async fn deps(
        #[dep(perms)] perms: &u64,
        #[dep(locale)] locale: &&'static str,
        #[dep(quota)] quota: &u64,
        #[dep(flags)] flags: &u64,
        #[dep(audit)] audit: &u64,
        #[dep(tx)] tx: &mut Tx,
    ) -> String {
        super::deps_text(*perms, locale, *quota, *flags, *audit, tx)
    }

    #[depends]
    async fn ack() -> Json<Ack> {
        Json(super::ack())
    }

    #[depends]
    async fn headers() -> ([(&'static str, &'static str); 15], &'static str) {
        (super::HEADERS, crate::HELLO)
    }

    #[depends]
    async fn json_text(Json(note): Json<Note>) -> Json<Ack> {
        Json(super::note_ack(&note))
    }

    #[depends]
    async fn form30(Form(profile): Form<Profile>) -> Json<Ack> {
        Json(super::profile_ack(&profile))
    }

    #[depends]
    async fn variant(Path((shop, item, variant, size)): Path<(String, u64, u32, u8)>) -> String {
        super::variant_text(&shop, item, variant, size)
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

    use std::sync::Arc;

    use axum::extract::State;
    use http::header::{CONTENT_TYPE, HeaderValue};

    use super::{Ack, Config, Limit, Line, Note, Order, Pool, Profile, Search, Session, Signup};

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
            .route("/slow-teardown", get(slow_teardown))
            .route("/cookie", get(cookie))
            .route("/find", get(search))
            .route("/events", get(events))
            .route("/ack", get(ack))
            .route("/headers", get(headers))
            .route("/json-text", post(json_text))
            .route("/form30", post(form30))
            .route(
                "/shops/{shop}/items/{item}/variants/{variant}/sizes/{size}",
                get(variant),
            );
        for path in super::FILLER_ROUTES {
            router = router.route(path, get(filler));
        }
        let state = AppState {
            config: Arc::new(super::make_config()),
            pool: Arc::new(super::make_pool()),
        };
        router.merge(Router::new().route("/deps", get(deps)).with_state(state))
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

    /// The cookies of `GET /cookie` from the `Cookie` headers, parsed by hand (axum has no
    /// cookie extractor of its own): pairs split at `;` and the first `=`, trimmed, the last
    /// of a name kept; a 400 when a required one is missing or `user_id` is not a number.
    async fn cookie(headers: HeaderMap) -> Result<String, (StatusCode, &'static str)> {
        let (mut session_id, mut user_id, mut theme, mut lang, mut csrf) =
            (None, None, None, None, None);
        for header in headers.get_all(http::header::COOKIE) {
            let text = header
                .to_str()
                .map_err(|_| (StatusCode::BAD_REQUEST, "bad cookie"))?;
            for chunk in text.split(';') {
                let (key, value) = chunk.split_once('=').unwrap_or(("", chunk));
                let value = value.trim();
                match key.trim() {
                    "session_id" => session_id = Some(value.to_owned()),
                    "user_id" => user_id = Some(value.to_owned()),
                    "theme" => theme = Some(value.to_owned()),
                    "lang" => lang = Some(value.to_owned()),
                    "csrf" => csrf = Some(value.to_owned()),
                    _ => {}
                }
            }
        }
        let missing = (StatusCode::BAD_REQUEST, "missing cookie");
        let session = Session {
            session_id: session_id.ok_or(missing)?,
            user_id: user_id
                .ok_or(missing)?
                .parse()
                .map_err(|_| (StatusCode::BAD_REQUEST, "bad user_id"))?,
            theme,
            lang: lang.ok_or(missing)?,
            csrf: csrf.ok_or(missing)?,
        };
        Ok(super::session_text(&session))
    }

    /// `GET /find`: axum's `Query` (serde_urlencoded) reads no list of a repeated key, so
    /// the pairs are read with `form_urlencoded` into the struct by hand; a 400 when a
    /// required field is missing or a number does not parse.
    async fn search(
        axum::extract::RawQuery(query): axum::extract::RawQuery,
    ) -> Result<String, (StatusCode, &'static str)> {
        let bad = (StatusCode::BAD_REQUEST, "bad query");
        let query = query.unwrap_or_default();
        let (mut q, mut page, mut per_page, mut sort, mut order) = (None, None, None, None, None);
        let mut search = Search {
            q: String::new(),
            page: 0,
            per_page: 0,
            sort: String::new(),
            order: String::new(),
            lang: None,
            min_price: None,
            max_price: None,
            in_stock: None,
            tag: Vec::new(),
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "q" => q = Some(value.into_owned()),
                "page" => page = Some(value.parse().map_err(|_| bad)?),
                "per_page" => per_page = Some(value.parse().map_err(|_| bad)?),
                "sort" => sort = Some(value.into_owned()),
                "order" => order = Some(value.into_owned()),
                "lang" => search.lang = Some(value.into_owned()),
                "min_price" => search.min_price = Some(value.parse().map_err(|_| bad)?),
                "max_price" => search.max_price = Some(value.parse().map_err(|_| bad)?),
                "in_stock" => search.in_stock = Some(value.parse().map_err(|_| bad)?),
                "tag" => search.tag.push(value.into_owned()),
                _ => {}
            }
        }
        search.q = q.ok_or(bad)?;
        search.page = page.ok_or(bad)?;
        search.per_page = per_page.ok_or(bad)?;
        search.sort = sort.ok_or(bad)?;
        search.order = order.ok_or(bad)?;
        Ok(super::search_text(&search))
    }

    async fn events() -> Response {
        let events = futures_util::stream::iter(
            (0..super::EVENTS).map(|i| Ok::<_, std::convert::Infallible>(super::event(i))),
        );
        let mut response = Response::new(Body::from_stream(events));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        response
    }

    /// The app-scope values of `GET /deps`.
    #[derive(Clone)]
    struct AppState {
        config: Arc<Config>,
        pool: Arc<Pool>,
    }

    /// di's dependencies of `GET /deps`, called in order from the handler.
    async fn deps(State(state): State<AppState>) -> String {
        let user = super::load_user(&state.config);
        let perms = super::perms(&user);
        let locale = super::locale();
        let limits = super::limits(&state.pool);
        let quota = super::quota(&user, limits);
        let trace_id = super::trace_id();
        let flags = super::flags(&state.config);
        let audit = super::audit(&user, trace_id);
        let mut tx = super::open_tx(&state.pool);
        let text = super::deps_text(perms, locale, quota, flags, audit, &mut tx);
        super::close_tx(tx, true);
        text
    }

    async fn ack() -> Json<Ack> {
        Json(super::ack())
    }

    async fn headers() -> ([(&'static str, &'static str); 15], &'static str) {
        (super::HEADERS, crate::HELLO)
    }

    async fn json_text(Json(note): Json<Note>) -> Json<Ack> {
        Json(super::note_ack(&note))
    }

    async fn form30(Form(profile): Form<Profile>) -> Json<Ack> {
        Json(super::profile_ack(&profile))
    }

    async fn variant(Path((shop, item, variant, size)): Path<(String, u64, u32, u8)>) -> String {
        super::variant_text(&shop, item, variant, size)
    }
}
