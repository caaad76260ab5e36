//! A small router: one handler function per operation.

use http::{header, Method, StatusCode};

use crate::{Exchange, Problem, Response};

/// A handler: one operation of a component. Its error is the component's
/// own (a [`Problem`] unless it says otherwise), turned into a problem
/// response by the component's one `From` mapping when served.
pub type Handler<S, E = Problem> = fn(&Exchange<'_, S>) -> Result<Response, E>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(&'static str),
    Param(&'static str),
}

struct Route<S, E> {
    method: Method,
    pattern: &'static str,
    segments: Vec<Segment>,
    handler: Handler<S, E>,
}

/// The values of a route's `:name` segments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    /// The value of `:name`, if the route has one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// Routes of one component, matched on the request path (the whole path:
/// components do not depend on where `spin.toml` mounts them beyond their
/// own prefix).
///
/// Patterns are `/literal/:param/…`. A path matches at most one pattern per
/// method; when patterns overlap, a literal segment wins over a parameter, as
/// in Spin's own routing. A trailing slash is ignored. A path that matches
/// with another method answers 405 with `Allow`; no match answers 404.
pub struct Router<S, E = Problem> {
    routes: Vec<Route<S, E>>,
}

impl<S, E> Default for Router<S, E> {
    fn default() -> Self {
        Self { routes: Vec::new() }
    }
}

impl<S, E> Router<S, E> {
    /// A router with no routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Route `method` on `pattern` to `handler`.
    pub fn route(mut self, method: Method, pattern: &'static str, handler: Handler<S, E>) -> Self {
        let segments = split(pattern)
            .map(|s| match s.strip_prefix(':') {
                Some(name) => Segment::Param(name),
                None => Segment::Literal(s),
            })
            .collect();
        self.routes.push(Route { method, pattern, segments, handler });
        self
    }

    /// Route `GET`.
    pub fn get(self, pattern: &'static str, handler: Handler<S, E>) -> Self {
        self.route(Method::GET, pattern, handler)
    }
    /// Route `POST`.
    pub fn post(self, pattern: &'static str, handler: Handler<S, E>) -> Self {
        self.route(Method::POST, pattern, handler)
    }
    /// Route `PUT`.
    pub fn put(self, pattern: &'static str, handler: Handler<S, E>) -> Self {
        self.route(Method::PUT, pattern, handler)
    }
    /// Route `PATCH`.
    pub fn patch(self, pattern: &'static str, handler: Handler<S, E>) -> Self {
        self.route(Method::PATCH, pattern, handler)
    }
    /// Route `DELETE`.
    pub fn delete(self, pattern: &'static str, handler: Handler<S, E>) -> Self {
        self.route(Method::DELETE, pattern, handler)
    }

    /// Every route as `(method, pattern)`, in the order they were added (the
    /// black-box suite compares them with the OpenAPI document).
    pub fn routes(&self) -> Vec<(Method, &'static str)> {
        self.routes.iter().map(|route| (route.method.clone(), route.pattern)).collect()
    }

    /// The methods routed on the pattern that best matches `path`.
    pub fn allowed(&self, path: &str) -> Vec<Method> {
        let Some(best) = self.best_pattern(path) else { return Vec::new() };
        self.routes.iter().filter(|r| r.pattern == best).map(|r| r.method.clone()).collect()
    }

    fn best_pattern(&self, path: &str) -> Option<&'static str> {
        let parts: Vec<&str> = split(path).collect();
        self.routes
            .iter()
            .filter_map(|route| specificity(&route.segments, &parts).map(|score| (score, route.pattern)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, pattern)| pattern)
    }

    /// The handler for `method` and `path`, with the route's pattern and
    /// parameters, or the 404/405 problem.
    pub fn resolve(&self, method: &Method, path: &str) -> Result<(Handler<S, E>, &'static str, Params), Problem> {
        let best = self.best_pattern(path).ok_or_else(|| Problem::not_found("no such resource"))?;
        let parts: Vec<&str> = split(path).collect();
        match self.routes.iter().find(|r| r.pattern == best && r.method == *method) {
            Some(route) => {
                let params = route
                    .segments
                    .iter()
                    .zip(&parts)
                    .filter_map(|(segment, part)| match segment {
                        Segment::Param(name) => Some((*name, (*part).to_owned())),
                        Segment::Literal(_) => None,
                    })
                    .collect();
                Ok((route.handler, route.pattern, Params(params)))
            }
            None => {
                let allow = self.allowed(path).iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
                Err(Problem::new(StatusCode::METHOD_NOT_ALLOWED)
                    .detail(format!("{method} is not supported here"))
                    .header(header::ALLOW, allow))
            }
        }
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    trimmed.split('/').skip(1)
}

/// `None` when the pattern does not match; otherwise a score that orders
/// matches by specificity: literals win over parameters, segment by segment
/// from the left.
fn specificity(segments: &[Segment], parts: &[&str]) -> Option<Vec<u8>> {
    if segments.len() != parts.len() {
        return None;
    }
    segments
        .iter()
        .zip(parts)
        .map(|(segment, part)| match segment {
            Segment::Literal(l) if l == part => Some(1),
            Segment::Literal(_) => None,
            Segment::Param(_) if part.is_empty() => None,
            Segment::Param(_) => Some(0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &Exchange<'_, ()>) -> Result<Response, Problem> {
        Ok(http::Response::new(Vec::new()))
    }

    fn router() -> Router<()> {
        Router::new()
            .get("/api/v1/users", ok)
            .post("/api/v1/users", ok)
            .get("/api/v1/users/:id", ok)
            .delete("/api/v1/users/:id", ok)
            .get("/api/v1/users/me", ok)
    }

    #[test]
    fn routes_resolve_by_method_and_path_with_parameters() {
        let router = router();
        let (_, pattern, params) = router.resolve(&Method::GET, "/api/v1/users/42").expect("route");
        assert_eq!(pattern, "/api/v1/users/:id");
        assert_eq!(params.get("id"), Some("42"));
        assert_eq!(params.get("nope"), None);
        let (_, pattern, _) = router.resolve(&Method::GET, "/api/v1/users/").expect("trailing slash");
        assert_eq!(pattern, "/api/v1/users");
    }

    #[test]
    fn routes_lists_every_method_and_pattern_in_order() {
        let routes = router().routes();
        assert_eq!(routes.len(), 5);
        assert_eq!(routes[0], (Method::GET, "/api/v1/users"));
        assert_eq!(routes[3], (Method::DELETE, "/api/v1/users/:id"));
    }

    #[test]
    fn a_literal_segment_wins_over_a_parameter() {
        let (_, pattern, _) = router().resolve(&Method::GET, "/api/v1/users/me").expect("route");
        assert_eq!(pattern, "/api/v1/users/me");
    }

    #[test]
    fn an_unrouted_method_is_405_with_allow_and_an_unknown_path_is_404() {
        let router = router();
        let problem = router.resolve(&Method::PUT, "/api/v1/users").map(drop).expect_err("405");
        assert_eq!(problem.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(problem.into_response().headers()[header::ALLOW], "GET, POST");
        for path in ["/api/v1/nothing", "/api/v1/users/1/2", "/api/v1/users//"] {
            let problem = router.resolve(&Method::GET, path).map(drop).expect_err("404");
            assert_eq!(problem.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
}
