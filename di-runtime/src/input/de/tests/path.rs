//! Unit tests of path parameters: a single value, a tuple or a struct, every bad parameter
//! by name, and a type that does not fit the route.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::super::from_path;
use super::INT_PARSING;

fn path<T: DeserializeOwned>(params: &[(&str, &str)]) -> Result<T, Value> {
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    from_path(&params).map_err(|errors| {
        Value::Array(
            errors
                .iter()
                .map(|e| {
                    json!({"type": e.type_name(), "loc": e.loc(), "msg": e.msg(), "input": e.input_value()})
                })
                .collect(),
        )
    })
}

#[test]
fn path_parameters_single_tuple_and_struct() {
    assert_eq!(path::<i64>(&[("id", "7")]), Ok(7));
    assert_eq!(path::<String>(&[("name", "a b")]), Ok("a b".to_owned()));
    assert_eq!(
        path::<(u32, String)>(&[("id", "3"), ("slug", "x")]),
        Ok((3, "x".to_owned()))
    );

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Params {
        user: u32,
        item: u32,
    }
    assert_eq!(
        path::<Params>(&[("item", "2"), ("user", "1")]),
        Ok(Params { user: 1, item: 2 })
    );
}

#[test]
fn every_bad_path_parameter_is_reported_by_name() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code, reason = "deserialized only")]
    struct Params {
        user: u32,
        item: u32,
    }
    assert_eq!(
        path::<Params>(&[("user", "x"), ("item", "-1")]).unwrap_err(),
        json!([
            {"type": "int_parsing", "loc": ["path", "user"], "msg": INT_PARSING, "input": "x"},
            {"type": "greater_than_equal", "loc": ["path", "item"], "msg": "Input should be greater than or equal to 0", "input": "-1"}
        ])
    );
    assert_eq!(
        path::<(u32, i64)>(&[("a", "x"), ("b", "y")]).unwrap_err(),
        json!([
            {"type": "int_parsing", "loc": ["path", "a"], "msg": INT_PARSING, "input": "x"},
            {"type": "int_parsing", "loc": ["path", "b"], "msg": INT_PARSING, "input": "y"}
        ])
    );
    assert_eq!(
        path::<i64>(&[("id", "abc")]).unwrap_err(),
        json!([{"type": "int_parsing", "loc": ["path", "id"], "msg": INT_PARSING, "input": "abc"}])
    );
}

#[test]
fn a_path_type_that_does_not_fit_the_route_is_one_problem() {
    assert_eq!(
        path::<i64>(&[("a", "1"), ("b", "2")]).unwrap_err(),
        json!([{"type": "value_error", "loc": ["path"], "msg": "Value error, expected 1 path parameter, the route has 2", "input": null}])
    );
    assert_eq!(
        path::<(i64, i64, i64)>(&[("a", "1"), ("b", "2")]).unwrap_err(),
        json!([{"type": "value_error", "loc": ["path"], "msg": "Value error, expected 3 path parameters, the route has 2", "input": null}])
    );
}
