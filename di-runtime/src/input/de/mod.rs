//! Deserializers for [`Path`](crate::Path), [`Query`](crate::Query) (and the inputs read like
//! a query string: [`Form`](crate::Form), [`Header`](crate::Header),
//! [`Cookie`](crate::Cookie)) and [`Json`](crate::Json) that report every problem of an
//! input, each with its location, not only the first one.
//!
//! A derived `Deserialize` stops at the first error. So the input is deserialized again and
//! again through a deserializer that knows the path it is at and a [`State`] of repairs made
//! so far:
//!
//! - an error at path `P` is recorded, and on the next attempt `P` is answered with a
//!   *placeholder* ([`Phantom`](phantom::Phantom)) that deserializes into whatever is asked:
//!   `false`, `0`, `""`, `None`, an empty sequence, the first variant of an enum, a struct
//!   with no entries (its missing fields are then repaired in turn, without being reported);
//! - serde's "missing field `x`" at struct path `P` is recorded as `P.x`, "field required",
//!   and on the next attempt `x` is injected into that struct as a placeholder entry;
//! - an unknown field (`deny_unknown_fields`) or a bad map key at `P.k` is recorded, and the
//!   entry is skipped on the next attempt;
//! - a placeholder its type refuses (an untagged or internally tagged enum, a `try_from` that
//!   takes no `""`) fails every attempt at its path `P`: `P` and the entries holding it are
//!   then read after their siblings (the entries of a map or struct; a sequence keeps its
//!   order), so that the siblings' problems are still found before the attempt ends there.
//!
//! Problems the deserializer sees by itself (a JSON string where a number is asked, a query
//! value that does not parse) need no new attempt: they are recorded and answered with a
//! placeholder at once. Only problems the visitor finds (missing fields, unknown variants,
//! out-of-range numbers, custom validation) cost an attempt each.
//!
//! This repeats until an attempt succeeds (with placeholders, so the recorded problems are
//! returned) or brings nothing new. An attempt keeps one location while it walks (steps
//! borrowed from the input; an owned location is built only for a problem), and leaves out
//! the elements of long JSON arrays that earlier attempts read to the end without a problem
//! ([`State::scan`](problem::State)): only the last attempt, which gives the value, walks
//! the whole input again. A problem found under a placeholder is a consequence of an
//! earlier one and is repaired but not reported. Bounds, so that any type and any input
//! terminate quickly: at most [`MAX_PROBLEMS`] problems are reported; attempts are capped at
//! [`BASE_ATTEMPTS`] plus the number of problems reported; no attempt starts once all attempts
//! together have visited [`WORK_BUDGET`] values beyond one whole walk of the input (so a
//! search costs at most about three walks of the input and that many values more); nesting (including newtype recursion through
//! placeholders) is limited to [`MAX_DEPTH`](problem::MAX_DEPTH) levels, and the stack an
//! attempt uses to [`MAX_STACK`](problem::MAX_STACK) bytes, each open level of a value read as
//! "any value" (what serde buffers) counted as [`BUFFERED_LEVEL`](problem::BUFFERED_LEVEL)
//! more (a value nested past either is one problem, and ends the search; [`with_room`] then
//! reads the body again on a thread with a larger stack). When a bound stops the search, the
//! problems found so far are returned.
//!
//! Files, each using only those below it (and `crate::error` for the reported problems):
//!
//! - this one: the entry points and the search ([`collect`]);
//! - [`path`], [`query`]: what a route's path parameters and a query string answer besides
//!   a map by key;
//! - [`root`]: the top of either, its values grouped by key;
//! - [`text`]: the values of one key or parameter, parsed on demand;
//! - [`json`]: a JSON body;
//! - [`phantom`]: the placeholder;
//! - [`access`]: where a value is, and the entries and elements of maps and sequences;
//! - [`problem`]: locations, errors, problems, repairs and the bounds;
//! - [`strict`]: the fast path of a JSON body, as strict about structs as the search.

mod access;
pub(crate) mod fast;
mod json;
mod path;
mod phantom;
mod problem;
mod query;
mod root;
pub(crate) mod strict;
mod text;
pub(crate) mod tree;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use crate::response::error::{HttpError, InputError, push_json_str_within};

use json::JsonDe;
use path::PathLayout;
use problem::{
    BASE_ATTEMPTS, Error, InputAt, InputRef, Problem, Seg, State, Typed, WORK_BUDGET, Walk,
    diagnose,
};
pub(crate) use problem::{MAX_INPUT_TEXT, MAX_PROBLEMS, with_room};
use query::QueryLayout;
use root::Root;
use tree::Tree;

/// The fields of `T` in declaration order, as its `Deserialize` names them (empty when
/// `T` is not a plain struct): asked of a deserializer that records them and stops.
pub(crate) fn field_order<T: DeserializeOwned>() -> &'static [&'static str] {
    let fields = Cell::new(None);
    let _ = T::deserialize(FieldNames(&fields));
    fields.get().unwrap_or(&[])
}

struct FieldNames<'a>(&'a Cell<Option<&'static [&'static str]>>);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only the field names are read"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(Some(fields));
        Err(de::Error::custom("only the field names are read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

/// Deserializes `T` from a query string (`a=1&b=x`), reporting every problem at
/// `["query", field, ...]`.
///
/// Repeated keys are grouped: a sequence field takes every value (`tag=a&tag=b`), any other
/// field the last one.
pub(crate) fn from_query<T: DeserializeOwned>(query: &str) -> Result<T, Vec<InputError>> {
    let owned: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let pairs: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // `Query` tried its own fast path, straight from the borrowed query string, already.
    every_problem_of_pairs("query", &pairs, Repeated::Last)
}

/// Which value of a repeated key a single value takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeated {
    /// The first (headers: Starlette's `headers.get`).
    First,
    /// The last (query strings, forms, cookies: Starlette's multidicts and cookie dict).
    Last,
}

/// Deserializes `T` from `(key, value)` pairs read as a query string is (a form body, headers,
/// cookies), reporting every problem at `[source, field, ...]`. Repeated keys are grouped as
/// in [`from_query`], except that a single value is the one `repeated` says.
///
/// Good input takes the fast path, straight from the pairs; the every-problem search runs only
/// when that fails.
pub(crate) fn from_pairs<T, K, V>(
    source: &str,
    pairs: &[(K, V)],
    repeated: Repeated,
) -> Result<T, Vec<InputError>>
where
    T: DeserializeOwned,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let borrowed = pairs
        .iter()
        .map(|(k, v)| (Cow::Borrowed(k.as_ref()), Cow::Borrowed(v.as_ref())));
    if let Some(value) = fast::pairs_grouping(borrowed, repeated == Repeated::First) {
        return Ok(value);
    }
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    every_problem_of_pairs(source, &pairs, repeated)
}

/// [`from_pairs`] past its fast path (for an input that tried the fast path itself).
pub(crate) fn every_problem_of_pairs<T: DeserializeOwned>(
    source: &str,
    pairs: &[(&str, &str)],
    repeated: Repeated,
) -> Result<T, Vec<InputError>> {
    from_pairs_repaired(source, pairs, repeated).map_err(|(_, problems)| problems)
}

/// Deserializes `T` from a route's path parameters (`/notes/{id}`), reporting every problem
/// at `["path", name]`: a struct or map by name, a tuple in order, or, when the route has one
/// parameter, a single value.
pub(crate) fn from_path<T: DeserializeOwned>(
    params: &[(String, String)],
) -> Result<T, Vec<InputError>> {
    // Good parameters take the fast path; the search runs only when it gives up.
    if let Some(value) = fast::path(params) {
        return Ok(value);
    }
    every_problem_of_path(params)
}

/// A `Path<T>` whose shape does not fit its route (a tuple of 2 on `/posts/{id}`) is the app's
/// mistake: a generic 500, the reason logged, never a 422 that blames the client and tells it
/// the route's shape. Other problems are the client's, as they were.
#[cold]
pub(crate) fn misfit_path(problems: Vec<InputError>) -> Vec<InputError> {
    let Some(misfit) = misfit_of(&problems) else {
        return problems;
    };
    let reason =
        format!("the handler's `Path<T>` does not fit the route's path parameters: {misfit}");
    tracing::error!(target: "di", "{reason}");
    vec![InputError::rejection(HttpError::internal_from(
        std::io::Error::other(reason),
    ))]
}

/// Why a `Path<T>` does not fit its route, if one of `problems` says so (`expected 2 path
/// parameters, the route has 1`).
fn misfit_of(problems: &[InputError]) -> Option<&str> {
    problems
        .iter()
        .find(|p| p.loc().len() == 1 && p.msg().contains(path::ROUTE_HAS))
        .map(|misfit| misfit.msg().trim_start_matches("Value error, "))
}

/// Whether a `Path<T>` fits a route whose path parameters are `names`, in order; the reason
/// when it cannot: a tuple of 2 on a route with one parameter, which [`misfit_path`] would
/// otherwise find on every request, or a struct with a required field the path does not name,
/// which every request would be refused for. Run once, when the app is built, on empty values:
/// only `T`'s shape is looked at, and a `Deserialize` that panics on them is taken to fit.
pub(crate) fn path_fits<T: DeserializeOwned>(names: &[&str]) -> Result<(), String> {
    let params: Vec<(String, String)> = names
        .iter()
        .map(|name| ((*name).to_owned(), String::new()))
        .collect();
    let Ok(Err(problems)) = crate::panic::catch_call(|| every_problem_of_path::<T>(&params)) else {
        return Ok(());
    };
    if let Some(misfit) = misfit_of(&problems) {
        return Err(misfit.to_owned());
    }
    // Every parameter of the route has a value here: a field found missing is one the route
    // never has (a field with a default, or an `Option`, is not missing).
    let unnamed: Vec<String> = problems
        .iter()
        .filter(|p| p.type_name() == "missing")
        .filter_map(|p| match p.loc() {
            [_, serde_json::Value::String(field)] => Some(format!("`{field}`")),
            _ => None,
        })
        .collect();
    match unnamed.as_slice() {
        [] => Ok(()),
        [one] => Err(format!("its field {one} is not a parameter of the path")),
        many => Err(format!(
            "its fields {} are not parameters of the path",
            many.join(", ")
        )),
    }
}

/// [`from_path`] past its fast path.
fn every_problem_of_path<T: DeserializeOwned>(
    params: &[(String, String)],
) -> Result<T, Vec<InputError>> {
    let values: Vec<&str> = params.iter().map(|(_, v)| v.as_str()).collect();
    let groups: Vec<(&str, &[&str])> = params
        .iter()
        .zip(values.chunks(1))
        .map(|((k, _), value)| (k.as_str(), value))
        .collect();
    collect(
        "path",
        false,
        |at, out, limit| text_input(&groups, false, at, out, limit),
        || params.len(),
        |state| {
            let walk = Walk::new(state);
            let root = Root::new(&groups, PathLayout, &walk);
            T::deserialize(root).map_err(|e| e.at(&walk, 0))
        },
    )
}

/// Deserializes `T` from a parsed JSON body, reporting every problem at
/// `["body", field or index, ...]`.
pub(crate) fn from_json<T: DeserializeOwned>(value: &Tree) -> Result<T, Vec<InputError>> {
    from_json_repaired(value).map_err(|(_, problems)| problems)
}

/// [`from_json`], also giving back the repaired value of a body with problems.
pub(crate) fn from_json_repaired<T: DeserializeOwned>(value: &Tree) -> Result<T, Repaired<T>> {
    collect_repaired(
        "body",
        false,
        |at, out, limit| json_input(value, at, out, limit),
        || value.values(),
        |state| {
            let walk = Walk::new(state);
            T::deserialize(JsonDe::root(value, &walk))
                .map_err(|e| JsonDe::locate_root(value, &walk, e))
        },
    )
}

/// The repaired value of `(key, value)` pairs read as [`from_pairs`] reads them (a query
/// string, a form body) and their problems; `Ok` when they have none.
pub(crate) fn from_pairs_repaired<T: DeserializeOwned>(
    source: &str,
    pairs: &[(&str, &str)],
    repeated: Repeated,
) -> Result<T, Repaired<T>> {
    let first = repeated == Repeated::First;
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for &(key, value) in pairs {
        match index.get(key) {
            Some(&i) => groups[i].1.push(value),
            None => {
                index.insert(key, groups.len());
                groups.push((key, vec![value]));
            }
        }
    }
    let groups: Vec<(&str, &[&str])> = groups
        .iter()
        .map(|(key, values)| (*key, values.as_slice()))
        .collect();
    collect_repaired(
        source,
        first,
        |at, out, limit| text_input(&groups, first, at, out, limit),
        || pairs.len(),
        |state| {
            let walk = Walk::new(state);
            let root = Root::new(&groups, QueryLayout(pairs), &walk);
            T::deserialize(root).map_err(|e| e.at(&walk, 0))
        },
    )
}

/// The `input` of a problem of a query string or path parameters: the text at its location
/// (the last value of a repeated key, the first if `first`, or the one at its index), `null`
/// for a missing field; false, with nothing written, if it would be longer than `limit`.
fn text_input(
    groups: &[(&str, &[&str])],
    first: bool,
    at: InputRef<'_>,
    out: &mut String,
    limit: usize,
) -> bool {
    let text = match at {
        InputRef::Text(text) => Some(text),
        InputRef::Enclosing(_) => None,
        InputRef::Value(loc) => match loc {
            [Seg::Key(k), rest @ ..] => {
                let values = groups.iter().rev().find(|(key, _)| key == k);
                match (values, rest) {
                    (Some((_, values)), []) if first => values.first().copied(),
                    (Some((_, values)), []) => values.last().copied(),
                    (Some((_, values)), [Seg::Index(i)]) => values.get(*i).copied(),
                    _ => None,
                }
            }
            _ => None,
        },
    };
    match text {
        Some(text) => {
            if !push_json_str_within(out, text, limit) {
                return false;
            }
        }
        None => out.push_str("null"),
    }
    out.len() <= limit
}

/// The `input` of a problem of a JSON body: the value at its location (for a missing field,
/// the object it is missing from), as pydantic gives it; false, with `out` partly written,
/// as soon as it would be longer than `limit` (see [`Tree::write`]).
fn json_input(root: &Tree, at: InputRef<'_>, out: &mut String, limit: usize) -> bool {
    let loc = match at {
        InputRef::Text(text) => {
            return push_json_str_within(out, text, limit) && out.len() <= limit;
        }
        InputRef::Value(loc) | InputRef::Enclosing(loc) => loc,
    };
    let mut value = Some(root);
    for seg in loc {
        value = value.and_then(|v| match seg {
            Seg::Key(k) => v.get(k),
            Seg::Index(i) => v.at(*i),
        });
    }
    match value {
        Some(value) => value.write(out, limit),
        None => {
            out.push_str("null");
            out.len() <= limit
        }
    }
}

/// Runs `attempt` with more and more repairs until it succeeds or finds nothing new; the
/// problems found are reported in the order pydantic reports them, each with its `input`
/// written by `input` (false if it would pass the limit it is given). `first`: a single value
/// of a repeated key is its first.
fn collect<T>(
    source: &str,
    first: bool,
    input: impl Fn(InputRef<'_>, &mut String, usize) -> bool,
    values: impl FnOnce() -> usize,
    attempt: impl FnMut(&State) -> Result<T, Error>,
) -> Result<T, Vec<InputError>> {
    collect_repaired(source, first, input, values, attempt).map_err(|(_, problems)| problems)
}

/// A value deserialized from bad input with every problem repaired by a placeholder (`""`,
/// `0`, an empty list, ...), when the search got that far, and the problems.
pub(crate) type Repaired<T> = (Option<T>, Vec<InputError>);

/// [`collect`], also giving back the repaired value of bad input: the rules of a validated
/// input run on it, so that a broken rule is reported beside the problems (away from them:
/// a rule on a placeholder means nothing).
fn collect_repaired<T>(
    source: &str,
    first: bool,
    input: impl Fn(InputRef<'_>, &mut String, usize) -> bool,
    values: impl FnOnce() -> usize,
    mut attempt: impl FnMut(&State) -> Result<T, Error>,
) -> Result<T, Repaired<T>> {
    // The values attempts may visit: `WORK_BUDGET` beyond one whole walk of the input (see
    // there), the input's values counted only when the attempts have visited `WORK_BUDGET`.
    let mut values = Some(values);
    let mut budget = WORK_BUDGET;
    let mut state = State::default();
    state.first = first;
    let mut problems: Vec<Problem> = Vec::new();
    let mut repaired = None;
    let mut attempts = 0;
    // Whether attempts may leave out what earlier ones read without a problem, and whether
    // the next one must not (to give the value, or to check what one that did found).
    let mut scanning = true;
    let mut whole = true;
    loop {
        attempts += 1;
        state.scan.set(scanning && !whole);
        state.stack_base.set(problem::stack_here());
        let result = attempt(&state);
        let elided = state.elided.take();
        let mut errors = state.found.take();
        if let Err(error) = &result
            && !elided.is_empty()
        {
            let at = error.path.as_ref().map_or(&[][..], |p| p.loc.as_slice());
            if elided.iter().any(|seq| seq.starts_with(at)) {
                // Perhaps the elements left out made it: made again whole, from now on.
                state.cleaned.take();
                scanning = false;
                whole = true;
                attempts -= 1;
                continue;
            }
        }
        state.learn_clean();
        whole = false;
        let failed = result.is_err();
        let done = match result {
            Ok(value) if errors.is_empty() && state.is_empty() && elided.is_empty() => {
                return Ok(value);
            }
            Ok(_) if !elided.is_empty() => {
                // Not the value: the next attempt reads everything, to give it.
                whole = true;
                false
            }
            Ok(value) => {
                repaired = Some(value);
                true
            }
            Err(error) => {
                errors.push(error);
                false
            }
        };
        let mut progress = false;
        // The error that ended the attempt, last: when its repair was made already, the
        // placeholder there is refused, and is read after its siblings from now on.
        let ended = failed.then(|| errors.len() - 1);
        // A value nested past a bound is reported once: its siblings and the placeholder put
        // there are as deep, so each attempt would only find the bound again, beside it.
        let too_deep = errors.iter().any(Error::is_too_deep);
        for (i, error) in errors.into_iter().enumerate() {
            let refused_input = error.refused_input();
            let (problem, fix) = diagnose(error);
            let silent = state.is_consequence(&fix, refused_input);
            let again = (Some(i) == ended).then(|| fix.loc());
            let applied = state.apply(fix);
            progress |= applied;
            if !applied && let Some(loc) = again {
                progress |= state.stuck(&loc);
            }
            if !silent
                && problems.len() < MAX_PROBLEMS
                && !problems.iter().any(|p| p.loc == problem.loc)
            {
                problems.push(problem);
            }
        }
        if too_deep {
            break;
        }
        if whole {
            // The value of an attempt that left nothing out is what the search gives, its
            // bounds reached or not (one more walk of the input, as the first was).
            continue;
        }
        if state.work.get() > budget
            && let Some(values) = values.take()
        {
            budget = WORK_BUDGET.saturating_add(values());
        }
        if done
            || !progress
            || problems.len() >= MAX_PROBLEMS
            || attempts >= BASE_ATTEMPTS + problems.len()
            || state.work.get() > budget
        {
            break;
        }
    }
    if problems.is_empty() {
        // Not reachable in practice: the first error never lies under a placeholder.
        problems.push(Problem {
            loc: Vec::new(),
            rank: Vec::new(),
            typed: Typed::value_error("invalid input"),
            input: InputAt::Enclosing,
        });
    }
    // Stable: problems at the same rank keep the order they were found in.
    problems.sort_by(|a, b| a.rank.cmp(&b.rank));
    // The inputs together are bounded: past the bound, an input is sent as `null`. Each is
    // written within what is left of it, so that a body's many problems (missing fields of
    // one large object) do not each write it whole to find it too long.
    let mut budget = MAX_INPUT_TEXT;
    let problems = problems
        .into_iter()
        .map(|p| {
            // Room for a short input without growing it step by step.
            let mut text = String::with_capacity(64);
            if !input(p.input_ref(), &mut text, budget) {
                text = "null".to_owned();
            }
            budget = budget.saturating_sub(text.len());
            p.into_input_error(source, text)
        })
        .collect();
    Err((repaired, problems))
}
