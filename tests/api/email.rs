//! The flows through the mailbox, through the real components: email
//! verification, password reset and email change, each message delivered
//! to a test receiver that checks its Standard Webhooks signature with an
//! independent library; and the outbox, which loses nothing while the
//! receiver is away.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use troupe_tests::mail::link_token;
use troupe_tests::{spawn_app_with, Account, Backend, MailReceiver, Options, TestApp};

const PASSWORD: &str = "correct horse battery staple";
const WAIT: Duration = Duration::from_secs(20);

fn app_mailing(backend: Backend, receiver: &MailReceiver) -> TestApp {
    spawn_app_with(Options::on(backend).mail_to(receiver))
}

/// The one message of `kind` to `to`, once it has arrived.
fn message(app: &TestApp, receiver: &MailReceiver, to: &str, kind: &str) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let found = receiver.to(to, kind);
        if !found.is_empty() || std::time::Instant::now() > deadline {
            assert_eq!(found.len(), 1, "one {kind} to {to}: {:?}", receiver.messages());
            return found[0].clone();
        }
        std::thread::sleep(Duration::from_millis(200));
        app.get("/health/ready", None);
    }
}

fn me(app: &TestApp, access: &str) -> Value {
    app.get("/api/v1/auth/me", Some(access)).expect(200).json()
}

fn claims(access: &str) -> Value {
    let payload = access.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&B64.decode(payload).expect("base64url")).expect("JSON claims")
}

fn sign_in(app: &TestApp, email: &str, password: &str) -> Value {
    app.post("/api/v1/auth/login", &json!({"email": email, "password": password})).expect(200).json()
}

fn event_types(app: &TestApp, account: &Account) -> Vec<String> {
    let page = app.get("/api/v1/auth/events", Some(&account.access)).expect(200).json();
    page["data"].as_array().expect("data").iter().map(|e| e["type"].as_str().expect("type").to_owned()).collect()
}

/// The tests that choose their databases: each runs on SQLite and on
/// Postgres, so the test command's second, Postgres-default pass skips them.
mod on_both_databases {
    use super::*;

    #[test]
    fn registration_mails_a_signed_verification_link_that_verifies_the_address_once() {
        for backend in Backend::ALL {
            let receiver = MailReceiver::start();
            let app = app_mailing(backend, &receiver);
            let ann = app.register("Ann@Example.com");
            assert_eq!(me(&app, &ann.access)["email_verified"], false, "{backend:?}");
            assert_eq!(claims(&ann.access)["email_verified"], false);

            let mail = message(&app, &receiver, "Ann@Example.com", "verify_email");
            assert_eq!(mail["user"]["id"], ann.id.as_str());
            assert_eq!(mail["subject"], "Confirm your email address");
            let token = link_token(&mail);
            assert!(mail["link"].as_str().is_some_and(|l| l.starts_with("http://localhost:3000/verify-email#token=")));
            assert!(mail["text"].as_str().is_some_and(|t| t.contains(&token)));
            assert_eq!(receiver.rejected(), 0);

            app.post("/api/v1/auth/verify-email", &json!({ "token": token })).expect(204);
            assert_eq!(me(&app, &ann.access)["email_verified"], true, "{backend:?}");
            let user = app.get(&format!("/api/v1/users/{}", ann.id), Some(&ann.access)).expect(200).json();
            assert_eq!(user["email_verified"], true, "users sees it at once: {user}");
            // Single use.
            let again = app.post("/api/v1/auth/verify-email", &json!({ "token": token })).problem(400);
            assert!(again["detail"].as_str().is_some_and(|d| d.contains("invalid or has expired")), "{again}");
            // New tokens say so.
            let signed_in = sign_in(&app, &ann.email, PASSWORD);
            assert_eq!(claims(signed_in["access_token"].as_str().expect("access"))["email_verified"], true);
            assert!(event_types(&app, &ann).contains(&"email_verified".to_owned()));
            // Verified already: nothing more to send.
            app.json(Method::POST, "/api/v1/auth/verify-email/resend", Some(&ann.access), &json!({})).problem(409);
        }
    }

    #[test]
    fn a_password_reset_answers_alike_for_unknown_addresses_and_its_link_sets_the_password_and_ends_every_session() {
        for backend in Backend::ALL {
            let receiver = MailReceiver::start();
            let app = app_mailing(backend, &receiver);
            let ann = app.register("ann@example.com");
            message(&app, &receiver, "ann@example.com", "verify_email");

            let timed = |email: &str| {
                let started = std::time::Instant::now();
                let reply = app.post("/api/v1/auth/password-reset", &json!({ "email": email })).expect(202);
                (reply, started.elapsed())
            };
            let (known, known_took) = timed("ANN@example.com");
            let (unknown, unknown_took) = timed("bob@example.com");
            assert_eq!(known.text, unknown.text, "{backend:?}");
            // Neither answers before the floor (password_reset_min_answer_ms, a second).
            assert!(known_took >= Duration::from_secs(1) && unknown_took >= Duration::from_secs(1));
            let first = link_token(&message(&app, &receiver, "ann@example.com", "reset_password"));
            assert!(receiver.messages().iter().all(|m| m["to"] != "bob@example.com"));

            // A newer link replaces the older one.
            app.post("/api/v1/auth/password-reset", &json!({"email": "ann@example.com"})).expect(202);
            let deadline = std::time::Instant::now() + WAIT;
            while receiver.to("ann@example.com", "reset_password").len() < 2 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
            }
            let resets = receiver.to("ann@example.com", "reset_password");
            assert_eq!(resets.len(), 2, "{resets:?}");
            let second = link_token(&resets[1]);
            let confirm = |token: &str, password: &str| {
                app.post("/api/v1/auth/password-reset/confirm", &json!({"token": token, "new_password": password}))
            };
            confirm(&first, "a brand new passphrase").problem(400);
            // The policy holds, and a refused password leaves the link usable.
            let weak = confirm(&second, "password").problem(400);
            assert_eq!(weak["errors"][0]["field"], "new_password", "{weak}");
            confirm(&second, "a brand new passphrase").expect(204);
            confirm(&second, "a brand new passphrase").problem(400);

            // Every session ended; the new password works, the old one not.
            app.get("/api/v1/auth/me", Some(&ann.access)).problem(401);
            app.post("/api/v1/auth/refresh", &json!({"refresh_token": ann.refresh})).problem(401);
            app.post("/api/v1/auth/login", &json!({"email": ann.email, "password": PASSWORD})).problem(401);
            let signed_in = sign_in(&app, &ann.email, "a brand new passphrase");
            // The link reached the address: it is verified.
            assert_eq!(signed_in["user"]["email_verified"], true, "{backend:?}");
            let ann = Account { access: signed_in["access_token"].as_str().expect("access").to_owned(), ..ann };
            let types = event_types(&app, &ann);
            assert!(types.contains(&"password_reset".to_owned()), "{types:?}");
            assert!(types.contains(&"password_reset_requested".to_owned()), "{types:?}");
        }
    }

    #[test]
    fn an_email_change_takes_effect_only_when_confirmed_from_the_new_address() {
        for backend in Backend::ALL {
            let receiver = MailReceiver::start();
            let app = app_mailing(backend, &receiver);
            let ann = app.register("ann@example.com");
            app.register("taken@example.com");
            let change = |new_email: &str, password: &str| {
                let body = json!({"new_email": new_email, "password": password});
                app.json(Method::POST, "/api/v1/auth/email", Some(&ann.access), &body)
            };
            change("new@example.com", "not the password").problem(403);
            let same = change("ANN@example.com", PASSWORD).problem(400);
            assert_eq!(same["errors"][0]["field"], "new_email");
            change("taken@example.com", PASSWORD).problem(409);
            change("not an address", PASSWORD).problem(400);
            change("new@example.com", PASSWORD).expect(202);

            let confirm = message(&app, &receiver, "new@example.com", "confirm_email_change");
            let notice = message(&app, &receiver, "ann@example.com", "email_change_requested");
            assert!(
                notice.get("link").is_none() && notice["text"].as_str().is_some_and(|t| t.contains("new@example.com"))
            );
            // Nothing changes until the link is used.
            assert_eq!(me(&app, &ann.access)["email"], "ann@example.com", "{backend:?}");

            let token = link_token(&confirm);
            let user = app.post("/api/v1/auth/email/confirm", &json!({ "token": token })).expect(200).json();
            assert_eq!(user["email"], "new@example.com");
            assert_eq!(user["email_verified"], true);
            assert_eq!(me(&app, &ann.access)["email"], "new@example.com");
            let read = app.get(&format!("/api/v1/users/{}", ann.id), Some(&ann.access)).expect(200).json();
            assert_eq!(read["email"], "new@example.com", "users sees it at once");
            app.post("/api/v1/auth/email/confirm", &json!({ "token": token })).problem(400);
            sign_in(&app, "new@example.com", PASSWORD);
            app.post("/api/v1/auth/login", &json!({"email": "ann@example.com", "password": PASSWORD})).problem(401);
            let types = event_types(&app, &ann);
            assert!(
                types.contains(&"email_changed".to_owned()) && types.contains(&"email_change_requested".to_owned())
            );
        }
    }

    #[test]
    fn uniqueness_holds_when_the_change_is_confirmed() {
        for backend in Backend::ALL {
            let receiver = MailReceiver::start();
            let app = app_mailing(backend, &receiver);
            let ann = app.register("ann@example.com");
            let body = json!({"new_email": "new@example.com", "password": PASSWORD});
            app.json(Method::POST, "/api/v1/auth/email", Some(&ann.access), &body).expect(202);
            let token = link_token(&message(&app, &receiver, "new@example.com", "confirm_email_change"));
            // Someone registers the address in between.
            app.register("NEW@example.com");
            app.post("/api/v1/auth/email/confirm", &json!({ "token": token })).problem(409);
            assert_eq!(me(&app, &ann.access)["email"], "ann@example.com", "{backend:?}");
        }
    }
}

#[test]
fn no_message_is_lost_while_the_receiver_is_away_and_each_arrives_once() {
    let mut receiver = MailReceiver::start();
    let app = app_mailing(Backend::from_env(), &receiver);
    let emails: Vec<String> = (0..3).map(|i| format!("user{i}@example.com")).collect();
    // A refusal is a failure: the first message finds the receiver answering 503 ...
    receiver.fail_with(Some(503));
    app.register(&emails[0]);
    // ... the others find it gone. Each registration is acknowledged all the same.
    receiver.stop();
    for email in &emails[1..] {
        app.register(email);
    }
    assert!(app.logs().contains("not delivered"), "the failures are logged");
    assert!(receiver.messages().is_empty());
    receiver.restart();
    receiver.fail_with(None);
    // Retried after the backoff (5 s) by later requests and readiness checks.
    let messages = receiver.wait_for(3, Duration::from_secs(60), || {
        app.get("/health/ready", None);
    });
    let mut to: Vec<&str> = messages.iter().map(|m| m["to"].as_str().expect("to")).collect();
    to.sort_unstable();
    assert_eq!(to, emails.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(receiver.rejected(), 0);
    // Delivered means gone from the outbox: nothing is sent again.
    std::thread::sleep(Duration::from_secs(1));
    app.get("/health/ready", None).expect(200);
    assert_eq!(receiver.deliveries(), 3);
    assert_eq!(app.count("auth_outbox"), 0);
}

#[test]
fn a_signature_made_with_another_secret_is_refused_by_the_receiver() {
    let receiver = MailReceiver::start();
    let options = Options::default().mail_to(&receiver).var("email_hook_secret", "whsec_b3RoZXIgc2VjcmV0IGtleQ==");
    let app = spawn_app_with(options);
    app.register("ann@example.com");
    let deadline = std::time::Instant::now() + WAIT;
    while receiver.rejected() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(receiver.rejected(), 1);
    assert!(receiver.messages().is_empty());
    // Refused is not delivered: the message waits in the outbox.
    assert_eq!(app.count("auth_outbox"), 1);
}

#[test]
fn without_a_hook_development_logs_the_link_and_production_keeps_the_message_unlogged() {
    let development = spawn_app_with(Options::default());
    development.register("dev@example.com");
    assert!(development.logs().contains("verify-email#token="), "development logs the link");
    assert_eq!(development.count("auth_outbox"), 0);

    let production =
        spawn_app_with(Options::default().var("jwt_signing_key", "prod-1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"));
    production.register("prod@example.com");
    let logs = production.logs();
    assert!(!logs.contains("#token="), "production never logs a link: {logs}");
    assert!(logs.contains("no email_hook_url"), "{logs}");
    assert_eq!(production.count("auth_outbox"), 1, "kept until a hook is configured");
}

#[test]
fn with_verification_required_an_unverified_account_cannot_sign_in_until_it_verifies() {
    let receiver = MailReceiver::start();
    let app = spawn_app_with(Options::default().mail_to(&receiver).var("require_verified_email", "true"));
    let ann = app.register("ann@example.com");
    let refused = app.post("/api/v1/auth/login", &json!({"email": ann.email, "password": PASSWORD})).problem(403);
    assert!(refused["detail"].as_str().is_some_and(|d| d.contains("verify your email")), "{refused}");
    // A wrong password still reads as one.
    app.post("/api/v1/auth/login", &json!({"email": ann.email, "password": "wrong password!"})).problem(401);

    // A lost message: ask for another; the first link stops working.
    let first = link_token(&message(&app, &receiver, "ann@example.com", "verify_email"));
    app.json(Method::POST, "/api/v1/auth/verify-email/resend", Some(&ann.access), &json!({})).expect(202);
    let deadline = std::time::Instant::now() + WAIT;
    while receiver.to("ann@example.com", "verify_email").len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let second = link_token(&receiver.to("ann@example.com", "verify_email")[1]);
    app.post("/api/v1/auth/verify-email", &json!({ "token": first })).problem(400);
    app.post("/api/v1/auth/verify-email", &json!({ "token": second })).expect(204);
    sign_in(&app, &ann.email, PASSWORD);
}

#[test]
fn password_reset_requests_are_limited_per_address_named() {
    let app = spawn_app_with(Options::default().var("email_max_per_account", "2"));
    for _ in 0..2 {
        app.post("/api/v1/auth/password-reset", &json!({"email": "nobody@example.com"})).expect(202);
    }
    let refused = app.post("/api/v1/auth/password-reset", &json!({"email": "nobody@example.com"}));
    assert!(refused.header("retry-after").is_some());
    refused.problem(429);
    // Another address is another counter.
    app.post("/api/v1/auth/password-reset", &json!({"email": "other@example.com"})).expect(202);
}

#[test]
fn malformed_mail_requests_are_refused_with_problems() {
    let app = spawn_app_with(Options::default());
    for (path, body) in [
        ("/api/v1/auth/verify-email", json!({})),
        ("/api/v1/auth/verify-email", json!({"token": 42})),
        ("/api/v1/auth/verify-email", json!({"token": "x", "extra": 1})),
        ("/api/v1/auth/email/confirm", json!({"token": ["x"]})),
        ("/api/v1/auth/password-reset", json!({"email": "not an address"})),
        ("/api/v1/auth/password-reset", json!({"email": null})),
        ("/api/v1/auth/password-reset/confirm", json!({"token": "x"})),
        ("/api/v1/auth/password-reset/confirm", json!({"token": "x'; DROP TABLE users; --", "new_password": 1})),
    ] {
        let problem = app.post(path, &body).problem(400);
        assert!(problem["detail"].is_string(), "{path} {body}: {problem}");
    }
    // Unknown tokens, SQL metacharacters included, are just invalid links.
    let body = json!({"token": "x'; DROP TABLE users; --", "new_password": "a brand new passphrase"});
    app.post("/api/v1/auth/password-reset/confirm", &body).problem(400);
    app.post("/api/v1/auth/verify-email", &json!({"token": "\u{0}"})).problem(400);
    for path in ["/api/v1/auth/verify-email/resend", "/api/v1/auth/email"] {
        app.post(path, &json!({})).problem(401);
    }
}

#[test]
fn an_administrators_change_of_address_also_waits_for_the_new_address() {
    let receiver = MailReceiver::start();
    let app = spawn_app_with(Options::default().mail_to(&receiver).var("bootstrap_admin_email", "root@example.com"));
    let admin = app.register("root@example.com");
    let ann = app.register("ann@example.com");
    let path = format!("/api/v1/users/{}", ann.id);
    let patch = |body: &Value| {
        app.send(
            app.request(Method::PATCH, &path)
                .bearer_auth(&admin.access)
                .header("content-type", "application/merge-patch+json")
                .body(body.to_string()),
        )
    };
    patch(&json!({"email": "root@example.com"})).problem(409);
    let user = patch(&json!({"email": "ann@new.example", "name": "Ann B"})).expect(200).json();
    // The name changes now; the address once confirmed.
    assert_eq!((user["name"].as_str(), user["email"].as_str()), (Some("Ann B"), Some("ann@example.com")));
    let token = link_token(&message(&app, &receiver, "ann@new.example", "confirm_email_change"));
    message(&app, &receiver, "ann@example.com", "email_change_requested");
    app.post("/api/v1/auth/email/confirm", &json!({ "token": token })).expect(200);
    let user = app.get(&path, Some(&admin.access)).expect(200).json();
    assert_eq!((user["email"].as_str(), user["email_verified"].as_bool()), (Some("ann@new.example"), Some(true)));
    let page = app.get(&format!("/api/v1/auth/events?user={}", ann.id), Some(&admin.access)).expect(200).json();
    let requested = page["data"].as_array().expect("data").iter().find(|e| e["type"] == "email_change_requested");
    assert_eq!(requested.expect("recorded")["actor_id"], admin.id.as_str());
}
