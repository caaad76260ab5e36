//! `users`: the user resource, its authorization, cache and idempotency.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{json, Value};
use troupe_tests::{spawn_app_with, Account, Backend, Options, Reply, TestApp};

const ADMIN: &str = "admin@example.com";

fn app_on(backend: Backend) -> (TestApp, Account, Account) {
    let app = spawn_app_with(Options::on(backend).var("bootstrap_admin_email", ADMIN));
    let admin = app.register(ADMIN);
    let user = app.register("user@example.com");
    (app, admin, user)
}

fn user_path(id: &str) -> String {
    format!("/api/v1/users/{id}")
}

fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    content_type: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request =
        app.request(method, path).bearer_auth(token).header("content-type", content_type).body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.send(request)
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|e| e.iter().map(|e| e["field"].as_str().unwrap_or("").to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn access_is_limited_to_oneself_unless_admin() {
    let (app, admin, user) = app_on(Backend::from_env());
    app.get(&user_path(&admin.id), Some(&user.access)).problem(403);
    app.get(&user_path(&user.id), Some(&admin.access)).expect(200);
    app.get(&user_path("0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a59"), Some(&admin.access)).problem(404);
    app.get(&user_path("not-a-uuid"), Some(&admin.access)).problem(400);
    app.get(&user_path("'%20OR%201=1--"), Some(&admin.access)).problem(400);
    let missing = app.get(&user_path(&user.id), None);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer error=\"invalid_token\""));
    missing.problem(401);
    app.get(&user_path(&user.id), Some("not.a.token")).problem(401);
    app.get("/api/v1/users", Some(&user.access)).problem(403);
}

#[test]
fn a_revoked_session_is_refused_at_once() {
    let (app, _, user) = app_on(Backend::from_env());
    app.get(&user_path(&user.id), Some(&user.access)).expect(200);
    app.send(app.request(Method::POST, "/api/v1/auth/logout").bearer_auth(&user.access)).expect(204);
    app.get(&user_path(&user.id), Some(&user.access)).problem(401);
}

fn list(app: &TestApp, token: &str, query: &str) -> Reply {
    app.get(&format!("/api/v1/users{query}"), Some(token))
}

#[test]
fn invalid_list_queries_are_400_naming_each_parameter() {
    let (app, admin, _) = app_on(Backend::from_env());
    for query in ["?limit=0", "?limit=1000", "?page=-1", "?sort=password", "?unknown=1", "?after=zzz"] {
        let problem = list(&app, &admin.access, query).problem(400);
        assert_eq!(fields(&problem).len(), 1, "{query}: {problem}");
    }
    let problem = list(&app, &admin.access, "?limit=0&page=0&sort=password").problem(400);
    assert_eq!(fields(&problem), ["limit", "page", "sort"]);
}

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().expect("data").iter().map(|u| u["id"].as_str().expect("id").to_owned()).collect()
}

fn new_user_body(email: &str) -> Value {
    json!({"email": email, "name": "New Person", "password": "correct horse battery staple", "role": "user"})
}

#[test]
fn users_works_with_another_verifier_plugged_in_without_rebuilding() {
    let root = troupe_tests::repo_root();
    let manifest = std::fs::read_to_string(root.join("spin.toml")).expect("spin.toml");
    let real = "target/wasm32-wasip2/release/verifier.wasm";
    assert!(manifest.contains(real));
    // The same users.wasm; only the dependency's path changes.
    let swapped = manifest
        .replace(real, "target/wasm32-wasip2/release/test_verifier.wasm")
        .replace("source = \"target/", &format!("source = \"{}/target/", root.display()))
        .replace("path = \"target/", &format!("path = \"{}/target/", root.display()));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, swapped).expect("manifest");
    let mut options = Options::default().var("bootstrap_admin_email", ADMIN);
    options.manifest = Some(path);
    let app = spawn_app_with(options);
    let user = app.register("swap@example.com");
    // The real JWT means nothing to the test verifier...
    app.get(&user_path(&user.id), Some(&user.access)).problem(401);
    // ...while its own kind of token is trusted, with its role.
    let session = "0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a59";
    let someone_else = "0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a5a";
    app.get(&user_path(&user.id), Some(&format!("test:{}:user:{session}", user.id))).expect(200);
    app.get(&user_path(&user.id), Some(&format!("test:{someone_else}:user:{session}"))).problem(403);
    app.get("/api/v1/users", Some(&format!("test:{someone_else}:admin:{session}"))).expect(200);
    app.get("/api/v1/users", Some("test:broken")).problem(401);
    // Claims are input like any other: ids that are not ids, or a role
    // that is none, are refused even from a verifier users trusts.
    for claims in [
        format!("test:x:admin:{session}"),
        format!("test:{someone_else}:admin:s1"),
        format!("test:{someone_else}:root:{session}"),
    ] {
        app.get("/api/v1/users", Some(&claims)).problem(401);
    }
}

/// The tests that choose their databases: each runs on SQLite and on
/// Postgres, so the test command's second, Postgres-default pass skips them.
mod on_both_databases {
    use super::*;

    #[test]
    fn a_cursor_of_another_sort_order_or_a_nul_in_the_search_is_400_on_every_database() {
        // Postgres refused both in the query itself (a text cursor against an
        // integer column, and NUL in text), which made them 500s.
        for backend in Backend::ALL {
            let (app, admin, _) = app_on(backend);
            let page = list(&app, &admin.access, "?limit=1&sort=email").expect(200).json();
            let by_email = page["meta"]["next_cursor"].as_str().expect("a next page").to_owned();
            let problem = list(&app, &admin.access, &format!("?after={by_email}")).problem(400);
            assert_eq!(fields(&problem), ["after"], "{backend:?}: {problem}");
            list(&app, &admin.access, &format!("?sort=email&after={by_email}")).expect(200);
            let problem = list(&app, &admin.access, "?q=a%00b").problem(400);
            assert_eq!(fields(&problem), ["q"], "{backend:?}: {problem}");
        }
    }

    #[test]
    fn a_user_reads_themself_with_an_etag_and_if_none_match_gives_304() {
        for backend in Backend::ALL {
            let (app, _, user) = app_on(backend);
            let reply = app.get(&user_path(&user.id), Some(&user.access)).expect(200);
            let etag = reply.header("etag").expect("etag").to_owned();
            let json = reply.json();
            assert_eq!(json["email"], "user@example.com");
            assert_eq!(json.as_object().map(|o| o.len()), Some(7));
            assert_eq!(json["email_verified"], false);
            let cached = app.send(
                app.request(Method::GET, &user_path(&user.id)).bearer_auth(&user.access).header("if-none-match", &etag),
            );
            assert_eq!(cached.status.as_u16(), 304, "{backend:?}");
            assert!(cached.text.is_empty());
            assert_eq!(cached.header("etag"), Some(etag.as_str()));
        }
    }

    #[test]
    fn admins_list_users_with_meta_and_link_headers() {
        for backend in Backend::ALL {
            let (app, admin, _) = app_on(backend);
            for i in 0..3 {
                app.register(&format!("person{i}@example.com"));
            }
            let reply = list(&app, &admin.access, "?limit=2&page=2&sort=email").expect(200);
            let link = reply.header("link").expect("link").to_owned();
            let json = reply.json();
            let meta = &json["meta"];
            assert_eq!(
                (meta["page"].as_u64(), meta["limit"].as_u64(), meta["total"].as_u64(), meta["total_pages"].as_u64()),
                (Some(2), Some(2), Some(5), Some(3)),
                "{backend:?}"
            );
            assert!(meta["next_cursor"].is_string());
            let emails: Vec<&str> =
                json["data"].as_array().expect("data").iter().filter_map(|u| u["email"].as_str()).collect();
            assert_eq!(emails, ["person1@example.com", "person2@example.com"]);
            for rel in ["first", "prev", "next", "last"] {
                assert!(link.contains(&format!("rel=\"{rel}\"")), "{link}");
            }
            assert!(link.contains("</api/v1/users?page=3&limit=2&sort=email>; rel=\"next\""), "{link}");

            let admins = list(&app, &admin.access, "?role=admin").expect(200).json();
            assert_eq!(admins["meta"]["total"], 1);
            let found = list(&app, &admin.access, "?q=PERSON1").expect(200).json();
            assert_eq!(found["meta"]["total"], 1);
            let newest = list(&app, &admin.access, "").expect(200).json();
            assert_eq!(newest["data"][0]["email"], "person2@example.com");
            let injected = list(&app, &admin.access, "?q=%27%20OR%20%271%27%3D%271").expect(200).json();
            assert_eq!(injected["meta"]["total"], 0);
            let wildcard = list(&app, &admin.access, "?q=%25").expect(200).json();
            assert_eq!(wildcard["meta"]["total"], 0, "% is matched literally");
        }
    }

    #[test]
    fn cursor_pages_walk_every_user_once_in_order() {
        for backend in Backend::ALL {
            let (app, admin, _) = app_on(backend);
            for i in 0..5 {
                app.register(&format!("walker{i}@example.com"));
            }
            for sort in ["-created_at", "email", "-name"] {
                let everyone = list(&app, &admin.access, &format!("?limit=100&sort={sort}")).expect(200).json();
                let expected: Vec<String> = ids(&everyone);
                assert_eq!(expected.len(), 7);
                assert!(everyone["meta"].get("next_cursor").is_none());
                let mut walked = Vec::new();
                let mut query = format!("?limit=2&sort={sort}");
                for _ in 0..10 {
                    let reply = list(&app, &admin.access, &query).expect(200);
                    let page = reply.json();
                    walked.extend(ids(&page));
                    match page["meta"]["next_cursor"].as_str() {
                        Some(next) => {
                            assert!(reply.header("link").is_some_and(|l| l.contains("rel=\"next\"")));
                            query = format!("?limit=2&sort={sort}&after={next}");
                        }
                        None => break,
                    }
                }
                assert_eq!(walked, expected, "{backend:?} sort={sort}");
                let unique: HashSet<&String> = walked.iter().collect();
                assert_eq!(unique.len(), walked.len());
            }
        }
    }

    #[test]
    fn admins_create_users_with_location_and_etag() {
        for backend in Backend::ALL {
            let (app, admin, user) = app_on(backend);
            let reply = app
                .json(Method::POST, "/api/v1/users", Some(&admin.access), &new_user_body("new@example.com"))
                .expect(201);
            let json = reply.json();
            let id = json["id"].as_str().expect("id");
            assert_eq!(reply.header("location").map(str::to_owned), Some(user_path(id)));
            assert!(reply.header("etag").is_some());
            assert!(json.get("password").is_none());
            app.post(
                "/api/v1/auth/login",
                &json!({"email": "new@example.com", "password": "correct horse battery staple"}),
            )
            .expect(200);
            app.json(Method::POST, "/api/v1/users", Some(&user.access), &new_user_body("x@example.com")).problem(403);
            app.json(Method::POST, "/api/v1/users", Some(&admin.access), &new_user_body("NEW@example.com"))
                .problem(409);
            let invalid = app
                .json(
                    Method::POST,
                    "/api/v1/users",
                    Some(&admin.access),
                    &json!({"email": "bad", "name": "", "password": "short", "role": "god", "extra": 1}),
                )
                .problem(400);
            assert_eq!(fields(&invalid), ["email", "name", "password", "role", "extra"], "{backend:?}");
        }
    }

    #[test]
    fn an_idempotency_key_replays_the_first_creation() {
        for backend in Backend::ALL {
            let (app, admin, _) = app_on(backend);
            let create = |body: &Value, key: &str| {
                send(
                    &app,
                    Method::POST,
                    "/api/v1/users",
                    &admin.access,
                    "application/json",
                    &body.to_string(),
                    &[("idempotency-key", key)],
                )
            };
            let first = create(&new_user_body("once@example.com"), "key-1").expect(201);
            let again = create(&json!({"role": "user", "password": "correct horse battery staple", "name": "New Person", "email": "once@example.com"}), "key-1")
                .expect(201);
            assert_eq!(again.json(), first.json(), "{backend:?}");
            assert_eq!(again.header("location"), first.header("location"));
            assert_eq!(again.header("idempotent-replayed"), Some("true"));
            create(&new_user_body("other@example.com"), "key-1").problem(422);
            let total = list(&app, &admin.access, "?q=once").expect(200).json();
            assert_eq!(total["meta"]["total"], 1);
            // A failed request frees its key for a corrected retry.
            create(&json!({"email": "bad"}), "key-2").problem(400);
            create(&new_user_body("fixed@example.com"), "key-2").expect(201);
        }
    }

    #[test]
    fn put_replaces_the_editable_fields_and_only_admins_change_roles() {
        for backend in Backend::ALL {
            let (app, admin, user) = app_on(backend);
            let path = user_path(&user.id);
            let etag = app.get(&path, Some(&user.access)).expect(200).header("etag").expect("etag").to_owned();
            // The same address in another case is no new address.
            let body = json!({"email": "User@Example.com", "name": "Renamed", "role": "user"});
            let reply = app.json(Method::PUT, &path, Some(&user.access), &body).expect(200);
            let new_etag = reply.header("etag").expect("etag").to_owned();
            assert_ne!(new_etag, etag);
            assert_eq!(reply.json()["email"], "User@Example.com");
            // The old ETag is stale now.
            let stale = send(
                &app,
                Method::PUT,
                &path,
                &user.access,
                "application/json",
                &body.to_string(),
                &[("if-match", &etag)],
            );
            stale.problem(412);
            send(
                &app,
                Method::PUT,
                &path,
                &user.access,
                "application/json",
                &body.to_string(),
                &[("if-match", &new_etag)],
            )
            .expect(200);
            let missing = app
                .json(Method::PUT, &path, Some(&user.access), &json!({"email": "a@example.com", "name": "A"}))
                .problem(400);
            assert_eq!(fields(&missing), ["role"]);
            app.json(
                Method::PUT,
                &path,
                Some(&user.access),
                &json!({"email": "renamed@example.com", "name": "R", "role": "admin"}),
            )
            .problem(403);
            // Users change their own address through POST /auth/email, with their password.
            let own = app
                .json(
                    Method::PUT,
                    &path,
                    Some(&user.access),
                    &json!({"email": "new@example.com", "name": "R", "role": "user"}),
                )
                .problem(403);
            assert!(own["detail"].as_str().is_some_and(|d| d.contains("/api/v1/auth/email")), "{own}");
            app.json(Method::PUT, &path, Some(&admin.access), &json!({"email": ADMIN, "name": "R", "role": "user"}))
                .problem(409);
            // An administrator's change of address waits for the new address to confirm it.
            let promoted = app
                .json(
                    Method::PUT,
                    &path,
                    Some(&admin.access),
                    &json!({"email": "renamed@example.com", "name": "R", "role": "admin"}),
                )
                .expect(200)
                .json();
            assert_eq!(
                (promoted["role"].as_str(), promoted["email"].as_str()),
                (Some("admin"), Some("User@Example.com"))
            );
            assert!(app.logs().contains("confirm-email-change#token="), "{backend:?}: a link went out");
        }
    }

    #[test]
    fn patch_applies_a_merge_patch() {
        for backend in Backend::ALL {
            let (app, _, user) = app_on(backend);
            let path = user_path(&user.id);
            let reply = send(
                &app,
                Method::PATCH,
                &path,
                &user.access,
                "application/merge-patch+json",
                r#"{"name":"Patched"}"#,
                &[],
            )
            .expect(200);
            let json = reply.json();
            assert_eq!((json["name"].as_str(), json["email"].as_str()), (Some("Patched"), Some("user@example.com")));
            send(&app, Method::PATCH, &path, &user.access, "application/json", r#"{"email":"p@example.com"}"#, &[])
                .problem(403);
            send(&app, Method::PATCH, &path, &user.access, "text/plain", r#"{"name":"x"}"#, &[]).problem(415);
            let null =
                send(&app, Method::PATCH, &path, &user.access, "application/merge-patch+json", r#"{"name":null}"#, &[])
                    .problem(400);
            assert_eq!(fields(&null), ["name"]);
            let unknown = send(
                &app,
                Method::PATCH,
                &path,
                &user.access,
                "application/merge-patch+json",
                r#"{"nickname":"x","name":5}"#,
                &[],
            )
            .problem(400);
            assert_eq!(fields(&unknown), ["name", "nickname"]);
            send(&app, Method::PATCH, &path, &user.access, "application/merge-patch+json", r#"{"role":"admin"}"#, &[])
                .problem(403);
            send(&app, Method::PATCH, &path, &user.access, "application/merge-patch+json", r#"{"name":""}"#, &[])
                .problem(400);
            let huge = format!(r#"{{"name":"{}"}}"#, "x".repeat(70_000));
            send(&app, Method::PATCH, &path, &user.access, "application/merge-patch+json", &huge, &[]).problem(413);
        }
    }

    #[test]
    fn a_write_is_visible_at_once_through_the_cache() {
        for backend in Backend::ALL {
            let (app, admin, user) = app_on(backend);
            let path = user_path(&user.id);
            // Two reads: the second is served from the cache.
            app.get(&path, Some(&user.access)).expect(200);
            app.get(&path, Some(&admin.access)).expect(200);
            let kv =
                troupe_store_native::open(&format!("sqlite:{}", app.state_dir.join("sqlite_key_value.db").display()))
                    .expect("kv file");
            let cached = kv
                .query("SELECT key FROM spin_key_value WHERE key = $1", &[format!("users:user:{}", user.id).into()])
                .expect("kv");
            assert_eq!(cached.len(), 1, "{backend:?}: the user is cached");
            send(&app, Method::PATCH, &path, &admin.access, "application/json", r#"{"name":"Fresh"}"#, &[]).expect(200);
            assert_eq!(app.get(&path, Some(&user.access)).expect(200).json()["name"], "Fresh", "{backend:?}");
            app.send(app.request(Method::DELETE, &path).bearer_auth(&admin.access)).expect(204);
            app.get(&path, Some(&admin.access)).problem(404);
        }
    }

    #[test]
    fn deleting_a_user_revokes_their_sessions() {
        for backend in Backend::ALL {
            let (app, admin, user) = app_on(backend);
            let other = app.register("other@example.com");
            let path = user_path(&user.id);
            app.send(app.request(Method::DELETE, &user_path(&admin.id)).bearer_auth(&other.access)).problem(403);
            app.send(app.request(Method::DELETE, &path).bearer_auth(&user.access)).expect(204);
            app.get(&path, Some(&user.access)).problem(401);
            app.post("/api/v1/auth/refresh", &json!({"refresh_token": user.refresh})).problem(401);
            app.get(&path, Some(&admin.access)).problem(404);
            app.send(app.request(Method::DELETE, &path).bearer_auth(&admin.access)).problem(404);
            let stale = send(
                &app,
                Method::DELETE,
                &user_path(&other.id),
                &admin.access,
                "application/json",
                "",
                &[("if-match", "\"nope.1\"")],
            );
            stale.problem(412);
            let db = app.database();
            let left = db
                .query("SELECT COUNT(*) AS n FROM sessions WHERE user_id = $1", &[user.id.as_str().into()])
                .expect("count");
            assert_eq!(left.first().expect("row").get::<i64>("n").expect("n"), 0, "{backend:?}");
        }
    }
}
