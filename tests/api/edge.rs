//! What every component does alike: CORS, request ids, access logs.

use reqwest::Method;
use serde_json::{json, Value};
use troupe_tests::{spawn_app, spawn_app_with, Options, TestApp};

const ORIGIN: &str = "https://app.example.com";

fn preflight(app: &TestApp, path: &str, origin: &str, method: &str, headers: &str) -> troupe_tests::Reply {
    let mut request =
        app.request(Method::OPTIONS, path).header("origin", origin).header("access-control-request-method", method);
    if !headers.is_empty() {
        request = request.header("access-control-request-headers", headers);
    }
    app.send(request)
}

#[test]
fn preflights_are_answered_on_every_route_for_allowed_origins_only() {
    let app = spawn_app_with(Options::default().var("cors_allowed_origins", ORIGIN));
    for (path, method) in [
        ("/health", "GET"),
        ("/health/ready", "GET"),
        ("/api/v1/auth/login", "POST"),
        ("/api/v1/auth/sessions/0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a59", "DELETE"),
        ("/api/v1/users", "GET"),
        ("/api/v1/users/0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a59", "PATCH"),
    ] {
        let allowed = preflight(&app, path, ORIGIN, method, "authorization, content-type").expect(204);
        assert_eq!(allowed.header("access-control-allow-origin"), Some(ORIGIN), "{path}");
        assert_eq!(allowed.header("access-control-allow-methods"), Some(method), "{path}");
        assert_eq!(allowed.header("access-control-allow-headers"), Some("authorization, content-type"));
        assert!(allowed.header("allow").is_some_and(|a| a.contains(method) && a.contains("OPTIONS")), "{path}");
        let refused = preflight(&app, path, "https://evil.example.com", method, "").expect(204);
        assert_eq!(refused.header("access-control-allow-origin"), None, "{path}");
    }
    // A method the route does not serve, or a header not allowed: refused.
    assert_eq!(preflight(&app, "/health", ORIGIN, "DELETE", "").header("access-control-allow-origin"), None);
    assert_eq!(preflight(&app, "/api/v1/users", ORIGIN, "GET", "x-secret").header("access-control-allow-origin"), None);
    // No route, no preflight.
    assert_eq!(preflight(&app, "/api/v1/users/a/b", ORIGIN, "GET", "").status.as_u16(), 404);
}

#[test]
fn no_origin_is_allowed_by_default() {
    let app = spawn_app();
    let reply = preflight(&app, "/api/v1/auth/login", ORIGIN, "POST", "content-type").expect(204);
    assert_eq!(reply.header("access-control-allow-origin"), None);
    let get = app.send(app.request(Method::GET, "/health").header("origin", ORIGIN)).expect(200);
    assert_eq!(get.header("access-control-allow-origin"), None);
}

#[test]
fn responses_to_allowed_origins_expose_the_api_headers() {
    let app = spawn_app_with(Options::default().var("cors_allowed_origins", ORIGIN));
    let reply = app.send(app.request(Method::GET, "/health").header("origin", ORIGIN)).expect(200);
    assert_eq!(reply.header("access-control-allow-origin"), Some(ORIGIN));
    assert!(reply
        .header("access-control-expose-headers")
        .is_some_and(|h| h.contains("X-Request-Id") && h.contains("ETag")));
    assert_eq!(reply.header("vary"), Some("Origin"));
}

#[test]
fn every_request_is_logged_as_one_json_line_and_no_secret_is_logged() {
    let app = spawn_app_with(Options::default().var("bootstrap_admin_email", "admin@example.com"));
    let admin = app.register("admin@example.com");
    let user = app.register("user@example.com");
    let login =
        app.post("/api/v1/auth/login", &json!({"email": user.email, "password": user.password})).expect(200).json();
    let rotated = app.post("/api/v1/auth/refresh", &json!({"refresh_token": user.refresh})).expect(200).json();
    let new_password = "an entirely new secret";
    app.json(
        Method::POST,
        "/api/v1/auth/password",
        Some(&user.access),
        &json!({"current_password": user.password, "new_password": new_password}),
    )
    .expect(204);
    app.post("/api/v1/auth/login", &json!({"email": user.email, "password": "a wrong guess!"})).expect(401);
    let created = app
        .json(
            Method::POST,
            "/api/v1/users",
            Some(&admin.access),
            &json!({"email": "c@example.com", "name": "C", "password": "yet another secret", "role": "user"}),
        )
        .expect(201);
    app.get(&format!("/api/v1/users/{}", user.id), Some(&admin.access)).expect(200);
    app.send(app.request(Method::GET, "/health").header("x-request-id", "trace-logs-1")).expect(200);

    let logs = app.logs();
    let hashes: Vec<String> = app
        .database()
        .query("SELECT password_hash FROM credentials", &[])
        .expect("credentials")
        .iter()
        .map(|row| row.get::<String>("password_hash").expect("hash"))
        .collect();
    let mut secrets: Vec<String> = vec![
        user.password.clone(),
        new_password.to_owned(),
        "a wrong guess!".to_owned(),
        "yet another secret".to_owned(),
        admin.access.clone(),
        admin.refresh.clone(),
        user.access.clone(),
        user.refresh.clone(),
    ];
    for pair in [&login, &rotated] {
        secrets.push(pair["access_token"].as_str().expect("access").to_owned());
        secrets.push(pair["refresh_token"].as_str().expect("refresh").to_owned());
    }
    secrets.extend(hashes);
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret appears in the logs: {}…", &secret[..8.min(secret.len())]);
    }
    assert!(!logs.contains("$argon2id$"));
    assert!(created.header("x-request-id").is_some());

    // One JSON line per request, with the fields operators need.
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|line| line.split_once("] ").map(|(_, json)| json))
        .filter_map(|json| serde_json::from_str::<Value>(json).ok())
        .filter(|v| v.get("request_id").is_some())
        .collect();
    assert!(lines.len() >= 10, "{} access-log lines", lines.len());
    let traced = lines.iter().find(|l| l["request_id"] == "trace-logs-1").expect("the traced request's line");
    assert_eq!(traced["component"], "health");
    assert_eq!(traced["method"], "GET");
    assert_eq!(traced["route"], "/health");
    assert_eq!(traced["status"], 200);
    assert!(traced["duration_us"].is_u64() && traced["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    let read = lines.iter().find(|l| l["component"] == "users" && l["status"] == 200).expect("a users line");
    assert_eq!(read["user_id"], admin.id.as_str());
}
