//! The per-route dependency graph, built once when the app is built: setup order, cache
//! slots, the scope rule, cycles and conflicting borrows. A request does no graph work.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::meta::{Access, ArgSource, DepMeta, ExtractFn, ParamKind};
use crate::scope::Scope;

/// One function to call during a request (or at app start), with where its arguments are.
#[derive(Debug)]
pub(crate) struct Node {
    /// The function that runs (the replacement, when the dependency is overridden).
    pub(crate) meta: &'static DepMeta,
    pub(crate) scope: Scope,
    pub(crate) slot: usize,
    pub(crate) args: Vec<ArgSource>,
    /// The value was given to [`App::provide`](crate::App::provide): nothing runs.
    pub(crate) preset: bool,
    /// `max_concurrency`: the places shared by every instance of the dependency in the app.
    pub(crate) limit: Option<Arc<Semaphore>>,
}

/// What a route does on each request.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Dependencies in setup order; the handler is last.
    pub(crate) nodes: Vec<Node>,
    pub(crate) slots: usize,
    pub(crate) inputs: Vec<ExtractFn>,
    pub(crate) needs_body: bool,
}

/// The `app`-scoped dependencies of all routes, in setup order.
#[derive(Debug, Default)]
pub(crate) struct AppPlan {
    pub(crate) nodes: Vec<Node>,
    index: HashMap<TypeId, usize>,
}

/// What replaces a dependency in every route.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Replacement {
    /// Another `#[depends]` function (`App::override_dep`).
    Dep(&'static DepMeta),
    /// A value given up front (`App::provide`): an `app`-scoped constant.
    Value,
}

pub(crate) type Overrides = HashMap<TypeId, Replacement>;

/// Builds the plan of every route, sharing one [`AppPlan`].
pub(crate) struct GraphBuilder<'a> {
    overrides: &'a Overrides,
    pub(crate) app: AppPlan,
    scopes: HashMap<TypeId, Scope>,
    limits: HashMap<TypeId, Arc<Semaphore>>,
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

/// One parameter's borrow of a value.
struct Borrow {
    slot: ArgSource,
    /// The borrowing function: its name and a number unique in the route.
    by: &'static str,
    by_id: usize,
    access: Access,
    role: Role,
}

/// How long a function keeps what it borrows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Only while it runs, during setup (before the handler).
    Plain,
    /// From its setup to its teardown.
    Generator,
    /// While the handler runs (and, for `Held`/`HeldMut`, while the body streams): after every
    /// other setup.
    Handler,
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
    fn limit(&mut self, declared: &'static DepMeta) -> Option<Arc<Semaphore>> {
        let limit = declared.max_concurrency?;
        let places = self
            .limits
            .entry((declared.type_id)())
            .or_insert_with(|| Arc::new(Semaphore::new(limit)));
        Some(places.clone())
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
        let mut errors = Vec::new();
        if handler.generator {
            errors.push(format!(
                "`{}` takes a `Yield` and so is a dependency, not a handler; a handler returns the response",
                handler.name
            ));
            return Err(errors);
        }
        let mut state = RouteState::default();
        let mut path = vec![Link {
            name: handler.name,
            scope: Scope::Handler,
        }];
        let mut stack = vec![(handler.type_id)()];
        let args = self.visit_params(
            handler,
            handler,
            Scope::Handler,
            Role::Handler,
            &mut state,
            &mut path,
            &mut stack,
            &mut errors,
        );
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
        if errors.is_empty() {
            Ok(Plan {
                slots: state.nodes.len(),
                nodes: state.nodes,
                inputs: state.inputs,
                needs_body: state.needs_body,
            })
        } else {
            Err(errors)
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one recursive walk with its accumulators"
    )]
    fn visit_params(
        &mut self,
        declared: &'static DepMeta,
        runner: &'static DepMeta,
        scope: Scope,
        role: Role,
        state: &mut RouteState,
        path: &mut Vec<Link>,
        stack: &mut Vec<TypeId>,
        errors: &mut Vec<String>,
    ) -> Vec<ArgSource> {
        let mut args = Vec::with_capacity(runner.params.len());
        state.borrowers += 1;
        let by_id = state.borrowers;
        for param in runner.params {
            let source = match param.kind {
                ParamKind::Yield => ArgSource::Yield,
                ParamKind::HeadRef => {
                    if scope == Scope::App {
                        errors.push(app_input_error(declared.name, param.name));
                    }
                    ArgSource::Head
                }
                ParamKind::Input {
                    extract,
                    needs_body,
                } => {
                    if scope == Scope::App {
                        errors.push(app_input_error(declared.name, param.name));
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
                    let dep_scope = self.effective_scope(dep, forced, &mut Vec::new());
                    self.check_edge(path, dep, dep_scope, access, errors);
                    if stack.contains(&(dep.type_id)()) {
                        let mut names: Vec<_> = path.iter().map(|l| l.name).collect();
                        names.push(dep.name);
                        errors.push(format!("dependency cycle: {}", chain(&names)));
                        args.push(ArgSource::Head);
                        continue;
                    }
                    if access == Access::Exclusive && dep_scope == Scope::App {
                        errors.push(format!(
                            "`{}` takes `&mut` of `{}`, which is `app`-scoped and shared by all requests; take `&T` and use interior mutability",
                            declared.name, dep.name
                        ));
                    }
                    path.push(Link {
                        name: dep.name,
                        scope: dep_scope,
                    });
                    stack.push((dep.type_id)());
                    let source = self.visit_dep(dep, dep_scope, fresh, state, path, stack, errors);
                    stack.pop();
                    path.pop();
                    state.borrows.push(Borrow {
                        slot: source,
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

    #[allow(
        clippy::too_many_arguments,
        reason = "one recursive walk with its accumulators"
    )]
    fn visit_dep(
        &mut self,
        dep: &'static DepMeta,
        scope: Scope,
        fresh: bool,
        state: &mut RouteState,
        path: &mut Vec<Link>,
        stack: &mut Vec<TypeId>,
        errors: &mut Vec<String>,
    ) -> ArgSource {
        let id = (dep.type_id)();
        let runner = self.runner(dep);
        if scope == Scope::App {
            if let Some(index) = self.app.index.get(&id) {
                return ArgSource::App(*index);
            }
            if self.is_value(dep) {
                let index = self.app.nodes.len();
                self.app.nodes.push(Node {
                    meta: dep,
                    scope,
                    slot: index,
                    args: Vec::new(),
                    preset: true,
                    limit: None,
                });
                self.app.index.insert(id, index);
                return ArgSource::App(index);
            }
            // App dependencies have their own nodes; what they borrow is never per-request.
            let mut app_state = RouteState::default();
            let args = self.visit_params(
                dep,
                runner,
                Scope::App,
                Role::Generator,
                &mut app_state,
                path,
                stack,
                errors,
            );
            let index = self.app.nodes.len();
            self.app.nodes.push(Node {
                meta: runner,
                scope,
                slot: index,
                args,
                preset: false,
                limit: None,
            });
            self.app.index.insert(id, index);
            return ArgSource::App(index);
        }
        if let (false, Some(slot)) = (fresh, state.cache.get(&(id, scope))) {
            return ArgSource::Slot(*slot);
        }
        let args = self.visit_params(
            dep,
            runner,
            scope,
            if runner.generator {
                Role::Generator
            } else {
                Role::Plain
            },
            state,
            path,
            stack,
            errors,
        );
        let slot = state.nodes.len();
        let limit = self.limit(dep);
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

/// Two borrows of one value conflict when one is exclusive and both are alive at once. A
/// plain function holds its borrows only while it runs, during setup; a generator from its
/// setup to its teardown; the handler while it runs, after every setup (and `Held`/`HeldMut`
/// borrows while the body streams). A by-value (`T`) use clones under a brief shared borrow
/// when its function starts.
fn check_borrows(borrows: &[Borrow], errors: &mut Vec<String>) {
    let mut by_slot: HashMap<usize, Vec<&Borrow>> = HashMap::new();
    for borrow in borrows {
        if let ArgSource::Slot(slot) = borrow.slot {
            by_slot.entry(slot).or_default().push(borrow);
        }
    }
    let mut slots: Vec<_> = by_slot.into_iter().collect();
    slots.sort_by_key(|(slot, _)| *slot);
    for (_, users) in slots {
        let exclusive: Vec<&&Borrow> = users.iter().filter(|b| b.access.is_exclusive()).collect();
        let Some(first) = exclusive.first() else {
            continue;
        };
        if exclusive.len() > 1 {
            errors.push(format!(
                "`{}` and `{}` both borrow the same value mutably (`&mut`) in one request; use `#[dep(f, fresh)]` for a second instance, or share it with `&`",
                first.by, exclusive[1].by
            ));
            continue;
        }
        let overlaps = |other: &Borrow| {
            if other.by_id == first.by_id {
                return true; // one function taking the value twice
            }
            match (first.role, other.role) {
                // A generator holds `&mut` from its setup on: every other use overlaps.
                (Role::Generator, _) => true,
                // The handler runs after every setup: only what is still held then overlaps.
                (Role::Handler, other) => other != Role::Plain,
                // A plain function may run while a generator holds the value.
                (Role::Plain, other) => other == Role::Generator,
            }
        };
        let conflict = users
            .iter()
            .find(|b| !b.access.is_exclusive() && overlaps(b));
        if let Some(other) = conflict {
            errors.push(format!(
                "`{}` borrows a value mutably (`&mut`) while `{}` also borrows it; only one of them can hold it at a time",
                first.by, other.by
            ));
        }
    }
}
