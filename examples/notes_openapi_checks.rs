//! The checks of the notes example's OpenAPI document (issue 9), included by `notes.rs`
//! (`#[cfg(test)] mod openapi_checks`), so that they use notes' own `app()`:
//!
//! - [`same_operations_as_fastapi`]: operation by operation, the same parameters (name, in,
//!   required), request body content types, response statuses and their content types, and
//!   security requirements as the document FastAPI 0.165 generates for the same API
//!   (`tests/openapi/notes_fastapi.py`, output checked in as `tests/openapi/fastapi_notes.json`).
//!   Differences that are meant are listed in [`EXCEPTIONS`], each with its reason; any other
//!   difference fails, and so does an exception that no longer happens.
//! - [`a_real_validator_accepts_the_document`]: `openapi-spec-validator` (PyPI) accepts it.
//! - [`the_docs_page_renders_every_route_in_chromium`]: headless Chromium loads `/docs`, the
//!   page's script renders every route and the API key's locks, and a screenshot is saved
//!   to `target/openapi-docs.png`.
//!
//! The last two need tools from outside cargo, found through `DI_OPENAPI_VALIDATOR` and
//! `DI_CHROMIUM` (which `.ci/run` sets) or on `PATH`. Without them the test says it skips,
//! unless `CI=true`, where a missing tool is a failure.
//!
//! `soak.rs` includes `notes.rs`, and so this file, too: the checks run only in the notes
//! example's test binary (see [`in_notes`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path as FsPath, PathBuf};
use std::process::{Command, Output};

use di_runtime::prelude::TestClient;
use serde_json::Value;

use super::app;

/// FastAPI's document for the notes API written in FastAPI.
const FASTAPI_NOTES: &str = include_str!("../tests/openapi/fastapi_notes.json");

/// The routes of `app()`, method and path: what the browser must show.
const ROUTES: [(&str, &str); 6] = [
    ("GET", "/health"),
    ("GET", "/notes"),
    ("GET", "/notes/export"),
    ("GET", "/notes/{id}"),
    ("POST", "/notes"),
    ("POST", "/notes/import"),
];

/// Whether this is the notes example's test binary (and not the soak's, which includes
/// `notes.rs` as a module): the checks run once.
fn in_notes() -> bool {
    let here = module_path!();
    if here.starts_with("notes::") {
        true
    } else {
        eprintln!("{here}: the OpenAPI checks run in the notes example's tests, not here");
        false
    }
}

/// The notes app's OpenAPI document, as JSON.
fn document() -> Value {
    let doc = app().openapi().expect("the notes app is valid");
    serde_json::from_str(&doc.to_json()).expect("the document is JSON")
}

// ---------------------------------------------------------------------------------------------
// FastAPI comparison
// ---------------------------------------------------------------------------------------------

/// Which document has an item the other lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    /// FastAPI's document has it, di's does not.
    OnlyFastApi,
    /// di's document has it, FastAPI's does not.
    OnlyDi,
}

/// One difference between the documents: an item of an operation found on one side only.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Difference {
    /// `"POST /notes"`.
    operation: String,
    /// `"operation"`, `"parameter header x-api-key required"`, `"body application/json"`,
    /// `"status 422"`, `"response 200 application/x-ndjson"`,
    /// `"security apiKey header X-API-Key"`.
    item: String,
    side: Side,
}

/// A difference that is meant, and why.
struct Exception {
    operation: &'static str,
    item: &'static str,
    side: Side,
    reason: &'static str,
}

/// The differences from FastAPI's document that are meant (docs/openapi.md, "Differences from
/// FastAPI", lists them too). Each must still happen: a fixed one is removed from here.
const EXCEPTIONS: &[Exception] = &[
    // None: the import's streamed body, once the one difference, is declared on both sides
    // (`body_content_type` in notes.rs; `openapi_extra` and its 422 in the FastAPI twin).
];

/// What the comparison looks at in one operation: each item a line of text, so that a
/// difference reads as what it is.
fn operation_items(doc: &Value, op: &Value) -> BTreeSet<String> {
    let mut items = BTreeSet::new();
    for param in op["parameters"].as_array().into_iter().flatten() {
        let param = resolve(doc, param);
        let location = param["in"].as_str().unwrap_or("?");
        let mut name = param["name"].as_str().unwrap_or("?").to_owned();
        if location == "header" {
            // Header names are case-insensitive; FastAPI writes them in lower case.
            name = name.to_ascii_lowercase();
        }
        let required = if param["required"].as_bool().unwrap_or(false) {
            "required"
        } else {
            "optional"
        };
        items.insert(format!("parameter {location} {name} {required}"));
    }
    let body = resolve(doc, &op["requestBody"]);
    for content_type in body["content"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|c| c.0)
    {
        items.insert(format!("body {content_type}"));
    }
    for (status, response) in op["responses"].as_object().into_iter().flatten() {
        items.insert(format!("status {status}"));
        let response = resolve(doc, response);
        for content_type in response["content"].as_object().into_iter().flatten() {
            items.insert(format!("response {status} {}", content_type.0));
        }
    }
    // An operation without `security` has the document's.
    let security = op.get("security").unwrap_or(&doc["security"]);
    for requirement in security.as_array().into_iter().flatten() {
        let schemes: Vec<String> = requirement
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, _)| describe_scheme(doc, name))
            .collect();
        let schemes = if schemes.is_empty() {
            "none (anonymous)".to_owned()
        } else {
            schemes.join(" and ")
        };
        items.insert(format!("security {schemes}"));
    }
    items
}

/// A security scheme by what it is (the name it is filed under is each generator's choice).
fn describe_scheme(doc: &Value, name: &str) -> String {
    let scheme = &doc["components"]["securitySchemes"][name];
    let text = |key: &str| scheme[key].as_str().unwrap_or("");
    match text("type") {
        "apiKey" => format!("apiKey {} {}", text("in"), text("name")),
        "http" => format!("http {}", text("scheme").to_ascii_lowercase()),
        "" => format!("{name} (not in components.securitySchemes)"),
        other => other.to_owned(),
    }
}

/// `value`, or what its `$ref` points to within `doc`.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => doc.pointer(pointer).unwrap_or(&Value::Null),
        None => value,
    }
}

/// Every operation of `doc` by `"METHOD /path"`, with its items.
fn operations(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut ops = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let key = format!("{} {path}", method.to_ascii_uppercase());
                ops.insert(key, operation_items(doc, op));
            }
        }
    }
    ops
}

/// Every difference between FastAPI's document and di's.
fn differences(fastapi: &Value, di: &Value) -> BTreeSet<Difference> {
    let (fastapi, di) = (operations(fastapi), operations(di));
    let mut found = BTreeSet::new();
    let names: BTreeSet<&String> = fastapi.keys().chain(di.keys()).collect();
    for name in names {
        let difference = |item: &str, side| Difference {
            operation: name.clone(),
            item: item.to_owned(),
            side,
        };
        match (fastapi.get(name), di.get(name)) {
            (Some(f), Some(d)) => {
                found.extend(f.difference(d).map(|i| difference(i, Side::OnlyFastApi)));
                found.extend(d.difference(f).map(|i| difference(i, Side::OnlyDi)));
            }
            (Some(_), None) => {
                found.insert(difference("operation", Side::OnlyFastApi));
            }
            (None, Some(_)) => {
                found.insert(difference("operation", Side::OnlyDi));
            }
            (None, None) => {}
        }
    }
    found
}

/// What is wrong with `found` given `exceptions`: unexpected differences and exceptions that no
/// longer happen, as readable lines (empty when all is as expected).
fn unexplained(found: &BTreeSet<Difference>, exceptions: &[Exception]) -> String {
    let is_excepted = |d: &Difference| {
        exceptions
            .iter()
            .any(|e| e.operation == d.operation && e.item == d.item && e.side == d.side)
    };
    let mut report = String::new();
    for d in found.iter().filter(|d| !is_excepted(d)) {
        let side = match d.side {
            Side::OnlyFastApi => "only in FastAPI's",
            Side::OnlyDi => "only in di's",
        };
        let _ = writeln!(report, "  {}: {} -- {side}", d.operation, d.item);
    }
    for e in exceptions {
        let still = found
            .iter()
            .any(|d| e.operation == d.operation && e.item == d.item && e.side == d.side);
        if !still {
            let _ = writeln!(
                report,
                "  {}: {} -- listed as an exception ({:?}: {}) but no longer differs; remove it",
                e.operation, e.item, e.side, e.reason
            );
        }
    }
    report
}

#[test]
fn same_operations_as_fastapi() {
    if !in_notes() {
        return;
    }
    let fastapi: Value = serde_json::from_str(FASTAPI_NOTES).expect("fastapi_notes.json");
    assert_eq!(
        fastapi["x-generated-by"]["fastapi"].as_str(),
        Some("0.165.0"),
        "fastapi_notes.json comes from FastAPI 0.165 (tests/openapi/gen.sh)"
    );
    let di = document();
    let found = differences(&fastapi, &di);
    let report = unexplained(&found, EXCEPTIONS);
    assert!(
        report.is_empty(),
        "the notes document differs from FastAPI's (tests/openapi/fastapi_notes.json) \
         operation by operation:\n{report}\
         (a meant difference goes into EXCEPTIONS in examples/notes_openapi_checks.rs with its \
         reason, and into docs/openapi.md)"
    );
    // Every route is an operation on both sides (an exception cannot hide a missing route).
    let ops: BTreeSet<String> = operations(&di).into_keys().collect();
    let routes: BTreeSet<String> = ROUTES.iter().map(|(m, p)| format!("{m} {p}")).collect();
    assert_eq!(ops, routes);
}

/// The examples declared on the body's type (`#[schemars(example = ..)]` here, pydantic's
/// `json_schema_extra` there) are the same, and so are the error statuses' descriptions.
#[test]
fn same_examples_and_error_descriptions_as_fastapi() {
    if !in_notes() {
        return;
    }
    let fastapi: Value = serde_json::from_str(FASTAPI_NOTES).expect("fastapi_notes.json");
    let di = document();
    let examples = |doc: &Value| doc["components"]["schemas"]["NewNote"]["examples"].clone();
    assert!(examples(&di).is_array(), "NewNote declares an example");
    assert_eq!(examples(&di), examples(&fastapi));
    for (path, method, status) in [
        ("/notes/{id}", "get", "404"),
        ("/notes", "post", "401"),
        ("/notes", "post", "403"),
        ("/notes/import", "post", "401"),
        ("/notes/import", "post", "403"),
    ] {
        let description =
            |doc: &Value| doc["paths"][path][method]["responses"][status]["description"].clone();
        assert!(description(&di).is_string(), "{method} {path} {status}");
        assert_eq!(
            description(&di),
            description(&fastapi),
            "{method} {path} {status}"
        );
    }
}

/// The comparison itself catches what it must: each kind of difference, an unlisted one
/// fails, and a stale exception fails.
#[test]
fn the_comparison_sees_every_kind_of_difference() {
    if !in_notes() {
        return;
    }
    let fastapi: Value = serde_json::from_str(FASTAPI_NOTES).expect("fastapi_notes.json");
    assert!(differences(&fastapi, &fastapi).is_empty());
    let mut changed = fastapi.clone();
    let get_note = &mut changed["paths"]["/notes/{id}"]["get"];
    get_note["parameters"][0]["required"] = Value::Bool(false);
    get_note["responses"]
        .as_object_mut()
        .expect("responses")
        .remove("422");
    let create = &mut changed["paths"]["/notes"]["post"];
    create["requestBody"]["content"] = serde_json::json!({"text/plain": {}});
    create["security"] = serde_json::json!([]);
    let export = &mut changed["paths"]["/notes/export"]["get"]["responses"]["200"]["content"];
    *export = serde_json::json!({"application/json": {}});
    changed["paths"]["/extra"] = serde_json::json!({"get": {"responses": {}}});
    let found: Vec<String> = differences(&fastapi, &changed)
        .iter()
        .map(|d| format!("{} | {} | {:?}", d.operation, d.item, d.side))
        .collect();
    assert_eq!(
        found,
        [
            "GET /extra | operation | OnlyDi",
            "GET /notes/export | response 200 application/json | OnlyDi",
            "GET /notes/export | response 200 application/x-ndjson | OnlyFastApi",
            "GET /notes/{id} | parameter path id optional | OnlyDi",
            "GET /notes/{id} | parameter path id required | OnlyFastApi",
            "GET /notes/{id} | response 422 application/json | OnlyFastApi",
            "GET /notes/{id} | status 422 | OnlyFastApi",
            "POST /notes | body application/json | OnlyFastApi",
            "POST /notes | body text/plain | OnlyDi",
            "POST /notes | security apiKey header X-API-Key | OnlyFastApi",
        ]
    );
    let excepted = [Exception {
        operation: "GET /extra",
        item: "operation",
        side: Side::OnlyDi,
        reason: "a test",
    }];
    let found = differences(&fastapi, &changed);
    let report = unexplained(&found, &excepted);
    assert!(!report.contains("GET /extra"), "{report}");
    assert!(report.contains("GET /notes/{id}: status 422 -- only in FastAPI's"));
    let stale = unexplained(&BTreeSet::new(), &excepted);
    assert!(stale.contains("no longer differs"), "{stale}");
}

// ---------------------------------------------------------------------------------------------
// Outside tools
// ---------------------------------------------------------------------------------------------

/// Whether the run is CI's (`CI=true`), where a missing tool fails the test.
fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The tool named by `var`, else the first of `names` on `PATH`. `None` (after saying so)
/// when there is none and this is not CI; a panic when it is CI.
fn tool(var: &str, names: &[&str], what: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        // A relative path is the workspace's (tests run in their package's folder).
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path);
        assert!(path.is_file(), "{var}={} is not a file", path.display());
        return Some(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
            .find(|candidate| candidate.is_file())
    });
    if on_path.is_none() {
        let message = format!(
            "{what} not found: set {var} or put {} on PATH (.ci/run installs it)",
            names.join(" or ")
        );
        assert!(!on_ci(), "{message}; CI=true, so this is a failure");
        eprintln!("SKIPPED: {message}");
    }
    on_path
}

/// `output` as text for a failure message.
fn show(output: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The workspace's `target/` (where the screenshot and the temporary files go).
fn target_dir() -> PathBuf {
    FsPath::new(env!("CARGO_MANIFEST_DIR")).join("../target")
}

#[test]
fn a_real_validator_accepts_the_document() {
    if !in_notes() {
        return;
    }
    let Some(validator) = tool(
        "DI_OPENAPI_VALIDATOR",
        &["openapi-spec-validator"],
        "openapi-spec-validator (pip install openapi-spec-validator)",
    ) else {
        return;
    };
    let doc = document();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..4]), Some("3.1."));
    let dir = target_dir().join("openapi-checks");
    std::fs::create_dir_all(&dir).expect("target/openapi-checks");
    let file = dir.join(format!("notes-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).expect("JSON")).expect("written");
    let output = Command::new(&validator)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", validator.display()));
    assert!(
        output.status.success(),
        "openapi-spec-validator rejects the notes document ({}): {}",
        file.display(),
        show(&output)
    );
    // The validator does check: a document with a broken reference fails.
    let mut broken = doc;
    broken["paths"]["/notes/{id}"]["get"]["responses"]["200"] =
        serde_json::json!({"$ref": "#/components/responses/Missing"});
    std::fs::write(&file, serde_json::to_vec(&broken).expect("JSON")).expect("written");
    let output = Command::new(&validator).arg(&file).output().expect("runs");
    assert!(
        !output.status.success(),
        "the validator accepted a broken document: {}",
        show(&output)
    );
    let _ = std::fs::remove_file(&file);
}

/// Every `(METHOD, path)` Swagger UI rendered in `dom`: its operation blocks, each a
/// `opblock-summary-method` element with the method, then an `opblock-summary-path` element
/// whose `data-path` is the path. These exist only once the page's script has rendered the
/// document: the page as served has neither (checked in the test).
fn rendered_operations(dom: &str) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let mut rest = dom;
    while let Some(at) = rest.find("opblock-summary-method") {
        rest = &rest[at..];
        let method = rest
            .find('>')
            .map(|gt| &rest[gt + 1..])
            .and_then(|text| text.split_once('<'))
            .map(|(method, _)| method.trim().to_owned());
        let path = rest
            .find("data-path=\"")
            .map(|at| &rest[at + "data-path=\"".len()..])
            .and_then(|value| value.split_once('"'))
            .map(|(path, _)| path.replace("&amp;", "&"));
        if let (Some(method), Some(path)) = (method, path) {
            found.insert((method, path));
        }
        rest = &rest["opblock-summary-method".len()..];
    }
    found
}

/// Runs Chromium headless on `url` with `args`, in a profile of its own under `dir`.
fn chromium(browser: &FsPath, dir: &FsPath, args: &[&str], url: &str) -> Output {
    let profile = dir.join(format!("chromium-profile-{}", std::process::id()));
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", browser.display()));
    let _ = std::fs::remove_dir_all(&profile);
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_renders_every_route_in_chromium() {
    if !in_notes() {
        return;
    }
    let Some(browser) = tool(
        "DI_CHROMIUM",
        &["chromium", "chromium-browser"],
        "Chromium (apt-get install chromium)",
    ) else {
        return;
    };
    let server = app()
        .bind("127.0.0.1:0")
        .await
        .expect("the notes app serves");
    let base = format!("http://{}", server.local_addr());

    // The page as served is a shell for Swagger UI's script: no operation in it yet.
    let client = TestClient::start(app()).await.expect("the app starts");
    let shell = client.get("/docs").send().await;
    assert_eq!(shell.status(), 200);
    let shell = shell.text().await.expect("text");
    assert!(
        rendered_operations(&shell).is_empty()
            && !shell.contains("data-path")
            && !shell.contains("authorization button"),
        "/docs as served already lists operations, so the browser check would prove nothing"
    );
    client.shutdown().await;

    let dir = target_dir().join("openapi-checks");
    std::fs::create_dir_all(&dir).expect("target/openapi-checks");
    let url = format!("{base}/docs");
    let (dom, screenshot, png) = tokio::task::spawn_blocking({
        let browser = browser.clone();
        let dir = dir.clone();
        move || {
            let dom = chromium(&browser, &dir, &["--dump-dom"], &url);
            let png = target_dir().join("openapi-docs.png");
            let _ = std::fs::remove_file(&png);
            let screenshot = chromium(
                &browser,
                &dir,
                &[
                    &format!("--screenshot={}", png.display()),
                    "--window-size=1280,2000",
                ],
                &url,
            );
            (dom, screenshot, png)
        }
    })
    .await
    .expect("chromium ran");
    server.shutdown().await;

    assert!(dom.status.success(), "chromium --dump-dom: {}", show(&dom));
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    let rendered = rendered_operations(&dom_text);
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        rendered,
        routes,
        "Swagger UI did not render exactly the notes routes; the DOM ({} bytes) begins:\n{}",
        dom_text.len(),
        dom_text.chars().take(3000).collect::<String>()
    );

    // The API key is rendered too: the page's Authorize button, and a lock on each operation
    // that needs the key (the two write routes).
    assert!(
        dom_text.contains("class=\"btn authorize"),
        "no Authorize button"
    );
    let locks = dom_text
        .matches("aria-label=\"authorization button")
        .count();
    assert_eq!(locks, 2, "a lock on POST /notes and POST /notes/import");

    assert!(
        screenshot.status.success(),
        "chromium --screenshot: {}",
        show(&screenshot)
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let be32 = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!((be32(16), be32(20)), (1280, 2000), "the window's size");
    // Measured with this Chromium at this size: a blank page is 11.6 KB, a heading and a line
    // of text 14.5 KB; Swagger UI's rendered page is several times that.
    assert!(
        bytes.len() > 30_000,
        "the screenshot is {} bytes: nothing rendered?",
        bytes.len()
    );
    eprintln!("screenshot: {} ({} bytes)", png.display(), bytes.len());
}
