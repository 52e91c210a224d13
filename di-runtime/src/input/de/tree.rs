//! [`Tree`]: a parsed JSON body that keeps the order of its object keys, as Python's `dict`
//! does, so that a value sent back as a problem's `input` reads as FastAPI sends it
//! ([`Tree::write`]: compact, keys in input order, floats as Python's `repr`).
//!
//! Uses nothing else of the deserializer.

use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::response::error::push_json_str;

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
    F(f64),
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
    /// partly written) as soon as `out` grows past `limit` bytes.
    pub(crate) fn write(&self, out: &mut String, limit: usize) -> bool {
        match self {
            Tree::Null => out.push_str("null"),
            Tree::Bool(true) => out.push_str("true"),
            Tree::Bool(false) => out.push_str("false"),
            Tree::Number(Num::U(u)) => out.push_str(&u.to_string()),
            Tree::Number(Num::I(i)) => out.push_str(&i.to_string()),
            Tree::Number(Num::F(f)) => out.push_str(&python_float(*f)),
            Tree::String(s) => push_json_str(out, s),
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
                    push_json_str(out, k);
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

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
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
        Tree::deserialize(d)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Tree, E> {
        Ok(Tree::Bool(b))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Tree, E> {
        Ok(Tree::Number(Num::U(u)))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Tree, E> {
        Ok(Tree::Number(if i >= 0 {
            Num::U(i.unsigned_abs())
        } else {
            Num::I(i)
        }))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Tree, E> {
        Ok(Tree::Number(Num::F(f)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Tree, E> {
        Ok(Tree::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Tree, E> {
        Ok(Tree::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Tree::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut entries: Vec<(String, Tree)> = Vec::new();
        let mut index: Option<HashMap<String, usize>> = None;
        while let Some((key, value)) = map.next_entry::<String, Tree>()? {
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
