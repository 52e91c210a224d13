//! The per-route dependency graph, built once when the app is built: setup order, cache
//! slots, the scope rule, cycles and conflicting borrows. A request does no graph work.

use std::any::TypeId;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::contract::doc::InputKind;
use crate::contract::meta::{Access, ArgSource, DepMeta, ExtractFn, ParamKind};
use crate::contract::scope::Scope;
use crate::plan::borrows::{Borrow, Role, check_borrows};
use crate::plan::node::{
    AppPlan, GroupDep, Limit, Named, Node, Overrides, Plan, PlannedUse, Replacement, SetLimits,
    limit_runs,
};

/// Builds the plan of every route, sharing one [`AppPlan`].
pub(crate) struct GraphBuilder<'a> {
    overrides: &'a Overrides,
    /// The limits set with `App::max_concurrency`.
    set_limits: &'a SetLimits,
    pub(crate) app: AppPlan,
    scopes: HashMap<TypeId, Scope>,
    limits: HashMap<TypeId, Limit>,
    /// The names shared by two functions of the app (its own `tx` and a library's): messages
    /// name those functions by their paths.
    shared_names: HashSet<&'static str>,
}

/// A use of a dependency on the path from the handler.
#[derive(Clone, Copy)]
struct Link {
    name: Named,
    scope: Scope,
    /// The function that forces `scope` at this use (`#[dep(f, scope = "...")]`), when `f`
    /// would have another scope without it: messages blame that use, not `f`.
    forced_by: Option<Named>,
}

#[derive(Default)]
struct RouteState {
    nodes: Vec<Node>,
    /// How messages name each node's function, by node.
    names: Vec<Named>,
    cache: HashMap<(TypeId, Scope), usize>,
    inputs: Vec<ExtractFn>,
    needs_body: bool,
    /// The inputs that read the body, whole or as a stream, for the one-reader check.
    body_readers: Vec<BodyReader>,
    borrows: Vec<Borrow>,
    /// Numbers the functions that borrow, to tell two uses by one function apart.
    borrowers: usize,
    /// Where each function that borrows (by its number) is set up among the route's nodes:
    /// setups run one after the other in this order, so a plain function's borrow ends
    /// before the next function starts.
    set_up_at: HashMap<usize, usize>,
}

/// An input that reads the request body: who takes it, the input's type as written,
/// whether it reads the body as a stream, and the content type it asks for, if any.
struct BodyReader {
    who: Named,
    input: &'static str,
    streams: bool,
    format: Option<BodyFormat>,
}

/// The content type an input that reads the body whole refuses every other one for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyFormat {
    Json,
    Form,
}

impl BodyFormat {
    fn of(kind: &InputKind) -> Option<Self> {
        match kind {
            InputKind::Json => Some(Self::Json),
            InputKind::Form => Some(Self::Form),
            _ => None,
        }
    }

    fn read_as(self) -> &'static str {
        match self {
            Self::Json => "as JSON",
            Self::Form => "as a form",
        }
    }
}

impl<'a> GraphBuilder<'a> {
    pub(crate) fn new(overrides: &'a Overrides, set_limits: &'a SetLimits) -> Self {
        Self {
            overrides,
            set_limits,
            app: AppPlan::default(),
            scopes: HashMap::new(),
            limits: HashMap::new(),
            shared_names: HashSet::new(),
        }
    }

    /// Notes the names that two functions reachable from `roots` (the routes' handlers, the
    /// app's and groups' dependencies) or from the overrides share, so that messages tell them
    /// apart by their paths.
    #[cold]
    pub(crate) fn note_shared_names(&mut self, roots: impl Iterator<Item = &'static DepMeta>) {
        let mut seen: HashSet<TypeId> = HashSet::new();
        let mut by_name: HashMap<&'static str, TypeId> = HashMap::new();
        let replacements = self.overrides.values().filter_map(|r| match r {
            Replacement::Dep(meta) => Some(*meta),
            Replacement::Value => None,
        });
        let mut stack: Vec<&'static DepMeta> = roots.chain(replacements).collect();
        while let Some(meta) = stack.pop() {
            let id = (meta.type_id)();
            if !seen.insert(id) {
                continue;
            }
            if *by_name.entry(meta.name).or_insert(id) != id {
                self.shared_names.insert(meta.name);
            }
            stack.extend(
                meta.params
                    .iter()
                    .filter_map(|p| dependency_of(&p.kind).map(|(dep, _)| dep())),
            );
        }
    }

    /// How messages name the function `meta`: by its name, or by its path when another
    /// function of the app has the same name.
    fn name_of(&self, meta: &'static DepMeta) -> &'static str {
        if self.shared_names.contains(meta.name) {
            meta.path
        } else {
            meta.name
        }
    }

    /// How messages name a function that runs as itself (a handler).
    fn itself(&self, meta: &'static DepMeta) -> Named {
        Named {
            runs: self.name_of(meta),
            replaces: None,
        }
    }

    /// The function that runs for the dependency `meta`: its override's replacement, or itself.
    fn runner(&self, meta: &'static DepMeta) -> &'static DepMeta {
        match self.overrides.get(&(meta.type_id)()) {
            Some(Replacement::Dep(replacement)) => replacement,
            _ => meta,
        }
    }

    /// How messages name a use of the dependency `meta`: by the function that runs, and the
    /// dependency it replaces when it is overridden.
    fn named(&self, meta: &'static DepMeta) -> Named {
        let runner = self.runner(meta);
        Named {
            runs: self.name_of(runner),
            replaces: (!std::ptr::eq(runner, meta)).then(|| self.name_of(meta)),
        }
    }

    /// The places of a dependency declared `max_concurrency = N`, or given a limit with
    /// `App::max_concurrency`, which replaces the declared one (an override keeps the limit of
    /// the declaration it replaces, as in FastAPI): one semaphore for the whole app.
    fn limit(&mut self, declared: &'static DepMeta) -> Option<Limit> {
        let id = (declared.type_id)();
        let (limit, set) = match self.set_limits.get(&id) {
            Some(limit) => (*limit, true),
            None => (declared.max_concurrency, false),
        };
        // More places than a semaphore can count is no limit anyone could reach: counted as
        // many as it can, rather than a panic at start.
        let limit = limit?.min(Semaphore::MAX_PERMITS);
        let rank = self.limits.len();
        let entry = self.limits.entry(id).or_insert_with(|| Limit {
            rank,
            most: limit,
            set,
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
    /// scope, else the one the function that runs declares (an override's replacement keeps
    /// its own, exactly as if it were used directly), else, for a plain function, the shortest
    /// of its dependencies' scopes capped at `request`.
    fn effective_scope(
        &mut self,
        meta: &'static DepMeta,
        forced: Option<Scope>,
        visiting: &mut Vec<TypeId>,
    ) -> Scope {
        if self.is_value(meta) {
            return Scope::App;
        }
        let runner = self.runner(meta);
        if let Some(scope) = forced.or(runner.scope) {
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
        for param in runner.params {
            if let Some((dep, forced)) = dependency_of(&param.kind) {
                scope = scope.min(self.effective_scope(dep(), forced, visiting));
            }
        }
        visiting.pop();
        self.scopes.insert(id, scope);
        scope
    }

    /// The shortest-lived dependency a plain function inherits its scope from, for messages;
    /// and, when the last of them has that scope only because the function before it forces
    /// it at its use (`#[dep(f, scope = "handler")]`), that function and the forced scope.
    fn inherited_from(
        &mut self,
        meta: &'static DepMeta,
        scope: Scope,
    ) -> (Vec<Named>, Option<(Named, Scope)>) {
        let mut chain = Vec::new();
        let mut current = meta;
        while self.runner(current).scope.is_none() && !self.is_value(current) && chain.len() < 32 {
            let next = self.runner(current).params.iter().find_map(|p| {
                let (dep, forced) = dependency_of(&p.kind)?;
                let dep = dep();
                (self.effective_scope(dep, forced, &mut Vec::new()) == scope)
                    .then_some((dep, forced))
            });
            let Some((dep, forced)) = next else { break };
            chain.push(self.named(dep));
            if let Some(forced) = self.forced_here(dep, forced) {
                return (chain, Some((self.named(current), forced)));
            }
            current = dep;
        }
        (chain, None)
    }

    /// The scope forced at a use of `dep`, if it is not the one `dep` would have there
    /// without it: then the use, not `dep`, is what a message points at.
    fn forced_here(&mut self, dep: &'static DepMeta, forced: Option<Scope>) -> Option<Scope> {
        let forced = forced?;
        (forced != self.effective_scope(dep, None, &mut Vec::new())).then_some(forced)
    }

    /// Plans one route whose handler is `handler`, running `uses` (the app's and its groups'
    /// dependencies, outer first) before the handler's own dependencies; returns every
    /// problem found.
    pub(crate) fn plan_route(
        &mut self,
        handler: &'static DepMeta,
        uses: &[GroupDep],
    ) -> Result<(Plan, Vec<PlannedUse>), Vec<String>> {
        if handler.generator {
            return Err(vec![format!(
                "`{}` takes a `Yield` and so is a dependency, not a handler; a handler returns the response",
                self.name_of(handler)
            )]);
        }
        if handler.scope == Some(Scope::App) {
            // Planned in `handler` scope, as every handler is, it would run per request while
            // its attribute says once: the contradiction is the app's to resolve.
            let name = self.name_of(handler);
            return Err(vec![format!(
                "`{name}` declares `scope = \"app\"`, but a route runs its handler for each \
                 request, so the route would not answer with the app's one value: route a handler \
                 that takes it (`#[dep({name})] value: &T`) and answers with it, or, if `{name}` \
                 is meant to run for each request, remove the scope"
            )]);
        }
        let mut state = RouteState::default();
        let name = self.itself(handler);
        let mut walk = Walk {
            builder: self,
            path: vec![Link {
                name,
                scope: Scope::Handler,
                forced_by: None,
            }],
            visiting: vec![(handler.type_id)()],
            errors: Vec::new(),
        };
        // The app's and groups' dependencies come first, as FastAPI runs a router's
        // `dependencies` before the path operation's own: they are uses by the handler whose
        // value no parameter takes (so no borrow), cached with the handler's own uses.
        let mut planned_uses = Vec::with_capacity(uses.len());
        for group_use in uses {
            let before = walk.errors.len();
            let planned = walk.dep_use(
                name,
                group_use.meta,
                None,
                false,
                Access::Shared,
                &mut state,
            );
            for error in &mut walk.errors[before..] {
                *error = format!(
                    "dependency `{}` of {}: {error}",
                    walk.builder.name_of(group_use.meta),
                    group_use.from
                );
            }
            if let Some((source, _)) = planned {
                planned_uses.push(PlannedUse {
                    source,
                    declared: group_use.meta,
                    from: group_use.from.clone(),
                });
            }
        }
        let (args, by_id) = walk.params(name, handler, Scope::Handler, Role::Handler, &mut state);
        let mut errors = walk.errors;
        let slot = state.nodes.len();
        state.set_up_at.insert(by_id, slot);
        let limit = self.limit(handler);
        state.names.push(name);
        state.nodes.push(Node {
            meta: handler,
            scope: Scope::Handler,
            slot,
            args,
            preset: false,
            limit,
        });
        check_borrows(&state.borrows, &state.set_up_at, &mut errors);
        check_body_readers(&state.body_readers, &mut errors);
        let streams_body = state.body_readers.iter().any(|r| r.streams);
        let mut limited: Vec<usize> = (0..state.nodes.len())
            .filter(|i| state.nodes[*i].limit.is_some())
            .collect();
        limited.sort_by_key(|i| state.nodes[*i].limit.as_ref().map(|l| l.rank));
        check_places(&state.nodes, &state.names, &limited, &mut errors);
        let request_teardowns = state
            .nodes
            .iter()
            .any(|n| n.meta.generator && n.scope == Scope::Request);
        let generators = state.nodes.iter().filter(|n| n.meta.generator).count();
        // The handler, last, keeps no value.
        let valued = &state.nodes[..state.nodes.len().saturating_sub(1)];
        let plain = |scope| {
            valued
                .iter()
                .filter(move |n| !n.meta.generator && !n.preset && n.scope == scope)
        };
        let keeps_values = plain(Scope::Request).next().is_some();
        let handler_values = plain(Scope::Handler).map(|n| n.slot).collect();
        // A problem met at several uses (a cycle through a dependency the handler takes
        // twice) is reported once, where it was first met.
        let mut seen = std::collections::HashSet::new();
        errors.retain(|error| seen.insert(error.clone()));
        if errors.is_empty() {
            Ok((
                Plan {
                    // The handler, last, keeps no value: it becomes the response.
                    slots: state.nodes.len().saturating_sub(1),
                    nodes: state.nodes,
                    inputs: state.inputs,
                    needs_body: state.needs_body,
                    streams_body,
                    limited,
                    request_teardowns,
                    generators,
                    keeps_values,
                    handler_values,
                },
                planned_uses,
            ))
        } else {
            Err(errors)
        }
    }

    /// The scope rule: what a function depends on must live at least as long as the function
    /// (a response body counts as `request`-scoped). `forced`: the scope the use gives `dep`
    /// (`#[dep(dep, scope = "...")]`).
    fn check_edge(
        &mut self,
        path: &[Link],
        dep: &'static DepMeta,
        forced: Option<Scope>,
        dep_scope: Scope,
        access: Access,
        errors: &mut Vec<String>,
    ) {
        let Some(user) = path.last() else { return };
        // A `Held`/`HeldMut` value lives in the response body, so until the end of `request`
        // scope; and in its user's value, so as long as the user (an `app`-scoped function
        // keeps it for the whole app).
        let for_body = access.is_held() && user.scope != Scope::App;
        let needed = if for_body { Scope::Request } else { user.scope };
        if path.len() == 1 && !access.is_held() {
            return; // the handler itself may use anything
        }
        if dep_scope.outlives(needed) {
            return;
        }
        let dep_named = self.named(dep);
        let mut names: Vec<Named> = path.iter().map(|l| l.name).collect();
        names.push(dep_named);
        // Where the short scope comes from: `dep` itself, a dependency it inherits it from,
        // or a use that forces it (then that use is what to change).
        let (inherited, forced_by) = match self.forced_here(dep, forced) {
            Some(forced) => (Vec::new(), Some((user.name, forced))),
            None => self.inherited_from(dep, dep_scope),
        };
        let why = match (inherited.last(), forced_by) {
            (None, None) => format!("`{}` is `{dep_scope}`-scoped", dep_named.runs),
            (None, Some((taker, forced))) => {
                format!("{taker} takes {dep_named} with `scope = \"{forced}\"`")
            }
            (Some(last), _) => {
                let mut full = vec![dep_named];
                full.extend(&inherited);
                names.extend(&inherited);
                let which = match forced_by {
                    Some((taker, forced)) => {
                        format!("which {taker} takes with `scope = \"{forced}\"`")
                    }
                    None => format!("which is `{dep_scope}`-scoped"),
                };
                format!(
                    "`{}` lives only as long as `{}`, {which} ({})",
                    dep_named.runs,
                    last.runs,
                    chain(&full)
                )
            }
        };
        let root = inherited.last().unwrap_or(&dep_named).runs;
        // A `dep` that reads the request itself cannot be made `app`-scoped: only its user
        // can change.
        let reads_request = inherited.is_empty()
            && self
                .runner(dep)
                .params
                .iter()
                .any(|p| matches!(p.kind, ParamKind::Input { .. } | ParamKind::HeadRef));
        let fix = match forced_by {
            Some((_, forced)) => format!("drop `scope = \"{forced}\"` from that use"),
            None if needed == Scope::App && reads_request => {
                format!("`{root}` reads the request, so it cannot be `app`-scoped either")
            }
            None => format!("make `{root}` `{needed}`-scoped"),
        };
        let sep = if forced_by.is_none() && needed == Scope::App && reads_request {
            ";"
        } else {
            ", or"
        };
        // The user's own scope, and what else could change: a use that forces the user's
        // scope is what to change, not the user (whose declaration that use overrides).
        let (is, other) = match user.forced_by {
            Some(taker) => (
                format!(
                    "is `{}`-scoped because {taker} takes it with `scope = \"{}\"`,",
                    user.scope, user.scope
                ),
                format!(
                    "{sep} drop `scope = \"{}\"` from {taker}'s use of `{}`",
                    user.scope, user.name.runs
                ),
            ),
            None => (
                format!("is `{}`-scoped", user.scope),
                format!("{sep} make `{}` `{dep_scope}`-scoped", user.name.runs),
            ),
        };
        let message = if for_body {
            format!(
                "dependency chain {}: the response body of {} holds {dep_named}, but {why} and is torn down before the body is sent; {fix}",
                chain(&names),
                user.name,
            )
        } else {
            format!(
                "dependency chain {}: {} {is} and cannot depend on {dep_named}: {why}; {fix}{other}",
                chain(&names),
                user.name,
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
    /// Where each parameter of `runner` (named `who` in messages) comes from, planning the
    /// dependencies it reaches into `state`; and the number `runner` borrows under (see
    /// `RouteState::set_up_at`).
    fn params(
        &mut self,
        who: Named,
        runner: &'static DepMeta,
        scope: Scope,
        role: Role,
        state: &mut RouteState,
    ) -> (Vec<ArgSource>, usize) {
        let mut args = Vec::with_capacity(runner.params.len());
        state.borrowers += 1;
        let by_id = state.borrowers;
        // `uses(f)` first, in the order written: they run before the parameters' dependencies
        // (as FastAPI runs a path operation's `dependencies=[...]`); nothing borrows them.
        let mut used = Vec::new();
        for param in runner.params {
            if let ParamKind::Uses { meta } = param.kind {
                let planned = self.dep_use(who, meta(), None, false, Access::Shared, state);
                used.push(planned.map_or(ArgSource::Head, |(source, _)| source));
            }
        }
        let mut used = used.into_iter();
        for param in runner.params {
            let source = match param.kind {
                ParamKind::Uses { .. } => used.next().unwrap_or(ArgSource::Head),
                ParamKind::Yield => ArgSource::Yield,
                ParamKind::HeadRef => {
                    if scope == Scope::App {
                        self.errors.push(self.app_input_error(who, param.name));
                    }
                    ArgSource::Head
                }
                ParamKind::Input {
                    extract,
                    app_input: true,
                    ..
                } if scope == Scope::App => ArgSource::AppInput(extract),
                ParamKind::Input {
                    extract,
                    needs_body,
                    streams_body,
                    describe,
                    app_input: _,
                } => {
                    if scope == Scope::App {
                        self.errors.push(self.app_input_error(who, param.name));
                    }
                    if needs_body || streams_body {
                        state.body_readers.push(BodyReader {
                            who,
                            input: param.name,
                            streams: streams_body,
                            format: BodyFormat::of(&describe().kind),
                        });
                    }
                    state.needs_body |= needs_body || streams_body;
                    state.inputs.push(extract);
                    ArgSource::Input(state.inputs.len() - 1)
                }
                ParamKind::Dep {
                    meta,
                    scope: forced,
                    fresh,
                    access,
                } => {
                    let Some((source, dep_named)) =
                        self.dep_use(who, meta(), forced, fresh, access, state)
                    else {
                        args.push(ArgSource::Head);
                        continue;
                    };
                    // A plain function that takes `Held`/`HeldMut` may keep the guard in its
                    // value: its borrow lasts as long as that value, like a generator's. A
                    // clone (`T`) is made under a brief borrow when its function starts, and
                    // nothing holds it after: a generator's lasts no longer than a plain one's.
                    let role = if matches!(access, Access::Cloned) {
                        Role::Plain
                    } else if role == Role::Plain && access.is_held() {
                        Role::Generator
                    } else {
                        role
                    };
                    state.borrows.push(Borrow {
                        slot: source,
                        of: dep_named,
                        by: who,
                        by_id,
                        param: param.name,
                        access,
                        role,
                    });
                    source
                }
            };
            args.push(source);
        }
        (args, by_id)
    }

    /// One use of the dependency `dep` by `who` (the last function on the path), with the
    /// scope `forced` at the use: checks the scope rule and cycles, then plans it. `None` on a
    /// cycle (reported).
    fn dep_use(
        &mut self,
        who: Named,
        dep: &'static DepMeta,
        forced: Option<Scope>,
        fresh: bool,
        access: Access,
        state: &mut RouteState,
    ) -> Option<(ArgSource, Named)> {
        let dep_named = self.builder.named(dep);
        let dep_scope = self.builder.effective_scope(dep, forced, &mut Vec::new());
        self.builder
            .check_edge(&self.path, dep, forced, dep_scope, access, &mut self.errors);
        if self.visiting.contains(&(dep.type_id)()) {
            let mut names: Vec<Named> = self.path.iter().map(|l| l.name).collect();
            names.push(dep_named);
            // The function that comes back is a replacement: it reaches the
            // dependency it replaces, which runs the replacement again.
            let why = match dep_named.replaces {
                Some(original) => format!(
                    "; `{}` replaces `{original}` everywhere, in its own dependencies too, so it cannot use `{original}`",
                    dep_named.runs
                ),
                None => format!(
                    "; no dependency can take itself, directly or through others: move what `{}` needs from the cycle into a dependency of its own that the functions of the cycle take",
                    dep_named.runs
                ),
            };
            self.errors
                .push(format!("dependency cycle: {}{why}", chain(&names)));
            return None;
        }
        // A value given with `App::provide` is `app`-scoped whatever the use says.
        let provided = self.builder.is_value(dep);
        if fresh && dep_scope == Scope::App {
            let named = dep_named.replaces.unwrap_or(dep_named.runs);
            self.errors.push(if provided {
                format!(
                    "{who} takes {dep_named} `fresh`, but its value is given with `App::provide`: one value serves the whole app; drop `fresh`, or replace `{named}` with `App::override_dep` for an instance of its own"
                )
            } else {
                format!(
                    "{who} takes {dep_named} `fresh`, but it is `app`-scoped: one instance serves the whole app; drop `fresh`, or give this use a shorter scope for an instance of its own (`#[dep({named}, scope = \"request\", fresh)]`)"
                )
            });
        }
        if access.is_exclusive() && dep_scope == Scope::App {
            let how = if access.is_held() { "HeldMut" } else { "&mut" };
            self.errors.push(if provided {
                format!(
                    "{who} takes `{how}` of {dep_named}, whose value is given with `App::provide` and shared by all requests; take `&T` and use interior mutability, or replace `{}` with `App::override_dep` for an instance per request",
                    dep_named.runs
                )
            } else {
                format!(
                    "{who} takes `{how}` of {dep_named}, which is `app`-scoped and shared by all requests; take `&T` and use interior mutability"
                )
            });
        }
        let forced_by = self.builder.forced_here(dep, forced).map(|_| who);
        self.path.push(Link {
            name: dep_named,
            scope: dep_scope,
            forced_by,
        });
        self.visiting.push((dep.type_id)());
        let source = self.dep(dep, dep_scope, fresh, state);
        self.visiting.pop();
        self.path.pop();
        Some((source, dep_named))
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
        let name = self.builder.named(dep);
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
                    name,
                    runner,
                    Scope::App,
                    Role::Generator,
                    &mut RouteState::default(),
                )
                .0
            };
            let app = &mut self.builder.app;
            let index = app.nodes.len();
            app.names.push(name.runs);
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
        let (args, by_id) = self.params(name, runner, scope, role, state);
        let slot = state.nodes.len();
        state.set_up_at.insert(by_id, slot);
        let limit = self.builder.limit(dep);
        state.names.push(name);
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
/// A request body can be read once: a route that reads it as a stream (`BodyStream`,
/// `Multipart`) has no other input that reads it, whole or as a stream. And it comes in one
/// content type: a route has no two inputs that each take only the other's as no body
/// (`Json<T>` refuses a form, `Form<T>` reads a JSON body as an empty form).
fn check_body_readers(readers: &[BodyReader], errors: &mut Vec<String>) {
    let mut formats = readers.iter().filter_map(|r| Some((r, r.format?)));
    if let Some((first, format)) = formats.next() {
        for (other, other_format) in formats.filter(|(_, f)| *f != format) {
            errors.push(format!(
                "{} reads the request body {} (`{}`) and {} reads it {} (`{}`), but a request has one body in one content type, so one of the two never sees it (a form is refused by `Json` with a 422, and a JSON body is read by `Form` as an empty form); take the body through one input",
                first.who,
                format.read_as(),
                first.input,
                other.who,
                other_format.read_as(),
                other.input
            ));
        }
    }
    let Some(stream) = readers.iter().find(|r| r.streams) else {
        return;
    };
    for other in readers.iter().filter(|r| !std::ptr::eq(*r, stream)) {
        let how = if other.streams {
            "also reads it as a stream"
        } else {
            "reads it whole"
        };
        errors.push(format!(
            "{} reads the request body as a stream (`{}`) and {} {how} (`{}`), but a body can be read only once; take the body through one input",
            stream.who, stream.input, other.who, other.input
        ));
    }
}

fn check_places(nodes: &[Node], names: &[Named], limited: &[usize], errors: &mut Vec<String>) {
    for (run, limit) in limit_runs(nodes, limited) {
        let same = run.len();
        let most = limit.most;
        if same > most {
            let first = run[0];
            let name = names
                .get(first)
                .copied()
                .unwrap_or(Named::itself(nodes[first].meta));
            // An override keeps the limit of the declaration it replaces.
            let set = if limit.set {
                " (set with `App::max_concurrency`)"
            } else {
                ""
            };
            let which = match name.replaces {
                Some(original) => {
                    format!("which keeps the `max_concurrency = {most}`{set} of `{original}`")
                }
                None => format!("which is `max_concurrency = {most}`{set}"),
            };
            // Each scope it is used at has an instance of its own, as each `fresh` use has.
            let mut scopes: Vec<Scope> = run.iter().map(|&node| nodes[node].scope).collect();
            scopes.sort();
            scopes.dedup();
            let share = if scopes.len() > 1 {
                let at = scopes
                    .iter()
                    .rev()
                    .map(|scope| format!("`{scope}`"))
                    .collect::<Vec<_>>()
                    .join(" and ");
                format!(
                    "share one instance: it is used at {at} scope, an instance at each (and one for each `fresh` use)"
                )
            } else {
                "share one instance instead of taking it `fresh`".to_owned()
            };
            errors.push(format!(
                "one request needs {same} instances of {name}, {which}, so it could never be served; raise the limit, or {share}"
            ));
        }
    }
}

/// How a parameter names its dependency (`ParamKind::Dep`'s `meta`).
type MetaFn = fn() -> &'static DepMeta;

/// The dependency a parameter names and the scope forced at the use: a `#[dep(f)]` parameter
/// or a `uses(f)`.
fn dependency_of(kind: &ParamKind) -> Option<(MetaFn, Option<Scope>)> {
    match *kind {
        ParamKind::Dep { meta, scope, .. } => Some((meta, scope)),
        ParamKind::Uses { meta } => Some((meta, None)),
        _ => None,
    }
}

impl Walk<'_, '_> {
    /// `function`, planned in `app` scope, takes the request input `param`: the message blames
    /// the use that forces `app` scope on it, if one does.
    fn app_input_error(&self, function: Named, param: &str) -> String {
        match self.path.last().and_then(|link| link.forced_by) {
            Some(taker) => format!(
                "{taker} takes {function} with `scope = \"app\"`, so it is set up once for all requests there and cannot take the request input `{param}`; drop `scope = \"app\"` from that use"
            ),
            None => format!(
                "{function} is `app`-scoped, so it is set up once for all requests and cannot take the request input `{param}`"
            ),
        }
    }
}

fn chain(names: &[Named]) -> String {
    names
        .iter()
        .map(Named::to_string)
        .collect::<Vec<_>>()
        .join(" -> ")
}
