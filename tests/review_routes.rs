//! Route patterns as users mistype them, refused by `App::check` with the mistake and the fix
//! (the others are in tests/walk_newuser.rs and tests/walk_config.rs).

use di_runtime::prelude::*;

#[derive(serde::Deserialize)]
struct Id {
    id: u64,
}

#[depends]
async fn by_id(Path(Id { id }): Path<Id>) -> String {
    id.to_string()
}

#[depends]
async fn fixed() -> &'static str {
    "fixed"
}

/// `/items/{ id }` was accepted with ` id ` as the parameter's name: a handler reading
/// `Path<Id>` was refused for a misfit that did not say why, and one reading no `Path` served a
/// route whose parameter no field could ever be named as. Each is now refused with the fix.
#[test]
fn a_parameter_name_with_white_space_is_refused_with_the_fix() {
    let cases = [
        (
            "/items/{ id }",
            "`{ id }` has white space in its name",
            "write `{id}`",
        ),
        (
            "/items/{id }",
            "`{id }` has white space in its name",
            "write `{id}`",
        ),
        (
            "/files/{*rest }",
            "`{*rest }` has white space in its name",
            "write `{*rest}`",
        ),
    ];
    for (path, mistake, fix) in cases {
        for app in [App::new().get(path, by_id), App::new().get(path, fixed)] {
            let message = app.check().unwrap_err().to_string();
            assert!(
                message.contains(&format!("route GET {path}: invalid path: ")),
                "{message}"
            );
            assert!(message.contains(mistake), "{path}: {message}");
            assert!(message.contains(fix), "{path}: {message}");
            assert_eq!(message.lines().count(), 2, "{message}");
        }
    }
    // The same names without the white space serve.
    let app = App::new()
        .get("/items/{id}", by_id)
        .get("/files/{*rest}", fixed);
    assert!(app.check().is_ok());
}

/// What a route serves once its pattern is written as the fix says.
#[tokio::test]
async fn the_fixed_pattern_serves() {
    let client = TestClient::start(App::new().get("/items/{id}", by_id))
        .await
        .expect("starts");
    let answer = client.get("/items/7").send().await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "7");
    client.shutdown().await;
}
