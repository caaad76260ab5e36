//! Scale-out: two nodes (two `troupe-host up` processes, as two Spin
//! processes behind a load balancer would be) sharing one Postgres database
//! and one Redis key-value store, configured as deploy/runtime-config.toml
//! configures Spin; and one node riding out outages of either.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use troupe_tests::{repo_root, spawn_app_with, Backend, Options, RedisServer, Reply, Schema, TcpProxy, TestApp};

const LOGIN: &str = "/api/v1/auth/login";
const REFRESH: &str = "/api/v1/auth/refresh";
const ME: &str = "/api/v1/auth/me";
const READY: &str = "/health/ready";
const ADMIN: &str = "boss@example.com";

fn user_path(id: &str) -> String {
    format!("/api/v1/users/{id}")
}

/// deploy/runtime-config.toml with its Redis URL pointed at `redis`.
fn runtime_config(dir: &std::path::Path, redis: &RedisServer) -> std::path::PathBuf {
    let deployed = std::fs::read_to_string(repo_root().join("deploy/runtime-config.toml")).expect("the deploy config");
    assert!(deployed.contains("redis://127.0.0.1:6379"), "deploy/runtime-config.toml names the local Redis");
    let path = dir.join("runtime-config.toml");
    std::fs::write(&path, deployed.replace("redis://127.0.0.1:6379", &redis.url())).expect("written");
    path
}

/// A node on `database_url` and the Redis store of `config`. Every window
/// is a day long, so that none ends in the middle of a test.
fn node(config: &std::path::Path, database_url: &str, database_host: &str) -> TestApp {
    spawn_app_with(
        Options::on(Backend::Postgres)
            .runtime_config(config)
            .var("database_url", database_url)
            .var("database_host", database_host)
            .var("bootstrap_admin_email", ADMIN)
            .var("refresh_grace_seconds", "1")
            .var("login_max_failures", "4")
            .var("login_failure_window_seconds", "86400")
            .var("rate_limit_per_user", "10")
            .var("rate_limit_window_seconds", "86400"),
    )
}

fn wrong_login(app: &TestApp, email: &str) -> u16 {
    app.post(LOGIN, &json!({"email": email, "password": "not the password"})).status.as_u16()
}

fn merge_patch(app: &TestApp, token: &str, path: &str, body: &serde_json::Value) -> Reply {
    let request = app
        .request(Method::PATCH, path)
        .bearer_auth(token)
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string());
    app.send(request)
}

#[test]
fn two_nodes_on_one_database_and_one_redis_act_as_one() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("dir");
    let config = runtime_config(dir.path(), &redis);
    let schema = Schema::create();
    let (a, b) = (node(&config, &schema.url(), "127.0.0.1:5432"), node(&config, &schema.url(), "127.0.0.1:5432"));

    let boss = a.register(ADMIN);
    let ann = b.register("ann@example.com");

    // A user updated through one node is read fresh through the other,
    // which had it in the shared cache.
    let path = user_path(&ann.id);
    assert_eq!(b.get(&path, Some(&boss.access)).expect(200).json()["name"], "Test User");
    merge_patch(&a, &boss.access, &path, &json!({"name": "Ann Renamed"})).expect(200);
    assert_eq!(b.get(&path, Some(&boss.access)).expect(200).json()["name"], "Ann Renamed");

    // Failed sign-ins add up across nodes: four allowed, then refused on
    // both, the right password included.
    let locked = a.register("locked@example.com");
    let statuses = [wrong_login(&a, &locked.email), wrong_login(&b, &locked.email)];
    let statuses = [statuses[0], statuses[1], wrong_login(&a, &locked.email), wrong_login(&b, &locked.email)];
    assert_eq!(statuses, [401; 4]);
    assert_eq!(wrong_login(&a, &locked.email), 429);
    b.post(LOGIN, &json!({"email": locked.email, "password": locked.password})).problem(429);

    // Rate limits too: ten requests per user, five through each node.
    let counted = b.register("counted@example.com");
    for app in [&a, &b, &a, &b, &a, &b, &a, &b, &a, &b] {
        app.get(ME, Some(&counted.access)).expect(200);
    }
    a.get(ME, Some(&counted.access)).problem(429);
    b.get(ME, Some(&counted.access)).problem(429);

    // A refresh token rotated on one node and presented again on the other
    // after the grace interval is reuse: the session ends on both.
    let first = a.post(LOGIN, &json!({"email": ann.email, "password": ann.password})).expect(200).json();
    let rotated = a.post(REFRESH, &json!({"refresh_token": first["refresh_token"]})).expect(200).json();
    std::thread::sleep(Duration::from_millis(1500));
    b.post(REFRESH, &json!({"refresh_token": first["refresh_token"]})).problem(401);
    a.post(REFRESH, &json!({"refresh_token": rotated["refresh_token"]})).problem(401);
    let revoked = rotated["access_token"].as_str().expect("access");
    a.get(ME, Some(revoked)).problem(401);
    b.get(&path, Some(revoked)).problem(401);

    // A role change on one node takes effect on the other at once.
    let promoted = b.post(LOGIN, &json!({"email": ann.email, "password": ann.password})).expect(200).json();
    let old_token = promoted["access_token"].as_str().expect("access");
    b.get(&path, Some(old_token)).expect(200);
    merge_patch(&a, &boss.access, &path, &json!({"role": "admin"})).expect(200);
    b.get(&path, Some(old_token)).problem(401);
    let admin = b.post(LOGIN, &json!({"email": ann.email, "password": ann.password})).expect(200).json();
    let admin = admin["access_token"].as_str().expect("access");
    b.get("/api/v1/users", Some(admin)).expect(200);
    a.get("/api/v1/users", Some(admin)).expect(200);
}

/// Polls `path` until it answers `status`, for at most `within`.
fn eventually(app: &TestApp, path: &str, status: u16, within: Duration) -> Reply {
    let deadline = Instant::now() + within;
    loop {
        let reply = app.get(path, None);
        if reply.status.as_u16() == status || Instant::now() > deadline {
            assert_eq!(reply.status.as_u16(), status, "{path} after {within:?}: {:?}", reply.text);
            return reply;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the node answers while Postgres is away: 503 on readiness, and on
/// every route a problem (or, where the route needs nothing that is away,
/// its answer), never a hang: the client gives up after `HANG`.
fn answers_without_hanging(app: &TestApp, token: &str, user: &str) {
    let ready = app.get(READY, None);
    assert_eq!(ready.status.as_u16(), 503, "{:?}", ready.text);
    for reply in [
        app.get(ME, Some(token)),
        app.get(&user_path(user), Some(token)),
        app.post(LOGIN, &json!({"email": "outage@example.com", "password": "correct horse battery staple"})),
    ] {
        if reply.status.as_u16() != 200 {
            reply.problem(503);
        }
    }
}

/// The longest a request may take while Postgres is away.
const HANG: Duration = Duration::from_secs(10);

#[test]
fn a_node_answers_while_postgres_is_away_and_recovers_by_itself() {
    let redis = RedisServer::start();
    let mut proxy = TcpProxy::start("127.0.0.1:5432".parse().expect("address"));
    let dir = tempfile::tempdir().expect("dir");
    let config = runtime_config(dir.path(), &redis);
    let schema = Schema::create();
    let app =
        node(&config, &schema.url().replace("127.0.0.1:5432", &proxy.address()), &proxy.address()).with_timeout(HANG);
    let account = app.register("outage@example.com");
    eventually(&app, READY, 200, HANG);

    proxy.stop();
    let ready = eventually(&app, READY, 503, HANG).json();
    assert_eq!(ready["checks"]["database"]["status"], "failing", "{ready}");
    assert_eq!(ready["checks"]["key_value"]["status"], "ok", "{ready}");
    answers_without_hanging(&app, &account.access, &account.id);

    proxy.restart().expect("the proxy reopens its port");
    eventually(&app, READY, 200, HANG);
    let signed_in = app.post(LOGIN, &json!({"email": account.email, "password": account.password})).expect(200);
    let token = signed_in.json()["access_token"].as_str().expect("access").to_owned();
    app.get(&user_path(&account.id), Some(&token)).expect(200);
}

/// A Redis restart (its data gone with it) between requests: the node
/// reconnects by itself. The requests that find the old connection broken
/// answer 503 problems; within seconds every route answers again.
///
/// Requests made while Redis is down are not tested: Spin's Redis store
/// (redis-rs' `ConnectionManager` with its default settings, which
/// troupe-host reproduces) retries its reconnection six times, 1 s then up
/// to 60 s apart, before a call fails, so such a request waits minutes.
#[test]
fn a_node_reconnects_by_itself_to_a_restarted_redis() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("dir");
    let config = runtime_config(dir.path(), &redis);
    let schema = Schema::create();
    let app = node(&config, &schema.url(), "127.0.0.1:5432").with_timeout(HANG);
    let account = app.register("restart@example.com");
    eventually(&app, READY, 200, HANG);

    redis.restart();
    let ready = eventually(&app, READY, 200, HANG).json();
    assert_eq!(ready["checks"]["key_value"]["status"], "ok", "{ready}");
    // The restarted Redis is empty: counters, revocations and the cache
    // start again, and sign-in and reads work.
    let signed_in = app.post(LOGIN, &json!({"email": account.email, "password": account.password})).expect(200);
    let token = signed_in.json()["access_token"].as_str().expect("access").to_owned();
    app.get(&user_path(&account.id), Some(&token)).expect(200);
    app.get(ME, Some(&account.access)).expect(200);
}
