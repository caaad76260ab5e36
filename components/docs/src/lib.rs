//! `docs`: the API reference.
//!
//! `GET /docs` is a page that renders the OpenAPI document with Swagger UI;
//! `GET /docs/openapi.json` is the document itself (`openapi.json` beside
//! this crate). Every file the page loads is compiled into the component:
//! Swagger UI's prebuilt assets come from the `swagger-ui-dist` npm package,
//! pinned in `package.json` and installed by `npm ci` (which `spin build` and
//! `scripts/build-wasm` run), so the page works offline, behind any proxy,
//! and calls no other host. Its Content-Security-Policy holds it to that.

use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderValue, StatusCode};
use troupe_edge::{Exchange, Problem, Response, Router};

/// The Wasm export. `#[http_component]` generates the `unsafe` ABI glue,
/// which the workspace's `unsafe_code = "deny"` allows here only. Natively
/// (the black-box suite links this crate for [`routes`]) there is nothing
/// to export.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod export {
    use spin_sdk::http::IncomingRequest;
    use spin_sdk::http_component;
    use troupe_edge::Response;

    #[http_component]
    async fn handle(request: IncomingRequest) -> Response {
        troupe_spin_adapter::serve("docs", &super::router(), request, &()).await
    }
}

fn router() -> Router<()> {
    Router::new().get("/docs", show_reference).get("/docs/openapi.json", show_document).get("/docs/:asset", show_asset)
}

/// The component's routes as `(method, pattern)`, for the black-box suite's
/// check that the OpenAPI document describes them.
pub fn routes() -> Vec<(http::Method, &'static str)> {
    router().routes()
}

/// The OpenAPI document, as written.
const DOCUMENT: &[u8] = include_bytes!("../openapi.json");

/// The page: Swagger UI's stylesheet and bundle, then `docs.js`, which
/// points it at the document.
const PAGE: &str = include_str!("../assets/index.html");

/// What the page may load: its own origin's scripts, styles, images (and
/// the `data:` images in Swagger UI's stylesheet) and requests ("Try it out"
/// calls this API). No inline script, no other host, no framing.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The assets are not fingerprinted: an hour keeps reloads cheap and an
/// upgrade visible soon enough.
const ASSET_CACHING: &str = "public, max-age=3600";

/// A file the page loads, served at `/docs/<name>`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! swagger_ui {
    ($file:literal) => {
        include_bytes!(concat!("../node_modules/swagger-ui-dist/", $file))
    };
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "swagger-ui-bundle.js",
        content_type: "text/javascript; charset=utf-8",
        body: swagger_ui!("swagger-ui-bundle.js"),
    },
    Asset { name: "swagger-ui.css", content_type: "text/css; charset=utf-8", body: swagger_ui!("swagger-ui.css") },
    Asset { name: "favicon-32x32.png", content_type: "image/png", body: swagger_ui!("favicon-32x32.png") },
    Asset {
        name: "docs.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/docs.js"),
    },
    Asset { name: "docs.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../assets/docs.css") },
];

/// A 200 with `body`, its type, `Cache-Control` and `nosniff`.
fn file(content_type: &'static str, caching: &'static str, body: &[u8]) -> Result<Response, Problem> {
    http::Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
        .header(CACHE_CONTROL, HeaderValue::from_static(caching))
        .header(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"))
        .body(body.to_vec())
        .map_err(Problem::internal)
}

fn show_reference(_: &Exchange<'_, ()>) -> Result<Response, Problem> {
    let mut response = file("text/html; charset=utf-8", "no-cache", PAGE.as_bytes())?;
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

/// Revalidated on every use (`no-cache`): the document changes with each
/// release of the API, and it is small.
fn show_document(_: &Exchange<'_, ()>) -> Result<Response, Problem> {
    file("application/json", "no-cache", DOCUMENT)
}

fn show_asset(exchange: &Exchange<'_, ()>) -> Result<Response, Problem> {
    let name = exchange.param("asset")?;
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == name)
        .ok_or_else(|| Problem::not_found(format!("no document at /docs/{name}")))?;
    file(asset.content_type, ASSET_CACHING, asset.body)
}
