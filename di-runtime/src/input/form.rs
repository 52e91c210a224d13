//! [`Form`]: an `application/x-www-form-urlencoded` body, every problem reported by field.

use std::borrow::Cow;
use std::collections::HashMap;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::contract::request::{FromRequest, RequestHead};
use crate::input::de::{Repeated, from_pairs};
use crate::response::error::{HttpError, InputError};

/// An HTML form body (`application/x-www-form-urlencoded`) deserialized into `T`, as
/// FastAPI's `Form()` parameters: read like a query string (a `Vec` field takes every value
/// of a repeated key, any other field the last one), problems reported at
/// `["body", field]`.
///
/// As in FastAPI, a field of one value sent empty (`name=`) counts as absent (`missing` when
/// it is required, `None` for an `Option`), while a list field keeps its empty values
/// (`tags=` is `[""]`), and a body of any other content type is read as an
/// empty form, so every required field is `missing`. The body is read within the app's body
/// limit (413 past it). `multipart/form-data` is not read by `Form`. A route that also reads
/// its body as [`Json`](crate::Json) is refused by `App::check`: a body has one content type.
///
/// ```
/// use di_runtime::prelude::*;
///
/// #[derive(serde::Deserialize)]
/// struct Login { username: String, remember: Option<bool> }
///
/// #[depends]
/// async fn login(Form(form): Form<Login>) -> String {
///     format!("{} {:?}", form.username, form.remember)
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Form<T>(pub T);

impl<T> Form<T> {
    /// Fields a form is read with at most, as a multipart form's
    /// [`MAX_FIELDS`](crate::Multipart::MAX_FIELDS): past them it is a 400, `{"detail": "Too
    /// many fields. Maximum number of fields is 1000."}`, whatever the body limit. Each field
    /// held costs some tens of bytes beside its own, so a body of many tiny fields (`a=&a=&...`)
    /// would otherwise take some fifty times its size. (Starlette bounds the fields of a
    /// multipart form only.)
    pub const MAX_FIELDS: usize = 1000;
}

impl<T: DeserializeOwned + Send + 'static> FromRequest for Form<T> {
    const NEEDS_BODY: bool = true;

    fn from_request(head: &RequestHead) -> Result<Self, Vec<InputError>> {
        let body = form_body(head);
        if more_pairs_than(body, Self::MAX_FIELDS) {
            return Err(vec![InputError::rejection(too_many(
                "fields",
                Self::MAX_FIELDS,
            ))]);
        }
        let pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = form_urlencoded::parse(body).collect();
        from_pairs("body", &kept_pairs::<T, _, _>(&pairs), Repeated::Last).map(Form)
    }
}

/// Whether URL-encoded `text` (a form body, a query string) has more than `max` pairs, as
/// `form_urlencoded::parse` reads them (pieces between `&`, empty ones skipped). Counted
/// without decoding, and only when the text is long enough to hold that many (each takes a
/// byte and a separator): an ordinary form or query costs a comparison.
pub(crate) fn more_pairs_than(text: &[u8], max: usize) -> bool {
    text.len() > max.saturating_mul(2)
        && text
            .split(|&b| b == b'&')
            .filter(|piece| !piece.is_empty())
            .nth(max)
            .is_some()
}

/// The 400 of a form of more than `max` fields or files (`what`), or of a query string of
/// more than `max` parameters (Starlette's answer to a multipart form of too many fields).
#[cold]
pub(crate) fn too_many(what: &str, max: usize) -> HttpError {
    HttpError::new(
        StatusCode::BAD_REQUEST,
        format!("Too many {what}. Maximum number of {what} is {max}."),
    )
}

/// The pairs of a form that are read, as FastAPI reads a form into `T`: a key that `T` reads
/// as a list keeps all its values, empty ones included (`tags=` is `[""]`, FastAPI's
/// `getlist`); a key it reads as one value takes the last one sent, and is absent when that
/// is empty (`age=`, `age=5&age=`).
/// (A multipart form's text fields are kept by the same rule, `Multipart::into_form`.)
pub(crate) fn kept_pairs<T, K, V>(pairs: &[(K, V)]) -> Vec<(&str, &str)>
where
    T: DeserializeOwned,
    K: AsRef<str>,
    V: AsRef<str>,
{
    // The keys left out: their last value is empty and `T` reads them as one value. Each key
    // is probed once, not each empty value: a form of many empty fields is not quadratic.
    let mut absent: HashMap<&str, bool> = HashMap::new();
    if pairs.iter().any(|(_, v)| v.as_ref().is_empty()) {
        for (k, v) in pairs {
            absent.insert(k.as_ref(), v.as_ref().is_empty());
        }
        absent.retain(|key, last_empty| *last_empty && !probe::reads_as_list::<T>(key));
    }
    pairs
        .iter()
        .filter(|(k, _)| absent.is_empty() || !absent.contains_key(k.as_ref()))
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect()
}

/// Whether `T` reads a key of a form as a list: `T` is deserialized from a map of that key
/// alone, whose value answers only whether a sequence is asked of it.
mod probe {
    use std::cell::Cell;

    use serde::de::value::{Error, StrDeserializer};
    use serde::de::{
        self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor,
    };

    /// Whether `T` reads `key` as a list (or does not read it as a single value: an ignored
    /// key, or a `T` that is not read by key, keeps its values as they are).
    pub(super) fn reads_as_list<T: DeserializeOwned>(key: &str) -> bool {
        let list = Cell::new(false);
        let _ = T::deserialize(Root { key, list: &list });
        list.get()
    }

    struct Root<'p> {
        key: &'p str,
        list: &'p Cell<bool>,
    }

    impl<'de> Deserializer<'de> for Root<'_> {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
            // Not read by key: keep the values.
            self.list.set(true);
            Err(de::Error::custom("not read by key"))
        }

        fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.visit_map(Entry {
                key: Some(self.key),
                list: self.list,
            })
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Error> {
            self.deserialize_map(visitor)
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            visitor: V,
        ) -> Result<V::Value, Error> {
            visitor.visit_newtype_struct(self)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct seq tuple tuple_struct enum identifier ignored_any
        }
    }

    struct Entry<'p> {
        key: Option<&'p str>,
        list: &'p Cell<bool>,
    }

    impl<'de> MapAccess<'de> for Entry<'_> {
        type Error = Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, Error> {
            match self.key.take() {
                Some(key) => {
                    let key: StrDeserializer<'_, Error> = key.into_deserializer();
                    seed.deserialize(key).map(Some)
                }
                None => Ok(None),
            }
        }

        fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
            seed.deserialize(Value { list: self.list })
        }
    }

    /// The key's value: a sequence asked of it (or an ignored key) is a list; anything else
    /// is one value. Either way the probe stops there.
    struct Value<'p> {
        list: &'p Cell<bool>,
    }

    impl Value<'_> {
        fn list<T>(self) -> Result<T, Error> {
            self.list.set(true);
            Err(de::Error::custom("a list"))
        }
    }

    impl<'de> Deserializer<'de> for Value<'_> {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
            Err(de::Error::custom("one value"))
        }

        fn deserialize_seq<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
            self.list()
        }

        fn deserialize_tuple<V: Visitor<'de>>(
            self,
            _len: usize,
            _visitor: V,
        ) -> Result<V::Value, Error> {
            self.list()
        }

        fn deserialize_tuple_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _len: usize,
            _visitor: V,
        ) -> Result<V::Value, Error> {
            self.list()
        }

        fn deserialize_ignored_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
            self.list()
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

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf unit unit_struct map struct enum identifier
        }
    }
}

/// The body, when it is a URL-encoded form; else nothing (an empty form).
pub(crate) fn form_body(head: &RequestHead) -> &[u8] {
    if is_form(head.headers()) {
        &head.body
    } else {
        &[]
    }
}

/// Whether the body is a URL-encoded form, by its content type (parameters aside).
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}
