//! [`Graph`]: the planned dependency graph of every route as a picture, in Mermaid and in
//! Graphviz DOT (what `App::graph` returns).
//!
//! It is read off the plans a request runs, after overrides: one node per instance (a cached
//! dependency used twice is one node with two edges out; a `fresh` use is a node of its own),
//! each `app`-scoped dependency once for the whole app, and one node per request input.

use std::fmt::Write as _;

use crate::contract::meta::{Access, ArgSource, DepMeta, Param, ParamKind};
use crate::contract::scope::Scope;
use crate::plan::node::{Node, Origin};
use crate::plan::routes::{Planned, RouteDef};

/// The dependency graph of every route of an app, as [`App::check`](crate::App::check) and
/// [`App::start`](crate::App::start) plan it, ready to draw: [`Graph::mermaid`] for Markdown
/// (GitHub renders a ```` ```mermaid ```` block), [`Graph::dot`] for Graphviz
/// (`dot -Tsvg graph.dot > graph.svg`).
///
/// Each route is a subgraph titled with its method, path and handler; the `app`-scoped
/// dependencies, shared by every route, are in a subgraph of their own. A dependency is a
/// node labelled with its function, its scope and whether it is a generator (`yield`), a
/// plain function (`plain`) or a value given to [`App::provide`](crate::App::provide)
/// (`provided`), and its `max_concurrency` if it has one. A dependency used by several
/// functions of a request is one node with an edge to each user; a `fresh` use is a node of
/// its own. Generators are drawn rounded, handlers as hexagons, request inputs (`Query<T>`,
/// `Json<T>`, `&HeaderMap`, ...) as parallelograms. A dependency replaced by
/// [`App::override_dep`](crate::App::override_dep) shows the function that runs, as
/// "`fake_tx (overrides tx)`", with a dashed border. An edge goes from a value to its user,
/// labelled with how the value is taken unless it is `&T`: `&mut`, `clone`, `Held`,
/// `HeldMut`, and `fresh`; a `#[depends(uses(f))]` edge is labelled `uses`. A dependency of the app or of a group
/// ([`App::dependency`](crate::App::dependency), [`Group::dependency`](crate::Group::dependency)),
/// which no parameter takes, has an edge to the handler labelled `app dependency` or
/// `group /admin`.
///
/// The output depends only on the app: nodes and edges come in the order the routes were
/// registered and the plan sets up, with ids made from those positions.
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[depends]
/// async fn user() -> String { "alice".into() }
///
/// #[depends]
/// async fn hello(#[dep(user)] user: &String) -> String { format!("hello {user}") }
///
/// let graph = App::new().get("/hello", hello).graph().expect("the app is valid");
/// assert!(graph.mermaid().contains(r#"subgraph route0["GET /hello: hello"]"#));
/// assert!(graph.dot().contains(r#"label="user\nrequest · plain""#));
/// ```
#[derive(Clone, Debug)]
pub struct Graph {
    /// The `app`-scoped dependencies, in setup order.
    app: Vec<Vertex>,
    routes: Vec<RouteGraph>,
    /// From a value to its user: within the app first, then route by route.
    edges: Vec<Edge>,
}

/// One route's subgraph.
#[derive(Clone, Debug)]
struct RouteGraph {
    id: String,
    /// `GET /notes/{id}: get_note`
    title: String,
    /// Its inputs, then its dependencies in setup order, then its handler.
    vertices: Vec<Vertex>,
}

#[derive(Clone, Debug)]
struct Vertex {
    id: String,
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    /// A route's handler.
    Handler {
        name: &'static str,
        limit: Option<usize>,
    },
    /// One instance of a dependency.
    Dep {
        /// The function that runs.
        runs: &'static DepMeta,
        /// The dependency it stands in for (`App::override_dep`).
        replaces: Option<&'static str>,
        scope: Scope,
        /// Given to `App::provide`: nothing runs.
        provided: bool,
        limit: Option<usize>,
    },
    /// A request input, by its type as written.
    Input { ty: &'static str },
}

#[derive(Clone, Debug)]
struct Edge {
    from: String,
    to: String,
    label: Option<String>,
}

/// A class nodes are drawn with: its name, its Mermaid `classDef` style, its DOT attributes.
type Class = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The classes, in the order their styles are written; a later class's DOT attribute wins.
const CLASSES: [Class; 6] = [
    (
        "app",
        "fill:#e3f2fd,stroke:#1565c0,color:#000",
        &[("fillcolor", "#e3f2fd"), ("color", "#1565c0")],
    ),
    (
        "request",
        "fill:#e8f5e9,stroke:#2e7d32,color:#000",
        &[("fillcolor", "#e8f5e9"), ("color", "#2e7d32")],
    ),
    (
        "handler",
        "fill:#fff3e0,stroke:#ef6c00,color:#000",
        &[("fillcolor", "#fff3e0"), ("color", "#ef6c00")],
    ),
    (
        "route",
        "fill:#ffffff,stroke:#424242,stroke-width:2px,color:#000",
        &[
            ("fillcolor", "#ffffff"),
            ("color", "#424242"),
            ("penwidth", "2"),
        ],
    ),
    (
        "input",
        "fill:#f3e5f5,stroke:#6a1b9a,color:#000",
        &[("fillcolor", "#f3e5f5"), ("color", "#6a1b9a")],
    ),
    (
        "override",
        "stroke:#c2185b,stroke-width:3px,stroke-dasharray:6 3",
        &[("color", "#c2185b"), ("penwidth", "3")],
    ),
];

impl Graph {
    /// Reads the graph off a successful plan of `defs`.
    pub(crate) fn new(defs: &[RouteDef], planned: &Planned) -> Self {
        let mut app: Vec<Vertex> = planned
            .app_nodes
            .iter()
            .enumerate()
            .map(|(index, node)| Vertex {
                id: format!("a{index}"),
                kind: dep_kind(node),
            })
            .collect();
        let mut edges = Vec::new();
        for (index, node) in planned.app_nodes.iter().enumerate() {
            let to = format!("a{index}");
            for (param, source) in node.meta.params.iter().zip(&node.args) {
                if let (ArgSource::App(from), ParamKind::Dep { .. } | ParamKind::Uses { .. }) =
                    (source, &param.kind)
                {
                    edges.push(dep_edge(&mut app, *from, param, "a", &to));
                }
            }
        }
        let mut routes = Vec::with_capacity(defs.len());
        for (r, (def, route)) in defs.iter().zip(&planned.in_order).enumerate() {
            let nodes = &route.plan.nodes;
            let prefix = format!("r{r}n");
            let mut vertices: Vec<Vertex> = nodes
                .iter()
                .enumerate()
                .map(|(index, node)| Vertex {
                    id: format!("{prefix}{index}"),
                    // The handler is the last node.
                    kind: if index + 1 == nodes.len() {
                        Kind::Handler {
                            name: node.meta.name,
                            limit: node.limit.as_ref().map(|l| l.most),
                        }
                    } else {
                        dep_kind(node)
                    },
                })
                .collect();
            let mut inputs = Vec::new();
            for (index, node) in nodes.iter().enumerate() {
                let to = format!("{prefix}{index}");
                for (param, source) in node.meta.params.iter().zip(&node.args) {
                    let edge = match (source, &param.kind) {
                        (ArgSource::Slot(from), ParamKind::Dep { .. } | ParamKind::Uses { .. }) => {
                            dep_edge(&mut vertices, *from, param, &prefix, &to)
                        }
                        (ArgSource::App(from), ParamKind::Dep { .. } | ParamKind::Uses { .. }) => {
                            dep_edge(&mut app, *from, param, "a", &to)
                        }
                        (ArgSource::Input(_) | ArgSource::AppInput(_) | ArgSource::Head, _) => {
                            let id = format!("r{r}i{}", inputs.len());
                            inputs.push(Vertex {
                                id: id.clone(),
                                kind: Kind::Input { ty: param.name },
                            });
                            Edge {
                                from: id,
                                to: to.clone(),
                                label: None,
                            }
                        }
                        _ => continue,
                    };
                    edges.push(edge);
                }
            }
            // The app's and groups' dependencies, which no parameter takes: an edge to the
            // handler labelled with where they were added.
            let handler = format!("{prefix}{}", nodes.len().saturating_sub(1));
            for group_use in &route.uses {
                let (target, from_prefix, from) = match group_use.source {
                    ArgSource::Slot(from) => (&mut vertices, prefix.as_str(), from),
                    ArgSource::App(from) => (&mut app, "a", from),
                    _ => continue,
                };
                mark_override(target, from, group_use.declared);
                let label = match &group_use.from {
                    Origin::App => "app dependency".to_owned(),
                    Origin::Group(group) => format!("group {group}"),
                };
                edges.push(Edge {
                    from: format!("{from_prefix}{from}"),
                    to: handler.clone(),
                    label: Some(label),
                });
            }
            inputs.append(&mut vertices);
            routes.push(RouteGraph {
                id: format!("route{r}"),
                title: format!("{} {}: {}", def.method, def.path, route.name),
                vertices: inputs,
            });
        }
        Self { app, routes, edges }
    }

    /// The graph as a Mermaid flowchart, for a ```` ```mermaid ```` block in Markdown or the
    /// Mermaid live editor. Labels are quoted, with `"`, `<`, `>`, `&` and `#` written as
    /// Mermaid entity codes (`#quot;`, `#lt;`, ...).
    #[must_use]
    pub fn mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        let vertex = |out: &mut String, v: &Vertex| {
            let label = v
                .lines()
                .iter()
                .map(|line| mermaid_text(line))
                .collect::<Vec<_>>()
                .join("<br/>");
            let (open, close) = match &v.kind {
                Kind::Handler { .. } => ("{{", "}}"),
                Kind::Dep {
                    runs,
                    provided: false,
                    ..
                } if runs.generator => ("([", "])"),
                Kind::Dep { .. } => ("[", "]"),
                Kind::Input { .. } => ("[/", "/]"),
            };
            let _ = writeln!(out, "    {}{open}\"{label}\"{close}", v.id);
        };
        if !self.app.is_empty() {
            out.push_str("  subgraph app_scope[\"app scope\"]\n");
            for v in &self.app {
                vertex(&mut out, v);
            }
            out.push_str("  end\n");
        }
        for route in &self.routes {
            let _ = writeln!(
                out,
                "  subgraph {}[\"{}\"]",
                route.id,
                mermaid_text(&route.title)
            );
            for v in &route.vertices {
                vertex(&mut out, v);
            }
            out.push_str("  end\n");
        }
        for edge in &self.edges {
            let _ = match &edge.label {
                Some(label) => writeln!(
                    out,
                    "  {} -->|\"{}\"| {}",
                    edge.from,
                    mermaid_text(label),
                    edge.to
                ),
                None => writeln!(out, "  {} --> {}", edge.from, edge.to),
            };
        }
        for (class, ids) in self.classes() {
            let style = CLASSES.iter().find(|c| c.0 == class).map_or("", |c| c.1);
            let _ = writeln!(out, "  classDef {class} {style}");
            let _ = writeln!(out, "  class {} {class}", ids.join(","));
        }
        out
    }

    /// The graph as Graphviz DOT, for `dot -Tsvg` and friends. Labels are quoted strings with
    /// `"` and `\` escaped; `<` and `>` need no escaping there (no HTML-like labels are used).
    #[must_use]
    pub fn dot(&self) -> String {
        let mut out = String::from("digraph di {\n");
        out.push_str("  rankdir=LR;\n");
        out.push_str("  graph [fontname=\"Helvetica\", fontsize=12];\n");
        out.push_str("  node [fontname=\"Helvetica\", fontsize=11, style=filled];\n");
        out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
        let vertex = |out: &mut String, v: &Vertex| {
            let label = v
                .lines()
                .iter()
                .map(|line| dot_text(line))
                .collect::<Vec<_>>()
                .join("\\n");
            let (shape, style) = match &v.kind {
                Kind::Handler { .. } => ("hexagon", "filled"),
                Kind::Dep {
                    runs,
                    provided: false,
                    replaces,
                    ..
                } if runs.generator => (
                    "box",
                    if replaces.is_some() {
                        "rounded,filled,dashed"
                    } else {
                        "rounded,filled"
                    },
                ),
                Kind::Dep {
                    replaces: Some(_), ..
                } => ("box", "filled,dashed"),
                Kind::Dep { .. } => ("box", "filled"),
                Kind::Input { .. } => ("parallelogram", "filled"),
            };
            let mut colors: Vec<(&str, &str)> = Vec::new();
            let classes = v.classes();
            for (_, _, attrs) in CLASSES.iter().filter(|c| classes.contains(&c.0)) {
                for (key, value) in *attrs {
                    match colors.iter_mut().find(|(k, _)| k == key) {
                        Some(set) => set.1 = value,
                        None => colors.push((key, value)),
                    }
                }
            }
            let _ = write!(
                out,
                "    {} [label=\"{label}\", shape={shape}, style=\"{style}\"",
                v.id
            );
            for (key, value) in colors {
                let _ = write!(out, ", {key}=\"{value}\"");
            }
            out.push_str("];\n");
        };
        if !self.app.is_empty() {
            out.push_str("  subgraph cluster_app_scope {\n    label=\"app scope\";\n");
            for v in &self.app {
                vertex(&mut out, v);
            }
            out.push_str("  }\n");
        }
        for route in &self.routes {
            let _ = writeln!(
                out,
                "  subgraph cluster_{} {{\n    label=\"{}\";",
                route.id,
                dot_text(&route.title)
            );
            for v in &route.vertices {
                vertex(&mut out, v);
            }
            out.push_str("  }\n");
        }
        for edge in &self.edges {
            let _ = match &edge.label {
                Some(label) => writeln!(
                    out,
                    "  {} -> {} [label=\"{}\"];",
                    edge.from,
                    edge.to,
                    dot_text(label)
                ),
                None => writeln!(out, "  {} -> {};", edge.from, edge.to),
            };
        }
        out.push_str("}\n");
        out
    }

    /// Every vertex, the app's first.
    fn vertices(&self) -> impl Iterator<Item = &Vertex> {
        self.app
            .iter()
            .chain(self.routes.iter().flat_map(|r| &r.vertices))
    }

    /// Each class in use, in [`CLASSES`] order, with the ids of its vertices in order.
    fn classes(&self) -> Vec<(&'static str, Vec<&str>)> {
        CLASSES
            .iter()
            .filter_map(|(class, _, _)| {
                let ids: Vec<&str> = self
                    .vertices()
                    .filter(|v| v.classes().contains(class))
                    .map(|v| v.id.as_str())
                    .collect();
                (!ids.is_empty()).then_some((*class, ids))
            })
            .collect()
    }
}

impl Vertex {
    /// The label, line by line, before escaping.
    fn lines(&self) -> Vec<String> {
        let (mut lines, limit) = match &self.kind {
            Kind::Handler { name, limit } => (vec![(*name).to_owned()], *limit),
            Kind::Dep {
                runs,
                replaces,
                scope,
                provided,
                limit,
            } => {
                let name = match replaces {
                    Some(original) => format!("{} (overrides {original})", runs.name),
                    None => runs.name.to_owned(),
                };
                let how = if *provided {
                    "provided"
                } else if runs.generator {
                    "yield"
                } else {
                    "plain"
                };
                (vec![name, format!("{scope} · {how}")], *limit)
            }
            Kind::Input { ty } => (vec![(*ty).to_owned()], None),
        };
        if let Some(most) = limit {
            lines.push(format!("max_concurrency = {most}"));
        }
        lines
    }

    /// The classes it is drawn with.
    fn classes(&self) -> Vec<&'static str> {
        match &self.kind {
            Kind::Handler { .. } => vec!["route"],
            Kind::Input { .. } => vec!["input"],
            Kind::Dep {
                scope, replaces, ..
            } => {
                let mut classes = vec![scope.as_str()];
                if replaces.is_some() {
                    classes.push("override");
                }
                classes
            }
        }
    }
}

fn dep_kind(node: &Node) -> Kind {
    Kind::Dep {
        runs: node.meta,
        replaces: None,
        scope: node.scope,
        provided: node.preset,
        limit: node.limit.as_ref().map(|l| l.most),
    }
}

/// The edge from the value of `vertices[from]` (id `{prefix}{from}`) to the function `to`
/// whose parameter `param` takes it. The parameter names the dependency it asked for: when
/// another function runs in its place, the vertex is marked as that dependency's override.
fn dep_edge(vertices: &mut [Vertex], from: usize, param: &Param, prefix: &str, to: &str) -> Edge {
    let mut label = None;
    if let ParamKind::Uses { meta } = param.kind {
        mark_override(vertices, from, meta());
        label = Some("uses".to_owned());
    }
    if let ParamKind::Dep {
        meta,
        fresh,
        access,
        ..
    } = param.kind
    {
        mark_override(vertices, from, meta());
        let access = match access {
            Access::Shared => None,
            Access::Exclusive => Some("&mut"),
            Access::Cloned => Some("clone"),
            Access::Held => Some("Held"),
            Access::HeldMut => Some("HeldMut"),
        };
        label = match (fresh, access) {
            (true, Some(access)) => Some(format!("fresh, {access}")),
            (true, None) => Some("fresh".to_owned()),
            (false, access) => access.map(str::to_owned),
        };
    }
    Edge {
        from: format!("{prefix}{from}"),
        to: to.to_owned(),
        label,
    }
}

/// Marks `vertices[from]` as the override of `asked` when another function runs in its place.
fn mark_override(vertices: &mut [Vertex], from: usize, asked: &'static DepMeta) {
    if let Some(Vertex {
        kind:
            Kind::Dep {
                runs,
                replaces,
                provided: false,
                ..
            },
        ..
    }) = vertices.get_mut(from)
        && !std::ptr::eq(*runs, asked)
    {
        *replaces = Some(asked.name);
    }
}

/// Text for inside a quoted Mermaid label: `"`, `<`, `>`, `&` and `#` (which starts an entity
/// code) as entity codes, line breaks and other control characters as numeric codes.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '#' => out.push_str("#35;"),
            c if c.is_control() => {
                let _ = write!(out, "#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Text for inside a quoted DOT string: `"` and `\` escaped (a backslash would start an
/// escape such as `\n`), a line break as `\n`, other control characters as spaces.
fn dot_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::any::TypeId;

    use super::*;
    use crate::contract::doc::Doc;
    use crate::contract::meta::{Args, Started};
    use crate::contract::slot::ArgError;

    fn never(_: &mut Args<'_>) -> Result<Started, ArgError> {
        Err(ArgError("not run in these tests".to_owned()))
    }

    static DB: DepMeta = DepMeta {
        name: "db",
        module: "tests",
        path: "tests::db",
        scope: Some(Scope::App),
        generator: true,
        max_concurrency: None,
        params: &[],
        run: never,
        type_id: TypeId::of::<()>,
        doc: Doc::NONE,
    };

    static FAKE: DepMeta = DepMeta {
        name: "fake_user",
        module: "tests",
        path: "tests::fake_user",
        scope: None,
        generator: false,
        max_concurrency: None,
        params: &[],
        run: never,
        type_id: TypeId::of::<u8>,
        doc: Doc::NONE,
    };

    /// A graph with every kind of node, and text that needs escaping in both formats.
    fn graph() -> Graph {
        let vertex = |id: &str, kind| Vertex {
            id: id.to_owned(),
            kind,
        };
        let edge = |from: &str, to: &str, label: Option<&str>| Edge {
            from: from.to_owned(),
            to: to.to_owned(),
            label: label.map(str::to_owned),
        };
        Graph {
            app: vec![vertex(
                "a0",
                Kind::Dep {
                    runs: &DB,
                    replaces: None,
                    scope: Scope::App,
                    provided: false,
                    limit: None,
                },
            )],
            routes: vec![RouteGraph {
                id: "route0".to_owned(),
                title: r#"GET /say/"hi"/<who>/a&b#c\d: say"#.to_owned(),
                vertices: vec![
                    vertex(
                        "r0i0",
                        Kind::Input {
                            ty: "Query<Vec<(u8, &'static str)>>",
                        },
                    ),
                    vertex(
                        "r0n0",
                        Kind::Dep {
                            runs: &FAKE,
                            replaces: Some("user"),
                            scope: Scope::Request,
                            provided: false,
                            limit: Some(3),
                        },
                    ),
                    vertex(
                        "r0n1",
                        Kind::Handler {
                            name: "say",
                            limit: None,
                        },
                    ),
                ],
            }],
            edges: vec![
                edge("a0", "r0n0", None),
                edge("r0i0", "r0n0", None),
                edge("r0n0", "r0n1", Some("fresh, &mut")),
            ],
        }
    }

    #[test]
    fn mermaid_labels_are_quoted_with_entity_codes() {
        assert_eq!(
            mermaid_text("say \"hi\" <T> & #1;\nnext"),
            "say #quot;hi#quot; #lt;T#gt; #amp; #35;1;#10;next"
        );
        assert_eq!(mermaid_text("plain · text"), "plain · text");
    }

    #[test]
    fn dot_labels_escape_quotes_and_backslashes() {
        assert_eq!(
            dot_text("say \"hi\" <T> & \\n\nnext\t!"),
            "say \\\"hi\\\" <T> & \\\\n\\nnext !"
        );
    }

    #[test]
    fn mermaid_output() {
        let expected = r##"flowchart LR
  subgraph app_scope["app scope"]
    a0(["db<br/>app · yield"])
  end
  subgraph route0["GET /say/#quot;hi#quot;/#lt;who#gt;/a#amp;b#35;c\d: say"]
    r0i0[/"Query#lt;Vec#lt;(u8, #amp;'static str)#gt;#gt;"/]
    r0n0["fake_user (overrides user)<br/>request · plain<br/>max_concurrency = 3"]
    r0n1{{"say"}}
  end
  a0 --> r0n0
  r0i0 --> r0n0
  r0n0 -->|"fresh, #amp;mut"| r0n1
  classDef app fill:#e3f2fd,stroke:#1565c0,color:#000
  class a0 app
  classDef request fill:#e8f5e9,stroke:#2e7d32,color:#000
  class r0n0 request
  classDef route fill:#ffffff,stroke:#424242,stroke-width:2px,color:#000
  class r0n1 route
  classDef input fill:#f3e5f5,stroke:#6a1b9a,color:#000
  class r0i0 input
  classDef override stroke:#c2185b,stroke-width:3px,stroke-dasharray:6 3
  class r0n0 override
"##;
        assert_eq!(graph().mermaid(), expected);
    }

    #[test]
    fn dot_output() {
        let expected = r##"digraph di {
  rankdir=LR;
  graph [fontname="Helvetica", fontsize=12];
  node [fontname="Helvetica", fontsize=11, style=filled];
  edge [fontname="Helvetica", fontsize=10];
  subgraph cluster_app_scope {
    label="app scope";
    a0 [label="db\napp · yield", shape=box, style="rounded,filled", fillcolor="#e3f2fd", color="#1565c0"];
  }
  subgraph cluster_route0 {
    label="GET /say/\"hi\"/<who>/a&b#c\\d: say";
    r0i0 [label="Query<Vec<(u8, &'static str)>>", shape=parallelogram, style="filled", fillcolor="#f3e5f5", color="#6a1b9a"];
    r0n0 [label="fake_user (overrides user)\nrequest · plain\nmax_concurrency = 3", shape=box, style="filled,dashed", fillcolor="#e8f5e9", color="#c2185b", penwidth="3"];
    r0n1 [label="say", shape=hexagon, style="filled", fillcolor="#ffffff", color="#424242", penwidth="2"];
  }
  a0 -> r0n0;
  r0i0 -> r0n0;
  r0n0 -> r0n1 [label="fresh, &mut"];
}
"##;
        assert_eq!(graph().dot(), expected);
    }

    #[test]
    fn rendering_is_deterministic() {
        let graph = graph();
        assert_eq!(graph.mermaid(), graph.clone().mermaid());
        assert_eq!(graph.dot(), graph.clone().dot());
        assert_eq!(graph.mermaid(), super::tests::graph().mermaid());
    }
}
