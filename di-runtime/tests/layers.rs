//! The runtime's layers import one way, and no two of its modules import each other, directly
//! or through others (docs/architecture.md).
//!
//! Reads every file under `src/`, collects each path that names another module of the crate
//! (`crate::...`, `super::...`, in `use` items, code and macro arguments), resolves it to the
//! file that defines that module, and checks that:
//!
//! - no file but `lib.rs` goes through the crate root's re-exports (each names the file that
//!   defines what it uses, so the graph below is exact);
//! - each file imports only from its own layer or the layers below it:
//!   `panic` < `response` < `contract` < `input` < `plan` < `run` < `app`;
//! - the graph of files has no cycle.
//!
//! Run with: cargo test -p di-runtime --test layers

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

/// The layers, bottom first.
const LAYERS: &[&str] = &[
    "panic", "response", "contract", "input", "plan", "openapi", "run", "app",
];

type Module = Vec<String>;

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/run/body.rs` is `run::body`; `src/run/mod.rs` is `run`; `src/lib.rs` is the root.
fn module_of(src: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(src).expect("under src");
    let mut parts: Module = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// Collects the module paths a file names, relative to the module it is in.
struct Uses<'m> {
    file_module: &'m Module,
    /// Inline modules (`mod tests { .. }`) entered so far.
    inline: Vec<String>,
    found: Vec<Module>,
}

impl Uses<'_> {
    fn here(&self) -> Module {
        let mut here = self.file_module.clone();
        here.extend(self.inline.iter().cloned());
        here
    }

    /// A path as written (`crate::a::b`, `super::x`), made absolute; other paths are ignored.
    fn record(&mut self, segments: &[String]) {
        let Some(first) = segments.first() else {
            return;
        };
        let absolute = match first.as_str() {
            "crate" => segments[1..].to_vec(),
            "super" | "self" => {
                let mut base = self.here();
                let mut rest = segments;
                while let Some(s) = rest.first() {
                    match s.as_str() {
                        "super" => {
                            base.pop();
                        }
                        "self" => {}
                        _ => break,
                    }
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                base
            }
            _ => return,
        };
        self.found.push(absolute);
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                self.record(&prefix.clone());
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                self.record(&prefix.clone());
                prefix.pop();
            }
            syn::UseTree::Glob(_) => self.record(&prefix.clone()),
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }

    /// Paths inside macro arguments (`tracing::debug!(..)`, `format!(..)`) are not parsed by
    /// syn: find `crate :: a :: b` runs in the tokens.
    fn tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < trees.len() {
            match &trees[i] {
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Ident(id) if id == "crate" || id == "super" => {
                    let mut segments = vec![id.to_string()];
                    let mut j = i + 1;
                    while j + 2 < trees.len() + 1 {
                        let colons = matches!((&trees.get(j), &trees.get(j + 1)),
                            (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b))) if a.as_char() == ':' && b.as_char() == ':');
                        match (colons, trees.get(j + 2)) {
                            (true, Some(TokenTree::Ident(next))) => {
                                segments.push(next.to_string());
                                j += 3;
                            }
                            _ => break,
                        }
                    }
                    // A lone `crate` (`pub(crate)` in a macro's input) names nothing.
                    if segments.len() > 1 {
                        self.record(&segments);
                    }
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

impl<'ast> Visit<'ast> for Uses<'_> {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if item.content.is_some() {
            self.inline.push(item.ident.to_string());
            syn::visit::visit_item_mod(self, item);
            self.inline.pop();
        }
    }

    /// `pub(crate)` and `pub(super)` name no module to import.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.record(&segments);
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }
}

/// The longest known module that `path` starts with.
fn resolve<'k>(known: &'k BTreeSet<Module>, path: &Module) -> Option<&'k Module> {
    (0..=path.len())
        .rev()
        .find_map(|n| known.get(&path[..n].to_vec()))
}

fn layer(module: &Module) -> Option<usize> {
    let top = module.first()?;
    LAYERS.iter().position(|l| l == top)
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "lib.rs (the crate root)".to_owned()
    } else {
        module.join("::")
    }
}

/// Every file's imports of other files of the crate.
fn import_graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let modules: Vec<(Module, PathBuf)> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let known: BTreeSet<Module> = modules.iter().map(|(m, _)| m.clone()).collect();
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).expect("a readable source file");
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut uses = Uses {
            file_module: module,
            inline: Vec::new(),
            found: Vec::new(),
        };
        uses.visit_file(&ast);
        let targets: BTreeSet<Module> = uses
            .found
            .iter()
            .filter_map(|path| resolve(&known, path))
            .filter(|target| *target != module)
            .cloned()
            .collect();
        graph.insert(module.clone(), targets);
    }
    graph
}

#[test]
fn the_graph_sees_the_modules() {
    let graph = import_graph();
    let body = graph
        .get(&vec!["run".to_owned(), "body".to_owned()])
        .expect("run::body is a module");
    assert!(
        body.contains(&vec!["run".to_owned(), "teardown".to_owned()]),
        "run::body uses run::teardown: {body:?}"
    );
    assert!(graph.len() > 20, "every file is read: {}", graph.len());
}

#[test]
fn modules_name_the_file_that_defines_what_they_use() {
    let graph = import_graph();
    let through_root: Vec<String> = graph
        .iter()
        .filter(|(from, to)| !from.is_empty() && to.contains(&Vec::new()))
        .map(|(from, _)| name(from))
        .collect();
    assert!(
        through_root.is_empty(),
        "these modules use the crate root's re-exports (`crate::Name`); name the defining module instead (`crate::layer::file::Name`): {through_root:?}"
    );
}

#[test]
fn layers_import_only_from_themselves_and_below() {
    let graph = import_graph();
    let mut wrong = Vec::new();
    for (from, targets) in &graph {
        if from.is_empty() {
            continue; // lib.rs re-exports every layer
        }
        let Some(from_layer) = layer(from) else {
            wrong.push(format!("{} is in no layer; add it to LAYERS", name(from)));
            continue;
        };
        for to in targets {
            if layer(to).is_some_and(|to_layer| to_layer > from_layer) {
                wrong.push(format!(
                    "{} (layer `{}`) uses {} (layer `{}`, above it)",
                    name(from),
                    LAYERS[from_layer],
                    name(to),
                    to[0]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_two_modules_import_each_other() {
    let graph = import_graph();
    // Depth-first search for a cycle; report the first one found as a chain.
    fn visit(
        node: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|m| m == node).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(node.clone());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, state, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys().filter(|m| !m.is_empty()) {
        if let Some(cycle) = visit(node, &graph, &mut state, &mut Vec::new()) {
            let chain: Vec<String> = cycle.iter().map(name).collect();
            panic!("import cycle: {}", chain.join(" -> "));
        }
    }
}
