//! A library author's walk: `di-walk-lib` (tests/walk-lib/) publishes reusable `#[depends]`
//! dependencies (authentication, a transaction, a concurrency limit, pagination), and two
//! apps compose them with their own: `shop` imports the runtime through
//! `di_runtime::prelude::*`, `blog` names it through the library's re-export
//! (`#[depends(crate = "di_walk_lib::mydi")]`). What the walk met, each fixed or pinned.

use di_walk_lib::auth::{AuthKey, Directory, auth_key, directory};
use di_walk_lib::db::{Ending, Store, store};

/// An app that imports the runtime as the README does.
mod shop {
    use di_runtime::prelude::*;
    use di_walk_lib::auth::CurrentUser;
    use di_walk_lib::db::Tx;
    use di_walk_lib::paginate::Paginate;

    /// The app's own dependency on top of the library's user.
    pub(crate) struct Cart {
        pub(crate) owner: String,
    }

    #[depends]
    pub(crate) async fn cart(#[dep(di_walk_lib::current_user)] user: &CurrentUser) -> Cart {
        Cart {
            owner: user.name.clone(),
        }
    }

    #[depends]
    pub(crate) async fn whoami(#[dep(cart)] cart: &Cart) -> String {
        cart.owner.clone()
    }

    #[depends]
    pub(crate) async fn buy(
        #[dep(di_walk_lib::current_user)] user: &CurrentUser,
        #[dep(di_walk_lib::db::tx)] tx: &mut Tx,
        Path(item): Path<String>,
    ) -> Result<StatusCode, HttpError> {
        tx.put(item.clone(), user.name.clone());
        if item == "forbidden" {
            return Err(HttpError::new(StatusCode::CONFLICT, "cannot buy that"));
        }
        if item == "bomb" {
            panic!("the handler blew up");
        }
        Ok(StatusCode::CREATED)
    }

    #[depends]
    pub(crate) async fn items(#[dep(di_walk_lib::paginate::paginate)] page: &Paginate) -> String {
        format!(
            "page {} of {} from {}",
            page.page,
            page.per_page,
            page.offset()
        )
    }

    #[depends]
    pub(crate) async fn report(
        #[dep(di_walk_lib::limits::report_slot)] slot: &di_walk_lib::limits::ReportSlot,
    ) -> String {
        format!("slot {}", slot.held)
    }

    /// Writes, then waits for ever: its client gives up.
    #[depends]
    pub(crate) async fn stuck(#[dep(di_walk_lib::db::tx)] tx: &mut Tx) -> StatusCode {
        tx.put("stuck", "never");
        std::future::pending::<()>().await;
        StatusCode::OK
    }

    pub(crate) fn app() -> App {
        App::new()
            .post("/stuck", stuck)
            .get("/me", whoami)
            .get("/report", report)
            .post("/buy/{item}", buy)
            .get("/items", items)
    }
}

/// The app's own type, plugged into the library's `directory`.
struct NotMallory;

impl Directory for NotMallory {
    fn allows(&self, name: &str) -> bool {
        name != "mallory"
    }
}

fn key() -> AuthKey {
    AuthKey::new("k3y")
}

#[tokio::test]
async fn shop_composes_the_librarys_user_and_transaction() {
    use di_runtime::prelude::*;
    let shared = Store::default();
    let client = TestClient::start(
        shop::app()
            .provide(auth_key, key())
            .provide(directory, Box::new(NotMallory) as Box<dyn Directory>)
            .provide(store, shared.clone()),
    )
    .await
    .unwrap();

    let me = client
        .get("/me")
        .header("authorization", "Bearer ada.k3y")
        .send()
        .await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.text().await.unwrap(), "ada");

    let none = client.get("/me").send().await;
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));

    let blocked = client
        .get("/me")
        .header("authorization", "Bearer mallory.k3y")
        .send()
        .await;
    assert_eq!(blocked.status(), StatusCode::FORBIDDEN);

    let wrong = client
        .get("/me")
        .header("authorization", "Bearer ada.nope")
        .send()
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );

    let auth = ("authorization", "Bearer bob.k3y");
    let ok = client
        .post("/buy/apple")
        .header(auth.0, auth.1)
        .send()
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    let refused = client
        .post("/buy/forbidden")
        .header(auth.0, auth.1)
        .send()
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let panicked = client.post("/buy/bomb").header(auth.0, auth.1).send().await;
    assert_eq!(panicked.status(), StatusCode::INTERNAL_SERVER_ERROR);
    client.settle().await;

    assert_eq!(shared.get("apple").as_deref(), Some("bob"));
    assert_eq!(shared.get("forbidden"), None);
    assert_eq!(shared.get("bomb"), None);
    let journal = shared.journal();
    assert_eq!(journal.len(), 3, "{journal:?}");
    assert_eq!(journal[0], Ending::Committed(201));
    assert!(
        matches!(&journal[1], Ending::RolledBack(o) if o.contains("409")),
        "{journal:?}"
    );
    assert!(
        matches!(&journal[2], Ending::RolledBack(o) if o.contains("panic")),
        "{journal:?}"
    );
}

#[tokio::test]
async fn the_librarys_pagination_is_a_clear_422() {
    use di_runtime::prelude::*;
    let client = TestClient::start(shop::app().provide(auth_key, key()))
        .await
        .unwrap();
    let ok = client.get("/items?page=3&per_page=10").send().await;
    assert_eq!(ok.text().await.unwrap(), "page 3 of 10 from 20");
    let bad = client.get("/items?page=0&per_page=1000").send().await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = bad.json().await.unwrap();
    let locs: Vec<_> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["loc"].clone())
        .collect();
    assert_eq!(
        locs,
        [
            serde_json::json!(["query", "page"]),
            serde_json::json!(["query", "per_page"])
        ]
    );
    let junk = client.get("/items?per_page=lots").send().await;
    assert_eq!(junk.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_librarys_limit_holds_and_the_graph_shows_it() {
    use di_runtime::prelude::*;
    let app = shop::app().provide(auth_key, key());
    let graph = app.graph().unwrap().mermaid();
    assert!(
        graph.contains("report_slot") && graph.contains("max_concurrency = 2"),
        "{graph}"
    );
    let client = TestClient::start(app).await.unwrap();
    let answer = client.get("/report").send().await;
    assert_eq!(answer.text().await.unwrap(), "slot 1");
}

/// An app that names the runtime through the library's re-export.
mod blog {
    use di_walk_lib::auth::CurrentUser;
    use di_walk_lib::db::Tx;
    use di_walk_lib::mydi::prelude::*;

    #[depends(crate = "di_walk_lib::mydi")]
    pub(crate) async fn publish(
        #[dep(di_walk_lib::current_user)] user: &CurrentUser,
        #[dep(di_walk_lib::db::tx)] tx: &mut Tx,
        Json(title): Json<String>,
    ) -> Result<String, HttpError> {
        if title.is_empty() {
            return Err(HttpError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "empty title",
            ));
        }
        tx.put(title.clone(), user.name.clone());
        Ok(format!("{title} by {}", user.name))
    }

    /// A test's replacement of the library's user: everyone is `tester`.
    #[depends(crate = "di_walk_lib::mydi")]
    pub(crate) async fn fake_user() -> CurrentUser {
        CurrentUser {
            name: "tester".into(),
        }
    }

    pub(crate) fn app() -> App {
        App::new().post("/posts", publish)
    }
}

#[tokio::test]
async fn blog_names_the_runtime_through_the_library_and_overrides_its_user() {
    use di_walk_lib::mydi::prelude::*;
    let shared = Store::default();
    let client = TestClient::start(
        blog::app()
            .override_dep(di_walk_lib::current_user, blog::fake_user)
            .provide(store, shared.clone()),
    )
    .await
    .unwrap();
    let ok = client.post("/posts").json("hello").send().await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "hello by tester");
    let bad = client.post("/posts").json("").send().await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    client.settle().await;
    assert_eq!(shared.get("hello").as_deref(), Some("tester"));
    let journal = shared.journal();
    assert_eq!(journal[0], Ending::Committed(200));
    assert!(
        matches!(&journal[1], Ending::RolledBack(o) if o.contains("422")),
        "{journal:?}"
    );
}

/// An app with a dependency of its own named like the library's (`tx`).
mod same_name {
    use di_runtime::prelude::*;
    use di_walk_lib::db::Tx;

    /// The app's own `tx`: an `app`-scoped value, unlike the library's.
    #[depends(scope = "app")]
    pub(crate) async fn tx() -> String {
        "app tx".into()
    }

    /// Wrongly `app`-scoped over the library's `handler`-scoped `tx`.
    #[depends(scope = "app")]
    pub(crate) async fn cache(#[dep(di_walk_lib::db::tx)] _t: &Tx) -> u8 {
        0
    }

    #[depends]
    pub(crate) async fn both(#[dep(tx)] a: &String, #[dep(cache)] _c: &u8) -> String {
        a.clone()
    }
}

#[test]
fn app_check_names_a_library_dependency_by_its_path_when_the_app_has_one_of_the_same_name() {
    use di_runtime::prelude::*;
    let problems = App::new()
        .get("/", same_name::both)
        .check()
        .unwrap_err()
        .to_string();
    assert_eq!(
        problems,
        "the app cannot start:\n  - route GET /: dependency chain `both` -> `cache` -> `di_walk_lib::db::tx`: `cache` is `app`-scoped and cannot depend on `di_walk_lib::db::tx`: `di_walk_lib::db::tx` is `handler`-scoped; make `di_walk_lib::db::tx` `app`-scoped, or make `cache` `handler`-scoped"
    );
}

/// Why `app` does not start, as its error prints.
async fn start_error(app: di_runtime::App) -> String {
    match di_runtime::TestClient::start(app).await {
        Ok(_) => panic!("the app started"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn an_app_that_does_not_give_the_librarys_key_is_refused_at_start_saying_how() {
    assert_eq!(
        start_error(shop::app()).await,
        "the app cannot start:\n  - `auth_key` (app scope) failed to set up: di_walk_lib::auth::auth_key is not configured: give it with `App::provide(auth_key, AuthKey::new(..))`"
    );
}

#[tokio::test]
async fn the_librarys_transaction_rolls_back_when_the_client_goes_away() {
    use di_runtime::prelude::*;
    let shared = Store::default();
    let client = TestClient::start(
        shop::app()
            .provide(auth_key, key())
            .provide(store, shared.clone()),
    )
    .await
    .unwrap();
    // The client gives up on a handler that never answers (a bounded wait, not a threshold).
    let gave_up = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        client.post("/stuck").send(),
    )
    .await;
    assert!(gave_up.is_err());
    client.settle().await;
    assert_eq!(shared.get("stuck"), None);
    assert_eq!(
        shared.journal(),
        [Ending::RolledBack(
            Outcome::Cancelled(CancelReason::ClientGone).to_string()
        )]
    );
}

/// The shop's test replacement of the library's transaction: it records each outcome.
mod shop_tests {
    use std::sync::{Arc, Mutex};

    use di_runtime::prelude::*;
    use di_walk_lib::db::Tx;

    #[derive(Clone, Default)]
    pub(crate) struct Seen(pub(crate) Arc<Mutex<Vec<String>>>);

    #[depends(scope = "app")]
    pub(crate) async fn seen() -> Seen {
        Seen::default()
    }

    #[depends(scope = "handler")]
    pub(crate) async fn recording_tx(#[dep(seen)] seen: &Seen, y: Yield<Tx>) {
        let (_tx, outcome) = y.provide(Tx::default()).await;
        seen.0.lock().unwrap().push(outcome.to_string());
    }
}

#[tokio::test]
async fn shop_overrides_the_librarys_transaction_in_its_tests() {
    use di_runtime::prelude::*;
    let seen = shop_tests::Seen::default();
    let client = TestClient::start(
        shop::app()
            .provide(auth_key, key())
            .override_dep(di_walk_lib::db::tx, shop_tests::recording_tx)
            .provide(shop_tests::seen, seen.clone()),
    )
    .await
    .unwrap();
    let auth = ("authorization", "Bearer bob.k3y");
    let ok = client.post("/buy/pear").header(auth.0, auth.1).send().await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    let refused = client
        .post("/buy/forbidden")
        .header(auth.0, auth.1)
        .send()
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    client.settle().await;
    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0],
        Outcome::Success {
            status: StatusCode::CREATED
        }
        .to_string()
    );
    assert!(seen[1].contains("409"), "{seen:?}");
}

#[test]
fn the_librarys_input_and_errors_are_in_the_apps_openapi_document() {
    let doc = shop::app().provide(auth_key, key()).openapi().unwrap();
    let doc = serde_json::to_value(&doc).unwrap();
    let items = &doc["paths"]["/items"]["get"];
    let params = items["parameters"].as_array().unwrap();
    let names: Vec<_> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["page", "per_page"]);
    assert_eq!(params[1]["schema"]["minimum"], 1, "{items}");
    assert_eq!(params[1]["schema"]["maximum"], 100, "{items}");
    let me = &doc["paths"]["/me"]["get"];
    assert_eq!(me["security"], serde_json::json!([{ "HTTPBearer": [] }]));
    assert_eq!(
        me["responses"]["401"]["description"],
        "Not authenticated, or an invalid token"
    );
    assert_eq!(
        me["responses"]["403"]["description"],
        "This user may not sign in"
    );
}

/// The library's dependency run for its check alone: `uses(..)` by path, and a group's.
mod guarded {
    use di_runtime::prelude::*;

    #[depends(uses(di_walk_lib::auth::current_user))]
    pub(crate) async fn secret() -> &'static str {
        "secret"
    }

    #[depends]
    pub(crate) async fn stats() -> &'static str {
        "stats"
    }

    pub(crate) fn app() -> App {
        App::new().get("/secret", secret).nest(
            Group::new("/admin")
                .dependency(di_walk_lib::current_user)
                .get("/stats", stats),
        )
    }
}

#[tokio::test]
async fn the_librarys_dependency_guards_a_route_and_a_group_by_its_path() {
    use di_runtime::prelude::*;
    let client = TestClient::start(guarded::app().provide(auth_key, key()))
        .await
        .unwrap();
    for path in ["/secret", "/admin/stats"] {
        let none = client.get(path).send().await;
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED, "{path}");
        let ok = client
            .get(path)
            .header("authorization", "Bearer ada.k3y")
            .send()
            .await;
        assert_eq!(ok.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn the_app_sets_the_librarys_limit_with_max_concurrency() {
    use di_runtime::prelude::*;
    // The library declares `max_concurrency = 2`; the app sizes it to its own pool.
    let app = shop::app()
        .provide(auth_key, key())
        .max_concurrency(di_walk_lib::limits::report_slot, 5);
    let graph = app.graph().unwrap().mermaid();
    assert!(
        graph.contains("report_slot") && graph.contains("max_concurrency = 5"),
        "{graph}"
    );
    assert!(!graph.contains("max_concurrency = 2"), "{graph}");
    let client = TestClient::start(app).await.unwrap();
    let answer = client.get("/report").send().await;
    assert_eq!(answer.text().await.unwrap(), "slot 1");
}

/// An app with an `app`-scoped `auth_key` of its own, beside the library's.
mod own_key {
    use di_runtime::prelude::*;

    #[depends(scope = "app")]
    pub(crate) async fn auth_key() -> String {
        "the app's own".into()
    }

    #[depends]
    pub(crate) async fn both(
        #[dep(auth_key)] own: &String,
        #[dep(di_walk_lib::auth::auth_key)] _library: &di_walk_lib::auth::AuthKey,
    ) -> String {
        own.clone()
    }
}

#[tokio::test]
async fn a_start_failure_names_the_library_function_by_its_path_when_the_app_has_one_of_the_same_name()
 {
    use di_runtime::App;
    assert_eq!(
        start_error(App::new().get("/", own_key::both)).await,
        "the app cannot start:\n  - `di_walk_lib::auth::auth_key` (app scope) failed to set up: di_walk_lib::auth::auth_key is not configured: give it with `App::provide(auth_key, AuthKey::new(..))`"
    );
}
