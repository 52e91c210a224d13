//! Unit tests of path parameters: a single value, a tuple or a struct, every bad parameter
//! by name, and a type that does not fit the route.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::super::from_path;

fn path<T: DeserializeOwned>(params: &[(&str, &str)]) -> Result<T, Value> {
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    from_path(&params).map_err(|errors| {
        Value::Array(
            errors
                .iter()
                .map(|e| json!({"loc": e.loc(), "msg": e.msg()}))
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
            {"loc": ["path", "user"], "msg": "value is not a valid non-negative integer"},
            {"loc": ["path", "item"], "msg": "value is not a valid non-negative integer"}
        ])
    );
    assert_eq!(
        path::<(u32, i64)>(&[("a", "x"), ("b", "y")]).unwrap_err(),
        json!([
            {"loc": ["path", "a"], "msg": "value is not a valid non-negative integer"},
            {"loc": ["path", "b"], "msg": "value is not a valid integer"}
        ])
    );
    assert_eq!(
        path::<i64>(&[("id", "abc")]).unwrap_err(),
        json!([{"loc": ["path", "id"], "msg": "value is not a valid integer"}])
    );
}

#[test]
fn a_path_type_that_does_not_fit_the_route_is_one_problem() {
    assert_eq!(
        path::<i64>(&[("a", "1"), ("b", "2")]).unwrap_err(),
        json!([{"loc": ["path"], "msg": "expected 1 path parameter, the route has 2"}])
    );
    assert_eq!(
        path::<(i64, i64, i64)>(&[("a", "1"), ("b", "2")]).unwrap_err(),
        json!([{"loc": ["path"], "msg": "expected 3 path parameters, the route has 2"}])
    );
}
