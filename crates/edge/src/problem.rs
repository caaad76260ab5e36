//! Problem details (RFC 9457): the one shape of every error answer.

use http::{header, HeaderName, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

use crate::Response;

/// One invalid field of a request, listed in a problem's `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's JSON path (`email`, `items[2].name`) or query parameter.
    pub field: String,
    /// What is wrong with it, for the client's developer.
    pub message: String,
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// An error answer. Build one with a constructor named after its status, add
/// a detail, field errors or headers, and return it from a handler.
///
/// Server errors never carry their cause to the client: [`Problem::internal`]
/// keeps it for the log line only.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    detail: Option<String>,
    errors: Vec<FieldError>,
    headers: Vec<(HeaderName, HeaderValue)>,
    cause: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    r#type: &'static str,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
}

impl Problem {
    /// A problem with `status` and no detail.
    pub fn new(status: StatusCode) -> Self {
        Self { status, detail: None, errors: Vec::new(), headers: Vec::new(), cause: None }
    }

    /// 400, with the invalid fields.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => format!("{} fields are invalid", errors.len()),
        };
        let mut problem = Self::new(StatusCode::BAD_REQUEST).detail(detail);
        problem.errors = errors;
        problem
    }

    /// 400 about one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(field, message)])
    }

    /// 401 for a missing or refused access token, with the `WWW-Authenticate`
    /// challenge of RFC 6750.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED)
            .detail(detail)
            .header(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")
    }

    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN).detail(detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND).detail(detail)
    }

    /// 409.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT).detail(detail)
    }

    /// 500: `cause` goes to the log, never to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut problem = Self::new(StatusCode::INTERNAL_SERVER_ERROR);
        problem.cause = Some(cause.to_string());
        problem
    }

    /// 503: a dependency (database, key-value store) is unavailable; `cause`
    /// goes to the log only.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        let mut problem = Self::new(StatusCode::SERVICE_UNAVAILABLE).header(header::RETRY_AFTER, "1");
        problem.cause = Some(cause.to_string());
        problem
    }

    /// The problem another component answered, passed on as it is (status,
    /// detail and field errors), for components that relay a service they
    /// called. A body that is not a problem keeps only the status.
    pub fn relay(response: Response) -> Self {
        #[derive(Deserialize)]
        struct Relayed {
            detail: Option<String>,
            #[serde(default)]
            errors: Vec<FieldError>,
        }
        let mut problem = Self::new(response.status());
        if let Ok(relayed) = serde_json::from_slice::<Relayed>(response.body()) {
            problem.detail = relayed.detail;
            problem.errors = relayed.errors;
        }
        problem
    }

    /// Set the human-readable explanation.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Add a response header (`Allow`, `Retry-After`, …). Values that are not
    /// valid header values are dropped rather than turned into a panic.
    pub fn header(mut self, name: HeaderName, value: impl AsRef<str>) -> Self {
        if let Ok(value) = HeaderValue::from_str(value.as_ref()) {
            self.headers.push((name, value));
        }
        self
    }

    /// The status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The field errors.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// The internal cause of a server error, for the log.
    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }

    /// The `application/problem+json` response.
    pub fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = Body {
            r#type: "about:blank",
            title,
            status: self.status.as_u16(),
            detail: self.detail.as_deref(),
            errors: &self.errors,
        };
        // Serializing this plain struct cannot fail; an empty body would
        // still carry the status.
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = http::Response::new(bytes);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

impl std::fmt::Display for Problem {
    /// For the log: the status, and the cause (a server error's) or else
    /// the detail.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.status)?;
        match self.cause.as_deref().or(self.detail.as_deref()) {
            Some(text) => write!(f, ": {text}"),
            None => Ok(()),
        }
    }
}

/// A problem is an error like any other: components wrap it in theirs.
impl std::error::Error for Problem {}

impl From<troupe_store::DbError> for Problem {
    /// Storage failures that may pass (busy, unreachable) are 503s; a
    /// unique-constraint violation the caller did not map itself is a 409;
    /// anything else is a 500. The driver's message goes to the log only.
    fn from(error: troupe_store::DbError) -> Self {
        match error {
            troupe_store::DbError::Conflict(_) => Problem::conflict("the change conflicts with existing data"),
            e if e.is_transient() => Problem::unavailable(e),
            e => Problem::internal(e),
        }
    }
}

impl From<troupe_store::KvError> for Problem {
    /// A key-value store that fails where it is required (revocations,
    /// idempotency records) makes the service unavailable, not broken.
    fn from(error: troupe_store::KvError) -> Self {
        Problem::unavailable(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: &Response) -> serde_json::Value {
        serde_json::from_slice(response.body()).expect("json body")
    }

    #[test]
    fn a_problem_is_logged_with_its_cause_or_else_its_detail() {
        assert_eq!(Problem::internal("disk full").to_string(), "500 Internal Server Error: disk full");
        assert_eq!(Problem::not_found("no such user").to_string(), "404 Not Found: no such user");
        assert_eq!(Problem::new(StatusCode::GONE).to_string(), "410 Gone");
    }

    #[test]
    fn a_problem_is_rendered_as_rfc_9457_json() {
        let response = Problem::invalid(vec![FieldError::new("email", "must be an email address")]).into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");
        let json = body(&response);
        assert_eq!(json["type"], "about:blank");
        assert_eq!(json["title"], "Bad Request");
        assert_eq!(json["status"], 400);
        assert_eq!(json["detail"], "email: must be an email address");
        assert_eq!(json["errors"][0]["field"], "email");
    }

    #[test]
    fn unauthorized_carries_the_bearer_challenge() {
        let response = Problem::unauthorized("token expired").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer error=\"invalid_token\"");
        assert!(body(&response).get("errors").is_none());
    }

    #[test]
    fn server_errors_keep_their_cause_out_of_the_body() {
        let problem = Problem::internal("password hash column missing");
        assert_eq!(problem.cause(), Some("password hash column missing"));
        let response = problem.into_response();
        let text = String::from_utf8(response.body().clone()).expect("utf-8");
        assert!(!text.contains("password hash"), "{text}");
        assert_eq!(Problem::unavailable("db down").into_response().headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn many_field_errors_are_summarised_and_bad_header_values_are_dropped() {
        let problem =
            Problem::invalid(vec![FieldError::new("a", "x"), FieldError::new("b", "y")]).header(header::ALLOW, "GET\n");
        assert_eq!(problem.errors().len(), 2);
        let response = problem.into_response();
        assert_eq!(body(&response)["detail"], "2 fields are invalid");
        assert!(response.headers().get(header::ALLOW).is_none());
    }

    #[test]
    fn a_relayed_problem_keeps_status_detail_and_errors() {
        let original = Problem::invalid(vec![FieldError::new("email", "taken")]).into_response();
        let relayed = Problem::relay(original);
        assert_eq!(relayed.status(), StatusCode::BAD_REQUEST);
        assert_eq!(relayed.errors()[0].field, "email");
        let mut plain = http::Response::new(b"not json".to_vec());
        *plain.status_mut() = StatusCode::CONFLICT;
        assert_eq!(Problem::relay(plain).status(), StatusCode::CONFLICT);
    }

    #[test]
    fn storage_errors_map_to_409_503_or_500() {
        use troupe_store::{DbError, KvError};
        assert_eq!(Problem::from(DbError::Conflict("x".into())).status(), StatusCode::CONFLICT);
        assert_eq!(Problem::from(DbError::Busy("x".into())).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(Problem::from(DbError::Query("x".into())).status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(Problem::from(KvError::AccessDenied).status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
