//! The placeholder ([`Phantom`]): a value that deserializes into whatever is asked, as
//! plainly as possible, answering a location whose input was wrong or missing; and the
//! `real!`/`mismatch!` macros with which the JSON and text deserializers hand a location
//! over to it.
//!
//! Uses [`access`](super::access) and [`problem`](super::problem).

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, VariantAccess, Visitor};

use super::access::{Elements, Entries, Node, Place};
use super::problem::Error;
use super::tree::Tree;

/// A placeholder value at a place: deserializes into whatever is asked, as plainly as
/// possible.
pub(super) struct Phantom<'s>(pub(super) Place<'s>);

impl<'s> Node<'s> for Phantom<'s> {
    type Raw = ();

    fn make(_: Option<()>, place: Place<'s>) -> Self {
        place.state.tick();
        Phantom(place)
    }
}

/// The input of a value deserializer (`$self.value`, `None` for a placeholder), or, when
/// its place is a placeholder, the placeholder's answer to `$method`. The caller has
/// [`Phantom`] in scope.
macro_rules! real {
    ($self:ident, $method:ident($($arg:expr),*)) => {
        match $self.value {
            Some(value) => {
                $self.place.check()?;
                value
            }
            None => return Phantom($self.place).$method($($arg),*),
        }
    };
}

/// A problem the deserializer sees itself (the input has the wrong type for what is
/// asked): recorded, and answered at once with a placeholder, so that the attempt goes on.
/// Past [`MAX_PROBLEMS`](super::problem::MAX_PROBLEMS) such problems, the attempt stops
/// with this one. The caller has [`Phantom`] in scope.
macro_rules! mismatch {
    ($self:ident, $error:expr, $method:ident($($arg:expr),*)) => {{
        let error = $error;
        match $self.place.record(error) {
            None => Phantom($self.place).$method($($arg),*),
            Some(error) => Err(error),
        }
    }};
}

pub(super) use {mismatch, real};

macro_rules! phantom_values {
    ($($method:ident => $visit:ident($value:expr);)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.0.check()?;
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
        self.0.check()?;
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.0.check()?;
        visitor.visit_none()
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.0.check()?;
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
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.0.check()?;
        if name == RAW_VALUE_TOKEN {
            // serde_json's `RawValue`: `null`.
            return raw_value(&Tree::Null, visitor);
        }
        self.0.check_stack()?;
        visitor.visit_newtype_struct(Phantom(self.0.deeper()))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_tuple(0, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        self.0.check()?;
        self.0.check_stack()?;
        Elements::<Phantom<'_>, _>::new(std::iter::repeat_n(None, len), self.0).visit(visitor)
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
        self.0.check()?;
        self.0.check_stack()?;
        visitor.visit_map(Entries::<Phantom<'_>>::new(Vec::new(), None, self.0))
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
        self.0.check()?;
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
        Ok((value, Phantom(self.phantom.0.key(self.variant))))
    }
}

/// The content of a placeholder enum's variant, at `enum path . variant`.
impl<'de> VariantAccess<'de> for Phantom<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        let place = self.0;
        seed.deserialize(self).map_err(|e| place.locate(e))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        let place = self.0;
        self.deserialize_tuple(len, visitor)
            .map_err(|e| place.locate(e))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let place = self.0;
        self.deserialize_map(visitor).map_err(|e| place.locate(e))
    }
}

/// The name serde_json's `RawValue` (feature `raw_value`) asks a newtype of.
pub(super) const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// A `Box<RawValue>` of `value`: its JSON text, given as serde_json gives it, a map of the
/// one entry `{RAW_VALUE_TOKEN: text}`. A `RawValue` refuses anything else (it said "invalid
/// type: newtype struct" of a valid value, and the search reported that as a problem).
pub(super) fn raw_value<'de, V: Visitor<'de>>(value: &Tree, visitor: V) -> Result<V::Value, Error> {
    let mut text = String::new();
    value.write(&mut text, usize::MAX);
    visitor.visit_map(de::value::MapDeserializer::new(std::iter::once((
        RAW_VALUE_TOKEN,
        text,
    ))))
}
