//! The fast path for a query string (and the other inputs read as pairs) and for a route's
//! path parameters: deserialized straight from the pairs, borrowed where no percent-decoding
//! is needed, with no location tracking and no repairs.
//!
//! It answers only what the every-problem search would answer the same way (a struct or map
//! of distinct keys, each value parsed as [`TextValue`](super::text::TextValue) parses it) and
//! gives up at the first error or at anything else (a repeated key, a sequence at the root).
//! Then the search runs from the start, so the fast path changes no result and no message:
//! only what a good input costs.
//!
//! Uses nothing else of the deserializer.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
};

/// Up to this many keys, a map's repeated-key check compares each pair with those before it;
/// beyond, it sorts the keys.
const LINEAR_CHECK: usize = 16;

/// The fast path gave up; the search will say why, if anything is wrong.
#[derive(Debug)]
pub(crate) struct GiveUp;

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the fast path gave up")
    }
}

impl std::error::Error for GiveUp {}

impl de::Error for GiveUp {
    fn custom<T: fmt::Display>(_: T) -> Self {
        GiveUp
    }
}

/// `T` from `query`, or `None` when the every-problem search must answer.
pub(crate) fn query<T: DeserializeOwned>(query: &str) -> Option<T> {
    pairs_grouping(QueryPairs(query), false)
}

/// A query string's pairs, as `form_urlencoded::parse` reads them (split at `&`, empty
/// pieces skipped, each split at its first `=`), but borrowed straight from the `str` when a
/// piece has nothing to decode (no `%`, no `+`): no decoding pass and no second UTF-8 check
/// for the usual query. A piece with either is handed to `form_urlencoded` as it stands.
pub(super) struct QueryPairs<'s>(pub(super) &'s str);

impl<'s> Iterator for QueryPairs<'s> {
    type Item = (Cow<'s, str>, Cow<'s, str>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.0.is_empty() {
                return None;
            }
            // One pass over the piece: where it ends, where its first `=` is, and whether it
            // has anything to decode. Each position is that of an ASCII byte, so a boundary.
            let (mut end, mut equals, mut encoded) = (self.0.len(), None, false);
            for (at, byte) in self.0.bytes().enumerate() {
                match byte {
                    b'&' => {
                        end = at;
                        break;
                    }
                    b'=' if equals.is_none() => equals = Some(at),
                    b'%' | b'+' => encoded = true,
                    _ => {}
                }
            }
            let piece = &self.0[..end];
            self.0 = self.0.get(end + 1..).unwrap_or_default();
            if piece.is_empty() {
                continue;
            }
            if encoded {
                return form_urlencoded::parse(piece.as_bytes()).next();
            }
            let (key, value) = match equals {
                Some(at) => (&piece[..at], &piece[at + 1..]),
                None => (piece, ""),
            };
            return Some((Cow::Borrowed(key), Cow::Borrowed(value)));
        }
    }
}

/// `T` from `(key, value)` pairs read as a query string's are, not grouped, or `None` when
/// the every-problem search must answer (the header unit tests compare `fast::headers` with
/// it).
#[cfg(test)]
pub(crate) fn pairs<'s, T: DeserializeOwned>(
    input: impl IntoIterator<Item = (Cow<'s, str>, Cow<'s, str>)>,
) -> Option<T> {
    T::deserialize(Root(Pairs::collect(input).as_slice())).ok()
}

/// As [`pairs`], and a struct that read one of its fields twice (`tag=a&tag=b` for a list)
/// is read again from the pairs grouped by key, as the search groups them: a sequence takes
/// every value of its key, anything else the last one (the first if `first`).
pub(crate) fn pairs_grouping<'s, T: DeserializeOwned>(
    input: impl IntoIterator<Item = (Cow<'s, str>, Cow<'s, str>)>,
    first: bool,
) -> Option<T> {
    // Filled where it lies: `Pairs` is a few hundred bytes, which a move would copy.
    let mut pairs = Pairs::default();
    for pair in input {
        pairs.push(pair);
    }
    let pairs = pairs.as_slice();
    // The pairs as they come first: a repeated key is rare, and checking for one costs more
    // than reading the usual struct.
    T::deserialize(Root(pairs))
        .ok()
        .or_else(|| grouped(pairs, first))
}

/// Up to this many pairs, [`grouped`] groups them (on the stack, each key compared with the
/// distinct keys before it); beyond, the search answers.
const MAX_GROUPED: usize = 64;

/// `T`, a struct, from `pairs` grouped by key, in the order the keys first appear; `None`
/// when no key repeats (the ungrouped read answered, or failed for another reason) or when
/// the search must answer.
fn grouped<T: DeserializeOwned>(pairs: &[(Cow<'_, str>, Cow<'_, str>)], first: bool) -> Option<T> {
    if pairs.len() < 2 || pairs.len() > MAX_GROUPED {
        return None;
    }
    // Each key once, in the order keys first appear, with how many values it has, and each
    // pair's key among them: each key is compared with the distinct keys before it. Pairs
    // are named by their index (a byte: at most 64), so that little is set up on the stack.
    let mut groups = [Group::default(); MAX_GROUPED];
    let mut group_of = [0u8; MAX_GROUPED];
    let mut count = 0;
    for (at, (key, _)) in pairs.iter().enumerate() {
        let known = groups[..count]
            .iter()
            .position(|group| pairs[usize::from(group.first)].0 == *key);
        let group = known.unwrap_or_else(|| {
            groups[count].first = at as u8;
            count += 1;
            count - 1
        });
        groups[group].end += 1;
        group_of[at] = group as u8;
    }
    if count == pairs.len() {
        // No key repeats: the ungrouped read failed for another reason.
        return None;
    }
    // Each key's values (their pairs' indices), one run after another, in the order they came.
    let mut start = 0;
    for group in &mut groups[..count] {
        let size = group.end;
        (group.start, group.end) = (start, start);
        start += size;
    }
    let mut order = [0u8; MAX_GROUPED];
    for (at, &group) in group_of[..pairs.len()].iter().enumerate() {
        let group = &mut groups[usize::from(group)];
        order[usize::from(group.end)] = at as u8;
        group.end += 1;
    }
    T::deserialize(GroupedRoot {
        pairs,
        groups: &groups[..count],
        order: &order[..pairs.len()],
        first,
    })
    .ok()
}

/// A key of grouped pairs (its first pair's), and where the indices of its pairs are.
#[derive(Clone, Copy, Default)]
struct Group {
    first: u8,
    start: u8,
    end: u8,
}

/// The pairs grouped by key: a struct (or an option or newtype of one) reads them; anything
/// else is left to the search.
struct GroupedRoot<'s> {
    pairs: &'s [(Cow<'s, str>, Cow<'s, str>)],
    groups: &'s [Group],
    order: &'s [u8],
    first: bool,
}

impl<'de> Deserializer<'de> for GroupedRoot<'_> {
    type Error = GiveUp;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, GiveUp> {
        Err(GiveUp)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        visitor.visit_map(GroupedEntries {
            pairs: self.pairs,
            groups: self.groups.iter(),
            order: self.order,
            value: None,
            first: self.first,
        })
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        identifier unit unit_struct seq tuple tuple_struct map enum
    }
}

/// The groups as a struct's map: each key once, with all its values.
struct GroupedEntries<'s> {
    pairs: &'s [(Cow<'s, str>, Cow<'s, str>)],
    groups: std::slice::Iter<'s, Group>,
    order: &'s [u8],
    value: Option<&'s [u8]>,
    first: bool,
}

impl<'de> MapAccess<'de> for GroupedEntries<'_> {
    type Error = GiveUp;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GiveUp> {
        let Some(group) = self.groups.next() else {
            return Ok(None);
        };
        let run = usize::from(group.start)..usize::from(group.end);
        self.value = Some(self.order.get(run).ok_or(GiveUp)?);
        let (key, _) = self.pairs.get(usize::from(group.first)).ok_or(GiveUp)?;
        seed.deserialize(StrDeserializer::<GiveUp>::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, GiveUp> {
        let at = self.value.take().ok_or(GiveUp)?;
        seed.deserialize(Texts {
            pairs: self.pairs,
            at,
            first: self.first,
        })
    }
}

/// The values of one key (never none: the pairs `at` says), as the search's `TextValue` reads
/// them: a sequence takes them all, anything else the last (the first if `first`), read as
/// [`Text`].
struct Texts<'s> {
    pairs: &'s [(Cow<'s, str>, Cow<'s, str>)],
    at: &'s [u8],
    first: bool,
}

impl<'s> Texts<'s> {
    /// The value a single value takes.
    fn pick(&self) -> Result<Text<'s>, GiveUp> {
        let at = if self.first {
            self.at.first()
        } else {
            self.at.last()
        };
        let (_, value) = at
            .and_then(|&at| self.pairs.get(usize::from(at)))
            .ok_or(GiveUp)?;
        Ok(Text(value))
    }

    /// Every value, as a sequence; like the search, values the visitor left are an error.
    fn seq<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        let mut elements = Many {
            pairs: self.pairs,
            at: self.at.iter(),
        };
        let value = visitor.visit_seq(&mut elements)?;
        if elements.at.len() == 0 {
            Ok(value)
        } else {
            Err(GiveUp)
        }
    }
}

/// A single value is asked: the one [`Texts::pick`] gives.
macro_rules! texts_single {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
            self.pick()?.$method(visitor)
        }
    )*};
}

impl<'de> Deserializer<'de> for Texts<'_> {
    type Error = GiveUp;

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        self.seq(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        self.seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        self.seq(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        self.pick()?.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        self.pick()?.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        self.pick()?.deserialize_struct(name, fields, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_unit()
    }

    texts_single! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_identifier deserialize_unit deserialize_map
    }
}

/// The values of a repeated key, as a sequence of [`Text`]s.
struct Many<'s> {
    pairs: &'s [(Cow<'s, str>, Cow<'s, str>)],
    at: std::slice::Iter<'s, u8>,
}

impl<'de> SeqAccess<'de> for Many<'_> {
    type Error = GiveUp;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GiveUp> {
        let Some(&at) = self.at.next() else {
            return Ok(None);
        };
        let (_, value) = self.pairs.get(usize::from(at)).ok_or(GiveUp)?;
        seed.deserialize(Text(value)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.at.len())
    }
}

/// Pairs kept on the stack up to [`INLINE`] (a query string rarely has more), in a `Vec`
/// beyond: no allocation for the usual query.
#[derive(Default)]
struct Pairs<'s> {
    inline: [(Cow<'s, str>, Cow<'s, str>); INLINE],
    len: usize,
    spilled: Vec<(Cow<'s, str>, Cow<'s, str>)>,
}

/// How many pairs [`Pairs`] keeps without allocating.
const INLINE: usize = 4;

impl<'s> Pairs<'s> {
    #[cfg(test)]
    fn collect(input: impl IntoIterator<Item = (Cow<'s, str>, Cow<'s, str>)>) -> Self {
        let mut pairs = Pairs::default();
        for pair in input {
            pairs.push(pair);
        }
        pairs
    }

    fn push(&mut self, pair: (Cow<'s, str>, Cow<'s, str>)) {
        if self.len < INLINE {
            self.inline[self.len] = pair;
            self.len += 1;
            return;
        }
        if self.spilled.is_empty() {
            self.spilled.reserve(INLINE * 2);
            self.spilled
                .extend(self.inline.iter_mut().map(std::mem::take));
        }
        self.spilled.push(pair);
    }

    fn as_slice(&self) -> &[(Cow<'s, str>, Cow<'s, str>)] {
        if self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled
        }
    }
}

struct Root<'s>(&'s [(Cow<'s, str>, Cow<'s, str>)]);

/// `T` from a route's path parameters (name and decoded value, in the route's order), or
/// `None` when the every-problem search must answer. As the search's `PathLayout` reads
/// them: a struct or map by name, a sequence or tuple in order (of the route's length), and
/// any other value from the only parameter of a route that has one.
pub(crate) fn path<T: DeserializeOwned>(params: &[(String, String)]) -> Option<T> {
    T::deserialize(PathRoot(params)).ok()
}

/// A route's path parameters, as a whole.
struct PathRoot<'s>(&'s [(String, String)]);

/// `pairs` as a map, a query's or a route's path parameters.
fn entries<'de, S: AsRef<str>, V: Visitor<'de>>(
    pairs: &[(S, S)],
    visitor: V,
) -> Result<V::Value, GiveUp> {
    visitor.visit_map(Entries {
        pairs: pairs.iter(),
        value: None,
    })
}

impl<'s> PathRoot<'s> {
    /// The value of the only parameter; anything else goes to the search, which says the
    /// route has more or fewer.
    fn single(&self) -> Result<Text<'s>, GiveUp> {
        match self.0 {
            [(_, value)] => Ok(Text(value)),
            _ => Err(GiveUp),
        }
    }
}

/// A single value is asked: the only parameter's.
macro_rules! path_single {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
            self.single()?.$method(visitor)
        }
    )*};
}

impl<'de> Deserializer<'de> for PathRoot<'_> {
    type Error = GiveUp;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        entries(self.0, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        entries(self.0, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        entries(self.0, visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_seq(Positional(self.0.iter()))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        if len != self.0.len() {
            return Err(GiveUp);
        }
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        self.single()?.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_unit()
    }

    path_single! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_identifier
        deserialize_option deserialize_unit
    }
}

/// The path parameters in order, each parsed as the search's `TextValue` parses it.
struct Positional<'s>(std::slice::Iter<'s, (String, String)>);

impl<'de> SeqAccess<'de> for Positional<'_> {
    type Error = GiveUp;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GiveUp> {
        self.0
            .next()
            .map(|(_, value)| seed.deserialize(Text(value)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// Whether a key appears twice among `pairs`.
fn repeats_a_key(pairs: &[(Cow<'_, str>, Cow<'_, str>)]) -> bool {
    if pairs.len() <= LINEAR_CHECK {
        return pairs
            .iter()
            .enumerate()
            .any(|(i, (key, _))| pairs[..i].iter().any(|(k, _)| k == key));
    }
    let mut keys: Vec<&str> = pairs.iter().map(|(key, _)| &**key).collect();
    keys.sort_unstable();
    keys.windows(2).any(|pair| pair[0] == pair[1])
}

impl<'de> Deserializer<'de> for Root<'_> {
    type Error = GiveUp;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        self.deserialize_map(visitor)
    }

    /// A map (and what serde reads through one: a flattened struct, an untagged enum) with a
    /// repeated key goes to the search, which says how repeated keys are read.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        if repeats_a_key(self.0) {
            return Err(GiveUp);
        }
        entries(self.0, visitor)
    }

    /// A struct is read whatever other keys repeat: one of its own fields given twice fails
    /// serde's derived visitor (`duplicate field`), which sends it to the search.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        entries(self.0, visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        if self.0.is_empty() {
            visitor.visit_unit()
        } else {
            Err(GiveUp)
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        identifier
    }

    fn deserialize_seq<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, GiveUp> {
        Err(GiveUp)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, GiveUp> {
        Err(GiveUp)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, GiveUp> {
        Err(GiveUp)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, GiveUp> {
        Err(GiveUp)
    }
}

/// The pairs as a map: a query's (`Cow` pairs) or a route's path parameters (`String`s).
struct Entries<'s, S> {
    pairs: std::slice::Iter<'s, (S, S)>,
    value: Option<&'s str>,
}

impl<'de, S: AsRef<str>> MapAccess<'de> for Entries<'_, S> {
    type Error = GiveUp;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GiveUp> {
        let Some((key, value)) = self.pairs.next() else {
            return Ok(None);
        };
        self.value = Some(value.as_ref());
        seed.deserialize(StrDeserializer::<GiveUp>::new(key.as_ref()))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, GiveUp> {
        let value = self.value.take().ok_or(GiveUp)?;
        seed.deserialize(Text(value))
    }
}

/// One value, parsed as the search's `TextValue` parses the only value of a key.
struct Text<'s>(&'s str);

macro_rules! parse {
    ($($method:ident => $visit:ident, $ty:ty;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
            visitor.$visit(self.0.parse::<$ty>().map_err(|_| GiveUp)?)
        }
    )*};
}

impl<'de> Deserializer<'de> for Text<'_> {
    type Error = GiveUp;

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_bool(super::text::lax_bool(self.0).ok_or(GiveUp)?)
    }

    parse! {
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

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_str(self.0)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_str(self.0)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_str(self.0)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_str(self.0)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_bytes(self.0.as_bytes())
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_bytes(self.0.as_bytes())
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        visitor.visit_newtype_struct(self)
    }

    /// A key given once is a sequence of one value, as the search gives it.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_seq(One(Some(self)))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        StrDeserializer::<GiveUp>::new(self.0).deserialize_enum(name, variants, visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_str(self.0)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        visitor.visit_str(self.0)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_str(self.0)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        visitor.visit_str(self.0)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_unit()
    }
}

/// A sequence of the one value of a key.
struct One<'s>(Option<Text<'s>>);

impl<'de> SeqAccess<'de> for One<'_> {
    type Error = GiveUp;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GiveUp> {
        self.0.take().map(|text| seed.deserialize(text)).transpose()
    }
}

/// `T` from a request's header fields, read as [`Header`](crate::input::header::Header) reads
/// them (each field `(name, value)` with the name's `-` as `_`, a name with a `_` of its own
/// left out, a value as Latin-1 text), or `None` when the every-problem search must answer.
///
/// As [`pairs`] reads what [`header_pairs`] makes of them, but a struct is read straight from
/// the header map: a name is rewritten only when it is not one of the struct's fields (a field
/// is handed over as the field's own name, equal to the rewritten one), and a value made text
/// only when it is read, not when it is skipped. A request has many header fields and a
/// struct reads a few. Anything else than a struct is read as [`pairs`] reads it.
pub(crate) fn headers<T: DeserializeOwned>(headers: &http::HeaderMap) -> Option<T> {
    T::deserialize(HeaderRoot(headers)).ok()
}

/// A request's header fields, as a whole.
struct HeaderRoot<'s>(&'s http::HeaderMap);

impl HeaderRoot<'_> {
    /// What [`Root`] reads of the pairs [`header_pairs`] makes.
    fn as_pairs<R>(&self, read: impl FnOnce(Root<'_>) -> Result<R, GiveUp>) -> Result<R, GiveUp> {
        let mut names = String::new();
        let pairs = header_pairs(self.0, &mut names);
        let mut all = Pairs::default();
        for (key, value) in &pairs {
            all.push((Cow::Borrowed(*key), Cow::Borrowed(value.as_ref())));
        }
        read(Root(all.as_slice()))
    }
}

/// Read as [`Root`] reads the pairs.
macro_rules! as_pairs {
    ($($method:ident($($arg:ident: $ty:ty),*))*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, GiveUp> {
            self.as_pairs(|root| root.$method($($arg,)* visitor))
        }
    )*};
}

impl<'de> Deserializer<'de> for HeaderRoot<'_> {
    type Error = GiveUp;

    /// As [`Root`] reads a struct: every field in order, whatever repeats.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        visitor.visit_map(HeaderEntries {
            headers: self.0.iter(),
            fields,
            renamed: renamed_as_headers(fields),
            key: String::new(),
            value: None,
        })
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        visitor.visit_newtype_struct(self)
    }

    as_pairs! {
        deserialize_any() deserialize_bool() deserialize_i8() deserialize_i16()
        deserialize_i32() deserialize_i64() deserialize_i128() deserialize_u8()
        deserialize_u16() deserialize_u32() deserialize_u64() deserialize_u128()
        deserialize_f32() deserialize_f64() deserialize_char() deserialize_str()
        deserialize_string() deserialize_bytes() deserialize_byte_buf() deserialize_unit()
        deserialize_unit_struct(name: &'static str) deserialize_seq()
        deserialize_tuple(len: usize) deserialize_tuple_struct(name: &'static str, len: usize)
        deserialize_map()
        deserialize_enum(name: &'static str, variants: &'static [&'static str])
        deserialize_identifier() deserialize_ignored_any()
    }
}

/// Whether the header name `name` (lowercase, as `http` keeps it) names `field`: the same
/// once its `-` are `_`, or a field renamed as the header is written (`X-Request-ID`, FastAPI's
/// `alias`): any case, `-` or `_`.
pub(crate) fn names_field(name: &str, field: &str) -> bool {
    name.len() == field.len()
        && name.bytes().zip(field.bytes()).all(|(n, f)| {
            if n == b'-' || n == b'_' {
                f == b'_' || f == b'-'
            } else {
                n == f.to_ascii_lowercase()
            }
        })
}

/// Whether a struct's field names need [`names_field`] for every header (one is renamed with
/// an uppercase letter or a `-`), not only for those with a `-`.
pub(crate) fn renamed_as_headers(fields: &[&str]) -> bool {
    fields
        .iter()
        .any(|field| field.bytes().any(|b| b == b'-' || b.is_ascii_uppercase()))
}

/// The header fields as a struct's map: the pairs of [`header_pairs`], made as they are read.
struct HeaderEntries<'s> {
    headers: http::header::Iter<'s, http::HeaderValue>,
    fields: &'static [&'static str],
    /// See [`renamed_as_headers`].
    renamed: bool,
    // The rewritten name of a field that is none of the struct's.
    key: String,
    value: Option<&'s [u8]>,
}

impl<'de> MapAccess<'de> for HeaderEntries<'_> {
    type Error = GiveUp;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GiveUp> {
        let (name, value) = loop {
            let Some((name, value)) = self.headers.next() else {
                return Ok(None);
            };
            let name = name.as_str();
            if !name.contains('_') {
                break (name, value);
            }
        };
        self.value = Some(value.as_bytes());
        let key = if !name.contains('-') && !self.renamed {
            name
        } else if let Some(field) = self.fields.iter().find(|f| names_field(name, f)) {
            *field
        } else if !name.contains('-') {
            name
        } else {
            self.key.clear();
            push_field_name(&mut self.key, name);
            &self.key
        };
        seed.deserialize(StrDeserializer::<GiveUp>::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, GiveUp> {
        let value = self.value.take().ok_or(GiveUp)?;
        seed.deserialize(HeaderText(value))
    }
}

/// A header value, made text (see [`latin1`]) only when it is read.
struct HeaderText<'s>(&'s [u8]);

/// Read as [`Text`] reads the value's text.
macro_rules! as_text {
    ($($method:ident($($arg:ident: $ty:ty),*))*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, GiveUp> {
            Text(&latin1(self.0)).$method($($arg,)* visitor)
        }
    )*};
}

impl<'de> Deserializer<'de> for HeaderText<'_> {
    type Error = GiveUp;

    /// A value skipped is not read, as [`Text`] does not read it.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_unit()
    }

    as_text! {
        deserialize_any() deserialize_bool() deserialize_i8() deserialize_i16()
        deserialize_i32() deserialize_i64() deserialize_i128() deserialize_u8()
        deserialize_u16() deserialize_u32() deserialize_u64() deserialize_u128()
        deserialize_f32() deserialize_f64() deserialize_char() deserialize_str()
        deserialize_string() deserialize_bytes() deserialize_byte_buf() deserialize_option()
        deserialize_unit() deserialize_unit_struct(name: &'static str)
        deserialize_newtype_struct(name: &'static str) deserialize_seq()
        deserialize_tuple(len: usize) deserialize_tuple_struct(name: &'static str, len: usize)
        deserialize_map()
        deserialize_struct(name: &'static str, fields: &'static [&'static str])
        deserialize_enum(name: &'static str, variants: &'static [&'static str])
        deserialize_identifier()
    }
}

/// Each header as a `(field name, value)` pair, as `Header<T>` reads them: `x-request-id` as `x_request_id`; names with
/// an underscore of their own are left out. A name without a hyphen (`host`, `accept`) is
/// borrowed as it is; the others are written, `-` as `_`, one after another into `names` (one
/// allocation for all of them, where a `String` each cost an allocation a header field).
pub(crate) fn header_pairs<'a>(
    headers: &'a http::HeaderMap,
    names: &'a mut String,
) -> Vec<(&'a str, Cow<'a, str>)> {
    let taken = || {
        headers
            .iter()
            .map(|(name, value)| (name.as_str(), value))
            .filter(|(name, _)| !name.contains('_'))
    };
    for (name, _) in taken().filter(|(name, _)| name.contains('-')) {
        push_field_name(names, name);
    }
    let names: &'a str = names;
    let mut at = 0;
    taken()
        .map(|(name, value)| {
            let field = if name.contains('-') {
                at += name.len();
                &names[at - name.len()..at]
            } else {
                name
            };
            (field, latin1(value.as_bytes()))
        })
        .collect()
}

/// Appends header name `name` as a field name: its `-` as `_` (`x-request-id` as
/// `x_request_id`).
fn push_field_name(out: &mut String, name: &str) {
    for (i, part) in name.split('-').enumerate() {
        if i > 0 {
            out.push('_');
        }
        out.push_str(part);
    }
}

/// The text of a header value as Starlette reads it: bytes as Latin-1 characters.
pub(crate) fn latin1(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.is_ascii() => Cow::Borrowed(text),
        _ => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}
