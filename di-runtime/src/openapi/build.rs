//! The walk that reads an [`OpenApi`] document off the planned routes: each route's whole
//! graph, after overrides, as a request runs it.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use crate::contract::doc::{InputDoc, InputKind, OutputDoc, OutputKind, Schemas, SecurityKind};
use crate::contract::meta::{DepMeta, ParamKind};
use crate::openapi::model::{
    ApiResponse, Components, Info, MediaType, OpenApi, Operation, Ordered, Parameter, RequestBody,
    SecurityScheme,
};
use crate::plan::routes::{Planned, RouteDef, param_spans, path_params};
use crate::response::body::sends_no_body;

/// Builds the document of `defs`, planned as `planned` (one planned route per definition,
/// in order).
pub(crate) fn document(info: Info, defs: &[RouteDef], planned: &Planned) -> OpenApi {
    let mut schemas = Schemas::new();
    let mut paths: Ordered<Ordered<Operation>> = Ordered::default();
    let mut security_schemes = BTreeMap::new();
    let mut validation_errors = false;
    let mut http_errors = false;
    let mut operation_ids = HashSet::new();
    for (def, route) in defs.iter().zip(&planned.in_order) {
        let method = def.method.as_str().to_ascii_lowercase();
        // A path item has a field for these methods only: a route of another (`PURGE`) is left
        // out of the document, which would not be valid with it.
        if !OPERATION_METHODS.contains(&method.as_str()) {
            continue;
        }
        // The handler is the last node; an override's replacement runs in its place.
        let handler = route.plan.nodes.last().map_or(def.handler, |n| n.meta);
        // Each input with the function that reads it.
        let inputs: Vec<(InputDoc, &'static DepMeta)> = route
            .plan
            .nodes
            .iter()
            .flat_map(|node| node.meta.params.iter().map(|param| (param, node.meta)))
            .filter_map(|(param, meta)| match param.kind {
                ParamKind::Input { describe, .. } => Some((describe(), meta)),
                _ => None,
            })
            .collect();
        let declared = declared_responses(route.plan.nodes.iter().map(|n| n.meta), handler);
        let path = openapi_path(&def.path);
        let mut operation = operation(handler, def, &path, &inputs, &declared, &mut schemas);
        // The same handler on two paths that differ only by `-` and `_` would have one id: the
        // second gets `_2` (an id must be unique in a document).
        let mut id = operation.operation_id.clone();
        let mut n = 1;
        while !operation_ids.insert(id.clone()) {
            n += 1;
            id = format!("{}_{n}", operation.operation_id);
        }
        operation.operation_id = id;
        // Every security input of the graph is read by the same request, so the schemes the
        // request must carry are one requirement object (OpenAPI reads two objects as "either
        // one"); each scheme required if any input requires it. Optional ones are listed beside
        // the required ones, then the required ones alone: `{}` when none is required (OpenAPI's
        // way to say a requirement may be left out).
        let mut schemes: BTreeMap<String, bool> = BTreeMap::new();
        for (input, _) in &inputs {
            let kind = match input.kind {
                InputKind::Security(kind) => Some(kind),
                InputKind::TypedHeader(header) => header.security(),
                _ => None,
            };
            if let Some(kind) = kind {
                let (base, scheme) = security_scheme(kind);
                let name = scheme_name(&mut security_schemes, base, scheme);
                *schemes.entry(name).or_default() |= input.required;
            }
        }
        if !schemes.is_empty() {
            let every: BTreeMap<String, Vec<String>> = schemes
                .keys()
                .map(|name| (name.clone(), Vec::new()))
                .collect();
            let required: BTreeMap<String, Vec<String>> = schemes
                .iter()
                .filter(|(_, required)| **required)
                .map(|(name, _)| (name.clone(), Vec::new()))
                .collect();
            let optional = required.len() < every.len();
            operation.security.push(every);
            if optional {
                operation.security.push(required);
            }
        }
        validation_errors |= operation.responses.get("422").is_some();
        http_errors |= operation
            .responses
            .0
            .iter()
            .any(|(_, response)| response.content == http_error_content());
        paths
            .entry(&path, Ordered::default)
            .0
            .push((method, operation));
    }
    // The schemas the document adds of its own, which no app's type may be filed under.
    let reserved: Vec<&str> = [
        (validation_errors, "HTTPValidationError"),
        (validation_errors, "ValidationError"),
        (http_errors, "HTTPError"),
    ]
    .into_iter()
    .filter_map(|(added, name)| added.then_some(name))
    .collect();
    let mut components = Components {
        schemas: named_schemas(&mut schemas, &mut paths, &reserved),
        security_schemes,
    };
    if validation_errors {
        components
            .schemas
            .insert("HTTPValidationError".to_owned(), http_validation_error());
        components
            .schemas
            .insert("ValidationError".to_owned(), validation_error());
    }
    if http_errors {
        components
            .schemas
            .insert("HTTPError".to_owned(), http_error());
    }
    OpenApi {
        openapi: "3.1.0",
        info,
        paths,
        components,
    }
}

/// The named schemas of `components.schemas`: the inputs' (as deserialized) and the outputs'
/// (as serialized), one schema for a type that reads the same both ways, and
/// `{Name}-Input` and `{Name}-Output` for one whose two schemas differ (or refer to one that
/// does), as FastAPI names them; a type named as one of the document's own schemas
/// (`reserved`) is given the next free number. The references in `paths` and in the schemas
/// are made to point at those names.
fn named_schemas(
    schemas: &mut Schemas,
    paths: &mut Ordered<Ordered<Operation>>,
    reserved: &[&str],
) -> BTreeMap<String, Value> {
    const INPUT_PATH: &str = "#/components/schemas/";
    let output_path = format!("#{}/", Schemas::OUTPUT_PATH);
    let inputs = schemas.input.take_definitions(true);
    let outputs = schemas.output.take_definitions(true);
    // An output's references as if they were the inputs' names, to compare the two sides.
    let as_input = |schema: &Value| {
        let mut schema = schema.clone();
        each_ref(&mut schema, &mut |reference| {
            if let Some(name) = reference.strip_prefix(&output_path) {
                *reference = format!("{INPUT_PATH}{name}");
            }
        });
        schema
    };
    let mut split: HashSet<String> = outputs
        .iter()
        .filter(|(name, schema)| {
            inputs
                .get(name.as_str())
                .is_some_and(|input| *input != as_input(schema))
        })
        .map(|(name, _)| name.clone())
        .collect();
    // A schema the same on both sides that refers to one that is not is split too.
    loop {
        let split_refs: HashSet<String> = split
            .iter()
            .map(|name| format!("{INPUT_PATH}{}", ref_name(name)))
            .collect();
        let more: Vec<String> = outputs
            .keys()
            .filter(|name| !split.contains(name.as_str()))
            .filter_map(|name| inputs.get(name.as_str()).map(|schema| (name, schema)))
            .filter(|(_, schema)| {
                let mut refers = false;
                each_ref(&mut (*schema).clone(), &mut |reference| {
                    refers |= split_refs.contains(reference.as_str());
                });
                refers
            })
            .map(|(name, _)| name.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        split.extend(more);
    }
    // A name the document gives a schema of its own (FastAPI's errors) is not left to an app's
    // type, whose schema would be written over: the app's takes the next free number, as
    // `schemars` names two types of one name.
    let mut taken: HashSet<String> = reserved.iter().map(|name| (*name).to_owned()).collect();
    taken.extend(inputs.keys().chain(outputs.keys()).cloned());
    taken.extend(
        split
            .iter()
            .flat_map(|name| [format!("{name}-Input"), format!("{name}-Output")]),
    );
    let mut shared: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for name in inputs.keys().chain(outputs.keys()) {
        if split.contains(name) || shared.contains_key(name) {
            continue;
        }
        let mut unreserved = name.clone();
        if reserved.contains(&name.as_str())
            && let Some(free) = (2..)
                .map(|n: u32| format!("{name}{n}"))
                .find(|candidate| !taken.contains(candidate))
        {
            taken.insert(free.clone());
            unreserved = free;
        }
        shared.insert(name.clone(), unreserved);
    }
    let final_name = |name: &str, suffix: &str| {
        if split.contains(name) {
            format!("{name}-{suffix}")
        } else {
            shared.get(name).cloned().unwrap_or_else(|| name.to_owned())
        }
    };
    let mut renamed: std::collections::HashMap<String, String> = inputs
        .keys()
        .filter(|name| final_name(name, "Input") != **name)
        .map(|name| {
            (
                format!("{INPUT_PATH}{}", ref_name(name)),
                format!("{INPUT_PATH}{}", ref_name(&final_name(name, "Input"))),
            )
        })
        .collect();
    renamed.extend(outputs.keys().map(|name| {
        (
            format!("{output_path}{}", ref_name(name)),
            format!("{INPUT_PATH}{}", ref_name(&final_name(name, "Output"))),
        )
    }));
    let rename = |schema: &mut Value| {
        each_ref(schema, &mut |reference| {
            if let Some(to) = renamed.get(reference.as_str()) {
                reference.clone_from(to);
            }
        });
    };
    let mut named = BTreeMap::new();
    for (name, mut schema) in inputs {
        rename(&mut schema);
        named.insert(final_name(&name, "Input"), schema);
    }
    for (name, mut schema) in outputs {
        rename(&mut schema);
        named.entry(final_name(&name, "Output")).or_insert(schema);
    }
    for (_, item) in &mut paths.0 {
        for (_, operation) in &mut item.0 {
            for parameter in &mut operation.parameters {
                rename(&mut parameter.schema);
            }
            let bodies = operation
                .request_body
                .iter_mut()
                .map(|body| &mut body.content);
            // The success only: the other responses are the document's own error schemas.
            let success = operation
                .responses
                .0
                .iter_mut()
                .take(1)
                .map(|(_, r)| &mut r.content);
            for content in bodies.chain(success) {
                for (_, media) in &mut content.0 {
                    rename(&mut media.schema);
                }
            }
        }
    }
    named
}

/// Calls `f` with every `$ref` of `schema`.
fn each_ref(schema: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::String(reference) if key == "$ref" => f(reference),
                    value => each_ref(value, f),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                each_ref(item, f);
            }
        }
        _ => {}
    }
}

/// `name` as a JSON Pointer in a URI fragment writes it, as `schemars` writes it in a `$ref`:
/// `~` and `/` escaped, what a fragment cannot hold percent-encoded.
fn ref_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        match byte {
            b'~' => out.push_str("~0"),
            b'/' => out.push_str("~1"),
            b'!' | b'$' | b'&'..=b';' | b'=' | b'?'..=b'Z' | b'_' | b'a'..=b'z' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// An error status a function declares: what it means, and whether the function's error type
/// answers it without a body (a bare `StatusCode`: see [`Declared::bodiless`]).
#[derive(Clone, Copy)]
struct Declared {
    description: &'static str,
    bodiless: bool,
}

impl Declared {
    /// The status `status` as `function` declares it (`description`): without a body when its
    /// error type sends none (`Result<T, StatusCode>`, as axum answers it), else with
    /// `HttpError`'s.
    fn of(function: &'static DepMeta, description: &'static str) -> Self {
        let error = (function.doc.error)();
        Self {
            description,
            bodiless: matches!(error.kind, OutputKind::Empty | OutputKind::Redirect),
        }
    }
}

/// The error statuses the functions of a route's graph declare (`#[depends(responses(..))]`),
/// once each, by status: the handler's own description (and error type's body) wins, then the
/// first function's in setup order.
fn declared_responses(
    functions: impl Iterator<Item = &'static DepMeta>,
    handler: &'static DepMeta,
) -> BTreeMap<u16, Declared> {
    let mut declared: BTreeMap<u16, Declared> = handler
        .doc
        .responses
        .iter()
        .map(|&(status, description)| (status, Declared::of(handler, description)))
        .collect();
    for function in functions {
        for &(status, description) in function.doc.responses {
            declared
                .entry(status)
                .or_insert_with(|| Declared::of(function, description));
        }
    }
    declared
}

/// One route's operation, without its security.
fn operation(
    handler: &'static DepMeta,
    def: &RouteDef,
    path: &str,
    inputs: &[(InputDoc, &'static DepMeta)],
    declared: &BTreeMap<u16, Declared>,
    schemas: &mut Schemas,
) -> Operation {
    let (summary, description) = summary(handler);
    let path_names: Vec<String> = path_params(&def.path)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut parameters: Vec<Parameter> = Vec::new();
    let mut request_body = None;
    let mut validated = false;
    for (input, reader) in inputs {
        let location = match input.kind {
            InputKind::Path => "path",
            InputKind::Query => "query",
            InputKind::Header => "header",
            InputKind::Cookie => "cookie",
            InputKind::Json | InputKind::Form | InputKind::Multipart | InputKind::BodyStream => {
                validated = true;
                // The first body input documents it, unless a later one requires it and the
                // first does not: a request without it is then refused.
                if request_body
                    .as_ref()
                    .is_none_or(|known: &RequestBody| !known.required && input.required)
                {
                    request_body = Some(body(input, reader, schemas));
                }
                continue;
            }
            InputKind::TypedHeader(name) => {
                validated = true;
                // An `Authorization` of a known scheme is a security requirement (OpenAPI
                // ignores a header parameter of that name), still answered 422 when it does not
                // decode.
                if name.security().is_some() {
                    continue;
                }
                let name = name.name();
                add_parameter(
                    &mut parameters,
                    Parameter {
                        name: name.to_owned(),
                        location: "header",
                        required: input.required,
                        schema: json!({"type": "string", "title": title_case(name)}),
                        example: None,
                    },
                );
                continue;
            }
            InputKind::Security(_) | InputKind::Undocumented => continue,
        };
        validated = true;
        let schema = (input.schema)(schemas, true);
        let order = (input.fields)();
        for mut parameter in fields(location, &schema, input.required, &path_names, order) {
            if location == "header" {
                parameter.name = parameter.name.replace('_', "-");
            }
            // FastAPI titles each parameter's schema by its name.
            if let Some(schema) = parameter.schema.as_object_mut() {
                schema
                    .entry("title")
                    .or_insert_with(|| Value::String(title_case(&parameter.name)));
            }
            add_parameter(&mut parameters, parameter);
        }
    }
    // Every `{name}` of the path is a parameter, even one no input reads.
    for name in &path_names {
        if !parameters
            .iter()
            .any(|p| p.location == "path" && p.name == *name)
        {
            parameters.push(Parameter {
                name: name.clone(),
                location: "path",
                required: true,
                schema: json!({"type": "string"}),
                example: None,
            });
        }
    }
    let mut responses = Ordered::default();
    let output = (handler.doc.output)();
    // A redirect is sent with its own status: `Redirect::to`'s `303` first (the others it
    // may send are listed below), unless the handler declares the one it chooses.
    let default_status = if output.kind == OutputKind::Redirect {
        303
    } else {
        200
    };
    let status = handler.doc.status.unwrap_or(default_status);
    responses.0.push((
        status.to_string(),
        success(handler, output, status, schemas),
    ));
    // The other statuses in order: those declared, and 422 when there are inputs (its
    // description the declared one, if any, as a route's `responses` replaces FastAPI's).
    let mut others: BTreeMap<u16, ApiResponse> = declared
        .iter()
        .filter(|(declared, _)| **declared != status)
        .map(|(&status, declared)| {
            let content = if status == 422 {
                json_content(json!({"$ref": "#/components/schemas/HTTPValidationError"}))
            } else if declared.bodiless {
                Ordered::default()
            } else {
                http_error_content()
            };
            let description = declared.description.to_owned();
            (
                status,
                ApiResponse {
                    description,
                    content,
                },
            )
        })
        .collect();
    // A `Redirect` without a declared status sends the one its constructor chose when the
    // handler ran (`to`: 303, `temporary`: 307, `permanent`: 308), which the document cannot
    // read: each is listed, so that a client made from it expects whichever comes.
    if output.kind == OutputKind::Redirect && handler.doc.status.is_none() {
        for (other, description) in [(307, "Temporary Redirect"), (308, "Permanent Redirect")] {
            others.entry(other).or_insert_with(|| ApiResponse {
                description: description.to_owned(),
                content: Ordered::default(),
            });
        }
    }
    if validated && status != 422 {
        others.entry(422).or_insert_with(|| ApiResponse {
            description: "Validation Error".to_owned(),
            content: json_content(json!({"$ref": "#/components/schemas/HTTPValidationError"})),
        });
    }
    responses.0.extend(
        others
            .into_iter()
            .map(|(status, response)| (status.to_string(), response)),
    );
    Operation {
        tags: def.tags.clone(),
        summary,
        description,
        operation_id: operation_id(handler.name, path, def.method.as_str()),
        security: Vec::new(),
        parameters,
        request_body,
        responses,
        deprecated: handler.doc.deprecated,
    }
}

/// Lists `parameter` once by place and name: a second input that reads it adds nothing, unless
/// it requires it and the first does not, when it takes the first's place (a request without
/// it is refused; FastAPI's required definition "takes precedence" too).
fn add_parameter(parameters: &mut Vec<Parameter>, parameter: Parameter) {
    match parameters
        .iter_mut()
        .find(|p| p.name == parameter.name && p.location == parameter.location)
    {
        None => parameters.push(parameter),
        Some(known) if !known.required && parameter.required => *known = parameter,
        Some(_) => {}
    }
}

/// The parameters a `Path`, `Query`, `Header` or `Cookie` input of schema `schema` reads:
/// one per property of a struct (required as its schema says), in the order the struct
/// declares its fields (`order`; the schema's, sorted by name, for those not in it), for a
/// path the tuple's items, a map's or a list's values, or a single value in the order of the
/// path's `{names}`.
fn fields(
    location: &'static str,
    schema: &Value,
    required: bool,
    path_names: &[String],
    order: &[&str],
) -> Vec<Parameter> {
    let parameter = |name: &str, schema: &Value, is_required: bool| Parameter {
        name: name.to_owned(),
        location,
        required: location == "path" || (required && is_required),
        schema: schema.clone(),
        example: schema
            .get("examples")
            .and_then(Value::as_array)
            .and_then(|examples| examples.first())
            .cloned(),
    };
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        let names: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut properties: Vec<(&String, &Value)> = properties.iter().collect();
        // A stable sort: a property the struct does not name keeps its place after the others.
        properties.sort_by_key(|(name, _)| {
            order
                .iter()
                .position(|field| *field == name.as_str())
                .unwrap_or(usize::MAX)
        });
        return properties
            .into_iter()
            .map(|(name, field)| parameter(name, field, names.contains(&name.as_str())))
            .collect();
    }
    if location != "path" {
        // A map, or a type without a schema: nothing to list.
        return Vec::new();
    }
    if let Some(items) = schema.get("prefixItems").and_then(Value::as_array) {
        return path_names
            .iter()
            .zip(items)
            .map(|(name, item)| parameter(name, item, true))
            .collect();
    }
    // A map (`HashMap<String, T>`) takes each `{name}` as a `T`, a list (`Vec<T>`) each in
    // order as a `T`: every name is one value, not the first the whole map or list.
    let each = match schema.get("type").and_then(Value::as_str) {
        Some("object") => Some(schema.get("additionalProperties")),
        Some("array") => Some(schema.get("items")),
        _ => None,
    };
    if let Some(each) = each {
        let each = each
            .filter(|each| each.is_object())
            .cloned()
            .unwrap_or_else(|| json!({"type": "string"}));
        return path_names
            .iter()
            .map(|name| parameter(name, &each, true))
            .collect();
    }
    path_names
        .first()
        .map(|name| parameter(name, schema, true))
        .into_iter()
        .collect()
}

/// The request body a `Json`, `Form`, `Multipart` or `BodyStream` input reads (a stream's
/// content type the one `reader`, the function with the input, declares).
fn body(input: &InputDoc, reader: &DepMeta, schemas: &mut Schemas) -> RequestBody {
    let (content_type, schema) = match input.kind {
        InputKind::Json => ("application/json", (input.schema)(schemas, false)),
        InputKind::Form => (
            "application/x-www-form-urlencoded",
            (input.schema)(schemas, false),
        ),
        InputKind::Multipart => ("multipart/form-data", json!({"type": "object"})),
        _ => (
            reader
                .doc
                .body_content_type
                .unwrap_or("application/octet-stream"),
            json!({}),
        ),
    };
    // A form none of whose fields is required is read from no body at all (FastAPI leaves
    // such a form body optional too); a JSON body is needed even then.
    let required = input.required
        && (input.kind != InputKind::Form
            || (input.schema)(schemas, true)
                .get("required")
                .and_then(Value::as_array)
                .is_some_and(|fields| !fields.is_empty()));
    RequestBody {
        required,
        content: Ordered(vec![(content_type.to_owned(), MediaType { schema })]),
    }
}

/// The handler's successful response of `status`, its output described by `output`.
fn success(
    handler: &'static DepMeta,
    output: OutputDoc,
    status: u16,
    schemas: &mut Schemas,
) -> ApiResponse {
    // A 1xx, 204, 205 or 304 is sent without a body whatever the handler gives (FastAPI
    // documents none either).
    if http::StatusCode::from_u16(status).is_ok_and(sends_no_body) {
        return ApiResponse {
            description: "Successful Response".to_owned(),
            content: Ordered::default(),
        };
    }
    let (content_type, schema) = match output.kind {
        OutputKind::Json => {
            // What a response sends: the type as it is serialized.
            schemas.serialize = true;
            let schema = (output.schema)(schemas, false);
            schemas.serialize = false;
            ("application/json", Some(schema))
        }
        OutputKind::Text => ("text/plain", Some(json!({"type": "string"}))),
        OutputKind::Html => ("text/html", Some(json!({"type": "string"}))),
        OutputKind::Empty | OutputKind::Redirect => ("", None),
        OutputKind::Bytes => ("application/octet-stream", Some(json!({}))),
        OutputKind::Stream => ("application/octet-stream", Some(json!({}))),
        OutputKind::Unknown => ("application/json", Some(json!({}))),
    };
    let content_type = handler.doc.content_type.unwrap_or(content_type);
    let content = match schema {
        Some(schema) => Ordered(vec![(content_type.to_owned(), MediaType { schema })]),
        None if !content_type.is_empty() => Ordered(vec![(
            content_type.to_owned(),
            MediaType { schema: json!({}) },
        )]),
        None => Ordered::default(),
    };
    ApiResponse {
        description: "Successful Response".to_owned(),
        content,
    }
}

/// The body of a declared error status: `HttpError`'s `{"detail": "..."}`.
fn http_error_content() -> Ordered<MediaType> {
    json_content(json!({"$ref": "#/components/schemas/HTTPError"}))
}

fn json_content(schema: Value) -> Ordered<MediaType> {
    Ordered(vec![("application/json".to_owned(), MediaType { schema })])
}

/// The summary (the doc comment's first paragraph, on one line; the handler's name in words
/// without one, as FastAPI makes it) and the description (the rest).
fn summary(handler: &DepMeta) -> (String, Option<String>) {
    let text = handler.doc.text.trim();
    if text.is_empty() {
        return (title_case(handler.name), None);
    }
    let (first, rest) = text.split_once("\n\n").unwrap_or((text, ""));
    let summary = first.lines().map(str::trim).collect::<Vec<_>>().join(" ");
    let rest = rest.trim();
    (summary, (!rest.is_empty()).then(|| rest.to_owned()))
}

/// `list_notes` as `List Notes`, `x-tenant-id` as `X-Tenant-Id`: Python's `str.title()` of
/// the name with underscores as spaces, as FastAPI makes summaries and parameter titles.
fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_word = false;
    for c in name.chars() {
        let c = if c == '_' { ' ' } else { c };
        if c.is_alphabetic() {
            if in_word {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            in_word = true;
        } else {
            out.push(c);
            in_word = false;
        }
    }
    out
}

/// FastAPI's `generate_unique_id`: the function's name and the path, each non-word character
/// as `_`, then `_` and the method in lowercase (`list_notes_notes_get`).
pub(crate) fn operation_id(name: &str, path: &str, method: &str) -> String {
    let mut id: String = format!("{name}{path}")
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    id.push('_');
    id.push_str(&method.to_ascii_lowercase());
    id
}

/// The route's path as OpenAPI writes it: a catch-all `{*rest}` as `{rest}`, and a literal
/// brace (`{{`, `}}`: the router's escape) as a URI writes it, `%7B` and `%7D` (OpenAPI reads
/// every `{name}` of a path as a parameter).
fn openapi_path(path: &str) -> String {
    let literal = |text: &str| text.replace("{{", "%7B").replace("}}", "%7D");
    let mut out = String::with_capacity(path.len());
    let mut last = 0;
    for span in param_spans(path) {
        let before = &path[last..span.start];
        let before = before
            .strip_suffix("{*")
            .or_else(|| before.strip_suffix('{'))
            .unwrap_or(before);
        out.push_str(&literal(before));
        out.push('{');
        out.push_str(&path[span.clone()]);
        out.push('}');
        // Past the name's closing brace.
        last = span.end + 1;
    }
    out.push_str(&literal(&path[last.min(path.len())..]));
    out
}

/// The methods a path item has a field for (OpenAPI 3.1).
const OPERATION_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The name `scheme` is known by in the document: `base`, as FastAPI names it, unless another
/// scheme of the same kind has it (another header's key): then `base` and the key's name.
fn scheme_name(
    schemes: &mut BTreeMap<String, SecurityScheme>,
    base: &str,
    scheme: SecurityScheme,
) -> String {
    let mut name = base.to_owned();
    if schemes.get(&name).is_some_and(|known| *known != scheme) {
        // Component names are letters, digits, `.`, `-` and `_`.
        let key: String = scheme
            .name
            .unwrap_or_default()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        name = format!("{base}_{key}");
    }
    schemes.entry(name.clone()).or_insert(scheme);
    name
}

fn security_scheme(kind: SecurityKind) -> (&'static str, SecurityScheme) {
    let api_key = |location, name| SecurityScheme {
        kind: "apiKey",
        location: Some(location),
        name: Some(name),
        scheme: None,
    };
    let http = |scheme| SecurityScheme {
        kind: "http",
        location: None,
        name: None,
        scheme: Some(scheme),
    };
    match kind {
        SecurityKind::ApiKeyHeader(name) => ("APIKeyHeader", api_key("header", name)),
        SecurityKind::ApiKeyQuery(name) => ("APIKeyQuery", api_key("query", name)),
        SecurityKind::ApiKeyCookie(name) => ("APIKeyCookie", api_key("cookie", name)),
        SecurityKind::HttpBearer => ("HTTPBearer", http("bearer")),
        SecurityKind::HttpBasic => ("HTTPBasic", http("basic")),
    }
}

/// FastAPI's `HTTPValidationError` schema, as FastAPI 0.165 writes it.
fn http_validation_error() -> Value {
    json!({
        "properties": {
            "detail": {
                "items": {"$ref": "#/components/schemas/ValidationError"},
                "type": "array",
                "title": "Detail"
            }
        },
        "type": "object",
        "title": "HTTPValidationError"
    })
}

/// The body of an `HttpError` (`{"detail": "note 7 not found"}`), as pydantic writes the
/// schema of a model `HTTPError` with one field `detail: str` (the FastAPI twin's).
fn http_error() -> Value {
    json!({
        "properties": {
            "detail": {"type": "string", "title": "Detail"}
        },
        "type": "object",
        "required": ["detail"],
        "title": "HTTPError",
        "description": "An error's body: `{\"detail\": \"...\"}`."
    })
}

/// FastAPI's `ValidationError` schema, as FastAPI 0.165 writes it.
fn validation_error() -> Value {
    json!({
        "properties": {
            "loc": {
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "type": "array",
                "title": "Location"
            },
            "msg": {"type": "string", "title": "Message"},
            "type": {"type": "string", "title": "Error Type"},
            "input": {"title": "Input"},
            "ctx": {"type": "object", "title": "Context"}
        },
        "type": "object",
        "required": ["loc", "msg", "type"],
        "title": "ValidationError"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_fastapis() {
        assert_eq!(
            operation_id("list_notes", "/notes", "GET"),
            "list_notes_notes_get"
        );
        assert_eq!(
            operation_id("get_note", "/notes/{id}", "GET"),
            "get_note_notes__id__get"
        );
    }

    #[test]
    fn names_and_paths() {
        assert_eq!(title_case("list_notes"), "List Notes");
        assert_eq!(title_case("x-tenant-id"), "X-Tenant-Id");
        assert_eq!(title_case("item_id2b"), "Item Id2B");
        assert_eq!(openapi_path("/a/{*rest}"), "/a/{rest}");
        assert_eq!(openapi_path("/a/{x}/b/{*rest}"), "/a/{x}/b/{rest}");
        assert_eq!(openapi_path("/{{a}}/{id}/}}x{{"), "/%7Ba%7D/{id}/%7Dx%7B");
        assert_eq!(openapi_path("/plain"), "/plain");
    }
}
