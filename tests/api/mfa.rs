//! The TOTP second factor through the real components, with codes computed
//! by an independent implementation (Python's `pyotp`, installed by the
//! set-up): enrollment, confirmation, the two-step sign-in with a code or a
//! recovery code, each accepted once, turning it off, an administrator's
//! reset, and the `amr` claim.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use troupe_tests::{repo_root, spawn_app_with, Account, Backend, Options, TestApp};

const ADMIN: &str = "root@example.com";

/// The code `pyotp` computes for `secret` (base32) at `offset_secs` from now.
fn pyotp(secret: &str, offset_secs: i64) -> String {
    let python = repo_root().join("target/schemathesis-venv/bin/python");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("time").as_secs();
    let at = i64::try_from(now).expect("time") + offset_secs;
    let output = Command::new(&python)
        .args(["-c", "import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))", secret, &at.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup", python.display()));
    assert!(output.status.success(), "pyotp: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8").trim().to_owned()
}

fn claims(access: &str) -> Value {
    let payload = access.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&B64.decode(payload).expect("base64url")).expect("JSON claims")
}

fn post(app: &TestApp, path: &str, token: &str, body: &Value) -> troupe_tests::Reply {
    app.json(Method::POST, path, Some(token), body)
}

fn login(app: &TestApp, account: &Account) -> Value {
    app.post("/api/v1/auth/login", &json!({"email": account.email, "password": account.password})).expect(200).json()
}

/// Enroll and confirm TOTP for `account`; its base32 secret and recovery codes.
fn turn_on(app: &TestApp, account: &Account) -> (String, Vec<String>) {
    let enrolled =
        post(app, "/api/v1/auth/mfa/totp", &account.access, &json!({"password": account.password})).expect(201).json();
    let secret = enrolled["secret"].as_str().expect("secret").to_owned();
    let confirmed = post(app, "/api/v1/auth/mfa/totp/confirm", &account.access, &json!({"code": pyotp(&secret, 0)}))
        .expect(200)
        .json();
    let codes = confirmed["recovery_codes"].as_array().expect("codes");
    (secret, codes.iter().map(|c| c.as_str().expect("code").to_owned()).collect())
}

mod on_both_databases {
    use super::*;

    #[test]
    fn a_confirmed_app_makes_sign_in_two_steps_and_each_code_counts_once() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend));
            let ann = app.register("ann@example.com");
            assert_eq!(app.get("/api/v1/auth/mfa", Some(&ann.access)).expect(200).json()["totp"], false);
            post(&app, "/api/v1/auth/mfa/totp", &ann.access, &json!({"password": "not the password"})).problem(403);
            let enrolled =
                post(&app, "/api/v1/auth/mfa/totp", &ann.access, &json!({"password": ann.password})).expect(201).json();
            let secret = enrolled["secret"].as_str().expect("secret");
            let uri = enrolled["otpauth_uri"].as_str().expect("uri");
            assert!(uri.starts_with("otpauth://totp/troupe:ann%40example.com?"), "{uri}");
            assert!(uri.contains(&format!("secret={secret}")), "{uri}");
            // Not in force until confirmed: sign-in is one step still.
            assert!(login(&app, &ann)["access_token"].is_string(), "{backend:?}");
            post(&app, "/api/v1/auth/mfa/totp/confirm", &ann.access, &json!({"code": "12345"})).problem(403);
            let first = pyotp(secret, 0);
            let confirmed =
                post(&app, "/api/v1/auth/mfa/totp/confirm", &ann.access, &json!({"code": first})).expect(200).json();
            let codes: Vec<String> = confirmed["recovery_codes"]
                .as_array()
                .expect("codes")
                .iter()
                .map(|c| c.as_str().expect("code").to_owned())
                .collect();
            assert_eq!(codes.len(), 10);
            let status = app.get("/api/v1/auth/mfa", Some(&ann.access)).expect(200).json();
            assert_eq!(status, json!({"totp": true, "recovery_codes_left": 10}));

            // The password alone opens a challenge, no tokens.
            let challenge = login(&app, &ann);
            assert_eq!(challenge["mfa_required"], true, "{challenge}");
            assert!(challenge.get("access_token").is_none());
            let mfa_token = challenge["mfa_token"].as_str().expect("mfa token");
            let complete = |body: Value| app.post("/api/v1/auth/login/mfa", &body);
            // The code that confirmed the app was used already.
            complete(json!({"mfa_token": mfa_token, "code": first})).problem(401);
            let signed_in = complete(json!({"mfa_token": mfa_token, "code": pyotp(secret, 30)})).expect(200).json();
            let access = signed_in["access_token"].as_str().expect("access");
            assert_eq!(claims(access)["amr"], json!(["pwd", "otp"]), "{backend:?}");
            assert_eq!(signed_in["user"]["email"], "ann@example.com");
            // The challenge is spent; a refreshed token keeps saying how the session began.
            complete(json!({"mfa_token": mfa_token, "code": pyotp(secret, 30)})).problem(401);
            let refreshed = app
                .post("/api/v1/auth/refresh", &json!({"refresh_token": signed_in["refresh_token"]}))
                .expect(200)
                .json();
            assert_eq!(claims(refreshed["access_token"].as_str().expect("access"))["amr"], json!(["pwd", "otp"]));

            // A recovery code works once, in any case and spacing.
            let again = login(&app, &ann)["mfa_token"].as_str().expect("token").to_owned();
            let recovery = codes[3].to_uppercase().replace('-', " ");
            complete(json!({"mfa_token": again, "recovery_code": recovery})).expect(200);
            let third = login(&app, &ann)["mfa_token"].as_str().expect("token").to_owned();
            complete(json!({"mfa_token": third, "recovery_code": codes[3]})).problem(401);
            let status = app.get("/api/v1/auth/mfa", Some(access)).expect(200).json();
            assert_eq!(status["recovery_codes_left"], 9);

            let events = app.get("/api/v1/auth/events", Some(access)).expect(200).json();
            let types: Vec<&str> =
                events["data"].as_array().expect("data").iter().filter_map(|e| e["type"].as_str()).collect();
            assert!(types.contains(&"mfa_enabled"), "{types:?}");
            let second =
                events["data"].as_array().expect("data").iter().find(|e| e["detail"]["second_factor"] == "totp");
            assert!(second.is_some(), "the sign-in says which factor: {events}");
        }
    }
}

#[test]
fn turning_the_factor_off_takes_a_code_or_the_password_and_sign_in_is_one_step_again() {
    let app = spawn_app_with(Options::default());
    let ann = app.register("ann@example.com");
    let (secret, _) = turn_on(&app, &ann);
    let disable = |body: Value| post(&app, "/api/v1/auth/mfa/totp/disable", &ann.access, &body);
    disable(json!({})).problem(400);
    disable(json!({"code": pyotp(&secret, 30), "password": ann.password})).problem(400);
    disable(json!({"password": "not the password"})).problem(403);
    disable(json!({"password": ann.password})).expect(204);
    disable(json!({"password": ann.password})).problem(409);
    assert_eq!(claims(login(&app, &ann)["access_token"].as_str().expect("tokens"))["amr"], json!(["pwd"]));

    // With a code, too; and enrolling anew works once off.
    let (secret, _) = turn_on(&app, &ann);
    post(&app, "/api/v1/auth/mfa/totp", &ann.access, &json!({"password": ann.password})).problem(409);
    disable(json!({"code": pyotp(&secret, 30)})).expect(204);
}

#[test]
fn an_administrator_resets_a_users_factor_and_ends_their_sessions() {
    let app = spawn_app_with(Options::default().var("bootstrap_admin_email", ADMIN));
    let admin = app.register(ADMIN);
    let ann = app.register("ann@example.com");
    turn_on(&app, &ann);
    let reset = |token: &str| {
        app.send(app.request(Method::DELETE, &format!("/api/v1/auth/users/{}/mfa", ann.id)).bearer_auth(token))
    };
    reset(&ann.access).problem(403);
    reset(&admin.access).expect(204);
    reset(&admin.access).problem(404);
    app.get("/api/v1/auth/me", Some(&ann.access)).problem(401);
    assert!(login(&app, &ann)["access_token"].is_string(), "one step again");
    let events = app.get(&format!("/api/v1/auth/events?user={}&type=mfa_reset", ann.id), Some(&admin.access));
    assert_eq!(events.expect(200).json()["data"][0]["actor_id"], admin.id.as_str());
}

#[test]
fn wrong_codes_count_as_failed_sign_ins() {
    let app = spawn_app_with(Options::default().var("login_max_failures", "3"));
    let ann = app.register("ann@example.com");
    turn_on(&app, &ann);
    let token = login(&app, &ann)["mfa_token"].as_str().expect("token").to_owned();
    for _ in 0..3 {
        app.post("/api/v1/auth/login/mfa", &json!({"mfa_token": token, "code": "000000"})).problem(401);
    }
    let refused = app.post("/api/v1/auth/login/mfa", &json!({"mfa_token": token, "code": "000000"}));
    assert!(refused.header("retry-after").is_some());
    refused.problem(429);
}

#[test]
fn malformed_second_steps_are_refused_with_problems() {
    let app = spawn_app_with(Options::default());
    let ann = app.register("ann@example.com");
    turn_on(&app, &ann);
    let token = login(&app, &ann)["mfa_token"].as_str().expect("token").to_owned();
    for body in [
        json!({"mfa_token": token}),
        json!({"mfa_token": token, "code": "123456", "recovery_code": "x"}),
        json!({"mfa_token": token, "code": 123456}),
        json!({"code": "123456"}),
        json!({"mfa_token": token, "code": "123456", "extra": true}),
    ] {
        app.post("/api/v1/auth/login/mfa", &body).problem(400);
    }
    app.post("/api/v1/auth/login/mfa", &json!({"mfa_token": "x'; DROP TABLE users; --", "code": "123456"}))
        .problem(401);
    for path in ["/api/v1/auth/mfa/totp", "/api/v1/auth/mfa/totp/confirm", "/api/v1/auth/mfa/totp/disable"] {
        app.post(path, &json!({})).problem(401);
    }
    app.get("/api/v1/auth/mfa", None).problem(401);
}

#[test]
fn production_without_an_encryption_key_offers_no_second_factor() {
    let app =
        spawn_app_with(Options::default().var("jwt_signing_key", "prod-1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"));
    let ann = app.register("ann@example.com");
    let refused = post(&app, "/api/v1/auth/mfa/totp", &ann.access, &json!({"password": ann.password})).problem(503);
    assert!(refused["detail"].as_str().is_some_and(|d| d.contains("mfa_encryption_key")), "{refused}");
}
