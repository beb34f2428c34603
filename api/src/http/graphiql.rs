//! GraphiQL, served by the binary itself: pinned production builds of GraphiQL, React and
//! ReactDOM bundled at build time (see `build.rs`), our own start-up script, and a
//! Content-Security-Policy that lets the page load nothing from another host.

use poem::http::{HeaderValue, StatusCode, header};
use poem::web::Path;
use poem::{IntoResponse, Response, Route, get, handler};

/// The GraphiQL version bundled (in the assets' paths, so they can be cached for ever).
pub const VERSION: &str = "4.1.2";

macro_rules! bundled {
    ($name:literal) => {
        include_str!(concat!(env!("OUT_DIR"), "/graphiql/", $name))
    };
}

/// Why the assets are missing from this build (empty when they are bundled).
const MISSING: &str = match option_env!("GRAPHIQL_MISSING_MARKER") {
    Some(m) => m,
    None => "",
};

/// The files the page loads: (name, content type, content).
const ASSETS: [(&str, &str, &str); 5] = [
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        bundled!("graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        bundled!("graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        bundled!("react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        bundled!("react-dom.production.min.js"),
    ),
    ("init.js", "text/javascript; charset=utf-8", INIT_JS),
];

/// Starts GraphiQL on the page's `#graphiql` element, with the endpoint and the headers the
/// server put in its data attributes (a script file, not inline: the CSP allows only 'self').
const INIT_JS: &str = r#"(function () {
  var root = document.getElementById("graphiql");
  var headers = root.dataset.headers || "";
  // The fetcher sends the pre-filled headers too: GraphiQL fetches the schema before the
  // Headers tab is read, and the schema needs a token like any query.
  var props = {
    fetcher: GraphiQL.createFetcher({
      url: root.dataset.endpoint,
      headers: headers ? JSON.parse(headers) : {}
    }),
    shouldPersistHeaders: false,
    defaultQuery: "{\n  digitalAssets(first: 10) {\n    totalCount\n    nodes { name type processingLocations { service country { isoCode } } }\n  }\n}\n"
  };
  if (headers) {
    props.defaultHeaders = headers;
    props.defaultEditorToolsVisibility = "headers";
  }
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
"#;

/// What the page may load and run: only this server's files; GraphiQL styles itself inline.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// The page, built once at start.
#[derive(Debug, Clone)]
pub struct Page {
    html: String,
}

impl Page {
    /// The page for `endpoint`; `token` pre-fills the Authorization header (the embedded
    /// default's demo token).
    pub fn new(endpoint: &str, token: Option<&str>) -> Self {
        let headers = token
            .map(|t| format!("{{\"Authorization\": \"Bearer {t}\"}}"))
            .unwrap_or_default();
        let bundled = ASSETS.iter().all(|(_, _, content)| !content.is_empty());
        let body = if bundled {
            format!(
                r#"<div id="graphiql" data-endpoint="{endpoint}" data-headers="{headers}">Loading GraphiQL…</div>
<script src="/graphiql/{VERSION}/react.production.min.js"></script>
<script src="/graphiql/{VERSION}/react-dom.production.min.js"></script>
<script src="/graphiql/{VERSION}/graphiql.min.js"></script>
<script src="/graphiql/{VERSION}/init.js"></script>"#,
                endpoint = escape(endpoint),
                headers = escape(&headers),
            )
        } else {
            format!(
                "<p>GraphiQL was not bundled into this build ({}). The API works: POST GraphQL \
                 requests to <code>{}</code>. Rebuild with Node.js and npm installed to get GraphiQL.</p>",
                escape(if MISSING.is_empty() {
                    "npm was unavailable at build time"
                } else {
                    MISSING
                }),
                escape(endpoint)
            )
        };
        let html = format!(
            r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Digital-asset inventory · GraphiQL</title>
<link rel="stylesheet" href="/graphiql/{VERSION}/graphiql.min.css">
<style>body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
{body}
</body>
</html>
"#
        );
        Self { html }
    }

    /// The page as an answer (never cached: it may hold the demo token).
    pub fn response(&self) -> Response {
        let mut resp = Response::builder()
            .content_type("text/html; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .body(self.html.clone());
        resp.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        resp.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        resp
    }
}

/// `/graphiql/{VERSION}/{file}`: the bundled files, cacheable for ever (the version is in the path).
pub fn assets() -> Route {
    Route::new().at("/:version/:file", get(asset))
}

#[handler]
fn asset(Path((version, file)): Path<(String, String)>) -> Response {
    let found = ASSETS
        .iter()
        .find(|(name, _, content)| version == VERSION && *name == file && !content.is_empty());
    match found {
        Some((_, content_type, content)) => Response::builder()
            .content_type(*content_type)
            .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .body(*content),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Text safe inside an HTML attribute or element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
