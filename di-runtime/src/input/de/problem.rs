//! The problems of one input and the repairs that get the next attempt past them: locations
//! ([`Seg`], [`Loc`]), the error of an attempt ([`Error`]), the reported [`Problem`], the
//! [`Fix`] each error asks for ([`diagnose`]), the repairs made so far ([`State`]), and the
//! bounds that make every search end.
//!
//! Uses nothing else of the deserializer: every other file builds on this one.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de;

use crate::response::error::{InputError, LocPart};

/// Attempts allowed beyond one per reported problem: the budget for repairs that are not
/// reported (missing fields of placeholder structs, placeholders that cannot be built).
pub(super) const BASE_ATTEMPTS: usize = 32;
/// At most this many problems are reported for one input.
pub(super) const MAX_PROBLEMS: usize = 64;
/// Values visited by all attempts together after which no new attempt starts: a large body
/// with problems far apart is not walked again and again.
pub(super) const WORK_BUDGET: usize = 1 << 20;
/// Deepest nesting of values (containers, options, newtypes, placeholders) followed.
pub(super) const MAX_DEPTH: usize = 160;

/// One step of a location: an object key or an array index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// A location inside the input, outermost first.
pub(super) type Loc = Vec<Seg>;

pub(super) fn child(parent: &[Seg], seg: Seg) -> Loc {
    let mut loc = Vec::with_capacity(parent.len() + 1);
    loc.extend_from_slice(parent);
    loc.push(seg);
    loc
}

pub(super) fn key(parent: &[Seg], name: &str) -> Loc {
    child(parent, Seg::Key(name.to_owned()))
}

/// The error of one attempt.
#[derive(Debug)]
pub(super) struct Error {
    /// Where it happened; set by the innermost place that knows.
    pub(super) path: Option<Loc>,
    pub(super) msg: String,
    pub(super) kind: Kind,
}

#[derive(Debug)]
pub(super) enum Kind {
    /// A value that does not fit (type, range, custom validation, ...).
    Invalid,
    /// A struct lacks this field.
    Missing(&'static str),
    /// A struct does not accept this key.
    Unknown(String),
    /// This map key does not deserialize.
    Key(String),
}

impl Error {
    /// Sets the location if no inner deserializer did.
    pub(super) fn at(mut self, path: &[Seg]) -> Self {
        if self.path.is_none() {
            self.path = Some(path.to_vec());
        }
        self
    }

    pub(super) fn too_deep() -> Self {
        de::Error::custom("value is nested too deeply")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        Error {
            path: None,
            msg: msg.to_string(),
            kind: Kind::Invalid,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Error {
            path: None,
            msg: format!("missing field `{field}`"),
            kind: Kind::Missing(field),
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        // serde's own wording.
        let msg = <de::value::Error as de::Error>::unknown_field(field, expected).to_string();
        Error {
            path: None,
            msg,
            kind: Kind::Unknown(field.to_owned()),
        }
    }
}

/// A reported problem, before the source (`query`, `body`) is put in front of its location.
#[derive(Debug)]
pub(super) struct Problem {
    pub(super) loc: Loc,
    pub(super) msg: String,
    pub(super) kind: &'static str,
}

impl Problem {
    pub(super) fn into_input_error(self, source: &str) -> InputError {
        let mut loc = vec![LocPart::from(source)];
        loc.extend(self.loc.into_iter().map(|seg| match seg {
            Seg::Key(k) => LocPart::from(k),
            Seg::Index(i) => LocPart::from(i),
        }));
        InputError::new(loc, self.msg).kind(self.kind)
    }
}

/// How the next attempt gets past an error.
#[derive(Debug)]
pub(super) enum Fix {
    /// Answer this path with a placeholder.
    Phantom(Loc),
    /// Add this field, as a placeholder, to the struct at this path.
    Inject(Loc, &'static str),
    /// Leave out this entry of its map.
    Skip(Loc),
}

pub(super) fn diagnose(error: Error) -> (Problem, Fix) {
    let path = error.path.unwrap_or_default();
    match error.kind {
        Kind::Invalid => (
            Problem {
                loc: path.clone(),
                msg: error.msg,
                kind: "parse_error",
            },
            Fix::Phantom(path),
        ),
        Kind::Missing(field) => (
            Problem {
                loc: key(&path, field),
                msg: "field required".to_owned(),
                kind: "missing",
            },
            Fix::Inject(path, field),
        ),
        Kind::Unknown(name) => {
            let loc = key(&path, &name);
            (
                Problem {
                    loc: loc.clone(),
                    msg: error.msg,
                    kind: "extra_forbidden",
                },
                Fix::Skip(loc),
            )
        }
        Kind::Key(name) => {
            let loc = key(&path, &name);
            (
                Problem {
                    loc: loc.clone(),
                    msg: error.msg,
                    kind: "parse_error",
                },
                Fix::Skip(loc),
            )
        }
    }
}

/// The repairs made so far; read-only during an attempt.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Paths answered with a placeholder, including injected fields.
    phantoms: BTreeSet<Loc>,
    /// Struct path → fields injected into it, in the order they were found missing.
    injected: BTreeMap<Loc, Vec<&'static str>>,
    /// Map entries left out.
    skipped: BTreeSet<Loc>,
    /// Problems of the current attempt answered at once with a placeholder (see `mismatch!`).
    pub(super) found: RefCell<Vec<Error>>,
    /// Values visited by all attempts so far.
    pub(super) work: Cell<usize>,
}

impl State {
    pub(super) fn is_empty(&self) -> bool {
        self.phantoms.is_empty() && self.skipped.is_empty()
    }

    /// Counts one value visited.
    pub(super) fn tick(&self) {
        self.work.set(self.work.get().saturating_add(1));
    }

    /// Records a problem found at `path` during the attempt, to be answered with a
    /// placeholder; gives it back when the attempt has recorded enough of them.
    pub(super) fn record(&self, error: Error, path: &[Seg]) -> Option<Error> {
        let mut found = self.found.borrow_mut();
        if found.len() >= MAX_PROBLEMS {
            return Some(error);
        }
        found.push(error.at(path));
        None
    }

    pub(super) fn is_phantom(&self, path: &[Seg]) -> bool {
        !self.phantoms.is_empty() && self.phantoms.contains(path)
    }

    pub(super) fn injected(&self, path: &[Seg]) -> &[&'static str] {
        self.injected.get(path).map_or(&[], Vec::as_slice)
    }

    pub(super) fn is_skipped(&self, path: &[Seg]) -> bool {
        !self.skipped.is_empty() && self.skipped.contains(path)
    }

    /// Whether `path` or one of its ancestors is a placeholder.
    fn under_phantom(&self, path: &[Seg]) -> bool {
        (0..=path.len()).any(|n| self.is_phantom(&path[..n]))
    }

    /// Whether the error this fix answers was caused by an earlier repair rather than by the
    /// input: it lies under a placeholder, or at a struct that placeholder fields were
    /// injected into (a `flatten` or `try_from` struct sees those, not the input).
    pub(super) fn is_consequence(&self, fix: &Fix) -> bool {
        match fix {
            Fix::Phantom(path) => self.under_phantom(path) || self.injected.contains_key(path),
            Fix::Inject(path, field) => self.under_phantom(&key(path, field)),
            Fix::Skip(path) => self.under_phantom(path),
        }
    }

    /// Applies the fix; false if it was already applied (no progress).
    pub(super) fn apply(&mut self, fix: Fix) -> bool {
        match fix {
            Fix::Phantom(path) => self.phantoms.insert(path),
            Fix::Inject(path, field) => {
                if !self.phantoms.insert(key(&path, field)) {
                    return false;
                }
                self.injected.entry(path).or_default().push(field);
                true
            }
            Fix::Skip(path) => self.skipped.insert(path),
        }
    }
}
