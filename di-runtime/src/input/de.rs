//! Deserializers for [`Query`](crate::Query) and [`Json`](crate::Json) that report every
//! problem of an input, each with its location, not only the first one.
//!
//! A derived `Deserialize` stops at the first error. So the input is deserialized again and
//! again through a deserializer that knows the path it is at and a [`State`] of repairs made
//! so far:
//!
//! - an error at path `P` is recorded, and on the next attempt `P` is answered with a
//!   *placeholder* ([`Phantom`]) that deserializes into whatever is asked: `false`, `0`, `""`,
//!   `None`, an empty sequence, the first variant of an enum, a struct with no entries (its
//!   missing fields are then repaired in turn, without being reported);
//! - serde's "missing field `x`" at struct path `P` is recorded as `P.x`, "field required",
//!   and on the next attempt `x` is injected into that struct as a placeholder entry;
//! - an unknown field (`deny_unknown_fields`) or a bad map key at `P.k` is recorded, and the
//!   entry is skipped on the next attempt.
//!
//! Problems the deserializer sees by itself (a JSON string where a number is asked, a query
//! value that does not parse) need no new attempt: they are recorded and answered with a
//! placeholder at once. Only problems the visitor finds (missing fields, unknown variants,
//! out-of-range numbers, custom validation) cost an attempt each.
//!
//! This repeats until an attempt succeeds (with placeholders, so the recorded problems are
//! returned) or brings nothing new. A problem found under a placeholder is a consequence of an
//! earlier one and is repaired but not reported. Bounds, so that any type and any input
//! terminate quickly: at most [`MAX_PROBLEMS`] problems are reported; attempts are capped at
//! [`BASE_ATTEMPTS`] plus the number of problems reported; no attempt starts once all attempts
//! together have visited [`WORK_BUDGET`] values; nesting (including newtype recursion through
//! placeholders) is limited to [`MAX_DEPTH`] levels. When a bound stops the search, the
//! problems found so far are returned.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, Expected, MapAccess,
    SeqAccess, Unexpected, VariantAccess, Visitor,
};
use serde_json::{Map, Number, Value};

use crate::response::error::{InputError, LocPart};

/// Attempts allowed beyond one per reported problem: the budget for repairs that are not
/// reported (missing fields of placeholder structs, placeholders that cannot be built).
const BASE_ATTEMPTS: usize = 32;
/// At most this many problems are reported for one input.
const MAX_PROBLEMS: usize = 64;
/// Values visited by all attempts together after which no new attempt starts: a large body
/// with problems far apart is not walked again and again.
const WORK_BUDGET: usize = 1 << 20;
/// Deepest nesting of values (containers, options, newtypes, placeholders) followed.
const MAX_DEPTH: usize = 160;

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
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for &(key, value) in &pairs {
        match index.get(key) {
            Some(&i) => groups[i].1.push(value),
            None => {
                index.insert(key, groups.len());
                groups.push((key, vec![value]));
            }
        }
    }
    collect("query", |state| {
        let root = QueryRoot {
            pairs: &pairs,
            groups: &groups,
            state,
            depth: 0,
        };
        T::deserialize(root).map_err(|e| e.at(&[]))
    })
}

/// Deserializes `T` from a route's path parameters (`/notes/{id}`), reporting every problem
/// at `["path", name]`: a struct or map by name, a tuple in order, or, when the route has one
/// parameter, a single value.
pub(crate) fn from_path<T: DeserializeOwned>(
    params: &[(String, String)],
) -> Result<T, Vec<InputError>> {
    let values: Vec<&str> = params.iter().map(|(_, v)| v.as_str()).collect();
    let groups: Vec<(&str, &[&str])> = params
        .iter()
        .zip(values.chunks(1))
        .map(|((k, _), value)| (k.as_str(), value))
        .collect();
    collect("path", |state| {
        let root = PathRoot {
            groups: &groups,
            state,
            depth: 0,
        };
        T::deserialize(root).map_err(|e| e.at(&[]))
    })
}

/// Deserializes `T` from a parsed JSON body, reporting every problem at
/// `["body", field or index, ...]`.
pub(crate) fn from_json<T: DeserializeOwned>(value: &Value) -> Result<T, Vec<InputError>> {
    collect("body", |state| {
        T::deserialize(JsonDe::make(Some(value), Vec::new(), state, 0)).map_err(|e| e.at(&[]))
    })
}

/// Runs `attempt` with more and more repairs until it succeeds or finds nothing new.
fn collect<T>(
    source: &str,
    mut attempt: impl FnMut(&State) -> Result<T, Error>,
) -> Result<T, Vec<InputError>> {
    let mut state = State::default();
    let mut problems: Vec<Problem> = Vec::new();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = attempt(&state);
        let mut errors = state.found.take();
        let done = match result {
            Ok(value) if errors.is_empty() && state.is_empty() => return Ok(value),
            Ok(_) => true,
            Err(error) => {
                errors.push(error);
                false
            }
        };
        let mut progress = false;
        for error in errors {
            let (problem, fix) = diagnose(error);
            let silent = state.is_consequence(&fix);
            progress |= state.apply(fix);
            if !silent
                && problems.len() < MAX_PROBLEMS
                && !problems.iter().any(|p| p.loc == problem.loc)
            {
                problems.push(problem);
            }
        }
        if done
            || !progress
            || problems.len() >= MAX_PROBLEMS
            || attempts >= BASE_ATTEMPTS + problems.len()
            || state.work.get() > WORK_BUDGET
        {
            break;
        }
    }
    if problems.is_empty() {
        // Not reachable in practice: the first error never lies under a placeholder.
        problems.push(Problem {
            loc: Vec::new(),
            msg: "invalid input".to_owned(),
            kind: "parse_error",
        });
    }
    Err(problems
        .into_iter()
        .map(|p| p.into_input_error(source))
        .collect())
}

// ------------------------------------------------------------------ paths, errors, repairs

/// One step of a location: an object key or an array index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A location inside the input, outermost first.
type Loc = Vec<Seg>;

fn child(parent: &[Seg], seg: Seg) -> Loc {
    let mut loc = Vec::with_capacity(parent.len() + 1);
    loc.extend_from_slice(parent);
    loc.push(seg);
    loc
}

fn key(parent: &[Seg], name: &str) -> Loc {
    child(parent, Seg::Key(name.to_owned()))
}

/// The error of one attempt.
#[derive(Debug)]
struct Error {
    /// Where it happened; set by the innermost place that knows.
    path: Option<Loc>,
    msg: String,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
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
    fn at(mut self, path: &[Seg]) -> Self {
        if self.path.is_none() {
            self.path = Some(path.to_vec());
        }
        self
    }

    fn too_deep() -> Self {
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
struct Problem {
    loc: Loc,
    msg: String,
    kind: &'static str,
}

impl Problem {
    fn into_input_error(self, source: &str) -> InputError {
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
enum Fix {
    /// Answer this path with a placeholder.
    Phantom(Loc),
    /// Add this field, as a placeholder, to the struct at this path.
    Inject(Loc, &'static str),
    /// Leave out this entry of its map.
    Skip(Loc),
}

fn diagnose(error: Error) -> (Problem, Fix) {
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
struct State {
    /// Paths answered with a placeholder, including injected fields.
    phantoms: BTreeSet<Loc>,
    /// Struct path → fields injected into it, in the order they were found missing.
    injected: BTreeMap<Loc, Vec<&'static str>>,
    /// Map entries left out.
    skipped: BTreeSet<Loc>,
    /// Problems of the current attempt answered at once with a placeholder (see `mismatch!`).
    found: RefCell<Vec<Error>>,
    /// Values visited by all attempts so far.
    work: Cell<usize>,
}

impl State {
    fn is_empty(&self) -> bool {
        self.phantoms.is_empty() && self.skipped.is_empty()
    }

    /// Counts one value visited.
    fn tick(&self) {
        self.work.set(self.work.get().saturating_add(1));
    }

    /// Records a problem found at `path` during the attempt, to be answered with a
    /// placeholder; gives it back when the attempt has recorded enough of them.
    fn record(&self, error: Error, path: &[Seg]) -> Option<Error> {
        let mut found = self.found.borrow_mut();
        if found.len() >= MAX_PROBLEMS {
            return Some(error);
        }
        found.push(error.at(path));
        None
    }

    fn is_phantom(&self, path: &[Seg]) -> bool {
        !self.phantoms.is_empty() && self.phantoms.contains(path)
    }

    fn injected(&self, path: &[Seg]) -> &[&'static str] {
        self.injected.get(path).map_or(&[], Vec::as_slice)
    }

    fn is_skipped(&self, path: &[Seg]) -> bool {
        !self.skipped.is_empty() && self.skipped.contains(path)
    }

    /// Whether `path` or one of its ancestors is a placeholder.
    fn under_phantom(&self, path: &[Seg]) -> bool {
        (0..=path.len()).any(|n| self.is_phantom(&path[..n]))
    }

    /// Whether the error this fix answers was caused by an earlier repair rather than by the
    /// input: it lies under a placeholder, or at a struct that placeholder fields were
    /// injected into (a `flatten` or `try_from` struct sees those, not the input).
    fn is_consequence(&self, fix: &Fix) -> bool {
        match fix {
            Fix::Phantom(path) => self.under_phantom(path) || self.injected.contains_key(path),
            Fix::Inject(path, field) => self.under_phantom(&key(path, field)),
            Fix::Skip(path) => self.under_phantom(path),
        }
    }

    /// Applies the fix; false if it was already applied (no progress).
    fn apply(&mut self, fix: Fix) -> bool {
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

// ------------------------------------------------------------------ maps and sequences

/// A value deserializer that can be built for a child location: `raw` is the input there,
/// `None` for a placeholder.
trait Node<'s>: Sized {
    type Raw: Copy;
    fn make(raw: Option<Self::Raw>, path: Loc, state: &'s State, depth: usize) -> Self;
}

/// The entries of an object, a struct or a query string: real ones (in the order of the
/// struct's fields when there is one, then the others), then injected placeholders.
struct Entries<'s, N: Node<'s>> {
    items: std::vec::IntoIter<(&'s str, Option<N::Raw>)>,
    parent: Loc,
    state: &'s State,
    depth: usize,
    pending: Option<(Loc, Option<N::Raw>)>,
}

impl<'s, N: Node<'s>> Entries<'s, N> {
    fn new(
        mut items: Vec<(&'s str, Option<N::Raw>)>,
        fields: Option<&'static [&'static str]>,
        parent: Loc,
        state: &'s State,
        depth: usize,
    ) -> Self {
        if let Some(fields) = fields.filter(|_| items.len() > 1) {
            let mut order: HashMap<&str, usize> = HashMap::with_capacity(fields.len());
            for (i, &field) in fields.iter().enumerate() {
                order.entry(field).or_insert(i);
            }
            items.sort_by_key(|(k, _)| order.get(*k).copied().unwrap_or(usize::MAX));
        }
        for &name in state.injected(&parent) {
            if !items.iter().any(|(k, _)| *k == name) {
                items.push((name, None));
            }
        }
        Entries {
            items: items.into_iter(),
            parent,
            state,
            depth,
            pending: None,
        }
    }
}

impl<'de, 's, N> MapAccess<'de> for Entries<'s, N>
where
    N: Node<'s> + Deserializer<'de, Error = Error>,
{
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        for (name, raw) in self.items.by_ref() {
            let path = key(&self.parent, name);
            if self.state.is_skipped(&path) {
                continue;
            }
            let k = seed.deserialize(KeyDe(name)).map_err(|e| match e.kind {
                Kind::Invalid => Error {
                    path: Some(self.parent.clone()),
                    msg: e.msg,
                    kind: Kind::Key(name.to_owned()),
                },
                _ => e.at(&self.parent),
            })?;
            self.pending = Some((path, raw));
            return Ok(Some(k));
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((path, raw)) = self.pending.take() else {
            return Err(de::Error::custom("a map value was asked before its key"));
        };
        let node = N::make(raw, path.clone(), self.state, self.depth + 1);
        seed.deserialize(node).map_err(|e| e.at(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// The elements of an array, a repeated query key or a placeholder tuple.
struct Elements<'s, N: Node<'s>> {
    items: std::vec::IntoIter<Option<N::Raw>>,
    index: usize,
    parent: Loc,
    state: &'s State,
    depth: usize,
}

impl<'s, N: Node<'s>> Elements<'s, N> {
    fn new(items: Vec<Option<N::Raw>>, parent: Loc, state: &'s State, depth: usize) -> Self {
        Elements {
            items: items.into_iter(),
            index: 0,
            parent,
            state,
            depth,
        }
    }

    /// Visits the elements; like serde_json, elements the visitor left are an error.
    fn visit<'de, V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Error>
    where
        N: Deserializer<'de, Error = Error>,
    {
        let total = self.items.len();
        let value = visitor.visit_seq(&mut self)?;
        if self.items.len() == 0 {
            Ok(value)
        } else {
            Err(de::Error::invalid_length(total, &"fewer elements in array"))
        }
    }
}

impl<'de, 's, N> SeqAccess<'de> for Elements<'s, N>
where
    N: Node<'s> + Deserializer<'de, Error = Error>,
{
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(raw) = self.items.next() else {
            return Ok(None);
        };
        let path = child(&self.parent, Seg::Index(self.index));
        self.index += 1;
        let node = N::make(raw, path.clone(), self.state, self.depth + 1);
        seed.deserialize(node).map(Some).map_err(|e| e.at(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

// ------------------------------------------------------------------ placeholders

/// A placeholder value: deserializes into whatever is asked, as plainly as possible.
struct Phantom<'s> {
    path: Loc,
    state: &'s State,
    depth: usize,
}

impl<'s> Node<'s> for Phantom<'s> {
    type Raw = ();

    fn make(_: Option<()>, path: Loc, state: &'s State, depth: usize) -> Self {
        state.tick();
        Phantom { path, state, depth }
    }
}

impl Phantom<'_> {
    fn deeper(self) -> Self {
        Phantom {
            depth: self.depth + 1,
            ..self
        }
    }

    fn check(&self) -> Result<(), Error> {
        if self.depth > MAX_DEPTH {
            Err(Error::too_deep())
        } else {
            Ok(())
        }
    }
}

macro_rules! phantom_values {
    ($($method:ident => $visit:ident($value:expr);)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.check()?;
            visitor.$visit($value)
        }
    )*};
}

impl<'de> Deserializer<'de> for Phantom<'_> {
    type Error = Error;

    phantom_values! {
        deserialize_bool => visit_bool(false);
        deserialize_i8 => visit_i8(0);
        deserialize_i16 => visit_i16(0);
        deserialize_i32 => visit_i32(0);
        deserialize_i64 => visit_i64(0);
        deserialize_i128 => visit_i128(0);
        deserialize_u8 => visit_u8(0);
        deserialize_u16 => visit_u16(0);
        deserialize_u32 => visit_u32(0);
        deserialize_u64 => visit_u64(0);
        deserialize_u128 => visit_u128(0);
        deserialize_f32 => visit_f32(0.0);
        deserialize_f64 => visit_f64(0.0);
        deserialize_char => visit_char('\0');
        deserialize_str => visit_str("");
        deserialize_string => visit_str("");
        deserialize_identifier => visit_str("");
        deserialize_bytes => visit_bytes(&[]);
        deserialize_byte_buf => visit_bytes(&[]);
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.check()?;
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.check()?;
        visitor.visit_none()
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.check()?;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.check()?;
        visitor.visit_newtype_struct(self.deeper())
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_tuple(0, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        self.check()?;
        Elements::<Phantom<'_>>::new(vec![None; len], self.path, self.state, self.depth)
            .visit(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.check()?;
        visitor.visit_map(Entries::<Phantom<'_>>::new(
            Vec::new(),
            None,
            self.path,
            self.state,
            self.depth,
        ))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.check()?;
        let Some(&variant) = variants.first() else {
            return Err(de::Error::custom("an enum with no variants has no value"));
        };
        visitor.visit_enum(PhantomEnum {
            variant,
            phantom: self,
        })
    }
}

struct PhantomEnum<'s> {
    variant: &'static str,
    phantom: Phantom<'s>,
}

impl<'de, 's> EnumAccess<'de> for PhantomEnum<'s> {
    type Error = Error;
    type Variant = Phantom<'s>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Phantom<'s>), Error> {
        let value = seed.deserialize(StrDeserializer::<Error>::new(self.variant))?;
        let phantom = Phantom {
            path: key(&self.phantom.path, self.variant),
            state: self.phantom.state,
            depth: self.phantom.depth + 1,
        };
        Ok((value, phantom))
    }
}

/// The content of a placeholder enum's variant, at `enum path . variant`.
impl<'de> VariantAccess<'de> for Phantom<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        let path = self.path.clone();
        seed.deserialize(self).map_err(|e| e.at(&path))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        let path = self.path.clone();
        self.deserialize_tuple(len, visitor)
            .map_err(|e| e.at(&path))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let path = self.path.clone();
        self.deserialize_map(visitor).map_err(|e| e.at(&path))
    }
}

// ------------------------------------------------------------------ map keys

/// A map key (object key or query key): a string, parsed on demand into numbers and bools
/// as serde_json and serde_urlencoded do for keys.
struct KeyDe<'k>(&'k str);

macro_rules! parse_key {
    ($($method:ident => $visit:ident, $ty:ty;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.0.parse::<$ty>() {
                Ok(value) => visitor.$visit(value),
                Err(_) => Err(de::Error::invalid_type(Unexpected::Str(self.0), &visitor)),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for KeyDe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_str(self.0)
    }

    parse_key! {
        deserialize_bool => visit_bool, bool;
        deserialize_i8 => visit_i8, i8;
        deserialize_i16 => visit_i16, i16;
        deserialize_i32 => visit_i32, i32;
        deserialize_i64 => visit_i64, i64;
        deserialize_i128 => visit_i128, i128;
        deserialize_u8 => visit_u8, u8;
        deserialize_u16 => visit_u16, u16;
        deserialize_u32 => visit_u32, u32;
        deserialize_u64 => visit_u64, u64;
        deserialize_u128 => visit_u128, u128;
        deserialize_f32 => visit_f32, f32;
        deserialize_f64 => visit_f64, f64;
        deserialize_char => visit_char, char;
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_bytes(self.0.as_bytes())
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        StrDeserializer::<Error>::new(self.0).deserialize_enum(name, variants, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        str string identifier unit unit_struct seq tuple tuple_struct map struct
    }
}

// ------------------------------------------------------------------ JSON

/// A JSON value at `path` (or a placeholder there), deserialized like serde_json's `Value`
/// deserializes itself, but tracking the path.
struct JsonDe<'s> {
    /// `None`: a placeholder.
    value: Option<&'s Value>,
    path: Loc,
    state: &'s State,
    depth: usize,
}

impl<'s> Node<'s> for JsonDe<'s> {
    type Raw = &'s Value;

    fn make(raw: Option<&'s Value>, path: Loc, state: &'s State, depth: usize) -> Self {
        state.tick();
        let value = raw.filter(|_| !state.is_phantom(&path));
        JsonDe {
            value,
            path,
            state,
            depth,
        }
    }
}

impl<'s> JsonDe<'s> {
    fn phantom(self) -> Phantom<'s> {
        Phantom {
            path: self.path,
            state: self.state,
            depth: self.depth,
        }
    }

    fn deeper(self) -> Self {
        JsonDe {
            depth: self.depth + 1,
            ..self
        }
    }

    fn seq<'de, V: Visitor<'de>>(self, items: &'s [Value], visitor: V) -> Result<V::Value, Error> {
        let items = items.iter().map(Some).collect();
        Elements::<JsonDe<'s>>::new(items, self.path, self.state, self.depth).visit(visitor)
    }

    fn map<'de, V: Visitor<'de>>(
        self,
        map: &'s Map<String, Value>,
        fields: Option<&'static [&'static str]>,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let items = map.iter().map(|(k, v)| (k.as_str(), Some(v))).collect();
        visitor.visit_map(Entries::<JsonDe<'s>>::new(
            items, fields, self.path, self.state, self.depth,
        ))
    }
}

/// How serde_json names a value in "invalid type" errors (`null` for null).
fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Other("null"),
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Unexpected::Unsigned(u)
            } else if let Some(i) = n.as_i64() {
                Unexpected::Signed(i)
            } else {
                Unexpected::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

fn invalid(value: &Value, expected: &dyn Expected) -> Error {
    de::Error::invalid_type(unexpected(value), expected)
}

fn visit_number<'de, V: Visitor<'de>>(n: &Number, visitor: V) -> Result<V::Value, Error> {
    if let Some(u) = n.as_u64() {
        visitor.visit_u64(u)
    } else if let Some(i) = n.as_i64() {
        visitor.visit_i64(i)
    } else if let Some(f) = n.as_f64() {
        visitor.visit_f64(f)
    } else {
        Err(de::Error::invalid_type(
            Unexpected::Other("number"),
            &visitor,
        ))
    }
}

/// A problem this deserializer sees itself (the input has the wrong type for what is
/// asked): recorded, and answered at once with a placeholder, so that the attempt goes on.
/// Past [`MAX_PROBLEMS`] such problems, the attempt stops with this one.
macro_rules! mismatch {
    ($self:ident, $error:expr, $method:ident($($arg:expr),*)) => {{
        let error = $error;
        match $self.state.record(error, &$self.path) {
            None => $self.phantom().$method($($arg),*),
            Some(error) => Err(error),
        }
    }};
}

/// The JSON value, or the placeholder's answer to `$method` when this path is one.
macro_rules! real {
    ($self:ident, $method:ident($($arg:expr),*)) => {
        match $self.value {
            Some(_) if $self.depth > MAX_DEPTH => return Err(Error::too_deep()),
            Some(value) => value,
            None => return $self.phantom().$method($($arg),*),
        }
    };
}

macro_rules! json_numbers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match real!(self, $method(visitor)) {
                Value::Number(n) => visit_number(n, visitor),
                other => mismatch!(self, invalid(other, &visitor), $method(visitor)),
            }
        }
    )*};
}

macro_rules! json_strings {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match real!(self, $method(visitor)) {
                Value::String(s) => visitor.visit_str(s),
                other => mismatch!(self, invalid(other, &visitor), $method(visitor)),
            }
        }
    )*};
}

impl<'de, 's> Deserializer<'de> for JsonDe<'s> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match real!(self, deserialize_any(visitor)) {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => visit_number(n, visitor),
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => self.seq(items, visitor),
            Value::Object(map) => self.map(map, None, visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match real!(self, deserialize_bool(visitor)) {
            Value::Bool(b) => visitor.visit_bool(*b),
            other => mismatch!(self, invalid(other, &visitor), deserialize_bool(visitor)),
        }
    }

    json_numbers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }

    json_strings! {
        deserialize_char deserialize_str deserialize_string deserialize_identifier
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match real!(self, deserialize_bytes(visitor)) {
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => self.seq(items, visitor),
            other => mismatch!(self, invalid(other, &visitor), deserialize_bytes(visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match real!(self, deserialize_option(visitor)) {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self.deeper()),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match real!(self, deserialize_unit(visitor)) {
            Value::Null => visitor.visit_unit(),
            other => mismatch!(self, invalid(other, &visitor), deserialize_unit(visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        real!(self, deserialize_newtype_struct(name, visitor));
        visitor.visit_newtype_struct(self.deeper())
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match real!(self, deserialize_seq(visitor)) {
            Value::Array(items) => self.seq(items, visitor),
            other => mismatch!(self, invalid(other, &visitor), deserialize_seq(visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        match real!(self, deserialize_tuple(len, visitor)) {
            Value::Array(items) => self.seq(items, visitor),
            other => mismatch!(
                self,
                invalid(other, &visitor),
                deserialize_tuple(len, visitor)
            ),
        }
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        match real!(self, deserialize_tuple_struct(name, len, visitor)) {
            Value::Array(items) => self.seq(items, visitor),
            other => mismatch!(
                self,
                invalid(other, &visitor),
                deserialize_tuple_struct(name, len, visitor)
            ),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match real!(self, deserialize_map(visitor)) {
            Value::Object(map) => self.map(map, None, visitor),
            other => mismatch!(self, invalid(other, &visitor), deserialize_map(visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match real!(self, deserialize_struct(name, fields, visitor)) {
            Value::Object(map) => self.map(map, Some(fields), visitor),
            Value::Array(items) => self.seq(items, visitor),
            other => mismatch!(
                self,
                invalid(other, &visitor),
                deserialize_struct(name, fields, visitor)
            ),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let (variant, content) = match real!(self, deserialize_enum(name, variants, visitor)) {
            Value::String(s) => (s.as_str(), None),
            Value::Object(map) => match (map.len(), map.iter().next()) {
                (1, Some((k, v))) => (k.as_str(), Some(v)),
                _ => {
                    let error = de::Error::invalid_value(Unexpected::Map, &"map with a single key");
                    return mismatch!(self, error, deserialize_enum(name, variants, visitor));
                }
            },
            other => {
                let error = invalid(other, &"string or map");
                return mismatch!(self, error, deserialize_enum(name, variants, visitor));
            }
        };
        visitor.visit_enum(JsonEnum {
            variant,
            content,
            json: self,
        })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

/// An enum in JSON: `"Variant"`, or `{"Variant": content}` with the content at
/// `enum path . Variant`.
struct JsonEnum<'s> {
    variant: &'s str,
    content: Option<&'s Value>,
    json: JsonDe<'s>,
}

impl<'de, 's> EnumAccess<'de> for JsonEnum<'s> {
    type Error = Error;
    type Variant = JsonVariant<'s>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, JsonVariant<'s>), Error> {
        let value = seed.deserialize(StrDeserializer::<Error>::new(self.variant))?;
        let content = self.content.map(|content| {
            JsonDe::make(
                Some(content),
                key(&self.json.path, self.variant),
                self.json.state,
                self.json.depth + 1,
            )
        });
        Ok((value, JsonVariant { content }))
    }
}

struct JsonVariant<'s> {
    /// `None` for the string form, which has no content.
    content: Option<JsonDe<'s>>,
}

impl<'de> VariantAccess<'de> for JsonVariant<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.content {
            None => Ok(()),
            Some(content) => {
                let path = content.path.clone();
                <() as de::Deserialize>::deserialize(content).map_err(|e| e.at(&path))
            }
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.content {
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"newtype variant",
            )),
            Some(content) => {
                let path = content.path.clone();
                seed.deserialize(content).map_err(|e| e.at(&path))
            }
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.content {
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"tuple variant",
            )),
            Some(content) => {
                let path = content.path.clone();
                content
                    .deserialize_tuple(len, visitor)
                    .map_err(|e| e.at(&path))
            }
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.content {
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"struct variant",
            )),
            Some(content) => {
                let path = content.path.clone();
                content
                    .deserialize_struct("", fields, visitor)
                    .map_err(|e| e.at(&path))
            }
        }
    }
}

// ------------------------------------------------------------------ query strings

/// The whole query string: a map (or struct) of keys to their values, or a sequence of
/// `(key, value)` pairs.
struct QueryRoot<'s> {
    pairs: &'s [(&'s str, &'s str)],
    groups: &'s [(&'s str, Vec<&'s str>)],
    state: &'s State,
    depth: usize,
}

impl<'s> QueryRoot<'s> {
    /// The placeholder to answer with, when the whole query is one.
    fn phantom(&self) -> Option<Phantom<'s>> {
        self.state.is_phantom(&[]).then(|| Phantom {
            path: Vec::new(),
            state: self.state,
            depth: self.depth,
        })
    }

    fn entries(&self, fields: Option<&'static [&'static str]>) -> Entries<'s, QueryValue<'s>> {
        let items = self
            .groups
            .iter()
            .map(|(k, values)| (*k, Some(values.as_slice())))
            .collect();
        Entries::new(items, fields, Vec::new(), self.state, self.depth)
    }
}

/// Scalars and the like are asked of a map: the visitor rejects it with serde's message.
macro_rules! query_root_as_map {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.phantom() {
                Some(phantom) => phantom.$method(visitor),
                None => self.deserialize_map(visitor),
            }
        }
    )*};
}

impl<'de, 's> Deserializer<'de> for QueryRoot<'s> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_map(visitor),
            None => visitor.visit_map(self.entries(None)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_struct(name, fields, visitor),
            None => visitor.visit_map(self.entries(Some(fields))),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_seq(visitor),
            None => visitor.visit_seq(Pairs {
                pairs: self.pairs.iter(),
                state: self.state,
                depth: self.depth,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_option(visitor),
            None => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if self.depth > MAX_DEPTH {
            return Err(Error::too_deep());
        }
        match self.phantom() {
            Some(phantom) => phantom.deserialize_newtype_struct(name, visitor),
            None => visitor.visit_newtype_struct(QueryRoot {
                depth: self.depth + 1,
                ..self
            }),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_unit(visitor),
            None if self.pairs.is_empty() => visitor.visit_unit(),
            None => Err(de::Error::invalid_type(Unexpected::Map, &visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_tuple(len, visitor),
            None => self.deserialize_map(visitor),
        }
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_tuple_struct(name, len, visitor),
            None => self.deserialize_map(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_enum(name, variants, visitor),
            None => self.deserialize_map(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    query_root_as_map! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_identifier
    }
}

/// The query as a sequence of `(key, value)` pairs, in order, each at `[key]`.
struct Pairs<'s> {
    pairs: std::slice::Iter<'s, (&'s str, &'s str)>,
    state: &'s State,
    depth: usize,
}

impl<'de> SeqAccess<'de> for Pairs<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some((name, value)) = self.pairs.next() else {
            return Ok(None);
        };
        let path = key(&[], name);
        let value = QueryValue::make(
            Some(std::slice::from_ref(value)),
            path.clone(),
            self.state,
            self.depth + 2,
        );
        let pair = Pair {
            name: Some(name),
            value: Some(value),
        };
        seed.deserialize(pair).map(Some).map_err(|e| e.at(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.pairs.len())
    }
}

/// One `(key, value)` pair: a sequence of two.
struct Pair<'s> {
    name: Option<&'s str>,
    value: Option<QueryValue<'s>>,
}

impl<'de> Deserializer<'de> for Pair<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de> SeqAccess<'de> for Pair<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if let Some(name) = self.name.take() {
            return seed.deserialize(KeyDe(name)).map(Some);
        }
        match self.value.take() {
            Some(value) => seed.deserialize(value).map(Some),
            None => Ok(None),
        }
    }
}

// ------------------------------------------------------------------ path parameters

/// A route's path parameters: a map (or struct) by name, a tuple in order, or the one
/// parameter's value.
struct PathRoot<'s> {
    groups: &'s [(&'s str, &'s [&'s str])],
    state: &'s State,
    depth: usize,
}

impl<'s> PathRoot<'s> {
    /// The placeholder to answer with, when the whole input is one.
    fn phantom(&self) -> Option<Phantom<'s>> {
        self.state.is_phantom(&[]).then(|| Phantom {
            path: Vec::new(),
            state: self.state,
            depth: self.depth,
        })
    }

    fn value(&self, (name, value): (&'s str, &'s [&'s str])) -> QueryValue<'s> {
        QueryValue::make(Some(value), key(&[], name), self.state, self.depth + 1)
    }

    /// The parameters by name (in the struct's field order when there is one).
    fn entries(&self, fields: Option<&'static [&'static str]>) -> Entries<'s, QueryValue<'s>> {
        let items = self.groups.iter().map(|(k, v)| (*k, Some(*v))).collect();
        Entries::new(items, fields, Vec::new(), self.state, self.depth)
    }

    /// The only parameter, for a single value.
    fn single(&self) -> Result<QueryValue<'s>, Error> {
        match self.groups {
            [only] => Ok(self.value(*only)),
            _ => Err(de::Error::custom(format!(
                "expected 1 path parameter, the route has {}",
                self.groups.len()
            ))),
        }
    }
}

/// A single value is asked: the route's one parameter gives it.
macro_rules! path_root_as_single {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.phantom() {
                Some(phantom) => phantom.$method(visitor),
                None => {
                    let value = self.single()?;
                    let path = value.path.clone();
                    value.$method(visitor).map_err(|e| e.at(&path))
                }
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for PathRoot<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_map(visitor),
            None => visitor.visit_map(self.entries(None)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_struct(name, fields, visitor),
            None => visitor.visit_map(self.entries(Some(fields))),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_seq(visitor),
            None => visitor.visit_seq(Positional {
                groups: self.groups.iter(),
                root: &self,
            }),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_tuple(len, visitor),
            None if len != self.groups.len() => Err(de::Error::custom(format!(
                "expected {len} path parameters, the route has {}",
                self.groups.len()
            ))),
            None => self.deserialize_seq(visitor),
        }
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if self.depth > MAX_DEPTH {
            return Err(Error::too_deep());
        }
        match self.phantom() {
            Some(phantom) => phantom.deserialize_newtype_struct(name, visitor),
            None => visitor.visit_newtype_struct(PathRoot {
                depth: self.depth + 1,
                ..self
            }),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_enum(name, variants, visitor),
            None => {
                let value = self.single()?;
                let path = value.path.clone();
                value
                    .deserialize_enum(name, variants, visitor)
                    .map_err(|e| e.at(&path))
            }
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    path_root_as_single! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_identifier
        deserialize_option deserialize_unit
    }
}

/// The path parameters in order, each located by its name.
struct Positional<'r, 's> {
    groups: std::slice::Iter<'s, (&'s str, &'s [&'s str])>,
    root: &'r PathRoot<'s>,
}

impl<'de> SeqAccess<'de> for Positional<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(group) = self.groups.next() else {
            return Ok(None);
        };
        let value = self.root.value(*group);
        let path = value.path.clone();
        seed.deserialize(value).map(Some).map_err(|e| e.at(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.groups.len())
    }
}

/// The values of one query key (or a placeholder), parsed on demand into what is asked.
struct QueryValue<'s> {
    /// The values, never empty; `None`: a placeholder.
    value: Option<&'s [&'s str]>,
    path: Loc,
    state: &'s State,
    depth: usize,
}

impl<'s> Node<'s> for QueryValue<'s> {
    type Raw = &'s [&'s str];

    fn make(raw: Option<&'s [&'s str]>, path: Loc, state: &'s State, depth: usize) -> Self {
        state.tick();
        let value = raw.filter(|v| !v.is_empty() && !state.is_phantom(&path));
        QueryValue {
            value,
            path,
            state,
            depth,
        }
    }
}

impl<'s> QueryValue<'s> {
    fn phantom(self) -> Phantom<'s> {
        Phantom {
            path: self.path,
            state: self.state,
            depth: self.depth,
        }
    }

    fn deeper(self) -> Self {
        QueryValue {
            depth: self.depth + 1,
            ..self
        }
    }

    fn seq<'de, V: Visitor<'de>>(
        self,
        values: &'s [&'s str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let items = values
            .iter()
            .map(|v| Some(std::slice::from_ref(v)))
            .collect();
        Elements::<QueryValue<'s>>::new(items, self.path, self.state, self.depth).visit(visitor)
    }
}

/// The value a scalar takes: the last of a repeated key.
fn last<'s>(values: &[&'s str]) -> &'s str {
    values.last().copied().unwrap_or_default()
}

macro_rules! query_parse {
    ($($method:ident => $visit:ident, $ty:ty, $what:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let raw = last(real!(self, $method(visitor)));
            match raw.parse::<$ty>() {
                Ok(value) => visitor.$visit(value),
                Err(_) => {
                    let error = de::Error::custom(concat!("value is not a valid ", $what));
                    mismatch!(self, error, $method(visitor))
                }
            }
        }
    )*};
}

macro_rules! query_as_str {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let raw = last(real!(self, $method(visitor)));
            visitor.visit_str(raw)
        }
    )*};
}

impl<'de> Deserializer<'de> for QueryValue<'_> {
    type Error = Error;

    query_parse! {
        deserialize_bool => visit_bool, bool, "boolean";
        deserialize_i8 => visit_i8, i8, "integer";
        deserialize_i16 => visit_i16, i16, "integer";
        deserialize_i32 => visit_i32, i32, "integer";
        deserialize_i64 => visit_i64, i64, "integer";
        deserialize_i128 => visit_i128, i128, "integer";
        deserialize_u8 => visit_u8, u8, "non-negative integer";
        deserialize_u16 => visit_u16, u16, "non-negative integer";
        deserialize_u32 => visit_u32, u32, "non-negative integer";
        deserialize_u64 => visit_u64, u64, "non-negative integer";
        deserialize_u128 => visit_u128, u128, "non-negative integer";
        deserialize_f32 => visit_f32, f32, "number";
        deserialize_f64 => visit_f64, f64, "number";
        deserialize_char => visit_char, char, "single character";
    }

    query_as_str! {
        deserialize_any deserialize_str deserialize_string deserialize_identifier
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let raw = last(real!(self, deserialize_bytes(visitor)));
        visitor.visit_bytes(raw.as_bytes())
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        real!(self, deserialize_option(visitor));
        visitor.visit_some(self.deeper())
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        real!(self, deserialize_newtype_struct(name, visitor));
        visitor.visit_newtype_struct(self.deeper())
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let values = real!(self, deserialize_seq(visitor));
        self.seq(values, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        let values = real!(self, deserialize_tuple(len, visitor));
        self.seq(values, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let values = real!(self, deserialize_tuple_struct(name, len, visitor));
        self.seq(values, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let raw = last(real!(self, deserialize_enum(name, variants, visitor)));
        StrDeserializer::<Error>::new(raw).deserialize_enum(name, variants, visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let raw = last(real!(self, deserialize_unit(visitor)));
        visitor.visit_str(raw)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let raw = last(real!(self, deserialize_unit_struct(name, visitor)));
        visitor.visit_str(raw)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let raw = last(real!(self, deserialize_map(visitor)));
        visitor.visit_str(raw)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let raw = last(real!(self, deserialize_struct(name, fields, visitor)));
        visitor.visit_str(raw)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    fn path<T: DeserializeOwned>(params: &[(&str, &str)]) -> Result<T, Value> {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        from_path(&params).map_err(|errors| {
            Value::Array(
                errors
                    .iter()
                    .map(|e| json!({"loc": e.loc(), "msg": e.msg()}))
                    .collect(),
            )
        })
    }

    #[test]
    fn path_parameters_single_tuple_and_struct() {
        assert_eq!(path::<i64>(&[("id", "7")]), Ok(7));
        assert_eq!(path::<String>(&[("name", "a b")]), Ok("a b".to_owned()));
        assert_eq!(
            path::<(u32, String)>(&[("id", "3"), ("slug", "x")]),
            Ok((3, "x".to_owned()))
        );

        #[derive(Debug, PartialEq, serde::Deserialize)]
        struct Params {
            user: u32,
            item: u32,
        }
        assert_eq!(
            path::<Params>(&[("item", "2"), ("user", "1")]),
            Ok(Params { user: 1, item: 2 })
        );
    }

    #[test]
    fn every_bad_path_parameter_is_reported_by_name() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code, reason = "deserialized only")]
        struct Params {
            user: u32,
            item: u32,
        }
        assert_eq!(
            path::<Params>(&[("user", "x"), ("item", "-1")]).unwrap_err(),
            json!([
                {"loc": ["path", "user"], "msg": "value is not a valid non-negative integer"},
                {"loc": ["path", "item"], "msg": "value is not a valid non-negative integer"}
            ])
        );
        assert_eq!(
            path::<(u32, i64)>(&[("a", "x"), ("b", "y")]).unwrap_err(),
            json!([
                {"loc": ["path", "a"], "msg": "value is not a valid non-negative integer"},
                {"loc": ["path", "b"], "msg": "value is not a valid integer"}
            ])
        );
        assert_eq!(
            path::<i64>(&[("id", "abc")]).unwrap_err(),
            json!([{"loc": ["path", "id"], "msg": "value is not a valid integer"}])
        );
    }

    #[test]
    fn a_path_type_that_does_not_fit_the_route_is_one_problem() {
        assert_eq!(
            path::<i64>(&[("a", "1"), ("b", "2")]).unwrap_err(),
            json!([{"loc": ["path"], "msg": "expected 1 path parameter, the route has 2"}])
        );
        assert_eq!(
            path::<(i64, i64, i64)>(&[("a", "1"), ("b", "2")]).unwrap_err(),
            json!([{"loc": ["path"], "msg": "expected 3 path parameters, the route has 2"}])
        );
    }
    use std::collections::HashMap;

    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::response::error::HttpError;

    /// The `detail` of the 422 these problems make.
    fn detail(errors: Vec<InputError>) -> Value {
        HttpError::invalid_input(errors).detail().clone()
    }

    fn body<T: DeserializeOwned>(value: Value) -> Result<T, Value> {
        from_json(&value).map_err(detail)
    }

    fn query<T: DeserializeOwned>(query: &str) -> Result<T, Value> {
        from_query(query).map_err(detail)
    }

    fn problems<T>(result: Result<T, Value>) -> Value {
        match result {
            Ok(_) => panic!("expected problems"),
            Err(detail) => detail,
        }
    }

    fn locs(detail: &Value) -> Vec<Value> {
        detail
            .as_array()
            .expect("a list of problems")
            .iter()
            .map(|p| p["loc"].clone())
            .collect()
    }

    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    struct NewNote {
        title: String,
        priority: u8,
        body: String,
        due: Option<u32>,
    }

    #[test]
    fn two_invalid_fields_and_a_missing_one_are_all_reported_in_field_order() {
        let detail = problems(body::<NewNote>(json!({"priority": "high", "title": 5})));
        assert_eq!(
            detail,
            json!([
                {"loc": ["body", "title"], "msg": "invalid type: integer `5`, expected a string", "type": "parse_error"},
                {"loc": ["body", "priority"], "msg": "invalid type: string \"high\", expected u8", "type": "parse_error"},
                {"loc": ["body", "body"], "msg": "field required", "type": "missing"},
            ])
        );
    }

    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    struct Page {
        limit: u32,
        offset: i64,
        q: Option<String>,
        sort: String,
    }

    #[test]
    fn query_reports_every_bad_and_missing_field() {
        let detail = problems(query::<Page>("offset=x&limit=-1&q=hi"));
        assert_eq!(
            detail,
            json!([
                {"loc": ["query", "limit"], "msg": "value is not a valid non-negative integer", "type": "parse_error"},
                {"loc": ["query", "offset"], "msg": "value is not a valid integer", "type": "parse_error"},
                {"loc": ["query", "sort"], "msg": "field required", "type": "missing"},
            ])
        );
        let page = query::<Page>("limit=5&offset=-2&sort=title%20asc").expect("valid");
        assert_eq!(
            (
                page.limit,
                page.offset,
                page.q.as_deref(),
                page.sort.as_str()
            ),
            (5, -2, None, "title asc")
        );
    }

    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    struct Order {
        customer: Customer,
        items: Vec<Item>,
    }

    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    struct Customer {
        name: String,
        address: Address,
    }

    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    struct Address {
        city: String,
        zip: u32,
    }

    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    struct Item {
        name: String,
        qty: u32,
    }

    #[test]
    fn nested_structs_and_arrays_give_nested_locations() {
        let detail = problems(body::<Order>(json!({
            "customer": {"name": "Ann", "address": {"city": 7, "zip": "x"}},
            "items": [{"name": "a", "qty": 1}, {"name": "b", "qty": -1}, {"qty": 2}],
        })));
        assert_eq!(
            detail,
            json!([
                {"loc": ["body", "customer", "address", "city"], "msg": "invalid type: integer `7`, expected a string", "type": "parse_error"},
                {"loc": ["body", "customer", "address", "zip"], "msg": "invalid type: string \"x\", expected u32", "type": "parse_error"},
                {"loc": ["body", "items", 1, "qty"], "msg": "invalid value: integer `-1`, expected u32", "type": "parse_error"},
                {"loc": ["body", "items", 2, "name"], "msg": "field required", "type": "missing"},
            ])
        );
    }

    #[test]
    fn a_missing_or_mistyped_struct_is_one_problem_not_one_per_inner_field() {
        let detail = problems(body::<Order>(json!({"items": []})));
        assert_eq!(
            detail,
            json!([{"loc": ["body", "customer"], "msg": "field required", "type": "missing"}])
        );
        let detail = problems(body::<Order>(json!({"customer": "Ann", "items": "none"})));
        assert_eq!(
            detail,
            json!([
                {"loc": ["body", "customer"], "msg": "invalid type: string \"Ann\", expected struct Customer", "type": "parse_error"},
                {"loc": ["body", "items"], "msg": "invalid type: string \"none\", expected a sequence", "type": "parse_error"},
            ])
        );
        let detail = problems(body::<Order>(json!({})));
        assert_eq!(
            locs(&detail),
            [json!(["body", "customer"]), json!(["body", "items"])]
        );
    }

    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    struct Filter {
        limit: Option<u32>,
        tag: Option<String>,
        n: u8,
    }

    #[test]
    fn option_fields_may_be_absent_or_null_but_not_invalid() {
        let filter = body::<Filter>(json!({"n": 1})).expect("valid");
        assert_eq!((filter.limit, filter.tag), (None, None));
        let filter = body::<Filter>(json!({"limit": null, "tag": "t", "n": 1})).expect("valid");
        assert_eq!((filter.limit, filter.tag.as_deref()), (None, Some("t")));
        assert_eq!(
            locs(&problems(body::<Filter>(json!({"limit": "x", "tag": 3})))),
            [
                json!(["body", "limit"]),
                json!(["body", "tag"]),
                json!(["body", "n"])
            ]
        );

        let filter = query::<Filter>("n=2").expect("valid");
        assert_eq!((filter.limit, filter.tag, filter.n), (None, None, 2));
        let filter = query::<Filter>("n=2&limit=7&tag=").expect("valid");
        assert_eq!((filter.limit, filter.tag.as_deref()), (Some(7), Some("")));
        assert_eq!(
            problems(query::<Filter>("limit=&n=300")),
            json!([
                {"loc": ["query", "limit"], "msg": "value is not a valid non-negative integer", "type": "parse_error"},
                {"loc": ["query", "n"], "msg": "value is not a valid non-negative integer", "type": "parse_error"},
            ])
        );
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Color {
        Red,
        Green,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Shape {
        Circle { r: f64 },
        Square(f64),
        Dot,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Paint {
        color: Color,
        shape: Shape,
        coats: u8,
    }

    #[test]
    fn enums_report_unknown_variants_and_problems_inside_variants() {
        let detail = problems(body::<Paint>(json!({
            "color": "Purple",
            "shape": {"Circle": {"r": "big"}},
            "coats": "two",
        })));
        assert_eq!(
            detail,
            json!([
                {"loc": ["body", "color"], "msg": "unknown variant `Purple`, expected `Red` or `Green`", "type": "parse_error"},
                {"loc": ["body", "shape", "Circle", "r"], "msg": "invalid type: string \"big\", expected f64", "type": "parse_error"},
                {"loc": ["body", "coats"], "msg": "invalid type: string \"two\", expected u8", "type": "parse_error"},
            ])
        );
        assert_eq!(
            locs(&problems(body::<Paint>(
                json!({"color": 1, "shape": {"Circle": {}}})
            ))),
            [
                json!(["body", "color"]),
                json!(["body", "shape", "Circle", "r"]),
                json!(["body", "coats"])
            ]
        );
        assert_eq!(
            body::<Paint>(json!({"color": "Green", "shape": {"Square": 2.0}, "coats": 1})),
            Ok(Paint {
                color: Color::Green,
                shape: Shape::Square(2.0),
                coats: 1
            })
        );
        assert_eq!(
            body::<Paint>(json!({"color": "Red", "shape": "Dot", "coats": 0})),
            Ok(Paint {
                color: Color::Red,
                shape: Shape::Dot,
                coats: 0
            })
        );

        #[derive(Debug, Deserialize)]
        struct Pick {
            #[allow(dead_code, reason = "deserialized only")]
            color: Color,
            #[allow(dead_code, reason = "deserialized only")]
            n: u8,
        }
        assert_eq!(
            locs(&problems(query::<Pick>("color=Blue&n=x"))),
            [json!(["query", "color"]), json!(["query", "n"])]
        );
        assert_eq!(
            query::<Pick>("color=Green&n=1").map(|p| p.color),
            Ok(Color::Green)
        );
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(default)]
    struct Settings {
        page: u32,
        size: u32,
        name: String,
    }

    impl Default for Settings {
        fn default() -> Self {
            Settings {
                page: 1,
                size: 20,
                name: "x".to_owned(),
            }
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Mixed {
        #[serde(default)]
        verbose: bool,
        level: u8,
    }

    #[test]
    fn serde_default_fields_are_not_required() {
        assert_eq!(body::<Settings>(json!({})), Ok(Settings::default()));
        assert_eq!(query::<Settings>(""), Ok(Settings::default()));
        assert_eq!(
            locs(&problems(body::<Settings>(
                json!({"size": "big", "page": -1})
            ))),
            [json!(["body", "page"]), json!(["body", "size"])]
        );
        assert_eq!(
            problems(body::<Mixed>(json!({}))),
            json!([{"loc": ["body", "level"], "msg": "field required", "type": "missing"}])
        );
        assert_eq!(
            query::<Mixed>("level=3"),
            Ok(Mixed {
                verbose: false,
                level: 3
            })
        );
    }

    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        name: String,
        age: u8,
    }

    #[test]
    fn unknown_fields_are_reported_with_deny_unknown_fields() {
        let detail = problems(body::<Strict>(
            json!({"name": 1, "nick": "x", "extra": 2, "age": 3}),
        ));
        assert_eq!(
            detail,
            json!([
                {"loc": ["body", "name"], "msg": "invalid type: integer `1`, expected a string", "type": "parse_error"},
                {"loc": ["body", "extra"], "msg": "unknown field `extra`, expected `name` or `age`", "type": "extra_forbidden"},
                {"loc": ["body", "nick"], "msg": "unknown field `nick`, expected `name` or `age`", "type": "extra_forbidden"},
            ])
        );
        assert_eq!(
            locs(&problems(query::<Strict>("zzz=1&name=a"))),
            [json!(["query", "zzz"]), json!(["query", "age"])]
        );
        assert!(body::<Strict>(json!({"name": "a", "age": 3})).is_ok());
    }

    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    struct Id(u32);

    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    struct Wrapped(Page);

    #[test]
    fn newtypes_tuples_and_plain_values_at_the_top_level() {
        assert_eq!(
            problems(body::<(u32, String, bool)>(json!(["a", 5, true]))),
            json!([
                {"loc": ["body", 0], "msg": "invalid type: string \"a\", expected u32", "type": "parse_error"},
                {"loc": ["body", 1], "msg": "invalid type: integer `5`, expected a string", "type": "parse_error"},
            ])
        );
        assert_eq!(
            body::<(u32, String, bool)>(json!([1, "a", true])),
            Ok((1, "a".to_owned(), true))
        );
        assert_eq!(
            problems(body::<Id>(json!("x"))),
            json!([{"loc": ["body"], "msg": "invalid type: string \"x\", expected u32", "type": "parse_error"}])
        );
        assert_eq!(body::<Id>(json!(4)).map(|id| id.0), Ok(4));
        assert_eq!(
            problems(body::<String>(json!(5))),
            json!([{"loc": ["body"], "msg": "invalid type: integer `5`, expected a string", "type": "parse_error"}])
        );
        assert_eq!(body::<String>(json!("hi")), Ok("hi".to_owned()));
        assert_eq!(
            problems(body::<(u32, u32)>(json!([1, 2, 3]))),
            json!([{"loc": ["body"], "msg": "invalid length 3, expected fewer elements in array", "type": "parse_error"}])
        );
        assert_eq!(body::<Option<u8>>(json!(null)), Ok(None));
        assert_eq!(body::<Option<u8>>(json!(3)), Ok(Some(3)));
        assert_eq!(
            body::<Value>(json!({"a": [1, null]})),
            Ok(json!({"a": [1, null]}))
        );

        assert_eq!(
            locs(&problems(query::<Wrapped>("limit=x&offset=1"))),
            [json!(["query", "limit"]), json!(["query", "sort"])]
        );
        assert_eq!(
            query::<Vec<(String, String)>>("a=1&b=2&a=3"),
            Ok(vec![
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "2".to_owned()),
                ("a".to_owned(), "3".to_owned()),
            ])
        );
        assert_eq!(
            problems(query::<HashMap<String, u32>>("a=1&b=x")),
            json!([{"loc": ["query", "b"], "msg": "value is not a valid non-negative integer", "type": "parse_error"}])
        );
        assert_eq!(query::<()>(""), Ok(()));
    }

    #[test]
    fn bad_map_keys_are_reported_and_skipped() {
        assert_eq!(
            problems(body::<HashMap<u32, u8>>(json!({"1": 2, "x": 3, "4": "y"}))),
            json!([
                {"loc": ["body", "4"], "msg": "invalid type: string \"y\", expected u8", "type": "parse_error"},
                {"loc": ["body", "x"], "msg": "invalid type: string \"x\", expected u32", "type": "parse_error"},
            ])
        );
        assert_eq!(
            body::<HashMap<u32, u8>>(json!({"1": 2})),
            Ok(HashMap::from([(1, 2)]))
        );
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Tags {
        tag: Vec<u32>,
        one: String,
    }

    #[test]
    fn repeated_query_keys_fill_sequences_and_the_last_wins_for_scalars() {
        assert_eq!(
            query::<Tags>("tag=1&one=a&tag=2&one=b"),
            Ok(Tags {
                tag: vec![1, 2],
                one: "b".to_owned()
            })
        );
        assert_eq!(
            locs(&problems(query::<Tags>("tag=1&tag=x&tag=y"))),
            [
                json!(["query", "tag", 1]),
                json!(["query", "tag", 2]),
                json!(["query", "one"])
            ]
        );
    }

    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    struct Outer {
        id: u32,
        #[serde(flatten)]
        inner: Inner,
    }

    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    struct Inner {
        name: String,
    }

    #[test]
    fn flattened_fields_are_found_without_invented_problems() {
        assert_eq!(
            problems(body::<Outer>(json!({"id": "x"}))),
            json!([
                {"loc": ["body", "id"], "msg": "invalid type: string \"x\", expected u32", "type": "parse_error"},
                {"loc": ["body", "name"], "msg": "field required", "type": "missing"},
            ])
        );
        assert!(body::<Outer>(json!({"id": 1, "name": "n"})).is_ok());
    }

    thread_local! {
        static ATTEMPTS: Cell<usize> = const { Cell::new(0) };
    }

    /// Counts how many times it is deserialized.
    #[derive(Debug)]
    struct Counted<T>(#[allow(dead_code, reason = "deserialized only")] T);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Counted<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            ATTEMPTS.with(|n| n.set(n.get() + 1));
            T::deserialize(deserializer).map(Counted)
        }
    }

    /// Needs itself, forever: `{}` has a missing `next`, its placeholder too, and so on.
    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    struct Chain {
        next: Box<Chain>,
    }

    /// Always misses one more field than it was given.
    #[derive(Debug)]
    struct Endless;

    impl<'de> Deserialize<'de> for Endless {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Endless;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a map")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Endless, A::Error> {
                    let mut seen = 0;
                    while map.next_key::<de::IgnoredAny>()?.is_some() {
                        map.next_value::<de::IgnoredAny>()?;
                        seen += 1;
                    }
                    let name: &'static str = Box::leak(format!("f{seen}").into_boxed_str());
                    Err(de::Error::missing_field(name))
                }
            }
            deserializer.deserialize_map(V)
        }
    }

    /// A newtype of itself: no finite value has this type.
    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    struct Deep(Box<Deep>);

    /// The placeholder of the first variant is the first variant again.
    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    enum Expr {
        Neg(Box<Expr>),
        Lit(u32),
    }

    #[test]
    fn types_that_would_loop_are_stopped() {
        ATTEMPTS.with(|n| n.set(0));
        assert_eq!(
            problems(body::<Counted<Chain>>(json!({}))),
            json!([{"loc": ["body", "next"], "msg": "field required", "type": "missing"}])
        );
        let attempts = ATTEMPTS.with(Cell::get);
        assert!(
            attempts <= BASE_ATTEMPTS + 1,
            "{attempts} attempts for one problem"
        );

        let detail = problems(body::<Endless>(json!({})));
        let locs = locs(&detail);
        assert_eq!(locs.len(), MAX_PROBLEMS);
        assert_eq!(locs[0], json!(["body", "f0"]));
        assert_eq!(
            locs[MAX_PROBLEMS - 1],
            json!(["body", format!("f{}", MAX_PROBLEMS - 1)])
        );
        assert_eq!(
            problems(query::<Endless>("")).as_array().map(Vec::len),
            Some(MAX_PROBLEMS)
        );

        assert_eq!(
            problems(body::<Deep>(json!(5))),
            json!([{"loc": ["body"], "msg": "value is nested too deeply", "type": "parse_error"}])
        );
        assert_eq!(
            problems(body::<Expr>(json!({"Neg": "x"}))),
            json!([{"loc": ["body", "Neg"], "msg": "unknown variant `x`, expected `Neg` or `Lit`", "type": "parse_error"}])
        );
        assert!(body::<Expr>(json!({"Neg": {"Neg": {"Lit": 1}}})).is_ok());
    }

    #[test]
    fn type_errors_are_all_found_in_one_attempt() {
        ATTEMPTS.with(|n| n.set(0));
        let detail = problems(body::<Counted<Vec<Item>>>(json!([
            {"name": 1, "qty": "a"},
            {"name": "ok", "qty": 2},
            {"name": [], "qty": {}},
        ])));
        assert_eq!(
            locs(&detail),
            [
                json!(["body", 0, "name"]),
                json!(["body", 0, "qty"]),
                json!(["body", 2, "name"]),
                json!(["body", 2, "qty"])
            ]
        );
        assert_eq!(ATTEMPTS.with(Cell::get), 1);

        ATTEMPTS.with(|n| n.set(0));
        let detail = problems(query::<Counted<Filter>>("limit=x&n=y"));
        assert_eq!(
            locs(&detail),
            [json!(["query", "limit"]), json!(["query", "n"])]
        );
        assert_eq!(ATTEMPTS.with(Cell::get), 1);
    }

    #[test]
    fn a_large_body_is_not_walked_again_and_again() {
        // Out-of-range numbers are found by the visitor: one attempt each, over 60 000 values.
        let mut items: Vec<Value> = (0..20_000)
            .map(|_| json!({"name": "a", "qty": 1}))
            .collect();
        items.extend((0..40).map(|_| json!({"name": "b", "qty": -1})));
        ATTEMPTS.with(|n| n.set(0));
        let detail = problems(body::<Counted<Vec<Item>>>(Value::Array(items)));
        let attempts = ATTEMPTS.with(Cell::get);
        assert!(attempts <= WORK_BUDGET / 60_000 + 2, "{attempts} attempts");
        assert_eq!(locs(&detail).len(), attempts);
        assert_eq!(locs(&detail)[0], json!(["body", 20_000, "qty"]));
    }

    /// Rejects the empty string, so its placeholder does not deserialize.
    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    #[serde(try_from = "String")]
    struct NonEmpty(String);

    impl TryFrom<String> for NonEmpty {
        type Error = &'static str;
        fn try_from(s: String) -> Result<Self, &'static str> {
            if s.is_empty() {
                Err("must not be empty")
            } else {
                Ok(NonEmpty(s))
            }
        }
    }

    #[allow(dead_code, reason = "deserialized only")]
    #[derive(Debug, Deserialize)]
    struct Form {
        n: u8,
        name: NonEmpty,
        other: u8,
    }

    #[test]
    fn custom_validation_errors_are_located_and_a_rejected_placeholder_ends_the_search() {
        assert_eq!(
            problems(body::<Form>(json!({"n": "x", "name": "", "other": 1}))),
            json!([
                {"loc": ["body", "n"], "msg": "invalid type: string \"x\", expected u8", "type": "parse_error"},
                {"loc": ["body", "name"], "msg": "must not be empty", "type": "parse_error"},
            ])
        );
        // The placeholder for `name` is "" again: the search stops with what it found.
        assert_eq!(
            locs(&problems(body::<Form>(json!({"name": 5, "other": "y"})))),
            [json!(["body", "name"])]
        );
    }

    #[test]
    fn deep_but_valid_input_is_fine() {
        let mut value = json!(1);
        for _ in 0..120 {
            value = json!([value]);
        }
        assert_eq!(body::<Value>(value.clone()), Ok(value));
    }
}
