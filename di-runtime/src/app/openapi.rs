//! [`OpenApiConfig`] and the routes [`App::with_openapi`](crate::App::with_openapi) adds:
//! the document at `/openapi.json`, Swagger UI at `/docs` and its files under `/docs/`.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Method, StatusCode};

use crate::input::path::Path;
use crate::openapi::docs;
use crate::openapi::model::Info;
use crate::plan::routes::RouteDef;
use crate::response::body::{Body, Response};
use crate::response::error::HttpError;
use crate::response::into::IntoResponse;

/// What [`App::with_openapi`](crate::App::with_openapi) documents and where it serves it:
/// the API's title and version, and the paths of the document (`/openapi.json`) and of the
/// interactive page (`/docs`), as FastAPI's `openapi_url` and `docs_url`.
///
/// ```
/// use di_runtime::OpenApiConfig;
///
/// let config = OpenApiConfig::new("Notes", "0.1.0")
///     .description("Notes, stored in SQLite.")
///     .docs_path("/api-docs");
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct OpenApiConfig {
    pub(crate) title: String,
    pub(crate) version: String,
    pub(crate) description: Option<String>,
    pub(crate) json_path: String,
    pub(crate) docs_path: String,
}

impl Default for OpenApiConfig {
    /// FastAPI's defaults: `FastAPI`'s title is `API` here, version `0.1.0`.
    fn default() -> Self {
        Self::new("API", "0.1.0")
    }
}

impl OpenApiConfig {
    /// The document of an API named `title` at version `version` (the API's, not OpenAPI's),
    /// served at `/openapi.json`, with Swagger UI at `/docs`.
    pub fn new(title: &str, version: &str) -> Self {
        Self {
            title: title.to_owned(),
            version: version.to_owned(),
            description: None,
            json_path: "/openapi.json".to_owned(),
            docs_path: "/docs".to_owned(),
        }
    }

    /// The API's description (CommonMark), shown at the top of the page.
    pub fn description(mut self, text: &str) -> Self {
        self.description = Some(text.to_owned());
        self
    }

    /// Where the document is served (default `/openapi.json`).
    pub fn json_path(mut self, path: &str) -> Self {
        path.clone_into(&mut self.json_path);
        self
    }

    /// Where the interactive page is served (default `/docs`); its files are served under it
    /// (`/docs/swagger-ui-bundle.js`).
    pub fn docs_path(mut self, path: &str) -> Self {
        path.clone_into(&mut self.docs_path);
        self
    }

    pub(crate) fn info(&self) -> Info {
        Info {
            title: self.title.clone(),
            version: self.version.clone(),
            description: self.description.clone(),
        }
    }
}

/// The document and the page, made once when the app starts (given to [`served`] with
/// `App::provide`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Served {
    json: Bytes,
    page: Bytes,
}

/// The value the serving routes read; always given up front by `App::start`.
#[di_macros::depends(crate = "crate", scope = "app")]
async fn served() -> Served {
    Served::default()
}

/// `GET /openapi.json`
#[di_macros::depends(crate = "crate")]
async fn openapi_json(#[dep(served)] served: &Served) -> Response {
    bytes_response(
        served.json.clone(),
        HeaderValue::from_static("application/json"),
    )
}

/// `GET /docs`
#[di_macros::depends(crate = "crate")]
async fn docs_page(#[dep(served)] served: &Served) -> Response {
    bytes_response(
        served.page.clone(),
        HeaderValue::from_static("text/html; charset=utf-8"),
    )
}

/// `GET /docs/{file}`: one of the page's embedded files.
#[di_macros::depends(crate = "crate")]
async fn docs_file(Path(file): Path<String>) -> Response {
    match docs::asset(&file) {
        Some((content_type, bytes)) => {
            let mut response = bytes_response(
                Bytes::from_static(bytes),
                HeaderValue::from_static(content_type),
            );
            response.headers_mut().insert(
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            );
            response
        }
        None => HttpError::new(StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
}

fn bytes_response(bytes: Bytes, content_type: HeaderValue) -> Response {
    let mut response = Response::new(Body::from(bytes));
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response
}

/// The routes that serve the document `json` and the page, by `config`'s paths, and the
/// value they read.
pub(crate) fn routes(config: &OpenApiConfig, json: String) -> (Vec<RouteDef>, Served) {
    let page = docs::page(&config.title, &config.docs_path, &config.json_path);
    let served = Served {
        json: Bytes::from(json),
        page: Bytes::from(page),
    };
    let routes = vec![
        crate::app::group::route_def::<openapi_json>(Method::GET, &config.json_path),
        crate::app::group::route_def::<docs_page>(Method::GET, &config.docs_path),
        crate::app::group::route_def::<docs_file>(
            Method::GET,
            &format!("{}/{{file}}", config.docs_path),
        ),
    ];
    (routes, served)
}

/// The identity of the dependency the serving routes read their value from.
pub(crate) fn served_type_id() -> std::any::TypeId {
    std::any::TypeId::of::<served>()
}
