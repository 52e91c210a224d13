//! The fast path of `Json<T>` as strict as its every-problem search: a struct is read from a
//! JSON object only.
//!
//! serde's derived `Deserialize` also reads a struct from a sequence of its fields in order,
//! and serde_json offers an array to it, so `["t", "b"]` would be a `NewNote { title, body }`.
//! pydantic, and so FastAPI, answers `model_attributes_type` to anything but an object, as the
//! every-problem search does. [`from_slice`] deserializes through [`Strict`], which passes
//! everything on to serde_json but refuses a sequence where a struct is asked for, at any
//! depth: such a body fails the fast path and gets the search's 422.
//!
//! serde_json bounds the nesting of a body (128 levels), not the stack its reading takes:
//! each level costs the frames of the type's `Deserialize` there, tens of kilobytes for a
//! struct of many fields in a debug build, so that a deep enough body a recursive type takes
//! overflowed a worker thread's stack, which aborts the process. Before a container is read,
//! [`Strict`] checks that the body has not used up its stack yet ([`MAX_STACK`] bytes on a
//! worker, each open level of a value read as "any value", as serde fills its buffer of an
//! untagged, internally tagged or flattened value, counted as
//! [`BUFFERED_LEVEL`](super::problem::BUFFERED_LEVEL) more); past that the fast path fails,
//! and [`with_room`](super::problem::with_room) reads the body again where it fits.

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, Unexpected,
    VariantAccess, Visitor,
};

use super::problem::{Buffered, TOO_DEEP, stack_here, stack_used_up};

thread_local! {
    /// Where the stack was when [`from_slice`] started reading the body on this thread.
    static BASE: Cell<usize> = const { Cell::new(0) };
}

/// `T` from a JSON body, its structs read from objects only (see the module docs).
pub(crate) fn from_slice<T: de::DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    let outer = BASE.replace(stack_here());
    let value = read(body);
    BASE.set(outer);
    value
}

fn read<T: de::DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = T::deserialize(Strict(&mut de))?;
    de.end()?;
    Ok(value)
}

/// Fails once the body being read has used [`MAX_STACK`] bytes of stack (see the module
/// docs): checked before a container is read.
#[inline]
fn room<E: de::Error>() -> Result<(), E> {
    if stack_used_up(BASE.get()) {
        return Err(too_deep());
    }
    Ok(())
}

#[cold]
fn too_deep<E: de::Error>() -> E {
    E::custom(TOO_DEEP)
}

/// A deserializer that hands its visitors on wrapped (see the module docs).
struct Strict<D>(D);

/// A visitor whose nested deserializers are [`Strict`] too.
struct Wrap<V>(V);

/// The visitor of a struct: refuses a sequence.
struct Fields<V>(V);

/// A seed that deserializes through [`Strict`].
struct Seed<S>(S);

/// Forwards `deserialize_*` methods that take only a visitor.
macro_rules! forward {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(Wrap(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    forward! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_identifier deserialize_ignored_any
    }

    /// What serde buffers (untagged, internally tagged, flattened values) it reads as any
    /// value, level by level: each open level is paid for (see
    /// [`BUFFERED_LEVEL`](super::problem::BUFFERED_LEVEL)).
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let _level = Buffered::enter();
        room()?;
        self.0.deserialize_any(Wrap(visitor))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        room()?;
        self.0.deserialize_seq(Wrap(visitor))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        room()?;
        self.0.deserialize_map(Wrap(visitor))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Wrap(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Wrap(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        room()?;
        self.0.deserialize_tuple(len, Wrap(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        room()?;
        self.0.deserialize_tuple_struct(name, len, Wrap(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        room()?;
        self.0.deserialize_struct(name, fields, Fields(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        room()?;
        self.0.deserialize_enum(name, variants, Wrap(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// Forwards `visit_*` methods of a value that has no nested deserializer.
macro_rules! visit {
    ($($method:ident($ty:ty))*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.0.$method(v)
        }
    )*};
}

/// The `Visitor` methods of [`Wrap`] and [`Fields`] but `visit_seq`.
macro_rules! visitor_body {
    () => {
        type Value = V::Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.expecting(f)
        }

        visit! {
            visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64)
            visit_i128(i128) visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64)
            visit_u128(u128) visit_f32(f32) visit_f64(f64) visit_char(char) visit_str(&str)
            visit_borrowed_str(&'de str) visit_string(String) visit_bytes(&[u8])
            visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            self.0.visit_none()
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            self.0.visit_unit()
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            self.0.visit_some(Strict(d))
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            self.0.visit_newtype_struct(Strict(d))
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            self.0.visit_map(Wrap(map))
        }

        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
            self.0.visit_enum(Wrap(data))
        }
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    visitor_body!();

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.visit_seq(Wrap(seq))
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Fields<V> {
    visitor_body!();

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::invalid_type(Unexpected::Seq, &self))
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Strict(d))
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Seed(seed))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Wrap<A> {
    type Error = A::Error;
    type Variant = Wrap<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let (value, variant) = self.0.variant_seed(Seed(seed))?;
        Ok((value, Wrap(variant)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(Seed(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Wrap(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, Fields(visitor))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::from_slice;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Note {
        title: String,
        body: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Page {
        notes: Vec<Note>,
        tags: Option<BTreeMap<String, (u8, String)>>,
        kind: Kind,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Kind {
        Plain,
        Titled { title: String },
        Pair(u8, u8),
    }

    #[test]
    fn what_serde_json_reads_it_reads_alike() {
        let body = br#"{"notes":[{"title":"t","body":"b"}],"tags":{"a":[1,"x"]},"kind":{"Titled":{"title":"k"}}}"#;
        assert_eq!(
            from_slice::<Page>(body).unwrap(),
            serde_json::from_slice::<Page>(body).unwrap()
        );
        let body = br#"{"notes":[],"tags":null,"kind":{"Pair":[1,2]}}"#;
        assert_eq!(
            from_slice::<Page>(body).unwrap(),
            serde_json::from_slice::<Page>(body).unwrap()
        );
        assert_eq!(
            from_slice::<Vec<(u8, String)>>(br#"[[1,"a"]]"#).unwrap(),
            [(1, "a".to_owned())]
        );
        assert_eq!(from_slice::<Kind>(br#""Plain""#).unwrap(), Kind::Plain);
    }

    #[test]
    fn a_struct_is_read_from_an_object_only_at_any_depth() {
        assert!(serde_json::from_slice::<Note>(br#"["t","b"]"#).is_ok());
        assert!(from_slice::<Note>(br#"["t","b"]"#).is_err());
        let nested = br#"{"notes":[["t","b"]],"tags":null,"kind":"Plain"}"#;
        assert!(serde_json::from_slice::<Page>(nested).is_ok());
        assert!(from_slice::<Page>(nested).is_err());
        let variant = br#"{"notes":[],"tags":null,"kind":{"Titled":["k"]}}"#;
        assert!(serde_json::from_slice::<Page>(variant).is_ok());
        assert!(from_slice::<Page>(variant).is_err());
    }

    #[test]
    fn trailing_characters_are_refused() {
        assert!(from_slice::<Note>(br#"{"title":"t","body":"b"} x"#).is_err());
    }
}
