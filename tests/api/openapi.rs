//! The OpenAPI document (`components/docs/openapi.json`) against what the
//! application serves: every public route is documented, and every
//! documented operation exists.
//!
//! What is served comes from two places. `spin.toml`'s `[[trigger.http]]`
//! routes say which component gets which paths; each component's own
//! router (its `routes()`, linked natively) says which methods and patterns
//! it answers under them. Private `/internal/…` routes, reached only by
//! service chaining, are not part of the public contract.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;
use troupe_tests::{repo_root, spawn_app, TestApp};

/// The components whose router the suite links, by their `spin.toml` id.
fn component_routes(id: &str) -> Option<Vec<(Method, &'static str)>> {
    match id {
        "health" => Some(health_component::routes()),
        "auth" => Some(auth_component::routes()),
        "users" => Some(users_component::routes()),
        "docs" => Some(docs_component::routes()),
        _ => None,
    }
}

/// Components whose crates the suite does not link (they build for Wasm
/// only), with what stands in for their router: the document's operations
/// under their routes are probed against the running app instead.
const UNLINKED: &[&str] = &[];

/// Paths no public client reaches: `auth`'s service-chaining operations.
const PRIVATE_PREFIX: &str = "/internal/";

/// The methods an OpenAPI path item may hold.
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// One `[[trigger.http]]` route.
#[derive(Debug)]
struct Trigger {
    /// The route without its `/...` wildcard suffix.
    base: String,
    /// Whether it ends in `/...` (every path below `base`, and `base` itself).
    wildcard: bool,
    component: String,
}

impl Trigger {
    fn reaches(&self, path: &str) -> bool {
        if self.wildcard {
            path == self.base || path.starts_with(&format!("{}/", self.base.trim_end_matches('/')))
        } else {
            path == self.base
        }
    }
}

/// The trigger Spin picks for `path`: an exact route, else the longest
/// wildcard that reaches it.
fn route_for<'a>(triggers: &'a [Trigger], path: &str) -> Option<&'a Trigger> {
    triggers.iter().filter(|t| t.reaches(path)).max_by_key(|t| (!t.wildcard, t.base.len()))
}

/// The public HTTP routes of `spin.toml` (private ones, `route = { private
/// = true }`, are skipped).
fn triggers() -> Vec<Trigger> {
    let text = std::fs::read_to_string(repo_root().join("spin.toml")).expect("spin.toml");
    let manifest: toml::Table = text.parse().expect("spin.toml is TOML");
    let http = manifest
        .get("trigger")
        .and_then(|t| t.get("http"))
        .and_then(toml::Value::as_array)
        .expect("spin.toml has [[trigger.http]] routes");
    http.iter()
        .filter_map(|trigger| {
            let route = trigger.get("route")?.as_str()?;
            let component = trigger.get("component")?.as_str().expect("a component id").to_owned();
            let (base, wildcard) = match route.strip_suffix("/...") {
                Some(base) => (if base.is_empty() { "/" } else { base }.to_owned(), true),
                None => (route.to_owned(), false),
            };
            Some(Trigger { base, wildcard, component })
        })
        .collect()
}

/// `/api/v1/users/:id` → `/api/v1/users/{id}`.
fn openapi_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| match segment.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn document() -> Value {
    let text = std::fs::read_to_string(repo_root().join("components/docs/openapi.json")).expect("the OpenAPI document");
    serde_json::from_str(&text).expect("the OpenAPI document is JSON")
}

/// Every operation of the document as `(METHOD, path)`.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("the document has paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(move |method| (method.to_ascii_uppercase(), path.clone()))
        })
        .collect()
}

/// What the application serves, as far as it can be listed.
struct Served {
    /// `(METHOD, path)` of every public route of a linked component.
    operations: BTreeSet<(String, String)>,
    /// Exact `spin.toml` routes of unlinked components: some operation must
    /// be documented on each.
    unlinked_paths: BTreeSet<String>,
    /// Everything that breaks the rules (a route no trigger reaches, a
    /// trigger no route answers, a component nobody lists).
    problems: Vec<String>,
}

fn served(triggers: &[Trigger]) -> Served {
    let mut served = Served { operations: BTreeSet::new(), unlinked_paths: BTreeSet::new(), problems: Vec::new() };
    let components: BTreeSet<&str> = triggers.iter().map(|t| t.component.as_str()).collect();
    for component in components {
        let own: Vec<&Trigger> = triggers.iter().filter(|t| t.component == component).collect();
        let Some(routes) = component_routes(component) else {
            if UNLINKED.contains(&component) {
                served.unlinked_paths.extend(own.iter().filter(|t| !t.wildcard).map(|t| t.base.clone()));
            } else {
                served.problems.push(format!(
                    "component `{component}` is in spin.toml but the suite cannot list its routes: \
                     give it a `pub fn routes()` and add it to `component_routes`"
                ));
            }
            continue;
        };
        for (method, pattern) in &routes {
            let path = openapi_path(pattern);
            let reached_by = route_for(triggers, pattern);
            if pattern.starts_with(PRIVATE_PREFIX) {
                if reached_by.is_some() {
                    served.problems.push(format!(
                        "{method} {pattern} of `{component}` is private but a spin.toml route exposes it"
                    ));
                }
                continue;
            }
            match reached_by {
                Some(t) if t.component == component => {
                    served.operations.insert((method.to_string(), path));
                }
                Some(t) => served.problems.push(format!(
                    "{method} {pattern} is routed by `{component}` but spin.toml sends that path to `{}`",
                    t.component
                )),
                None => {
                    served.problems.push(format!("{method} {pattern} of `{component}` is under no spin.toml route"))
                }
            }
        }
        for trigger in own.iter().filter(|t| !t.wildcard) {
            if !routes.iter().any(|(_, pattern)| *pattern == trigger.base) {
                served.problems.push(format!(
                    "spin.toml routes {} to `{component}`, whose router has no such route",
                    trigger.base
                ));
            }
        }
    }
    served
}

#[test]
fn the_document_names_every_public_route_and_nothing_else() {
    let triggers = triggers();
    let served = served(&triggers);
    let document = documented(&document());
    let mut problems = served.problems.clone();

    for (method, path) in served.operations.difference(&document) {
        problems.push(format!("{method} {path} is served but not documented"));
    }
    for path in &served.unlinked_paths {
        if !document.iter().any(|(_, p)| p == path) {
            problems.push(format!("{path} is routed by spin.toml but not documented"));
        }
    }
    for (method, path) in document.difference(&served.operations) {
        match route_for(&triggers, path) {
            None => problems.push(format!("{method} {path} is documented but no spin.toml route reaches it")),
            // Unlinked components' operations are probed against the app.
            Some(t) if UNLINKED.contains(&t.component.as_str()) => {}
            Some(t) => problems.push(format!("{method} {path} is documented but `{}` does not route it", t.component)),
        }
    }
    assert!(problems.is_empty(), "the OpenAPI document and the served routes differ:\n  {}", problems.join("\n  "));
    // The check compares something: each linked component has public routes.
    for component in ["health", "auth", "users"] {
        assert!(
            served
                .operations
                .iter()
                .any(|(_, path)| triggers.iter().any(|t| t.component == component && t.reaches(path))),
            "{component} has no public route"
        );
    }
}

/// A value for a path parameter: the first of its schema's examples, or a
/// UUID (ids are UUIDs).
fn sample(document: &Value, operation: &Value, path_item: &Value, name: &str) -> String {
    let parameters = path_item["parameters"].as_array().into_iter().chain(operation["parameters"].as_array()).flatten();
    for parameter in parameters {
        let parameter = match parameter.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                document.pointer(pointer).unwrap_or_else(|| panic!("{reference} resolves"))
            }
            None => parameter,
        };
        if parameter["name"] == name && parameter["in"] == "path" {
            if let Some(example) = parameter["schema"]["examples"].get(0).and_then(Value::as_str) {
                return example.to_owned();
            }
        }
    }
    "0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a59".to_owned()
}

fn probe(app: &TestApp, method: &str, path: &str) -> (u16, String) {
    let method = Method::from_bytes(method.as_bytes()).expect("a method");
    let reply = app.send(app.request(method, path).header("content-type", "application/json").body("{}"));
    (reply.status.as_u16(), reply.text)
}

#[test]
fn every_documented_operation_is_routed_by_the_running_app() {
    let document = document();
    let app = spawn_app();
    let mut problems = Vec::new();
    for (method, path) in documented(&document) {
        let item = &document["paths"][path.as_str()];
        let operation = &item[method.to_ascii_lowercase().as_str()];
        let concrete = path
            .split('/')
            .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => sample(&document, operation, item, name),
                None => segment.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        let (status, body) = probe(&app, &method, &concrete);
        // The host answers an unrouted path with an empty 404, a
        // component's router with the problem "no such resource"; a 405
        // means the path exists but not with this method.
        let unrouted = status == 404 && (body.is_empty() || body.contains("\"no such resource\""));
        if unrouted || status == 405 {
            problems.push(format!("{method} {concrete} (documented as {path}) answered {status}: {body}"));
        }
    }
    assert!(problems.is_empty(), "documented operations the app does not serve:\n  {}", problems.join("\n  "));
}

#[test]
fn the_drift_check_catches_an_undocumented_route_and_a_phantom_one() {
    // The comparison itself, on a doctored document: a route removed from
    // the document and one added that nothing serves must both be reported.
    let triggers = triggers();
    let served = served(&triggers);
    let mut document = documented(&document());
    assert!(document.remove(&("GET".to_owned(), "/api/v1/auth/me".to_owned())), "GET /api/v1/auth/me is documented");
    document.insert(("GET".to_owned(), "/api/v1/auth/nothing".to_owned()));
    assert!(served.operations.difference(&document).any(|(m, p)| m == "GET" && p == "/api/v1/auth/me"));
    let phantom: Vec<_> = document.difference(&served.operations).filter(|(_, p)| p.starts_with("/api/")).collect();
    assert_eq!(phantom, vec![&("GET".to_owned(), "/api/v1/auth/nothing".to_owned())]);
    // And the router patterns translate to OpenAPI's template syntax.
    assert_eq!(openapi_path("/api/v1/users/:id"), "/api/v1/users/{id}");
    assert!(served.operations.contains(&("DELETE".to_owned(), "/api/v1/auth/sessions/{id}".to_owned())));
    assert!(!served.operations.iter().any(|(_, p)| p.starts_with(PRIVATE_PREFIX)));
}

/// Every request body example of the document, as `(method, path, content type, example)`.
fn request_examples(document: &Value) -> Vec<(String, String, String, Value)> {
    let mut examples = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(content) = item[method]["requestBody"]["content"].as_object() else { continue };
            for (media_type, body) in content {
                if let Some(example) = body.get("example") {
                    examples.push((method.to_owned(), path.clone(), media_type.clone(), example.clone()));
                }
            }
        }
    }
    examples
}

#[test]
fn every_documented_request_example_is_accepted() {
    let document = document();
    let examples = request_examples(&document);
    let example = |method: &str, path: &str, media_type: &str| -> &Value {
        let found = examples.iter().find(|(m, p, t, _)| m == method && p == path && t == media_type);
        &found.unwrap_or_else(|| panic!("no example for {method} {path} ({media_type})")).3
    };
    // The examples tell one story, sent in its order: Ann registers and
    // signs in, an administrator creates Bo, Ann edits herself.
    let story = [
        ("post", "/api/v1/auth/register", "application/json"),
        ("post", "/api/v1/auth/login", "application/json"),
        ("post", "/api/v1/users", "application/json"),
        ("put", "/api/v1/users/{id}", "application/json"),
        ("patch", "/api/v1/users/{id}", "application/merge-patch+json"),
        ("patch", "/api/v1/users/{id}", "application/json"),
    ];
    let documented: BTreeSet<_> = examples.iter().map(|(m, p, t, _)| (m.as_str(), p.as_str(), t.as_str())).collect();
    assert_eq!(documented, story.iter().copied().collect(), "a documented example has no step in the story below");

    let app = troupe_tests::spawn_app_with(
        troupe_tests::Options::default().var("bootstrap_admin_email", "admin@example.com"),
    );
    let admin = app.register("admin@example.com");
    let registered = app.post("/api/v1/auth/register", example(story[0].0, story[0].1, story[0].2)).expect(201).json();
    let ann_id = registered["user"]["id"].as_str().expect("id");
    let ann = registered["access_token"].as_str().expect("token");
    app.post("/api/v1/auth/login", example(story[1].0, story[1].1, story[1].2)).expect(200);
    app.json(Method::POST, "/api/v1/users", Some(&admin.access), example(story[2].0, story[2].1, story[2].2))
        .expect(201);
    let target = format!("/api/v1/users/{ann_id}");
    for (method, path, media_type) in &story[3..] {
        let etag = app.get(&target, Some(ann)).expect(200).header("etag").expect("etag").to_owned();
        let request = app
            .request(Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"), &target)
            .header("content-type", *media_type)
            .header("authorization", format!("Bearer {ann}"))
            .header("if-match", etag)
            .body(example(method, path, media_type).to_string());
        app.send(request).expect(200);
    }
}
