// Raw identifiers as function and parameter names (`r#type`, edition 2024's `r#gen`): the
// app names them without `r#` (graph, OpenAPI operation id and summary), as rustc does. They
// were named with it: summary `R#Type`, operation id `r_type_t_get`, graph `r#gen`.
use di_runtime::prelude::*;

#[depends]
async fn r#gen() -> String {
    "g".to_owned()
}

#[depends]
async fn r#type(#[dep(r#gen)] r#gen: &String, r#match: Query<u32>) -> String {
    format!("{gen}{}", r#match.0)
}

fn main() {
    let app = App::new().get("/t", r#type);
    app.check().unwrap();
    let json = app.openapi().unwrap().to_json();
    assert!(!json.contains("r#"), "{json}");
    assert!(json.contains(r#""operationId": "type_t_get""#), "{json}");
    assert!(json.contains(r#""summary": "Type""#), "{json}");
    let graph = format!("{:?}", app.graph().unwrap());
    assert!(!graph.contains("r#"), "{graph}");
}
