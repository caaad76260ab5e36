//! The audit log: `GET /api/v1/auth/events`, and the events each flow
//! records through the real components.

use reqwest::Method;
use serde_json::{json, Value};
use troupe_tests::{spawn_app_with, Account, Backend, Options, TestApp};

const EVENTS: &str = "/api/v1/auth/events";
const ADMIN: &str = "root@example.com";

fn app_on(backend: Backend) -> TestApp {
    spawn_app_with(Options::on(backend).var("bootstrap_admin_email", ADMIN))
}

fn events(app: &TestApp, account: &Account, query: &str) -> Vec<Value> {
    let page = app.get(&format!("{EVENTS}{query}"), Some(&account.access)).expect(200).json();
    page["data"].as_array().expect("data").clone()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().expect("type")).collect()
}

fn sign_in(app: &TestApp, account: &Account) -> Value {
    app.post("/api/v1/auth/login", &json!({"email": account.email, "password": account.password})).expect(200).json()
}

/// The tests that choose their databases: each runs on SQLite and on
/// Postgres, so the test command's second, Postgres-default pass skips them.
mod on_both_databases {
    use super::*;

    #[test]
    fn a_user_reads_their_own_sign_ins_sign_outs_and_password_change_newest_first() {
        for backend in Backend::ALL {
            let app = app_on(backend);
            let user = app.register("ann@example.com");
            app.post("/api/v1/auth/login", &json!({"email": user.email, "password": "not the password"})).expect(401);
            let second = sign_in(&app, &user);
            let second_access = second["access_token"].as_str().expect("access");
            app.send(app.request(Method::POST, "/api/v1/auth/logout").bearer_auth(second_access)).expect(204);
            sign_in(&app, &user);
            let change = |current: &str| {
                let body = json!({"current_password": current, "new_password": "a different long passphrase"});
                app.json(Method::POST, "/api/v1/auth/password", Some(&user.access), &body)
            };
            change("not the current one").problem(403);
            change(&user.password).expect(204);

            let mine = events(&app, &user, "");
            assert_eq!(
                types(&mine),
                [
                    "password_changed",
                    "password_change_failed",
                    "sign_in",
                    "sign_out",
                    "sign_in",
                    "sign_in_failed",
                    "account_created"
                ],
                "{backend:?}: {mine:?}"
            );
            for event in &mine {
                assert_eq!(event["subject_id"], user.id.as_str(), "{backend:?}");
                assert!(event["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{event}");
                assert_eq!(event["client_address"], "127.0.0.1", "{event}");
                assert!(event["occurred_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{event}");
            }
            // Nobody was signed in to fail a sign-in.
            assert_eq!(mine[5]["actor_id"], Value::Null);
            assert_eq!(mine[0]["actor_id"], user.id.as_str());
            // The third session; the second was signed out already.
            assert_eq!(mine[0]["detail"]["sessions_revoked"], 1);
            assert_eq!(mine[1]["actor_id"], user.id.as_str());
            assert_eq!(mine[3]["detail"]["session_id"].as_str().map(str::len), Some(36));
            assert_eq!(mine[6]["detail"]["role"], "user");
            // Never a secret: no password, token or hash anywhere in the log.
            let text = serde_json::to_string(&mine).expect("json");
            for secret in [user.password.as_str(), "a different long passphrase", &user.refresh, &user.access] {
                assert!(!text.contains(secret), "{backend:?}: a secret in the log");
            }
            assert!(!text.contains("$argon2"), "{backend:?}: a hash in the log");
        }
    }

    #[test]
    fn administrators_read_everyone_s_events_and_their_own_actions_on_others() {
        for backend in Backend::ALL {
            let app = app_on(backend);
            let admin = app.register(ADMIN);
            let user = app.register("bob@example.com");
            app.post("/api/v1/auth/login", &json!({"email": "nobody@example.com", "password": "whatever it is"}))
                .expect(401);
            let promote = app
                .request(Method::PATCH, &format!("/api/v1/users/{}", user.id))
                .bearer_auth(&admin.access)
                .header("content-type", "application/merge-patch+json")
                .header("x-request-id", "promote-bob-1")
                .body(json!({"role": "admin", "name": "Robert"}).to_string());
            app.send(promote).expect(200);
            app.send(app.request(Method::DELETE, &format!("/api/v1/users/{}", user.id)).bearer_auth(&admin.access))
                .expect(204);

            let about_bob = events(&app, &admin, &format!("?user={}", user.id));
            assert_eq!(
                types(&about_bob),
                ["account_deleted", "role_changed", "account_updated", "account_created"],
                "{backend:?}: {about_bob:?}"
            );
            let (deleted, role, updated) = (&about_bob[0], &about_bob[1], &about_bob[2]);
            for event in [deleted, role, updated] {
                assert_eq!(event["actor_id"], admin.id.as_str(), "{backend:?}: {event}");
                assert_eq!(event["subject_id"], user.id.as_str(), "{backend:?}: {event}");
                // The client's address and request id, passed on by `users`.
                assert_eq!(event["client_address"], "127.0.0.1", "{backend:?}: {event}");
            }
            assert_eq!(role["request_id"], "promote-bob-1");
            assert_eq!(updated["request_id"], "promote-bob-1");
            assert_eq!(role["detail"], json!({"from": "user", "to": "admin", "sessions_revoked": 1}));
            assert_eq!(updated["detail"], json!({"fields": ["name"]}));

            // Everyone's: the refused sign-in of an unknown email, with the
            // email tried, is there too.
            let all = events(&app, &admin, "?type=sign_in_failed");
            assert_eq!(all.len(), 1, "{backend:?}: {all:?}");
            assert_eq!(all[0]["subject_id"], Value::Null);
            assert_eq!(all[0]["detail"], json!({"email": "nobody@example.com"}));
        }
    }

    #[test]
    fn a_reused_refresh_token_is_recorded_without_an_actor() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend).var("refresh_grace_seconds", "0"));
            let user = app.register("carol@example.com");
            app.post("/api/v1/auth/refresh", &json!({"refresh_token": user.refresh})).expect(200);
            app.post("/api/v1/auth/refresh", &json!({"refresh_token": user.refresh})).expect(401);
            // The reuse revoked the session: its access token reads nothing.
            app.get(EVENTS, Some(&user.access)).problem(401);
            let fresh = sign_in(&app, &user);
            let reader = Account { access: fresh["access_token"].as_str().expect("access").to_owned(), ..user };
            let reused = events(&app, &reader, "?type=refresh_reused");
            assert_eq!(reused.len(), 1, "{backend:?}: {reused:?}");
            assert_eq!(reused[0]["actor_id"], Value::Null);
            assert_eq!(reused[0]["subject_id"], reader.id.as_str());
            assert!(reused[0]["detail"]["session_id"].as_str().is_some(), "{}", reused[0]);
        }
    }
}

#[test]
fn users_may_not_read_others_events_and_every_invalid_parameter_is_named() {
    let app = app_on(Backend::from_env());
    let user = app.register("dave@example.com");
    let other = app.register("erin@example.com");
    app.get(EVENTS, None).problem(401);
    app.get(&format!("{EVENTS}?user={}", other.id), Some(&user.access)).problem(403);
    app.get(&format!("{EVENTS}?user={}", user.id), Some(&user.access)).expect(200);
    let problem = app
        .get(&format!("{EVENTS}?limit=0&type=login&user=%27%20OR%201=1--&before=zzz&page=2"), Some(&user.access))
        .problem(400);
    let fields: Vec<&str> =
        problem["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["limit", "type", "user", "before", "page"]);
}

#[test]
fn the_log_pages_from_newest_to_oldest_with_a_cursor() {
    let app = app_on(Backend::from_env());
    let user = app.register("frank@example.com");
    for _ in 0..4 {
        sign_in(&app, &user);
    }
    // account_created and four sign-ins: five events, two a page.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = app.get(&format!("{EVENTS}{query}"), Some(&user.access)).expect(200).json();
        let data = page["data"].as_array().expect("data");
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|e| e["id"].as_str().expect("id").to_owned()));
        match page["meta"]["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&before={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    let mut newest_first = seen.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, newest_first, "ids are time-ordered, newest first");
}
