//! A small serde deserializer over a route's path parameters.

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use crate::error::InputError;

/// Deserializes `T` from the path parameters: one parameter as a single value, several as a
/// tuple (in order) or a struct / map (by name).
pub(crate) fn from_params<T: DeserializeOwned>(
    params: &[(String, String)],
) -> Result<T, InputError> {
    T::deserialize(Params(params)).map_err(|e| {
        let mut loc = vec!["path".to_owned()];
        loc.extend(e.key);
        InputError::new(loc, e.msg).kind("parse_error")
    })
}

#[derive(Debug)]
struct Error {
    key: Option<String>,
    msg: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        Error {
            key: None,
            msg: msg.to_string(),
        }
    }
}

struct Params<'a>(&'a [(String, String)]);

macro_rules! forward_single {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.single()?.$method(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Params<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let entries = self
            .0
            .iter()
            .map(|(k, v)| (k.as_str(), Value { key: k, raw: v }));
        visitor.visit_map(MapDeserializer::new(entries))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let values = self.0.iter().map(|(k, v)| Value { key: k, raw: v });
        visitor.visit_seq(SeqDeserializer::new(values))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        if len != self.0.len() {
            return Err(de::Error::custom(format!(
                "expected {len} path parameters, the route has {}",
                self.0.len()
            )));
        }
        self.deserialize_seq(visitor)
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
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! { ignored_any }

    // A single value: the route must have exactly one parameter.
    forward_single! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_option
        deserialize_unit deserialize_identifier
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.single()?.deserialize_enum(name, variants, visitor)
    }
}

impl<'de> Params<'de> {
    fn single(self) -> Result<Value<'de>, Error> {
        match self.0 {
            [(k, v)] => Ok(Value { key: k, raw: v }),
            _ => Err(de::Error::custom(format!(
                "expected 1 path parameter, the route has {}",
                self.0.len()
            ))),
        }
    }
}

/// One parameter's text, parsed on demand into what the visitor asks for.
struct Value<'a> {
    key: &'a str,
    raw: &'a str,
}

impl Value<'_> {
    fn error(&self, msg: impl std::fmt::Display) -> Error {
        Error {
            key: Some(self.key.to_owned()),
            msg: msg.to_string(),
        }
    }

    fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, Error> {
        self.raw
            .parse()
            .map_err(|_| self.error(format!("value is not a valid {what}")))
    }
}

impl<'de> IntoDeserializer<'de, Error> for Value<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! parse_value {
    ($($method:ident => $visit:ident, $ty:ty, $what:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let value = self.parse::<$ty>($what)?;
            visitor.$visit(value)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Value<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_str(self.raw)
    }

    parse_value! {
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
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let key = self.key;
        visitor
            .visit_enum(self.raw.into_deserializer())
            .map_err(|e: Error| Error {
                key: Some(key.to_owned()),
                msg: e.msg,
            })
    }

    forward_to_deserialize_any! {
        str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}
