//! [`Group`]: routes under a path prefix that share dependencies, FastAPI's
//! `APIRouter(prefix=..., dependencies=[...])`, mounted with [`App::nest`](crate::App::nest)
//! or nested in another group.

use std::sync::Arc;

use http::Method;

use crate::app::layer::TowerLayer;
use crate::contract::meta::{DepFn, DepMeta, Dependency};
use crate::contract::slot::{Cell, Slot};
use crate::plan::node::{GroupDep, Origin};
use crate::plan::routes::RouteDef;
use crate::response::body::Response;
use crate::response::into::{IntoResponse, internal_error_response};

/// Routes under one path prefix that share dependencies: FastAPI's
/// `APIRouter(prefix="/admin", dependencies=[Depends(auth)])`, mounted with
/// [`App::nest`](crate::App::nest) (`include_router`) or in another group with
/// [`Group::nest`].
///
/// A route's path is the prefix followed by the route's path, as written: `"/admin"` with
/// `"/stats"` is `/admin/stats`, with `"/"` it is `/admin/`, and with `""` it is `/admin`. A
/// prefix is empty or starts with `/` and does not end with `/`, as in FastAPI;
/// [`App::check`](crate::App::check) reports one that does not, and a route whose path and
/// prefixes are all empty.
///
/// [`dependency`](Group::dependency) runs a dependency for every route of the group, for its
/// side effect (an authentication check) or its teardown, whether it was added before or after
/// the routes; see [`App::dependency`](crate::App::dependency) for where it runs. Groups nest:
/// prefixes join, outer first, and so do dependencies.
///
/// ```
/// use di_runtime::prelude::*;
/// use di_runtime::HttpBearer;
///
/// #[depends]
/// async fn auth(bearer: HttpBearer) -> Result<(), HttpError> {
///     match bearer.token() {
///         "secret" => Ok(()),
///         _ => Err(HttpError::new(StatusCode::FORBIDDEN, "Forbidden")),
///     }
/// }
/// #[depends]
/// async fn stats() -> &'static str { "42 users" }
///
/// let admin = Group::new("/admin").dependency(auth).get("/stats", stats);
/// let app = App::new().nest(admin); // GET /admin/stats runs `auth`, then `stats`
/// # app.check().unwrap();
/// ```
#[must_use]
pub struct Group {
    prefix: String,
    uses: Vec<&'static DepMeta>,
    routes: Vec<RouteDef>,
    /// `Group::layer`: around each route of the group, the last added outermost.
    layers: Vec<Arc<dyn TowerLayer>>,
    /// Each route's layers from the groups nested in this one, innermost first, beside
    /// `routes`.
    own_layers: Vec<Vec<Arc<dyn TowerLayer>>>,
    problems: Vec<String>,
    /// `tag(..)`: the OpenAPI tags of every route of the group.
    tags: Vec<String>,
}

macro_rules! method_routes {
    ($($(#[$doc:meta])* $name:ident => $method:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name<F, H>(self, path: &str, handler: F) -> Self
        where
            F: DepFn<H>,
            H: Dependency,
            H::Output: IntoResponse,
        {
            self.route(Method::$method, path, handler)
        }
    )*};
}
pub(crate) use method_routes;

impl Group {
    /// A group whose routes' paths start with `prefix` (`""` for none).
    pub fn new(prefix: &str) -> Self {
        let mut problems = Vec::new();
        if !prefix.is_empty() && (!prefix.starts_with('/') || prefix.ends_with('/')) {
            problems.push(format!(
                "group `{prefix}`: a prefix must be empty, or start with `/` and not end with `/`"
            ));
        }
        Self {
            prefix: prefix.to_owned(),
            uses: Vec::new(),
            routes: Vec::new(),
            layers: Vec::new(),
            own_layers: Vec::new(),
            problems,
            tags: Vec::new(),
        }
    }

    /// Tags every route of the group in the OpenAPI document (FastAPI's
    /// `APIRouter(tags=[...])`; Swagger UI lists the operations by tag). A route in nested
    /// groups has the outer group's tags first.
    ///
    /// ```
    /// use di_runtime::prelude::*;
    ///
    /// #[depends]
    /// async fn stats() -> &'static str { "42 users" }
    ///
    /// let admin = Group::new("/admin").tag("admin").get("/stats", stats);
    /// # let _ = App::new().nest(admin);
    /// ```
    pub fn tag(mut self, tag: &str) -> Self {
        self.tags.push(tag.to_owned());
        self
    }

    /// Runs the dependency `dep` for every route of the group, after the dependencies of the
    /// groups it is in and before the route's own (see [`App::dependency`](crate::App::dependency)).
    pub fn dependency<F, D>(mut self, dep: F) -> Self
    where
        F: DepFn<D>,
        D: Dependency,
    {
        let _ = dep;
        self.uses.push(D::meta());
        self
    }

    /// Routes `method` requests for the prefix followed by `path` to `handler`.
    pub fn route<F, H>(mut self, method: Method, path: &str, handler: F) -> Self
    where
        F: DepFn<H>,
        H: Dependency,
        H::Output: IntoResponse,
    {
        let _ = handler;
        if let Some(problem) = path_problem(&method, path) {
            self.problems.push(problem);
        }
        self.routes.push(route_def::<H>(method, path));
        self.own_layers.push(Vec::new());
        self
    }

    /// Puts a tower layer around each route of the group, whenever the route was added
    /// (inside the layers of the groups it is nested in and those of
    /// [`App::route_layer`](crate::App::route_layer)); each call wraps the layers added before.
    /// A request reaches it once routed. See [`App::layer`](crate::App::layer) for what holds
    /// through a layer.
    ///
    /// The app's 405 at a path of the group's routes (a method no route there has) goes through
    /// the group's layers too, not through those of `App::route_layer`, as axum's
    /// `Router::layer` wraps a nested router's 405s: a group's `CorsLayer` answers the preflight
    /// `OPTIONS` of its routes. (Where routes of several groups share a path, the 405 goes
    /// through the layers of the first route added there that has group layers.)
    ///
    /// For one route, a group with an empty prefix:
    ///
    /// ```
    /// use di_runtime::prelude::*;
    /// # #[derive(Clone)] struct NoLayer;
    /// # impl<S> tower_layer::Layer<S> for NoLayer { type Service = S; fn layer(&self, s: S) -> S { s } }
    /// # let timeout_layer = NoLayer;
    ///
    /// #[depends]
    /// async fn slow() -> &'static str { "done" }
    /// #[depends]
    /// async fn fast() -> &'static str { "done" }
    ///
    /// let app = App::new()
    ///     .get("/fast", fast)
    ///     .nest(Group::new("").layer(timeout_layer).get("/slow", slow));
    /// # app.check().unwrap();
    /// ```
    pub fn layer<L: TowerLayer>(mut self, layer: L) -> Self {
        self.layers.push(Arc::new(layer));
        self
    }

    method_routes! {
        /// Routes `GET` requests for the prefix followed by `path` to `handler`.
        get => GET;
        /// Routes `POST` requests for the prefix followed by `path` to `handler`.
        post => POST;
        /// Routes `PUT` requests for the prefix followed by `path` to `handler`.
        put => PUT;
        /// Routes `PATCH` requests for the prefix followed by `path` to `handler`.
        patch => PATCH;
        /// Routes `DELETE` requests for the prefix followed by `path` to `handler`.
        delete => DELETE;
    }

    /// Adds the routes of `group` under this group's prefix: their paths are this prefix, then
    /// `group`'s, then theirs; they run this group's dependencies, then `group`'s, then their
    /// own.
    pub fn nest(mut self, group: Group) -> Self {
        let (routes, layers, problems) = group.mount();
        self.routes.extend(routes);
        self.own_layers.extend(layers);
        self.problems.extend(problems);
        self
    }

    /// The group's routes with its prefix and dependencies applied, each route's layers
    /// (innermost first), and its problems.
    pub(crate) fn mount(self) -> MountedGroup {
        let Group {
            prefix,
            uses,
            mut routes,
            layers,
            mut own_layers,
            problems,
            tags,
        } = self;
        for route_layers in &mut own_layers {
            route_layers.extend(layers.iter().cloned());
        }
        for route in &mut routes {
            route.tags.splice(0..0, tags.iter().cloned());
            route.path = format!("{prefix}{}", route.path);
            let mut all: Vec<GroupDep> = uses
                .iter()
                .map(|meta| GroupDep {
                    meta,
                    from: Origin::Group(prefix.clone()),
                })
                .collect();
            for inner in route.uses.drain(..) {
                all.push(match inner.from {
                    Origin::Group(inner_prefix) => GroupDep {
                        meta: inner.meta,
                        from: Origin::Group(format!("{prefix}{inner_prefix}")),
                    },
                    Origin::App => inner,
                });
            }
            route.uses = all;
        }
        (routes, own_layers, problems)
    }
}

/// A group's routes, each route's layers (innermost first), and its problems.
pub(crate) type MountedGroup = (Vec<RouteDef>, Vec<Vec<Arc<dyn TowerLayer>>>, Vec<String>);

/// What is wrong with a route's own `path` (before any group's prefix): one that does not
/// start with `/` would never match a request (every request's path does), or run into its
/// group's prefix (`/admin` + `users`). Empty is the prefix itself, or checked once prefixed.
/// And a `CONNECT` route: HTTP/1 makes a connection whose `CONNECT` is answered 2xx a tunnel
/// (hyper sends the answer's head without its body, and closes the connection, as nothing
/// takes the tunnel over), so its handler's answer would not be what the client gets.
pub(crate) fn path_problem(method: &Method, path: &str) -> Option<String> {
    if method == Method::CONNECT {
        return Some(format!(
            "route CONNECT {path}: di serves no tunnels (a 2xx answer to CONNECT makes the \
             connection one, and its body is never sent); leave CONNECT to a proxy in front of \
             the app (without a route, the app answers it 404 or 405)"
        ));
    }
    (!path.is_empty() && !path.starts_with('/'))
        .then(|| format!("route {method} {path}: a path starts with `/`; write `/{path}`"))
}

/// A route to `H` as registered, before any group's prefix or dependencies.
pub(crate) fn route_def<H>(method: Method, path: &str) -> RouteDef
where
    H: Dependency,
    H::Output: IntoResponse,
{
    RouteDef {
        method,
        path: path.to_owned(),
        handler: H::meta(),
        respond: respond::<H::Output>,
        respond_any: respond_any::<H::Output>,
        uses: Vec::new(),
        tags: Vec::new(),
    }
}

/// See [`Respond`](crate::contract::meta::Respond): the value, if it is a `T`, taken out of
/// its `Option<T>` and made the response.
fn respond_any<T: IntoResponse + 'static>(value: &mut dyn std::any::Any) -> Option<Response> {
    let value = value.downcast_mut::<Option<T>>()?.take()?;
    Some(value.into_response())
}

fn respond<T: IntoResponse + 'static>(value: Slot) -> Response {
    let value = match value {
        Slot::Owned(value) => value.downcast::<T>().ok().map(|value| *value),
        Slot::Filled(cell) => {
            let any = cell.into_any();
            let cell = (&*any as &dyn std::any::Any).downcast_ref::<Cell<T>>();
            cell.and_then(|cell| cell.try_write()?.value.take())
        }
        Slot::Empty => None,
    };
    match value {
        Some(value) => value.into_response(),
        None => {
            tracing::error!(target: "di", "a handler produced a value of an unexpected type");
            internal_error_response()
        }
    }
}
