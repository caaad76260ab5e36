//! Loading and serving whole applications through the public API.
//!
//! The tests that need a real component use Troupe's `health.wasm`
//! (`cargo build --target wasm32-wasip2 --release -p health`, which the
//! test command runs first). When it has not been built they fail, saying
//! so: a test that cannot run must not pass.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
};

use troupe_host::{testing, App, HostConfig};

fn health_wasm() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm32-wasip2/release/health.wasm");
    assert!(path.exists(), "{} has not been built: run scripts/build-wasm (scripts/test does)", path.display());
    path
}

/// Writes `spin.toml` (and nothing else) into a fresh directory.
fn app_dir(manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("spin.toml"), manifest).expect("write manifest");
    dir
}

/// A minimal HTTP/1.1 GET; returns the status code and the body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn health_manifest(wasm: &Path) -> String {
    format!(
        r#"
spin_manifest_version = 2
[application]
name = "probe"
version = "1.2.3"
[variables]
database_url = {{ default = "" }}
[[trigger.http]]
route = "/health"
component = "health"
[[trigger.http]]
route = "/health/ready"
component = "health"
[[trigger.http]]
route = {{ private = true }}
component = "hidden"
[component.health]
source = {wasm:?}
key_value_stores = ["default"]
sqlite_databases = ["default"]
[component.health.variables]
database_url = "{{{{ database_url }}}}"
[component.hidden]
source = {wasm:?}
"#
    )
}

#[test]
fn health_component_answers_on_its_route() {
    let wasm = health_wasm();
    let dir = app_dir(&health_manifest(&wasm));
    let app = testing::spawn(HostConfig::new(dir.path().join("spin.toml"))).expect("app starts");
    let (status, body) = get(app.addr, "/health");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\""), "{body}");
}

#[test]
fn private_route_is_not_reachable_from_outside() {
    let wasm = health_wasm();
    let dir = app_dir(&health_manifest(&wasm));
    let app = testing::spawn(HostConfig::new(dir.path().join("spin.toml"))).expect("app starts");
    // `hidden` has only a private route: nothing outside reaches it.
    assert_eq!(get(app.addr, "/hidden").0, 404);
    assert_eq!(get(app.addr, "/").0, 404);
}

#[test]
fn unmatched_path_is_an_empty_404_and_well_known_endpoints_are_the_hosts() {
    let wasm = health_wasm();
    let dir = app_dir(&health_manifest(&wasm));
    let app = testing::spawn(HostConfig::new(dir.path().join("spin.toml"))).expect("app starts");
    assert_eq!(get(app.addr, "/nothing/here"), (404, String::new()));
    assert_eq!(get(app.addr, "/.well-known/spin/health"), (200, "OK".into()));
    let (status, info) = get(app.addr, "/.well-known/spin/info");
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&info).expect("json");
    assert_eq!(info, serde_json::json!({ "name": "probe", "version": "1.2.3" }));
    assert_eq!(get(app.addr, "/.well-known/spin/other").0, 404);
}

#[test]
fn default_stores_live_in_the_state_dir_under_spins_file_names() {
    let wasm = health_wasm();
    let dir = app_dir(&health_manifest(&wasm));
    let state = dir.path().join(".spin");
    let mut config = HostConfig::new(dir.path().join("spin.toml"));
    config.state_dir = Some(state.clone());
    let app = testing::spawn(config).expect("app starts");
    let (status, body) = get(app.addr, "/health/ready");
    assert_eq!(status, 200, "{body}");
    assert!(state.join("sqlite_key_value.db").is_file());
    assert!(state.join("sqlite_db.db").is_file());
}

#[test]
fn a_runtime_config_file_moves_the_default_stores_as_spin_resolves_its_paths() {
    let wasm = health_wasm();
    let dir = app_dir(&health_manifest(&wasm));
    let database = dir.path().join("data").join("troupe.db");
    // The key-value path is relative to the file's directory; the SQLite
    // one would be relative to the current directory, so it is absolute.
    let config_file = dir.path().join("config").join("runtime-config.toml");
    std::fs::create_dir_all(config_file.parent().expect("parent")).expect("config dir");
    std::fs::write(
        &config_file,
        format!(
            "[key_value_store.default]\ntype = \"spin\"\npath = \"kv/store.db\"\n\n\
             [sqlite_database.default]\ntype = \"spin\"\npath = {:?}\n",
            database.display().to_string()
        ),
    )
    .expect("write runtime config");
    std::fs::create_dir_all(database.parent().expect("parent")).expect("data dir");
    let mut config = HostConfig::new(dir.path().join("spin.toml"));
    config.state_dir = Some(dir.path().join(".spin"));
    config.runtime_config = Some(config_file.clone());
    let app = testing::spawn(config).expect("app starts");
    let (status, body) = get(app.addr, "/health/ready");
    assert_eq!(status, 200, "{body}");
    assert!(dir.path().join("config/kv/store.db").is_file());
    assert!(database.is_file());
    assert!(!dir.path().join(".spin/sqlite_key_value.db").exists());
    assert!(!dir.path().join(".spin/sqlite_db.db").exists());
}

#[test]
fn a_key_value_file_that_cannot_be_opened_fails_the_open_not_the_load() {
    // As in Spin, the store's connection is made at the first `open`: an
    // application whose key-value file is unusable starts, and a component
    // opening the store gets an error (here, readiness answers 503).
    let wasm = health_wasm();
    let dir = app_dir(&health_manifest(&wasm));
    let not_a_file = dir.path().join("kv");
    std::fs::create_dir_all(&not_a_file).expect("a directory where the file would be");
    std::fs::write(
        dir.path().join("runtime-config.toml"),
        "[key_value_store.default]\ntype = \"spin\"\npath = \"kv\"\n",
    )
    .expect("write runtime config");
    let mut config = HostConfig::new(dir.path().join("spin.toml"));
    config.state_dir = Some(dir.path().join(".spin"));
    config.runtime_config = Some(dir.path().join("runtime-config.toml"));
    let app = testing::spawn(config).expect("app starts");
    let (status, body) = get(app.addr, "/health/ready");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("key_value"), "{body}");
    assert_eq!(get(app.addr, "/health").0, 200);
}

#[test]
fn a_store_label_needs_the_runtime_config_file_that_defines_it() {
    let wasm = health_wasm();
    let manifest =
        health_manifest(&wasm).replace(r#"key_value_stores = ["default"]"#, r#"key_value_stores = ["cache"]"#);
    let message = load_error(&manifest, &[]);
    assert!(message.contains("component `health`: key_value_stores: no store is labelled `cache`"), "{message}");

    let dir = app_dir(&manifest);
    std::fs::write(dir.path().join("runtime-config.toml"), "[key_value_store.cache]\ntype = \"spin\"\n")
        .expect("write runtime config");
    let mut config = HostConfig::new(dir.path().join("spin.toml"));
    config.runtime_config = Some(dir.path().join("runtime-config.toml"));
    testing::spawn(config).expect("the label is defined now");

    let manifest =
        health_manifest(&wasm).replace(r#"sqlite_databases = ["default"]"#, r#"sqlite_databases = ["reports"]"#);
    let message = load_error(&manifest, &[]);
    assert!(message.contains("sqlite_databases: no store is labelled `reports`"), "{message}");
}

#[test]
fn a_runtime_config_file_with_what_troupe_host_does_not_run_is_refused() {
    let dir = app_dir(ONE_COMPONENT);
    std::fs::write(dir.path().join("runtime-config.toml"), "[[variables_provider]]\ntype = \"vault\"\n")
        .expect("write runtime config");
    let mut config = HostConfig::new(dir.path().join("spin.toml"));
    config.runtime_config = Some(dir.path().join("runtime-config.toml"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let message = match runtime.block_on(App::load(config)) {
        Ok(_) => panic!("the application loaded"),
        Err(e) => format!("{e:#}"),
    };
    assert!(message.contains("`variables_provider` is not supported by troupe-host"), "{message}");
}

#[test]
fn component_output_is_appended_to_the_log_file_with_its_id() {
    let wasm = health_wasm();
    let dir = app_dir(&health_manifest(&wasm));
    let log = dir.path().join("host.log");
    let mut config = HostConfig::new(dir.path().join("spin.toml"));
    config.log_file = Some(log.clone());
    let app = testing::spawn(config).expect("app starts");
    get(app.addr, "/health");
    drop(app);
    let text = std::fs::read_to_string(&log).expect("log file");
    assert!(text.lines().any(|l| l.starts_with("[health] ")), "{text}");
}

/// A component whose only import is an interface troupe-host does not serve.
fn component_importing_llm() -> Vec<u8> {
    wat::parse_str(
        r#"(component
            (import "fermyon:spin/llm@2.0.0" (instance (export "probe" (func))))
        )"#,
    )
    .expect("valid component text")
}

fn load_error(manifest: &str, files: &[(&str, &[u8])]) -> String {
    let dir = app_dir(manifest);
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).expect("write file");
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    match runtime.block_on(App::load(HostConfig::new(dir.path().join("spin.toml")))) {
        Ok(_) => panic!("the application loaded"),
        Err(e) => {
            let message = format!("{e:#}");
            eprintln!("load error: {message}");
            message
        }
    }
}

const ONE_COMPONENT: &str = r#"
spin_manifest_version = 2
[application]
name = "probe"
[[trigger.http]]
route = "/..."
component = "ai"
[component.ai]
source = "ai.wasm"
"#;

#[test]
fn unsupported_spin_import_fails_the_load_naming_import_and_component() {
    let message = load_error(ONE_COMPONENT, &[("ai.wasm", &component_importing_llm())]);
    assert!(message.contains("component `ai`"), "{message}");
    assert!(message.contains("fermyon:spin/llm@2.0.0"), "{message}");
}

#[test]
fn component_without_incoming_handler_is_refused_at_load() {
    let empty = wat::parse_str("(component)").expect("valid component text");
    let message = load_error(ONE_COMPONENT, &[("ai.wasm", &empty)]);
    assert!(message.contains("component `ai`"), "{message}");
    assert!(message.contains("wasi:http/incoming-handler"), "{message}");
}

#[test]
fn required_variable_without_value_fails_the_load() {
    let manifest = format!("{ONE_COMPONENT}\n[variables]\ntroupe_never_set = {{ required = true }}\n");
    let message = load_error(&manifest, &[]);
    assert!(message.contains("troupe_never_set"), "{message}");
}

#[test]
fn missing_source_file_fails_the_load_naming_the_component() {
    let message = load_error(ONE_COMPONENT, &[]);
    assert!(message.contains("component `ai`") && message.contains("ai.wasm"), "{message}");
}
