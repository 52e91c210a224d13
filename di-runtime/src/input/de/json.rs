//! The JSON body: [`JsonDe`], a JSON value at a location (or a placeholder there),
//! deserialized like serde_json's `Value` deserializes itself, but tracking the location and
//! recording every value of the wrong type.
//!
//! Uses [`phantom`](super::phantom), [`access`](super::access) and
//! [`problem`](super::problem).

use serde::de::value::StrDeserializer;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, Unexpected, VariantAccess, Visitor,
};

use super::access::{Elements, Entries, Node, Place};
use super::phantom::{Phantom, RAW_VALUE_TOKEN, mismatch, raw_value, real};
use super::problem::{Buffered, Error, Kind, Repairs, Seen, Seg, SegRef, Typed, Walk};
use super::tree::{Num, Tree, Wide};

/// A JSON value at a place (or a placeholder there), deserialized like serde_json's `Value`
/// deserializes itself, but tracking the path and reporting each value of the wrong type as
/// pydantic reports it.
pub(super) struct JsonDe<'s> {
    /// `None`: a placeholder.
    value: Option<&'s Tree>,
    place: Place<'s>,
}

impl<'s> Node<'s> for JsonDe<'s> {
    type Raw = &'s Tree;

    fn make(raw: Option<&'s Tree>, place: Place<'s>) -> Self {
        place.state.tick();
        let value = raw.filter(|_| !place.is_phantom());
        JsonDe { value, place }
    }

    /// A problem serde found in a value it read back from its `Content` buffer (a
    /// `#[serde(flatten)]` field, the fields of an internally tagged variant) comes out of
    /// the value holding the buffered ones with no location, and describes a value that is
    /// not this one: it is located at the one value under this one that it describes
    /// ([`inside`]), when there is exactly one, as if it had been read there.
    fn locate(raw: Option<&'s Tree>, place: Place<'s>, error: Error) -> Error {
        if error.path.is_some() {
            return error;
        }
        let value = raw.filter(|_| !place.is_phantom());
        let Some(seen) = &error.seen else {
            return place.locate(error);
        };
        if describes(seen, value) {
            return place.locate(error);
        }
        let Some(value) = value else {
            return place.locate(error);
        };
        match inside(seen, value, place) {
            Some((segs, found)) => {
                let mut error = error;
                if let (Kind::Invalid(typed), Some(found)) = (&mut error.kind, found)
                    && let Some(better) = reread(typed, found)
                {
                    **typed = better;
                }
                error.at_inside(place.walk, place.len, segs)
            }
            None => place.locate(error),
        }
    }
}

/// Whether `seen` describes `value` (`None`: a placeholder, read as unit when anything is
/// asked).
fn describes(seen: &Seen, value: Option<&Tree>) -> bool {
    match (seen, value) {
        (Seen::Unit, None | Some(Tree::Null)) => true,
        (Seen::Bool(a), Some(Tree::Bool(b))) => a == b,
        (Seen::Unsigned(a), Some(Tree::Number(Num::U(b)))) => a == b,
        (Seen::Signed(a), Some(Tree::Number(Num::I(b)))) => a == b,
        (Seen::Float(a), Some(Tree::Number(Num::F(b) | Num::Int(b, _)))) => a == b,
        (Seen::Str(a), Some(Tree::String(b))) => a == b,
        (Seen::Seq, Some(Tree::Array(_))) => true,
        (Seen::Map, Some(Tree::Object(_))) => true,
        _ => false,
    }
}

/// The one value under `value` (at `place`) that `seen` describes: its steps below `place`
/// and the value (`None` for a placeholder); `None` when there is none or more than one (an
/// object key that `seen` spells counts as one: a buffered key's problem).
///
/// A placeholder reads as unit: a unit refused where one is answers the first, whatever
/// else is unit there. The problem is then a consequence of a placeholder (so never
/// reported), where a real `null` refused beside a placeholder would be reported at the
/// object holding them, with no cause of its own.
fn inside<'t>(
    seen: &Seen,
    value: &'t Tree,
    place: Place<'_>,
) -> Option<(Vec<Seg>, Option<&'t Tree>)> {
    let mut search = Search {
        seen,
        place,
        path: Vec::new(),
        hit: None,
        hits: 0,
        phantom: None,
    };
    search.under(value, place.repairs());
    match search.phantom {
        Some(path) => Some((path, None)),
        None => search.hit.filter(|_| search.hits == 1),
    }
}

/// The walk of [`inside`].
struct Search<'a, 't, 's> {
    seen: &'a Seen,
    place: Place<'s>,
    path: Vec<Seg>,
    hit: Option<(Vec<Seg>, Option<&'t Tree>)>,
    hits: usize,
    /// The first placeholder found, when `seen` is unit.
    phantom: Option<Vec<Seg>>,
}

impl<'t> Search<'_, 't, '_> {
    fn under(&mut self, value: &'t Tree, repairs: Option<&Repairs>) {
        match value {
            Tree::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let child = repairs.and_then(|r| r.child(SegRef::Index(i)));
                    self.visit(Seg::Index(i), Some(item), child);
                    if self.done() {
                        return;
                    }
                }
            }
            Tree::Object(entries) => {
                for (k, v) in entries {
                    let child = repairs.and_then(|r| r.child(SegRef::Key(k)));
                    if child.is_some_and(Repairs::is_skipped) {
                        continue;
                    }
                    if matches!(self.seen, Seen::Str(s) if s == k) {
                        self.hits += 1;
                    }
                    self.visit(Seg::Key(k.clone()), Some(v), child);
                    if self.done() {
                        return;
                    }
                }
                for &name in repairs.map_or(&[][..], Repairs::injected) {
                    if !entries.iter().any(|(k, _)| k == name) {
                        let child = repairs.and_then(|r| r.child(SegRef::Key(name)));
                        self.visit(Seg::Key(name.to_owned()), None, child);
                    }
                }
            }
            _ => {}
        }
    }

    fn visit(&mut self, seg: Seg, value: Option<&'t Tree>, repairs: Option<&Repairs>) {
        self.place.state.tick();
        let value = value.filter(|_| !repairs.is_some_and(Repairs::is_phantom));
        self.path.push(seg);
        if value.is_none() && *self.seen == Seen::Unit {
            self.phantom.get_or_insert_with(|| self.path.clone());
        } else if describes(self.seen, value) {
            self.hits += 1;
            self.hit = Some((self.path.clone(), value));
        }
        if let Some(value) = value
            && !self.done()
        {
            self.under(value, repairs);
        }
        self.path.pop();
    }

    /// Whether what is found decides already.
    fn done(&self) -> bool {
        self.phantom.is_some() || (self.hits > 1 && *self.seen != Seen::Unit)
    }
}

/// What the JSON deserializer says of `found` where a visitor said `typed` of it: serde's
/// `Content` buffer hands a visitor a float or a string where an integer is asked, which
/// pydantic tells apart (`int_from_float`, `int_parsing`).
fn reread(typed: &Typed, found: &Tree) -> Option<Typed> {
    let same = |t: &Typed| t.kind == typed.kind;
    if same(&Typed::INT_TYPE) {
        integer_problem(found, i128::MIN, u128::MAX, true).filter(|t| t.kind != typed.kind)
    } else if same(&Typed::FLOAT_TYPE) {
        matches!(found, Tree::String(s) if s.parse::<f64>().is_err())
            .then_some(Typed::FLOAT_PARSING)
    } else if same(&Typed::BOOL_TYPE) {
        matches!(
            found,
            Tree::String(_) | Tree::Number(Num::U(_) | Num::I(_) | Num::Int(..))
        )
        .then_some(Typed::BOOL_PARSING)
    } else {
        None
    }
}

impl<'s> JsonDe<'s> {
    /// The whole body.
    pub(super) fn root(value: &'s Tree, walk: &'s Walk<'s>) -> Self {
        JsonDe::make(Some(value), Place::root(walk))
    }

    /// Locates an error the whole body failed with (see [`Node::locate`]).
    pub(super) fn locate_root(value: &'s Tree, walk: &'s Walk<'s>, error: Error) -> Error {
        JsonDe::locate(Some(value), Place::root(walk), error)
    }

    fn seq<'de, V: Visitor<'de>>(self, items: &'s [Tree], visitor: V) -> Result<V::Value, Error> {
        self.place.check_stack()?;
        Elements::<JsonDe<'s>, _>::new(items.iter().map(Some), self.place).visit(visitor)
    }

    /// An array read as a sequence (not a tuple, not `any`): its clean runs are noted, and
    /// left out by an attempt that scans.
    fn tracked_seq<'de, V: Visitor<'de>>(
        self,
        items: &'s [Tree],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.place.check_stack()?;
        Elements::<JsonDe<'s>, _>::tracked(items.iter().map(Some), self.place).visit(visitor)
    }

    fn map<'de, V: Visitor<'de>>(
        self,
        map: &'s [(String, Tree)],
        fields: Option<&'static [&'static str]>,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.place.check_stack()?;
        let items = map.iter().map(|(k, v)| (k.as_str(), Some(v))).collect();
        visitor.visit_map(Entries::<JsonDe<'s>>::new(items, fields, self.place))
    }
}

fn visit_number<'de, V: Visitor<'de>>(n: Num, visitor: V) -> Result<V::Value, Error> {
    match n {
        Num::U(u) => visitor.visit_u64(u),
        Num::I(i) => visitor.visit_i64(i),
        // serde_json reads an integer literal beyond 64 bits (or `-0`) as a float where it
        // reads any value.
        Num::F(f) | Num::Int(f, _) => visitor.visit_f64(f),
    }
}

/// i64's bounds as floats (`-2^63` and `2^63`, each exactly).
const I64_MIN: f64 = -9_223_372_036_854_775_808.0;
const I64_MAX: f64 = 9_223_372_036_854_775_808.0;

/// Whether the whole float `f` is beyond `max`. A bound past 2^53 (`u64::MAX`, `u128::MAX`,
/// `i128::MAX`, all `2^k - 1`) rounds up to the float `2^k`, which is beyond it.
fn above(f: f64, max: u128) -> bool {
    const EXACT: u128 = 1 << 53;
    f > max as f64 || (f == max as f64 && max > EXACT)
}

/// Whether the whole float `f` is below `min` (`-2^k` or 0, each a float exactly).
fn below(f: f64, min: i128) -> bool {
    f < min as f64
}

/// What is wrong with `value` where an integer in `min..=max` is asked, or `None` if it is
/// one. `exact`: the type is a `u128` or `i128`, which serde_json reads from an integer
/// literal exactly (and from no float literal); a narrower one it reads from a literal
/// beyond 64 bits (or `-0`) as the float it is anywhere else, and refuses.
fn integer_problem(value: &Tree, min: i128, max: u128, exact: bool) -> Option<Typed> {
    match value {
        Tree::Number(Num::U(u)) => (u128::from(*u) > max).then(|| Typed::less_than_equal(max)),
        Tree::Number(Num::I(i)) => (i128::from(*i) < min).then(|| Typed::greater_than_equal(min)),
        Tree::Number(Num::Int(_, wide)) => match *wide {
            Wide::U(u) if u > max => Some(Typed::less_than_equal(max)),
            Wide::I(i) if i < min => Some(Typed::greater_than_equal(min)),
            Wide::Beyond(false) => Some(Typed::less_than_equal(max)),
            Wide::Beyond(true) => Some(Typed::greater_than_equal(min)),
            // In range: `-0` for an unsigned type is no `u128` either (serde_json parses its
            // text as one).
            Wide::I(0) if min == 0 => Some(Typed::INT_TYPE),
            _ if exact => None,
            // Only `-0` is in range of a narrower type: pydantic takes it; serde does not.
            _ => Some(Typed::INT_TYPE),
        },
        Tree::Number(Num::F(f)) => Some(if f.fract() != 0.0 {
            Typed::INT_FROM_FLOAT
        } else if !exact && (*f <= I64_MIN || *f >= I64_MAX) {
            // pydantic turns a whole float into an `int` only strictly within i64's bounds
            // (as floats), before it checks the type's own.
            Typed::INT_PARSING_SIZE
        } else if above(*f, max) {
            Typed::less_than_equal(max)
        } else if below(*f, min) {
            Typed::greater_than_equal(min)
        } else {
            // pydantic takes a whole float; serde does not.
            Typed::INT_TYPE
        }),
        // pydantic parses a string; serde does not take one, but says which kind it is.
        Tree::String(s) if s.parse::<i128>().is_err() => Some(Typed::INT_PARSING),
        _ => Some(Typed::INT_TYPE),
    }
}

macro_rules! json_integers {
    ($($method:ident => $ty:ty, $exact:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let value = real!(self, $method(visitor));
            let min = i128::try_from(<$ty>::MIN).unwrap_or(i128::MIN);
            let max = u128::try_from(<$ty>::MAX).unwrap_or(u128::MAX);
            match integer_problem(value, min, max, $exact) {
                None => match value {
                    Tree::Number(Num::Int(_, Wide::U(u))) => visitor.visit_u128(*u),
                    Tree::Number(Num::Int(_, Wide::I(i))) => visitor.visit_i128(*i),
                    Tree::Number(n) => visit_number(*n, visitor),
                    _ => Err(Error::invalid(Typed::INT_TYPE)),
                },
                Some(typed) => mismatch!(self, Error::invalid(typed), $method(visitor)),
            }
        }
    )*};
}

macro_rules! json_floats {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let typed = match real!(self, $method(visitor)) {
                Tree::Number(n) => return visit_number(*n, visitor),
                Tree::String(s) if s.parse::<f64>().is_err() => Typed::FLOAT_PARSING,
                _ => Typed::FLOAT_TYPE,
            };
            mismatch!(self, Error::invalid(typed), $method(visitor))
        }
    )*};
}

macro_rules! json_strings {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match real!(self, $method(visitor)) {
                Tree::String(s) => visitor.visit_str(s),
                _ => {
                    let typed = Typed::string_type_for(&visitor);
                    mismatch!(self, Error::invalid(typed), $method(visitor))
                }
            }
        }
    )*};
}

impl<'de, 's> Deserializer<'de> for JsonDe<'s> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match real!(self, deserialize_any(visitor)) {
            Tree::Null => visitor.visit_unit(),
            Tree::Bool(b) => visitor.visit_bool(*b),
            Tree::Number(n) => visit_number(*n, visitor),
            Tree::String(s) => visitor.visit_str(s),
            // What serde buffers it reads so: each open level is paid for (see
            // `BUFFERED_LEVEL`).
            Tree::Array(items) => {
                let _level = Buffered::enter();
                self.seq(items, visitor)
            }
            Tree::Object(map) => {
                let _level = Buffered::enter();
                self.map(map, None, visitor)
            }
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let typed = match real!(self, deserialize_bool(visitor)) {
            Tree::Bool(b) => return visitor.visit_bool(*b),
            Tree::String(_) | Tree::Number(Num::U(_) | Num::I(_) | Num::Int(..)) => {
                Typed::BOOL_PARSING
            }
            _ => Typed::BOOL_TYPE,
        };
        mismatch!(self, Error::invalid(typed), deserialize_bool(visitor))
    }

    json_integers! {
        deserialize_i8 => i8, false; deserialize_i16 => i16, false;
        deserialize_i32 => i32, false; deserialize_i64 => i64, false;
        deserialize_i128 => i128, true; deserialize_u8 => u8, false;
        deserialize_u16 => u16, false; deserialize_u32 => u32, false;
        deserialize_u64 => u64, false; deserialize_u128 => u128, true;
    }

    json_floats! {
        deserialize_f32 deserialize_f64
    }

    json_strings! {
        deserialize_str deserialize_string deserialize_identifier
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let typed = match real!(self, deserialize_char(visitor)) {
            Tree::String(s) if s.chars().count() == 1 => return visitor.visit_str(s),
            Tree::String(s) => Typed::one_character(s),
            _ => Typed::STRING_TYPE,
        };
        mismatch!(self, Error::invalid(typed), deserialize_char(visitor))
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match real!(self, deserialize_bytes(visitor)) {
            Tree::String(s) => visitor.visit_str(s),
            Tree::Array(items) => self.seq(items, visitor),
            _ => mismatch!(
                self,
                Error::invalid(Typed::BYTES_TYPE),
                deserialize_bytes(visitor)
            ),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match real!(self, deserialize_option(visitor)) {
            Tree::Null => visitor.visit_none(),
            _ => visitor.visit_some(JsonDe {
                place: self.place.deeper(),
                ..self
            }),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match real!(self, deserialize_unit(visitor)) {
            Tree::Null => visitor.visit_unit(),
            _ => mismatch!(
                self,
                Error::invalid(Typed::NONE_REQUIRED),
                deserialize_unit(visitor)
            ),
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
        let value = real!(self, deserialize_newtype_struct(name, visitor));
        if name == RAW_VALUE_TOKEN {
            return raw_value(value, visitor);
        }
        self.place.check_stack()?;
        visitor.visit_newtype_struct(JsonDe {
            place: self.place.deeper(),
            ..self
        })
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match real!(self, deserialize_seq(visitor)) {
            Tree::Array(items) => self.tracked_seq(items, visitor),
            _ => mismatch!(
                self,
                Error::invalid(Typed::LIST_TYPE),
                deserialize_seq(visitor)
            ),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        match real!(self, deserialize_tuple(len, visitor)) {
            Tree::Array(items) => self.seq(items, visitor),
            _ => mismatch!(
                self,
                Error::invalid(Typed::TUPLE_TYPE),
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
            Tree::Array(items) => self.seq(items, visitor),
            _ => mismatch!(
                self,
                Error::invalid(Typed::TUPLE_TYPE),
                deserialize_tuple_struct(name, len, visitor)
            ),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match real!(self, deserialize_map(visitor)) {
            Tree::Object(map) => self.map(map, None, visitor),
            _ => mismatch!(
                self,
                Error::invalid(Typed::DICT_TYPE),
                deserialize_map(visitor)
            ),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // pydantic takes a model from an object only (serde also from an array).
        match real!(self, deserialize_struct(name, fields, visitor)) {
            Tree::Object(map) => self.map(map, Some(fields), visitor),
            _ => mismatch!(
                self,
                Error::invalid(Typed::MODEL_TYPE),
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
            Tree::String(s) => (s.as_str(), None),
            Tree::Object(map) if map.len() == 1 => (map[0].0.as_str(), Some(&map[0].1)),
            _ => {
                let error = Error::invalid(Typed::enumeration(variants));
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
    content: Option<&'s Tree>,
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
                let (raw, place) = (content.value, content.place);
                <() as de::Deserialize>::deserialize(content)
                    .map_err(|e| JsonDe::locate(raw, place, e))
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
                let (raw, place) = (content.value, content.place);
                seed.deserialize(content)
                    .map_err(|e| JsonDe::locate(raw, place, e))
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
                let (raw, place) = (content.value, content.place);
                content
                    .deserialize_tuple(len, visitor)
                    .map_err(|e| JsonDe::locate(raw, place, e))
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
                let (raw, place) = (content.value, content.place);
                content
                    .deserialize_struct("", fields, visitor)
                    .map_err(|e| JsonDe::locate(raw, place, e))
            }
        }
    }
}
