//! The route table: each route's handler and [`Plan`], built once at start, and the lookup a
//! request makes (404, 405 with `Allow`, `HEAD` served by `GET`).

use std::collections::HashMap;
use std::sync::Arc;

use http::{Method, StatusCode};

use crate::contract::doc::{InputDoc, InputKind};
use crate::contract::meta::{DepMeta, ParamKind, Respond};
use crate::contract::slot::Slot;
use crate::plan::builder::GraphBuilder;
use crate::plan::node::{GroupDep, Node, Overrides, Plan, PlannedUse, SetLimits};
use crate::response::body::Response;
use crate::response::into::IntoResponse;

/// A route as registered on the app, before it is planned.
#[derive(Clone)]
pub(crate) struct RouteDef {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) handler: &'static DepMeta,
    /// Turns the handler's value into a response.
    pub(crate) respond: fn(Slot) -> Response,
    /// The same, for a value that has never been put into a slot (see [`Respond`]).
    pub(crate) respond_any: Respond,
    /// The dependencies of the groups the route is in (outer first, each group's in
    /// declaration order), set up before the handler's own; the app's are added when planned.
    pub(crate) uses: Vec<GroupDep>,
    /// The tags of the groups the route is in (`Group::tag`), outer first, for the OpenAPI
    /// document.
    pub(crate) tags: Vec<String>,
}

/// A route's handler and plan.
pub(crate) struct Route {
    pub(crate) name: &'static str,
    /// The path pattern the route was registered under (with its groups' prefixes), as the
    /// request span's `route` field: `/notes/{id}`, never the raw path.
    pub(crate) pattern: Box<str>,
    pub(crate) plan: Plan,
    pub(crate) respond: fn(Slot) -> Response,
    pub(crate) respond_any: Respond,
    /// The status of a success, from the handler's `#[depends(status = ..)]`: an answer the
    /// handler gives with `200` is sent with it, as the document says (FastAPI's
    /// `status_code=`).
    pub(crate) success: Option<http::StatusCode>,
    /// The content type the handler declares (`#[depends(content_type = ..)]`) and the one
    /// its output's kind is sent with by default, which it replaces on a success answer, as
    /// the document says.
    pub(crate) content_type: Option<DeclaredType>,
    /// The app's and groups' dependencies the route runs without a parameter.
    pub(crate) uses: Vec<PlannedUse>,
    /// The index of the route's [`RouteDef`] among those the app registered (for what the
    /// app keeps beside each, as its tower layers).
    pub(crate) def: usize,
}

/// A handler's declared content type, and the default one of its output's kind it replaces.
pub(crate) struct DeclaredType {
    /// `#[depends(content_type = ..)]`.
    pub(crate) declared: http::HeaderValue,
    /// The type an answer of the handler's output kind is sent with when it names none.
    pub(crate) replaces: &'static str,
}

/// The content type `doc` declares, if its output is of a kind whose answers are sent with a
/// default type (`OutputKind::default_content_type`); an error for one that is not a header
/// value.
fn declared_type(doc: &crate::contract::doc::Doc) -> Result<Option<DeclaredType>, String> {
    let Some(declared) = doc.content_type else {
        return Ok(None);
    };
    let Ok(declared) = http::HeaderValue::from_str(declared) else {
        return Err(format!(
            "`content_type = {declared:?}` is not a header value; write a media type, as `content_type = \"application/x-ndjson\"`"
        ));
    };
    Ok((doc.output)()
        .kind
        .default_content_type()
        .map(|replaces| DeclaredType { declared, replaces }))
}

/// Every route of an app, by path and method.
pub(crate) struct RouteTable {
    router: matchit::Router<usize>,
    /// The routes of each path, by method.
    entries: Vec<Vec<(Method, Arc<Route>)>>,
    /// For each method, a router of the paths it has a route at (into `entries`), in the
    /// order each method was first registered: looked in when the pattern that matches a
    /// path best has no route of the request's method, so that a static path of one method
    /// does not hide a parameter route of another (`POST /items/new` reaches
    /// `POST /items/{id}` beside `GET /items/new`), as Starlette routes.
    by_method: Vec<(Method, matchit::Router<usize>)>,
}

/// The planned app: its routes and its `app`-scoped dependencies in setup order.
pub(crate) struct Planned {
    pub(crate) routes: RouteTable,
    pub(crate) app_nodes: Vec<Node>,
    /// How messages name each of `app_nodes`' functions (see `AppPlan::names`).
    pub(crate) app_names: Vec<&'static str>,
    /// Every route, in the order the app registered them (for `App::graph`).
    pub(crate) in_order: Vec<Arc<Route>>,
}

/// Plans every route, each running the app's dependencies `app_uses` first; returns every
/// problem found (`problems`, found while the app was built, first), each naming its route.
pub(crate) fn plan_routes(
    defs: &[RouteDef],
    app_uses: &[GroupDep],
    overrides: &Overrides,
    set_limits: &SetLimits,
    problems: &[String],
) -> Result<Planned, Vec<String>> {
    let mut problems = problems.to_vec();
    let mut builder = GraphBuilder::new(overrides, set_limits);
    builder.note_shared_names(
        defs.iter()
            .flat_map(|def| std::iter::once(def.handler).chain(def.uses.iter().map(|u| u.meta)))
            .chain(app_uses.iter().map(|u| u.meta)),
    );
    let mut router = matchit::Router::new();
    let mut entries: Vec<Vec<(Method, Arc<Route>)>> = Vec::new();
    let mut by_path: HashMap<&str, usize> = HashMap::new();
    let mut in_order = Vec::with_capacity(defs.len());
    for (def_index, def) in defs.iter().enumerate() {
        let what = format!("route {} {}", def.method, def.path);
        if def.path.is_empty() {
            problems.push(format!(
                "{what}: the path (with its groups' prefixes) is empty; a path starts with `/`"
            ));
            continue;
        }
        if let Some(problem) = unmatchable(&def.path, Pattern::Route) {
            problems.push(format!("{what}: {problem}"));
            continue;
        }
        // Before the handler is planned: a `Path` read against a pattern that is not one
        // would be reported as a misfit, hiding the mistake.
        if let Some(problem) = pattern_problem(&def.path) {
            problems.push(format!("{what}: invalid path: {problem}"));
            continue;
        }

        let uses: Vec<GroupDep> = app_uses.iter().chain(&def.uses).cloned().collect();
        let (plan, uses) = match builder.plan_route(def.handler, &uses) {
            Ok(planned) => planned,
            Err(errors) => {
                problems.extend(errors.into_iter().map(|e| format!("{what}: {e}")));
                continue;
            }
        };
        if let Some(reader) = path_reader(&plan)
            && !def.path.contains('{')
        {
            problems.push(match old_syntax(&def.path) {
                Some((segment, sigil, fix)) => {
                    format!(
                        "{what}: `{reader}` takes `Path<..>`, which reads the path's `{{name}}` parameters, but this path has none: `{segment}` is a fixed segment here (the `{sigil}name` syntax of axum 0.7 and Express); write the parameter `{fix}`"
                    )
                }
                None => format!(
                    "{what}: `{reader}` takes `Path<..>`, which reads the path's `{{name}}` parameters, but this path has none; add one (as in `/items/{{id}}`) or read the value another way"
                ),
            });
            continue;
        }
        // The same syntax on a route whose handler reads no `Path`: a route only a request for
        // `/notes/:id` itself would reach, never `/notes/7` (axum 0.8 refuses it too).
        if let Some((segment, sigil, fix)) = old_syntax(&def.path) {
            problems.push(format!(
                "{what}: invalid path: `{segment}` is a fixed segment here, which only a request for that very text matches (the `{sigil}name` syntax of axum 0.7 and Express); write the parameter `{fix}`"
            ));
            continue;
        }
        if let Some(misfit) = path_misfit(&plan, &def.path) {
            problems.push(format!("{what}: {misfit}"));
            continue;
        }
        let index = match by_path.get(def.path.as_str()) {
            Some(index) => *index,
            None => {
                match router.insert(def.path.clone(), entries.len()) {
                    Ok(()) => {}
                    Err(matchit::InsertError::Conflict { with }) => {
                        let theirs = by_path.get(with.as_str()).map(|index| &entries[*index]);
                        let why = conflict(&def.method, &def.path, &with, theirs);
                        problems.push(format!("{what}: {why}"));
                        continue;
                    }
                    Err(error) => {
                        // `pattern_problem` found the others; one it does not know of yet
                        // (`InsertError` is non-exhaustive) is still refused.
                        problems.push(format!("{what}: invalid path: {error}"));
                        continue;
                    }
                }
                by_path.insert(&def.path, entries.len());
                entries.push(Vec::new());
                entries.len() - 1
            }
        };
        if entries[index].iter().any(|(m, _)| *m == def.method) {
            problems.push(format!("{what}: registered twice"));
            continue;
        }
        let content_type = match declared_type(&def.handler.doc) {
            Ok(declared) => declared,
            Err(problem) => {
                problems.push(format!("{what}: {problem}"));
                continue;
            }
        };
        let route = Route {
            name: def.handler.name,
            pattern: def.path.as_str().into(),
            plan,
            respond: def.respond,
            respond_any: def.respond_any,
            success: def
                .handler
                .doc
                .status
                .filter(|_| !def.handler.doc.status_named)
                .and_then(|status| http::StatusCode::from_u16(status).ok())
                .filter(|status| *status != http::StatusCode::OK),
            content_type,
            uses,
            def: def_index,
        };
        let route = Arc::new(route);
        in_order.push(route.clone());
        entries[index].push((def.method.clone(), route));
    }
    problems.extend(statuses_of_nothing(defs, &in_order));
    if problems.is_empty() {
        let mut by_method: Vec<(Method, matchit::Router<usize>)> = Vec::new();
        for (path, index) in &by_path {
            for (method, _) in &entries[*index] {
                let at = match by_method.iter().position(|(m, _)| m == method) {
                    Some(at) => at,
                    None => {
                        by_method.push((method.clone(), matchit::Router::new()));
                        by_method.len() - 1
                    }
                };
                // A subset of patterns the whole router took: no conflict among them.
                let _ = by_method[at].1.insert(*path, *index);
            }
        }
        // In the order each method was first registered (`by_path` has none).
        by_method.sort_by_key(|(method, _)| {
            in_order
                .iter()
                .position(|route| defs[route.def].method == *method)
        });
        Ok(Planned {
            routes: RouteTable {
                router,
                entries,
                by_method,
            },
            app_nodes: builder.app.nodes,
            app_names: builder.app.names,
            in_order,
        })
    } else {
        Err(problems)
    }
}

/// A function that declares `status = N` (the status of a handler's success) and that the app
/// uses only as a dependency: its status is sent by nothing, and the user who put it there
/// (expecting the routes that use it to answer `N`) would get `200` without a word. One problem
/// per function, at the first route that uses it. A function that is also a route's handler
/// has its status there.
fn statuses_of_nothing(defs: &[RouteDef], routes: &[Arc<Route>]) -> Vec<String> {
    let handlers: Vec<std::any::TypeId> = defs.iter().map(|def| (def.handler.type_id)()).collect();
    let mut told = Vec::new();
    let mut problems = Vec::new();
    for route in routes {
        let Some((_, dependencies)) = route.plan.nodes.split_last() else {
            continue;
        };
        for node in dependencies {
            let meta = node.meta;
            let Some(status) = meta.doc.status else {
                continue;
            };
            let id = (meta.type_id)();
            if handlers.contains(&id) || told.contains(&id) {
                continue;
            }
            told.push(id);
            let def = &defs[route.def];
            problems.push(format!(
                "`{name}` declares `status = {status}`, the status of a handler's success, but this app uses it only as a dependency (of route {method} {path}), where no status is sent; remove `status` from `{name}`, or put it on the route's handler `{handler}`",
                name = meta.name,
                method = def.method,
                path = def.path,
                handler = def.handler.name,
            ));
        }
    }
    problems
}

impl RouteTable {
    /// The routes registered at `path`'s pattern, whatever their method, in the order they
    /// were added: the first of them that has group layers is the one a 405 at that path
    /// goes through (see `app/layer.rs`). Only asked when a request's method has no route
    /// there, in an app with layers.
    #[cold]
    pub(crate) fn routes_at(&self, path: &str) -> impl Iterator<Item = &Arc<Route>> {
        let methods = match self.router.at(path) {
            Ok(found) => self.entries.get(*found.value).map(Vec::as_slice),
            Err(_) => None,
        };
        methods.unwrap_or_default().iter().map(|(_, route)| route)
    }

    /// Finds the route for a request and its percent-decoded path parameters.
    pub(crate) fn find(&self, method: &Method, path: &str) -> Result<Routed, Miss> {
        let Ok(found) = self.router.at(path) else {
            return Err(Miss::NotFound);
        };
        let methods = &self.entries[*found.value];
        let Some(route) = route_for(methods, method) else {
            return self.other_pattern(method, path);
        };
        Ok(routed(route, &found.params))
    }

    /// For a request whose method has no route at the pattern that matches its path best:
    /// the route of its method at another pattern that matches (a parameter route beside a
    /// static path of another method), or a 405 naming every method some pattern that
    /// matches is served with.
    #[cold]
    #[inline(never)]
    fn other_pattern(&self, method: &Method, path: &str) -> Result<Routed, Miss> {
        let router_of = |wanted: &Method| {
            self.by_method
                .iter()
                .find(|(m, _)| m == wanted)
                .map(|(_, router)| router)
        };
        // `HEAD` is served by a `GET` route unless a `HEAD` route matches.
        let mut wanted = vec![method];
        if *method == Method::HEAD {
            wanted.push(&Method::GET);
        }
        for wanted in wanted {
            if let Some(found) = router_of(wanted).and_then(|router| router.at(path).ok())
                && let Some(route) = route_for(&self.entries[*found.value], wanted)
            {
                return Ok(routed(route, &found.params));
            }
        }
        let serves =
            |wanted: &Method| router_of(wanted).is_some_and(|router| router.at(path).is_ok());
        let mut allow: Vec<&str> = Vec::with_capacity(self.by_method.len() + 1);
        for (m, router) in &self.by_method {
            if router.at(path).is_err() {
                continue;
            }
            allow.push(m.as_str());
            // A `GET` route serves `HEAD` too.
            if *m == Method::GET && !serves(&Method::HEAD) {
                allow.push(Method::HEAD.as_str());
            }
        }
        Err(Miss::MethodNotAllowed(allow.join(", ")))
    }
}

/// The route of `method` among `methods` (one path's); `HEAD` is served by the `GET` route
/// unless one is registered (hyper sends no body).
fn route_for<'a>(methods: &'a [(Method, Arc<Route>)], method: &Method) -> Option<&'a Arc<Route>> {
    let route = methods.iter().find(|(m, _)| m == method).or_else(|| {
        (*method == Method::HEAD)
            .then(|| methods.iter().find(|(m, _)| *m == Method::GET))
            .flatten()
    });
    route.map(|(_, route)| route)
}

/// `route`, with the path parameters matching found, percent-decoded.
fn routed(route: &Arc<Route>, found: &matchit::Params<'_, '_>) -> Routed {
    // Most routes have no parameter: no iterator to collect then.
    let params = if found.is_empty() {
        Vec::new()
    } else {
        found
            .iter()
            .map(|(k, v)| {
                let decoded = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
                (k.to_owned(), decoded.into_owned())
            })
            .collect()
    };
    Routed {
        route: route.clone(),
        params,
    }
}

/// The first function of `plan` that takes a `Path<..>` input, if one does.
fn path_reader(plan: &Plan) -> Option<&'static str> {
    path_inputs(plan).next().map(|(function, _, _)| function)
}

/// The first `Path<T>` of `plan` that cannot fit `path`'s parameters (a tuple of 2 on
/// `/posts/{id}`): found here, when the app is built, rather than as a 500 on every request.
fn path_misfit(plan: &Plan, path: &str) -> Option<String> {
    let names = path_params(path);
    path_inputs(plan).find_map(|(function, param, doc)| {
        let reason = (doc.route_fit?)(&names).err()?;
        Some(format!(
            "`{function}` takes `{param}`, which does not fit the path's parameters: {reason}; take a tuple with one element per `{{name}}` of the path, in order, a single value when it has one, or a struct with a field per name"
        ))
    })
}

/// Every input of `plan` read from the route's path (`Path<T>`): the function that takes it,
/// the parameter as written, and its description.
fn path_inputs(plan: &Plan) -> impl Iterator<Item = (&'static str, &'static str, InputDoc)> + '_ {
    plan.nodes.iter().flat_map(|node| {
        node.meta
            .params
            .iter()
            .filter_map(|param| match param.kind {
                ParamKind::Input { describe, .. } => {
                    let doc = describe();
                    (doc.kind == InputKind::Path).then_some((node.meta.name, param.name, doc))
                }
                _ => None,
            })
    })
}

/// The names of a route pattern's parameters, in order: `{id}` and `{*rest}` (`{{` and `}}`
/// are a literal brace).
pub(crate) fn path_params(path: &str) -> Vec<&str> {
    param_spans(path)
        .into_iter()
        .map(|span| &path[span])
        .collect()
}

/// The first segment of `path` written in the parameter syntax of axum 0.7 and Express
/// (`:id`, `*rest`), which this router takes as fixed text: the segment, its sigil, and the
/// parameter to write instead (`{id}`, `{*rest}`).
fn old_syntax(path: &str) -> Option<(&str, &str, String)> {
    let segment = path.split('/').find(|segment| {
        segment.starts_with([':', '*'])
            && segment[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
    })?;
    let (sigil, name) = segment.split_at(1);
    let fix = if sigil == "*" {
        format!("{{*{name}}}")
    } else {
        format!("{{{name}}}")
    };
    Some((segment, sigil, fix))
}

/// What makes `path` not a route pattern, in the app's words and with the fix: the router's
/// own (matchit's "Parameters must be registered with a valid name") name neither; or a
/// parameter named twice, which the router takes but Starlette refuses ("Duplicated param
/// name"): a `Path` struct would read only one of the two.
fn pattern_problem(path: &str) -> Option<String> {
    if let Err(error) = matchit::Router::new().insert(path, ()) {
        return Some(match error {
            matchit::InsertError::InvalidParam => unpaired_brace(path),
            matchit::InsertError::InvalidParamSegment => "there is one parameter per segment (between two `/`): the end of the first could not be told from the start of the second; write each in a segment of its own (`/{a}/{b}`)".to_owned(),
            matchit::InsertError::InvalidCatchAll => {
                let rest = path_params(path)
                    .into_iter()
                    .find(|name| path.contains(&format!("{{*{name}}}")))
                    .unwrap_or("rest");
                format!(
                    "a catch-all `{{*{rest}}}` must end the path (it takes the rest of it); end the path there, or write `{{{rest}}}` for one segment"
                )
            }
            other => other.to_string(),
        });
    }
    let names = path_params(path);
    if let Some(spaced) = names.iter().find(|name| name.contains(char::is_whitespace)) {
        let star = if path.contains(&format!("{{*{spaced}}}")) {
            "*"
        } else {
            ""
        };
        let fix: String = spaced.split_whitespace().collect();
        return Some(format!(
            "the parameter `{{{star}{spaced}}}` has white space in its name, which no field or `Path` name can match; write `{{{star}{fix}}}`"
        ));
    }
    let twice = names
        .iter()
        .enumerate()
        .find_map(|(at, name)| names[..at].contains(name).then_some(*name))?;
    Some(format!(
        "the parameter `{twice}` is named twice; give each parameter a name of its own"
    ))
}

/// What is wrong with the braces of `path`, which the router refused as a parameter
/// without a valid name.
fn unpaired_brace(path: &str) -> String {
    const FIX: &str = "write a parameter `{name}`, and a literal brace doubled, `{{` or `}}`";
    let mut chars = path.chars().peekable();
    let mut open = false;
    while let Some(c) = chars.next() {
        match c {
            '{' | '}' if !open && chars.peek() == Some(&c) => {
                chars.next();
            }
            '{' if open => return format!("a `{{` inside a parameter; {FIX}"),
            '{' => {
                open = true;
                if matches!(chars.peek(), Some('}'))
                    || (chars.peek() == Some(&'*') && {
                        let mut ahead = chars.clone();
                        ahead.next();
                        ahead.peek() == Some(&'}')
                    })
                {
                    return format!("a parameter without a name (`{{}}` or `{{*}}`); {FIX}");
                }
            }
            '}' if open => open = false,
            '}' => return format!("a `}}` without its `{{`; {FIX}"),
            _ => {}
        }
    }
    if open {
        format!("a `{{` without its `}}`; {FIX}")
    } else {
        format!("a parameter's name cannot be read; {FIX}")
    }
}

/// Where in a route pattern its parameters' names are (`id` of `{id}`, `rest` of `{*rest}`),
/// in order; `{{` and `}}` are a literal brace.
pub(crate) fn param_spans(path: &str) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(open) = path[at..].find('{') {
        let start = at + open + 1;
        if path[start..].starts_with('{') {
            at = start + 1;
            continue;
        }
        let Some(close) = path[start..].find('}') else {
            break;
        };
        let end = start + close;
        let name = path[start..end].trim_start_matches('*');
        spans.push(end - name.len()..end);
        at = end + 1;
    }
    spans
}

/// A route pattern without its parameters' names (`/a/{}/{*}` of `/a/{id}/{*rest}`): two
/// patterns of one shape match the same requests.
fn unnamed(path: &str) -> String {
    let mut shape = String::with_capacity(path.len());
    let mut last = 0;
    for span in param_spans(path) {
        shape.push_str(&path[last..span.start]);
        last = span.end;
    }
    shape.push_str(&path[last..]);
    shape
}

/// Why the route `method` `path` cannot be added beside the pattern `with`, an earlier one
/// the router finds it conflicts with, served by `theirs`, and what to write instead.
fn conflict(
    method: &Method,
    path: &str,
    with: &str,
    theirs: Option<&Vec<(Method, Arc<Route>)>>,
) -> String {
    let same_method = theirs.is_some_and(|theirs| theirs.iter().any(|(m, _)| m == method));
    let routes: Vec<String> = theirs
        .into_iter()
        .flatten()
        .map(|(method, route)| format!("route {method} {with} (`{}`)", route.name))
        .collect();
    let routes = if routes.is_empty() {
        format!("`{with}`")
    } else {
        routes.join(", ")
    };
    // `{id}` where the other has `{name}`: the same requests, two names for one parameter.
    let same_requests = unnamed(path) == unnamed(with);
    if same_requests && same_method {
        format!(
            "it matches the same requests as {routes}, with other names for the parameters, so one of the two would never be reached; remove one"
        )
    } else if same_requests {
        format!(
            "it matches the same requests as {routes}, with other names for the parameters; a path's parameters have one name whatever the method: write `{with}`"
        )
    } else {
        format!(
            "it conflicts with {routes}: both could match one request's path at the same place (a `{{name}}` and a `{{*rest}}`, say); change one of the two paths"
        )
    }
}

/// Whether `c` can be in a request's path as it is: what `http` (and so hyper, over both
/// protocols) accepts in one; anything else reaches a server percent-encoded, or not at all.
fn in_a_request_path(c: char) -> bool {
    matches!(c, '!' | '"' | '$'..=';' | '=' | '@'..='_' | 'a'..='z' | '{'..='~')
}

/// What a path pattern is matched as, for the words of a problem with it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// A route's path: `{name}` parameters, `{{` and `}}` a literal brace.
    Route,
    /// A nested service's prefix: literal text, matched as it is.
    Prefix,
}

impl Pattern {
    fn never(self) -> &'static str {
        match self {
            Pattern::Route => "this route would never match",
            Pattern::Prefix => "this service would never be reached",
        }
    }
}

/// What in the literal text of `path` (outside a route's `{name}` parameters) no request's
/// path can hold, so that what it is for would never be reached, and the path to write
/// instead: a query string or a fragment, or a character a client percent-encodes (non-ASCII
/// text, a space, a control), which matching does not decode.
pub(crate) fn unmatchable(path: &str, pattern: Pattern) -> Option<String> {
    let never = pattern.never();
    let mut fixed = String::with_capacity(path.len());
    let mut first_encoded = None;
    let mut in_param = false;
    let mut chars = path.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if in_param {
            in_param = c != '}';
        } else if pattern == Pattern::Route && matches!(c, '{' | '}') {
            // `{{` and `}}` are a literal brace, which a request's path may hold.
            if chars.peek().is_some_and(|(_, next)| *next == c) {
                chars.next();
                fixed.push(c);
            } else {
                in_param = c == '{';
            }
        } else if c == '?' {
            let (whose, read) = match pattern {
                Pattern::Route => ("a route's path", " and read the query with `Query<T>`"),
                Pattern::Prefix => ("a prefix", ""),
            };
            return Some(format!(
                "{whose} has no query string (`{}`), so {never}; write `{}`{read}",
                &path[at..],
                &path[..at]
            ));
        } else if c == '#' {
            return Some(format!(
                "a client never sends a fragment (`{}`), so {never}; write `{}`",
                &path[at..],
                &path[..at]
            ));
        } else if !in_a_request_path(c) {
            first_encoded.get_or_insert(c);
            let mut utf8 = [0; 4];
            for byte in c.encode_utf8(&mut utf8).bytes() {
                fixed.push_str(&format!("%{byte:02X}"));
            }
            continue;
        }
        fixed.push(c);
    }
    first_encoded.map(|c| {
        format!(
            "`{c}` cannot be in a request's path as it is (a client sends it percent-encoded), so {never}; write `{fixed}`"
        )
    })
}

/// What is wrong with `prefix`, the prefix of a nested service: one that does not start with
/// `/` or ends with `/`, or one that would keep the service from ever being reached: a
/// parameter written as in a route (`/tenants/{id}`: a prefix is matched as literal text), or
/// what [`unmatchable`] finds.
pub(crate) fn prefix_problem(prefix: &str) -> Option<String> {
    if !prefix.starts_with('/') || prefix.ends_with('/') {
        return Some("a prefix must start with `/` and not end with `/`".to_owned());
    }
    if let Some(open) = prefix.find('{') {
        let close = prefix[open..]
            .find('}')
            .map_or(prefix.len(), |at| open + at + 1);
        let fixed = prefix[..open].trim_end_matches('/');
        let fixed = if fixed.is_empty() { "/" } else { fixed };
        return Some(format!(
            "a prefix is matched as literal text and cannot hold a parameter (`{}`), so {}; nest it at `{fixed}` and read the rest of the path in the service",
            &prefix[open..close],
            Pattern::Prefix.never()
        ));
    }
    unmatchable(prefix, Pattern::Prefix)
}

/// A request's route and path parameters.
pub(crate) struct Routed {
    pub(crate) route: Arc<Route>,
    pub(crate) params: Vec<(String, String)>,
}

/// Why no route matched.
pub(crate) enum Miss {
    NotFound,
    /// The path exists for these methods (the `Allow` header).
    MethodNotAllowed(String),
}

impl IntoResponse for Miss {
    fn into_response(self) -> Response {
        // The bodies `HttpError::new(status, reason)` sends, made once: a miss is answered
        // without an error's box, its detail's `String` and a serialization.
        match self {
            Miss::NotFound => miss_response(StatusCode::NOT_FOUND, br#"{"detail":"Not Found"}"#),
            Miss::MethodNotAllowed(allow) => {
                let mut response = miss_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    br#"{"detail":"Method Not Allowed"}"#,
                );
                if let Ok(value) = http::HeaderValue::from_str(&allow) {
                    response.headers_mut().insert(http::header::ALLOW, value);
                }
                response
            }
        }
    }
}

/// A JSON answer of a fixed body.
fn miss_response(status: StatusCode, body: &'static [u8]) -> Response {
    let mut response = Response::new(crate::response::body::Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::{Miss, Pattern, path_params, prefix_problem, unmatchable};
    use crate::response::error::HttpError;
    use crate::response::into::IntoResponse;

    /// The fixed answers are what the errors of the same status and reason send.
    #[test]
    fn a_miss_answers_as_its_http_error_would() {
        let cases = [
            (Miss::NotFound, StatusCode::NOT_FOUND, "Not Found"),
            (
                Miss::MethodNotAllowed("GET, HEAD".to_owned()),
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
            ),
        ];
        for (miss, status, reason) in cases {
            let ours = miss.into_response();
            let theirs = HttpError::new(status, reason).into_response();
            assert_eq!(ours.status(), theirs.status());
            assert_eq!(
                ours.headers().get(http::header::CONTENT_TYPE),
                theirs.headers().get(http::header::CONTENT_TYPE)
            );
            let body = |r: crate::response::body::Response| r.into_body().into_full().ok();
            assert_eq!(body(ours), body(theirs), "{reason}");
        }
    }

    #[test]
    fn a_patterns_parameters_are_named_in_order_escaped_braces_left_out() {
        assert_eq!(path_params("/posts/{id}/{slug}"), ["id", "slug"]);
        assert_eq!(path_params("/files/{id}/{*rest}"), ["id", "rest"]);
        assert_eq!(path_params("/{{literal}}/{id}"), ["id"]);
        assert_eq!(path_params("/{{a}}/{{b}}"), Vec::<&str>::new());
        assert_eq!(path_params("/items"), Vec::<&str>::new());
        assert_eq!(path_params("/unclosed/{id"), Vec::<&str>::new());
    }

    #[test]
    fn a_prefix_with_a_parameter_is_told_the_fixed_part_before_it() {
        assert_eq!(prefix_problem("/legacy/v1"), None);
        let fix = |prefix| {
            prefix_problem(prefix).map(|problem| {
                let (_, after) = problem.split_once("nest it at `").unwrap();
                after.split_once('`').unwrap().0.to_owned()
            })
        };
        assert_eq!(fix("/tenants/{id}/files").as_deref(), Some("/tenants"));
        assert_eq!(fix("/{id}").as_deref(), Some("/"));
        assert_eq!(fix("/open{").as_deref(), Some("/open"));
    }

    #[test]
    fn a_pattern_is_unmatchable_only_for_what_its_literal_text_holds() {
        for fine in [
            "/items/{id}",
            "/{{x}}/{naïve}",
            "/a%20b",
            "/a|b/~c/$d;e=f@g\"/h{*rest}",
            "//",
        ] {
            assert_eq!(unmatchable(fine, Pattern::Route), None, "{fine}");
        }
        let fix = |path| {
            unmatchable(path, Pattern::Route)
                .map(|problem| problem.rsplit_once("write ").unwrap().1.to_owned())
        };
        assert_eq!(
            fix("/{{é}}/{é}/é").as_deref(),
            Some("`/{{%C3%A9}}/{é}/%C3%A9`")
        );
        assert_eq!(fix("/a\tb<c>`").as_deref(), Some("`/a%09b%3Cc%3E%60`"));
        assert_eq!(
            fix("/a/{id}?b").as_deref(),
            Some("`/a/{id}` and read the query with `Query<T>`")
        );
    }
}

#[cfg(test)]
mod default_types {
    use crate::contract::doc::OutputKind;
    use crate::input::json::Json;
    use crate::response::into::IntoResponse;
    use crate::response::page::Html;
    use crate::response::stream::StreamBody;

    /// The type each kind is sent with by default is the one its `IntoResponse` gives, so a
    /// handler's declared `content_type` replaces it.
    #[test]
    fn each_kinds_default_type_is_the_one_it_is_sent_with() {
        let sent = |response: crate::response::body::Response| {
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned()
        };
        let stream = futures_util::stream::iter([Ok::<_, std::io::Error>("a")]);
        for (kind, response) in [
            (OutputKind::Json, Json(1).into_response()),
            (OutputKind::Text, String::from("a").into_response()),
            (OutputKind::Html, Html("<p>").into_response()),
            (OutputKind::Bytes, vec![1_u8].into_response()),
            (OutputKind::Stream, StreamBody::new(stream).into_response()),
        ] {
            assert_eq!(
                kind.default_content_type(),
                Some(sent(response).as_str()),
                "{kind:?}"
            );
        }
    }
}
