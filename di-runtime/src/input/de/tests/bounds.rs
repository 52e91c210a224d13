//! Unit tests of the search's bounds: types that would loop, one attempt for all type errors,
//! a large body, a placeholder that does not deserialize, and deep but valid input.

use std::cell::Cell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Value, json};

use super::super::problem::{BASE_ATTEMPTS, MAX_PROBLEMS, WORK_BUDGET};
use super::super::tree::Tree;
use super::{Filter, Item, body, locs, problems, query};

thread_local! {
    static ATTEMPTS: Cell<usize> = const { Cell::new(0) };
}

/// Counts how many times it is deserialized.
#[derive(Debug)]
struct Counted<T>(#[allow(dead_code, reason = "deserialized only")] T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Counted<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ATTEMPTS.with(|n| n.set(n.get() + 1));
        T::deserialize(deserializer).map(Counted)
    }
}

/// Needs itself, forever: `{}` has a missing `next`, its placeholder too, and so on.
#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Chain {
    next: Box<Chain>,
}

/// Always misses one more field than it was given.
#[derive(Debug)]
struct Endless;

impl<'de> Deserialize<'de> for Endless {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Endless;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Endless, A::Error> {
                let mut seen = 0;
                while map.next_key::<de::IgnoredAny>()?.is_some() {
                    map.next_value::<de::IgnoredAny>()?;
                    seen += 1;
                }
                let name: &'static str = Box::leak(format!("f{seen}").into_boxed_str());
                Err(de::Error::missing_field(name))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// A newtype of itself: no finite value has this type.
#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Deep(Box<Deep>);

/// The placeholder of the first variant is the first variant again.
#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
enum Expr {
    Neg(Box<Expr>),
    Lit(u32),
}

#[test]
fn types_that_would_loop_are_stopped() {
    ATTEMPTS.with(|n| n.set(0));
    assert_eq!(
        problems(body::<Counted<Chain>>(json!({}))),
        json!([{"type": "missing", "loc": ["body", "next"], "msg": "Field required", "input": {}}])
    );
    let attempts = ATTEMPTS.with(Cell::get);
    assert!(
        attempts <= BASE_ATTEMPTS + 1,
        "{attempts} attempts for one problem"
    );

    let detail = problems(body::<Endless>(json!({})));
    let locs = locs(&detail);
    assert_eq!(locs.len(), MAX_PROBLEMS);
    assert_eq!(locs[0], json!(["body", "f0"]));
    assert_eq!(
        locs[MAX_PROBLEMS - 1],
        json!(["body", format!("f{}", MAX_PROBLEMS - 1)])
    );
    assert_eq!(
        problems(query::<Endless>("")).as_array().map(Vec::len),
        Some(MAX_PROBLEMS)
    );

    assert_eq!(
        problems(body::<Deep>(json!(5))),
        json!([{
            "type": "value_error", "loc": ["body"], "msg": "Value error, value is nested too deeply",
            "input": 5, "ctx": {"error": {}},
        }])
    );
    assert_eq!(
        problems(body::<Expr>(json!({"Neg": "x"}))),
        json!([{
            "type": "enum", "loc": ["body", "Neg"], "msg": "Input should be 'Neg' or 'Lit'",
            "input": "x", "ctx": {"expected": "'Neg' or 'Lit'"},
        }])
    );
    assert!(body::<Expr>(json!({"Neg": {"Neg": {"Lit": 1}}})).is_ok());
}

#[test]
fn type_errors_are_all_found_in_one_attempt() {
    ATTEMPTS.with(|n| n.set(0));
    let detail = problems(body::<Counted<Vec<Item>>>(json!([
        {"name": 1, "qty": "a"},
        {"name": "ok", "qty": 2},
        {"name": [], "qty": {}},
    ])));
    assert_eq!(
        locs(&detail),
        [
            json!(["body", 0, "name"]),
            json!(["body", 0, "qty"]),
            json!(["body", 2, "name"]),
            json!(["body", 2, "qty"])
        ]
    );
    assert_eq!(ATTEMPTS.with(Cell::get), 1);

    ATTEMPTS.with(|n| n.set(0));
    let detail = problems(query::<Counted<Filter>>("limit=x&n=y"));
    assert_eq!(
        locs(&detail),
        [json!(["query", "limit"]), json!(["query", "n"])]
    );
    assert_eq!(ATTEMPTS.with(Cell::get), 1);
}

#[test]
fn a_large_body_is_not_walked_again_and_again() {
    // Missing fields are found by the visitor: one attempt each, but an attempt leaves out
    // the elements earlier ones read without a problem, so the 20 000 good ones are walked
    // by the first attempt and by the last (which gives the repaired value) only, and every
    // problem is listed.
    let mut items: Vec<Value> = (0..20_000)
        .map(|_| json!({"name": "a", "qty": 1}))
        .collect();
    items.extend((0..40).map(|_| json!({"qty": 1})));
    ATTEMPTS.with(|n| n.set(0));
    let detail = problems(body::<Counted<Vec<Item>>>(Value::Array(items)));
    let attempts = ATTEMPTS.with(Cell::get);
    assert!(attempts <= 40 + 2, "{attempts} attempts");
    let listed = locs(&detail);
    assert_eq!(listed.len(), 40);
    assert_eq!(listed[0], json!(["body", 20_000, "name"]));
    assert_eq!(listed[39], json!(["body", 20_039, "name"]));

    // Problems far apart in a body whose walks to each would together pass the budget
    // (3 x 90 000 values and more): what lies between them is not walked again.
    let mut items: Vec<Value> = (0..30_000)
        .map(|_| json!({"name": "a", "qty": 1}))
        .collect();
    for i in [5, 9_000, 29_999] {
        items[i] = json!({"qty": 1});
    }
    let detail = problems(body::<Vec<Item>>(Value::Array(items)));
    assert_eq!(
        locs(&detail),
        [
            json!(["body", 5, "name"]),
            json!(["body", 9_000, "name"]),
            json!(["body", 29_999, "name"])
        ]
    );
}

#[test]
fn a_large_body_with_problems_spread_through_it_lists_them_all() {
    // 40 000 items, 120 001 values (more than `WORK_BUDGET`), a missing field in every
    // thousandth: the attempts to them together walk the body once (each leaves out what
    // the earlier ones read), which the budget allows beyond one whole walk. Once the budget
    // was 65,536 values in all, and the problems past about item 21 800 were not listed.
    let items: Vec<Value> = (0..40_000)
        .map(|i| {
            if i % 1_000 == 999 {
                json!({"qty": 1})
            } else {
                json!({"name": "a", "qty": 1})
            }
        })
        .collect();
    let tree: Tree = serde_json::from_value(Value::Array(items.clone())).expect("a tree");
    assert!(tree.values() > WORK_BUDGET);
    ATTEMPTS.with(|n| n.set(0));
    let detail = problems(body::<Counted<Vec<Item>>>(Value::Array(items)));
    let attempts = ATTEMPTS.with(Cell::get);
    assert!(attempts <= 40 + 2, "{attempts} attempts");
    let expected: Vec<Value> = (0..40)
        .map(|k| json!(["body", k * 1_000 + 999, "name"]))
        .collect();
    assert_eq!(locs(&detail), expected);
}

/// A body whose every attempt walks its `pad` whole (a `Value` is read as `any`, whose
/// arrays are not left out), before the items.
#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Padded {
    pad: Value,
    items: Vec<Item>,
}

#[test]
fn a_body_walked_whole_by_every_attempt_is_cut_off_by_the_budget() {
    // 100 000 values of `pad` before 40 items each missing a field: each problem costs a
    // walk of the whole body, and the budget (65,536 values beyond one walk) stops the
    // search after the second, with the problems found by then.
    let items: Vec<Value> = (0..40).map(|_| json!({"qty": 1})).collect();
    let pad: Vec<Value> = (0..100_000).map(|i| json!(i)).collect();
    ATTEMPTS.with(|n| n.set(0));
    let detail = problems(body::<Counted<Padded>>(json!({"pad": pad, "items": items})));
    let attempts = ATTEMPTS.with(Cell::get);
    assert_eq!(attempts, 2, "{attempts} attempts");
    assert_eq!(
        locs(&detail),
        [
            json!(["body", "items", 0, "name"]),
            json!(["body", "items", 1, "name"])
        ]
    );
}

/// Takes exactly 40 items: a check of the sequence's length, which an attempt that leaves
/// out elements must not report.
#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
#[serde(try_from = "Vec<Item>")]
struct Forty(Vec<Item>);

impl TryFrom<Vec<Item>> for Forty {
    type Error = String;
    fn try_from(items: Vec<Item>) -> Result<Self, String> {
        if items.len() == 40 {
            Ok(Forty(items))
        } else {
            Err(format!("{} items, not 40", items.len()))
        }
    }
}

#[test]
fn a_check_of_a_sequence_sees_all_of_it() {
    let mut items: Vec<Value> = (0..40).map(|_| json!({"name": "a", "qty": 1})).collect();
    items[35] = json!({"qty": 1});
    items[38] = json!({"name": "b"});
    assert_eq!(
        locs(&problems(body::<Forty>(Value::Array(items.clone())))),
        [json!(["body", 35, "name"]), json!(["body", 38, "qty"])]
    );
    items.push(json!({"name": "c", "qty": 1}));
    let detail = problems(body::<Forty>(Value::Array(items)));
    assert_eq!(
        locs(&detail),
        [
            json!(["body"]),
            json!(["body", 35, "name"]),
            json!(["body", 38, "qty"])
        ]
    );
    assert_eq!(detail[0]["msg"], json!("Value error, 41 items, not 40"));
}

/// Rejects the empty string, so its placeholder does not deserialize.
#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
struct NonEmpty(String);

impl TryFrom<String> for NonEmpty {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, &'static str> {
        if s.is_empty() {
            Err("must not be empty")
        } else {
            Ok(NonEmpty(s))
        }
    }
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Form {
    n: u8,
    name: NonEmpty,
    other: u8,
}

#[test]
fn custom_validation_errors_are_located_and_a_rejected_placeholder_is_read_last() {
    assert_eq!(
        problems(body::<Form>(json!({"n": "x", "name": "", "other": 1}))),
        json!([
            {"type": "int_parsing", "loc": ["body", "n"], "msg": super::INT_PARSING, "input": "x"},
            // A type's own error is pydantic's `ValueError` of a validator.
            {"type": "value_error", "loc": ["body", "name"], "msg": "Value error, must not be empty", "input": "", "ctx": {"error": {}}},
        ])
    );
    // The placeholder for `name` is "" again, which it refuses: every attempt fails there,
    // so it is read after the other fields, whose problems are still found.
    assert_eq!(
        locs(&problems(body::<Form>(json!({"name": 5, "other": "y"})))),
        [json!(["body", "name"]), json!(["body", "other"])]
    );
    assert_eq!(
        locs(&problems(body::<Form>(
            json!({"other": "y", "name": 5, "n": 300})
        ))),
        [
            json!(["body", "n"]),
            json!(["body", "name"]),
            json!(["body", "other"])
        ]
    );
}

#[test]
fn deep_but_valid_input_is_fine() {
    let mut value = json!(1);
    for _ in 0..120 {
        value = json!([value]);
    }
    // Read as `Json` reads it: a value this deep is read on a thread with room for it (each
    // level of a value read as "any value" is counted as a buffered one).
    assert_eq!(
        super::super::with_room(|| body::<Value>(value.clone())),
        Ok(value)
    );
}
