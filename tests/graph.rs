//! `App::graph`: each route's planned dependency graph as Mermaid and as Graphviz DOT, with
//! scopes, generators, cache sharing, `fresh` uses, request inputs, `max_concurrency`,
//! overrides and how each value is taken (issue 13, "The graph, as a picture").

use di_runtime::prelude::*;
use serde::Deserialize;

struct Pool;
struct Tx;
struct Conn;

#[derive(Clone)]
struct User;

struct Audit;

#[derive(Deserialize)]
struct Who {
    #[allow(dead_code, reason = "only deserialized")]
    name: String,
}

/// App scope, a generator.
#[depends(scope = "app")]
async fn pool(y: Yield<Pool>) {
    let _ = y.provide(Pool).await;
}

/// Handler scope, a generator; replaced by `fake_tx` below.
#[depends(scope = "handler")]
async fn tx(#[dep(pool)] _pool: &Pool, y: Yield<Tx>) {
    let _ = y.provide(Tx).await;
}

#[depends(scope = "handler")]
async fn fake_tx(y: Yield<Tx>) {
    let _ = y.provide(Tx).await;
}

/// Plain, with a `Query` input: shared by `audit` and the handler, and taken `fresh` once.
#[depends]
async fn current_user(Query(_who): Query<Who>) -> User {
    User
}

#[depends]
async fn audit(#[dep(current_user)] _user: &User, #[dep(tx)] _tx: &mut Tx) -> Audit {
    Audit
}

/// Request scope, a generator with a limit; the handler holds it.
#[depends(max_concurrency = 2)]
async fn reader(#[dep(pool)] _pool: &Pool, y: Yield<Conn>) {
    let _ = y.provide(Conn).await;
}

#[depends]
async fn show(
    #[dep(current_user)] _user: User,
    #[dep(audit)] _audit: &Audit,
    #[dep(current_user, fresh)] _again: &User,
    #[dep(reader)] _conn: Held<Conn>,
) -> &'static str {
    "shown"
}

#[depends]
async fn health(#[dep(pool)] _pool: &Pool, _headers: &HeaderMap) -> &'static str {
    "ok"
}

fn app() -> App {
    App::new()
        .get("/users/{id}", show)
        .get("/health", health)
        .override_dep(tx, fake_tx)
}

const MERMAID: &str = r##"flowchart LR
  subgraph app_scope["app scope"]
    a0(["pool<br/>app · yield"])
  end
  subgraph route0["GET /users/{id}: show"]
    r0i0[/"Query#lt;Who#gt;"/]
    r0i1[/"Query#lt;Who#gt;"/]
    r0n0["current_user<br/>request · plain"]
    r0n1(["fake_tx (overrides tx)<br/>handler · yield"])
    r0n2["audit<br/>handler · plain"]
    r0n3["current_user<br/>request · plain"]
    r0n4(["reader<br/>request · yield<br/>max_concurrency = 2"])
    r0n5{{"show"}}
  end
  subgraph route1["GET /health: health"]
    r1i0[/"#amp;HeaderMap"/]
    r1n0{{"health"}}
  end
  r0i0 --> r0n0
  r0n0 --> r0n2
  r0n1 -->|"#amp;mut"| r0n2
  r0i1 --> r0n3
  a0 --> r0n4
  r0n0 -->|"clone"| r0n5
  r0n2 --> r0n5
  r0n3 -->|"fresh"| r0n5
  r0n4 -->|"Held"| r0n5
  a0 --> r1n0
  r1i0 --> r1n0
  classDef app fill:#e3f2fd,stroke:#1565c0,color:#000
  class a0 app
  classDef request fill:#e8f5e9,stroke:#2e7d32,color:#000
  class r0n0,r0n3,r0n4 request
  classDef handler fill:#fff3e0,stroke:#ef6c00,color:#000
  class r0n1,r0n2 handler
  classDef route fill:#ffffff,stroke:#424242,stroke-width:2px,color:#000
  class r0n5,r1n0 route
  classDef input fill:#f3e5f5,stroke:#6a1b9a,color:#000
  class r0i0,r0i1,r1i0 input
  classDef override stroke:#c2185b,stroke-width:3px,stroke-dasharray:6 3
  class r0n1 override
"##;

const DOT: &str = r##"digraph di {
  rankdir=LR;
  graph [fontname="Helvetica", fontsize=12];
  node [fontname="Helvetica", fontsize=11, style=filled];
  edge [fontname="Helvetica", fontsize=10];
  subgraph cluster_app_scope {
    label="app scope";
    a0 [label="pool\napp · yield", shape=box, style="rounded,filled", fillcolor="#e3f2fd", color="#1565c0"];
  }
  subgraph cluster_route0 {
    label="GET /users/{id}: show";
    r0i0 [label="Query<Who>", shape=parallelogram, style="filled", fillcolor="#f3e5f5", color="#6a1b9a"];
    r0i1 [label="Query<Who>", shape=parallelogram, style="filled", fillcolor="#f3e5f5", color="#6a1b9a"];
    r0n0 [label="current_user\nrequest · plain", shape=box, style="filled", fillcolor="#e8f5e9", color="#2e7d32"];
    r0n1 [label="fake_tx (overrides tx)\nhandler · yield", shape=box, style="rounded,filled,dashed", fillcolor="#fff3e0", color="#c2185b", penwidth="3"];
    r0n2 [label="audit\nhandler · plain", shape=box, style="filled", fillcolor="#fff3e0", color="#ef6c00"];
    r0n3 [label="current_user\nrequest · plain", shape=box, style="filled", fillcolor="#e8f5e9", color="#2e7d32"];
    r0n4 [label="reader\nrequest · yield\nmax_concurrency = 2", shape=box, style="rounded,filled", fillcolor="#e8f5e9", color="#2e7d32"];
    r0n5 [label="show", shape=hexagon, style="filled", fillcolor="#ffffff", color="#424242", penwidth="2"];
  }
  subgraph cluster_route1 {
    label="GET /health: health";
    r1i0 [label="&HeaderMap", shape=parallelogram, style="filled", fillcolor="#f3e5f5", color="#6a1b9a"];
    r1n0 [label="health", shape=hexagon, style="filled", fillcolor="#ffffff", color="#424242", penwidth="2"];
  }
  r0i0 -> r0n0;
  r0n0 -> r0n2;
  r0n1 -> r0n2 [label="&mut"];
  r0i1 -> r0n3;
  a0 -> r0n4;
  r0n0 -> r0n5 [label="clone"];
  r0n2 -> r0n5;
  r0n3 -> r0n5 [label="fresh"];
  r0n4 -> r0n5 [label="Held"];
  a0 -> r1n0;
  r1i0 -> r1n0;
}
"##;

#[test]
fn mermaid_shows_the_planned_graph() {
    let graph = app().graph().expect("the app is valid");
    assert_eq!(graph.mermaid(), MERMAID, "{}", graph.mermaid());
}

#[test]
fn dot_shows_the_planned_graph() {
    let graph = app().graph().expect("the app is valid");
    assert_eq!(graph.dot(), DOT, "{}", graph.dot());
}

#[test]
fn the_output_depends_only_on_the_app() {
    let first = app().graph().expect("the app is valid");
    for _ in 0..10 {
        let again = app().graph().expect("the app is valid");
        assert_eq!(again.mermaid(), first.mermaid());
        assert_eq!(again.dot(), first.dot());
    }
}

// A `request`-scoped generator cannot depend on a `handler`-scoped one.
#[depends]
async fn holds_tx(#[dep(tx)] _tx: &Tx, y: Yield<Conn>) {
    let _ = y.provide(Conn).await;
}

#[depends]
async fn broken(#[dep(holds_tx)] _conn: &Conn) -> &'static str {
    "never"
}

#[test]
fn an_app_that_check_rejects_gives_the_same_error() {
    let app = App::new().get("/health", health).get("/broken", broken);
    let checked = app.check().expect_err("the scope rule rejects it");
    let graphed = app.graph().expect_err("graph plans like check");
    assert_eq!(graphed.problems(), checked.problems());
    assert_eq!(graphed.to_string(), checked.to_string());
}

#[depends]
async fn fresh_pool(#[dep(pool, fresh)] _pool: &Pool) -> &'static str {
    "never"
}

#[depends]
async fn own_pool(#[dep(pool, scope = "request", fresh)] _pool: &Pool) -> &'static str {
    "a pool of its own"
}

#[test]
fn fresh_is_refused_on_an_app_scoped_dependency_and_a_shorter_scope_allows_it() {
    let error = App::new()
        .get("/fresh", fresh_pool)
        .check()
        .expect_err("an app-scoped value has one instance");
    let problems = error.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("`fresh`")
            && problems[0].contains("`pool`")
            && problems[0].contains("app"),
        "{problems:?}"
    );
    App::new()
        .get("/own", own_pool)
        .check()
        .expect("a use with a scope of its own may be fresh");
}
