//! Account protection: the client address, throttles under bursts, role
//! changes, the bootstrap and last administrator, session lifetime, stored
//! state that expires, revocations that hold, and the development key.

use std::time::{Duration, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{json, Value};
use troupe_tests::{spawn_app_with, Account, Backend, MailReceiver, Options, Reply, TestApp};

const REGISTER: &str = "/api/v1/auth/register";
const LOGIN: &str = "/api/v1/auth/login";
const REFRESH: &str = "/api/v1/auth/refresh";
const LOGOUT: &str = "/api/v1/auth/logout";
const PASSWORD: &str = "/api/v1/auth/password";
const SESSIONS: &str = "/api/v1/auth/sessions";
const ME: &str = "/api/v1/auth/me";
const USERS: &str = "/api/v1/users";
const ADMIN: &str = "boss@example.com";

fn user_path(id: &str) -> String {
    format!("{USERS}/{id}")
}

fn wrong_login(app: &TestApp, email: &str, headers: &[(&str, &str)]) -> Reply {
    app.json_with(Method::POST, LOGIN, None, &json!({"email": email, "password": "not the password"}), headers)
}

fn login(app: &TestApp, account: &Account) -> Account {
    let json = app.post(LOGIN, &json!({"email": account.email, "password": account.password})).expect(200).json();
    Account {
        access: json["access_token"].as_str().expect("access").to_owned(),
        refresh: json["refresh_token"].as_str().expect("refresh").to_owned(),
        ..account.clone()
    }
}

fn patch_role(app: &TestApp, token: &str, id: &str, role: &str) -> Reply {
    let request = app
        .request(Method::PATCH, &user_path(id))
        .bearer_auth(token)
        .header("content-type", "application/merge-patch+json")
        .body(json!({"role": role}).to_string());
    app.send(request)
}

fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    app.get(SESSIONS, Some(token)).expect(200).json()["data"].as_array().expect("data").clone()
}

/// The access-log lines of the components, as JSON.
fn access_log(app: &TestApp) -> Vec<Value> {
    app.logs()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.split_once("] ").map_or(line, |(_, json)| json)).ok())
        .filter(|v| v.get("route").is_some())
        .collect()
}

#[test]
fn a_forged_spin_client_addr_changes_nothing_the_host_knows() {
    let app = spawn_app_with(Options::default().var("login_max_failures", "3"));
    let forged = ("spin-client-addr", "198.51.100.7:1");
    let registered = app
        .json_with(
            Method::POST,
            REGISTER,
            None,
            &json!({"email": "ann@example.com", "password": "correct horse battery staple", "name": "Ann"}),
            &[forged],
        )
        .expect(201)
        .json();
    let token = registered["access_token"].as_str().expect("token");
    // Each wrong password claims another address; all count as 127.0.0.1.
    let statuses: Vec<u16> = (0..6)
        .map(|i| {
            let addr = format!("198.51.100.{i}:1");
            wrong_login(&app, "ann@example.com", &[("spin-client-addr", addr.as_str())]).status.as_u16()
        })
        .collect();
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429]);
    let listed = sessions(&app, token);
    assert_eq!(listed[0]["client_address"], "127.0.0.1");
    let log = access_log(&app);
    assert!(!log.is_empty());
    assert!(log.iter().all(|line| line["client_addr"] == "127.0.0.1"), "{log:?}");
    assert!(!app.logs().contains("198.51.100."));
}

#[test]
fn forwarded_for_lines_are_read_right_to_left_only_from_a_trusted_peer() {
    let app = spawn_app_with(Options::default().var("trusted_proxies", "127.0.0.1, 10.0.0.0/8"));
    let body = json!({"email": "fwd@example.com", "password": "correct horse battery staple", "name": "Fwd"});
    let headers = [("x-forwarded-for", "192.0.2.1, 192.0.2.2"), ("x-forwarded-for", "192.0.2.3, 10.1.2.3")];
    let registered = app.json_with(Method::POST, REGISTER, None, &body, &headers).expect(201).json();
    let token = registered["access_token"].as_str().expect("token");
    assert_eq!(sessions(&app, token)[0]["client_address"], "192.0.2.3");
    assert!(access_log(&app).iter().any(|line| line["client_addr"] == "192.0.2.3"));

    // A peer that is not trusted cannot make itself trusted by forging the
    // host's header: its own address is the client's.
    let untrusted = spawn_app_with(Options::default().var("trusted_proxies", "10.0.0.1"));
    let headers = [("spin-client-addr", "10.0.0.1:1"), ("x-forwarded-for", "192.0.2.99")];
    let registered = untrusted.json_with(Method::POST, REGISTER, None, &body, &headers).expect(201).json();
    let token = registered["access_token"].as_str().expect("token");
    assert_eq!(sessions(&untrusted, token)[0]["client_address"], "127.0.0.1");
}

#[test]
fn ipv6_clients_are_counted_per_slash_64() {
    let app = spawn_app_with(
        Options::default().var("trusted_proxies", "127.0.0.1").var("login_max_failures_per_address", "3"),
    );
    for i in 1..=3 {
        let from = format!("2001:db8:0:7::{i}");
        wrong_login(&app, &format!("nobody{i}@example.com"), &[("x-forwarded-for", from.as_str())]).expect(401);
    }
    let blocked = wrong_login(&app, "nobody9@example.com", &[("x-forwarded-for", "2001:db8:0:7:ffff::1")]);
    assert_eq!(blocked.header("ratelimit-policy"), Some("\"login-address\";q=3;w=900"));
    blocked.problem(429);
    wrong_login(&app, "nobody9@example.com", &[("x-forwarded-for", "2001:db8:0:8::1")]).expect(401);
}

#[test]
fn registrations_are_limited_per_address() {
    let app = spawn_app_with(Options::default().var("registration_max_per_address", "3"));
    for i in 0..3 {
        app.register(&format!("r{i}@example.com"));
    }
    let refused = app
        .post(REGISTER, &json!({"email": "r9@example.com", "password": "correct horse battery staple", "name": "R"}));
    assert!(refused.header("retry-after").and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s > 0 && s <= 3600));
    assert_eq!(refused.header("ratelimit-policy"), Some("\"register\";q=3;w=3600"));
    refused.problem(429);
    assert_eq!(app.count("users"), 3);
}

#[test]
fn the_sealed_grace_pair_is_cleared_once_its_interval_passed() {
    let app = spawn_app_with(Options::default().var("refresh_grace_seconds", "1"));
    let account = app.register("grace@example.com");
    app.post(REFRESH, &json!({"refresh_token": account.refresh})).expect(200);
    let sealed = || app.database().query("SELECT id FROM sessions WHERE grace_pair IS NOT NULL", &[]).expect("q").len();
    assert_eq!(sealed(), 1);
    std::thread::sleep(Duration::from_millis(1200));
    // Any request that sweeps (here a failed sign-in) clears it.
    wrong_login(&app, "nobody@example.com", &[]).expect(401);
    assert_eq!(sealed(), 0);
}

/// Make the app's key-value store refuse to write revocations, as a failing
/// store would; `false` lifts it.
fn fail_revocation_writes(app: &TestApp, fail: bool) {
    let kv = app.key_value();
    for (name, event) in [("fail_revocation_insert", "INSERT"), ("fail_revocation_update", "UPDATE")] {
        kv.execute(&format!("DROP TRIGGER IF EXISTS {name}"), &[]).expect("drop trigger");
        if fail {
            kv.execute(
                &format!(
                    "CREATE TRIGGER {name} BEFORE {event} ON spin_key_value \
                     WHEN NEW.key LIKE 'auth:revoked-session:%' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                ),
                &[],
            )
            .expect("create trigger");
        }
    }
}

#[test]
fn the_development_key_is_announced_in_the_log_and_on_readiness() {
    let app = spawn_app_with(Options::default());
    app.register("dev@example.com");
    app.register("dev2@example.com");
    let ready = app.get("/health/ready", None).expect(200).json();
    assert_eq!(ready["signing_key"], "development");
    assert!(ready["warnings"][0].as_str().is_some_and(|w| w.contains("jwt_signing_key")));
    let logs = app.logs();
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("\"development-signing-key\"")).collect();
    assert_eq!(warnings.len(), 1, "{logs}");
    // The warning names the request it was written in, as its access log line does.
    let json = |line: &str| -> Value { serde_json::from_str(&line[line.find('{').expect("JSON")..]).expect("JSON") };
    let request_id = json(warnings[0])["request_id"].as_str().expect("a request id").to_owned();
    let access = logs
        .lines()
        .filter(|l| l.contains("\"route\""))
        .map(json)
        .find(|line| line["request_id"] == request_id.as_str());
    assert_eq!(access.expect("the access log line of that request")["route"], "/api/v1/auth/register");

    let seed = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    let configured = spawn_app_with(Options::default().var("jwt_signing_key", &format!("prod-1:{seed}")));
    configured.register("prod@example.com");
    let ready = configured.get("/health/ready", None).expect(200).json();
    assert_eq!(ready["signing_key"], "configured");
    assert!(ready.get("warnings").is_none());
    assert!(!configured.logs().contains("development-signing-key"));
}

#[test]
fn with_the_key_value_store_down_users_reads_revocations_from_the_session_row() {
    // Keys from configuration, so that verifying a token needs no store.
    let signing = troupe_tokens::SigningKey::parse("kv-down-1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
        .expect("a signing key");
    let public = troupe_tokens::KeySet::new([signing.public().clone()]).to_spec();
    let app = spawn_app_with(
        Options::default()
            .var("jwt_signing_key", &signing.to_spec())
            .var("jwt_public_keys", &public)
            .var("user_cache_ttl_seconds", "0")
            .var("rate_limit_per_user", "0")
            .var("rate_limit_per_address", "0"),
    );
    let account = app.register("kv-down@example.com");
    let kv = app.key_value();
    kv.execute("ALTER TABLE spin_key_value RENAME TO spin_key_value_away", &[]).expect("take the store away");
    // The session row says live: let in, and the fallback is logged.
    app.get(&user_path(&account.id), Some(&account.access)).expect(200);
    assert!(app.logs().contains("revocations unavailable"), "{}", app.logs());
    // The row says revoked: refused at once, without the store.
    app.database()
        .execute("UPDATE sessions SET revoked_at = 1 WHERE user_id = $1", &[account.id.as_str().into()])
        .expect("revoke in the database");
    app.get(&user_path(&account.id), Some(&account.access)).problem(401);
    kv.execute("ALTER TABLE spin_key_value_away RENAME TO spin_key_value", &[]).expect("bring the store back");
}

/// The tests that choose their databases: each runs on SQLite and on
/// Postgres, so the test command's second, Postgres-default pass skips them.
mod on_both_databases {
    use super::*;

    #[test]
    fn a_parallel_burst_of_wrong_passwords_is_refused_once_over_the_limit() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend));
            let account = app.register("burst@example.com");
            let statuses: Vec<u16> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..30)
                    .map(|_| {
                        let app = &app;
                        scope.spawn(move || wrong_login(app, "burst@example.com", &[]).status.as_u16())
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().expect("thread")).collect()
            });
            let admitted = statuses.iter().filter(|s| **s != 429).count();
            assert!(admitted <= 7, "{backend:?}: {admitted} answers other than 429: {statuses:?}");
            assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{backend:?}: {statuses:?}");
            // The real password is refused too while the window is full.
            app.post(LOGIN, &json!({"email": account.email, "password": account.password})).problem(429);
        }
    }

    #[test]
    fn the_account_limit_spans_addresses_and_a_success_clears_only_its_own_address() {
        for backend in Backend::ALL {
            let app = spawn_app_with(
                Options::on(backend)
                    .var("trusted_proxies", "127.0.0.1")
                    .var("login_max_failures", "5")
                    .var("login_max_failures_per_account", "6"),
            );
            let account = app.register("spread@example.com");
            let from = |addr: &'static str| [("x-forwarded-for", addr)];
            for _ in 0..3 {
                wrong_login(&app, &account.email, &from("192.0.2.1")).expect(401);
            }
            let right = json!({"email": account.email, "password": account.password});
            app.json_with(Method::POST, LOGIN, None, &right, &from("192.0.2.1")).expect(200);
            for addr in ["192.0.2.2", "192.0.2.3", "192.0.2.4"] {
                wrong_login(&app, &account.email, &from(addr)).expect(401);
            }
            // Six failures on the account, from four addresses: a fifth is refused.
            let refused = wrong_login(&app, &account.email, &from("192.0.2.5"));
            assert_eq!(refused.header("ratelimit-policy"), Some("\"login-account\";q=6;w=900"), "{backend:?}");
            refused.problem(429);
        }
    }

    #[test]
    fn a_wrong_current_password_counts_as_a_failed_sign_in() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend).var("login_max_failures", "3"));
            let account = app.register("oracle@example.com");
            let change = |current: &str| {
                app.json(
                    Method::POST,
                    PASSWORD,
                    Some(&account.access),
                    &json!({"current_password": current, "new_password": "another fine passphrase"}),
                )
            };
            for _ in 0..3 {
                change("not the password").problem(403);
            }
            let blocked = change("not the password");
            assert!(blocked.header("retry-after").is_some());
            blocked.problem(429);
            // The same counter guards sign-in from this address.
            app.post(LOGIN, &json!({"email": account.email, "password": account.password})).problem(429);
        }
    }

    #[test]
    fn a_role_change_takes_effect_at_the_next_request() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend).var("bootstrap_admin_email", ADMIN));
            let boss = app.register(ADMIN);
            let other = app.register("second@example.com");
            patch_role(&app, &boss.access, &other.id, "admin").expect(200);
            // Tokens minted under the old role are gone, on users and auth alike.
            app.get(&user_path(&other.id), Some(&other.access)).problem(401);
            app.get(ME, Some(&other.access)).problem(401);
            let second = login(&app, &other);
            app.get(USERS, Some(&second.access)).expect(200);

            patch_role(&app, &boss.access, &second.id, "user").expect(200);
            app.get(USERS, Some(&second.access)).problem(401);
            patch_role(&app, &second.access, &second.id, "admin").problem(401);
            app.get(ME, Some(&second.access)).problem(401);
            let demoted = login(&app, &second);
            app.get(USERS, Some(&demoted.access)).problem(403);
            patch_role(&app, &demoted.access, &demoted.id, "admin").problem(403);
            // The administrator who made the change keeps their session.
            app.get(USERS, Some(&boss.access)).expect(200);
        }
    }

    #[test]
    fn the_bootstrap_email_makes_an_admin_only_while_there_is_none() {
        for backend in Backend::ALL {
            let receiver = MailReceiver::start();
            let app = spawn_app_with(Options::on(backend).var("bootstrap_admin_email", ADMIN).mail_to(&receiver));
            let boss = app.register(ADMIN);
            // The administrator moves to another address, freeing the bootstrap one.
            let change = json!({"new_email": "boss2@example.com", "password": boss.password});
            app.json(Method::POST, "/api/v1/auth/email", Some(&boss.access), &change).expect(202);
            let sent = receiver.wait_for(3, Duration::from_secs(20), || {});
            let confirm = sent.iter().find(|m| m["type"] == "confirm_email_change").expect("a confirmation link");
            let token = troupe_tests::mail::link_token(confirm);
            app.post("/api/v1/auth/email/confirm", &json!({ "token": token })).expect(200);
            let again = app.post(
                REGISTER,
                &json!({"email": ADMIN, "password": "correct horse battery staple", "name": "Mallory"}),
            );
            assert_eq!(again.expect(201).json()["user"]["role"], "user", "{backend:?}");
        }
    }

    #[test]
    fn the_last_admin_cannot_be_demoted_or_deleted() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend).var("bootstrap_admin_email", ADMIN));
            let boss = app.register(ADMIN);
            let problem = patch_role(&app, &boss.access, &boss.id, "user").problem(409);
            assert!(problem["detail"].as_str().is_some_and(|d| d.contains("last administrator")), "{problem}");
            let put = app
                .request(Method::PUT, &user_path(&boss.id))
                .bearer_auth(&boss.access)
                .header("content-type", "application/json")
                .body(json!({"email": ADMIN, "name": "Boss", "role": "user"}).to_string());
            app.send(put).problem(409);
            app.send(app.request(Method::DELETE, &user_path(&boss.id)).bearer_auth(&boss.access)).problem(409);
            app.get(USERS, Some(&boss.access)).expect(200);
        }
    }

    #[test]
    fn two_admins_demoting_each_other_at_once_leave_one_admin() {
        for backend in Backend::ALL {
            for _round in 0..3 {
                let app = spawn_app_with(Options::on(backend).var("bootstrap_admin_email", ADMIN));
                let boss = app.register(ADMIN);
                let other = app.register("second@example.com");
                patch_role(&app, &boss.access, &other.id, "admin").expect(200);
                let other = login(&app, &other);
                let statuses: Vec<u16> = std::thread::scope(|scope| {
                    let a = scope.spawn(|| patch_role(&app, &boss.access, &other.id, "user").status.as_u16());
                    let b = scope.spawn(|| patch_role(&app, &other.access, &boss.id, "user").status.as_u16());
                    vec![a.join().expect("a"), b.join().expect("b")]
                });
                let admins =
                    app.database().query("SELECT id FROM users WHERE role = 'admin'", &[]).expect("admins").len();
                assert_eq!(admins, 1, "{backend:?}: {statuses:?}");
                // One demotion won; the other was refused (409, or 401 when the
                // winner's revocation ended the loser's session first).
                assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{backend:?}: {statuses:?}");
            }
        }
    }

    #[test]
    fn a_session_ends_at_its_maximum_age_however_often_it_is_refreshed() {
        Backend::each_at_once(|backend| {
            let app = spawn_app_with(Options::on(backend).var("session_max_age_seconds", "3"));
            let account = app.register("short@example.com");
            let listed = sessions(&app, &account.access);
            let ends_at = listed[0]["ends_at"].as_str().expect("ends_at").to_owned();
            let mut refresh = account.refresh.clone();
            std::thread::sleep(Duration::from_millis(1500));
            let pair = app.post(REFRESH, &json!({"refresh_token": refresh})).expect(200).json();
            assert!(pair["expires_in"].as_i64().is_some_and(|s| s <= 2), "{pair}");
            refresh = pair["refresh_token"].as_str().expect("refresh").to_owned();
            let access = pair["access_token"].as_str().expect("access");
            assert_eq!(sessions(&app, access)[0]["ends_at"].as_str(), Some(ends_at.as_str()));
            std::thread::sleep(Duration::from_millis(2000));
            app.post(REFRESH, &json!({"refresh_token": refresh})).problem(401);
        });
    }

    #[test]
    fn stored_state_returns_to_its_size_once_its_windows_pass() {
        Backend::each_at_once(|backend| {
            let app = spawn_app_with(
                Options::on(backend)
                    .var("trusted_proxies", "127.0.0.1")
                    .var("login_failure_window_seconds", "10")
                    .var("access_token_ttl_seconds", "1")
                    .var("session_retention_seconds", "1"),
            );
            let account = app.register("keeper@example.com");
            // A flood of random emails from forged addresses...
            for i in 0..40 {
                let from = format!("203.0.113.{i}");
                wrong_login(&app, &format!("random{i}@example.com"), &[("x-forwarded-for", from.as_str())]).expect(401);
            }
            assert!(app.count("auth_throttles") >= 80, "{backend:?}");
            // ...and sessions that end, whose revocations are published.
            for _ in 0..3 {
                let session = login(&app, &account);
                app.json(Method::POST, LOGOUT, Some(&session.access), &json!({})).expect(204);
            }
            assert_eq!(app.kv_keys("auth:revoked-session:").len(), 3, "{backend:?}");
            assert_eq!(app.count("auth_revocations"), 3);
            // ...and a legacy token a rotation recorded as replaced (tokens of
            // a family need no record).
            let now_ms = i64::try_from(UNIX_EPOCH.elapsed().expect("clock").as_millis()).expect("ms");
            app.database()
                .execute(
                    "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at, replaced_at) \
                     SELECT 'legacy', id, $1, $2, $1 FROM sessions WHERE revoked_at IS NULL",
                    &[now_ms.into(), (now_ms + 60_000).into()],
                )
                .expect("a replaced legacy token");
            assert_eq!(app.count("refresh_tokens"), 1, "{backend:?}");
            // Revocations must outlive every token (lifetime 1 s + 30 s leeway);
            // the throttle windows (10 s) are closed by then too.
            std::thread::sleep(Duration::from_secs(32));
            wrong_login(&app, "random0@example.com", &[]).expect(401);
            assert!(app.count("auth_throttles") <= 3, "{backend:?}: {}", app.count("auth_throttles"));
            assert!(app.kv_keys("auth:revoked-session:").is_empty(), "{backend:?}");
            assert_eq!(app.count("auth_revocations"), 0);
            // Only the registration's session is left: ended ones are gone, with
            // the tokens they replaced (its own current token is on its row).
            assert_eq!(app.count("sessions"), 1, "{backend:?}");
            assert_eq!(app.count("refresh_tokens"), 0, "{backend:?}");
        });
    }

    #[test]
    fn a_revocation_is_never_answered_as_done_unless_it_is_effective() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend));
            let account = app.register("revoke@example.com");
            app.get(&user_path(&account.id), Some(&account.access)).expect(200);
            fail_revocation_writes(&app, true);
            // Sign-out cannot publish: it says so, and changes nothing.
            let refused = app.json(Method::POST, LOGOUT, Some(&account.access), &json!({}));
            assert_eq!(refused.status.as_u16(), 503, "{backend:?}: {}", refused.text);
            app.get(&user_path(&account.id), Some(&account.access)).expect(200);
            // A password change cannot publish either: the old password still works.
            let second = login(&app, &account);
            let change = json!({"current_password": account.password, "new_password": "another fine passphrase"});
            app.json(Method::POST, PASSWORD, Some(&second.access), &change).problem(503);
            let third = login(&app, &account);
            // Once the store takes writes again, the retry revokes for real.
            fail_revocation_writes(&app, false);
            app.json(Method::POST, LOGOUT, Some(&account.access), &json!({})).expect(204);
            app.get(&user_path(&account.id), Some(&account.access)).problem(401);
            app.json(Method::POST, PASSWORD, Some(&second.access), &change).expect(204);
            app.get(&user_path(&third.id), Some(&third.access)).problem(401);
            app.get(&user_path(&second.id), Some(&second.access)).expect(200);
        }
    }

    #[test]
    fn idempotency_records_are_dropped_after_a_day() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend).var("bootstrap_admin_email", ADMIN));
            let boss = app.register(ADMIN);
            let day_ago = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_millis()
                as i64
                - 24 * 3600 * 1000
                - 1;
            let db = app.database();
            for i in 0..5 {
                db.execute(
                    "INSERT INTO idempotency_keys (caller_id, key, fingerprint, status, created_at) VALUES ($1, $2, 'f', 201, $3)",
                    &[boss.id.as_str().into(), format!("old-{i}").into(), day_ago.into()],
                )
                .expect("an old record");
            }
            let body = json!({"email": "new@example.com", "name": "New", "password": "correct horse battery staple", "role": "user"});
            let request = app
                .request(Method::POST, USERS)
                .bearer_auth(&boss.access)
                .header("content-type", "application/json")
                .header("idempotency-key", "fresh")
                .body(body.to_string());
            app.send(request).expect(201);
            assert_eq!(app.count("idempotency_keys"), 1, "{backend:?}");
        }
    }
}
