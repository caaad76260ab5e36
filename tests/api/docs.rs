//! `docs`: the API reference page, its assets and the OpenAPI document.

use reqwest::Method;
use troupe_tests::{repo_root, spawn_app};

#[test]
fn the_reference_page_is_html_that_loads_swagger_ui_from_this_origin_only() {
    let app = spawn_app();
    let reply = app.get("/docs", None).expect(200);
    assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(reply.header("x-request-id").is_some_and(|id| !id.is_empty()));
    assert!(reply.text.contains(r#"<div id="swagger-ui">"#), "{}", reply.text);
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/docs.js"] {
        assert!(reply.text.contains(asset), "the page loads {asset}");
    }
    assert!(!reply.text.contains("http://") && !reply.text.contains("https://"), "no other host: {}", reply.text);
    let policy = reply.header("content-security-policy").expect("a Content-Security-Policy");
    assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"), "{policy}");
    // The trailing-slash form is the same page.
    assert_eq!(app.get("/docs/", None).expect(200).text, reply.text);
}

#[test]
fn the_openapi_document_is_served_as_written() {
    let app = spawn_app();
    let reply = app.get("/docs/openapi.json", None).expect(200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let file = std::fs::read_to_string(repo_root().join("components/docs/openapi.json")).expect("the document");
    assert_eq!(reply.text, file, "served byte for byte");
    let json = reply.json();
    assert!(json["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{json}");
    assert!(json["paths"].as_object().is_some_and(|paths| !paths.is_empty()), "{json}");
}

#[test]
fn assets_load_with_their_content_type_and_are_cached() {
    let app = spawn_app();
    for (path, content_type) in [
        ("/docs/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("/docs/swagger-ui.css", "text/css; charset=utf-8"),
        ("/docs/docs.js", "text/javascript; charset=utf-8"),
    ] {
        let reply = app.get(path, None).expect(200);
        assert_eq!(reply.header("content-type"), Some(content_type), "{path}");
        assert_eq!(reply.header("cache-control"), Some("public, max-age=3600"), "{path}");
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert!(reply.text.len() > 100, "{path} has a body");
    }
    let bundle = app.get("/docs/swagger-ui-bundle.js", None);
    assert!(bundle.text.contains("SwaggerUIBundle"), "the bundle is Swagger UI's");
}

#[test]
fn other_methods_are_405_with_allow() {
    let app = spawn_app();
    for path in ["/docs", "/docs/openapi.json", "/docs/swagger-ui.css"] {
        let reply = app.send(app.request(Method::POST, path).body("{}"));
        assert_eq!(reply.header("allow"), Some("GET"), "{path}");
        reply.problem(405);
    }
    app.send(app.request(Method::DELETE, "/docs")).problem(405);
}

#[test]
fn unknown_documents_are_404_problems() {
    let app = spawn_app();
    for path in ["/docs/nope", "/docs/index.html", "/docs/swagger-ui.css/more", "/docs/%2e%2e%2fspin.toml"] {
        let reply = app.get(path, None);
        assert!(reply.header("x-request-id").is_some(), "{path}");
        reply.problem(404);
    }
}
