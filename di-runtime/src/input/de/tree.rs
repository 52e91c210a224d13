//! [`Tree`]: a parsed JSON body that keeps the order of its object keys, as Python's `dict`
//! does, so that a value sent back as a problem's `input` reads as FastAPI sends it
//! ([`Tree::write`]: compact, keys in input order, floats as Python's `repr`).
//!
//! Uses nothing else of the deserializer.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::response::error::push_json_str_within;

/// A JSON value; an object keeps its keys in input order (a repeated key keeps its first
/// place and its last value, as Python's `json` does).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tree {
    Null,
    Bool(bool),
    Number(Num),
    String(String),
    Array(Vec<Tree>),
    Object(Vec<(String, Tree)>),
}

/// A JSON number as serde_json reads it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    U(u64),
    I(i64),
    /// A float literal (`1.5`, `1e30`, `-0.0`).
    F(f64),
    /// An integer literal serde_json reads as a float where it reads any value: beyond 64
    /// bits, or `-0`. The float it reads, and the literal's own value (which it reads
    /// exactly where a `u128` or `i128` is asked). Only [`Tree::parse`] tells these from `F`.
    Int(f64, Wide),
}

/// The value of an integer literal that does not fit 64 bits (or `-0`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Wide {
    /// Beyond `u64::MAX`, up to `u128::MAX`.
    U(u128),
    /// Below `i64::MIN`, down to `i128::MIN`; or `-0` (`I(0)`).
    I(i128),
    /// Beyond 128 bits: negative or not.
    Beyond(bool),
}

impl Tree {
    /// The value at `key` of an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Tree> {
        match self {
            Tree::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The element at `index` of an array.
    pub(crate) fn at(&self, index: usize) -> Option<&Tree> {
        match self {
            Tree::Array(items) => items.get(index),
            _ => None,
        }
    }

    /// Appends this value as compact JSON, as Python's `json.dumps` with
    /// `separators=(",", ":")` and `ensure_ascii=False` writes it; false (and `out` left
    /// partly written) as soon as `out` would grow past `limit` bytes. A string that cannot
    /// fit is not written at all: what is written passes `limit` by a number or a
    /// bracket, comma or colon at most, never by a string.
    pub(crate) fn write(&self, out: &mut String, limit: usize) -> bool {
        match self {
            Tree::Null => out.push_str("null"),
            Tree::Bool(true) => out.push_str("true"),
            Tree::Bool(false) => out.push_str("false"),
            Tree::Number(Num::U(u)) => out.push_str(&u.to_string()),
            Tree::Number(Num::I(i)) => out.push_str(&i.to_string()),
            Tree::Number(Num::F(f) | Num::Int(f, Wide::Beyond(_))) => {
                out.push_str(&python_float(*f));
            }
            // Python keeps every digit of an integer (and `-0` is `0`).
            Tree::Number(Num::Int(_, Wide::U(u))) => out.push_str(&u.to_string()),
            Tree::Number(Num::Int(_, Wide::I(i))) => out.push_str(&i.to_string()),
            Tree::String(s) => {
                if !push_json_str_within(out, s, limit) {
                    return false;
                }
            }
            Tree::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if !item.write(out, limit) {
                        return false;
                    }
                }
                out.push(']');
            }
            Tree::Object(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if !push_json_str_within(out, k, limit) {
                        return false;
                    }
                    out.push(':');
                    if !v.write(out, limit) {
                        return false;
                    }
                }
                out.push('}');
            }
        }
        out.len() <= limit
    }

    /// How many values this one holds, itself included (an object's keys are not values):
    /// what one whole walk of it by the every-problem search visits.
    pub(crate) fn values(&self) -> usize {
        match self {
            Tree::Array(items) => items.iter().fold(1, |n, item| n + item.values()),
            Tree::Object(entries) => entries.iter().fold(1, |n, (_, v)| n + v.values()),
            _ => 1,
        }
    }

    /// This value as compact JSON text.
    #[cfg(test)]
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, usize::MAX);
        out
    }
}

/// A float as Python's `repr` writes it: the shortest digits that read back the same,
/// positional from 1e-4 up to 1e16 (with at least one decimal), scientific otherwise
/// (`1e+16`, `1e-05`).
pub(crate) fn python_float(f: f64) -> String {
    if !f.is_finite() {
        // Not produced by a JSON parser; Python's `json.dumps` spelling.
        return if f.is_nan() {
            "NaN".to_owned()
        } else if f > 0.0 {
            "Infinity".to_owned()
        } else {
            "-Infinity".to_owned()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `-1.2345e-7`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::from(sign);
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = usize::try_from(exp).unwrap_or(0) + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n(
                '0',
                usize::try_from(-exp - 1).unwrap_or(0),
            ));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    }
    out
}

/// Objects with more keys than this find repeated keys through an index.
const SCAN_KEYS: usize = 8;

impl Tree {
    /// A JSON body (all of it, as `serde_json::from_slice` reads it), its integer literals
    /// that serde_json reads as floats ([`Num::Int`]) told from its float literals: where a
    /// `u128` or `i128` is asked, serde_json reads the first exactly and refuses the second,
    /// and so does the every-problem search.
    pub(crate) fn parse(body: &[u8]) -> Result<Tree, serde_json::Error> {
        let wide = Wides {
            found: wide_literals(body),
            next: Cell::new(0),
            numbers: Cell::new(0),
        };
        let mut de = serde_json::Deserializer::from_slice(body);
        let tree = Deserializer::deserialize_any(&mut de, TreeVisitor(Some(&wide)))?;
        de.end()?;
        Ok(tree)
    }
}

/// The integer literals of a JSON text that serde_json reads as floats where it reads any
/// value (beyond 64 bits, or `-0`), each with its place among the text's numbers, in order.
/// The text need not be JSON (then it is not read after this).
fn wide_literals(text: &[u8]) -> Vec<(usize, Wide)> {
    let mut found = Vec::new();
    let mut numbers = 0;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                // A string: to its closing quote, past escapes.
                i += 1;
                while let Some(at) = memchr::memchr2(b'"', b'\\', text.get(i..).unwrap_or_default())
                {
                    i += at;
                    if text[i] == b'"' {
                        break;
                    }
                    i += 2;
                }
                if i < text.len() && text[i] == b'"' {
                    i += 1;
                } else {
                    // Not closed: nothing more is read.
                    i = text.len();
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < text.len()
                    && matches!(text[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                if let Some(wide) = std::str::from_utf8(&text[start..i])
                    .ok()
                    .and_then(wide_literal)
                {
                    found.push((numbers, wide));
                }
                numbers += 1;
            }
            _ => i += 1,
        }
    }
    found
}

/// The value of `literal` if it is an integer literal that serde_json reads as a float.
fn wide_literal(literal: &str) -> Option<Wide> {
    if literal.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        return None;
    }
    match literal.strip_prefix('-') {
        Some("0") => Some(Wide::I(0)),
        Some(_) => match literal.parse::<i128>() {
            Ok(i) => (i < i128::from(i64::MIN)).then_some(Wide::I(i)),
            Err(_) => Some(Wide::Beyond(true)),
        },
        None => match literal.parse::<u128>() {
            Ok(u) => (u > u128::from(u64::MAX)).then_some(Wide::U(u)),
            Err(_) => Some(Wide::Beyond(false)),
        },
    }
}

/// The wide literals of the text being read ([`wide_literals`]), and how far it is read.
struct Wides {
    found: Vec<(usize, Wide)>,
    /// The next of `found`.
    next: Cell<usize>,
    /// The numbers read so far.
    numbers: Cell<usize>,
}

impl Wides {
    /// Counts a number read; the value of its literal if it is the next wide one.
    fn number(&self) -> Option<Wide> {
        let n = self.numbers.get();
        self.numbers.set(n + 1);
        let next = self.next.get();
        match self.found.get(next) {
            Some(&(at, wide)) if at == n => {
                self.next.set(next + 1);
                Some(wide)
            }
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TreeVisitor(None))
    }
}

/// The key of the map serde_json gives a number as with its `arbitrary_precision` feature:
/// `{"$serde_json::private::Number": "1.5"}`, the number's literal (as serde_json writes it).
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

impl TreeVisitor<'_> {
    /// The number whose literal serde_json's `arbitrary_precision` gives (see
    /// [`NUMBER_TOKEN`]), read as serde_json reads that literal without the feature: a float
    /// literal as a float, an integer literal beyond 64 bits (or `-0`) as [`Num::Int`]; a
    /// number beyond `f64` is refused with serde_json's message, as it refuses it then.
    fn number_literal<E: serde::de::Error>(self, literal: &str) -> Result<Num, E> {
        let wide = self.0.and_then(Wides::number);
        let out_of_range = || E::custom("number out of range");
        if let Ok(u) = literal.parse::<u64>() {
            return Ok(Num::U(u));
        }
        if let Ok(i) = literal.parse::<i64>()
            && i != 0
        {
            return Ok(if i >= 0 {
                Num::U(i.unsigned_abs())
            } else {
                Num::I(i)
            });
        }
        let float = literal
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .ok_or_else(out_of_range)?;
        Ok(match wide.or_else(|| wide_literal(literal)) {
            Some(wide) => Num::Int(float, wide),
            None => Num::F(float),
        })
    }
}

/// Reads a [`Tree`]; with the wide literals of the text when [`Tree::parse`] reads it.
#[derive(Clone, Copy)]
struct TreeVisitor<'w>(Option<&'w Wides>);

impl<'de> DeserializeSeed<'de> for TreeVisitor<'_> {
    type Value = Tree;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Tree, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TreeVisitor<'_> {
    type Value = Tree;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }

    fn visit_none<E>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Tree, E> {
        Ok(Tree::Bool(b))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Tree, E> {
        if let Some(wides) = self.0 {
            wides.number();
        }
        Ok(Tree::Number(Num::U(u)))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Tree, E> {
        if let Some(wides) = self.0 {
            wides.number();
        }
        Ok(Tree::Number(if i >= 0 {
            Num::U(i.unsigned_abs())
        } else {
            Num::I(i)
        }))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Tree, E> {
        Ok(Tree::Number(match self.0.and_then(Wides::number) {
            Some(wide) => Num::Int(f, wide),
            None => Num::F(f),
        }))
    }

    fn visit_str<E>(self, s: &str) -> Result<Tree, E> {
        Ok(Tree::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Tree, E> {
        Ok(Tree::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Tree::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut entries: Vec<(String, Tree)> = Vec::new();
        let mut index: Option<HashMap<String, usize>> = None;
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self)?;
            if entries.is_empty() && key == NUMBER_TOKEN {
                // serde_json's `arbitrary_precision` (a feature another crate of the app may
                // turn on) gives every number that is not a 64-bit integer as this map.
                if let Tree::String(literal) = &value {
                    match map.next_key::<String>()? {
                        None => return self.number_literal(literal).map(Tree::Number),
                        Some(next) => {
                            // An object of the client's that has such a key.
                            entries.push((key, value));
                            let value = map.next_value_seed(self)?;
                            entries.push((next, value));
                            continue;
                        }
                    }
                }
            }
            if index.is_none() && entries.len() >= SCAN_KEYS {
                index = Some(
                    entries
                        .iter()
                        .enumerate()
                        .map(|(i, (k, _))| (k.clone(), i))
                        .collect(),
                );
            }
            let found = match &index {
                Some(index) => index.get(&key).copied(),
                None => entries.iter().position(|(k, _)| *k == key),
            };
            match found {
                Some(i) => entries[i].1 = value,
                None => {
                    if let Some(index) = &mut index {
                        index.insert(key.clone(), entries.len());
                    }
                    entries.push((key, value));
                }
            }
        }
        Ok(Tree::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_stops_before_a_string_that_cannot_fit() {
        let long = "x".repeat(100_000);
        let body = format!(r#"{{"name":"{long}","tags":["a","b"],"{long}":1}}"#);
        let tree = Tree::parse(body.as_bytes()).unwrap();
        for limit in [0, 5, 10, 1000, 100_001] {
            let mut out = String::new();
            assert!(!tree.write(&mut out, limit), "{limit}");
            // What was written is a prefix of the whole, never more than the limit but for
            // the punctuation before the string that did not fit (no string of it).
            assert!(
                out.len() <= limit + 2,
                "{limit}: {} bytes written",
                out.len()
            );
            assert!(tree.to_text().starts_with(&out), "{limit}");
        }
        // A key too long to fit.
        let tree = Tree::parse(format!(r#"{{"{long}":1}}"#).as_bytes()).unwrap();
        let mut out = String::new();
        assert!(!tree.write(&mut out, 1000));
        assert_eq!(out, "{");
        // What fits exactly is written whole.
        let text = tree.to_text();
        let mut out = String::new();
        assert!(tree.write(&mut out, text.len()));
        assert_eq!(out, text);
    }

    #[test]
    fn floats_read_as_python_writes_them() {
        for (f, python) in [
            (1e30, "1e+30"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123.0, "123.0"),
            (-0.0, "-0.0"),
            (0.5, "0.5"),
            (1.25, "1.25"),
            (-1.5e-7, "-1.5e-07"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (123456.789, "123456.789"),
        ] {
            assert_eq!(python_float(f), python, "{f}");
        }
    }

    /// serde_json's `arbitrary_precision` feature, which another crate of an app may turn on
    /// (cargo unifies features), gives each number that is not a 64-bit integer as a map
    /// `{"$serde_json::private::Number": literal}`. The tree took it for an object: every 422
    /// of a body with a float in it named serde_json's private key in its `input`
    /// (`{"$serde_json::private::Number":"1.5"}`), a float in an integer field was `int_type`
    /// instead of `int_from_float`, and a number beyond `f64` (`1e400`) was read. Such a map
    /// is read here as the number it stands for (what serde_json gives without the feature).
    #[test]
    fn numbers_of_serde_jsons_arbitrary_precision_are_read_as_numbers() {
        let number = |literal: &str| format!(r#"{{"$serde_json::private::Number":"{literal}"}}"#);
        let body = format!(
            r#"[{},{},{},{},{},{}]"#,
            number("1.5"),
            number("-0"),
            number("18446744073709551616"),
            number("-9223372036854775809"),
            number("1e+30"),
            number("1000000000000000000000000000000000000000"),
        );
        let tree = Tree::parse(body.as_bytes()).expect("valid JSON");
        let plain = Tree::parse(
            b"[1.5,-0,18446744073709551616,-9223372036854775809,1e30,1000000000000000000000000000000000000000]",
        )
        .expect("valid JSON");
        assert_eq!(tree, plain);
        assert_eq!(tree.to_text(), plain.to_text());
        // Beyond `f64`: refused, as serde_json refuses `1e400` without the feature.
        let error = Tree::parse(number("1e+400").as_bytes()).expect_err("out of range");
        assert!(
            error.to_string().starts_with("number out of range"),
            "{error}"
        );
        // An object of the client's with that key and another is an object.
        let tree = Tree::parse(br#"{"$serde_json::private::Number":"1","a":2}"#).expect("JSON");
        assert_eq!(
            tree.to_text(),
            r#"{"$serde_json::private::Number":"1","a":2}"#
        );
    }

    #[test]
    fn integer_literals_beyond_64_bits_are_told_from_float_literals() {
        let tree = Tree::parse(
            br#"{"a":"-1e5 \" 18446744073709551616","b":[1,-0,-0.0,1e30,18446744073709551616],"c":-9223372036854775809,"d":-9223372036854775808,"e":1000000000000000000000000000000000000000}"#,
        )
        .expect("valid JSON");
        let Some(Tree::Array(b)) = tree.get("b") else {
            panic!("an array")
        };
        assert_eq!(b[0], Tree::Number(Num::U(1)));
        assert_eq!(b[1], Tree::Number(Num::Int(-0.0, Wide::I(0))));
        assert_eq!(b[2], Tree::Number(Num::F(-0.0)));
        assert_eq!(b[3], Tree::Number(Num::F(1e30)));
        assert!(matches!(
            b[4],
            Tree::Number(Num::Int(_, Wide::U(18_446_744_073_709_551_616)))
        ));
        assert!(matches!(
            tree.get("c"),
            Some(Tree::Number(Num::Int(
                _,
                Wide::I(-9_223_372_036_854_775_809)
            )))
        ));
        assert_eq!(tree.get("d"), Some(&Tree::Number(Num::I(i64::MIN))));
        assert!(matches!(
            tree.get("e"),
            Some(Tree::Number(Num::Int(_, Wide::Beyond(false))))
        ));
        // Each float is the one serde_json reads.
        let value: serde_json::Value = serde_json::from_str("[-0,18446744073709551616]").unwrap();
        let tree = Tree::parse(b"[-0,18446744073709551616]").expect("valid JSON");
        assert_eq!(
            tree.to_text(),
            "[0,18446744073709551616]",
            "the literals' digits, as Python writes them"
        );
        let Tree::Array(items) = tree else {
            panic!("an array")
        };
        for (item, value) in items.iter().zip(value.as_array().unwrap()) {
            let Tree::Number(Num::Int(f, _)) = item else {
                panic!("{item:?}")
            };
            assert_eq!(f.to_bits(), value.as_f64().unwrap().to_bits());
        }
    }

    #[test]
    fn objects_keep_their_key_order_and_the_last_of_a_repeated_key() {
        let tree: Tree = serde_json::from_str(r#"{"b": 1, "a": [true, null, -2, 0.5], "b": "x"}"#)
            .expect("valid JSON");
        assert_eq!(tree.to_text(), r#"{"b":"x","a":[true,null,-2,0.5]}"#);
        let many: String = (0..20).map(|i| format!(r#""k{}": {i},"#, i % 12)).collect();
        let tree: Tree = serde_json::from_str(&format!("{{{many} \"z\": 0}}")).expect("valid");
        let Tree::Object(entries) = &tree else {
            panic!("an object")
        };
        assert_eq!(entries.len(), 13);
        assert_eq!(tree.get("k3"), Some(&Tree::Number(Num::U(15))));
    }
}
