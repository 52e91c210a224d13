//! Unit tests of the deserializers: JSON bodies and query strings here, with the helpers and
//! types the others share; path parameters in [`path`], the bounds of the search in
//! [`bounds`].

mod bounds;
mod cost;
mod fast;
mod path;

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::tree::Tree;
use super::{from_json, from_query};
use crate::response::error::{HttpError, InputError};

/// pydantic's message for a text that is not an integer.
const INT_PARSING: &str = "Input should be a valid integer, unable to parse string as an integer";

/// The `detail` of the 422 these problems make.
fn detail(errors: Vec<InputError>) -> Value {
    HttpError::invalid_input(errors).detail().clone()
}

/// `value` as a body (its objects' keys in serde_json's sorted order).
fn body<T: DeserializeOwned>(value: Value) -> Result<T, Value> {
    let tree: Tree = serde_json::from_value(value).expect("any JSON value is a tree");
    from_json(&tree).map_err(detail)
}

fn query<T: DeserializeOwned>(query: &str) -> Result<T, Value> {
    from_query(query).map_err(detail)
}

fn problems<T>(result: Result<T, Value>) -> Value {
    match result {
        Ok(_) => panic!("expected problems"),
        Err(detail) => detail,
    }
}

fn locs(detail: &Value) -> Vec<Value> {
    detail
        .as_array()
        .expect("a list of problems")
        .iter()
        .map(|p| p["loc"].clone())
        .collect()
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct NewNote {
    title: String,
    priority: u8,
    body: String,
    due: Option<u32>,
}

#[test]
fn two_invalid_fields_and_a_missing_one_are_all_reported_in_field_order() {
    let detail = problems(body::<NewNote>(json!({"priority": "high", "title": 5})));
    assert_eq!(
        detail,
        json!([
            {"type": "string_type", "loc": ["body", "title"], "msg": "Input should be a valid string", "input": 5},
            {"type": "int_parsing", "loc": ["body", "priority"], "msg": INT_PARSING, "input": "high"},
            {"type": "missing", "loc": ["body", "body"], "msg": "Field required", "input": {"priority": "high", "title": 5}},
        ])
    );
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Page {
    limit: u32,
    offset: i64,
    q: Option<String>,
    sort: String,
}

#[test]
fn query_reports_every_bad_and_missing_field() {
    let detail = problems(query::<Page>("offset=x&limit=-1&q=hi"));
    assert_eq!(
        detail,
        json!([
            {"type": "greater_than_equal", "loc": ["query", "limit"], "msg": "Input should be greater than or equal to 0", "input": "-1", "ctx": {"ge": 0}},
            {"type": "int_parsing", "loc": ["query", "offset"], "msg": INT_PARSING, "input": "x"},
            {"type": "missing", "loc": ["query", "sort"], "msg": "Field required", "input": null},
        ])
    );
    let page = query::<Page>("limit=5&offset=-2&sort=title%20asc").expect("valid");
    assert_eq!(
        (
            page.limit,
            page.offset,
            page.q.as_deref(),
            page.sort.as_str()
        ),
        (5, -2, None, "title asc")
    );
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Order {
    customer: Customer,
    items: Vec<Item>,
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Customer {
    name: String,
    address: Address,
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Address {
    city: String,
    zip: u32,
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Item {
    name: String,
    qty: u32,
}

#[test]
fn nested_structs_and_arrays_give_nested_locations() {
    let detail = problems(body::<Order>(json!({
        "customer": {"name": "Ann", "address": {"city": 7, "zip": "x"}},
        "items": [{"name": "a", "qty": 1}, {"name": "b", "qty": -1}, {"qty": 2}],
    })));
    assert_eq!(
        detail,
        json!([
            {"type": "string_type", "loc": ["body", "customer", "address", "city"], "msg": "Input should be a valid string", "input": 7},
            {"type": "int_parsing", "loc": ["body", "customer", "address", "zip"], "msg": INT_PARSING, "input": "x"},
            {"type": "greater_than_equal", "loc": ["body", "items", 1, "qty"], "msg": "Input should be greater than or equal to 0", "input": -1, "ctx": {"ge": 0}},
            {"type": "missing", "loc": ["body", "items", 2, "name"], "msg": "Field required", "input": {"qty": 2}},
        ])
    );
}

#[test]
fn a_missing_or_mistyped_struct_is_one_problem_not_one_per_inner_field() {
    let detail = problems(body::<Order>(json!({"items": []})));
    assert_eq!(
        detail,
        json!([{"type": "missing", "loc": ["body", "customer"], "msg": "Field required", "input": {"items": []}}])
    );
    let detail = problems(body::<Order>(json!({"customer": "Ann", "items": "none"})));
    assert_eq!(
        detail,
        json!([
            {"type": "model_attributes_type", "loc": ["body", "customer"], "msg": "Input should be a valid dictionary or object to extract fields from", "input": "Ann"},
            {"type": "list_type", "loc": ["body", "items"], "msg": "Input should be a valid list", "input": "none"},
        ])
    );
    let detail = problems(body::<Order>(json!({})));
    assert_eq!(
        locs(&detail),
        [json!(["body", "customer"]), json!(["body", "items"])]
    );
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Filter {
    limit: Option<u32>,
    tag: Option<String>,
    n: u8,
}

#[test]
fn option_fields_may_be_absent_or_null_but_not_invalid() {
    let filter = body::<Filter>(json!({"n": 1})).expect("valid");
    assert_eq!((filter.limit, filter.tag), (None, None));
    let filter = body::<Filter>(json!({"limit": null, "tag": "t", "n": 1})).expect("valid");
    assert_eq!((filter.limit, filter.tag.as_deref()), (None, Some("t")));
    assert_eq!(
        locs(&problems(body::<Filter>(json!({"limit": "x", "tag": 3})))),
        [
            json!(["body", "limit"]),
            json!(["body", "tag"]),
            json!(["body", "n"])
        ]
    );

    let filter = query::<Filter>("n=2").expect("valid");
    assert_eq!((filter.limit, filter.tag, filter.n), (None, None, 2));
    let filter = query::<Filter>("n=2&limit=7&tag=").expect("valid");
    assert_eq!((filter.limit, filter.tag.as_deref()), (Some(7), Some("")));
    assert_eq!(
        problems(query::<Filter>("limit=&n=300")),
        json!([
            {"type": "int_parsing", "loc": ["query", "limit"], "msg": INT_PARSING, "input": ""},
            {"type": "less_than_equal", "loc": ["query", "n"], "msg": "Input should be less than or equal to 255", "input": "300", "ctx": {"le": 255}},
        ])
    );
}

#[derive(Debug, Deserialize, PartialEq)]
enum Color {
    Red,
    Green,
}

#[derive(Debug, Deserialize, PartialEq)]
enum Shape {
    Circle { r: f64 },
    Square(f64),
    Dot,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Paint {
    color: Color,
    shape: Shape,
    coats: u8,
}

#[test]
fn enums_report_unknown_variants_and_problems_inside_variants() {
    let detail = problems(body::<Paint>(json!({
        "color": "Purple",
        "shape": {"Circle": {"r": "big"}},
        "coats": "two",
    })));
    assert_eq!(
        detail,
        json!([
            {"type": "enum", "loc": ["body", "color"], "msg": "Input should be 'Red' or 'Green'", "input": "Purple", "ctx": {"expected": "'Red' or 'Green'"}},
            {"type": "float_parsing", "loc": ["body", "shape", "Circle", "r"], "msg": "Input should be a valid number, unable to parse string as a number", "input": "big"},
            {"type": "int_parsing", "loc": ["body", "coats"], "msg": INT_PARSING, "input": "two"},
        ])
    );
    assert_eq!(
        locs(&problems(body::<Paint>(
            json!({"color": 1, "shape": {"Circle": {}}})
        ))),
        [
            json!(["body", "color"]),
            json!(["body", "shape", "Circle", "r"]),
            json!(["body", "coats"])
        ]
    );
    assert_eq!(
        body::<Paint>(json!({"color": "Green", "shape": {"Square": 2.0}, "coats": 1})),
        Ok(Paint {
            color: Color::Green,
            shape: Shape::Square(2.0),
            coats: 1
        })
    );
    assert_eq!(
        body::<Paint>(json!({"color": "Red", "shape": "Dot", "coats": 0})),
        Ok(Paint {
            color: Color::Red,
            shape: Shape::Dot,
            coats: 0
        })
    );

    #[derive(Debug, Deserialize)]
    struct Pick {
        #[allow(dead_code, reason = "deserialized only")]
        color: Color,
        #[allow(dead_code, reason = "deserialized only")]
        n: u8,
    }
    assert_eq!(
        locs(&problems(query::<Pick>("color=Blue&n=x"))),
        [json!(["query", "color"]), json!(["query", "n"])]
    );
    assert_eq!(
        query::<Pick>("color=Green&n=1").map(|p| p.color),
        Ok(Color::Green)
    );
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(default)]
struct Settings {
    page: u32,
    size: u32,
    name: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            page: 1,
            size: 20,
            name: "x".to_owned(),
        }
    }
}

#[derive(Debug, Deserialize, PartialEq)]
struct Mixed {
    #[serde(default)]
    verbose: bool,
    level: u8,
}

#[test]
fn serde_default_fields_are_not_required() {
    assert_eq!(body::<Settings>(json!({})), Ok(Settings::default()));
    assert_eq!(query::<Settings>(""), Ok(Settings::default()));
    assert_eq!(
        locs(&problems(body::<Settings>(
            json!({"size": "big", "page": -1})
        ))),
        [json!(["body", "page"]), json!(["body", "size"])]
    );
    assert_eq!(
        problems(body::<Mixed>(json!({}))),
        json!([{"type": "missing", "loc": ["body", "level"], "msg": "Field required", "input": {}}])
    );
    assert_eq!(
        query::<Mixed>("level=3"),
        Ok(Mixed {
            verbose: false,
            level: 3
        })
    );
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Strict {
    name: String,
    age: u8,
}

#[test]
fn unknown_fields_are_reported_with_deny_unknown_fields() {
    let detail = problems(body::<Strict>(
        json!({"name": 1, "nick": "x", "extra": 2, "age": 3}),
    ));
    assert_eq!(
        detail,
        json!([
            {"type": "string_type", "loc": ["body", "name"], "msg": "Input should be a valid string", "input": 1},
            {"type": "extra_forbidden", "loc": ["body", "extra"], "msg": "Extra inputs are not permitted", "input": 2},
            {"type": "extra_forbidden", "loc": ["body", "nick"], "msg": "Extra inputs are not permitted", "input": "x"},
        ])
    );
    // Fields first, in their order, then the keys no field takes, as pydantic reports them.
    assert_eq!(
        locs(&problems(query::<Strict>("zzz=1&name=a"))),
        [json!(["query", "age"]), json!(["query", "zzz"])]
    );
    assert!(body::<Strict>(json!({"name": "a", "age": 3})).is_ok());
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Id(u32);

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Wrapped(Page);

#[test]
fn newtypes_tuples_and_plain_values_at_the_top_level() {
    assert_eq!(
        problems(body::<(u32, String, bool)>(json!(["a", 5, true]))),
        json!([
            {"type": "int_parsing", "loc": ["body", 0], "msg": INT_PARSING, "input": "a"},
            {"type": "string_type", "loc": ["body", 1], "msg": "Input should be a valid string", "input": 5},
        ])
    );
    assert_eq!(
        body::<(u32, String, bool)>(json!([1, "a", true])),
        Ok((1, "a".to_owned(), true))
    );
    assert_eq!(
        problems(body::<Id>(json!("x"))),
        json!([{"type": "int_parsing", "loc": ["body"], "msg": INT_PARSING, "input": "x"}])
    );
    assert_eq!(body::<Id>(json!(4)).map(|id| id.0), Ok(4));
    assert_eq!(
        problems(body::<String>(json!(5))),
        json!([{"type": "string_type", "loc": ["body"], "msg": "Input should be a valid string", "input": 5}])
    );
    assert_eq!(body::<String>(json!("hi")), Ok("hi".to_owned()));
    assert_eq!(
        problems(body::<(u32, u32)>(json!([1, 2, 3]))),
        json!([{
            "type": "too_long", "loc": ["body"],
            "msg": "Tuple should have at most 2 items after validation, not 3", "input": [1, 2, 3],
            "ctx": {"field_type": "Tuple", "max_length": 2, "actual_length": 3},
        }])
    );
    assert_eq!(
        problems(body::<(u32, u32)>(json!([1]))),
        json!([{"type": "missing", "loc": ["body", 1], "msg": "Field required", "input": [1]}])
    );
    assert_eq!(body::<Option<u8>>(json!(null)), Ok(None));
    assert_eq!(body::<Option<u8>>(json!(3)), Ok(Some(3)));
    assert_eq!(
        body::<Value>(json!({"a": [1, null]})),
        Ok(json!({"a": [1, null]}))
    );

    assert_eq!(
        locs(&problems(query::<Wrapped>("limit=x&offset=1"))),
        [json!(["query", "limit"]), json!(["query", "sort"])]
    );
    assert_eq!(
        query::<Vec<(String, String)>>("a=1&b=2&a=3"),
        Ok(vec![
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "3".to_owned()),
        ])
    );
    assert_eq!(
        problems(query::<HashMap<String, u32>>("a=1&b=x")),
        json!([{"type": "int_parsing", "loc": ["query", "b"], "msg": INT_PARSING, "input": "x"}])
    );
    assert_eq!(query::<()>(""), Ok(()));
}

#[test]
fn bad_map_keys_are_reported_and_skipped() {
    assert_eq!(
        problems(body::<HashMap<u32, u8>>(json!({"1": 2, "x": 3, "4": "y"}))),
        json!([
            {"type": "int_parsing", "loc": ["body", "4"], "msg": INT_PARSING, "input": "y"},
            {"type": "int_parsing", "loc": ["body", "x", "[key]"], "msg": INT_PARSING, "input": "x"},
        ])
    );
    assert_eq!(
        body::<HashMap<u32, u8>>(json!({"1": 2})),
        Ok(HashMap::from([(1, 2)]))
    );
    // A key out of its integer type's range is pydantic's bound, as a value would be.
    assert_eq!(
        problems(body::<HashMap<u8, u8>>(json!({"300": 1}))),
        json!([{
            "type": "less_than_equal", "loc": ["body", "300", "[key]"],
            "msg": "Input should be less than or equal to 255", "input": "300", "ctx": {"le": 255},
        }])
    );
    assert_eq!(
        problems(body::<HashMap<String, char>>(json!({"a": "xy", "b": ""}))),
        json!([
            {"type": "string_too_long", "loc": ["body", "a"], "msg": "String should have at most 1 character", "input": "xy", "ctx": {"max_length": 1}},
            {"type": "string_too_short", "loc": ["body", "b"], "msg": "String should have at least 1 character", "input": "", "ctx": {"min_length": 1}},
        ])
    );
}

#[derive(Debug, Deserialize, PartialEq)]
struct Tags {
    tag: Vec<u32>,
    one: String,
}

#[test]
fn repeated_query_keys_fill_sequences_and_the_last_wins_for_scalars() {
    assert_eq!(
        query::<Tags>("tag=1&one=a&tag=2&one=b"),
        Ok(Tags {
            tag: vec![1, 2],
            one: "b".to_owned()
        })
    );
    assert_eq!(
        locs(&problems(query::<Tags>("tag=1&tag=x&tag=y"))),
        [
            json!(["query", "tag", 1]),
            json!(["query", "tag", 2]),
            json!(["query", "one"])
        ]
    );
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Outer {
    id: u32,
    #[serde(flatten)]
    inner: Inner,
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Inner {
    name: String,
}

#[test]
fn flattened_fields_are_found_without_invented_problems() {
    assert_eq!(
        problems(body::<Outer>(json!({"id": "x"}))),
        json!([
            {"type": "int_parsing", "loc": ["body", "id"], "msg": INT_PARSING, "input": "x"},
            {"type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": {"id": "x"}},
        ])
    );
    assert!(body::<Outer>(json!({"id": 1, "name": "n"})).is_ok());
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Flat {
    id: u64,
    #[serde(flatten)]
    inner: FlatInner,
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct FlatInner {
    x: i32,
    #[serde(default)]
    y: Option<String>,
}

/// serde reads a flattened struct's fields from its `Content` buffer, which loses where they
/// were: a problem there is found by the value it is about, and reported at its field with
/// what the JSON deserializer would have said of it there.
#[test]
fn a_problem_of_a_flattened_field_is_at_that_field() {
    assert_eq!(
        problems(body::<Flat>(json!({"id": 1, "x": 1.5, "y": "a"}))),
        json!([{
            "type": "int_from_float",
            "loc": ["body", "x"],
            "msg": "Input should be a valid integer, got a number with a fractional part",
            "input": 1.5,
        }])
    );
    assert_eq!(
        problems(body::<Flat>(json!({"id": 1, "x": "z", "y": 5}))),
        json!([
            {"type": "int_parsing", "loc": ["body", "x"], "msg": INT_PARSING, "input": "z"},
            {"type": "string_type", "loc": ["body", "y"], "msg": "Input should be a valid string", "input": 5},
        ])
    );
    // Two values it could be about: at the object holding them, as before.
    let twice = problems(body::<Flat>(json!({"id": 1, "x": "z", "y": "z"})));
    assert_eq!(locs(&twice), [json!(["body"])], "{twice}");
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
#[serde(tag = "kind")]
enum Tagged {
    A { a: u16, b: bool },
    B { b: bool },
}

/// The fields of an internally tagged variant are read from the same buffer as a flattened
/// struct's: their problems are at their fields too.
#[test]
fn a_problem_of_an_internally_tagged_variant_is_at_its_field() {
    assert_eq!(
        problems(body::<Tagged>(json!({"kind": "A", "a": "z", "b": true}))),
        json!([{"type": "int_parsing", "loc": ["body", "a"], "msg": INT_PARSING, "input": "z"}])
    );
    let bad = problems(body::<Tagged>(json!({"kind": "A", "a": 1, "b": 7})));
    assert_eq!(locs(&bad), [json!(["body", "b"])], "{bad}");
    assert_eq!(bad[0]["type"], "bool_parsing", "{bad}");
    let missing = problems(body::<Tagged>(json!({"kind": "B"})));
    assert_eq!(locs(&missing), [json!(["body", "b"])], "{missing}");
}

/// A body as `Json<T>` reads it: its text parsed, integer literals told from float ones.
fn body_text<T: DeserializeOwned>(text: &str) -> Result<T, Value> {
    let tree = Tree::parse(text.as_bytes()).expect("valid JSON");
    from_json(&tree).map_err(detail)
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct WideInts {
    n: u128,
    m: i128,
    bad: u8,
}

/// serde_json reads a `u128` or `i128` from an integer literal exactly and from no float
/// literal; elsewhere it reads an integer literal beyond 64 bits (or `-0`) as a float. The
/// search tells the two apart as it does.
#[test]
fn a_wide_integer_is_read_from_its_literal_as_serde_json_reads_it() {
    let fine = [
        r#"{"n":340282366920938463463374607431768211455,"m":-170141183460469231731687303715884105728,"bad":"x"}"#,
        r#"{"n":18446744073709551616,"m":-0,"bad":"x"}"#,
        r#"{"n":0,"m":170141183460469231731687303715884105727,"bad":"x"}"#,
    ];
    for text in fine {
        assert!(serde_json::from_str::<WideInts>(&text.replace("\"x\"", "1")).is_ok());
        let detail = problems(body_text::<WideInts>(text));
        assert_eq!(locs(&detail), [json!(["body", "bad"])], "{text}: {detail}");
    }
    for (text, kind, loc) in [
        (r#"{"n":1e30,"m":0,"bad":"x"}"#, "int_type", "n"),
        (r#"{"n":1.0,"m":0,"bad":"x"}"#, "int_type", "n"),
        (r#"{"n":-0,"m":0,"bad":"x"}"#, "int_type", "n"),
        (r#"{"n":1,"m":-1e30,"bad":"x"}"#, "int_type", "m"),
        (
            r#"{"n":340282366920938463463374607431768211456,"m":0,"bad":"x"}"#,
            "less_than_equal",
            "n",
        ),
        (
            r#"{"n":1,"m":-170141183460469231731687303715884105729,"bad":"x"}"#,
            "greater_than_equal",
            "m",
        ),
        (
            r#"{"n":1,"m":1000000000000000000000000000000000000000000,"bad":"x"}"#,
            "less_than_equal",
            "m",
        ),
    ] {
        assert!(serde_json::from_str::<WideInts>(&text.replace("\"x\"", "1")).is_err());
        let detail = problems(body_text::<WideInts>(text));
        assert_eq!(
            locs(&detail),
            [json!(["body", loc]), json!(["body", "bad"])],
            "{text}: {detail}"
        );
        assert_eq!(detail[0]["type"], kind, "{text}: {detail}");
    }
    // Where any value is read, the literal is the float serde_json reads; where a narrower
    // integer is asked, it is out of range (or, `-0`, no integer for serde).
    let detail = problems(body_text::<Vec<u64>>("[18446744073709551616,-0]"));
    assert_eq!(detail[0]["type"], "less_than_equal", "{detail}");
    assert_eq!(detail[1]["type"], "int_type", "{detail}");
    assert_eq!(
        body_text::<Vec<f64>>("[18446744073709551616,-0]").ok(),
        serde_json::from_str::<Vec<f64>>("[18446744073709551616,-0]").ok()
    );
    // Its `input` keeps every digit, as Python's does.
    let tree = Tree::parse(b"123456789012345678901234567890").expect("valid JSON");
    let errors = from_json::<u64>(&tree).expect_err("out of range");
    let body = HttpError::invalid_input(errors)
        .body_json()
        .map(<[u8]>::to_vec);
    let body = String::from_utf8(body.unwrap_or_default()).unwrap_or_default();
    assert!(
        body.contains(r#""input":123456789012345678901234567890"#),
        "{body}"
    );
}

/// A field read through the app's own `deserialize_with`, which wraps the error it gets in a
/// message of its own: the error's `Display` is the app's to read, whatever the problem.
#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct AppWrapped {
    #[serde(deserialize_with = "wrapped")]
    keys: std::collections::BTreeMap<u32, String>,
    #[serde(deserialize_with = "wrapped")]
    count: u8,
    #[serde(deserialize_with = "wrapped")]
    inner: WrappedInner,
}

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct WrappedInner {
    name: String,
}

fn wrapped<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map_err(|e| serde::de::Error::custom(format!("wrapped[{e}]")))
}

#[test]
fn an_error_the_app_formats_reads_as_its_problem() {
    let detail = problems(body::<AppWrapped>(json!({
        "keys": {"abc": "x"},
        "count": "many",
        "inner": {},
    })));
    let msgs: Vec<&str> = detail
        .as_array()
        .expect("a list of problems")
        .iter()
        .map(|p| p["msg"].as_str().expect("a message"))
        .collect();
    assert_eq!(
        msgs,
        [
            format!("Value error, wrapped[{INT_PARSING}]").as_str(),
            // Found by the deserializer itself, and answered with a placeholder at once.
            INT_PARSING,
            "Value error, wrapped[missing field `name`]",
        ]
    );
}

/// What serde_json's `Box<RawValue>` (feature `raw_value`, which any crate of an app may turn
/// on) asks of a deserializer: a newtype of its private name, given as a map of one entry
/// whose value is the JSON text.
#[derive(Debug)]
struct RawJson(String);

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl<'de> serde::de::Visitor<'de> for RawVisitor {
            type Value = RawJson;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any valid JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawJson, A::Error> {
                match map.next_key::<String>()? {
                    Some(key) if key == "$serde_json::private::RawValue" => {
                        map.next_value::<String>().map(RawJson)
                    }
                    _ => Err(serde::de::Error::custom("unexpected raw value")),
                }
            }
        }
        deserializer.deserialize_newtype_struct("$serde_json::private::RawValue", RawVisitor)
    }
}

/// A `Box<RawValue>` field was refused by the search ("invalid type: newtype struct, expected
/// any valid JSON value") whatever it held: a body with another problem got a second one at
/// the raw field, and one with a missing field was told only of the raw field.
#[test]
fn a_raw_value_field_is_read_by_the_search() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "deserialized only")]
    struct Event {
        id: u32,
        payload: RawJson,
    }
    assert_eq!(
        locs(&problems(body::<Event>(
            json!({"id": "x", "payload": {"x": [1, 2.5]}})
        ))),
        [json!(["body", "id"])]
    );
    assert_eq!(
        locs(&problems(body::<Event>(json!({"payload": [1]})))),
        [json!(["body", "id"])]
    );
    assert_eq!(
        locs(&problems(body::<Event>(json!({})))),
        [json!(["body", "id"]), json!(["body", "payload"])]
    );
    let tree = Tree::parse(br#"{"id":1,"payload":{"b":[1,2.5],"a":null}}"#).unwrap();
    let event: Event = from_json(&tree).expect("valid");
    assert_eq!(event.payload.0, r#"{"b":[1,2.5],"a":null}"#);
}
