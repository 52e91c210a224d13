//! What `#[depends]` records about a function for the OpenAPI document (cargo feature
//! `openapi`): its doc comment, the status it declares, what each request input is
//! ([`InputDoc`]) and what the function returns ([`OutputDoc`]), each with a way to make the
//! JSON Schema of its type ([`SchemaFn`]).
//!
//! The macro cannot know whether the feature is on, nor whether a type derives
//! `schemars::JsonSchema`, so the choice is made where the type is concrete, as
//! [`Probe`](crate::input::validate::Probe) does for validated inputs: generated code asks
//! `(&SchemaProbe::<T>::NEW).schema(..)`, and method resolution finds [`SchemaKnown`] (on
//! `SchemaProbe<T>`, only with the feature and only for a `T: JsonSchema`) before
//! [`SchemaUnknown`] (on `&SchemaProbe<T>`, every type), which gives the empty schema `{}`. The
//! same is done for what kind of input ([`DescribeKnown`]) or output ([`OutputKnown`]) a
//! type is. Nothing here runs on a request's path: these are function pointers in each
//! function's static description, called only when a document is built.

use std::fmt;
use std::marker::PhantomData;

use http::StatusCode;
use serde_json::Value;

use crate::response::headers::ResponseHeaders;
use crate::response::page::{Html, Redirect};
use crate::response::stream::StreamBody;

/// The JSON Schemas made while a document is built: with the `openapi` feature, two
/// `schemars` generators, one for what a request sends (parameters and bodies: how a type is
/// deserialized) and one for what a response sends (how it is serialized), which differ for
/// a type with `#[serde(default)]`, `skip_serializing_if`, `skip_deserializing` or a rename
/// of one side only.
pub struct Schemas {
    /// Inputs: named types referenced as `#/components/schemas/{name}`.
    #[cfg(feature = "openapi")]
    pub(crate) input: schemars::SchemaGenerator,
    /// Outputs: named types referenced under [`Schemas::OUTPUT_PATH`] until the document is
    /// made, when each is given its name in `components.schemas`.
    #[cfg(feature = "openapi")]
    pub(crate) output: schemars::SchemaGenerator,
    /// Whether the schema asked for is an output's.
    #[cfg(feature = "openapi")]
    pub(crate) serialize: bool,
}

#[cfg(feature = "openapi")]
impl Schemas {
    /// Where the output generator's named types are referenced, until their names are known.
    pub(crate) const OUTPUT_PATH: &'static str = "/components/x-di-output";

    /// A collector whose input types are referenced as `#/components/schemas/{name}`, in
    /// JSON Schema 2020-12 as OpenAPI 3.1 wants.
    pub(crate) fn new() -> Self {
        let settings = |path: &'static str| {
            let mut settings = schemars::generate::SchemaSettings::draft2020_12();
            settings.definitions_path = path.into();
            settings
        };
        Self {
            input: settings("/components/schemas")
                .for_deserialize()
                .into_generator(),
            output: settings(Self::OUTPUT_PATH).for_serialize().into_generator(),
            serialize: false,
        }
    }

    /// The generator of the side a schema is asked for.
    fn generator(&mut self) -> &mut schemars::SchemaGenerator {
        if self.serialize {
            &mut self.output
        } else {
            &mut self.input
        }
    }
}

/// Makes the JSON Schema of one type: a reference to a named type unless `inline` is true,
/// when the type's own schema is wanted (to list a struct's fields as parameters).
pub type SchemaFn = fn(&mut Schemas, inline: bool) -> Value;

/// The schema of a type that says nothing of itself: `{}`, which any value matches.
pub fn any_schema(_schemas: &mut Schemas, _inline: bool) -> Value {
    Value::Object(serde_json::Map::new())
}

/// What `#[depends]` asks for the schema of `T` (see the module documentation).
pub struct SchemaProbe<T: ?Sized>(PhantomData<fn() -> Box<T>>);

impl<T: ?Sized> SchemaProbe<T> {
    /// The probe of `T`.
    pub const NEW: Self = SchemaProbe(PhantomData);
}

/// Found first by method resolution on `&SchemaProbe<T>`: a `T: schemars::JsonSchema` has
/// its schema (feature `openapi`).
pub trait SchemaKnown {
    /// The schema of the type.
    fn schema(&self, schemas: &mut Schemas, inline: bool) -> Value;
}

#[cfg(feature = "openapi")]
impl<T: schemars::JsonSchema + ?Sized> SchemaKnown for SchemaProbe<T> {
    fn schema(&self, schemas: &mut Schemas, inline: bool) -> Value {
        let schema = if inline {
            T::json_schema(schemas.generator())
        } else {
            schemas.generator().subschema_for::<T>()
        };
        // `true` (any value, as for `serde_json::Value`) is written `{}`, as FastAPI does.
        match schema.to_value() {
            Value::Bool(true) => any_schema(schemas, inline),
            value => value,
        }
    }
}

/// Found after one more auto-reference: any other type has the schema `{}`.
pub trait SchemaUnknown {
    /// `{}`.
    fn schema(&self, schemas: &mut Schemas, inline: bool) -> Value {
        any_schema(schemas, inline)
    }
}

impl<T: ?Sized> SchemaUnknown for &SchemaProbe<T> {}

/// The names of a struct's fields in the order they are declared (serde's names, after
/// `rename`), as its derived `Deserialize` hands them to a deserializer; empty for any other
/// type. The document lists a `Query<T>`'s parameters in this order, as FastAPI does (a
/// schema's `properties` come out of `schemars` sorted by name).
pub type FieldsFn = fn() -> &'static [&'static str];

/// No known field order.
pub fn no_fields() -> &'static [&'static str] {
    &[]
}

/// Found first by method resolution on `&SchemaProbe<T>`: a `T: Deserialize` has the field
/// order its `Deserialize` declares (feature `openapi`).
pub trait FieldsKnown {
    /// The names of the fields, in declaration order.
    fn field_order(&self) -> &'static [&'static str];
}

#[cfg(feature = "openapi")]
impl<T: serde::de::DeserializeOwned> FieldsKnown for SchemaProbe<T> {
    fn field_order(&self) -> &'static [&'static str] {
        field_names::declared::<T>()
    }
}

/// Found after one more auto-reference: any other type has no known field order.
pub trait FieldsUnknown {
    /// Nothing.
    fn field_order(&self) -> &'static [&'static str] {
        no_fields()
    }
}

impl<T: ?Sized> FieldsUnknown for &SchemaProbe<T> {}

/// Reads serde's list of a struct's fields: a derived `Deserialize` of a struct asks the
/// deserializer for a struct with those names (`deserialize_struct`), and this deserializer
/// answers with an error that carries them. Only run when a document is built.
#[cfg(feature = "openapi")]
mod field_names {
    use std::fmt;

    use serde::de::{self, Deserializer, Visitor};

    /// The error that carries the names (empty when the type asked for anything else).
    #[derive(Debug)]
    pub(super) struct Found(&'static [&'static str]);

    impl fmt::Display for Found {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("field names")
        }
    }

    impl std::error::Error for Found {}

    impl de::Error for Found {
        fn custom<M: fmt::Display>(_msg: M) -> Self {
            Found(&[])
        }
    }

    struct FieldNames;

    impl<'de> Deserializer<'de> for FieldNames {
        type Error = Found;

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Found> {
            Err(Found(&[]))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Found> {
            Err(Found(fields))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    /// `T`'s field names in declaration order, or none.
    pub(super) fn declared<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
        match T::deserialize(FieldNames) {
            Err(Found(fields)) => fields,
            Ok(_) => &[],
        }
    }
}

/// Where a request input is read from, as the document tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// `Path<T>`: the path's `{name}` parameters.
    Path,
    /// `Query<T>`: one query parameter per field of `T`.
    Query,
    /// `Header<T>`: one header per field of `T` (underscores as hyphens).
    Header,
    /// `TypedHeader<H>`: the one header `H` names (the function gives its name), as text; an
    /// `Authorization<Bearer>` or `Authorization<Basic>` as a security scheme.
    TypedHeader(HeaderNameFn),
    /// `Cookie<T>`: one cookie per field of `T`.
    Cookie,
    /// `Json<T>`: an `application/json` body.
    Json,
    /// `Form<T>`: an `application/x-www-form-urlencoded` body.
    Form,
    /// `Multipart`: a `multipart/form-data` body.
    Multipart,
    /// `BodyStream`, or `Bytes`: a body read as a stream or whole as bytes
    /// (`application/octet-stream`, or the content type the function that reads it declares
    /// with `#[depends(body_content_type = "...")]`).
    BodyStream,
    /// A security input: a security scheme and a requirement, not a parameter.
    Security(SecurityKind),
    /// Anything else (`&HeaderMap`, `ClientAddr`, a user's `FromRequest` type): not in the
    /// document.
    Undocumented,
}

/// The name of the header a `TypedHeader<H>` reads, by the function that gives it
/// (`H::name()` is not `const`), and the security scheme it is, if any; two are equal when
/// they name the same header.
#[derive(Clone, Copy)]
pub struct HeaderNameFn {
    /// Gives the header's name (lowercase).
    pub header: fn() -> &'static str,
    /// For an `Authorization` of a scheme the document knows (`Authorization<Bearer>`,
    /// `Authorization<Basic>`), gives that scheme: OpenAPI ignores a header parameter named
    /// `Authorization`, so it is documented as a security scheme, as `HttpBearer` is.
    pub scheme: fn() -> Option<SecurityKind>,
}

impl HeaderNameFn {
    /// The header's name (lowercase).
    pub fn name(self) -> &'static str {
        (self.header)()
    }

    /// The security scheme the header is, if the document knows it as one.
    pub fn security(self) -> Option<SecurityKind> {
        (self.scheme)()
    }
}

impl PartialEq for HeaderNameFn {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for HeaderNameFn {}

impl fmt::Debug for HeaderNameFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.name(), f)
    }
}

/// A security scheme, named as FastAPI names its classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityKind {
    /// `ApiKeyHeader<N>`: `APIKeyHeader`, the key in header `N::NAME`.
    ApiKeyHeader(&'static str),
    /// `ApiKeyQuery<N>`: `APIKeyQuery`.
    ApiKeyQuery(&'static str),
    /// `ApiKeyCookie<N>`: `APIKeyCookie`.
    ApiKeyCookie(&'static str),
    /// `HttpBearer`: `HTTPBearer`.
    HttpBearer,
    /// `HttpBasic`: `HTTPBasic`.
    HttpBasic,
}

/// What one request input tells the document.
#[derive(Clone, Copy, Debug)]
pub struct InputDoc {
    /// Where it is read from.
    pub kind: InputKind,
    /// Whether the request must carry it (`false` for an `Option<..>` input).
    pub required: bool,
    /// The schema of the type it holds (the `T` of `Query<T>`).
    pub schema: SchemaFn,
    /// The order of that type's fields, for its parameters.
    pub fields: FieldsFn,
    /// For an input read from the route's path (`Path<T>`): checks, when the app is built,
    /// that it fits the route's path parameters.
    pub route_fit: Option<RouteFitFn>,
}

/// Checks that an input fits a route whose path parameters are `params` (by name, in order);
/// the reason when it cannot (`expected 2 path parameters, the route has 1`).
pub type RouteFitFn = fn(params: &[&str]) -> Result<(), String>;

/// Describes a request input (a pointer generated code stores in the parameter's
/// description).
pub type DescribeFn = fn() -> InputDoc;

/// The description of an input the document leaves out (for hand-written descriptions).
pub fn undocumented_input() -> InputDoc {
    InputDoc {
        kind: InputKind::Undocumented,
        required: false,
        schema: any_schema,
        fields: no_fields,
        route_fit: None,
    }
}

/// A request input the document knows: implemented by the runtime's inputs.
pub trait DocumentedInput {
    /// Where it is read from.
    const KIND: InputKind;
    /// Whether the request must carry it.
    const REQUIRED: bool = true;
    /// For an input read from the route's path: checks that it fits the route (not for an
    /// `Option` of it, which may be meant to be absent).
    const ROUTE_FIT: Option<RouteFitFn> = None;
}

impl<T: DocumentedInput> DocumentedInput for Option<T> {
    const KIND: InputKind = T::KIND;
    const REQUIRED: bool = false;
}

/// What `#[depends]` asks what kind of input, or output, `T` is.
pub struct DocProbe<T: ?Sized>(PhantomData<fn() -> Box<T>>);

impl<T: ?Sized> DocProbe<T> {
    /// The probe of `T`.
    pub const NEW: Self = DocProbe(PhantomData);
}

/// Found first on `&DocProbe<T>` for a [`DocumentedInput`].
pub trait DescribeKnown {
    /// The input's description, its type's schema made by `schema`, its fields' order
    /// given by `fields`.
    fn input_doc(&self, schema: SchemaFn, fields: FieldsFn) -> InputDoc;
}

impl<T: DocumentedInput + ?Sized> DescribeKnown for DocProbe<T> {
    fn input_doc(&self, schema: SchemaFn, fields: FieldsFn) -> InputDoc {
        InputDoc {
            kind: T::KIND,
            required: T::REQUIRED,
            schema,
            fields,
            route_fit: T::ROUTE_FIT,
        }
    }
}

/// Found after one more auto-reference: an input the document leaves out.
pub trait DescribeUnknown {
    /// [`undocumented_input`].
    fn input_doc(&self, _schema: SchemaFn, _fields: FieldsFn) -> InputDoc {
        undocumented_input()
    }
}

impl<T: ?Sized> DescribeUnknown for &DocProbe<T> {}

/// What a handler's response body is, as the document tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// `Json<T>`: `application/json` with `T`'s schema.
    Json,
    /// `String`, `&str`, `Cow<'static, str>`: `text/plain`.
    Text,
    /// `Html<T>`: `text/html`.
    Html,
    /// `StatusCode`, `()`, headers alone (`[(name, value); N]`): no body.
    Empty,
    /// `Redirect`: no body, and its own status, chosen by the constructor when the handler
    /// runs: documented with each it may be (`Redirect::to`'s `303`, `Redirect::temporary`'s
    /// `307`, `Redirect::permanent`'s `308`), or with the one the handler declares
    /// (`#[depends(status = 307)]`).
    Redirect,
    /// `Vec<u8>`, `Bytes`, `&'static [u8]`: `application/octet-stream`.
    Bytes,
    /// `StreamBody<S>`: a stream (`application/octet-stream`, or the content type the
    /// handler declares with `#[depends(content_type = "...")]`).
    Stream,
    /// Anything else: FastAPI's default, `application/json` with the schema `{}`.
    Unknown,
}

impl OutputKind {
    /// The content type an answer of this kind is sent with when it is given none of its own
    /// (a `StreamBody` without `content_type`, a `Json<T>`), which a handler's
    /// `#[depends(content_type = "..")]` replaces; `None` for a kind without a body and for
    /// one the document knows nothing of (its answer's type is the answer's own).
    pub(crate) fn default_content_type(self) -> Option<&'static str> {
        match self {
            Self::Json => Some("application/json"),
            Self::Text => Some("text/plain; charset=utf-8"),
            Self::Html => Some("text/html; charset=utf-8"),
            Self::Bytes | Self::Stream => Some("application/octet-stream"),
            Self::Empty | Self::Redirect | Self::Unknown => None,
        }
    }
}

/// What a handler's output tells the document.
#[derive(Clone, Copy, Debug)]
pub struct OutputDoc {
    /// Its body.
    pub kind: OutputKind,
    /// The schema of its body's type (the `T` of `Json<T>`).
    pub schema: SchemaFn,
}

/// Describes a function's output.
pub type OutputFn = fn() -> OutputDoc;

/// The description of an output the document knows nothing of.
pub fn unknown_output() -> OutputDoc {
    OutputDoc {
        kind: OutputKind::Unknown,
        schema: any_schema,
    }
}

/// A handler output the document knows.
pub trait DocumentedOutput {
    /// Its body.
    const KIND: OutputKind;
}

impl DocumentedOutput for StatusCode {
    const KIND: OutputKind = OutputKind::Empty;
}

impl DocumentedOutput for () {
    const KIND: OutputKind = OutputKind::Empty;
}

impl DocumentedOutput for String {
    const KIND: OutputKind = OutputKind::Text;
}

impl DocumentedOutput for &str {
    const KIND: OutputKind = OutputKind::Text;
}

impl DocumentedOutput for std::borrow::Cow<'static, str> {
    const KIND: OutputKind = OutputKind::Text;
}

impl DocumentedOutput for Vec<u8> {
    const KIND: OutputKind = OutputKind::Bytes;
}

impl DocumentedOutput for bytes::Bytes {
    const KIND: OutputKind = OutputKind::Bytes;
}

impl DocumentedOutput for &[u8] {
    const KIND: OutputKind = OutputKind::Bytes;
}

impl<const N: usize> DocumentedOutput for &[u8; N] {
    const KIND: OutputKind = OutputKind::Bytes;
}

/// Headers alone: a response without a body (`[(LOCATION, "/notes/7")]`).
impl<K, V, const N: usize> DocumentedOutput for [(K, V); N]
where
    Self: ResponseHeaders,
{
    const KIND: OutputKind = OutputKind::Empty;
}

impl OutputKind {
    /// The kind of an output sent with a status of its own beside it (`(StatusCode, T)`): a
    /// redirect's status is replaced, so it is a response without a body like any other.
    const fn beside_status(self) -> Self {
        match self {
            OutputKind::Redirect => OutputKind::Empty,
            kind => kind,
        }
    }
}

impl<T: DocumentedOutput> DocumentedOutput for (StatusCode, T) {
    const KIND: OutputKind = T::KIND.beside_status();
}

impl<H: ResponseHeaders, T: DocumentedOutput> DocumentedOutput for (H, T) {
    const KIND: OutputKind = T::KIND;
}

impl<H: ResponseHeaders, T: DocumentedOutput> DocumentedOutput for (StatusCode, H, T) {
    const KIND: OutputKind = T::KIND.beside_status();
}

impl<T> DocumentedOutput for Html<T> {
    const KIND: OutputKind = OutputKind::Html;
}

impl DocumentedOutput for Redirect {
    const KIND: OutputKind = OutputKind::Redirect;
}

impl<S> DocumentedOutput for StreamBody<S> {
    const KIND: OutputKind = OutputKind::Stream;
}

/// Found first on `&DocProbe<T>` for a [`DocumentedOutput`].
pub trait OutputKnown {
    /// The output's description, its body's schema made by `schema`.
    fn output_doc(&self, schema: SchemaFn) -> OutputDoc;
}

impl<T: DocumentedOutput + ?Sized> OutputKnown for DocProbe<T> {
    fn output_doc(&self, schema: SchemaFn) -> OutputDoc {
        OutputDoc {
            kind: T::KIND,
            schema,
        }
    }
}

/// Found after one more auto-reference: an output the document knows nothing of.
pub trait OutputUnknown {
    /// [`unknown_output`].
    fn output_doc(&self, _schema: SchemaFn) -> OutputDoc {
        unknown_output()
    }
}

impl<T: ?Sized> OutputUnknown for &DocProbe<T> {}

/// What the document says of a function beyond its parameters: its doc comment, the status
/// and content type it declares, its output, and the error statuses it declares.
#[derive(Clone, Copy, Debug)]
pub struct Doc {
    /// The doc comment, its lines joined with `\n` (first paragraph: the summary).
    pub text: &'static str,
    /// `#[depends(status = 201)]`: the status of a successful response.
    pub status: Option<u16>,
    /// The function's answer names its own status (a `StatusCode`, a tuple that starts with
    /// one, a `Response`, a `Redirect`): `status` documents it, and a `200` the answer gives
    /// is sent as it is, where `status` is the status of any other answer's `200`.
    pub status_named: bool,
    /// `#[depends(content_type = "application/x-ndjson")]`: the content type of its body. On
    /// a handler, its success answers are sent with it, in place of the type their kind gives
    /// by default (`application/octet-stream` for a `StreamBody`, `application/json` for a
    /// `Json<T>`); an answer that names another type (`StreamBody::content_type`, a
    /// `content-type` header beside it) keeps it, and an error keeps its own.
    pub content_type: Option<&'static str>,
    /// `#[depends(body_content_type = "application/x-ndjson")]`: the content type of the
    /// request body its `BodyStream` reads (`application/octet-stream` without it).
    pub body_content_type: Option<&'static str>,
    /// The function is `#[deprecated]`.
    pub deprecated: bool,
    /// Describes its output.
    pub output: OutputFn,
    /// Describes the error of its `Result<T, E>` (the `E`; [`unknown_output`] for a function
    /// that is not fallible, or whose error type is not written): what its declared
    /// `responses` are answered with. A bare `StatusCode` answers with no body; any other is
    /// documented with `HttpError`'s.
    pub error: OutputFn,
    /// `#[depends(responses(404 = "Note not found"))]`: the error statuses the function
    /// answers with, each with what it means. Every operation whose graph reaches the
    /// function lists them.
    pub responses: &'static [(u16, &'static str)],
}

impl Doc {
    /// Nothing said (for hand-written descriptions).
    pub const NONE: Doc = Doc {
        text: "",
        status: None,
        status_named: false,
        content_type: None,
        body_content_type: None,
        deprecated: false,
        output: unknown_output,
        error: unknown_output,
        responses: &[],
    };
}

#[cfg(all(test, feature = "openapi"))]
mod tests {
    use std::collections::HashMap;

    use serde::Deserialize;

    use super::field_names::declared;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code, reason = "only its field list is read")]
    struct Declared {
        zone_id: u32,
        #[serde(rename = "a")]
        alpha: String,
        #[serde(skip)]
        hidden: u8,
        middle: Option<bool>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code, reason = "only its field list is read")]
    struct Flattened {
        #[serde(flatten)]
        inner: HashMap<String, String>,
    }

    #[test]
    fn a_structs_fields_in_declaration_order_and_nothing_for_other_types() {
        assert_eq!(declared::<Declared>(), ["zoneId", "a", "middle"]);
        // A struct with a flattened field reads a map: no list, the schema's order is kept.
        assert!(declared::<Flattened>().is_empty());
        assert!(declared::<u32>().is_empty());
        assert!(declared::<(u32, String)>().is_empty());
        assert!(declared::<HashMap<String, u32>>().is_empty());
    }
}
