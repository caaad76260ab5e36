//! `auth`: registration, login, refresh rotation, logout, sessions, keys.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{json, Value};
use troupe_accounts::OpaqueToken;
use troupe_tests::{spawn_app, spawn_app_with, Backend, Options, TestApp};

const REGISTER: &str = "/api/v1/auth/register";
const LOGIN: &str = "/api/v1/auth/login";
const REFRESH: &str = "/api/v1/auth/refresh";
const LOGOUT: &str = "/api/v1/auth/logout";
const ME: &str = "/api/v1/auth/me";

fn register_body(email: &str) -> Value {
    json!({"email": email, "password": "correct horse battery staple", "name": "Ann Lee"})
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| errors.iter().map(|e| e["field"].as_str().unwrap_or("").to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn production_hashing_uses_the_owasp_parameters() {
    let app = spawn_app_with(Options::default().production_hashing());
    app.register("owasp@example.com");
    let rows = app.database().query("SELECT password_hash FROM credentials", &[]).expect("credentials");
    let hash: String = rows.first().expect("row").get("password_hash").expect("hash");
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
}

#[test]
fn invalid_registrations_list_every_field_error() {
    let app = spawn_app();
    let problem = app
        .post(REGISTER, &json!({"email": "not-an-email", "password": "short", "name": "", "admin": true}))
        .problem(400);
    assert_eq!(fields(&problem), ["email", "password", "name", "admin"]);
    let problem = app.post(REGISTER, &json!({"email": 5, "password": ["x"]})).problem(400);
    assert_eq!(fields(&problem), ["email", "password", "name"]);
    let common =
        app.post(REGISTER, &json!({"email": "a@example.com", "password": "Password123", "name": "A"})).problem(400);
    assert!(common["errors"][0]["message"].as_str().is_some_and(|m| m.contains("common")));
    let long_name = app
        .post(
            REGISTER,
            &json!({"email": "a@example.com", "password": "correct horse battery staple", "name": "x".repeat(101)}),
        )
        .problem(400);
    assert_eq!(fields(&long_name), ["name"]);
}

#[test]
fn malformed_bodies_get_4xx_problems() {
    let app = spawn_app();
    let malformed =
        app.send(app.request(Method::POST, REGISTER).header("content-type", "application/json").body("{\"email\":"));
    malformed.problem(400);
    let not_object =
        app.send(app.request(Method::POST, REGISTER).header("content-type", "application/json").body("[]"));
    not_object.problem(400);
    let text = app.send(app.request(Method::POST, REGISTER).header("content-type", "text/plain").body("hi"));
    text.problem(415);
    let huge = app.send(
        app.request(Method::POST, REGISTER)
            .header("content-type", "application/json")
            .body(format!("{{\"email\":\"{}\"}}", "a".repeat(200_000))),
    );
    huge.problem(413);
    let sql = app.post(REGISTER, &json!({"email": "x'; DROP TABLE users; --@example.com", "password": "correct horse battery staple", "name": "Robert'); DROP TABLE users;--"}));
    assert!(sql.status.is_client_error() || sql.status.as_u16() == 201, "{}", sql.text);
    app.register("still-works@example.com");
}

#[test]
fn a_duplicate_email_in_any_case_is_409() {
    let app = spawn_app();
    app.register("dup@example.com");
    let problem = app.post(REGISTER, &register_body("DUP@Example.COM")).problem(409);
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("already exists")));
}

#[test]
fn repeated_failures_are_throttled_with_rate_limit_headers() {
    let app = spawn_app_with(Options::default().var("login_max_failures", "3"));
    let account = app.register("throttled@example.com");
    for _ in 0..3 {
        app.post(LOGIN, &json!({"email": account.email, "password": "wrong password!"})).expect(401);
    }
    let blocked = app.post(LOGIN, &json!({"email": account.email, "password": account.password}));
    assert!(blocked.header("retry-after").and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s > 0 && s <= 900));
    assert_eq!(blocked.header("ratelimit-policy"), Some("\"login\";q=3;w=900"));
    assert!(blocked.header("ratelimit").is_some_and(|v| v.starts_with("\"login\";r=0;t=")));
    blocked.problem(429);
    // Another account from the same address is not blocked by this one.
    let other = app.register("other@example.com");
    app.post(LOGIN, &json!({"email": other.email, "password": other.password})).expect(200);
}

#[test]
fn a_successful_login_clears_the_account_counter() {
    let app = spawn_app_with(Options::default().var("login_max_failures", "3"));
    let account = app.register("clears@example.com");
    for _ in 0..2 {
        app.post(LOGIN, &json!({"email": account.email, "password": "wrong password!"})).expect(401);
    }
    app.post(LOGIN, &json!({"email": account.email, "password": account.password})).expect(200);
    for _ in 0..2 {
        app.post(LOGIN, &json!({"email": account.email, "password": "wrong password!"})).expect(401);
    }
    app.post(LOGIN, &json!({"email": account.email, "password": account.password})).expect(200);
}

#[test]
fn x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    let app = spawn_app_with(Options::default().var("login_max_failures", "2"));
    let account = app.register("xff@example.com");
    for i in 0..2 {
        let request = app
            .request(Method::POST, LOGIN)
            .header("content-type", "application/json")
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .body(json!({"email": account.email, "password": "wrong password!"}).to_string());
        app.send(request).expect(401);
    }
    // Spoofing a new address does not reset the count: the peer is not trusted.
    let spoofed = app
        .request(Method::POST, LOGIN)
        .header("content-type", "application/json")
        .header("x-forwarded-for", "198.51.100.77")
        .body(json!({"email": account.email, "password": account.password}).to_string());
    app.send(spoofed).expect(429);

    let proxied = spawn_app_with(Options::default().var("login_max_failures", "2").var("trusted_proxies", "127.0.0.1"));
    let account = proxied.register("xff@example.com");
    for _ in 0..2 {
        let request = proxied
            .request(Method::POST, LOGIN)
            .header("content-type", "application/json")
            .header("x-forwarded-for", "203.0.113.9")
            .body(json!({"email": account.email, "password": "wrong password!"}).to_string());
        proxied.send(request).expect(401);
    }
    let other_client = proxied
        .request(Method::POST, LOGIN)
        .header("content-type", "application/json")
        .header("x-forwarded-for", "198.51.100.77")
        .body(json!({"email": account.email, "password": account.password}).to_string());
    proxied.send(other_client).expect(200);
}

fn refresh(app: &TestApp, token: &str) -> troupe_tests::Reply {
    app.post(REFRESH, &json!({"refresh_token": token}))
}

#[test]
fn a_replaced_token_after_the_grace_interval_revokes_the_session() {
    let app = spawn_app_with(Options::default().var("refresh_grace_seconds", "1"));
    let account = app.register("reuse@example.com");
    let rotated = refresh(&app, &account.refresh).expect(200).json();
    std::thread::sleep(std::time::Duration::from_millis(1_300));
    refresh(&app, &account.refresh).problem(401);
    // The whole session is gone: its current refresh and access tokens too.
    refresh(&app, rotated["refresh_token"].as_str().expect("refresh")).problem(401);
    app.get(ME, rotated["access_token"].as_str()).problem(401);
    let db = app.database();
    let rows = db.query("SELECT revoked_why FROM sessions", &[]).expect("sessions");
    assert_eq!(rows.first().expect("row").get::<String>("revoked_why").expect("why"), "refresh token reuse");
}

#[test]
fn unknown_and_malformed_refresh_tokens_are_401() {
    let app = spawn_app();
    refresh(&app, "not-a-token").problem(401);
    app.post(REFRESH, &json!({"refresh_token": 42})).problem(400);
    app.post(REFRESH, &json!({})).problem(400);
}

#[test]
fn logout_with_a_refresh_token_ends_the_session() {
    let app = spawn_app();
    let account = app.register("logout2@example.com");
    app.post(LOGOUT, &json!({"refresh_token": account.refresh})).expect(204);
    refresh(&app, &account.refresh).problem(401);
    app.get(ME, Some(&account.access)).problem(401);
    app.post(LOGOUT, &json!({"refresh_token": account.refresh})).problem(401);
}

/// `/me` reads through `auth`'s user cache: a change made through `users`
/// shows at once, and a deleted account's token is refused.
#[test]
fn me_shows_a_change_at_once_and_refuses_a_deleted_account() {
    let app = spawn_app();
    let account = app.register("cached@example.com");
    assert_eq!(app.get(ME, Some(&account.access)).expect(200).json()["name"], "Test User");
    let path = format!("/api/v1/users/{}", account.id);
    let rename = app
        .request(Method::PATCH, &path)
        .bearer_auth(&account.access)
        .header("content-type", "application/merge-patch+json")
        .body(json!({"name": "Renamed", "email": "Cached@Example.com"}).to_string());
    app.send(rename).expect(200);
    let me = app.get(ME, Some(&account.access)).expect(200).json();
    assert_eq!((me["name"].as_str(), me["email"].as_str()), (Some("Renamed"), Some("Cached@Example.com")));
    app.send(app.request(Method::DELETE, &path).bearer_auth(&account.access)).expect(204);
    app.get(ME, Some(&account.access)).problem(401);
}

#[test]
fn me_needs_a_valid_token() {
    let app = spawn_app();
    let account = app.register("me@example.com");
    let me = app.get(ME, Some(&account.access)).expect(200).json();
    assert_eq!(me["email"], "me@example.com");
    let missing = app.get(ME, None);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer error=\"invalid_token\""));
    missing.problem(401);
    let mut tampered = account.access.clone();
    tampered.insert(tampered.len() / 2, 'x');
    app.get(ME, Some(&tampered)).problem(401);
    app.send(app.request(Method::GET, ME).header("authorization", format!("Basic {}", account.access))).problem(401);
}

#[test]
fn changing_the_password_revokes_every_other_session() {
    let app = spawn_app();
    let account = app.register("change@example.com");
    let other = app.post(LOGIN, &json!({"email": account.email, "password": account.password})).expect(200).json();
    let path = "/api/v1/auth/password";
    app.json(
        Method::POST,
        path,
        Some(&account.access),
        &json!({"current_password": "wrong one!", "new_password": "a brand new secret"}),
    )
    .problem(403);
    app.json(
        Method::POST,
        path,
        Some(&account.access),
        &json!({"current_password": account.password, "new_password": "password1"}),
    )
    .problem(400);
    app.json(
        Method::POST,
        path,
        Some(&account.access),
        &json!({"current_password": account.password, "new_password": "a brand new secret"}),
    )
    .expect(204);
    app.get(ME, Some(&account.access)).expect(200);
    app.get(ME, other["access_token"].as_str()).problem(401);
    refresh(&app, other["refresh_token"].as_str().expect("refresh")).problem(401);
    app.post(LOGIN, &json!({"email": account.email, "password": account.password})).problem(401);
    app.post(LOGIN, &json!({"email": account.email, "password": "a brand new secret"})).expect(200);
}

#[test]
fn sessions_are_listed_and_only_ones_own_can_be_deleted() {
    let app = spawn_app();
    let ann = app.register("sessions@example.com");
    let second = app
        .send(
            app.request(Method::POST, LOGIN)
                .header("content-type", "application/json")
                .header("user-agent", "test-agent/1.0")
                .body(json!({"email": ann.email, "password": ann.password}).to_string()),
        )
        .expect(200)
        .json();
    let list = app.get("/api/v1/auth/sessions", Some(&ann.access)).expect(200).json();
    let sessions = list["data"].as_array().expect("data");
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let other = sessions.iter().find(|s| s["current"] == false).expect("the other session");
    assert_eq!(other["user_agent"], "test-agent/1.0");
    assert_eq!(other["client_address"], "127.0.0.1");

    let bob = app.register("bob@example.com");
    let other_id = other["id"].as_str().expect("id");
    app.send(app.request(Method::DELETE, &format!("/api/v1/auth/sessions/{other_id}")).bearer_auth(&bob.access))
        .problem(404);
    app.send(app.request(Method::DELETE, &format!("/api/v1/auth/sessions/{other_id}")).bearer_auth(&ann.access))
        .expect(204);
    app.get(ME, second["access_token"].as_str()).problem(401);
    let list = app.get("/api/v1/auth/sessions", Some(&ann.access)).expect(200).json();
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
}

#[test]
fn the_jwks_document_lists_the_key_that_signs_tokens() {
    let app = spawn_app();
    let account = app.register("jwks@example.com");
    let jwks = app.get("/.well-known/jwks.json", None).expect(200).json();
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(
        (keys[0]["kty"].as_str(), keys[0]["crv"].as_str(), keys[0]["alg"].as_str()),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    let header = account.access.split('.').next().expect("header");
    let header: Value = serde_json::from_slice(&base64_url(header)).expect("json header");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], keys[0]["kid"]);
    assert_eq!(app.get("/api/v1/auth/.well-known/jwks.json", None).expect(200).json(), jwks);
}

#[test]
fn a_configured_signing_key_and_previous_keys_are_published() {
    let signing = troupe_tokens::SigningKey::from_seed("prod-2", [1; 32]).expect("key").to_spec();
    let previous = troupe_tokens::SigningKey::from_seed("prod-1", [3; 32]).expect("key").public().to_spec();
    let app =
        spawn_app_with(Options::default().var("jwt_signing_key", &signing).var("jwt_verification_keys", &previous));
    let jwks = app.get("/.well-known/jwks.json", None).expect(200).json();
    let kids: Vec<&str> = jwks["keys"].as_array().expect("keys").iter().filter_map(|k| k["kid"].as_str()).collect();
    assert_eq!(kids, ["prod-2", "prod-1"]);
    assert!(!jwks.to_string().contains("AQEBAQEB"), "the private seed must not leak");
    let account = app.register("prod@example.com");
    let header: Value =
        serde_json::from_slice(&base64_url(account.access.split('.').next().expect("h"))).expect("json");
    assert_eq!(header["kid"], "prod-2");
}

#[test]
fn a_published_key_set_behind_the_signing_key_is_repaired_when_users_meets_its_token() {
    // `auth` signs with prod-2 and still accepts prod-1; `users` has no
    // `jwt_public_keys`, so it reads the set `auth` publishes.
    let signing = troupe_tokens::SigningKey::from_seed("prod-2", [1; 32]).expect("key");
    let previous = troupe_tokens::SigningKey::from_seed("prod-1", [3; 32]).expect("key").public().to_spec();
    let app = spawn_app_with(
        Options::default().var("jwt_signing_key", &signing.to_spec()).var("jwt_verification_keys", &previous),
    );
    let account = app.register("rotated@example.com");
    let kv = app.key_value();
    let published = || -> String {
        let rows = kv.query("SELECT value FROM spin_key_value WHERE key = 'auth:public-keys'", &[]).expect("read");
        String::from_utf8(rows.first().expect("published").get::<Vec<u8>>("value").expect("value")).expect("utf-8")
    };
    let current = format!("{},{previous}", signing.public().to_spec());
    assert_eq!(published(), current, "a sign-in publishes the set");
    // The copy as the deployment before the rotation left it.
    kv.execute(
        "UPDATE spin_key_value SET value = $1 WHERE key = 'auth:public-keys'",
        &[troupe_store::Value::Blob(previous.clone().into_bytes())],
    )
    .expect("set the copy back");
    // A refresh signs with prod-2 and leaves the copy alone...
    let pair = refresh(&app, &account.refresh).expect(200).json();
    assert_eq!(published(), previous);
    // ...`users` meets a key it lacks, asks `auth` for the set, and the copy
    // is repaired for the requests after.
    let me = format!("/api/v1/users/{}", account.id);
    let access = pair["access_token"].as_str().expect("access token");
    app.get(&me, Some(access)).expect(200);
    assert_eq!(published(), current);
    app.get(&me, Some(access)).expect(200);
    // A token naming a key nobody has is refused after the same question.
    let (header, rest) = access.split_once('.').expect("a JWS");
    let mut named: Value = serde_json::from_slice(&base64_url(header)).expect("json header");
    named["kid"] = "prod-9".into();
    let forged = format!("{}.{rest}", base64_url_encode(&serde_json::to_vec(&named).expect("json")));
    app.get(&me, Some(&forged)).problem(401);
}

#[test]
fn the_bootstrap_admin_email_registers_an_administrator() {
    let app = spawn_app_with(Options::default().var("bootstrap_admin_email", "Boss@Example.com"));
    let boss = app.post(REGISTER, &register_body("boss@example.com")).expect(201).json();
    assert_eq!(boss["user"]["role"], "admin");
    let user = app.post(REGISTER, &register_body("worker@example.com")).expect(201).json();
    assert_eq!(user["user"]["role"], "user");
}

fn base64_url_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn base64_url(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

#[test]
fn a_hash_made_with_weaker_parameters_is_upgraded_at_the_next_login() {
    // Two deployments of the app over one database: the first hashes
    // cheaply, the second with the production parameters.
    let schema = troupe_tests::Schema::create();
    let cheap = spawn_app_with(Options::on(Backend::Postgres).var("database_url", &schema.url()));
    let account = cheap.register("upgrade@example.com");
    let stored = |app: &TestApp| -> String {
        let rows = app.database().query("SELECT password_hash FROM credentials", &[]).expect("credentials");
        rows.first().expect("row").get("password_hash").expect("hash")
    };
    assert!(stored(&cheap).starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
    let strong = spawn_app_with(Options::on(Backend::Postgres).production_hashing().var("database_url", &schema.url()));
    strong.post(LOGIN, &json!({"email": account.email, "password": account.password})).expect(200);
    assert!(stored(&strong).starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", stored(&strong));
    strong.post(LOGIN, &json!({"email": account.email, "password": account.password})).expect(200);
}

/// The tests that choose their databases: each runs on SQLite and on
/// Postgres, so the test command's second, Postgres-default pass skips them.
mod on_both_databases {
    use super::*;

    #[test]
    fn registration_returns_the_user_and_a_token_pair_without_the_hash() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend));
            let reply = app
                .post(
                    REGISTER,
                    &json!({"email": "  Ann@Example.com ", "password": "correct horse battery staple", "name": " Ann "}),
                )
                .expect(201);
            assert_eq!(reply.header("cache-control"), Some("no-store"));
            let json = reply.json();
            let user = &json["user"];
            assert_eq!(user["email"], "Ann@Example.com");
            assert_eq!(user["name"], "Ann");
            assert_eq!(user["role"], "user");
            let keys: HashSet<&str> = user.as_object().expect("object").keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                HashSet::from(["id", "email", "email_verified", "name", "role", "created_at", "updated_at"])
            );
            assert_eq!(user["email_verified"], false);
            assert!(user["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
            assert_eq!(json["token_type"], "Bearer");
            assert_eq!(json["expires_in"], 900);
            // `<session id>.<family>.<nonce>`
            let refresh_parts: Vec<usize> =
                json["refresh_token"].as_str().expect("refresh").split('.').map(str::len).collect();
            assert_eq!(refresh_parts, [36, 43, 43]);
            assert!(!reply.text.contains("argon2"));
            // What is stored: an argon2id hash, and the refresh token only as a hash.
            let db = app.database();
            let rows = db.query("SELECT password_hash FROM credentials", &[]).expect("credentials");
            let hash: String = rows.first().expect("one credential").get("password_hash").expect("hash");
            assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
            let tokens = db.query("SELECT refresh_token_hash FROM sessions", &[]).expect("tokens");
            let stored: String = tokens.first().expect("one session").get("refresh_token_hash").expect("hash");
            assert_ne!(stored, json["refresh_token"].as_str().expect("refresh"));
        }
    }

    #[test]
    fn parallel_registrations_with_one_email_create_exactly_one_account() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend));
            let statuses: Vec<u16> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..8)
                    .map(|i| {
                        let app = &app;
                        let email = if i % 2 == 0 { "race@example.com" } else { "RACE@example.com" };
                        scope.spawn(move || app.post(REGISTER, &register_body(email)).status.as_u16())
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().expect("thread")).collect()
            });
            assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{backend:?}: {statuses:?}");
            assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{backend:?}: {statuses:?}");
            let rows = app.database().query("SELECT COUNT(*) AS n FROM users", &[]).expect("count");
            assert_eq!(rows.first().expect("row").get::<i64>("n").expect("n"), 1);
        }
    }

    #[test]
    fn login_succeeds_and_wrong_password_or_unknown_email_look_the_same() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend));
            let account = app.register("ann@example.com");
            let ok =
                app.post(LOGIN, &json!({"email": "ANN@example.com", "password": account.password})).expect(200).json();
            assert!(ok["access_token"].is_string() && ok["refresh_token"].is_string());
            assert_eq!(ok["user"]["id"], account.id.as_str());
            let wrong = app.post(LOGIN, &json!({"email": "ann@example.com", "password": "not the password"}));
            let unknown = app.post(LOGIN, &json!({"email": "nobody@example.com", "password": "not the password"}));
            assert_eq!(wrong.header("www-authenticate"), unknown.header("www-authenticate"));
            assert_eq!(wrong.problem(401), unknown.problem(401));
            app.post(LOGIN, &json!({"email": "ann@example.com"})).problem(400);
            // NUL names no account; Postgres, which cannot hold it in text, once made it a 500.
            app.post(LOGIN, &json!({"email": "ann\u{0}@example.com", "password": account.password})).problem(401);
        }
    }

    #[test]
    fn refresh_rotates_and_a_just_replaced_token_replays_the_same_pair() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend));
            let account = app.register("rotate@example.com");
            let first = refresh(&app, &account.refresh).expect(200).json();
            let next_refresh = first["refresh_token"].as_str().expect("refresh");
            assert_ne!(next_refresh, account.refresh);
            // Within the grace interval, the replaced token returns the same pair.
            let replay = refresh(&app, &account.refresh).expect(200).json();
            assert_eq!(replay, first);
            // The new token rotates on, and the session works.
            let second = refresh(&app, next_refresh).expect(200).json();
            app.get(ME, second["access_token"].as_str()).expect(200);
        }
    }

    #[test]
    fn parallel_refreshes_with_one_token_mint_exactly_one_pair() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend));
            let account = app.register("parallel@example.com");
            let replies: Vec<(u16, String)> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        let (app, token) = (&app, account.refresh.as_str());
                        scope.spawn(move || {
                            let reply = refresh(app, token);
                            (reply.status.as_u16(), reply.text)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().expect("thread")).collect()
            });
            assert!(replies.iter().all(|(status, _)| *status == 200), "{backend:?}: {replies:?}");
            let pairs: HashSet<String> = replies
                .iter()
                .map(|(_, body)| {
                    serde_json::from_str::<Value>(body).expect("json")["refresh_token"]
                        .as_str()
                        .expect("token")
                        .to_owned()
                })
                .collect();
            assert_eq!(pairs.len(), 1, "{backend:?}: several pairs minted");
            // The session's family tells its replaced token: no row records it.
            let rows = app.database().query("SELECT COUNT(*) AS n FROM refresh_tokens", &[]).expect("count");
            assert_eq!(rows.first().expect("row").get::<i64>("n").expect("n"), 0, "{backend:?}: recorded");
            // Nothing was revoked: the minted token works.
            let minted = pairs.into_iter().next().expect("one pair");
            refresh(&app, &minted).expect(200);
        }
    }

    /// A session still on a token issued before families (43 characters,
    /// found by digest) refreshes into a family, and its replaced token
    /// replays in grace, then counts as reuse, as before.
    #[test]
    fn a_legacy_refresh_token_rotates_into_a_family_and_its_reuse_is_detected() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend).var("refresh_grace_seconds", "2"));
            let account = app.register("legacy@example.com");
            let legacy = OpaqueToken::generate();
            let db = app.database();
            db.execute(
                "UPDATE sessions SET refresh_token_hash = $1, refresh_family_hash = NULL",
                &[legacy.digest().into()],
            )
            .expect("a session as migration 0008 found it");
            refresh(&app, &account.refresh).problem(401);

            // Presented by several requests at once, it rotates once: one new
            // family, one pair for all.
            let replies: Vec<Value> = std::thread::scope(|scope| {
                let handles: Vec<_> =
                    (0..4).map(|_| scope.spawn(|| refresh(&app, legacy.expose()).expect(200).json())).collect();
                handles.into_iter().map(|h| h.join().expect("thread")).collect()
            });
            let rotated = replies[0].clone();
            assert!(replies.iter().all(|reply| *reply == rotated), "{backend:?}: {replies:?}");
            let next = rotated["refresh_token"].as_str().expect("refresh");
            assert_eq!(next.split('.').count(), 3, "{backend:?}: {next}");
            assert_eq!(refresh(&app, legacy.expose()).expect(200).json(), rotated, "{backend:?}: replayed");
            let rows = db.query("SELECT token_hash FROM refresh_tokens", &[]).expect("replaced");
            assert_eq!(rows.first().expect("recorded").get::<String>("token_hash").expect("hash"), legacy.digest());

            std::thread::sleep(std::time::Duration::from_millis(2_300));
            refresh(&app, legacy.expose()).problem(401);
            refresh(&app, next).problem(401);
            let rows = db.query("SELECT revoked_why FROM sessions", &[]).expect("sessions");
            let why: String = rows.first().expect("row").get("revoked_why").expect("why");
            assert_eq!(why, "refresh token reuse", "{backend:?}");
        }
    }

    /// During a rolling deploy, a component older than migration 0008 swaps a
    /// session's token for a legacy one and leaves its family as it was: the
    /// legacy token still refreshes here, into a new family.
    #[test]
    fn a_session_an_older_component_refreshed_keeps_working() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend));
            let account = app.register("rolling@example.com");
            let legacy = OpaqueToken::generate();
            app.database()
                .execute("UPDATE sessions SET refresh_token_hash = $1", &[legacy.digest().into()])
                .expect("a rotation by an older component");
            let rotated = refresh(&app, legacy.expose()).expect(200).json();
            assert_eq!(rotated["refresh_token"].as_str().map(|t| t.split('.').count()), Some(3), "{backend:?}");
            // The family's earlier token is of the family no more: unknown, and
            // the session goes on.
            refresh(&app, &account.refresh).problem(401);
            app.get(ME, rotated["access_token"].as_str()).expect(200);
            refresh(&app, rotated["refresh_token"].as_str().expect("refresh")).expect(200);
        }
    }

    /// The family is checked against the session's: a token naming a session
    /// with another family is unknown, and ends nothing. One with the family
    /// but another nonce is not the current token: reuse.
    #[test]
    fn a_token_naming_a_session_counts_only_with_its_family() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend));
            let account = app.register("family@example.com");
            let parts: Vec<&str> = account.refresh.split('.').collect();
            let (session, family, nonce) = (parts[0], parts[1], parts[2]);
            let other = OpaqueToken::generate();
            let other = other.expose();

            refresh(&app, &format!("{session}.{other}.{nonce}")).problem(401);
            app.post(LOGOUT, &json!({"refresh_token": format!("{session}.{other}.{nonce}")})).problem(401);
            app.get(ME, Some(&account.access)).expect(200);

            refresh(&app, &format!("{session}.{family}.{other}")).problem(401);
            refresh(&app, &account.refresh).problem(401);
            app.get(ME, Some(&account.access)).problem(401);
        }
    }

    #[test]
    fn logout_with_an_access_token_ends_the_session() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend));
            let account = app.register("logout@example.com");
            app.get(ME, Some(&account.access)).expect(200);
            app.send(app.request(Method::POST, LOGOUT).bearer_auth(&account.access)).expect(204);
            app.get(ME, Some(&account.access)).problem(401);
            refresh(&app, &account.refresh).problem(401);
        }
    }
}
