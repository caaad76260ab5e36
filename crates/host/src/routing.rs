//! The HTTP trigger's router: which component serves a path, and the `spin-*`
//! headers that tell the component how it was matched.
//!
//! It uses `routefinder`, the crate Spin's router is built on, so precedence
//! is Spin's: exact segments beat `:name` segments, which beat a trailing
//! `/...` wildcard, compared segment by segment; two triggers with the same
//! route string keep the later one. Private routes (`{ private = true }`) are
//! not in the router at all: they are only reachable through service
//! chaining, which uses [`RouteMatch::synthetic`].

use std::{collections::BTreeMap, fmt, net::SocketAddr, sync::Arc};

/// The prefix Spin reserves for its own endpoints.
pub const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

/// One routable trigger.
#[derive(Debug, Clone)]
struct RouteHandler {
    component_id: String,
    /// The route as Spin stores it: absolute, one trailing slash removed
    /// (so `/` becomes the empty string).
    based_route: String,
    /// The route as written in the manifest.
    raw_route: String,
    wildcard: bool,
}

/// Maps request paths to components.
#[derive(Debug, Clone)]
pub struct Router {
    router: Arc<routefinder::Router<RouteHandler>>,
    /// Routes in manifest order (after dropping duplicates), for display.
    routes: Vec<RouteHandler>,
    duplicates: Vec<DuplicateRoute>,
}

/// A route that a later trigger with the same route string replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateRoute {
    /// The route string.
    pub route: String,
    /// The component that will never be reached through it.
    pub replaced_id: String,
    /// The component that serves it.
    pub effective_id: String,
}

/// Why a route could not be added.
#[derive(Debug, thiserror::Error)]
#[error("Error parsing route {route} associated with component {component_id}: {message}")]
pub struct RouteError {
    route: String,
    component_id: String,
    message: String,
}

impl Router {
    /// Builds the router from `(component id, route)` pairs in manifest
    /// order; `None` is a private route and is skipped.
    pub fn build<'a>(triggers: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Result<Self, RouteError> {
        let mut by_raw: Vec<RouteHandler> = Vec::new();
        let mut duplicates = Vec::new();
        for (component_id, route) in triggers {
            let Some(raw_route) = route else { continue };
            let based_route = sanitize(&absolutize(raw_route));
            let wildcard = based_route.ends_with("/...") || based_route.ends_with("/*");
            let handler = RouteHandler {
                component_id: component_id.to_owned(),
                based_route,
                raw_route: raw_route.to_owned(),
                wildcard,
            };
            // Spin keys duplicates on the raw route string; the last wins but
            // keeps the first one's position.
            match by_raw.iter_mut().find(|h| h.raw_route == raw_route) {
                Some(existing) => {
                    duplicates.push(DuplicateRoute {
                        route: if existing.based_route.is_empty() { "/".into() } else { existing.based_route.clone() },
                        replaced_id: existing.component_id.clone(),
                        effective_id: component_id.to_owned(),
                    });
                    *existing = handler;
                }
                None => by_raw.push(handler),
            }
        }

        let mut router = routefinder::Router::new();
        for handler in &by_raw {
            let spec = match handler.based_route.strip_suffix("/...") {
                Some(prefix) => format!("{prefix}/*"),
                None => handler.based_route.clone(),
            };
            router.add(spec, handler.clone()).map_err(|message| RouteError {
                route: handler.based_route.clone(),
                component_id: handler.component_id.clone(),
                message,
            })?;
        }
        Ok(Self { router: Arc::new(router), routes: by_raw, duplicates })
    }

    /// The component serving `path` (the raw URI path, no query, not
    /// percent-decoded), or `None` for a 404.
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let best = self.router.best_match(path)?;
        let handler = best.handler().clone();
        let captures = best.captures();
        let named = captures.iter().map(|(name, value)| (name.to_owned(), value.to_owned())).collect();
        let trailing_wildcard = match captures.wildcard() {
            // Spin keeps a trailing slash in the path-info, routefinder does not.
            Some(s) => match (s.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_owned(),
                (false, false) => format!("/{s}"),
                (false, true) => format!("/{s}/"),
            },
            None => String::new(),
        };
        Some(RouteMatch {
            component_id: handler.component_id,
            based_route: handler.based_route,
            raw_route: handler.raw_route,
            named_wildcards: named,
            trailing_wildcard,
        })
    }

    /// The routes, in manifest order, as `spin up` lists them.
    pub fn routes(&self) -> impl Iterator<Item = (RouteDisplay<'_>, &str)> {
        self.routes.iter().map(|h| (RouteDisplay(h), h.component_id.as_str()))
    }

    /// Routes replaced by a later trigger with the same route string.
    pub fn duplicates(&self) -> &[DuplicateRoute] {
        &self.duplicates
    }

    /// Whether some route lies under `/.well-known/spin/`, where Spin's own
    /// endpoints shadow it.
    pub fn contains_reserved_route(&self) -> bool {
        self.routes.iter().any(|h| h.based_route.starts_with(WELL_KNOWN_PREFIX))
    }
}

/// A route as printed at start-up (`/users (wildcard)`).
#[derive(Debug)]
pub struct RouteDisplay<'a>(&'a RouteHandler);

impl fmt::Display for RouteDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let route = &self.0.based_route;
        match route.strip_suffix("/...").or_else(|| route.strip_suffix("/*")) {
            Some(prefix) if self.0.wildcard => write!(f, "{prefix} (wildcard)"),
            _ => f.write_str(route),
        }
    }
}

/// The result of routing a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    component_id: String,
    based_route: String,
    raw_route: String,
    named_wildcards: BTreeMap<String, String>,
    trailing_wildcard: String,
}

impl RouteMatch {
    /// A match as if `path` had hit the component's catch-all route; Spin
    /// uses this for service chaining (`http://<id>.spin.internal/...`).
    pub fn synthetic(component_id: &str, path: &str) -> Self {
        Self {
            component_id: component_id.to_owned(),
            based_route: "/...".into(),
            raw_route: "/...".into(),
            named_wildcards: BTreeMap::new(),
            trailing_wildcard: path.to_owned(),
        }
    }

    /// The component that serves the request.
    pub fn component_id(&self) -> &str {
        &self.component_id
    }

    /// The `spin-*` headers Spin adds to the request, lower-case, in the
    /// order Spin adds them. `host` is the request's `Host` header (Spin
    /// uses `localhost` when there is none); `path_and_query` is the URI's.
    pub fn spin_headers(
        &self,
        scheme: &str,
        host: Option<&str>,
        path_and_query: &str,
        client_addr: SocketAddr,
    ) -> Vec<(String, String)> {
        let host = host.unwrap_or("localhost");
        let component_route = self.raw_route.strip_suffix("/...").unwrap_or(&self.raw_route).to_owned();
        let mut headers = vec![
            ("spin-path-info".to_owned(), self.trailing_wildcard.clone()),
            ("spin-full-url".to_owned(), format!("{scheme}://{host}{path_and_query}")),
            ("spin-matched-route".to_owned(), self.based_route.clone()),
            ("spin-base-path".to_owned(), "/".to_owned()),
            ("spin-raw-component-route".to_owned(), self.raw_route.clone()),
            ("spin-component-route".to_owned(), component_route),
            ("spin-client-addr".to_owned(), client_addr.to_string()),
        ];
        for (name, value) in &self.named_wildcards {
            headers.push((format!("spin-path-match-{}", name.to_ascii_lowercase()), value.clone()));
        }
        headers
    }
}

/// Makes a route absolute (`foo` is `/foo`).
fn absolutize(route: &str) -> String {
    if route.starts_with('/') {
        route.to_owned()
    } else {
        format!("/{route}")
    }
}

/// Removes one trailing slash, as Spin does (so `/` becomes the empty string).
fn sanitize(route: &str) -> String {
    route.strip_suffix('/').unwrap_or(route).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&'static str, &'static str)]) -> Router {
        Router::build(routes.iter().map(|(id, route)| (*id, Some(*route)))).expect("valid routes")
    }

    /// The research table of Spin's routing behaviour: routes, request path,
    /// expected component (or 404) and expected `spin-path-info`.
    #[test]
    fn routing_follows_spins_table() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, Option<(&'a str, &'a str)>);
        let cases: &[Case] = &[
            (&[("a", "/foo")], "/foo", Some(("a", ""))),
            (&[("a", "/foo")], "/foo/", Some(("a", ""))),
            (&[("a", "/foo")], "/foo/bar", None),
            (&[("a", "/foo/...")], "/foo", Some(("a", ""))),
            (&[("a", "/foo/...")], "/foo/", Some(("a", "/"))),
            (&[("a", "/foo/...")], "/foo/bar/baz", Some(("a", "/bar/baz"))),
            (&[("a", "/foo/...")], "/foo/bar/", Some(("a", "/bar/"))),
            (&[("a", "/foo/...")], "/foobar", None),
            // Spin's code keeps the slash here too (empty capture, path ends in "/").
            (&[("a", "/...")], "/", Some(("a", "/"))),
            (&[("a", "/...")], "/a/b", Some(("a", "/a/b"))),
            (&[("a", "/")], "/", Some(("a", ""))),
            (&[("a", "/users/:id/edit")], "/users/1/edit", Some(("a", ""))),
            (&[("a", "/users/:id/edit")], "/users/1", None),
            (&[("a", "/users/:id/edit")], "/users", None),
            (&[("one", "/one/..."), ("two", "/one/two/...")], "/one/two/x", Some(("two", "/x"))),
            (&[("two", "/one/two/..."), ("one", "/one/...")], "/one/two/x", Some(("two", "/x"))),
            (
                &[("wild", "/users/..."), ("admin", "/users/admin"), ("all", "/...")],
                "/users/admin",
                Some(("admin", "")),
            ),
            (&[("wild", "/users/..."), ("admin", "/users/admin"), ("all", "/...")], "/users/1", Some(("wild", "/1"))),
            (&[("param", "/api/v1/users/:id"), ("wild", "/api/v1/users/...")], "/api/v1/users/42", Some(("param", ""))),
            (&[("a", "/1/:two/...")], "/1/2/3", Some(("a", "/3"))),
            (&[("first", "/foo"), ("second", "/foo")], "/foo", Some(("second", ""))),
            (&[("a", "/foo")], "/bar", None),
        ];
        for (routes, path, expected) in cases {
            let actual = router(routes).route(path).map(|m| (m.component_id.clone(), m.trailing_wildcard.clone()));
            let expected = expected.map(|(id, info)| (id.to_owned(), info.to_owned()));
            assert_eq!(actual, expected, "routes {routes:?}, path {path}");
        }
    }

    #[test]
    fn private_route_is_not_reachable_from_outside() {
        let router = Router::build([("public", Some("/api/...")), ("internal", None)]).expect("valid");
        assert_eq!(router.route("/api/x").map(|m| m.component_id), Some("public".into()));
        assert!(router.routes().all(|(_, id)| id != "internal"));
        assert!(router.route("/internal").is_none());
    }

    #[test]
    fn duplicate_route_is_reported_and_last_one_wins() {
        let router = router(&[("first", "/foo"), ("second", "/foo")]);
        assert_eq!(
            router.duplicates(),
            &[DuplicateRoute { route: "/foo".into(), replaced_id: "first".into(), effective_id: "second".into() }]
        );
    }

    #[test]
    fn headers_for_param_route_match_spin() {
        let m = router(&[("users", "/api/v1/users/:id")]).route("/api/v1/users/42").expect("match");
        let headers = m.spin_headers(
            "http",
            Some("127.0.0.1:3000"),
            "/api/v1/users/42?x=1",
            "127.0.0.1:50000".parse().expect("addr"),
        );
        let expected = [
            ("spin-path-info", ""),
            ("spin-full-url", "http://127.0.0.1:3000/api/v1/users/42?x=1"),
            ("spin-matched-route", "/api/v1/users/:id"),
            ("spin-base-path", "/"),
            ("spin-raw-component-route", "/api/v1/users/:id"),
            ("spin-component-route", "/api/v1/users/:id"),
            ("spin-client-addr", "127.0.0.1:50000"),
            ("spin-path-match-id", "42"),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(headers, expected);
    }

    #[test]
    fn headers_for_wildcard_route_match_spin() {
        let m = router(&[("users", "/api/v1/users/...")]).route("/api/v1/users/42").expect("match");
        let headers: BTreeMap<_, _> = m
            .spin_headers(
                "http",
                Some("127.0.0.1:3000"),
                "/api/v1/users/42?x=1",
                "127.0.0.1:50000".parse().expect("addr"),
            )
            .into_iter()
            .collect();
        assert_eq!(headers["spin-path-info"], "/42");
        assert_eq!(headers["spin-matched-route"], "/api/v1/users/...");
        assert_eq!(headers["spin-raw-component-route"], "/api/v1/users/...");
        assert_eq!(headers["spin-component-route"], "/api/v1/users");
        assert!(!headers.contains_key("spin-path-match-id"));
    }

    #[test]
    fn root_route_is_stored_as_empty_matched_route_like_spin() {
        let m = router(&[("home", "/")]).route("/").expect("match");
        assert_eq!(m.based_route, "");
        assert_eq!(m.raw_route, "/");
    }

    #[test]
    fn synthetic_match_sees_whole_path_as_path_info() {
        let headers: BTreeMap<_, _> = RouteMatch::synthetic("users", "/api/x")
            .spin_headers("http", None, "/api/x?q", "0.0.0.0:0".parse().expect("addr"))
            .into_iter()
            .collect();
        assert_eq!(headers["spin-path-info"], "/api/x");
        assert_eq!(headers["spin-matched-route"], "/...");
        assert_eq!(headers["spin-component-route"], "");
        assert_eq!(headers["spin-full-url"], "http://localhost/api/x?q");
        assert_eq!(headers["spin-client-addr"], "0.0.0.0:0");
    }

    #[test]
    fn wildcard_routes_display_like_spin_up() {
        let router = router(&[("a", "/whee/..."), ("b", "/exact")]);
        let shown: Vec<String> = router.routes().map(|(r, id)| format!("{id}: {r}")).collect();
        assert_eq!(shown, ["a: /whee (wildcard)", "b: /exact"]);
    }

    #[test]
    fn reserved_prefix_is_detected() {
        assert!(router(&[("a", "/.well-known/spin/...")]).contains_reserved_route());
        assert!(!router(&[("a", "/.well-known/spindle/...")]).contains_reserved_route());
    }
}
