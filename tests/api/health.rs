//! `health`: liveness and readiness.

use reqwest::Method;
use troupe_tests::{spawn_app, spawn_app_with, Backend, Options};

#[test]
fn liveness_answers_ok_with_the_service_version() {
    let app = spawn_app();
    let reply = app.get("/health", None).expect(200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.header("x-request-id").is_some_and(|id| !id.is_empty()));
    let json = reply.json();
    assert_eq!(json, serde_json::json!({"status": "ok", "service": "troupe", "version": env!("CARGO_PKG_VERSION")}));
}

#[test]
fn a_sane_request_id_is_echoed_and_a_bad_one_replaced() {
    let app = spawn_app();
    let echoed = app.send(app.request(Method::GET, "/health").header("x-request-id", "trace-42"));
    assert_eq!(echoed.header("x-request-id"), Some("trace-42"));
    let replaced = app.send(app.request(Method::GET, "/health").header("x-request-id", "bad id with spaces"));
    assert_ne!(replaced.header("x-request-id"), Some("bad id with spaces"));
}

#[test]
fn readiness_is_503_naming_the_database_when_it_is_unreachable() {
    // Nothing listens on port 1; the host is allowed to try.
    let app = spawn_app_with(
        Options::default()
            .var("database_url", "postgres://postgres@127.0.0.1:1/test?sslmode=disable")
            .var("database_host", "127.0.0.1:1"),
    );
    let json = app.get("/health/ready", None).expect(503).json();
    assert_eq!(json["status"], "unavailable");
    assert_eq!(json["checks"]["database"]["status"], "failing");
    assert!(json["checks"]["database"]["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(json["checks"]["key_value"]["status"], "ok");
}

#[test]
fn readiness_is_503_when_the_sqlite_file_is_corrupt() {
    let app = spawn_app_with(Options::on(troupe_tests::Backend::Sqlite));
    std::fs::create_dir_all(&app.state_dir).expect("state dir");
    std::fs::write(app.state_dir.join("sqlite_db.db"), vec![0x5a; 8192]).expect("corrupt the database");
    let json = app.get("/health/ready", None).expect(503).json();
    assert_eq!(json["checks"]["database"]["status"], "failing");
}

#[test]
fn other_methods_are_405_with_allow() {
    let app = spawn_app();
    for path in ["/health", "/health/ready"] {
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            let reply = app.send(app.request(method.clone(), path));
            let problem = reply.problem(405);
            assert_eq!(problem["title"], "Method Not Allowed", "{method} {path}");
        }
        let reply = app.send(app.request(Method::POST, path));
        assert_eq!(reply.header("allow"), Some("GET"));
    }
}

#[test]
fn unknown_routes_are_404() {
    let app = spawn_app();
    for path in ["/nope", "/health/ready/extra", "/healthz", "/.well-known/spin/nothing"] {
        assert_eq!(app.get(path, None).status.as_u16(), 404, "{path}");
    }
}

/// The tests that choose their databases: each runs on SQLite and on
/// Postgres, so the test command's second, Postgres-default pass skips them.
mod on_both_databases {
    use super::*;

    #[test]
    fn readiness_checks_the_database_and_the_key_value_store() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend));
            let reply = app.get("/health/ready", None).expect(200);
            let json = reply.json();
            assert_eq!(json["status"], "ok", "{backend:?}");
            for check in ["database", "key_value"] {
                assert_eq!(json["checks"][check]["status"], "ok", "{backend:?} {check}: {json}");
                assert!(json["checks"][check]["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
            }
            // The probe cleaned up after itself, and the schema is migrated.
            let db = app.database();
            let version = db.query("SELECT MAX(version) AS v FROM troupe_schema_migrations", &[]).expect("migrated");
            assert_eq!(version.first().expect("row").get::<i64>("v").expect("v"), troupe_store::latest_version());
        }
    }

    #[test]
    fn a_schema_a_migration_behind_is_migrated_by_the_first_statement_that_needs_it() {
        for backend in Backend::ALL {
            let app = spawn_app_with(Options::on(backend));
            let account = app.register("behind@example.com");
            let db = app.database();
            let version = || -> i64 {
                let rows = db.query("SELECT MAX(version) AS v FROM troupe_schema_migrations", &[]).expect("version");
                rows.first().expect("row").get("v").expect("v")
            };
            // Undo the newest migration (0008 adds `sessions.refresh_family_hash`).
            let behind = || {
                db.execute("ALTER TABLE sessions DROP COLUMN refresh_family_hash", &[]).expect("drop the column");
                db.execute("DELETE FROM troupe_schema_migrations WHERE version = 8", &[]).expect("forget 0008");
                assert_eq!(version(), 7);
            };
            behind();
            // A refresh runs outside any transaction and checks no schema: its
            // first statement finds the column missing, migrates, and runs
            // again (the session lost its family with the column, so the token
            // is refused, cleanly).
            app.post("/api/v1/auth/refresh", &serde_json::json!({"refresh_token": account.refresh})).problem(401);
            assert_eq!(version(), troupe_store::latest_version(), "{backend:?}");
            // A transaction checks the schema before it begins.
            behind();
            let later = app.register("later@example.com");
            assert_eq!(version(), troupe_store::latest_version(), "{backend:?}");
            app.post("/api/v1/auth/refresh", &serde_json::json!({"refresh_token": later.refresh})).expect(200);
        }
    }
}
