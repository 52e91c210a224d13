//! The visitor plumbing every input shares: where a value deserializer is ([`Place`]), how
//! one is built for a child location ([`Node`]), the entries of a map or struct
//! ([`Entries`]), the elements of a sequence ([`Elements`]), and map keys ([`KeyDe`]).
//!
//! Uses [`problem`](super::problem) only.

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::problem::{Error, Kind, MAX_DEPTH, Repairs, SegRef, State, Typed, Walk, text_problem};

/// Where a value deserializer is: its location in the input (the first `len` steps of the
/// walk's stack), the repairs made under it, and how deeply it is nested.
#[derive(Clone, Copy)]
pub(super) struct Place<'s> {
    pub(super) walk: &'s Walk<'s>,
    pub(super) state: &'s State,
    /// Length of the location.
    pub(super) len: usize,
    pub(super) depth: usize,
    /// The repairs made at this location and under it; `None` when there are none.
    repairs: Option<&'s Repairs>,
}

impl<'s> Place<'s> {
    /// The top of the input.
    pub(super) fn root(walk: &'s Walk<'s>) -> Self {
        Place {
            walk,
            state: walk.state,
            len: 0,
            depth: 0,
            repairs: Some(&walk.state.repairs),
        }
    }

    /// The same location, one level deeper (the content of an option or a newtype).
    pub(super) fn deeper(self) -> Self {
        Place {
            depth: self.depth + 1,
            ..self
        }
    }

    /// The repairs under the child `seg`, if any.
    fn repairs_of(&self, seg: SegRef<'_>) -> Option<&'s Repairs> {
        self.repairs.and_then(|r| r.child(seg))
    }

    /// Enters the child location `seg`, one level deeper: to be read at once.
    pub(super) fn child(&self, seg: SegRef<'s>) -> Self {
        self.enter(seg, self.repairs_of(seg))
    }

    fn enter(&self, seg: SegRef<'s>, repairs: Option<&'s Repairs>) -> Self {
        self.walk.push(self.len, seg);
        Place {
            walk: self.walk,
            state: self.state,
            len: self.len + 1,
            depth: self.depth + 1,
            repairs,
        }
    }

    /// Enters the child location under an object key, one level deeper: to be read at once.
    pub(super) fn key(&self, name: &'s str) -> Self {
        self.child(SegRef::Key(name))
    }

    /// The repairs made at this location and under it, if any.
    pub(super) fn repairs(&self) -> Option<&'s Repairs> {
        self.repairs
    }

    /// Whether this location is answered with a placeholder.
    pub(super) fn is_phantom(&self) -> bool {
        self.repairs.is_some_and(Repairs::is_phantom)
    }

    /// Locates `error` here if no inner deserializer did.
    pub(super) fn locate(&self, error: Error) -> Error {
        error.at(self.walk, self.len)
    }

    /// Records a problem found here (see [`State::record`]).
    pub(super) fn record(&self, error: Error) -> Option<Error> {
        self.state.record(error, self.walk, self.len)
    }

    /// Fails past [`MAX_DEPTH`] levels of nesting.
    pub(super) fn check(&self) -> Result<(), Error> {
        if self.depth > MAX_DEPTH {
            Err(Error::too_deep())
        } else {
            Ok(())
        }
    }
}

impl Place<'_> {
    /// Fails, before a container (or a newtype) is read here, once the attempt has used
    /// [`MAX_STACK`](super::problem::MAX_STACK) bytes of stack: its values would be read deeper still. Checked at
    /// containers only, so that the problem is the container's, not each of its values'.
    pub(super) fn check_stack(&self) -> Result<(), Error> {
        if self.state.stack_exhausted() {
            Err(Error::too_deep())
        } else {
            Ok(())
        }
    }
}

/// A value deserializer that can be built for a child location: `raw` is the input there,
/// `None` for a placeholder.
pub(super) trait Node<'s>: Sized {
    type Raw: Copy;
    fn make(raw: Option<Self::Raw>, place: Place<'s>) -> Self;

    /// Locates `error`, which the value at `place` (input `raw`) failed with, if no inner
    /// deserializer did: at `place`, unless the input knows better.
    fn locate(raw: Option<Self::Raw>, place: Place<'s>, error: Error) -> Error {
        let _ = raw;
        place.locate(error)
    }
}

/// Structs with more fields than this order their entries through an index.
const SCAN_FIELDS: usize = 16;

/// The position of `name` among `fields` (past them if it is none of them).
fn field_position(fields: &[&str], name: &str) -> usize {
    fields
        .iter()
        .position(|field| *field == name)
        .unwrap_or(usize::MAX)
}

/// The entry whose key was given and whose value is next: its key, the repairs under it,
/// its input.
type Pending<'s, R> = (&'s str, Option<&'s Repairs>, Option<R>);

/// The entries of an object, a struct or a query string: real ones (in the order of the
/// struct's fields when there is one, then the others), then injected placeholders.
pub(super) struct Entries<'s, N: Node<'s>> {
    items: std::vec::IntoIter<(&'s str, Option<N::Raw>)>,
    parent: Place<'s>,
    pending: Option<Pending<'s, N::Raw>>,
}

impl<'s, N: Node<'s>> Entries<'s, N> {
    pub(super) fn new(
        mut items: Vec<(&'s str, Option<N::Raw>)>,
        fields: Option<&'static [&'static str]>,
        parent: Place<'s>,
    ) -> Self {
        parent.walk.note_fields(parent.len, fields);
        if let Some(fields) = fields.filter(|_| items.len() > 1) {
            if fields.len() > SCAN_FIELDS {
                let mut order: std::collections::HashMap<&str, usize> =
                    std::collections::HashMap::with_capacity(fields.len());
                for (i, &field) in fields.iter().enumerate() {
                    order.entry(field).or_insert(i);
                }
                items.sort_by_key(|(k, _)| order.get(*k).copied().unwrap_or(usize::MAX));
            } else {
                let in_order = items
                    .windows(2)
                    .all(|w| field_position(fields, w[0].0) <= field_position(fields, w[1].0));
                if !in_order {
                    items.sort_by_key(|(k, _)| field_position(fields, k));
                }
            }
        }
        if let Some(repairs) = parent.repairs {
            for &name in repairs.injected() {
                if !items.iter().any(|(k, _)| *k == name) {
                    items.push((name, None));
                }
            }
            if repairs.is_stuck() {
                // A placeholder refused under an entry ends every attempt there: its
                // siblings first, so that their problems are still found.
                let stuck = |k: &str| repairs.child(SegRef::Key(k)).is_some_and(Repairs::is_stuck);
                items.sort_by_key(|(k, _)| stuck(k));
            }
        }
        Entries {
            items: items.into_iter(),
            parent,
            pending: None,
        }
    }
}

/// The entries an attempt gathered (and ordered) but never reached, because it ended at an
/// earlier one, count as values visited: an object whose entries each end an attempt (an
/// unknown field, a bad key, a value that takes no placeholder) costs each attempt all of
/// them, and without them the work budget saw one entry an attempt, so that a body of
/// 100,000 such entries was gathered 64 times.
impl<'s, N: Node<'s>> Drop for Entries<'s, N> {
    fn drop(&mut self) {
        let work = &self.parent.state.work;
        work.set(work.get().saturating_add(self.items.len()));
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
            let repairs = self.parent.repairs_of(SegRef::Key(name));
            if repairs.is_some_and(Repairs::is_skipped) {
                continue;
            }
            let k = seed.deserialize(KeyDe(name)).map_err(|e| match e.kind {
                Kind::Invalid(typed) => Error {
                    path: Some(self.parent.walk.located(self.parent.len)),
                    msg: e.msg,
                    kind: Kind::Key(name.to_owned(), typed),
                    seen: None,
                },
                _ => self.parent.locate(e),
            })?;
            self.pending = Some((name, repairs, raw));
            return Ok(Some(k));
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((name, repairs, raw)) = self.pending.take() else {
            return Err(de::Error::custom("a map value was asked before its key"));
        };
        let place = self.parent.enter(SegRef::Key(name), repairs);
        seed.deserialize(N::make(raw, place))
            .map_err(|e| N::locate(raw, place, e))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// Sequences shorter than this are walked whole by every attempt.
const SCAN_MIN: usize = 32;

/// The elements of an array, a repeated query key or a placeholder tuple.
///
/// A long JSON array read as a sequence notes which of its elements an attempt read to the
/// end without a problem (its clean runs); an attempt of the search that scans leaves those
/// out (see [`State::scan`]), so that a body is not walked again for each problem.
pub(super) struct Elements<'s, N: Node<'s>, I> {
    items: I,
    index: usize,
    parent: Place<'s>,
    /// Whether this sequence notes its clean runs.
    track: bool,
    /// The clean runs known from earlier attempts, to leave out, when this attempt scans.
    known: &'s [(usize, usize)],
    /// The clean runs of this attempt, and the start of the current one.
    runs: Vec<(usize, usize)>,
    run: Option<usize>,
    /// Whether this attempt left out some of its elements.
    elided: bool,
    _node: std::marker::PhantomData<N>,
}

impl<'s, N: Node<'s>, I: ExactSizeIterator<Item = Option<N::Raw>>> Elements<'s, N, I> {
    pub(super) fn new(items: I, parent: Place<'s>) -> Self {
        Elements {
            items,
            index: 0,
            parent,
            track: false,
            known: &[],
            runs: Vec::new(),
            run: None,
            elided: false,
            _node: std::marker::PhantomData,
        }
    }

    /// A sequence that notes its clean runs (and, when the attempt scans, leaves out those
    /// known), if it is long enough for that to pay.
    pub(super) fn tracked(items: I, parent: Place<'s>) -> Self {
        let mut elements = Self::new(items, parent);
        if elements.items.len() >= SCAN_MIN {
            elements.track = true;
            if parent.state.scan.get() {
                elements.known = parent.repairs.map_or(&[], Repairs::clean);
            }
        }
        elements
    }

    /// Visits the elements; like serde_json, elements the visitor left are an error.
    pub(super) fn visit<'de, V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Error>
    where
        N: Deserializer<'de, Error = Error>,
    {
        let total = self.items.len();
        let value = visitor.visit_seq(&mut self);
        if self.track {
            self.end_run();
            if !self.runs.is_empty() {
                let loc = self.parent.walk.located(self.parent.len).loc;
                self.parent
                    .state
                    .cleaned
                    .borrow_mut()
                    .push((loc, self.runs));
            }
        }
        let value = value?;
        if self.items.len() == 0 {
            Ok(value)
        } else {
            let taken = total - self.items.len();
            Err(Error::invalid(Typed::too_long(taken, total)))
        }
    }

    fn end_run(&mut self) {
        if let Some(start) = self.run.take()
            && start < self.index
        {
            self.runs.push((start, self.index));
        }
    }

    /// Leaves out the known clean run the next element starts, if any.
    fn skip_known(&mut self) {
        while let Some(&(start, end)) = self.known.first() {
            if end <= self.index {
                self.known = &self.known[1..];
            } else if start <= self.index {
                let n = end - self.index;
                self.run.get_or_insert(self.index);
                for _ in 0..n {
                    self.items.next();
                }
                self.index = end;
                self.known = &self.known[1..];
                if !self.elided {
                    self.elided = true;
                    let loc = self.parent.walk.located(self.parent.len).loc;
                    self.parent.state.elided.borrow_mut().push(loc);
                }
            } else {
                break;
            }
        }
    }
}

impl<'de, 's, N, I> SeqAccess<'de> for Elements<'s, N, I>
where
    N: Node<'s> + Deserializer<'de, Error = Error>,
    I: ExactSizeIterator<Item = Option<N::Raw>>,
{
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if !self.known.is_empty() {
            self.skip_known();
        }
        let Some(raw) = self.items.next() else {
            return Ok(None);
        };
        let place = self.parent.child(SegRef::Index(self.index));
        let found = if self.track {
            self.parent.state.found.borrow().len()
        } else {
            0
        };
        let result = seed.deserialize(N::make(raw, place));
        if self.track {
            if result.is_ok() && self.parent.state.found.borrow().len() == found {
                self.run.get_or_insert(self.index);
            } else {
                self.end_run();
            }
        }
        self.index += 1;
        result.map(Some).map_err(|e| N::locate(raw, place, e))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// A map key (object key or query key): a string, parsed on demand into numbers and bools
/// as serde_json and serde_urlencoded do for keys.
pub(super) struct KeyDe<'k>(pub(super) &'k str);

macro_rules! parse_key {
    ($($method:ident => $visit:ident, $ty:ty;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.0.parse::<$ty>() {
                Ok(value) => visitor.$visit(value),
                Err(_) => Err(Error::invalid(text_problem::<$ty>(self.0))),
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
