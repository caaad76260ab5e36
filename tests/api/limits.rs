//! API-wide protection in the edge layer: rate limits on every `/api/`
//! route, security headers by route class, and gzip with conditional
//! requests.

use std::io::Read;

use reqwest::Method;
use serde_json::json;
use troupe_tests::{spawn_app_with, Options, Reply, TestApp};

const ADMIN: &str = "admin@example.com";

fn user_path(id: &str) -> String {
    format!("/api/v1/users/{id}")
}

/// Windows are aligned to the clock: a minute-long one could close in the
/// middle of a test and start its count again. A day-long one does not.
fn day_window() -> Options {
    Options::default().var("rate_limit_window_seconds", "86400")
}

fn statuses(replies: impl Iterator<Item = Reply>) -> Vec<u16> {
    replies.map(|r| r.status.as_u16()).collect()
}

#[test]
fn the_per_address_limit_refuses_once_over_and_spares_health_and_docs() {
    let app = spawn_app_with(day_window().var("rate_limit_per_address", "20").var("rate_limit_per_user", "0"));
    let seen = statuses((0..24).map(|_| app.get("/api/v1/auth/me", None)));
    assert_eq!(seen.iter().filter(|s| **s == 401).count(), 20, "{seen:?}");
    assert!(seen[20..].iter().all(|s| *s == 429), "{seen:?}");
    let refused = app.get("/api/v1/auth/me", None);
    assert!(refused
        .header("retry-after")
        .and_then(|s| s.parse::<u64>().ok())
        .is_some_and(|s| (1..=86400).contains(&s)));
    assert_eq!(refused.header("ratelimit-policy"), Some("\"address\";q=20;w=86400"));
    assert!(refused.header("ratelimit").is_some_and(|v| v.starts_with("\"address\";r=0;t=")));
    refused.problem(429);
    // Health probes and the API reference are exempt.
    assert!(statuses((0..30).map(|_| app.get("/health", None))).iter().all(|s| *s == 200));
    assert_eq!(app.get("/docs/openapi.json", None).status.as_u16(), 200);
}

#[test]
fn the_per_user_limit_counts_each_user_apart() {
    let app = spawn_app_with(day_window().var("rate_limit_per_user", "10").var("rate_limit_per_address", "0"));
    let ann = app.register("ann@example.com");
    let bob = app.register("bob@example.com");
    let first = app.get(&user_path(&ann.id), Some(&ann.access));
    assert_eq!(first.header("ratelimit-policy"), Some("\"user\";q=10;w=86400"));
    assert!(first.header("ratelimit").is_some_and(|v| v.starts_with("\"user\";r=9;t=")));
    let seen = statuses((0..11).map(|_| app.get(&user_path(&ann.id), Some(&ann.access))));
    // Ten in the window in all (the first above included), then refused, on
    // `auth`'s routes as well.
    assert_eq!(seen.iter().filter(|s| **s == 200).count(), 9, "{seen:?}");
    assert!(seen[9..].iter().all(|s| *s == 429), "{seen:?}");
    app.get("/api/v1/auth/me", Some(&ann.access)).problem(429);
    app.get(&user_path(&bob.id), Some(&bob.access)).expect(200);
}

#[test]
fn two_instances_on_one_store_share_their_counters() {
    let first = spawn_app_with(day_window().var("rate_limit_per_user", "10").var("rate_limit_per_address", "0"));
    let second = spawn_app_with(
        day_window().var("rate_limit_per_user", "10").var("rate_limit_per_address", "0").sharing(&first),
    );
    let ann = first.register("ann@example.com");
    let path = user_path(&ann.id);
    let mut seen = Vec::new();
    for i in 0..12 {
        let app = if i % 2 == 0 { &first } else { &second };
        seen.push(app.get(&path, Some(&ann.access)).status.as_u16());
    }
    assert_eq!(seen.iter().filter(|s| **s == 200).count(), 10, "{seen:?}");
    assert_eq!(&seen[10..], [429, 429], "{seen:?}");
}

fn assert_security_headers(reply: &Reply, json: bool) {
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"), "{:?}", reply.headers);
    assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
    if json {
        assert_eq!(reply.header("content-security-policy"), Some("default-src 'none'; frame-ancestors 'none'"));
    }
}

#[test]
fn every_route_class_gets_its_security_and_caching_headers() {
    let app = spawn_app_with(Options::default().var("bootstrap_admin_email", ADMIN));
    let registered = app.post(
        "/api/v1/auth/register",
        &json!({"email": ADMIN, "password": "correct horse battery staple", "name": "Admin"}),
    );
    assert_security_headers(&registered, true);
    assert_eq!(registered.header("cache-control"), Some("no-store"));
    assert!(registered.header("ratelimit-policy").is_some_and(|p| p.contains("\"address\"")));
    let json = registered.json();
    let token = json["access_token"].as_str().expect("token");
    let id = json["user"]["id"].as_str().expect("id");

    for path in
        [user_path(id), "/api/v1/users".to_owned(), "/api/v1/auth/me".to_owned(), "/api/v1/auth/sessions".to_owned()]
    {
        let reply = app.get(&path, Some(token)).expect(200);
        assert_security_headers(&reply, true);
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{path}");
        assert!(reply.header("ratelimit").is_some(), "{path}");
        assert!(reply.header("strict-transport-security").is_none());
    }
    let problem = app.get("/api/v1/users", None);
    assert_security_headers(&problem, true);
    assert_eq!(problem.header("cache-control"), Some("no-store"));
    assert!(problem.header("ratelimit").is_some());
    let not_allowed = app.send(app.request(Method::DELETE, "/api/v1/auth/me"));
    assert!(
        not_allowed.header("ratelimit").is_some_and(|v| v.starts_with("\"address\";")),
        "{:?}",
        not_allowed.headers
    );
    not_allowed.problem(405);

    let jwks = app.get("/.well-known/jwks.json", None).expect(200);
    assert_security_headers(&jwks, true);
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));

    let health = app.get("/health", None).expect(200);
    assert_security_headers(&health, true);
    assert!(health.header("ratelimit").is_none());

    let page = app.get("/docs", None).expect(200);
    assert_security_headers(&page, false);
    assert!(page.header("content-security-policy").is_some_and(|p| p.contains("'self'")), "{:?}", page.headers);
    let asset = app.get("/docs/swagger-ui.css", None).expect(200);
    assert_security_headers(&asset, false);
    assert_eq!(asset.header("cache-control"), Some("public, max-age=3600"));

    let https = spawn_app_with(Options::default().var("served_over_https", "true"));
    let reply = https.get("/health", None).expect(200);
    assert_eq!(reply.header("strict-transport-security"), Some("max-age=31536000; includeSubDomains"));
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut text).expect("gzip");
    text
}

fn get_bytes(app: &TestApp, path: &str, token: &str, accept: &str) -> (Reply, Vec<u8>) {
    let response = app
        .request(Method::GET, path)
        .bearer_auth(token)
        .header("accept-encoding", accept)
        .send()
        .expect("the app answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().expect("body").to_vec();
    (Reply { status, headers, text: String::new() }, bytes)
}

#[test]
fn large_json_is_gzipped_when_accepted_and_conditional_requests_see_through_the_coding() {
    let app = spawn_app_with(Options::default().var("bootstrap_admin_email", ADMIN));
    let admin = app.register(ADMIN);
    for i in 0..15 {
        app.register(&format!("person{i}@example.com"));
    }
    let path = "/api/v1/users?limit=50";
    let (plain, identity) = get_bytes(&app, path, &admin.access, "identity");
    assert!(plain.header("content-encoding").is_none());
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    assert!(identity.len() > 1024);
    let (zipped, gzipped) = get_bytes(&app, path, &admin.access, "gzip, deflate, br");
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(zipped.header("vary"), Some("Accept-Encoding"));
    assert!(gzipped.len() < identity.len() / 2, "{} vs {}", gzipped.len(), identity.len());
    assert_eq!(gunzip(&gzipped).as_bytes(), identity.as_slice());

    // The gzip spelling of an ETag names the same version of the user.
    let user = app.get(&user_path(&admin.id), Some(&admin.access)).expect(200);
    let etag = user.header("etag").expect("etag").to_owned();
    let gzip_etag = format!("{}-gzip\"", etag.trim_end_matches('"'));
    let not_modified = app.send(
        app.request(Method::GET, &user_path(&admin.id))
            .bearer_auth(&admin.access)
            .header("accept-encoding", "gzip")
            .header("if-none-match", &gzip_etag),
    );
    assert_eq!(not_modified.status.as_u16(), 304);
    assert_eq!(not_modified.header("etag"), Some(gzip_etag.as_str()));
    let patch = |if_match: &str| {
        app.send(
            app.request(Method::PATCH, &user_path(&admin.id))
                .bearer_auth(&admin.access)
                .header("content-type", "application/merge-patch+json")
                .header("if-match", if_match)
                .body(json!({"name": "Renamed"}).to_string()),
        )
    };
    patch(&gzip_etag).expect(200);
    // That changed the user: both spellings of the old tag are now stale,
    // and a weak tag never satisfies If-Match.
    patch(&gzip_etag).problem(412);
    patch(&etag).problem(412);
    let current = app.get(&user_path(&admin.id), Some(&admin.access)).expect(200);
    let current = current.header("etag").expect("etag").to_owned();
    patch(&format!("W/{current}")).problem(412);
    patch(&current).expect(200);
}
