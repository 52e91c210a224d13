//! What the plan is made of: a [`Node`] per function to call, a route's [`Plan`], the
//! replacements overrides put in place, and how messages name a function ([`Named`]).

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::contract::meta::{ArgSource, DepMeta, ExtractFn};
use crate::contract::scope::Scope;

/// One function to call during a request (or at app start), with where its arguments are.
#[derive(Debug)]
pub(crate) struct Node {
    /// The function that runs (the replacement, when the dependency is overridden).
    pub(crate) meta: &'static DepMeta,
    pub(crate) scope: Scope,
    pub(crate) slot: usize,
    pub(crate) args: Vec<ArgSource>,
    /// The value was given to `App::provide`: nothing runs.
    pub(crate) preset: bool,
    /// `max_concurrency`: the places shared by every instance of the dependency in the app.
    pub(crate) limit: Option<Limit>,
}

/// The `max_concurrency` places of one dependency, shared by the whole app.
#[derive(Clone, Debug)]
pub(crate) struct Limit {
    /// Its rank in one order over every limit of the app: a request takes its places in this
    /// order, all before its first setup, so two routes that use the same limited
    /// dependencies in opposite orders cannot deadlock.
    pub(crate) rank: usize,
    /// How many places there are.
    pub(crate) most: usize,
    /// Whether the limit was set with `App::max_concurrency` rather than declared by the
    /// dependency's attribute (for messages).
    pub(crate) set: bool,
    pub(crate) places: Arc<Semaphore>,
}

/// The nodes of `limited` (indexes into `nodes`, sorted by their limit's rank) in runs that
/// share one `max_concurrency` limit, each with that limit, in the app's one order of limits.
pub(crate) fn limit_runs<'a>(
    nodes: &'a [Node],
    limited: &'a [usize],
) -> impl Iterator<Item = (&'a [usize], &'a Limit)> {
    let mut rest = limited;
    std::iter::from_fn(move || {
        loop {
            let (&first, _) = rest.split_first()?;
            let Some(limit) = &nodes[first].limit else {
                rest = &rest[1..];
                continue;
            };
            let count = rest
                .iter()
                .take_while(|&&node| {
                    nodes[node]
                        .limit
                        .as_ref()
                        .is_some_and(|other| other.rank == limit.rank)
                })
                .count();
            let (run, after) = rest.split_at(count);
            rest = after;
            return Some((run, limit));
        }
    })
}

/// What a route does on each request.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Dependencies in setup order; the handler is last.
    pub(crate) nodes: Vec<Node>,
    /// How many values a request keeps: one per dependency, at its node's index (`slot`). The
    /// handler's value becomes the response and is kept nowhere: its slot, the last, is not
    /// made (a route without dependencies or inputs allocates none).
    pub(crate) slots: usize,
    pub(crate) inputs: Vec<ExtractFn>,
    pub(crate) needs_body: bool,
    /// Whether an input reads the body as a stream: it is then handed to that input unread
    /// instead of read before setup (`needs_body` is true too: the body is not dropped).
    pub(crate) streams_body: bool,
    /// The nodes with a `max_concurrency` limit, in the app's order of limits.
    pub(crate) limited: Vec<usize>,
    /// Whether a request owes `request`-scope teardowns (it then takes a background place
    /// before its first setup).
    pub(crate) request_teardowns: bool,
    /// How many of `nodes` are generators: the request's teardown stack is made this large
    /// at its first push, in one allocation (none for a route without one).
    pub(crate) generators: usize,
    /// Whether a plain dependency of `request` scope keeps a value: the request's values then
    /// live until its response body has ended (or was dropped), not only until the response
    /// is made.
    pub(crate) keeps_values: bool,
    /// The slots of the plain dependencies of `handler` scope: let go of when the response is
    /// made, when the other values are kept for the body.
    pub(crate) handler_values: Vec<usize>,
}

/// The `app`-scoped dependencies of all routes, in setup order.
#[derive(Debug, Default)]
pub(crate) struct AppPlan {
    pub(crate) nodes: Vec<Node>,
    /// How messages name each node's function, by node: by its path when another function of
    /// the app has its name.
    pub(crate) names: Vec<&'static str>,
    /// Where each dependency's node is.
    pub(crate) index: HashMap<TypeId, usize>,
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

/// The `max_concurrency` limits set with `App::max_concurrency`, by dependency: each replaces
/// the limit its attribute declares (`None`: no limit).
pub(crate) type SetLimits = HashMap<TypeId, Option<usize>>;

/// A function as messages name it: the one that runs, and the dependency it stands in for when
/// it is an override's replacement ("`fake_tx` (overriding `tx`)").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Named {
    /// The function that runs.
    pub(crate) runs: &'static str,
    /// The dependency it replaces (`App::override_dep`).
    pub(crate) replaces: Option<&'static str>,
}

impl Named {
    /// A function that runs as itself (a handler, or a dependency that is not overridden).
    pub(crate) fn itself(meta: &'static DepMeta) -> Self {
        Self {
            runs: meta.name,
            replaces: None,
        }
    }

    /// "`x`'s", or "`fake_x`'s (overriding `x`)".
    pub(crate) fn possessive(self) -> String {
        match self.replaces {
            Some(original) => format!("`{}`'s (overriding `{original}`)", self.runs),
            None => format!("`{}`'s", self.runs),
        }
    }
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.runs)?;
        if let Some(original) = self.replaces {
            write!(f, " (overriding `{original}`)")?;
        }
        Ok(())
    }
}

/// A dependency that every route of the app or of a group runs without a parameter taking its
/// value (`App::dependency`, `Group::dependency`; FastAPI's `dependencies=[Depends(f)]`).
#[derive(Clone, Debug)]
pub(crate) struct GroupDep {
    /// The dependency as declared (an override may run another function in its place).
    pub(crate) meta: &'static DepMeta,
    /// Where it was declared, for messages and the graph.
    pub(crate) from: Origin,
}

/// Where a dependency without a parameter was declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// `App::dependency`: every route.
    App,
    /// `Group::dependency`: every route of the group, by the group's full prefix.
    Group(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::App => f.write_str("the app"),
            Origin::Group(prefix) => write!(f, "group `{prefix}`"),
        }
    }
}

/// A group dependency as planned for one route: where its value is, for the graph.
#[derive(Clone, Debug)]
pub(crate) struct PlannedUse {
    pub(crate) source: ArgSource,
    pub(crate) declared: &'static DepMeta,
    pub(crate) from: Origin,
}
