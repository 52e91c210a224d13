//! The query string's [`Layout`]: besides a map or struct by key, a sequence of its
//! `(key, value)` pairs in order ([`Pairs`]); a single value is asked of it as of a map.
//!
//! Uses [`root`](super::root), [`text`](super::text), [`access`](super::access) and
//! [`problem`](super::problem).

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};

use super::access::{KeyDe, Node, Place};
use super::problem::Error;
use super::root::{Layout, Root};
use super::text::TextValue;

/// A query string: its values grouped by key at the [`Root`], and these pairs in order.
#[derive(Clone, Copy)]
pub(super) struct QueryLayout<'s>(pub(super) &'s [(&'s str, &'s str)]);

impl<'s> Layout<'s> for QueryLayout<'s> {
    fn seq<'de, V: Visitor<'de>>(root: Root<'s, Self>, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(Pairs {
            pairs: root.layout.0.iter(),
            place: root.place,
        })
    }

    /// Asked of a map: the visitor rejects it with serde's message.
    fn tuple<'de, V: Visitor<'de>>(
        root: Root<'s, Self>,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        root.deserialize_map(visitor)
    }

    fn single(_: &Root<'s, Self>) -> Result<Option<TextValue<'s>>, Error> {
        Ok(None)
    }
}

/// The query as a sequence of `(key, value)` pairs, in order, each at `[key]`.
struct Pairs<'s> {
    pairs: std::slice::Iter<'s, (&'s str, &'s str)>,
    /// The whole query's: each pair is a child, its value one level deeper still.
    place: Place<'s>,
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
        let place = self.place.key(name).deeper();
        let value = TextValue::make(Some(std::slice::from_ref(value)), place);
        let pair = Pair {
            name: Some(name),
            value: Some(value),
        };
        seed.deserialize(pair)
            .map(Some)
            .map_err(|e| place.locate(e))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.pairs.len())
    }
}

/// One `(key, value)` pair: a sequence of two.
struct Pair<'s> {
    name: Option<&'s str>,
    value: Option<TextValue<'s>>,
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
