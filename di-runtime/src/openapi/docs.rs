//! The interactive page (Swagger UI) and its files, all embedded in the `swagger-ui-redist`
//! crate (`include_bytes!`): nothing is downloaded when building or serving it.

use swagger_ui_redist::{SwaggerUi, SwaggerUiStaticFile};

/// The HTML of the page at `docs_path`, titled `title`, that loads the document at
/// `json_path` and its files from `{docs_path}/{file}`.
pub(crate) fn page(title: &str, docs_path: &str, json_path: &str) -> String {
    let mut ui = SwaggerUi::new();
    ui.title(escape_html(title));
    ui.config()
        .urls([json_path.to_owned()])
        .display_operation_id(true);
    for file in SwaggerUiStaticFile::all() {
        ui.override_file_path(*file, format!("{docs_path}/{}", file.file_name()));
    }
    // Only serializing the page's settings can fail, and they are strings and booleans.
    ui.serve().unwrap_or_default()
}

/// A file of the page by its name (`swagger-ui-bundle.js`), with its content type.
pub(crate) fn asset(name: &str) -> Option<(&'static str, &'static [u8])> {
    SwaggerUi::static_files()
        .iter()
        .find(|(file, _)| file.file_name() == name)
        .map(|(file, bytes)| (content_type(file.file_name()), *bytes))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_its_files_from_under_its_path() {
        let html = page("Notes <1>", "/docs", "/openapi.json");
        assert!(html.contains("<title>Notes &lt;1&gt;</title>"), "{html}");
        assert!(html.contains("/docs/swagger-ui-bundle.js"));
        assert!(html.contains("/docs/swagger-ui.css"));
        assert!(html.contains("/openapi.json"));
        let (kind, bytes) = asset("swagger-ui-bundle.js").expect("embedded");
        assert_eq!(kind, "text/javascript; charset=utf-8");
        assert!(bytes.len() > 100_000);
        assert!(asset("../Cargo.toml").is_none());
    }
}
