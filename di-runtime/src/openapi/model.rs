//! The OpenAPI 3.1 document as typed structs that serialize to its JSON.
//!
//! Written here rather than taken from a model crate: `oas3` (the maintained 3.1 model) brings
//! `url` with its Unicode tables, `regex`, `derive_more` and `semver` for a document this
//! crate only writes; these structs hold the part of the format the runtime produces, and
//! JSON Schemas stay `serde_json::Value`s as `schemars` makes them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

/// An OpenAPI 3.1 document, as [`App::openapi`](crate::App::openapi) builds it.
///
/// Serializes to the document's JSON ([`OpenApi::to_json`]); its fields can also be read
/// (to test what a route documents).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct OpenApi {
    /// `3.1.0`.
    pub openapi: &'static str,
    /// The API's title and version.
    pub info: Info,
    /// Each path, in the order its first route was registered.
    pub paths: Ordered<PathItem>,
    /// The named schemas and the security schemes.
    #[serde(skip_serializing_if = "Components::is_empty")]
    pub components: Components,
}

impl OpenApi {
    /// The document as JSON text (two-space indented, keys in the document's order).
    #[must_use]
    pub fn to_json(&self) -> String {
        // Serializing these structs cannot fail: every map key is a string.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The operation at `path` (as registered, `/notes/{id}`) for `method` (`"get"`).
    #[must_use]
    pub fn operation(&self, path: &str, method: &str) -> Option<&Operation> {
        self.paths.get(path)?.get(&method.to_ascii_lowercase())
    }
}

/// The document's `info`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Info {
    /// The API's name.
    pub title: String,
    /// The API's version (not the OpenAPI version).
    pub version: String,
    /// A longer description (CommonMark).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A map that keeps the order its entries were added in.
#[derive(Clone, Debug, PartialEq)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<V> Ordered<V> {
    /// The value of `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, added with `make` if absent.
    pub(crate) fn entry(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        let index = match self.0.iter().position(|(k, _)| k == key) {
            Some(index) => index,
            None => {
                self.0.push((key.to_owned(), make()));
                self.0.len() - 1
            }
        };
        &mut self.0[index].1
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// Whether it is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<V: Serialize> Serialize for Ordered<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The operations of one path, by lowercase method (`get`, `post`, ...).
pub type PathItem = Ordered<Operation>;

/// One route.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Operation {
    /// The tags of the groups the route is in.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The first paragraph of the handler's doc comment, or its name in words.
    pub summary: String,
    /// The rest of the doc comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// FastAPI's: `{function}{path}` with every non-word character as `_`, then `_{method}`.
    pub operation_id: String,
    /// The security schemes the route's graph reads, in one requirement object (a request
    /// must carry them all); when some are optional, a second object with the required ones
    /// alone (`{}` when none is).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security: Vec<BTreeMap<String, Vec<String>>>,
    /// Every path, query, header and cookie input of the route's graph, once each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    /// The body a `Json`, `Form`, `Multipart` or `BodyStream` input reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<RequestBody>,
    /// By status: the handler's success, then 422 when the route has inputs.
    pub responses: Ordered<ApiResponse>,
    /// The handler is `#[deprecated]`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
}

/// One parameter.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Parameter {
    /// Its name (a header's in lowercase with hyphens).
    pub name: String,
    /// `path`, `query`, `header` or `cookie`.
    #[serde(rename = "in")]
    pub location: &'static str,
    /// Whether the request must carry it.
    pub required: bool,
    /// Its JSON Schema.
    pub schema: Value,
    /// An example value: the first of its schema's `examples` (a field's
    /// `#[schemars(example = ..)]`), where Swagger UI shows a parameter's example.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
}

/// A request body.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RequestBody {
    /// Whether the request must carry it.
    pub required: bool,
    /// By content type.
    pub content: Ordered<MediaType>,
}

/// A body of one content type.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MediaType {
    /// Its JSON Schema.
    pub schema: Value,
}

/// One response.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ApiResponse {
    /// `Successful Response`, `Validation Error`.
    pub description: String,
    /// By content type; empty for a response without a body.
    #[serde(skip_serializing_if = "Ordered::is_empty")]
    pub content: Ordered<MediaType>,
}

/// The named schemas and security schemes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Components {
    /// Named JSON Schemas, by name (sorted, as FastAPI sorts them).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub schemas: BTreeMap<String, Value>,
    /// Security schemes, by FastAPI's names (`APIKeyHeader`, `HTTPBearer`, ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub security_schemes: BTreeMap<String, SecurityScheme>,
}

impl Components {
    fn is_empty(&self) -> bool {
        self.schemas.is_empty() && self.security_schemes.is_empty()
    }
}

/// A security scheme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SecurityScheme {
    /// `apiKey` or `http`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// An API key's place: `header`, `query` or `cookie`.
    #[serde(rename = "in", skip_serializing_if = "Option::is_none")]
    pub location: Option<&'static str>,
    /// An API key's header, query parameter or cookie name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    /// An HTTP scheme: `bearer` or `basic`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<&'static str>,
}
