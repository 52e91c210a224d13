//! The JSON body: [`JsonDe`], a JSON value at a location (or a placeholder there),
//! deserialized like serde_json's `Value` deserializes itself, but tracking the location and
//! recording every value of the wrong type.
//!
//! Uses [`phantom`](super::phantom), [`access`](super::access) and
//! [`problem`](super::problem).

use serde::de::value::StrDeserializer;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, Expected, Unexpected, VariantAccess, Visitor,
};
use serde_json::{Map, Number, Value};

use super::access::{Elements, Entries, Node, Place};
use super::phantom::{Phantom, mismatch, real};
use super::problem::{Error, State};

/// A JSON value at a place (or a placeholder there), deserialized like serde_json's `Value`
/// deserializes itself, but tracking the path.
pub(super) struct JsonDe<'s> {
    /// `None`: a placeholder.
    value: Option<&'s Value>,
    place: Place<'s>,
}

impl<'s> Node<'s> for JsonDe<'s> {
    type Raw = &'s Value;

    fn make(raw: Option<&'s Value>, place: Place<'s>) -> Self {
        place.state.tick();
        let value = raw.filter(|_| !place.is_phantom());
        JsonDe { value, place }
    }
}

impl<'s> JsonDe<'s> {
    /// The whole body.
    pub(super) fn root(value: &'s Value, state: &'s State) -> Self {
        JsonDe::make(Some(value), Place::root(state))
    }

    fn seq<'de, V: Visitor<'de>>(self, items: &'s [Value], visitor: V) -> Result<V::Value, Error> {
        let items = items.iter().map(Some).collect();
        Elements::<JsonDe<'s>>::new(items, self.place).visit(visitor)
    }

    fn map<'de, V: Visitor<'de>>(
        self,
        map: &'s Map<String, Value>,
        fields: Option<&'static [&'static str]>,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let items = map.iter().map(|(k, v)| (k.as_str(), Some(v))).collect();
        visitor.visit_map(Entries::<JsonDe<'s>>::new(items, fields, self.place))
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
            _ => visitor.visit_some(JsonDe {
                place: self.place.deeper(),
                ..self
            }),
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
        visitor.visit_newtype_struct(JsonDe {
            place: self.place.deeper(),
            ..self
        })
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
        let content = self
            .content
            .map(|content| JsonDe::make(Some(content), self.json.place.key(self.variant)));
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
                let path = content.place.path.clone();
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
                let path = content.place.path.clone();
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
                let path = content.place.path.clone();
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
                let path = content.place.path.clone();
                content
                    .deserialize_struct("", fields, visitor)
                    .map_err(|e| e.at(&path))
            }
        }
    }
}
