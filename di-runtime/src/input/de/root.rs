//! The top of a query string or of a route's path parameters: [`Root`], the input's values
//! grouped by key, answering as a map or struct by key. What the two inputs answer
//! differently (a sequence, a tuple, a single value) is left to their [`Layout`].
//!
//! Uses [`text`](super::text), [`phantom`](super::phantom), [`access`](super::access) and
//! [`problem`](super::problem).

use serde::de::{self, Deserializer, Unexpected, Visitor};

use super::access::{Entries, Node, Place};
use super::phantom::Phantom;
use super::problem::{Error, Walk};
use super::text::TextValue;

/// A query string or a route's path parameters, as a whole.
pub(super) struct Root<'s, L> {
    /// Each key with its values, in the order the keys first appear.
    pub(super) groups: &'s [(&'s str, &'s [&'s str])],
    pub(super) layout: L,
    pub(super) place: Place<'s>,
}

/// What a query string and a route's path parameters answer differently.
pub(super) trait Layout<'s>: Sized {
    /// The whole input as a sequence.
    fn seq<'de, V: Visitor<'de>>(root: Root<'s, Self>, visitor: V) -> Result<V::Value, Error>;

    /// The whole input as a tuple of `len` elements.
    fn tuple<'de, V: Visitor<'de>>(
        root: Root<'s, Self>,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error>;

    /// The value that answers when a single value is asked (a scalar, an enum, an option,
    /// `()`), or `None` when the input answers those as the map it is.
    fn single(root: &Root<'s, Self>) -> Result<Option<TextValue<'s>>, Error>;
}

impl<'s, L: Layout<'s>> Root<'s, L> {
    pub(super) fn new(
        groups: &'s [(&'s str, &'s [&'s str])],
        layout: L,
        walk: &'s Walk<'s>,
    ) -> Self {
        Root {
            groups,
            layout,
            place: Place::root(walk),
        }
    }

    /// The placeholder to answer with, when the whole input is one.
    fn phantom(&self) -> Option<Phantom<'s>> {
        self.place.is_phantom().then_some(Phantom(self.place))
    }

    /// The values of one key, at `[key]`.
    pub(super) fn value(&self, (name, values): (&'s str, &'s [&'s str])) -> TextValue<'s> {
        TextValue::make(Some(values), self.place.key(name))
    }

    /// The values by key (in the struct's field order when there is one).
    fn entries(&self, fields: Option<&'static [&'static str]>) -> Entries<'s, TextValue<'s>> {
        let items = self.groups.iter().map(|(k, v)| (*k, Some(*v))).collect();
        Entries::new(items, fields, self.place)
    }
}

/// Answers with the single `value`, locating its problems at its key.
fn answer<'s, T>(
    value: TextValue<'s>,
    deserialize: impl FnOnce(TextValue<'s>) -> Result<T, Error>,
) -> Result<T, Error> {
    let place = value.place;
    deserialize(value).map_err(|e| place.locate(e))
}

/// A single value is asked: the layout's single value gives it, or the input answers as a
/// map (and the visitor rejects it with serde's message).
macro_rules! single {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.phantom() {
                Some(phantom) => phantom.$method(visitor),
                None => match L::single(&self)? {
                    Some(value) => answer(value, |value| value.$method(visitor)),
                    None => self.deserialize_map(visitor),
                },
            }
        }
    )*};
}

impl<'de, 's, L: Layout<'s>> Deserializer<'de> for Root<'s, L> {
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
            None => L::seq(self, visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_tuple(len, visitor),
            None => L::tuple(self, len, visitor),
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

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_option(visitor),
            None => match L::single(&self)? {
                Some(value) => answer(value, |value| value.deserialize_option(visitor)),
                None => visitor.visit_some(self),
            },
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.place.check()?;
        match self.phantom() {
            Some(phantom) => phantom.deserialize_newtype_struct(name, visitor),
            None => visitor.visit_newtype_struct(Root {
                place: self.place.deeper(),
                ..self
            }),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.phantom() {
            Some(phantom) => phantom.deserialize_unit(visitor),
            None => match L::single(&self)? {
                Some(value) => answer(value, |value| value.deserialize_unit(visitor)),
                None if self.groups.is_empty() => visitor.visit_unit(),
                None => Err(de::Error::invalid_type(Unexpected::Map, &visitor)),
            },
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
            None => match L::single(&self)? {
                Some(value) => answer(value, |value| {
                    value.deserialize_enum(name, variants, visitor)
                }),
                None => self.deserialize_map(visitor),
            },
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    single! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_identifier
    }
}
