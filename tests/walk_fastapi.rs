//! A FastAPI service ported to di, walked request by request against the FastAPI original:
//! each test here failed before the fix named in CHANGELOG.md, and shows what a FastAPI user
//! gets now.

mod common;

use di_runtime::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

// ------------------ 1. the test client sends a URI as FastAPI's (httpx) does

#[derive(Deserialize)]
struct Search {
    q: Option<String>,
}

#[depends]
async fn post_by_slug(Path(slug): Path<String>, Query(search): Query<Search>) -> Json<Value> {
    Json(json!({ "slug": slug, "q": search.q }))
}

/// `client.get("/posts/héllo wörld")` in FastAPI's `TestClient` sends
/// `/posts/h%C3%A9llo%20w%C3%B6rld`; di's test client answered its own empty 400 instead,
/// without sending the request.
#[tokio::test]
async fn the_test_client_percent_encodes_spaces_and_non_ascii_as_fastapis_does() {
    let client = TestClient::start(App::new().get("/posts/{slug}", post_by_slug))
        .await
        .unwrap();
    let response = client.get("/posts/héllo wörld?q=été à").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "slug": "héllo wörld", "q": "été à" }));

    // What is already encoded stays as it is.
    let response = client.get("/posts/a%2Fb%20c?q=x%26y").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "slug": "a/b c", "q": "x&y" }));
    client.shutdown().await;
}

// ------------------ 2. an optional JSON body: FastAPI's `item: Item | None = None`

#[derive(Deserialize, serde::Serialize, validator::Validate, schemars::JsonSchema)]
struct Patch {
    #[validate(length(min = 1))]
    title: String,
}

#[depends]
async fn patch_todo(body: Option<Json<Patch>>) -> Json<Value> {
    Json(json!({ "patch": body.map(|Json(patch)| patch) }))
}

/// FastAPI answers a request without a body (or with `null`) to `item: Item | None = None`
/// with `item` `None`, and checks a body that is there as it checks `item: Item`; di had no
/// optional body (`Option<Json<T>>` was "not a request input", `Json<Option<T>>` is 422
/// `missing` without a body).
#[tokio::test]
async fn an_optional_json_body_is_none_without_a_body_and_checked_with_one() {
    let client = TestClient::start(App::new().patch("/todos", patch_todo))
        .await
        .unwrap();
    let sent = |body: Option<&'static str>, json: bool| {
        let mut request = client.patch("/todos");
        if json {
            request = request.header("content-type", "application/json");
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        async move {
            let response = request.send().await;
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    // No body at all, an empty JSON body, and `null`: `None`, as in FastAPI.
    for (body, json) in [(None, false), (None, true), (Some("null"), true)] {
        assert_eq!(
            sent(body, json).await,
            (StatusCode::OK, json!({ "patch": null })),
            "{body:?}"
        );
    }
    assert_eq!(
        sent(Some(r#"{"title":"new"}"#), true).await,
        (StatusCode::OK, json!({ "patch": { "title": "new" } }))
    );
    // A body that is there is checked as a required one is: its type, its rules, its syntax,
    // its content type (FastAPI's answers byte for byte).
    assert_eq!(
        sent(Some(r#"{"title":1}"#), true).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail":[{"type":"string_type","loc":["body","title"],"msg":"Input should be a valid string","input":1}]})
        )
    );
    assert_eq!(
        sent(Some(r#"{"title":""}"#), true).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail":[{"type":"string_too_short","loc":["body","title"],"msg":"String should have at least 1 character","input":"","ctx":{"min_length":1}}]})
        )
    );
    assert_eq!(
        sent(Some(r#"{"title":"#), true).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail":[{"type":"json_invalid","loc":["body",9],"msg":"JSON decode error","input":{},"ctx":{"error":"Expecting value"}}]})
        )
    );
    // A body of nothing but a UTF-8 byte order mark is there (FastAPI 0.165's answer).
    assert_eq!(
        sent(Some("\u{feff}"), true).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail":[{"type":"json_invalid","loc":["body",0],"msg":"JSON decode error","input":{},"ctx":{"error":"Expecting value"}}]})
        )
    );
    assert_eq!(
        sent(Some(r#"{"title":"new"}"#), false).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":"{\"title\":\"new\"}"}]})
        )
    );
    client.shutdown().await;

    // The OpenAPI document says the body is optional.
    let doc =
        serde_json::to_value(App::new().patch("/todos", patch_todo).openapi().unwrap()).unwrap();
    let body = &doc["paths"]["/todos"]["patch"]["requestBody"];
    assert_eq!(body["required"], json!(false), "{body}");
}

// ------------------ 3. where di answers otherwise than FastAPI, on purpose (docs/fastapi.md)

#[depends]
async fn get_todo(Path(id): Path<i64>) -> Json<Value> {
    Json(json!({ "id": id }))
}

#[depends]
async fn delete_todo(Path(id): Path<i64>) -> StatusCode {
    let _ = id;
    StatusCode::NO_CONTENT
}

#[depends]
async fn list_todos() -> Json<Value> {
    Json(json!([]))
}

#[depends]
async fn create_todo() -> StatusCode {
    StatusCode::CREATED
}

#[depends]
async fn health() -> &'static str {
    "ok"
}

#[depends]
async fn broken() -> &'static str {
    let items: Vec<&str> = Vec::new();
    items.first().copied().expect("the secret list is empty")
}

fn todo_app() -> App {
    App::new()
        .get("/todos", list_todos)
        .post("/todos", create_todo)
        .get("/todos/{id}", get_todo)
        .delete("/todos/{id}", delete_todo)
        .get("/posts/{slug}", post_by_slug)
        .get("/health", health)
        .get("/broken", broken)
}

/// Starlette's 405 names the methods of the first route whose path matches (`PUT /todos/1`:
/// `allow: GET`); di's names every method the path is served with.
#[tokio::test]
async fn a_405_allows_every_method_of_the_path() {
    let client = TestClient::start(todo_app()).await.unwrap();
    let response = client.put("/todos/1").send().await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.header("allow"), Some("GET, HEAD, DELETE"));
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "detail": "Method Not Allowed" })
    );
    let response = client.patch("/todos").send().await;
    assert_eq!(response.header("allow"), Some("GET, HEAD, POST"));
    client.shutdown().await;
}

/// Starlette decodes `%2F` before it routes, so `/posts/a%2Fb` is `/posts/a/b`, a 404; di
/// routes the path as sent and decodes the parameter, `a/b`.
#[tokio::test]
async fn an_encoded_slash_is_part_of_a_path_parameter() {
    let client = TestClient::start(todo_app()).await.unwrap();
    let response = client.get("/posts/a%2Fb").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "slug": "a/b", "q": null })
    );
    client.shutdown().await;
}

/// A handler's text is sent as text (FastAPI sends `return "ok"` as the JSON string `"ok"`),
/// and a panic is a JSON 500 like every error of di's (Starlette's is `text/plain`).
#[tokio::test]
async fn text_is_text_and_a_panic_is_a_json_500() {
    let client = TestClient::start(todo_app()).await.unwrap();
    let response = client.get("/health").send().await;
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.text().await.unwrap(), "ok");
    let response = client.get("/broken").send().await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Internal Server Error"}"#
    );
    client.shutdown().await;
}

// ------------------ 4. the test client: a response dropped unread, whole or streamed

#[depends]
async fn session(y: Yield<u8>) {
    let (_, outcome) = y.provide(0).await;
    common::log(if outcome.is_success() {
        "commit".to_owned()
    } else {
        format!("rollback: {outcome}")
    });
}

#[depends]
async fn create_with_session(
    #[dep(session)] _s: &u8,
    tasks: &BackgroundTasks,
) -> (StatusCode, Json<Value>) {
    tasks.add(async { common::log("email") });
    (StatusCode::CREATED, Json(json!({ "id": 1 })))
}

#[depends]
async fn export_with_session(
    #[dep(session)] s: Held<u8>,
) -> StreamBody<impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static> {
    StreamBody::new(futures_util::stream::iter([Ok(format!("{}\n", *s))]))
}

/// FastAPI's test client reads every body, so `assert client.post(...).status_code == 201`
/// commits a `request`-scoped session; so does di's for a body held whole, as a server sends
/// such a body whether or not its client reads it. Before: di's read every body on demand,
/// and the session of a response dropped unread rolled back, its background task dropped.
/// A streamed body is read as the test reads it: dropped unread, the client went away.
#[tokio::test]
async fn a_whole_body_is_sent_whether_or_not_the_test_reads_it() {
    let _serial = common::serial().await;
    let client = TestClient::start(
        App::new()
            .post("/todos", create_with_session)
            .get("/todos/export", export_with_session),
    )
    .await
    .unwrap();
    let response = client.post("/todos").send().await;
    assert_eq!(response.status(), StatusCode::CREATED);
    drop(response);
    client.settle().await;
    assert_eq!(common::events(), ["email", "commit"]);

    common::clear();
    let response = client.post("/todos").send().await;
    client.settle().await;
    assert_eq!(
        common::events(),
        ["email", "commit"],
        "before the test reads it"
    );
    assert_eq!(response.text().await.unwrap(), r#"{"id":1}"#);

    common::clear();
    let response = client.get("/todos/export").send().await;
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    client.settle().await;
    assert_eq!(common::events(), ["rollback: cancelled (client gone)"]);

    common::clear();
    let response = client.get("/todos/export").send().await;
    assert_eq!(response.text().await.unwrap(), "0\n");
    client.settle().await;
    assert_eq!(common::events(), ["commit"]);
    client.shutdown().await;
}

// ------------------ 5. `HTTPException(status, detail, headers=...)`

use di_runtime::http::{HeaderName, HeaderValue, header};

#[depends]
async fn current_user(headers: &HeaderMap) -> Result<String, HttpError> {
    match headers.get(header::AUTHORIZATION) {
        Some(value) if value == "Bearer tok-alice" => Ok("alice".to_owned()),
        _ => Err(
            HttpError::new(StatusCode::UNAUTHORIZED, "Not authenticated")
                .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")),
        ),
    }
}

#[depends(scope = "handler")]
async fn commit(y: Yield<u8>) -> Result<(), HttpError> {
    let (_, outcome) = y.provide(0).await;
    if outcome.is_success() {
        return Err(
            HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "commit failed")
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("3")),
        );
    }
    Ok(())
}

#[depends]
async fn rename(
    #[dep(current_user)] _user: &String,
    #[dep(commit)] _tx: &u8,
    Path(title): Path<String>,
) -> Result<&'static str, HttpError> {
    if title == "boom" {
        return Err(
            HttpError::new(StatusCode::CONFLICT, "conflict").with_header(
                HeaderName::from_static("x-reason"),
                HeaderValue::from_static("boom"),
            ),
        );
    }
    Ok("renamed")
}

/// The headers of an `HttpError` are sent with it, from a dependency, a handler or a failing
/// `handler`-scope teardown whose error replaces the response, as FastAPI sends an
/// `HTTPException`'s `headers`.
#[tokio::test]
async fn an_http_errors_headers_are_sent_wherever_it_comes_from() {
    let client = TestClient::start(App::new().post("/rename/{title}", rename))
        .await
        .unwrap();
    let response = client.post("/rename/new").send().await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Not authenticated"}"#
    );

    let response = client
        .post("/rename/boom")
        .header("authorization", "Bearer tok-alice")
        .send()
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(response.header("x-reason"), Some("boom"));
    assert_eq!(response.text().await.unwrap(), r#"{"detail":"conflict"}"#);

    let response = client
        .post("/rename/new")
        .header("authorization", "Bearer tok-alice")
        .send()
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.header("retry-after"), Some("3"));
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"commit failed"}"#
    );
    client.shutdown().await;
}

// ------------------ 6. a UUID path, query or body field: pydantic's `uuid_parsing`

#[derive(Deserialize)]
struct Ids {
    #[serde(default)]
    ids: Vec<uuid::Uuid>,
}

#[derive(Deserialize, serde::Serialize)]
struct Owner {
    owner: uuid::Uuid,
}

#[depends]
async fn todo_by_uuid(
    Path(id): Path<uuid::Uuid>,
    Query(more): Query<Ids>,
    body: Option<Json<Owner>>,
) -> Json<Value> {
    Json(json!({ "id": id, "more": more.ids, "owner": body.map(|Json(b)| b.owner) }))
}

/// pydantic reads a `uuid.UUID` with the `uuid` crate and reports its error as
/// `uuid_parsing`, `Input should be a valid UUID, <the crate's reason>`, with the reason as
/// `ctx.error`; di reported the same error as a `value_error` with the crate's whole message
/// (`Value error, UUID parsing failed: ...`). The bodies are FastAPI's, byte for byte.
#[tokio::test]
async fn a_bad_uuid_is_uuid_parsing_as_in_fastapi() {
    let client = TestClient::start(App::new().post("/todos/{id}", todo_by_uuid))
        .await
        .unwrap();
    let good = "6f1c1a2e-6a4b-4b8e-9d0e-2b1f3c4d5e6f";
    let response = client
        .post(&format!(
            "/todos/{good}?ids=6f1c1a2e6a4b4b8e9d0e2b1f3c4d5e6f"
        ))
        .json(&json!({ "owner": good }))
        .send()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "id": good, "more": [good], "owner": good })
    );

    // (A list's elements after a bad UUID are read once it is right: docs/fastapi.md says
    // why, so one element of `ids` is bad here.)
    let response = client
        .post("/todos/xyz?ids=6f1c1a2e6a4b4b8e9d0e2b1f3c4d5e6")
        .json(&json!({ "owner": "6f1c1a2e-6a4b-4b8e-9d0e-2b1f3c4d5e6g" }))
        .send()
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        response.text().await.unwrap(),
        concat!(
            r#"{"detail":["#,
            r#"{"type":"uuid_parsing","loc":["path","id"],"msg":"Input should be a valid UUID, invalid character: found `x` at 0","input":"xyz","ctx":{"error":"invalid character: found `x` at 0"}},"#,
            r#"{"type":"uuid_parsing","loc":["query","ids",0],"msg":"Input should be a valid UUID, invalid length: found 31","input":"6f1c1a2e6a4b4b8e9d0e2b1f3c4d5e6","ctx":{"error":"invalid length: found 31"}},"#,
            r#"{"type":"uuid_parsing","loc":["body","owner"],"msg":"Input should be a valid UUID, invalid character: found `g` at 35","input":"6f1c1a2e-6a4b-4b8e-9d0e-2b1f3c4d5e6g","ctx":{"error":"invalid character: found `g` at 35"}}"#,
            r#"]}"#
        )
    );
    client.shutdown().await;
}

// ------------------ 7. a background task that uses the request's session

struct Session {
    user: &'static str,
}

#[depends]
async fn db(y: Yield<Session>) {
    common::log("db open");
    let (_, outcome) = y.provide(Session { user: "alice" }).await;
    common::log(format!("db close: {outcome}"));
}

#[depends]
async fn notify(#[dep(db)] session: Held<Session>, tasks: &BackgroundTasks) -> &'static str {
    tasks.add(async move {
        tokio::task::yield_now().await;
        common::log(format!("task mails {}", session.user));
    });
    "queued"
}

/// FastAPI (0.118 on) runs background tasks before `request`-scope teardown, so a task can
/// use the request's session; in di the task holds it (`Held<T>`), and the session's teardown
/// waits for the task (docs/fastapi.md says how).
#[tokio::test]
async fn a_background_task_may_hold_the_requests_session_until_it_has_run() {
    let _serial = common::serial().await;
    let client = TestClient::start(App::new().post("/notify", notify))
        .await
        .unwrap();
    let response = client.post("/notify").send().await;
    assert_eq!(response.text().await.unwrap(), "queued");
    client.settle().await;
    assert_eq!(
        common::events(),
        ["db open", "task mails alice", "db close: success (200)"]
    );
    client.shutdown().await;
}

// ------------------ 8. a bounded page size: the type's bounds come before the rule's

#[derive(Deserialize, validator::Validate)]
struct Page {
    #[validate(range(min = 1, max = 100))]
    limit: u32,
    #[validate(range(min = 1, max = 100))]
    size: Option<i64>,
}

#[depends]
async fn page(Query(page): Query<Page>) -> Json<Value> {
    Json(json!({ "limit": page.limit, "size": page.size }))
}

/// FastAPI's `limit: int = Query(ge=1, le=100)` answers `limit=-5` with `ge` 1. A `u32`
/// field cannot hold -5, so di reports the type's bound (`ge` 0) and its rule cannot run; an
/// `i64` field holds it and reports the rule's, as FastAPI (docs/fastapi.md says which to
/// declare).
#[tokio::test]
async fn an_unsigned_field_reports_its_types_bound_before_its_rule() {
    let client = TestClient::start(App::new().get("/page", page))
        .await
        .unwrap();
    let response = client.get("/page?limit=-5&size=-5").send().await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        response.text().await.unwrap(),
        concat!(
            r#"{"detail":["#,
            r#"{"type":"greater_than_equal","loc":["query","limit"],"msg":"Input should be greater than or equal to 0","input":"-5","ctx":{"ge":0}},"#,
            r#"{"type":"greater_than_equal","loc":["query","size"],"msg":"Input should be greater than or equal to 1","input":"-5","ctx":{"ge":1}}"#,
            r#"]}"#
        )
    );
    let response = client.get("/page?limit=5000000000").send().await;
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":[{"type":"less_than_equal","loc":["query","limit"],"msg":"Input should be less than or equal to 4294967295","input":"5000000000","ctx":{"le":4294967295}}]}"#
    );
    client.shutdown().await;
}

// ------------------ 9. a response the handler returns with a 4xx: no exception in FastAPI

#[depends]
async fn tx(y: Yield<u8>) {
    let (_, outcome) = y.provide(0).await;
    let fastapi_commits = matches!(outcome, Outcome::Success { .. });
    common::log(format!(
        "{outcome}: is_success {}, FastAPI commits {fastapi_commits}",
        outcome.is_success()
    ));
}

#[depends]
async fn find(
    #[dep(tx)] _tx: &u8,
    Path(id): Path<u32>,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    match id {
        1 => Ok((StatusCode::OK, Json(json!({ "id": 1 })))),
        2 => Ok((StatusCode::NOT_FOUND, Json(json!({ "detail": "gone" })))),
        _ => Err(HttpError::not_found("no such todo")),
    }
}

/// FastAPI's `try: yield db; db.commit()` commits unless an exception reached it, so a
/// handler that returns `JSONResponse(status_code=404)` commits. di's `Outcome::is_success()`
/// is true only for a 2xx or 3xx; `Outcome::Success { .. }` is every response the handler
/// returned without an error, FastAPI's rule (docs/fastapi.md says which to match).
#[tokio::test]
async fn a_4xx_returned_without_an_error_is_a_success_outcome_but_not_is_success() {
    let _serial = common::serial().await;
    let client = TestClient::start(App::new().get("/todos/{id}", find))
        .await
        .unwrap();
    for id in 1..=3 {
        client
            .get(&format!("/todos/{id}"))
            .send()
            .await
            .bytes()
            .await
            .unwrap();
    }
    client.settle().await;
    assert_eq!(
        common::events(),
        [
            "success (200): is_success true, FastAPI commits true",
            "success (404): is_success false, FastAPI commits true",
            "handler error (404): is_success false, FastAPI commits false",
        ]
    );
    client.shutdown().await;
}

/// A `Uuid` given JSON that is not a string is pydantic's `uuid_type`; di said `string_type`.
#[tokio::test]
async fn a_uuid_given_a_number_a_list_or_null_is_uuid_type_as_in_fastapi() {
    let client = TestClient::start(App::new().post("/todos/{id}", todo_by_uuid))
        .await
        .unwrap();
    for (owner, input) in [(json!(5), "5"), (json!([1]), "[1]"), (json!(null), "null")] {
        let response = client
            .post("/todos/6f1c1a2e-6a4b-4b8e-9d0e-2b1f3c4d5e6f")
            .json(&json!({ "owner": owner }))
            .send()
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            response.text().await.unwrap(),
            format!(
                r#"{{"detail":[{{"type":"uuid_type","loc":["body","owner"],"msg":"UUID input should be a string, bytes or UUID object","input":{input}}}]}}"#
            )
        );
    }
    client.shutdown().await;
}

// ------------------ 10. the test client's `data=` and `params=`

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
    tag: Vec<String>,
}

#[depends]
async fn login(Query(next): Query<Next>, Form(login): Form<Login>) -> Json<Value> {
    Json(json!({
        "username": login.username,
        "password": login.password,
        "next": next.next,
        "tag": next.tag,
    }))
}

/// FastAPI's tests send a form with `client.post(url, data={...})` and a query with
/// `params={...}`, each value encoded; di's test client had only `json` and a raw `body`, so
/// a test wrote the encoding by hand (and `&`, `=`, `+` or a space in a value broke it).
#[tokio::test]
async fn the_test_client_sends_a_form_and_query_parameters_encoded() {
    let client = TestClient::start(App::new().post("/login", login))
        .await
        .unwrap();
    let response = client
        .post("/login?tag=a")
        .query([("next", "/todos?done=1&x=y"), ("tag", "b c")])
        .form([("username", "ada+lovelace"), ("password", "p w&d=é")])
        .send()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({
            "username": "ada+lovelace",
            "password": "p w&d=é",
            "next": "/todos?done=1&x=y",
            "tag": ["a", "b c"],
        })
    );
    let response = client
        .post("/login")
        .query([("tag", "only")])
        .form([("username", "u"), ("password", "p")])
        .send()
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "username": "u", "password": "p", "next": null, "tag": ["only"] })
    );
    client.shutdown().await;
}

// ------------------ 11. `main` returning a `ServeError`, as the README's does

#[depends(scope = "handler")]
async fn short_lived(y: Yield<u8>) {
    let _ = y.provide(0).await;
}

#[depends]
async fn long_lived(#[dep(short_lived)] _s: &u8, y: Yield<u8>) {
    let _ = y.provide(0).await;
}

#[depends]
async fn uses_long(#[dep(long_lived)] _l: &u8) -> &'static str {
    "ok"
}

/// `async fn main() -> Result<(), ServeError>` (the README's) prints the error's `Debug`
/// when it fails: uvicorn prints a sentence, di printed
/// `Build(BuildError { problems: ["route GET /: ..."] })`, quotes and backticks escaped on one
/// line, or `Io(Os { code: 98, kind: AddrInUse, .. })`. Its `Debug` is now its message.
#[tokio::test]
async fn a_serve_error_returned_from_main_prints_its_message() {
    let error = App::new()
        .get("/", uses_long)
        .bind("127.0.0.1:0")
        .await
        .expect_err("the scope rule is broken");
    let printed = format!("{error:?}");
    assert_eq!(printed, error.to_string());
    assert!(
        printed.starts_with("the app cannot start:\n  - route GET /: "),
        "{printed}"
    );
    assert!(printed.contains("`long_lived`"), "{printed}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let error = App::new()
        .get("/", health)
        .bind(addr)
        .await
        .expect_err("the address is taken");
    let printed = format!("{error:?}");
    assert_eq!(printed, error.to_string());
    assert!(printed.starts_with("could not listen: "), "{printed}");

    // `App::check()?` in a `main` returning `BuildError`.
    let error = App::new().get("/", uses_long).check().unwrap_err();
    assert_eq!(format!("{error:?}"), error.to_string());
}

// ------------------ a static path of one method beside a parameter route of another

#[depends]
async fn new_item_form() -> &'static str {
    "the form"
}

#[depends]
async fn update_item(Path(id): Path<String>) -> String {
    format!("updated {id}")
}

#[depends]
async fn delete_item(Path(id): Path<String>) -> String {
    format!("deleted {id}")
}

#[depends]
async fn read_item(Path(id): Path<String>) -> String {
    format!("item {id}")
}

#[depends]
async fn create_draft() -> &'static str {
    "draft created"
}

/// `GET /items/new` (a form) beside `POST /items/{id}`: `POST /items/new` was a 405, the
/// static path taking the request though it has no `POST` route, where FastAPI (Starlette
/// goes on to the next route whose path and method both match) updates the item `new`. The
/// route of the request's method whose path matches now takes it, and a 405's `Allow`
/// names every method some route would serve the path with.
#[tokio::test]
async fn a_static_path_of_one_method_does_not_hide_a_parameter_route_of_another() {
    let app = App::new()
        .get("/items/new", new_item_form)
        .post("/items/{id}", update_item)
        .delete("/items/{id}", delete_item)
        .post("/drafts/new", create_draft)
        .get("/drafts/{id}", read_item);
    let client = TestClient::start(app).await.unwrap();
    for (method, path, answer) in [
        (Method::GET, "/items/new", "the form"),
        (Method::POST, "/items/new", "updated new"),
        (Method::DELETE, "/items/new", "deleted new"),
        (Method::POST, "/items/7", "updated 7"),
        (Method::POST, "/drafts/new", "draft created"),
        (Method::GET, "/drafts/new", "item new"),
        (Method::HEAD, "/drafts/new", ""),
    ] {
        let response = client.request(method.clone(), path).send().await;
        assert_eq!(response.status(), StatusCode::OK, "{method} {path}");
        assert_eq!(response.text().await.unwrap(), answer, "{method} {path}");
    }
    let response = client.put("/items/new").send().await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.header("allow"), Some("GET, HEAD, POST, DELETE"));
    let response = client.put("/items/7").send().await;
    assert_eq!(response.header("allow"), Some("POST, DELETE"));
    client.shutdown().await;
}
