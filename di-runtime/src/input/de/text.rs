//! Text values: [`TextValue`], the values of one query key or one path parameter (or a
//! placeholder there), parsed on demand into what is asked. A sequence takes every value of
//! a repeated key, anything else the last one (the first one for headers).
//!
//! Uses [`phantom`](super::phantom), [`access`](super::access) and
//! [`problem`](super::problem).

use serde::de::value::StrDeserializer;
use serde::de::{Deserializer, Visitor};

use super::access::{Elements, Node, Place};
use super::phantom::{Phantom, mismatch, real};
use super::problem::{Error, State, text_problem};

/// The values of one query key or path parameter (or a placeholder), parsed on demand into
/// what is asked.
pub(super) struct TextValue<'s> {
    /// The values, never empty; `None`: a placeholder.
    value: Option<&'s [&'s str]>,
    pub(super) place: Place<'s>,
}

impl<'s> Node<'s> for TextValue<'s> {
    type Raw = &'s [&'s str];

    fn make(raw: Option<&'s [&'s str]>, place: Place<'s>) -> Self {
        place.state.tick();
        let value = raw.filter(|v| !v.is_empty() && !place.is_phantom());
        TextValue { value, place }
    }
}

impl<'s> TextValue<'s> {
    fn seq<'de, V: Visitor<'de>>(
        self,
        values: &'s [&'s str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let items = values.iter().map(|v| Some(std::slice::from_ref(v)));
        Elements::<TextValue<'s>, _>::new(items, self.place).visit(visitor)
    }
}

/// The value a scalar takes: the last of a repeated key (the first for headers).
fn pick<'s>(values: &[&'s str], state: &State) -> &'s str {
    let value = if state.first {
        values.first()
    } else {
        values.last()
    };
    value.copied().unwrap_or_default()
}

macro_rules! text_parse {
    ($($method:ident => $visit:ident, $ty:ty;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let raw = pick(real!(self, $method(visitor)), self.place.state);
            match raw.parse::<$ty>() {
                Ok(value) => visitor.$visit(value),
                Err(_) => {
                    let error = Error::invalid(text_problem::<$ty>(raw));
                    mismatch!(self, error, $method(visitor))
                }
            }
        }
    )*};
}

/// A boolean as pydantic reads one from text (query, path, header, cookie, form): `1`, `t`,
/// `y`, `on`, `yes`, `true` and `0`, `f`, `n`, `off`, `no`, `false`, letters in any case.
pub(super) fn lax_bool(raw: &str) -> Option<bool> {
    const TRUE: [&str; 6] = ["1", "t", "y", "on", "yes", "true"];
    const FALSE: [&str; 6] = ["0", "f", "n", "off", "no", "false"];
    if TRUE.iter().any(|word| raw.eq_ignore_ascii_case(word)) {
        Some(true)
    } else if FALSE.iter().any(|word| raw.eq_ignore_ascii_case(word)) {
        Some(false)
    } else {
        None
    }
}

macro_rules! text_as_str {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let raw = pick(real!(self, $method(visitor)), self.place.state);
            visitor.visit_str(raw)
        }
    )*};
}

impl<'de> Deserializer<'de> for TextValue<'_> {
    type Error = Error;

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let raw = pick(real!(self, deserialize_bool(visitor)), self.place.state);
        match lax_bool(raw) {
            Some(value) => visitor.visit_bool(value),
            None => {
                let error = Error::invalid(text_problem::<bool>(raw));
                mismatch!(self, error, deserialize_bool(visitor))
            }
        }
    }

    text_parse! {
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

    text_as_str! {
        deserialize_any deserialize_str deserialize_string deserialize_identifier
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let raw = pick(real!(self, deserialize_bytes(visitor)), self.place.state);
        visitor.visit_bytes(raw.as_bytes())
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        real!(self, deserialize_option(visitor));
        visitor.visit_some(TextValue {
            place: self.place.deeper(),
            ..self
        })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        real!(self, deserialize_newtype_struct(name, visitor));
        visitor.visit_newtype_struct(TextValue {
            place: self.place.deeper(),
            ..self
        })
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
        let raw = pick(
            real!(self, deserialize_enum(name, variants, visitor)),
            self.place.state,
        );
        StrDeserializer::<Error>::new(raw).deserialize_enum(name, variants, visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let raw = pick(real!(self, deserialize_unit(visitor)), self.place.state);
        visitor.visit_str(raw)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let raw = pick(
            real!(self, deserialize_unit_struct(name, visitor)),
            self.place.state,
        );
        visitor.visit_str(raw)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let raw = pick(real!(self, deserialize_map(visitor)), self.place.state);
        visitor.visit_str(raw)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let raw = pick(
            real!(self, deserialize_struct(name, fields, visitor)),
            self.place.state,
        );
        visitor.visit_str(raw)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

#[cfg(test)]
mod tests {
    use super::lax_bool;

    #[test]
    fn booleans_in_text_are_read_as_pydantic_reads_them() {
        for word in ["1", "t", "T", "y", "on", "ON", "yes", "Yes", "true", "TRUE"] {
            assert_eq!(lax_bool(word), Some(true), "{word}");
        }
        for word in ["0", "f", "n", "N", "off", "no", "NO", "false", "False"] {
            assert_eq!(lax_bool(word), Some(false), "{word}");
        }
        for word in ["", "2", "yess", " true", "true ", "nope", "tru"] {
            assert_eq!(lax_bool(word), None, "{word:?}");
        }
    }
}
