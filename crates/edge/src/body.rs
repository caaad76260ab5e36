//! JSON request bodies: content type, size and shape, checked at the edge.

use http::{header, HeaderValue, StatusCode};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};

use crate::{FieldError, Problem, Request, Response};

/// The largest request body any component accepts, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Whether the request says its body is JSON: `application/json`, or a JSON
/// type such as `application/merge-patch+json` listed in `also`.
fn has_json_type(request: &Request, also: &[&str]) -> bool {
    let Some(value) = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || also.contains(&essence.as_str())
}

/// The request's body as a JSON object, field by field.
///
/// Answers 415 when the content type is not JSON (or one of `also`), 413 past
/// [`BODY_LIMIT`], and 400 when the body is not a JSON object.
pub fn json_body(request: &Request, also: &[&str]) -> Result<Fields, Problem> {
    json_object(request, also).map(Fields::new)
}

/// The request's body as a JSON object, checked as [`json_body`] checks it,
/// for components that pass it on.
pub fn json_object(request: &Request, also: &[&str]) -> Result<Map<String, Value>, Problem> {
    if !has_json_type(request, also) {
        let accepted = std::iter::once("application/json").chain(also.iter().copied()).collect::<Vec<_>>().join(", ");
        return Err(Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            .detail(format!("the body must be JSON ({accepted})"))
            .header(header::ACCEPT, accepted));
    }
    if request.body().len() > BODY_LIMIT {
        return Err(too_large());
    }
    match serde_json::from_slice::<Value>(request.body()) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Problem::new(StatusCode::BAD_REQUEST).detail("the body must be a JSON object")),
        Err(error) => Err(Problem::new(StatusCode::BAD_REQUEST).detail(format!("malformed JSON: {error}"))),
    }
}

/// The 413 answer for a body over [`BODY_LIMIT`].
pub fn too_large() -> Problem {
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE).detail(format!("the body exceeds {BODY_LIMIT} bytes"))
}

/// A JSON object read field by field, collecting every error so that the
/// client learns about all of them at once (RFC 9457 `errors`), and refusing
/// fields nobody asked for.
#[derive(Debug)]
pub struct Fields {
    map: Map<String, Value>,
    errors: Vec<FieldError>,
}

/// A field of a JSON Merge Patch (RFC 7396): absent, explicitly `null`, or set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patch<T> {
    /// The field was not in the patch: leave it as it is.
    Absent,
    /// The field was `null`: remove it.
    Null,
    /// The field's new value.
    Set(T),
}

impl Fields {
    fn new(map: Map<String, Value>) -> Self {
        Self { map, errors: Vec::new() }
    }

    fn take<T: DeserializeOwned>(&mut self, name: &str, value: Value) -> Option<T> {
        match serde_json::from_value(value) {
            Ok(v) => Some(v),
            Err(error) => {
                self.errors.push(FieldError::new(name, describe(&error)));
                None
            }
        }
    }

    /// A field that must be present and not null.
    pub fn required<T: DeserializeOwned>(&mut self, name: &str) -> Option<T> {
        match self.map.remove(name) {
            None | Some(Value::Null) => {
                self.errors.push(FieldError::new(name, "is required"));
                None
            }
            Some(value) => self.take(name, value),
        }
    }

    /// A field that may be absent (or null).
    pub fn optional<T: DeserializeOwned>(&mut self, name: &str) -> Option<T> {
        match self.map.remove(name) {
            None | Some(Value::Null) => None,
            Some(value) => self.take(name, value),
        }
    }

    /// A field of a merge patch.
    pub fn patch<T: DeserializeOwned>(&mut self, name: &str) -> Patch<T> {
        match self.map.remove(name) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(value) => self.take(name, value).map_or(Patch::Absent, Patch::Set),
        }
    }

    /// Record an error found while validating a field's value.
    pub fn invalid(&mut self, name: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(name, message));
    }

    /// Validate a value already read: keep it if `check` accepts it,
    /// otherwise record the error under `name`.
    pub fn check<T, U>(
        &mut self,
        name: &str,
        value: Option<T>,
        check: impl FnOnce(T) -> Result<U, String>,
    ) -> Option<U> {
        match check(value?) {
            Ok(valid) => Some(valid),
            Err(message) => {
                self.invalid(name, message);
                None
            }
        }
    }

    /// Finish reading: any field left over is unknown. Returns the 400
    /// listing every error, if there was any.
    pub fn finish(mut self) -> Result<(), Problem> {
        let mut unknown: Vec<String> = self.map.keys().cloned().collect();
        unknown.sort();
        for name in unknown {
            self.errors.push(FieldError::new(name, "is not a known field"));
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Problem::invalid(self.errors))
        }
    }
}

/// serde's message without its position suffix, which means nothing to a
/// client that sent a single field.
fn describe(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.find(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

/// A JSON response with `status`.
pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Result<Response, Problem> {
    let body = serde_json::to_vec(value).map_err(Problem::internal)?;
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = http::Request::builder().method("POST").uri("/x");
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        builder.body(body.as_bytes().to_vec()).expect("request")
    }

    #[test]
    fn a_non_json_content_type_is_415() {
        for ct in [None, Some("text/plain"), Some("application/jsonx")] {
            let problem = json_body(&request(ct, "{}"), &[]).expect_err("refused");
            assert_eq!(problem.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
        }
        assert!(json_body(&request(Some("application/json; charset=utf-8"), "{}"), &[]).is_ok());
        let patch = request(Some("application/merge-patch+json"), "{}");
        assert!(json_body(&patch, &["application/merge-patch+json"]).is_ok());
        assert!(json_body(&patch, &[]).is_err());
    }

    #[test]
    fn malformed_oversized_and_non_object_bodies_are_refused() {
        let status =
            |body: &str| json_body(&request(Some("application/json"), body), &[]).expect_err("refused").status();
        assert_eq!(status("{\"a\":"), StatusCode::BAD_REQUEST);
        assert_eq!(status("[1,2]"), StatusCode::BAD_REQUEST);
        assert_eq!(status(&format!("{{\"a\":\"{}\"}}", "x".repeat(BODY_LIMIT))), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn every_field_error_is_listed_at_once() {
        let req = request(Some("application/json"), r#"{"email": 5, "admin": true, "name": null, "zzz": 1}"#);
        let mut fields = json_body(&req, &[]).expect("object");
        let email: Option<String> = fields.required("email");
        let name: Option<String> = fields.required("name");
        let age: Option<u32> = fields.optional("age");
        assert_eq!((email, name, age), (None, None, None));
        let problem = fields.finish().expect_err("invalid");
        let listed: Vec<(&str, &str)> =
            problem.errors().iter().map(|e| (e.field.as_str(), e.message.as_str())).collect();
        assert_eq!(
            listed,
            vec![
                ("email", "invalid type: integer `5`, expected a string"),
                ("name", "is required"),
                ("admin", "is not a known field"),
                ("zzz", "is not a known field"),
            ]
        );
    }

    #[test]
    fn merge_patch_fields_distinguish_absent_null_and_set() {
        let req = request(Some("application/json"), r#"{"a": null, "b": "x"}"#);
        let mut fields = json_body(&req, &[]).expect("object");
        assert_eq!(fields.patch::<String>("a"), Patch::Null);
        assert_eq!(fields.patch::<String>("b"), Patch::Set("x".into()));
        assert_eq!(fields.patch::<String>("c"), Patch::Absent);
        let checked =
            fields.check("b", Some("x".to_owned()), |v| if v.len() > 3 { Ok(v) } else { Err("too short".into()) });
        assert_eq!(checked, None);
        assert_eq!(fields.finish().expect_err("invalid").errors()[0].message, "too short");
    }

    #[test]
    fn json_responses_carry_their_status_and_type() {
        let response = json_response(StatusCode::CREATED, &serde_json::json!({"ok": true})).expect("response");
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(response.body(), br#"{"ok":true}"#);
    }
}
