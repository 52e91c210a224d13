//! The per-route dependency graph, built once when the app is built: setup order, cache
//! slots, the scope rule, cycles and conflicting borrows. A request does no graph work.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::contract::meta::{Access, ArgSource, DepMeta, ExtractFn, ParamKind};
use crate::contract::scope::Scope;
use crate::plan::borrows::{Borrow, Role, check_borrows};
use crate::plan::node::{AppPlan, Limit, Node, Overrides, Plan, Replacement};

/// Builds the plan of every route, sharing one [`AppPlan`].
pub(crate) struct GraphBuilder<'a> {
    overrides: &'a Overrides,
    pub(crate) app: AppPlan,
    scopes: HashMap<TypeId, Scope>,
    limits: HashMap<TypeId, Limit>,
}

/// A use of a dependency on the path from the handler.
#[derive(Clone, Copy)]
struct Link {
    name: &'static str,
    scope: Scope,
}

#[derive(Default)]
struct RouteState {
    nodes: Vec<Node>,
    cache: HashMap<(TypeId, Scope), usize>,
    inputs: Vec<ExtractFn>,
    needs_body: bool,
    borrows: Vec<Borrow>,
    /// Numbers the functions that borrow, to tell two uses by one function apart.
    borrowers: usize,
}

impl<'a> GraphBuilder<'a> {
    pub(crate) fn new(overrides: &'a Overrides) -> Self {
        Self {
            overrides,
            app: AppPlan::default(),
            scopes: HashMap::new(),
            limits: HashMap::new(),
        }
    }

    fn runner(&self, meta: &'static DepMeta) -> &'static DepMeta {
        match self.overrides.get(&(meta.type_id)()) {
            Some(Replacement::Dep(replacement)) => replacement,
            _ => meta,
        }
    }

    /// The places of a dependency declared `max_concurrency = N` (an override keeps the
    /// declaration's limit, as in FastAPI), one semaphore for the whole app.
    fn limit(&mut self, declared: &'static DepMeta) -> Option<Limit> {
        let limit = declared.max_concurrency?;
        let rank = self.limits.len();
        let entry = self
            .limits
            .entry((declared.type_id)())
            .or_insert_with(|| Limit {
                rank,
                most: limit,
                places: Arc::new(Semaphore::new(limit)),
            });
        Some(entry.clone())
    }

    fn is_value(&self, meta: &'static DepMeta) -> bool {
        matches!(
            self.overrides.get(&(meta.type_id)()),
            Some(Replacement::Value)
        )
    }

    /// The scope a dependency lives in when used with `forced` at the use site: the forced
    /// scope, else the declared one (an override keeps the declaration's), else, for a plain
    /// function, the shortest of its dependencies' scopes capped at `request`.
    fn effective_scope(
        &mut self,
        meta: &'static DepMeta,
        forced: Option<Scope>,
        visiting: &mut Vec<TypeId>,
    ) -> Scope {
        if self.is_value(meta) {
            return Scope::App;
        }
        if let Some(scope) = forced.or(meta.scope) {
            return scope;
        }
        let id = (meta.type_id)();
        if let Some(scope) = self.scopes.get(&id) {
            return *scope;
        }
        if visiting.contains(&id) {
            return Scope::Request; // a cycle; reported by `visit`
        }
        visiting.push(id);
        let mut scope = Scope::Request;
        for param in self.runner(meta).params {
            if let ParamKind::Dep {
                meta: dep,
                scope: forced,
                ..
            } = param.kind
            {
                scope = scope.min(self.effective_scope(dep(), forced, visiting));
            }
        }
        visiting.pop();
        self.scopes.insert(id, scope);
        scope
    }

    /// The shortest-lived dependency a plain function inherits its scope from, for messages.
    fn inherited_from(&mut self, meta: &'static DepMeta, scope: Scope) -> Vec<&'static str> {
        let mut chain = Vec::new();
        let mut current = meta;
        while current.scope.is_none() && chain.len() < 32 {
            let next = self
                .runner(current)
                .params
                .iter()
                .find_map(|p| match p.kind {
                    ParamKind::Dep {
                        meta: dep,
                        scope: forced,
                        ..
                    } => {
                        let dep = dep();
                        (self.effective_scope(dep, forced, &mut Vec::new()) == scope).then_some(dep)
                    }
                    _ => None,
                });
            match next {
                Some(dep) => {
                    chain.push(dep.name);
                    current = dep;
                }
                None => break,
            }
        }
        chain
    }

    /// Plans one route whose handler is `handler`; returns every problem found.
    pub(crate) fn plan_route(&mut self, handler: &'static DepMeta) -> Result<Plan, Vec<String>> {
        if handler.generator {
            return Err(vec![format!(
                "`{}` takes a `Yield` and so is a dependency, not a handler; a handler returns the response",
                handler.name
            )]);
        }
        let mut state = RouteState::default();
        let mut walk = Walk {
            builder: self,
            path: vec![Link {
                name: handler.name,
                scope: Scope::Handler,
            }],
            visiting: vec![(handler.type_id)()],
            errors: Vec::new(),
        };
        let args = walk.params(handler, handler, Scope::Handler, Role::Handler, &mut state);
        let mut errors = walk.errors;
        let slot = state.nodes.len();
        let limit = self.limit(handler);
        state.nodes.push(Node {
            meta: handler,
            scope: Scope::Handler,
            slot,
            args,
            preset: false,
            limit,
        });
        check_borrows(&state.borrows, &mut errors);
        let mut limited: Vec<usize> = (0..state.nodes.len())
            .filter(|i| state.nodes[*i].limit.is_some())
            .collect();
        limited.sort_by_key(|i| state.nodes[*i].limit.as_ref().map(|l| l.rank));
        check_places(&state.nodes, &limited, &mut errors);
        let request_teardowns = state
            .nodes
            .iter()
            .any(|n| n.meta.generator && n.scope == Scope::Request);
        if errors.is_empty() {
            Ok(Plan {
                slots: state.nodes.len(),
                nodes: state.nodes,
                inputs: state.inputs,
                needs_body: state.needs_body,
                limited,
                request_teardowns,
            })
        } else {
            Err(errors)
        }
    }

    /// The scope rule: what a function depends on must live at least as long as the function
    /// (a response body counts as `request`-scoped).
    fn check_edge(
        &mut self,
        path: &[Link],
        dep: &'static DepMeta,
        dep_scope: Scope,
        access: Access,
        errors: &mut Vec<String>,
    ) {
        let Some(user) = path.last() else { return };
        let needed = if access.is_held() {
            Scope::Request
        } else {
            user.scope
        };
        if path.len() == 1 && !access.is_held() {
            return; // the handler itself may use anything
        }
        if dep_scope.outlives(needed) {
            return;
        }
        let mut names: Vec<_> = path.iter().map(|l| l.name).collect();
        names.push(dep.name);
        let inherited = self.inherited_from(dep, dep_scope);
        let why = if inherited.is_empty() {
            format!("`{}` is `{dep_scope}`-scoped", dep.name)
        } else {
            let mut full = vec![dep.name];
            full.extend(&inherited);
            names.extend(&inherited);
            format!(
                "`{}` lives only as long as `{}`, which is `{dep_scope}`-scoped ({})",
                dep.name,
                inherited.last().copied().unwrap_or(dep.name),
                chain(&full)
            )
        };
        let root = inherited.last().copied().unwrap_or(dep.name);
        let message = if access.is_held() {
            format!(
                "dependency chain {}: the response body of `{}` holds `{}`, but {why} and is torn down before the body is sent; make `{root}` `request`-scoped",
                chain(&names),
                user.name,
                dep.name
            )
        } else {
            format!(
                "dependency chain {}: `{}` is `{}`-scoped and cannot depend on `{}`: {why}; make `{root}` `{}`-scoped, or make `{}` `{dep_scope}`-scoped",
                chain(&names),
                user.name,
                user.scope,
                dep.name,
                user.scope,
                user.name
            )
        };
        errors.push(message);
    }
}

/// One walk of a route's graph from its handler: the uses from the handler to where it is
/// (for the scope rule and messages), the functions on that path (for cycles), and the
/// problems found so far.
struct Walk<'w, 'a> {
    builder: &'w mut GraphBuilder<'a>,
    path: Vec<Link>,
    visiting: Vec<TypeId>,
    errors: Vec<String>,
}

impl Walk<'_, '_> {
    /// Where each parameter of `runner` (standing in for `declared`) comes from, planning the
    /// dependencies it reaches into `state`.
    fn params(
        &mut self,
        declared: &'static DepMeta,
        runner: &'static DepMeta,
        scope: Scope,
        role: Role,
        state: &mut RouteState,
    ) -> Vec<ArgSource> {
        let mut args = Vec::with_capacity(runner.params.len());
        state.borrowers += 1;
        let by_id = state.borrowers;
        for param in runner.params {
            let source = match param.kind {
                ParamKind::Yield => ArgSource::Yield,
                ParamKind::HeadRef => {
                    if scope == Scope::App {
                        self.errors.push(app_input_error(declared.name, param.name));
                    }
                    ArgSource::Head
                }
                ParamKind::Input {
                    extract,
                    needs_body,
                } => {
                    if scope == Scope::App {
                        self.errors.push(app_input_error(declared.name, param.name));
                    }
                    state.needs_body |= needs_body;
                    state.inputs.push(extract);
                    ArgSource::Input(state.inputs.len() - 1)
                }
                ParamKind::Dep {
                    meta,
                    scope: forced,
                    fresh,
                    access,
                } => {
                    let dep = meta();
                    let dep_scope = self.builder.effective_scope(dep, forced, &mut Vec::new());
                    self.builder
                        .check_edge(&self.path, dep, dep_scope, access, &mut self.errors);
                    if self.visiting.contains(&(dep.type_id)()) {
                        let mut names: Vec<_> = self.path.iter().map(|l| l.name).collect();
                        names.push(dep.name);
                        self.errors
                            .push(format!("dependency cycle: {}", chain(&names)));
                        args.push(ArgSource::Head);
                        continue;
                    }
                    if access == Access::Exclusive && dep_scope == Scope::App {
                        self.errors.push(format!(
                            "`{}` takes `&mut` of `{}`, which is `app`-scoped and shared by all requests; take `&T` and use interior mutability",
                            declared.name, dep.name
                        ));
                    }
                    self.path.push(Link {
                        name: dep.name,
                        scope: dep_scope,
                    });
                    self.visiting.push((dep.type_id)());
                    let source = self.dep(dep, dep_scope, fresh, state);
                    self.visiting.pop();
                    self.path.pop();
                    // A plain function that takes `Held`/`HeldMut` may keep the guard in its
                    // value: its borrow lasts as long as that value, like a generator's.
                    let role = if role == Role::Plain && access.is_held() {
                        Role::Generator
                    } else {
                        role
                    };
                    state.borrows.push(Borrow {
                        slot: source,
                        of: dep.name,
                        by: declared.name,
                        by_id,
                        access,
                        role,
                    });
                    source
                }
            };
            args.push(source);
        }
        args
    }

    /// Plans the dependency `dep` used in `scope`: a cached slot, an `app` value, or a new node.
    fn dep(
        &mut self,
        dep: &'static DepMeta,
        scope: Scope,
        fresh: bool,
        state: &mut RouteState,
    ) -> ArgSource {
        let id = (dep.type_id)();
        let runner = self.builder.runner(dep);
        if scope == Scope::App {
            if let Some(index) = self.builder.app.index.get(&id) {
                return ArgSource::App(*index);
            }
            let preset = self.builder.is_value(dep);
            // App dependencies have their own nodes; what they borrow is never per-request.
            let args = if preset {
                Vec::new()
            } else {
                self.params(
                    dep,
                    runner,
                    Scope::App,
                    Role::Generator,
                    &mut RouteState::default(),
                )
            };
            let app = &mut self.builder.app;
            let index = app.nodes.len();
            app.nodes.push(Node {
                meta: if preset { dep } else { runner },
                scope,
                slot: index,
                args,
                preset,
                limit: None,
            });
            app.index.insert(id, index);
            return ArgSource::App(index);
        }
        if let (false, Some(slot)) = (fresh, state.cache.get(&(id, scope))) {
            return ArgSource::Slot(*slot);
        }
        let role = if runner.generator {
            Role::Generator
        } else {
            Role::Plain
        };
        let args = self.params(dep, runner, scope, role, state);
        let slot = state.nodes.len();
        let limit = self.builder.limit(dep);
        state.nodes.push(Node {
            meta: runner,
            scope,
            slot,
            args,
            preset: false,
            limit,
        });
        if !fresh {
            state.cache.insert((id, scope), slot);
        }
        ArgSource::Slot(slot)
    }
}

/// A request takes every place its route needs at once: a route that needs more places of one
/// limit than the limit has (`fresh` uses of a `max_concurrency = 1` dependency) could never
/// be served.
fn check_places(nodes: &[Node], limited: &[usize], errors: &mut Vec<String>) {
    let mut at = 0;
    while at < limited.len() {
        let node = &nodes[limited[at]];
        let Some(limit) = &node.limit else {
            at += 1;
            continue;
        };
        let same = limited[at..]
            .iter()
            .take_while(|i| nodes[**i].limit.as_ref().map(|l| l.rank) == Some(limit.rank))
            .count();
        let most = limit.most;
        if same > most {
            errors.push(format!(
                "one request needs {same} instances of `{}`, which is `max_concurrency = {most}`, so it could never be served; raise the limit, or share one instance instead of taking it `fresh`",
                node.meta.name
            ));
        }
        at += same;
    }
}

fn app_input_error(function: &str, param: &str) -> String {
    format!(
        "`{function}` is `app`-scoped, so it is set up once for all requests and cannot take the request input `{param}`"
    )
}

fn chain(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(" -> ")
}
